#include "engine/fault_injection.h"

#include <cstring>

namespace cairn::engine {
namespace {

class FaultFile final : public File {
 public:
  FaultFile(std::unique_ptr<File> base, FaultInjectingFileSystem& faults)
      : base_(std::move(base)), faults_(faults) {}

  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    if (int err = faults_.next(FaultOp::kWrite)) return injected("write at offset " + std::to_string(offset), err);
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
    return base_->read_at(offset, buf, n);
  }
  Status sync() override {
    if (int err = faults_.next(FaultOp::kSync)) return injected("fdatasync", err);
    return base_->sync();
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }

 private:
  Status injected(const std::string& what, int err) const {
    return Status::io_error(path() + ": " + what + ": " + std::strerror(err) + " (injected)");
  }
  std::unique_ptr<File> base_;
  FaultInjectingFileSystem& faults_;
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

int FaultInjectingFileSystem::next(FaultOp op) {
  std::lock_guard lock(mu_);
  auto i = static_cast<size_t>(op);
  uint64_t n = ++counts_[i];
  if (armed_[i].at != n) return 0;
  armed_[i].at = 0;
  ++fired_;
  return armed_[i].error;
}

Result<std::unique_ptr<File>> FaultInjectingFileSystem::open(const std::string& path, OpenMode mode) {
  auto file = base_.open(path, mode);
  if (!file.ok()) return file.status();
  return std::unique_ptr<File>(std::make_unique<FaultFile>(std::move(*file), *this));
}

}  // namespace cairn::engine
