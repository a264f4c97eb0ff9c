// DirectPages: how the writer turns a group's frames into one O_DIRECT write
// (Options::direct_io). A direct write covers whole pages from page-aligned
// memory, so each one starts at the page holding the segment's current end,
// carries that page's bytes before the end (kept here from the previous
// write; the page cache is not consulted), then the frames, then zeros up to
// the next page boundary. The zeros land where the log's end reads as zeros
// anyway, and the next write rewrites that last page with its frames added.
//
// Two writes may share a page (the first's last, the second's first): the
// writer never has both in flight at once, because the device may apply
// them in either order and the older one's zeros would then overwrite the
// newer one's frames. Nor a direct write and a buffered one (skip()): the
// buffered one could leave a stale copy of the page in the page cache, to
// be written back over the direct one.
#pragma once

#include "engine/io.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace cairn::engine {

class DirectPages {
 public:
  static constexpr uint64_t kPage = kDirectIoAlignment;

  // One direct write: `size` bytes of page-aligned memory, to land at `offset`.
  class Write {
   public:
    Write() = default;
    uint64_t offset() const { return offset_; }
    uint64_t end() const { return offset_ + size_; }
    bool empty() const { return size_ == 0; }
    std::string_view bytes() const { return {buffer_.get(), size_}; }

   private:
    friend class DirectPages;
    struct Free {
      void operator()(char* p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> buffer_;
    uint64_t offset_ = 0;
    uint64_t size_ = 0;
  };

  // Continues a segment whose data ends at `end`; `head` holds its bytes
  // from the start of the page holding `end` up to `end`.
  void restart(uint64_t end, std::string_view head);
  // The write that puts `frames` (`bytes` in all) at end(), which then moves
  // past them. An empty write for no bytes.
  Write next(std::span<const std::string_view> frames, uint64_t bytes);
  // Moves end() past `frames` written some other way (through the page cache).
  void skip(std::span<const std::string_view> frames, uint64_t bytes);
  uint64_t end() const { return end_; }

  static uint64_t page_start(uint64_t offset) { return offset / kPage * kPage; }

 private:
  uint64_t end_ = 0;
  std::string head_;  // the segment's bytes [page_start(end_), end_)
};

}  // namespace cairn::engine
