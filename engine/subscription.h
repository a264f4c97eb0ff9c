// Subscription::Impl: a cursor over the log that reads what follows it and,
// when nothing does, sleeps on the store's CommitSignal until a commit.
//
// Invariants:
//   - cursor_ only grows; every event of the target below it was delivered
//     (or did not match). A read returns events from cursor_ on, in order,
//     so delivery has no gap and no duplicate, history or live alike.
//   - No events are held between calls: memory does not grow with lag.
#pragma once

#include "engine/subscription_hub.h"

#include <cairn/subscription.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace cairn {

class Subscription::Impl {
 public:
  // Checks `options`, and finds the start (a saved checkpoint, or from).
  static Result<std::unique_ptr<Impl>> make(std::shared_ptr<engine::SubscriptionHub> hub,
                                            const SubscriptionOptions& options);
  ~Impl();

  Result<std::vector<RecordedEvent>> next(std::chrono::milliseconds timeout);
  uint64_t cursor() const { return cursor_.load(std::memory_order_acquire); }
  Status save_checkpoint(uint64_t cursor);
  void close();
  Status status() const;
  // Starts the thread that feeds `handler`.
  void run(SubscriptionHandler handler);
  // For ~Subscription on this subscription's own handler thread (a handler
  // that unsubscribes by destroying its Subscription): ends delivery and
  // hands the Impl to its thread, which deletes it once the handler has
  // returned. Returns false elsewhere (the caller deletes it as usual).
  bool orphan_if_on_handler_thread();

 private:
  Impl(std::shared_ptr<engine::SubscriptionHub> hub, SubscriptionOptions options, uint64_t start)
      : hub_(std::move(hub)), options_(std::move(options)), cursor_(start) {}
  // Reads from the cursor, below `end`, and advances it. Fewer raw events
  // than asked (before filtering) means everything below `end` is read.
  struct Read {
    std::vector<RecordedEvent> events;
    bool exhausted = false;
  };
  Result<Read> read_below(const engine::Log& log, uint64_t end);
  Result<std::vector<RecordedEvent>> wait_and_read(std::chrono::steady_clock::time_point deadline);
  void keep_group_members(std::vector<RecordedEvent>& events) const;
  void feed(const SubscriptionHandler& handler);
  void stop(Status why);

  std::shared_ptr<engine::SubscriptionHub> hub_;
  const SubscriptionOptions options_;
  std::atomic<uint64_t> cursor_;
  std::atomic<bool> closed_{false};
  mutable std::mutex status_mu_;
  Status status_;  // guarded by status_mu_
  bool callback_ = false;
  std::mutex start_mu_;  // held by run() until thread_ is assigned
  std::atomic<std::thread::id> feeding_thread_{};  // thread_'s id, read without join_mu_
  std::mutex join_mu_;   // one close() joins thread_; any other waits for it
  std::thread thread_;
  std::atomic<bool> orphaned_{false};  // the feed thread deletes the Impl when it ends
};

}  // namespace cairn
