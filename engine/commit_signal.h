// CommitSignal: the log's published end, and the wake-up of the threads
// waiting for it to grow (subscriptions).
//
// The writer pays for waiters only when there are some: publish() is an
// atomic store and one read-modify-write of waiters_ while nobody waits.
// Read-modify-writes of waiters_ are totally ordered and each reads the one
// before it, so either the writer's comes after a waiter's increment (it
// sees the waiter and wakes it) or before it, and then the waiter's acquire
// reads the writer's release: the waiter sees the new end and does not
// sleep. (No fences: ThreadSanitizer does not model them.)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace cairn::engine {

class CommitSignal {
 public:
  uint64_t published() const { return published_.load(std::memory_order_acquire); }

  // Positions below `next_position` are readable; wakes waiters.
  void publish(uint64_t next_position) {
    published_.store(next_position, std::memory_order_release);
    if (waiters_.fetch_add(0, std::memory_order_acq_rel) == 0) return;
    { std::lock_guard lock(mu_); }  // a waiter between its check and its sleep holds mu_
    changed_.notify_all();
  }

  // Waits until `ready()`, close() or `deadline`. `ready` runs under the
  // signal's mutex and must not block.
  template <class Ready>
  void wait_until(Ready ready, std::chrono::steady_clock::time_point deadline) {
    waiters_.fetch_add(1, std::memory_order_acq_rel);
    {
      std::unique_lock lock(mu_);
      changed_.wait_until(lock, deadline, [&] { return closed_ || ready(); });
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Wakes every waiter (a subscription closed: its ready() changed).
  void wake_all() {
    { std::lock_guard lock(mu_); }
    changed_.notify_all();
  }

  // The store is closing: wakes every waiter, and wait_until returns at once.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    changed_.notify_all();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  std::atomic<uint64_t> published_{0};
  std::atomic<uint32_t> waiters_{0};
  mutable std::mutex mu_;
  std::condition_variable changed_;
  bool closed_ = false;  // guarded by mu_
};

}  // namespace cairn::engine
