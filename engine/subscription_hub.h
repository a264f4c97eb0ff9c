// SubscriptionHub: what a store shares with its subscriptions, which may
// outlive it. The hub lends them the Log while the store is open; close()
// (the store closing) waits for reads in progress, then lends it no more.
#pragma once

#include "engine/commit_signal.h"
#include "engine/log.h"
#include "engine/subscription_checkpoints.h"

#include <cairn/status.h>

#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace cairn::engine {

class SubscriptionHub {
 public:
  SubscriptionHub(const Log& log, std::unique_ptr<SubscriptionCheckpoints> checkpoints, std::string dir)
      : log_(&log), signal_(log.commit_signal()), checkpoints_(std::move(checkpoints)), dir_(std::move(dir)) {}

  // Runs `read(log)` unless the store is closed (kClosed). `read` returns a
  // Status or a Result.
  template <class Read>
  auto with_log(Read read) -> decltype(read(std::declval<const Log&>())) {
    std::shared_lock lock(mu_);
    if (log_ == nullptr) return closed_status();
    return read(*log_);
  }

  // Ends every subscription's delivery; waits for reads in progress.
  void close() {
    signal_->close();
    std::unique_lock lock(mu_);
    log_ = nullptr;
  }

  // Saves `name`'s checkpoint once the events it has passed are durable
  // (kBatch, kNone): a cursor must not outlive them, or after a power loss
  // it would skip the events appended in their place.
  // The wait for the log is outside mu_: an append callback may close the
  // store (close() takes mu_) on the very thread that wait needs.
  Status save_checkpoint(std::string_view name, uint64_t cursor) {
    auto published = with_log([](const Log& log) -> Result<uint64_t> { return log.published(); });
    if (!published.ok()) return published.status();
    if (make_log_durable_) {
      if (Status s = make_log_durable_(*published); !s.ok()) return s;
    }
    return with_log([&](const Log&) { return checkpoints_->save(name, cursor); });
  }
  // Set once by the store before any subscription exists (Store::sync, through
  // a SyncGate: it stays callable after the store is gone).
  void set_make_log_durable(std::function<Status(uint64_t)> f) { make_log_durable_ = std::move(f); }

  CommitSignal& signal() { return *signal_; }
  SubscriptionCheckpoints& checkpoints() { return *checkpoints_; }
  Status closed_status() const { return Status::closed(dir_ + ": store is closed"); }

 private:
  std::shared_mutex mu_;
  const Log* log_;  // guarded by mu_; null once the store is closed
  std::shared_ptr<CommitSignal> signal_;
  std::unique_ptr<SubscriptionCheckpoints> checkpoints_;
  std::function<Status(uint64_t)> make_log_durable_;  // null: a read-only store
  const std::string dir_;
};

}  // namespace cairn::engine
