#include "engine/fault_injection.h"

#include "engine/write_queue.h"

#include <cassert>
#include <cstring>
#include <deque>

namespace cairn::engine {
namespace {

class FaultFile final : public File {
 public:
  FaultFile(std::unique_ptr<File> base, FaultInjectingFileSystem& faults)
      : base_(std::move(base)), faults_(faults) {}

  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    if (int err = faults_.next(FaultOp::kWrite, path())) return injected("write at offset " + std::to_string(offset), err);
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
    return base_->read_at(offset, buf, n);
  }
  Status sync() override {
    if (int err = faults_.next(FaultOp::kSync, path())) return injected("fdatasync", err);
    return base_->sync();
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }
  // No native_handle(): a write queue that used the descriptor directly would
  // bypass the faults. FaultQueue hands its base queue base() instead.

  File& base() { return *base_; }
  Status injected(const std::string& what, int err) const {
    return Status::io_error(path() + ": " + what + ": " + std::strerror(err) + " (injected)");
  }

 private:
  std::unique_ptr<File> base_;
  FaultInjectingFileSystem& faults_;
};

// A WriteQueue in front of a base file system's queue: decides each
// submission's injected fault when it is submitted, hands the base queue the
// unwrapped file (without the sync when the sync is to fail), and reports
// outcomes in order.
class FaultQueue final : public WriteQueue {
 public:
  FaultQueue(std::unique_ptr<WriteQueue> base, FaultInjectingFileSystem& faults, unsigned depth)
      : base_(std::move(base)), faults_(faults), depth_(depth) {}

  Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) override {
    auto* wrapped = dynamic_cast<FaultFile*>(&file);
    if (wrapped == nullptr) {
      return Status::invalid_argument(file.path() + ": not opened through this FaultInjectingFileSystem");
    }
    {
      std::lock_guard lock(mu_);
      assert(entries_.size() < depth_ && "the caller keeps at most depth submissions pending");
      if (entries_.size() >= depth_) return queue_full(depth_);
    }
    Entry e;
    if (has_bytes(parts)) {
      if (int err = faults_.next(FaultOp::kWrite, file.path())) {
        e = {false, wrapped->injected("write at offset " + std::to_string(offset), err)};
      }
    }
    if (e.in_base && sync) {
      if (int err = faults_.next(FaultOp::kSync, file.path())) {
        e.injected = wrapped->injected("fdatasync", err);
        sync = false;
      }
    }
    if (e.in_base) {
      if (Status s = base_->submit(wrapped->base(), offset, parts, sync); !s.ok()) return s;
    }
    std::lock_guard lock(mu_);
    entries_.push_back(std::move(e));
    return Status();
  }

  Status wait_oldest() override {
    Entry e;
    {
      std::lock_guard lock(mu_);
      assert(!entries_.empty() && "wait_oldest() with nothing pending");
      if (entries_.empty()) return Status::invalid_argument("wait_oldest: nothing pending");
      e = entries_.front();
    }
    // Entries reach the base queue in order, so its oldest is this one.
    Status s = e.in_base ? base_->wait_oldest() : Status();
    if (s.ok()) s = e.injected;
    std::lock_guard lock(mu_);
    entries_.pop_front();
    return s;
  }

  size_t pending() const override {
    std::lock_guard lock(mu_);
    return entries_.size();
  }
  const char* name() const override { return base_->name(); }

 private:
  struct Entry {
    bool in_base = true;  // submitted to base_ (not when its write was to fail)
    Status injected;      // the outcome when base_ reports success
  };
  std::unique_ptr<WriteQueue> base_;
  FaultInjectingFileSystem& faults_;
  const unsigned depth_;
  mutable std::mutex mu_;  // guards entries_; never held while calling base_
  std::deque<Entry> entries_;
};

}  // namespace

void FaultInjectingFileSystem::fail(FaultOp op, uint64_t nth, int error) {
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(op);
  armed_[i] = Armed{counts_[i] + nth, error};
}

uint64_t FaultInjectingFileSystem::count(FaultOp op) const {
  std::lock_guard lock(mu_);
  return counts_[static_cast<size_t>(op)];
}

uint64_t FaultInjectingFileSystem::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

int FaultInjectingFileSystem::next(FaultOp op, const std::string& path) {
  if (!suffix_.empty() && (path.size() < suffix_.size() || path.compare(path.size() - suffix_.size(), suffix_.size(), suffix_) != 0)) {
    return 0;
  }
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(op);
  uint64_t n = ++counts_[i];
  if (armed_[i].at != n) return 0;
  armed_[i].at = 0;
  ++fired_;
  return armed_[i].error;
}

Result<std::unique_ptr<WriteQueue>> FaultInjectingFileSystem::make_write_queue(IoBackend backend, unsigned depth,
                                                                              std::string* why_fallback) {
  auto base = base_.make_write_queue(backend, depth, why_fallback);
  if (!base.ok()) return base.status();
  return std::unique_ptr<WriteQueue>(std::make_unique<FaultQueue>(std::move(*base), *this, depth));
}

Result<std::unique_ptr<File>> FaultInjectingFileSystem::open(const std::string& path, OpenMode mode) {
  auto file = base_.open(path, mode);
  if (!file.ok()) return file.status();
  return std::unique_ptr<File>(std::make_unique<FaultFile>(std::move(*file), *this));
}

}  // namespace cairn::engine
