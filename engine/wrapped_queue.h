// WrappedQueue: what the WriteQueues of the test file systems that wrap
// another one (engine/fault_injection.cc, engine/power_loss.cc) share. Each
// sits in front of its base file system's queue, keeps one Entry per
// submission (what it decided when the submission came), in submission
// order beside the base queue's own, and hands the base queue the files
// unwrapped.
#pragma once

#include "engine/write_queue.h"

#include <cassert>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace cairn::engine {

template <typename WrappedFile, typename Entry>
class WrappedQueue : public WriteQueue {
 public:
  WrappedQueue(std::unique_ptr<WriteQueue> base, unsigned depth) : base_(std::move(base)), depth_(depth) {}

  size_t pending() const override {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  const char* name() const override { return base_->name(); }

 protected:
  // The file as this wrapper's file system opened it (another file would
  // bypass the wrapper), when there is room for one more submission.
  Result<WrappedFile*> unwrap(File& file, const std::string& file_system) const {
    auto* wrapped = dynamic_cast<WrappedFile*>(&file);
    if (wrapped == nullptr) return Status::invalid_argument(file.path() + ": not opened through this " + file_system);
    std::lock_guard lock(mu_);
    assert(entries_.size() < depth_ && "the caller keeps at most depth submissions pending");
    if (entries_.size() >= depth_) return queue_full(depth_);
    return wrapped;
  }
  void push(Entry e) {
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(e));
  }
  // The oldest pending entry; the caller completes it, then pop()s it.
  // Entries reach the base queue in order, so its oldest is this one's.
  Result<Entry> oldest() const {
    std::lock_guard lock(mu_);
    assert(!entries_.empty() && "wait_oldest() with nothing pending");
    if (entries_.empty()) return Status::invalid_argument("wait_oldest: nothing pending");
    return entries_.front();
  }
  void pop() {
    std::lock_guard lock(mu_);
    entries_.pop_front();
  }
  WriteQueue& base() { return *base_; }

 private:
  std::unique_ptr<WriteQueue> base_;
  const unsigned depth_;
  mutable std::mutex mu_;  // guards entries_; never held while calling base_
  std::deque<Entry> entries_;
};

}  // namespace cairn::engine
