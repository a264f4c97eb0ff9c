#include "index/verified_blocks.h"

#include "format/segment_scan.h"

namespace cairn::index {

VerifiedBlocks::VerifiedBlocks(format::IndexFile file, std::string path)
    : file_(file), path_(std::move(path)), state_(new std::atomic<uint8_t>[file.block_count()]) {
  for (size_t i = 0; i < file_.block_count(); ++i) state_[i].store(kUnknown, std::memory_order_relaxed);
}

bool VerifiedBlocks::check(size_t block) const {
  uint8_t state = state_[block].load(std::memory_order_acquire);
  if (state == kUnknown) {
    // Two readers may verify the same block at once; both reach the same answer.
    state = format::verify_block(file_, block) ? kGood : kBad;
    state_[block].store(state, std::memory_order_release);
    if (state == kBad) damaged_.store(true, std::memory_order_relaxed);
  }
  return state == kGood;
}

bool VerifiedBlocks::verify_all() const {
  bool good = true;
  for (size_t b = 0; b < file_.block_count(); ++b) good = check(b) && good;
  return good;
}

Result<std::string_view> VerifiedBlocks::get(uint64_t offset, uint64_t size) const {
  uint64_t body = file_.body.size();
  if (offset > body || size > body - offset) {
    return Status::corruption(format::file_offset(path_, format::kIndexHeaderSize + offset) +
                              ": index record outside the file's body");
  }
  if (size == 0) return file_.body.substr(offset, 0);
  for (uint64_t b = offset / file_.block_size; b <= (offset + size - 1) / file_.block_size; ++b) {
    if (!check(b)) {
      return Status::corruption(format::file_offset(path_, format::kIndexHeaderSize + b * file_.block_size) +
                                ": index block checksum mismatch");
    }
  }
  return file_.body.substr(offset, size);
}

}  // namespace cairn::index
