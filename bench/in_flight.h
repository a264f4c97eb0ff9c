// InFlight: how cairn-bench's load threads keep at most N asynchronous
// operations in flight.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace cairn::bench {

// Operations in flight, at most `limit`. A full window waits until a
// sixteenth of it has completed, then refills: waiting for one free slot at
// a time would wake the thread, and make the completing thread wake it,
// once per completion. The count is atomic so that starting and completing
// an operation take no lock; only the steps onto refill_at_ and 0, which a
// waiter may be waiting for, are taken under the mutex and notified there,
// so a waiter cannot miss one, and a drain() that returns has seen the last
// release() finish with the object. One thread acquires; any may release.
class InFlight {
 public:
  explicit InFlight(uint32_t limit)
      : limit_(std::max<uint32_t>(limit, 1)), refill_at_(limit_ - std::max<uint32_t>(1, limit_ / 16)) {}
  // Before starting an operation.
  void acquire() {
    if (pending_.load(std::memory_order_acquire) >= limit_) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) <= refill_at_; });
    }
    pending_.fetch_add(1, std::memory_order_acq_rel);
  }
  // When an operation completes (any thread).
  void release() {
    uint32_t now = pending_.load(std::memory_order_acquire);
    while (now - 1 != refill_at_ && now != 1) {
      if (pending_.compare_exchange_weak(now, now - 1, std::memory_order_acq_rel)) return;
    }
    std::lock_guard lock(mu_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }

 private:
  const uint32_t limit_;
  const uint32_t refill_at_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint32_t> pending_{0};
};

}  // namespace cairn::bench
