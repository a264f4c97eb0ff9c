#include "engine/zero_ahead.h"

#include "engine/thread_name.h"

#include <algorithm>
#include <string>

namespace cairn::engine {

ZeroAhead::ZeroAhead(File& file, uint64_t data_end, uint64_t zeroed_end, uint64_t limit,
                     std::function<void(std::string_view)> log)
    : file_(file),
      limit_(limit),
      log_(std::move(log)),
      reach_(data_end),
      zeroed_end_(std::max(data_end, zeroed_end)) {
  thread_ = std::thread([this] {
    name_this_thread("cairn-zero");
    run();
  });
}

ZeroAhead::~ZeroAhead() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

void ZeroAhead::before_write(uint64_t end) {
  if (end <= reach_.load(std::memory_order_relaxed)) return;
  reach_.store(end, std::memory_order_seq_cst);
  if (end > fence_.load(std::memory_order_seq_cst)) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !zeroing_; });
  }
  if (end >= kick_at_) {
    kick_at_ = end + kChunk;
    std::lock_guard lock(mu_);
    kicked_ = true;
    cv_.notify_all();
  }
}

void ZeroAhead::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return finished_ || (!zeroing_ && caught_up()); });
}

bool ZeroAhead::caught_up() const {
  uint64_t reach = reach_.load(std::memory_order_seq_cst);
  return zeroed_end_ >= std::min(limit_, reach + kLookahead);
}

void ZeroAhead::run() {
  const std::string zeros(kChunk, '\0');
  std::unique_lock lock(mu_);
  while (!stopping_) {
    uint64_t from = std::max(zeroed_end_, reach_.load(std::memory_order_seq_cst));
    if (from >= limit_) break;
    if (caught_up()) {
      cv_.notify_all();  // wait_idle()
      cv_.wait(lock, [&] { return stopping_ || kicked_; });
      kicked_ = false;
      continue;
    }
    uint64_t to = std::min(limit_, from + kChunk);
    zeroing_ = true;
    fence_.store(from, std::memory_order_seq_cst);
    if (reach_.load(std::memory_order_seq_cst) > from) {  // the writer got there first
      fence_.store(UINT64_MAX, std::memory_order_seq_cst);
      zeroing_ = false;
      cv_.notify_all();
      continue;
    }
    lock.unlock();
    Status s = file_.write_at(from, std::string_view(zeros.data(), to - from));
    if (s.ok()) s = file_.sync_apart();  // a data page's writeback error stays the writer's to see
    lock.lock();
    fence_.store(UINT64_MAX, std::memory_order_seq_cst);
    zeroing_ = false;
    cv_.notify_all();
    if (!s.ok()) {
      // The writer simply grows the file from here on.
      if (log_) log_("could not zero-fill ahead of the writer: " + s.message());
      break;
    }
    zeroed_end_ = to;
  }
  finished_ = true;
  cv_.notify_all();
}

}  // namespace cairn::engine
