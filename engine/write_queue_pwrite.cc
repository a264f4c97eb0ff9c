// pwrite backend of WriteQueue. submit() writes at once, on the submitting
// thread, through File::write_at; wait_oldest() runs the fdatasync, on the
// completing thread. One fdatasync covers every write to its file that had
// completed when it started, so later submissions it covers skip theirs.
#include "engine/write_queue.h"

#include <algorithm>
#include <cassert>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace cairn::engine {
namespace {

class PwriteQueue final : public WriteQueue {
 public:
  explicit PwriteQueue(unsigned depth) : depth_(depth) {}

  Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) override;
  Status wait_oldest() override;
  size_t pending() const override {
    std::lock_guard lock(mu_);
    return written_.size();
  }
  const char* name() const override { return "pwrite"; }

 private:
  // A submission whose write has completed (or failed).
  struct Written {
    uint64_t seq = 0;
    File* file = nullptr;
    bool sync = false;
    Status status;  // of the write
  };

  Status sync_covering(const Written& w);
  uint64_t last_written_to(const File* file) const;
  void forget_old_marks();

  const unsigned depth_;
  // Guards the members below. Never held during a write or an fdatasync.
  mutable std::mutex mu_;
  uint64_t next_seq_ = 1;
  // Pending submissions, oldest first, in seq order.
  std::deque<Written> written_;
  // file -> N: every write to the file with seq <= N had completed when an
  // fdatasync of it started, and that fdatasync succeeded. Marks below the
  // oldest pending seq cover nothing any more and are dropped (so a new File
  // at a freed address never inherits one: its seqs are all larger).
  std::unordered_map<const File*, uint64_t> synced_through_;
};

Status PwriteQueue::submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) {
  uint64_t seq = 0;
  {
    std::lock_guard lock(mu_);
    assert(written_.size() < depth_ && "the caller keeps at most depth submissions pending");
    if (written_.size() >= depth_) return queue_full(depth_);
    seq = next_seq_++;
  }
  Status s = has_bytes(parts) ? file.write_at(offset, parts) : Status();
  std::lock_guard lock(mu_);
  written_.push_back({seq, &file, sync, std::move(s)});
  return Status();
}

Status PwriteQueue::wait_oldest() {
  Written w;
  {
    std::lock_guard lock(mu_);
    assert(!written_.empty() && "wait_oldest() with nothing pending");
    if (written_.empty()) return Status::invalid_argument("wait_oldest: nothing pending");
    w = written_.front();
  }
  Status s = w.status;
  if (s.ok() && w.sync) s = sync_covering(w);
  std::lock_guard lock(mu_);
  written_.pop_front();
  forget_old_marks();
  return s;
}

// fdatasyncs w's file unless an fdatasync that started after w's write
// completed has already succeeded.
Status PwriteQueue::sync_covering(const Written& w) {
  uint64_t through = 0;
  {
    std::lock_guard lock(mu_);
    auto mark = synced_through_.find(w.file);
    if (mark != synced_through_.end() && mark->second >= w.seq) return Status();
    // The fdatasync below starts after every write up to `through` completed.
    through = last_written_to(w.file);
  }
  if (Status s = w.file->sync(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  uint64_t& mark = synced_through_[w.file];
  mark = std::max(mark, through);
  return Status();
}

// The newest completed write to `file`. Every pending submission's write has
// completed, and so has every earlier one's (submit() runs on one thread at a
// time, in seq order). mu_ held.
uint64_t PwriteQueue::last_written_to(const File* file) const {
  uint64_t last = 0;
  for (const Written& w : written_) {
    if (w.file == file) last = w.seq;
  }
  return last;
}

// mu_ held.
void PwriteQueue::forget_old_marks() {
  uint64_t oldest = written_.empty() ? next_seq_ : written_.front().seq;
  std::erase_if(synced_through_, [oldest](const auto& mark) { return mark.second < oldest; });
}

}  // namespace

std::unique_ptr<WriteQueue> make_pwrite_queue(unsigned depth) { return std::make_unique<PwriteQueue>(depth); }

}  // namespace cairn::engine
