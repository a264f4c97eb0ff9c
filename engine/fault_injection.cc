#include "engine/fault_injection.h"

#include "engine/wrapped_queue.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace cairn::engine {
namespace {

using Injected = FaultInjectingFileSystem::Injected;

// How many of a failed write's `total` bytes at `offset` reach the file
// (whole sectors when torn; whole units of `alignment` for direct writes).
uint64_t prefix_length(uint64_t offset, uint64_t total, const Injected& fault, uint64_t alignment) {
  if (total == 0 || fault.how == WriteFault::kNothing) return 0;
  uint64_t keep = std::min(fault.keep, total - 1);
  constexpr uint64_t kSector = 512;
  uint64_t unit = fault.how == WriteFault::kShort ? alignment : std::max(kSector, alignment);
  uint64_t end = (offset + keep) / unit * unit;
  return end > offset ? end - offset : 0;
}

// The first `n` bytes of `parts`.
std::vector<std::string_view> first_bytes(std::span<const std::string_view> parts, uint64_t n) {
  std::vector<std::string_view> out;
  for (std::string_view p : parts) {
    if (n == 0) break;
    out.push_back(p.substr(0, std::min<uint64_t>(n, p.size())));
    n -= out.back().size();
  }
  return out;
}

class FaultFile final : public File {
 public:
  FaultFile(std::unique_ptr<File> base, FaultInjectingFileSystem& faults)
      : base_(std::move(base)), faults_(faults) {}

  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    Injected fault = faults_.next(FaultOp::kWrite, path());
    if (fault.error != 0) return write_prefix_and_fail(offset, parts, fault);
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
    return base_->read_at(offset, buf, n);
  }
  Status sync() override {
    if (int err = faults_.next(FaultOp::kSync, path()).error) return injected("fdatasync", err);
    return base_->sync();
  }
  Status write_back(uint64_t offset, uint64_t length) override { return base_->write_back(offset, length); }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }
  uint64_t write_alignment() const override { return base_->write_alignment(); }
  // No native_handle(): a write queue that used the descriptor directly would
  // bypass the faults. FaultQueue hands its base queue base() instead.

  File& base() { return *base_; }
  // The injected write fault: the prefix it keeps is written, then it fails.
  Status write_prefix_and_fail(uint64_t offset, std::span<const std::string_view> parts, const Injected& fault) {
    uint64_t total = total_bytes(parts);
    uint64_t n = prefix_length(offset, total, fault, base_->write_alignment());
    if (n > 0) {
      if (Status s = base_->write_at(offset, first_bytes(parts, n)); !s.ok()) return s;
    }
    return injected("write at offset " + std::to_string(offset) + " (" + std::to_string(n) + " of " +
                        std::to_string(total) + " bytes written)",
                    fault.error);
  }
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
struct FaultEntry {
  bool in_base = true;  // submitted to the base queue (not when its write was to fail)
  Status injected;      // the outcome when the base queue reports success
};

class FaultQueue final : public WrappedQueue<FaultFile, FaultEntry> {
 public:
  FaultQueue(std::unique_ptr<WriteQueue> base, FaultInjectingFileSystem& faults, unsigned depth)
      : WrappedQueue(std::move(base), depth), faults_(faults) {}

  Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) override {
    auto wrapped = unwrap(file, "FaultInjectingFileSystem");
    if (!wrapped.ok()) return wrapped.status();
    FaultEntry e;
    if (has_bytes(parts)) {
      if (Injected fault = faults_.next(FaultOp::kWrite, file.path()); fault.error != 0) {
        e = {false, (*wrapped)->write_prefix_and_fail(offset, parts, fault)};
      }
    }
    if (e.in_base && sync) {
      if (int err = faults_.next(FaultOp::kSync, file.path()).error) {
        e.injected = (*wrapped)->injected("fdatasync", err);
        sync = false;
      }
    }
    if (e.in_base) {
      if (Status s = base().submit((*wrapped)->base(), offset, parts, sync); !s.ok()) return s;
    }
    push(std::move(e));
    return Status();
  }

  Status wait_oldest() override {
    auto e = oldest();
    if (!e.ok()) return e.status();
    Status s = e->in_base ? base().wait_oldest() : Status();
    if (s.ok()) s = e->injected;
    pop();
    return s;
  }

 private:
  FaultInjectingFileSystem& faults_;
};

}  // namespace

void FaultInjectingFileSystem::fail(FaultOp op, uint64_t nth, int error) {
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(op);
  armed_[i] = Armed{counts_[i] + nth, Injected{error, WriteFault::kNothing, 0}};
}

void FaultInjectingFileSystem::fail_write(uint64_t nth, int error, WriteFault how, uint64_t keep) {
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(FaultOp::kWrite);
  armed_[i] = Armed{counts_[i] + nth, Injected{error, how, keep}};
}

uint64_t FaultInjectingFileSystem::count(FaultOp op) const {
  std::lock_guard lock(mu_);
  return counts_[static_cast<size_t>(op)];
}

uint64_t FaultInjectingFileSystem::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

FaultInjectingFileSystem::Injected FaultInjectingFileSystem::next(FaultOp op, const std::string& path) {
  if (!suffix_.empty() && (path.size() < suffix_.size() || path.compare(path.size() - suffix_.size(), suffix_.size(), suffix_) != 0)) {
    return {};
  }
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(op);
  uint64_t n = ++counts_[i];
  if (armed_[i].at != n) return {};
  armed_[i].at = 0;
  ++fired_;
  return armed_[i].fault;
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
