#include "engine/direct_pages.h"

#include <cassert>
#include <algorithm>
#include <cstring>
#include <new>

namespace cairn::engine {

void DirectPages::restart(uint64_t end, std::string_view head) {
  assert(head.size() == end - page_start(end));
  end_ = end;
  head_.assign(head);
}

DirectPages::Write DirectPages::next(std::span<const std::string_view> frames, uint64_t bytes) {
  Write w;
  if (bytes == 0) return w;
  w.offset_ = page_start(end_);
  uint64_t used = head_.size() + bytes;
  w.size_ = (used + kPage - 1) / kPage * kPage;
  char* p = static_cast<char*>(std::aligned_alloc(kPage, w.size_));
  if (p == nullptr) throw std::bad_alloc();
  w.buffer_.reset(p);
  std::memcpy(p, head_.data(), head_.size());
  uint64_t at = head_.size();
  for (std::string_view f : frames) {
    std::memcpy(p + at, f.data(), f.size());
    at += f.size();
  }
  assert(at == used);
  std::memset(p + used, 0, w.size_ - used);
  end_ += bytes;
  head_.assign(p + (page_start(end_) - w.offset_), end_ - page_start(end_));
  return w;
}

void DirectPages::skip(std::span<const std::string_view> frames, uint64_t bytes) {
  uint64_t end = end_ + bytes;
  uint64_t keep = end - page_start(end);  // the new head's length
  if (keep >= bytes) {  // the same page: the frames extend the head
    for (std::string_view f : frames) head_.append(f);
  } else {  // the new head is the frames' last `keep` bytes
    std::string head(keep, '\0');
    uint64_t at = keep;
    for (auto f = frames.rbegin(); f != frames.rend() && at > 0; ++f) {
      uint64_t n = std::min<uint64_t>(at, f->size());
      at -= n;
      std::memcpy(head.data() + at, f->data() + f->size() - n, n);
    }
    head_ = std::move(head);
  }
  end_ = end;
}

}  // namespace cairn::engine
