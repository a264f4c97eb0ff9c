#include "engine/write_behind.h"

#include "engine/thread_name.h"

namespace cairn::engine {

WriteBehind::WriteBehind(File& file, uint64_t from, std::function<void(std::string_view)> log)
    : file_(file),
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

void WriteBehind::written(uint64_t end) {
  uint64_t target = end / kChunk * kChunk;
  if (target <= announced_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard lock(mu_);
    if (target <= target_ || finished_) return;
    target_ = target;
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
  cv_.wait(lock, [&] { return finished_ || (done_ >= target_ && !busy_); });
}

void WriteBehind::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return finished_ || done_ < target_; });
    if (finished_) break;
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
