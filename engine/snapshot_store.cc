#include "engine/snapshot_store.h"

#include "engine/clock.h"
#include "engine/info_log.h"
#include "format/checksum.h"
#include "format/segment_scan.h"

#include <algorithm>

namespace cairn::engine {
namespace {

// (version, id): the order of a stream's snapshots.
bool before(const SnapshotEntry& a, uint64_t version, uint64_t id) {
  return a.version < version || (a.version == version && a.id < id);
}

SnapshotEntry entry_of(const format::SnapshotRecord& r, uint64_t file) {
  return SnapshotEntry{r.id,          r.version,         r.schema, file,     r.offset, r.header_size(),
                       r.payload_len, r.payload_checksum, r.size(), r.created_ns};
}

}  // namespace

void SnapshotIndex::apply(const format::SnapshotRecord& r, uint64_t file) {
  bool adds = r.kind == format::SnapshotRecordKind::kSnapshot && !r.drops(r.version, r.id);
  auto it = streams_.find(r.stream);
  if (it == streams_.end()) {
    if (!adds) return;
    it = streams_.emplace(r.stream, std::vector<SnapshotEntry>()).first;
  }
  std::vector<SnapshotEntry>& list = it->second;
  // The list is ordered by (version, id), so what the floor drops is a prefix.
  size_t dropped = 0;
  for (; dropped < list.size() && r.drops(list[dropped].version, list[dropped].id); ++dropped) {
    live_[list[dropped].file] -= list[dropped].record_size;
  }
  list.erase(list.begin(), list.begin() + static_cast<ptrdiff_t>(dropped));
  if (adds) {
    auto same = std::find_if(list.begin(), list.end(), [&](const SnapshotEntry& e) { return e.id == r.id; });
    if (same != list.end()) {
      live_[same->file] -= same->record_size;  // a copy: the snapshot moves
      list.erase(same);
    }
    auto at = std::find_if(list.begin(), list.end(), [&](const SnapshotEntry& e) { return !before(e, r.version, r.id); });
    list.insert(at, entry_of(r, file));
    live_[file] += r.size();
  }
  if (list.empty()) streams_.erase(it);
}

uint64_t SnapshotIndex::live_bytes(uint64_t file) const {
  auto it = live_.find(file);
  return it == live_.end() ? 0 : it->second;
}

std::pair<uint64_t, uint64_t> SnapshotIndex::floor_keeping(std::string_view stream, uint32_t keep, uint64_t version,
                                                           uint64_t id) const {
  const std::vector<SnapshotEntry>* list = this->stream(stream);
  if (keep == 0 || list == nullptr || list->size() + 1 <= keep) return {0, 0};
  std::vector<std::pair<uint64_t, uint64_t>> keys{{version, id}};
  for (const SnapshotEntry& e : *list) keys.emplace_back(e.version, e.id);
  std::sort(keys.begin(), keys.end());
  return keys[keys.size() - keep];  // the oldest one kept
}

std::optional<SnapshotEntry> SnapshotIndex::find(std::string_view stream, uint64_t max_version,
                                                 std::string_view schema) const {
  const std::vector<SnapshotEntry>* list = this->stream(stream);
  if (list == nullptr) return std::nullopt;
  for (auto e = list->rbegin(); e != list->rend(); ++e) {
    if (e->version <= max_version && (schema.empty() || e->schema == schema)) return *e;
  }
  return std::nullopt;
}

const std::vector<SnapshotEntry>* SnapshotIndex::stream(std::string_view stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, SnapshotEntry>> SnapshotIndex::entries_in(uint64_t file) const {
  std::vector<std::pair<std::string, SnapshotEntry>> out;
  for (const auto& [stream, list] : streams_) {
    for (const SnapshotEntry& e : list) {
      if (e.file == file) out.emplace_back(stream, e);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second.id < b.second.id; });
  return out;
}

}  // namespace cairn::engine

namespace cairn {
namespace {

using engine::SnapshotEntry;
using format::SnapshotRecord;
using format::SnapshotRecordKind;

constexpr uint64_t kNoFloor = UINT64_MAX;

Status check_stream(std::string_view stream) {
  if (stream.empty()) return Status::invalid_argument("snapshot: empty stream name");
  if (stream.size() > kMaxStreamNameBytes) {
    return Status::invalid_argument("snapshot: stream name of " + std::to_string(stream.size()) +
                                    " bytes (at most " + std::to_string(kMaxStreamNameBytes) + ")");
  }
  return Status();
}

Status check_schema(std::string_view schema) {
  if (schema.empty()) return Status::invalid_argument("snapshot: empty schema");
  if (schema.size() > kMaxSchemaBytes) {
    return Status::invalid_argument("snapshot: schema of " + std::to_string(schema.size()) + " bytes (at most " +
                                    std::to_string(kMaxSchemaBytes) + ")");
  }
  return Status();
}

format::ReadAt reader(const engine::File& file) {
  return [&file](uint64_t offset, char* buf, size_t n) { return file.read_at(offset, buf, n); };
}

}  // namespace

Snapshots::Impl::Impl(engine::FileSystem& fs, const engine::Log& log, Config config)
    : fs_(fs),
      log_(log),
      config_(std::move(config)),
      snap_dir_(config_.dir + "/" + std::string(format::kSnapshotDirName)) {}

std::unique_ptr<Snapshots::Impl> Snapshots::Impl::open(engine::FileSystem& fs, const engine::Log& log,
                                                       Config config) {
  std::unique_ptr<Impl> impl(new Impl(fs, log, std::move(config)));
  if (Status s = impl->open_files(); !s.ok()) {
    engine::info(impl->config_.options, "snapshots are unavailable: " + s.to_string());
    impl->broken_ = s;
    impl->index_ = engine::SnapshotIndex();
    impl->files_.clear();
  }
  return impl;
}

std::string Snapshots::Impl::path_of(uint64_t sequence) const {
  return snap_dir_ + "/" + format::snapshot_file_name(sequence);
}

Status Snapshots::Impl::open_files() {
  auto is_dir = fs_.is_dir(snap_dir_);
  if (!is_dir.ok()) return is_dir.status().code() == Code::kNotFound ? Status() : is_dir.status();
  if (!*is_dir) return Status::corruption(snap_dir_ + ": not a directory");
  auto names = fs_.list(snap_dir_);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> sequences;
  for (const std::string& name : *names) {
    if (name.ends_with(".snap.tmp") && !config_.read_only) {
      // A file whose creation did not finish: it never held a record.
      if (Status s = fs_.remove(snap_dir_ + "/" + name); !s.ok()) return s;
    } else if (auto sequence = format::parse_snapshot_file_name(name)) {
      sequences.push_back(*sequence);
    }
  }
  std::sort(sequences.begin(), sequences.end());
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (i > 0 && sequences[i] != sequences[i - 1] + 1) {
      return Status::corruption(path_of(sequences[i - 1] + 1) + ": snapshot file missing (before " +
                                format::snapshot_file_name(sequences[i]) + ")");
    }
    if (Status s = open_file(sequences[i], i + 1 == sequences.size()); !s.ok()) return s;
  }
  if (!sequences.empty()) next_file_ = sequences.back() + 1;
  return Status();
}

Status Snapshots::Impl::open_file(uint64_t sequence, bool is_last) {
  std::string path = path_of(sequence);
  auto opened = fs_.open(path, config_.read_only ? engine::OpenMode::kRead : engine::OpenMode::kReadWrite);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<engine::File> file = std::move(*opened);
  auto size = file->size();
  if (!size.ok()) return size.status();
  index_.add_file(sequence);
  auto scan = format::scan_snapshot_file(reader(*file), *size, path, {.is_last = is_last},
                                         [&](const SnapshotRecord& r) {
                                           index_.apply(r, sequence);
                                           next_id_ = std::max(next_id_, r.id + 1);
                                         });
  if (!scan.ok()) return scan.status();
  if (scan->header.sequence != sequence) {
    return Status::corruption(format::file_offset(path, 16) + ": header says snapshot file " +
                              std::to_string(scan->header.sequence) + ", unlike its name");
  }
  if (scan->header.store_id != config_.store_id) {
    return Status::corruption(format::file_offset(path, 32) + ": snapshot file belongs to another store");
  }
  if (scan->torn) {
    std::string what = scan->torn_reason + ": torn tail of " + std::to_string(*size - scan->data_end) + " bytes";
    if (config_.read_only) {
      engine::info(config_.options, what + " ignored (read-only)");
    } else {
      if (Status s = file->truncate(scan->data_end); !s.ok()) return s;
      if (Status s = file->sync(); !s.ok()) return s;
      engine::info(config_.options, what + " cut off");
    }
  }
  files_[sequence] = FileState{file, scan->data_end};
  return Status();
}

Status Snapshots::Impl::usable() const {
  if (closed_.load()) return Status::closed(config_.dir + ": store is closed");
  return broken_;
}

Status Snapshots::Impl::writable() const {
  if (Status s = usable(); !s.ok()) return s;
  if (config_.read_only) return Status::read_only(config_.dir + ": store is open read-only");
  if (failed_) return Status::read_only(snap_dir_ + ": snapshots are read-only after an I/O error");
  return Status();
}

Result<SnapshotInfo> Snapshots::Impl::save(std::string_view stream, uint64_t version, std::string_view schema,
                                           std::string_view data) {
  if (Status s = check_stream(stream); !s.ok()) return s;
  if (Status s = check_schema(schema); !s.ok()) return s;
  if (data.size() > config_.options.max_snapshot_bytes) {
    return Status::invalid_argument("snapshot of " + std::to_string(data.size()) + " bytes (at most " +
                                    std::to_string(config_.options.max_snapshot_bytes) +
                                    ", Options::max_snapshot_bytes)");
  }
  uint64_t payload_checksum = format::checksum(data);  // before the lock: 1 GiB takes ~0.1 s
  auto check_version = [&]() -> Status {
    std::optional<uint64_t> last = log_.stream_version(stream);
    if (!last) return Status::not_found("snapshot of stream '" + std::string(stream) + "', which has no events");
    if (version > *last) {
      return Status::invalid_argument("snapshot at version " + std::to_string(version) + " of stream '" +
                                      std::string(stream) + "', whose last version is " + std::to_string(*last));
    }
    return Status();
  };
  // The snapshot must not outlive the events it summarizes: under kBatch and
  // kNone they may not be durable yet, and a power loss would take them
  // back while keeping the snapshot, which a load would then return for the
  // events appended in their place. Waited for before write_mu_: an append
  // callback saving or pruning meanwhile would otherwise hold up, behind
  // that lock, the very flight the wait needs. Versions only grow, so the
  // events checked here were published before the position synced.
  if (config_.make_log_durable) {
    if (Status s = usable(); !s.ok()) return s;
    if (config_.read_only) return Status::read_only(config_.dir + ": store is open read-only");
    if (Status s = check_version(); !s.ok()) return s;
    if (Status s = config_.make_log_durable(log_.published()); !s.ok()) return s;
  }
  std::lock_guard write_lock(write_mu_);
  if (Status s = writable(); !s.ok()) return s;
  if (Status s = check_version(); !s.ok()) return s;
  SnapshotRecord r;
  r.stream = stream;
  r.schema = schema;
  r.id = next_id_;
  r.version = version;
  {
    std::lock_guard lock(mu_);
    std::tie(r.floor_version, r.floor_id) =
        index_.floor_keeping(stream, config_.options.snapshots_to_keep, version, r.id);
  }
  r.created_ns = engine::wall_clock_ns();
  r.payload_len = data.size();
  r.payload_checksum = payload_checksum;
  if (Status s = write_record(r, data); !s.ok()) return s;
  // The save is durable; reclaiming space is the log's own business.
  if (Status s = reclaim(); !s.ok()) engine::info(config_.options, "snapshots: reclaiming space: " + s.to_string());
  SnapshotInfo info{r.stream, r.version, r.schema, r.payload_len, r.id, r.created_ns};
  return info;
}

Result<uint64_t> Snapshots::Impl::prune(std::string_view stream, uint32_t keep) {
  if (Status s = check_stream(stream); !s.ok()) return s;
  std::lock_guard write_lock(write_mu_);
  if (Status s = writable(); !s.ok()) return s;
  SnapshotRecord r;
  r.kind = SnapshotRecordKind::kPrune;
  r.stream = stream;
  r.id = next_id_;
  size_t count = 0;
  {
    std::lock_guard lock(mu_);
    const std::vector<SnapshotEntry>* list = index_.stream(stream);
    count = list == nullptr ? 0 : list->size();
    if (count <= keep) return uint64_t{0};
    const SnapshotEntry* oldest_kept = keep == 0 ? nullptr : &(*list)[count - keep];
    r.floor_version = oldest_kept ? oldest_kept->version : kNoFloor;
    r.floor_id = oldest_kept ? oldest_kept->id : kNoFloor;
  }
  r.created_ns = engine::wall_clock_ns();
  r.payload_checksum = format::checksum(std::string_view());
  if (Status s = write_record(r, {}); !s.ok()) return s;
  if (Status s = reclaim(); !s.ok()) engine::info(config_.options, "snapshots: reclaiming space: " + s.to_string());
  return uint64_t{count - keep};
}

Status Snapshots::Impl::write_record(SnapshotRecord& r, std::string_view payload) {
  if (Status s = make_room(r.size()); !s.ok()) return s;
  std::shared_ptr<engine::File> file;
  uint64_t sequence = 0;
  {
    std::lock_guard lock(mu_);
    auto& [seq, active] = *files_.rbegin();
    sequence = seq;
    file = active.file;
    r.offset = active.end;
  }
  std::string header = format::encode_snapshot_record_header(r);
  std::string padding(format::padding_after(r), '\0');
  std::string_view parts[] = {header, payload, padding};
  Status s = file->write_at(r.offset, parts);
  if (s.ok()) s = file->sync();
  if (!s.ok()) {
    // Fail-stop: nothing is written after a failed write or sync. The bytes
    // are cut off (best effort) so that a reopen cannot take them for durable.
    failed_ = true;
    (void)file->truncate(r.offset);
    return s;
  }
  next_id_ = std::max(next_id_, r.id + 1);
  std::lock_guard lock(mu_);
  index_.apply(r, sequence);
  files_[sequence].end = r.offset + r.size();
  return Status();
}

// The newest file, unless it holds records and `record_size` more bytes
// would take it past Options::snapshot_file_bytes: then a new one.
Status Snapshots::Impl::make_room(uint64_t record_size) {
  {
    std::lock_guard lock(mu_);
    if (!files_.empty()) {
      uint64_t end = files_.rbegin()->second.end;
      if (end == format::kSnapshotFileHeaderSize || end + record_size <= config_.options.snapshot_file_bytes) {
        return Status();
      }
    }
  }
  Status s = create_file(next_file_);
  if (!s.ok()) {
    failed_ = true;  // a half-made file (say, renamed but not synced) must not be made again
    return s;
  }
  ++next_file_;
  return Status();
}

// Written whole through a temporary name and synced, directory synced, like
// a segment: a .snap file always starts with a complete header.
Status Snapshots::Impl::create_file(uint64_t sequence) {
  if (Status s = fs_.create_dirs(snap_dir_); !s.ok()) return s;
  format::SnapshotFileHeader header{sequence, config_.store_id, engine::wall_clock_ns()};
  std::string name = format::snapshot_file_name(sequence);
  if (Status s = engine::write_file_atomically(fs_, snap_dir_, name, format::encode_snapshot_file_header(header),
                                               /*replace=*/false);
      !s.ok()) {
    return s;
  }
  auto file = fs_.open(path_of(sequence), engine::OpenMode::kReadWrite);
  if (!file.ok()) return file.status();
  std::lock_guard lock(mu_);
  index_.add_file(sequence);
  files_[sequence] = FileState{std::move(*file), format::kSnapshotFileHeaderSize};
  return Status();
}

Status Snapshots::Impl::reclaim() {
  while (worth_reclaiming()) {
    if (Status s = move_oldest(); !s.ok()) return s;
  }
  return Status();
}

// The oldest file holds nothing live, or the sealed files (all but the
// newest) hold at least as much garbage as live snapshots. So the sealed
// files stay at least half live, at the cost of copying each live byte at
// most once per byte of garbage reclaimed.
bool Snapshots::Impl::worth_reclaiming() const {
  std::lock_guard lock(mu_);
  if (files_.size() < 2) return false;
  if (index_.live_bytes(files_.begin()->first) == 0) return true;
  uint64_t live = 0, garbage = 0;
  for (auto it = files_.begin(); std::next(it) != files_.end(); ++it) {
    uint64_t file_live = index_.live_bytes(it->first);
    live += file_live;
    garbage += it->second.end - format::kSnapshotFileHeaderSize - file_live;
  }
  return garbage > 0 && garbage >= live;
}

// Copies the oldest file's live snapshots to the newest file (same id,
// version and data; no floor), then deletes the oldest file. A crash in
// between leaves both: the open keeps the copy (same id, later in the log).
Status Snapshots::Impl::move_oldest() {
  uint64_t oldest = 0;
  std::shared_ptr<engine::File> file;
  std::vector<std::pair<std::string, SnapshotEntry>> live;
  {
    std::lock_guard lock(mu_);
    oldest = files_.begin()->first;
    file = files_.begin()->second.file;
    live = index_.entries_in(oldest);
  }
  for (const auto& [stream, e] : live) {
    auto payload = read_payload(e, *file);
    if (!payload.ok()) return payload.status();
    SnapshotRecord copy;
    copy.stream = stream;
    copy.schema = e.schema;
    copy.id = e.id;
    copy.version = e.version;
    copy.created_ns = e.created_ns;
    copy.payload_len = e.payload_len;
    copy.payload_checksum = e.payload_checksum;
    if (Status s = write_record(copy, *payload); !s.ok()) return s;
  }
  if (Status s = fs_.remove(path_of(oldest)); !s.ok()) return s;
  if (Status s = fs_.sync_dir(snap_dir_); !s.ok()) return s;
  std::lock_guard lock(mu_);
  files_.erase(oldest);
  index_.remove_file(oldest);
  return Status();
}

Result<std::string> Snapshots::Impl::read_payload(const SnapshotEntry& e, const engine::File& file) const {
  std::string data(e.payload_len, '\0');
  auto got = file.read_at(e.offset + e.header_size, data.data(), data.size());
  if (!got.ok()) return got.status();
  if (*got != data.size()) {
    return Status::corruption(format::file_offset(file.path(), e.offset) + ": snapshot payload truncated");
  }
  if (format::checksum(data) != e.payload_checksum) {
    return Status::corruption(format::file_offset(file.path(), e.offset) + ": snapshot payload checksum mismatch");
  }
  return data;
}

SnapshotInfo Snapshots::Impl::info_of(std::string_view stream, const SnapshotEntry& e) {
  return SnapshotInfo{std::string(stream), e.version, e.schema, e.payload_len, e.id, e.created_ns};
}

Result<std::optional<Snapshot>> Snapshots::Impl::load(std::string_view stream, uint64_t max_version,
                                                      std::string_view schema) const {
  if (Status s = check_stream(stream); !s.ok()) return s;
  if (Status s = usable(); !s.ok()) return s;
  std::optional<uint64_t> last = log_.stream_version(stream);
  if (!last) return Status::not_found("snapshots of stream '" + std::string(stream) + "', which has no events");
  std::optional<SnapshotEntry> entry;
  std::shared_ptr<engine::File> file;
  {
    std::lock_guard lock(mu_);
    // Never past the stream's end: events a power failure took back.
    entry = index_.find(stream, std::min(max_version, *last), schema);
    if (entry) file = files_.at(entry->file).file;
  }
  if (!entry) return std::optional<Snapshot>();
  auto data = read_payload(*entry, *file);
  if (!data.ok()) return data.status();
  return std::optional<Snapshot>(Snapshot{info_of(stream, *entry), std::move(*data)});
}

Result<std::vector<SnapshotInfo>> Snapshots::Impl::list(std::string_view stream) const {
  if (Status s = check_stream(stream); !s.ok()) return s;
  if (Status s = usable(); !s.ok()) return s;
  std::vector<SnapshotInfo> out;
  std::lock_guard lock(mu_);
  if (const std::vector<SnapshotEntry>* list = index_.stream(stream)) {
    for (const SnapshotEntry& e : *list) out.push_back(info_of(stream, e));
  }
  return out;
}

Result<Hydration> Snapshots::Impl::hydrate(std::string_view stream, std::string_view schema) const {
  auto snapshot = load(stream, UINT64_MAX, schema);
  if (!snapshot.ok()) return snapshot.status();
  uint64_t from = *snapshot ? (*snapshot)->info.version + 1 : 0;
  auto events = log_.read_stream(stream, from, SIZE_MAX, Direction::kForward);
  if (!events.ok()) return events.status();
  return Hydration{std::move(*snapshot), std::move(*events)};
}

size_t Snapshots::Impl::file_count() const {
  std::lock_guard lock(mu_);
  return files_.size();
}

// ---- the public class: a thin front ----

Snapshots::Snapshots(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Snapshots::~Snapshots() = default;

Result<SnapshotInfo> Snapshots::save(std::string_view stream, uint64_t version, std::string_view schema,
                                     std::string_view data) {
  return impl_->save(stream, version, schema, data);
}

Result<std::optional<Snapshot>> Snapshots::load(std::string_view stream, uint64_t max_version,
                                                std::string_view schema) const {
  return impl_->load(stream, max_version, schema);
}

Result<std::vector<SnapshotInfo>> Snapshots::list(std::string_view stream) const { return impl_->list(stream); }

Result<uint64_t> Snapshots::prune(std::string_view stream, uint32_t keep) { return impl_->prune(stream, keep); }

Result<Hydration> Snapshots::hydrate(std::string_view stream, std::string_view schema) const {
  return impl_->hydrate(stream, schema);
}

}  // namespace cairn
