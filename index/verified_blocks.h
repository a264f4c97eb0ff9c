// The body of a mapped index file, handed out only after the blocks it spans
// have matched their checksums. Each block is verified the first time any
// reader touches it (and remembered), so an open costs nothing per block and
// a damaged block is found before anything is read from it.
#pragma once

#include "format/index_file.h"

#include <cairn/status.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

namespace cairn::index {

class VerifiedBlocks {
 public:
  VerifiedBlocks(format::IndexFile file, std::string path);
  // Body bytes [offset, offset + size); kCorruption naming the file and the
  // offset of a block that fails its checksum, or a range outside the body.
  Result<std::string_view> get(uint64_t offset, uint64_t size) const;
  const std::string& path() const { return path_; }
  uint64_t body_size() const { return file_.body.size(); }
  // Checks every block not checked yet; false if any fails.
  bool verify_all() const;
  // Whether a block failed its checksum (the file needs writing anew).
  bool damaged() const { return damaged_.load(std::memory_order_relaxed); }

 private:
  enum : uint8_t { kUnknown = 0, kGood = 1, kBad = 2 };
  bool check(size_t block) const;

  format::IndexFile file_;
  std::string path_;
  std::unique_ptr<std::atomic<uint8_t>[]> state_;
  mutable std::atomic<bool> damaged_{false};
};

}  // namespace cairn::index
