#include "format/segment_header.h"

#include "format/checksum.h"
#include "format/coding.h"

#include <cstring>

namespace cairn::format {
namespace {

// Every 64-byte file header shares one frame: magic at 0, version at 8, a
// checksum of bytes [0, 56) at 56.
constexpr size_t kChecksumOffset = 56;

}  // namespace

void seal_file_header(std::string& out) {
  put_u64(out.data() + kChecksumOffset, checksum(out.data(), kChecksumOffset));
}

Status check_file_header(std::string_view bytes, std::string_view magic, size_t size,
                         const std::string& file) {
  if (bytes.size() < size) {
    return Status::corruption(file + ": header truncated: " + std::to_string(bytes.size()) +
                              " of " + std::to_string(size) + " bytes at offset 0");
  }
  if (bytes.substr(0, 8) != magic) {
    return Status::corruption(file + ": bad magic at offset 0 (expected " + std::string(magic) +
                              ")");
  }
  uint32_t version = get_u32(bytes.data() + 8);
  if (version != kFormatVersion) {
    return Status::unsupported_version(file + ": format version " + std::to_string(version) +
                                       " (this build reads version " +
                                       std::to_string(kFormatVersion) + ")");
  }
  if (get_u64(bytes.data() + kChecksumOffset) != checksum(bytes.data(), kChecksumOffset)) {
    return Status::corruption(file + ": header checksum mismatch at offset " +
                              std::to_string(kChecksumOffset));
  }
  return Status();
}

std::string encode_segment_header(const SegmentHeader& h) {
  std::string out(kSegmentHeaderSize, '\0');
  std::memcpy(out.data(), kSegmentMagic.data(), 8);
  put_u32(out.data() + 8, kFormatVersion);
  put_u32(out.data() + 12, kSegmentHeaderSize);
  put_u64(out.data() + 16, h.sequence);
  put_u64(out.data() + 24, h.first_position);
  std::memcpy(out.data() + 32, h.store_id.data(), 16);
  put_u64(out.data() + 48, static_cast<uint64_t>(h.created_ns));
  seal_file_header(out);
  return out;
}

Result<SegmentHeader> decode_segment_header(std::string_view bytes, const std::string& file) {
  if (Status s = check_file_header(bytes, kSegmentMagic, kSegmentHeaderSize, file); !s.ok()) return s;
  if (get_u32(bytes.data() + 12) != kSegmentHeaderSize) {
    return Status::corruption(file + ": bad header size at offset 12");
  }
  SegmentHeader h;
  h.sequence = get_u64(bytes.data() + 16);
  h.first_position = get_u64(bytes.data() + 24);
  std::memcpy(h.store_id.data(), bytes.data() + 32, 16);
  h.created_ns = static_cast<int64_t>(get_u64(bytes.data() + 48));
  return h;
}

std::string encode_store_file(const StoreIdentity& id) {
  std::string out(kStoreFileSize, '\0');
  std::memcpy(out.data(), kStoreMagic.data(), 8);
  put_u32(out.data() + 8, kFormatVersion);
  std::memcpy(out.data() + 16, id.store_id.data(), 16);
  put_u64(out.data() + 32, static_cast<uint64_t>(id.created_ns));
  seal_file_header(out);
  return out;
}

Result<StoreIdentity> decode_store_file(std::string_view bytes, const std::string& file) {
  if (Status s = check_file_header(bytes, kStoreMagic, kStoreFileSize, file); !s.ok()) return s;
  StoreIdentity id;
  std::memcpy(id.store_id.data(), bytes.data() + 16, 16);
  id.created_ns = static_cast<int64_t>(get_u64(bytes.data() + 32));
  return id;
}

}  // namespace cairn::format
