// SubscriptionHub: what a store shares with its subscriptions, which may
// outlive it. The hub lends them the Log while the store is open; close()
// (the store closing) waits for reads in progress, then lends it no more.
#pragma once

#include "engine/commit_signal.h"
#include "engine/log.h"
#include "engine/subscription_checkpoints.h"

#include <cairn/status.h>

#include <memory>
#include <shared_mutex>
#include <string>

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

  CommitSignal& signal() { return *signal_; }
  SubscriptionCheckpoints& checkpoints() { return *checkpoints_; }
  Status closed_status() const { return Status::closed(dir_ + ": store is closed"); }

 private:
  std::shared_mutex mu_;
  const Log* log_;  // guarded by mu_; null once the store is closed
  std::shared_ptr<CommitSignal> signal_;
  std::unique_ptr<SubscriptionCheckpoints> checkpoints_;
  const std::string dir_;
};

}  // namespace cairn::engine
