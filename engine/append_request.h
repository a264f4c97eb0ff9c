// AppendRequest: one append on its way through the writer, from the
// appender that encoded it to the thread that acknowledges it; and
// RequestPool, which recycles finished requests so that an append in steady
// state reuses one whose frame and id buffers already have their capacity.
#pragma once

#include "format/batch.h"

#include <cairn/store.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cairn::engine {

using Clock = std::chrono::steady_clock;

// Where a synchronous append waits: the completer sets `result`, then `done`,
// then wakes every sync waiter at once (one futex wake per group commit
// instead of one per append).
struct SyncWaiter {
  Result<AppendResult> result = Status::closed("not processed");
  std::atomic<bool> done{false};
};

struct AppendRequest {
  std::string stream;
  uint64_t stream_hash = 0;  // index::StreamIndex::hash(stream), computed by the appender
  ExpectedVersion expected = ExpectedVersion::any();
  std::string frame;  // an encoded events frame; the writer restamps it
  format::BatchView batch;  // `frame` decoded by the appender (views into it; stamp as encoded)
  std::vector<EventId> ids;
  Durability durability = Durability::kSync;  // never kDefault here
  Store::AppendCallback done;  // for async appends
  SyncWaiter* waiter = nullptr;  // for sync appends: instead of `done`
  Result<AppendResult> result = Status::closed("not processed");
  Clock::time_point queued_at;
};

// Finished requests, ready for the next appends. Thread-safe: appenders
// take, the completing thread gives back.
class RequestPool {
 public:
  // A cleared request (a recycled one when there is one).
  std::unique_ptr<AppendRequest> take();
  // Clears and keeps the requests (each one's callback is destroyed here)
  // within the limits below, frees the others; `finished` is left empty.
  void give(std::vector<std::unique_ptr<AppendRequest>>& finished);

  static constexpr size_t kMaxKept = 4096;
  // A request whose buffers grew past this is freed, not kept.
  static constexpr size_t kMaxRequestBytes = 64u << 10;
  // The buffers of all kept requests together stay under this.
  static constexpr size_t kMaxKeptBytes = 16u << 20;

  // What a request's buffers hold allocated (their capacity).
  static size_t buffer_bytes(const AppendRequest& r);

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<AppendRequest>> kept_;  // guarded by mu_
  size_t kept_bytes_ = 0;                             // guarded by mu_: their buffer_bytes
};

}  // namespace cairn::engine
