#include "engine/store_checkpoint.h"

#include "engine/index_checkpoint.h"
#include "format/clean_record.h"
#include "format/coding.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/index_file.h"
#include "format/segment_name.h"
#include "format/snapshot_record.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

namespace cairn::engine {
namespace {

constexpr uint64_t kCopyChunk = 1 << 20;
constexpr uint64_t kWhole = UINT64_MAX;
// An index file's header ends with the checksum of its block table, which
// holds the checksum of every body block: equal headers, equal files.
constexpr uint64_t kIndexHeaderSize = 128;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

// Bytes of a file that, with its size, tell two versions of it apart.
// kWhole: every byte.
struct Range {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// One file of the copy, named relative to the store directory.
struct Item {
  std::string name;
  bool immutable = false;   // never changed in place: linked, or kept when identical
  uint64_t length = kWhole; // bytes to copy: a prefix, exactly, or the whole file
  std::vector<Range> identity;  // immutable files: compared besides the size
};

Item immutable_file(std::string name, std::vector<Range> identity) {
  return Item{std::move(name), true, kWhole, std::move(identity)};
}
Item mutable_file(std::string name, uint64_t length = kWhole) { return Item{std::move(name), false, length, {}}; }
Item index_file(std::string name) { return immutable_file(std::move(name), {{0, kIndexHeaderSize}}); }
// A sealed snapshot file's header says nothing of its records, and a
// restored copy that saved its own snapshots has files of the same names,
// header and size as the store's but other records: compared whole.
Item sealed_snapshot_file(std::string name) { return immutable_file(std::move(name), {{0, kWhole}}); }
Item sealed_segment(std::string name, uint64_t sealed_end) {
  return immutable_file(std::move(name),
                        {{0, format::kSegmentHeaderSize}, {sealed_end - format::kFooterFrameSize, format::kFooterFrameSize}});
}

// Names that are no part of a store's content: the lock, a checkpoint's
// marker, the clean-close record (it describes this directory's segment
// files, not the copy's) and unfinished files (prepared segments, index files
// being written).
bool never_copied(std::string_view name) {
  return name == format::kLockFileName || name == format::kCheckpointMarkerName || name == format::kCleanFileName ||
         ends_with(name, ".tmp");
}

Result<std::filesystem::path> resolved(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(path, ec);
  if (ec) return Status::io_error(path + ": resolve the path: " + ec.message());
  if (!p.has_filename()) p = p.parent_path();  // a trailing '/'
  return p;
}

// The copy must not land in the directory it copies.
Status check_not_inside(const std::string& store, const std::string& target) {
  auto s = resolved(store);
  if (!s.ok()) return s.status();
  auto t = resolved(target);
  if (!t.ok()) return t.status();
  auto mismatch = std::mismatch(s->begin(), s->end(), t->begin(), t->end());
  if (mismatch.first == s->end()) {
    return Status::invalid_argument(target + ": a checkpoint's target must not be inside the store " + store);
  }
  return Status();
}

// A store file other than a segment may be deleted while it is taken (an
// old snapshot file, a file being replaced): it is then not part of the copy.
bool gone_or_ok(const Status& s) { return s.ok() || s.code() == Code::kNotFound; }

Result<std::string> read_range(const File& file, Range r) {
  std::string bytes(r.size, '\0');
  auto n = file.read_at(r.offset, bytes.data(), bytes.size());
  if (!n.ok()) return n.status();
  bytes.resize(*n);
  return bytes;
}

class Checkpointer {
 public:
  Checkpointer(const CheckpointSource& source, std::string target, const CheckpointOptions& options)
      : fs_(source.fs), source_(source), target_(std::move(target)), links_(!options.copy), log_(&source.log) {}

  Result<CheckpointResult> run() {
    if (Status s = check_not_inside(source_.dir, target_); !s.ok()) return s;
    if (Status s = begin(); !s.ok()) return s;
    if (Status s = take_metadata(); !s.ok()) return s;
    if (source_.reopen_log) {
      auto fresh = source_.reopen_log();
      if (!fresh.ok()) return fresh.status();
      fresh_ = std::move(*fresh);
      log_ = fresh_.log;
    }
    if (Status s = take_segments(); !s.ok()) return s;
    if (Status s = remove_stale(""); !s.ok()) return s;
    if (Status s = finish(); !s.ok()) return s;
    return result_;
  }

 private:
  std::string source_path(std::string_view name) const { return join(source_.dir, name); }
  std::string target_path(std::string_view name) const { return join(target_, name); }

  // Checks the target, locks it and marks it incomplete.
  Status begin() {
    auto is_dir = fs_.is_dir(target_);
    if (!is_dir.ok() && is_dir.status().code() != Code::kNotFound) return is_dir.status();
    if (!is_dir.ok()) {
      if (Status s = fs_.create_dirs(target_); !s.ok()) return s;
    } else if (!*is_dir) {
      return Status::invalid_argument(target_ + ": a checkpoint's target must be a directory");
    }
    // Checked before the lock (never drop a LOCK file into somebody else's
    // directory) and again with it held.
    if (Status s = check_target_contents(); !s.ok()) return s;
    auto lock = fs_.lock(target_path(format::kLockFileName));
    if (!lock.ok()) return lock.status();
    lock_ = std::move(*lock);
    if (Status s = check_target_contents(); !s.ok()) return s;
    return write_file_atomically(fs_, target_, std::string(format::kCheckpointMarkerName),
                                 format::encode_store_file(source_.identity));
  }

  // Empty, or a checkpoint (complete or not) of this very store.
  Status check_target_contents() {
    auto names = fs_.list(target_);
    if (!names.ok()) return names.status();
    auto has = [&](std::string_view n) { return std::find(names->begin(), names->end(), n) != names->end(); };
    // The marker holds the STORE file of the store being copied.
    for (std::string_view identity_file : {format::kCheckpointMarkerName, format::kStoreFileName}) {
      if (has(identity_file)) return check_same_store(target_path(identity_file));
    }
    if (std::all_of(names->begin(), names->end(), [](const std::string& n) { return never_copied(n); })) {
      return Status();
    }
    return Status::invalid_argument(target_ + ": a checkpoint's target must be empty or hold a checkpoint of " +
                                    source_.dir + ", and it holds other files");
  }

  Status check_same_store(const std::string& path) {
    auto bytes = read_file(fs_, path);
    if (!bytes.ok()) return bytes.status();
    auto identity = format::decode_store_file(*bytes, path);
    if (!identity.ok() || identity->store_id != source_.identity.store_id) {
      return Status::invalid_argument(path + ": the target holds another store or its checkpoint, not a checkpoint of " +
                                      source_.dir);
    }
    return Status();
  }

  // Everything but the segments, before the position is chosen.
  Status take_metadata() {
    auto names = fs_.list(source_.dir);
    if (!names.ok()) return names.status();
    // Directory runs before the *.idx files: every index a run covers exists
    // by then. A run merged away meanwhile is gone: the copy's directory then
    // ends before it, and its open scans the rest.
    for (const std::string& name : *names) {
      if (!format::parse_streams_run_file_name(name)) continue;
      if (Status s = put(index_file(name)); !gone_or_ok(s)) return s;
    }
    for (const std::string& name : *names) {
      if (never_copied(name) || format::parse_streams_run_file_name(name) || name == format::kLegacyStreamsFileName ||
          format::parse_segment_file_name(name)) {
        continue;
      }
      Status s;
      if (name == format::kStoreFileName) {
        s = put(immutable_file(name, {{0, format::kSegmentHeaderSize}}));
      } else if (is_segment_index_file_name(name)) {
        s = put(index_file(name));
      } else {
        s = put_other(name);
      }
      if (!gone_or_ok(s)) return s;
    }
    return Status();
  }

  // A file or directory of the store but for segments and index files
  // (snapshots/, SUBSCRIPTIONS, files of later versions): copied, since it
  // may change in place, except the sealed snapshot files.
  Status put_other(const std::string& name) {
    if (name == format::kSnapshotDirName && source_.snapshots_paused) {
      return source_.snapshots_paused([&] { return put_other_now(name); });
    }
    return put_other_now(name);
  }

  Status put_other_now(const std::string& name) {
    auto is_dir = fs_.is_dir(source_path(name));
    if (!is_dir.ok()) return is_dir.status();
    if (!*is_dir) return put(mutable_file(name));
    if (Status s = fs_.create_dirs(target_path(name)); !s.ok()) return s;
    subdirs_.push_back(name);
    auto names = fs_.list(source_path(name));
    if (!names.ok()) return names.status();
    // In name order: snapshot files oldest first (see snapshot_sequence).
    std::sort(names->begin(), names->end());
    uint64_t newest_snapshot = 0;
    for (const std::string& n : *names) newest_snapshot = std::max(newest_snapshot, snapshot_sequence(name, n));
    for (const std::string& n : *names) {
      if (ends_with(n, ".tmp")) continue;
      uint64_t sequence = snapshot_sequence(name, n);
      Status s = sequence > 0 && sequence < newest_snapshot
                     ? put(sealed_snapshot_file(join(name, n)))
                     : put_other(join(name, n));
      if (!gone_or_ok(s)) return s;
    }
    return Status();
  }

  // The sequence of snapshots/SSSSSSSS.snap (0: another file). Records are
  // appended to the newest snapshot file only; older ones are never written
  // again, and only the oldest is ever deleted, after its live snapshots
  // were appended to the newest. Taken oldest first, no snapshot is missed.
  static uint64_t snapshot_sequence(const std::string& dir, const std::string& name) {
    if (dir != format::kSnapshotDirName) return 0;
    return format::parse_snapshot_file_name(name).value_or(0);
  }

  // The segments holding [0, P), P the position published now.
  Status take_segments() {
    const uint64_t position = log_->published();
    result_.position = position;
    std::vector<const Segment*> segments = log_->segments();
    if (segments.empty()) return Status();
    Log::BatchEnd end{0, format::kSegmentHeaderSize};
    if (position > 0) {
      auto found = log_->batch_end(position);
      if (!found.ok()) return found.status();
      end = *found;
    }
    // The segment holding P - 1 was added before P was published, so before
    // `segments` was taken.
    if (end.segment >= segments.size()) return Status::corruption(source_.dir + ": the log lost a segment");
    for (uint32_t i = 0; i <= end.segment; ++i) {
      const Segment& segment = *segments[i];
      auto found_end = log_->sealed_end(i);  // opens a deferred segment's index
      if (!found_end.ok()) return found_end.status();
      uint64_t sealed_end = *found_end;
      bool last = i == end.segment;
      if (!last && sealed_end == 0) {  // a roll seals a segment before the next one gets a batch
        return Status::corruption(segment.path() + ": a segment before the active one is not sealed");
      }
      std::string name(segment.file_name());
      bool whole = sealed_end > 0 && (!last || sealed_end == end.offset + format::kFooterFrameSize);
      Status s = put(whole ? sealed_segment(name, sealed_end) : mutable_file(name, end.offset));
      if (!s.ok()) return s;
      result_.segments++;
    }
    return Status();
  }

  // Puts the store's file `item.name` into the target: kept, linked or copied.
  Status put(const Item& item) {
    auto from = fs_.open(source_path(item.name), OpenMode::kRead);
    if (!from.ok()) return from.status();
    auto size = (*from)->size();
    if (!size.ok()) return size.status();
    taken_.insert(item.name);
    if (!item.immutable) return copy(**from, item.name, item.length, *size);
    auto same = identical(**from, *size, item);
    if (!same.ok()) return same.status();
    if (*same) {
      result_.files_kept++;
      result_.bytes_kept += *size;
      return Status();
    }
    if (links_) {
      Status s = link(item.name);
      if (s.ok()) {
        result_.files_linked++;
        result_.bytes_linked += *size;
        return Status();
      }
      if (s.code() != Code::kNotSupported) return s;
      links_ = false;  // another file system: copy from now on
    }
    return copy(**from, item.name, kWhole, *size);
  }

  // The target already holds this version of an immutable file.
  Result<bool> identical(const File& from, uint64_t size, const Item& item) {
    auto to = fs_.open(target_path(item.name), OpenMode::kRead);
    if (!to.ok()) return to.status().code() == Code::kNotFound ? Result<bool>(false) : to.status();
    auto to_size = (*to)->size();
    if (!to_size.ok()) return to_size.status();
    if (*to_size != size) return false;
    for (Range r : item.identity) {
      if (r.size == kWhole) r.size = size;
      if (r.offset + r.size > size) return false;
      for (uint64_t at = r.offset; at < r.offset + r.size; at += kCopyChunk) {  // a chunk at a time
        Range chunk{at, std::min(kCopyChunk, r.offset + r.size - at)};
        auto a = read_range(from, chunk);
        if (!a.ok()) return a.status();
        auto b = read_range(**to, chunk);
        if (!b.ok()) return b.status();
        if (*a != *b) return false;
      }
    }
    return true;
  }

  Status link(const std::string& name) {
    std::string to = target_path(name);
    if (Status s = fs_.remove(to); !s.ok() && s.code() != Code::kNotFound) return s;
    return fs_.link(source_path(name), to);
  }

  // Copies `length` bytes of `from` (kWhole: all `size` of them; a file
  // that shrinks meanwhile is copied as it is) through NAME.tmp, synced.
  Status copy(const File& from, const std::string& name, uint64_t length, uint64_t size) {
    const bool exact = length != kWhole;
    if (!exact) length = size;
    std::string to = target_path(name);
    std::string tmp = to + ".tmp";
    auto out = fs_.open(tmp, OpenMode::kCreate);
    if (!out.ok()) return out.status();
    if (Status s = (*out)->truncate(0); !s.ok()) return s;
    std::string buffer(std::min(length, kCopyChunk), '\0');
    uint64_t at = 0;
    while (at < length) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - at));
      auto got = from.read_at(at, buffer.data(), n);
      if (!got.ok()) return got.status();
      if (Status s = (*out)->write_at(at, std::string_view(buffer.data(), *got)); !s.ok()) return s;
      at += *got;
      if (*got < n) break;
    }
    if (exact && at < length) {
      return Status::corruption(from.path() + ": " + std::to_string(at) + " bytes, expected at least " +
                                std::to_string(length));
    }
    if (Status s = (*out)->sync(); !s.ok()) return s;
    out->reset();
    if (Status s = fs_.rename(tmp, to, /*replace=*/true); !s.ok()) return s;
    result_.files_copied++;
    result_.bytes_copied += at;
    return Status();
  }

  // Removes what an earlier checkpoint left that the store no longer holds
  // (and leftover *.tmp files). A snapshots/ the store does not have (a
  // restored copy saved snapshots there) is emptied; other directories the
  // store does not have are left.
  Status remove_stale(const std::string& dir) {
    auto names = fs_.list(dir.empty() ? target_ : target_path(dir));
    if (!names.ok()) return names.status();
    for (const std::string& n : *names) {
      std::string name = join(dir, n);
      if (taken_.count(name) > 0) continue;
      if (dir.empty() && (n == format::kLockFileName || n == format::kCheckpointMarkerName)) continue;
      if (std::find(subdirs_.begin(), subdirs_.end(), name) != subdirs_.end()) {
        if (Status s = remove_stale(name); !s.ok()) return s;
        continue;
      }
      auto is_dir = fs_.is_dir(target_path(name));
      if (!is_dir.ok()) return is_dir.status();
      if (*is_dir) {
        if (!dir.empty() || n != format::kSnapshotDirName) continue;
        if (Status s = remove_stale(name); !s.ok()) return s;
        emptied_.push_back(name);
        continue;
      }
      if (Status s = fs_.remove(target_path(name)); !s.ok()) return s;
      result_.files_removed++;
    }
    return Status();
  }

  // Makes every name durable, then the copy complete.
  Status finish() {
    for (auto it = subdirs_.rbegin(); it != subdirs_.rend(); ++it) {
      if (Status s = fs_.sync_dir(target_path(*it)); !s.ok()) return s;
    }
    for (const std::string& dir : emptied_) {
      if (Status s = fs_.sync_dir(target_path(dir)); !s.ok()) return s;
    }
    if (Status s = fs_.sync_dir(target_); !s.ok()) return s;
    if (Status s = fs_.remove(target_path(format::kCheckpointMarkerName)); !s.ok()) return s;
    return fs_.sync_dir(target_);
  }

  FileSystem& fs_;
  const CheckpointSource& source_;
  const std::string target_;
  bool links_;  // false: copy (asked for, or a link failed with kNotSupported)
  std::unique_ptr<FileLock> lock_;
  std::set<std::string> taken_;       // names put into the target, relative to it
  std::vector<std::string> subdirs_;  // subdirectories copied, parents first
  std::vector<std::string> emptied_;  // target subdirectories the store lacks, emptied
  CheckpointResult result_;
  const Log* log_;  // the source's, or the one opened again (fresh_)
  CheckpointSource::FreshLog fresh_;
};

}  // namespace

Result<CheckpointResult> take_checkpoint(const CheckpointSource& source, const std::string& target,
                                         const CheckpointOptions& options) {
  return Checkpointer(source, target, options).run();
}

}  // namespace cairn::engine
