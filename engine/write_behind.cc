#include "engine/write_behind.h"

#include "engine/thread_name.h"

#include <algorithm>

namespace cairn::engine {

WriteBehind::WriteBehind(File& file, uint64_t from, std::function<void(std::string_view)> log,
                         WritableMapping* ahead)
    : file_(file),
      ahead_(ahead),
      log_(std::move(log)),
      announced_(from / kChunk * kChunk),
      done_(from / kChunk * kChunk),
      target_(from / kChunk * kChunk) {}

WriteBehind::~WriteBehind() {
  {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WriteBehind::written(uint64_t end, bool prefault_next) {
  uint64_t target = end / kChunk * kChunk;
  if (target <= announced_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard lock(mu_);
    if (target <= target_ || finished_) return;
    target_ = target;
    if (prefault_next && ahead_ && target + kChunk < ahead_->size()) {
      prefault_from_ = std::max(target + kChunk, prefaulted_);
      prefault_to_ = std::min(target + 2 * kChunk, ahead_->size());
    }
    announced_.store(target, std::memory_order_relaxed);
    if (!thread_.joinable()) thread_ = std::thread([this] {
      name_this_thread("cairn-wback");
      run();
    });
  }
  cv_.notify_all();
}

void WriteBehind::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return finished_ || (done_ >= target_ && prefaulted_ >= prefault_to_ && !busy_); });
}

void WriteBehind::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return finished_ || done_ < target_ || prefaulted_ < prefault_to_; });
    if (finished_) break;
    if (prefaulted_ < prefault_to_) {  // first: the writer is about to get there
      // Never where the writer may be already (it could have released it).
      uint64_t from = std::max({prefaulted_, prefault_from_, target_ + kChunk});
      uint64_t to = prefault_to_;
      busy_ = true;
      lock.unlock();
      if (from < to) ahead_->prefault(from, to - from);
      lock.lock();
      busy_ = false;
      prefaulted_ = to;
      cv_.notify_all();
      continue;
    }
    uint64_t at = done_;
    busy_ = true;
    lock.unlock();
    Status s = file_.write_back(at, kChunk);
    if (!s.ok()) {
      // The writer's fdatasync hears of the same error (File::write_back)
      // and fails the store; this only stops helping it.
      if (log_) log_("writing unsynced appends back ahead of their fdatasync stopped: " + s.message());
      lock.lock();
      busy_ = false;
      finished_ = true;
      break;
    }
    lock.lock();
    busy_ = false;
    done_ = at + kChunk;
    cv_.notify_all();
  }
  cv_.notify_all();
}

}  // namespace cairn::engine
