// The WriteQueue backends of the I/O seam (the contract is in io.h). A
// FileSystem's make_write_queue() picks one; nothing else constructs them.
#pragma once

#include "engine/io.h"

#include <algorithm>
#include <memory>
#include <string>

namespace cairn::engine {

// The deepest queue a backend accepts.
inline constexpr unsigned kMaxWriteQueueDepth = 4096;

// kInvalidArgument unless 1 <= depth <= kMaxWriteQueueDepth.
inline Status check_queue_depth(unsigned depth) {
  if (depth >= 1 && depth <= kMaxWriteQueueDepth) return Status();
  return Status::invalid_argument("write queue depth " + std::to_string(depth) + ": must be 1.." +
                                  std::to_string(kMaxWriteQueueDepth));
}

// What submit() returns when `depth` submissions are already pending (the
// caller must never get there; nothing is started).
inline Status queue_full(unsigned depth) {
  return Status::invalid_argument("write queue full: " + std::to_string(depth) +
                                  " submissions pending (its depth)");
}

// Whether a submission's parts hold any byte.
inline bool has_bytes(std::span<const std::string_view> parts) {
  return std::any_of(parts.begin(), parts.end(), [](std::string_view p) { return !p.empty(); });
}

// How many bytes a submission's parts hold.
inline uint64_t total_bytes(std::span<const std::string_view> parts) {
  uint64_t n = 0;
  for (std::string_view p : parts) n += p.size();
  return n;
}

// Writes inside submit(), on the submitting thread, through File::write_at
// (so it works over any File); fdatasyncs inside wait_oldest(), skipping
// those an earlier fdatasync of the same file already covers.
std::unique_ptr<WriteQueue> make_pwrite_queue(unsigned depth);

// One io_uring per queue; needs File::native_handle(). kNotSupported (naming
// the errno) when the kernel refuses io_uring or lacks what the queue uses.
Result<std::unique_ptr<WriteQueue>> make_uring_queue(unsigned depth);

}  // namespace cairn::engine
