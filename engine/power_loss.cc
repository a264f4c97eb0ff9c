#include "engine/power_loss.h"

#include "engine/wrapped_queue.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

namespace cairn::engine {
namespace {

using Node = PowerLossFileSystem::Node;
constexpr uint64_t kSector = PowerLossFileSystem::kSector;

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string without_trailing_slash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

Status write_whole_file(FileSystem& fs, const std::string& path, const std::string& bytes) {
  auto file = fs.open(path, OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->truncate(0); !s.ok()) return s;
  return (*file)->write_at(0, bytes);
}

class PowerLossFile final : public File {
 public:
  PowerLossFile(std::unique_ptr<File> base, std::shared_ptr<Node> node, PowerLossFileSystem& fs)
      : base_(std::move(base)), node_(std::move(node)), fs_(fs) {}

  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    if (Status s = fs_.before_write(*node_, *base_, offset, total_bytes(parts)); !s.ok()) return s;
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
    return base_->read_at(offset, buf, n);
  }
  Status sync() override {
    auto ticket = fs_.before_sync(*node_, *base_, 0);
    if (!ticket.ok()) return ticket.status();
    if (Status s = base_->sync(); !s.ok()) return s;
    return fs_.after_sync(*node_, *ticket, path());
  }
  // Durable nothing: the unsynced bytes stay at risk in the model.
  Status write_back(uint64_t offset, uint64_t length) override { return base_->write_back(offset, length); }
  Status truncate(uint64_t size) override {
    if (Status s = fs_.before_truncate(*node_, *base_, size); !s.ok()) return s;
    return base_->truncate(size);
  }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }
  uint64_t write_alignment() const override { return base_->write_alignment(); }
  // No native_handle(): PowerLossQueue hands its base queue base() instead.

  File& base() { return *base_; }
  Node& node() { return *node_; }

 private:
  std::unique_ptr<File> base_;
  std::shared_ptr<Node> node_;
  PowerLossFileSystem& fs_;
};

struct PowerLossEntry {
  PowerLossFile* file = nullptr;
  bool sync = false;
  Status outcome;        // an error before the base queue got it
  bool in_base = false;  // submitted to the base queue
  PowerLossFileSystem::SyncTicket ticket;
};

// Saves the sectors a submission will overwrite before the base queue gets
// it, and records what its sync made durable once the base queue reports it
// done, unless the power failed meanwhile (then the submission fails:
// nothing completing after a power loss is acknowledged).
class PowerLossQueue final : public WrappedQueue<PowerLossFile, PowerLossEntry> {
 public:
  PowerLossQueue(std::unique_ptr<WriteQueue> base, PowerLossFileSystem& fs, unsigned depth)
      : WrappedQueue(std::move(base), depth), fs_(fs) {}

  Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) override {
    auto wrapped = unwrap(file, "PowerLossFileSystem");
    if (!wrapped.ok()) return wrapped.status();
    PowerLossFile& f = **wrapped;
    PowerLossEntry e{&f, sync};
    uint64_t bytes = total_bytes(parts);
    if (bytes > 0) e.outcome = fs_.before_write(f.node(), f.base(), offset, bytes);
    if (e.outcome.ok() && sync) {
      auto ticket = fs_.before_sync(f.node(), f.base(), offset + bytes);
      if (ticket.ok()) e.ticket = *ticket; else e.outcome = ticket.status();
    }
    e.in_base = e.outcome.ok();
    if (e.in_base) {
      if (Status s = base().submit(f.base(), offset, parts, sync); !s.ok()) return s;
    }
    push(std::move(e));
    return Status();
  }

  Status wait_oldest() override {
    auto e = oldest();
    if (!e.ok()) return e.status();
    Status s = e->in_base ? base().wait_oldest() : e->outcome;
    if (s.ok() && e->sync) s = fs_.after_sync(e->file->node(), e->ticket, e->file->path());
    if (s.ok() && !e->sync && fs_.power_is_off()) {
      s = Status::io_error(e->file->path() + ": write completed after the power failed (simulated)");
    }
    pop();
    return s;
  }

 private:
  PowerLossFileSystem& fs_;
};

}  // namespace

// ---------------------------------------------------------------- the power

void PowerLossFileSystem::cut_power_after(uint64_t nth) {
  std::lock_guard lock(mu_);
  cut_at_ = operations_ + std::max<uint64_t>(nth, 1);
}

void PowerLossFileSystem::cut_power_now() {
  std::lock_guard lock(mu_);
  off_ = true;
}

bool PowerLossFileSystem::power_is_off() const {
  std::lock_guard lock(mu_);
  return off_;
}

uint64_t PowerLossFileSystem::operations() const {
  std::lock_guard lock(mu_);
  return operations_;
}

Status PowerLossFileSystem::count_operation(const std::string& what) {
  ++operations_;
  if (cut_at_ != 0 && operations_ >= cut_at_) off_ = true;
  if (!off_) return Status();
  return Status::io_error(what + ": " + std::strerror(EIO) + " (the power failed, simulated)");
}

// ---------------------------------------------------------------- bookkeeping

std::shared_ptr<Node> PowerLossFileSystem::node_for(const std::string& path, File& base) {
  auto& node = nodes_[path];
  if (!node) {
    node = std::make_shared<Node>();
    auto size = base.size();
    node->synced_size = size.ok() ? *size : 0;  // a file first seen is taken as durable
  }
  return node;
}

// Saves the durable bytes of the sectors of [from, to) below the synced
// size that have not been saved since the last sync.
Status PowerLossFileSystem::save_sectors(Node& node, File& base, uint64_t from, uint64_t to) {
  to = std::min(to, node.synced_size);
  for (uint64_t sector = from / kSector; sector * kSector < to; ++sector) {
    if (node.saved.contains(sector)) continue;
    uint64_t begin = sector * kSector;
    std::string bytes(std::min(kSector, node.synced_size - begin), '\0');
    auto n = base.read_at(begin, bytes.data(), bytes.size());
    if (!n.ok()) return n.status();
    bytes.resize(*n);  // a file cut short since its last sync
    node.saved[sector] = Node::Saved{std::move(bytes), node.epoch};
  }
  return Status();
}

Status PowerLossFileSystem::before_write(Node& node, File& base, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(base.path() + ": write"); !s.ok()) return s;
  return save_sectors(node, base, offset, offset + length);
}

Result<PowerLossFileSystem::SyncTicket> PowerLossFileSystem::before_sync(Node& node, File& base,
                                                                        uint64_t pending_end) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(base.path() + ": fdatasync"); !s.ok()) return s;
  auto size = base.size();
  if (!size.ok()) return size.status();
  return SyncTicket{++node.epoch, std::max(*size, pending_end)};
}

// A write racing a sync of the same file from another thread counts as
// covered by it (only the zero-filling threads do that, to bytes no append
// was acknowledged for); the model is then kinder than a disk, never harsher.
Status PowerLossFileSystem::after_sync(Node& node, const SyncTicket& ticket, const std::string& path) {
  std::lock_guard lock(mu_);
  if (off_) return Status::io_error(path + ": fdatasync: the power failed before it completed (simulated)");
  std::erase_if(node.saved, [&](const auto& entry) { return entry.second.epoch < ticket.epoch; });
  node.synced_size = ticket.size;
  return Status();
}

Status PowerLossFileSystem::before_truncate(Node& node, File& base, uint64_t size) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(base.path() + ": truncate"); !s.ok()) return s;
  return save_sectors(node, base, size, node.synced_size);
}

// The file as the last sync left it.
Result<std::string> PowerLossFileSystem::durable_bytes(const std::string& path) {
  auto bytes = read_file(base_, path);
  if (!bytes.ok()) return bytes.status();
  auto it = nodes_.find(path);
  if (it == nodes_.end()) return bytes;
  const Node& node = *it->second;
  bytes->resize(node.synced_size, '\0');
  for (const auto& [sector, saved] : node.saved) bytes->replace(sector * kSector, saved.bytes.size(), saved.bytes);
  return bytes;
}

// ---------------------------------------------------------------- the file system

Result<std::unique_ptr<File>> PowerLossFileSystem::open(const std::string& path, OpenMode mode) {
  std::lock_guard lock(mu_);
  bool creates = mode == OpenMode::kCreate && base_.is_dir(path).status().code() == Code::kNotFound;
  if (creates) {
    if (Status s = count_operation(path + ": create"); !s.ok()) return s;
  }
  auto file = base_.open(path, mode);
  if (!file.ok()) return file.status();
  if (creates) {
    nodes_.erase(path);
    journal_[parent_of(path)].push_back(DirOp{DirOp::kCreate, "", path, false, ""});
  }
  auto node = node_for(path, **file);
  return std::unique_ptr<File>(std::make_unique<PowerLossFile>(std::move(*file), std::move(node), *this));
}

Status PowerLossFileSystem::create_dirs(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (off_) return Status::io_error(dir + ": mkdir: the power failed (simulated)");
  return base_.create_dirs(dir);
}

Status PowerLossFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(dir + ": fsync of the directory"); !s.ok()) return s;
  if (Status s = base_.sync_dir(dir); !s.ok()) return s;
  journal_.erase(without_trailing_slash(dir));
  return Status();
}

Status PowerLossFileSystem::rename(const std::string& from, const std::string& to, bool replace) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(from + ": rename to " + to); !s.ok()) return s;
  DirOp op{DirOp::kRename, from, to, false, ""};
  if (replace && base_.is_dir(to).ok()) {
    auto old = durable_bytes(to);
    if (!old.ok()) return old.status();
    op.had_old = true;
    op.old = std::move(*old);
  }
  if (Status s = base_.rename(from, to, replace); !s.ok()) return s;
  auto moved = nodes_.extract(from);
  nodes_.erase(to);
  if (moved) {
    moved.key() = to;
    nodes_.insert(std::move(moved));
  }
  journal_[parent_of(to)].push_back(std::move(op));
  return Status();
}

Status PowerLossFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(path + ": remove"); !s.ok()) return s;
  auto old = durable_bytes(path);
  if (Status s = base_.remove(path); !s.ok()) return s;
  nodes_.erase(path);
  if (old.ok()) journal_[parent_of(path)].push_back(DirOp{DirOp::kRemove, "", path, true, std::move(*old)});
  return Status();
}

// A new name of the same file: it shares the file's node, and vanishes
// unless its directory is synced.
Status PowerLossFileSystem::link(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  if (Status s = count_operation(from + ": link to " + to); !s.ok()) return s;
  if (Status s = base_.link(from, to); !s.ok()) return s;
  if (auto it = nodes_.find(from); it != nodes_.end()) nodes_[to] = it->second;
  journal_[parent_of(to)].push_back(DirOp{DirOp::kCreate, "", to, false, ""});
  return Status();
}

Result<std::unique_ptr<WriteQueue>> PowerLossFileSystem::make_write_queue(IoBackend backend, unsigned depth,
                                                                         std::string* why_fallback) {
  auto base = base_.make_write_queue(backend, depth, why_fallback);
  if (!base.ok()) return base.status();
  return std::unique_ptr<WriteQueue>(std::make_unique<PowerLossQueue>(std::move(*base), *this, depth));
}

// ---------------------------------------------------------------- after the loss

Status PowerLossFileSystem::restore_after_power_loss(Loss loss, uint64_t seed) {
  std::lock_guard lock(mu_);
  off_ = true;
  uint64_t n = 0;
  std::set<const Node*> reverted;  // a file with two names (a hard link) once
  for (const auto& [path, node] : nodes_) {
    if (!base_.is_dir(path).ok()) continue;  // removed: the journal brings it back
    if (!reverted.insert(node.get()).second) continue;
    if (Status s = revert_file(path, *node, loss, seed + n++); !s.ok()) return s;
  }
  for (const auto& [dir, ops] : journal_) {
    for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
      if (Status s = undo(*op); !s.ok()) return s;
    }
  }
  nodes_.clear();
  journal_.clear();
  cut_at_ = 0;
  off_ = false;
  return Status();
}

// The file's size and unsynced sectors as `loss` leaves them (see the header).
Status PowerLossFileSystem::revert_file(const std::string& path, const Node& node, Loss loss, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto coin = [&] { return (rng() & 1) != 0; };
  auto file = base_.open(path, OpenMode::kReadWrite);
  if (!file.ok()) return file.status();
  auto current = (*file)->size();
  if (!current.ok()) return current.status();
  uint64_t size = node.synced_size;
  if (loss != Loss::kRevert && *current > size) {
    uint64_t new_sectors = (*current - size + kSector - 1) / kSector;
    size = std::min(*current, size + rng() % (new_sectors + 1) * kSector);
  } else if (loss != Loss::kRevert && *current < size && coin()) {
    size = *current;  // the truncation reached the disk
  }
  if (Status s = (*file)->truncate(size); !s.ok()) return s;
  if (loss == Loss::kSubset) {  // holes in what the file grew by
    std::string zeros(kSector, '\0');
    for (uint64_t at = node.synced_size; at < size; at += kSector) {
      if (!coin()) continue;
      if (Status s = (*file)->write_at(at, std::string_view(zeros).substr(0, std::min(kSector, size - at))); !s.ok()) {
        return s;
      }
    }
  }
  size_t kept_prefix = node.saved.empty() ? 0 : rng() % (node.saved.size() + 1);
  size_t i = 0;
  for (const auto& [sector, saved] : node.saved) {
    bool keep_new = loss == Loss::kSubset ? coin() : loss == Loss::kPrefix && i < kept_prefix;
    ++i;
    uint64_t at = sector * kSector;
    if (keep_new || at >= size) continue;
    std::string_view old = std::string_view(saved.bytes).substr(0, std::min<uint64_t>(saved.bytes.size(), size - at));
    if (Status s = (*file)->write_at(at, old); !s.ok()) return s;
  }
  return Status();
}

Status PowerLossFileSystem::undo(const DirOp& op) {
  switch (op.kind) {
    case DirOp::kCreate:
      if (base_.is_dir(op.path).ok()) return base_.remove(op.path);
      return Status();
    case DirOp::kRename:
      if (Status s = base_.rename(op.path, op.from, /*replace=*/true); !s.ok()) return s;
      return op.had_old ? write_whole_file(base_, op.path, op.old) : Status();
    case DirOp::kRemove:
      return write_whole_file(base_, op.path, op.old);
  }
  return Status();
}

}  // namespace cairn::engine
