// The snapshot log: aggregate snapshots in `snapshots/SSSSSSSS.snap` files
// (FORMAT.md §11), apart from the events, with an in-memory index rebuilt at
// open from the records' headers (payloads are not read).
//
// Lifecycle: open (headers read, a torn tail of the newest file cut off) ->
// saves and prunes append records to the newest file, each synced before it
// is acknowledged and before the next record is written -> close (calls fail
// with kClosed). A failed write or sync stops saves and prunes for good
// (kReadOnly); loads go on.
//
// Space: a record becomes garbage when a later record's floor drops it.
// Once the sealed files (all but the newest) hold at least as much garbage
// as live snapshots, the oldest file's live snapshots are copied to the
// newest file (each copy synced) and the oldest file is deleted, until that
// is no longer so. Only the oldest file is ever deleted, so sequences stay
// contiguous and a floor can only drop records in its own or older files.
//
// Locks: write_mu_ serializes writers (saves, prunes, reclaiming) and guards
// the newest file's end, next_id_ and failed_; mu_ guards the index and the
// file table, held briefly, never across I/O. Loads take mu_ only and read
// through their own reference to the file, so reclaiming may delete it.
#pragma once

#include "engine/io.h"
#include "engine/log.h"
#include "format/snapshot_record.h"

#include <cairn/options.h>
#include <cairn/snapshot.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cairn::engine {

// Where a snapshot is and what it holds; the payload stays on disk.
struct SnapshotEntry {
  uint64_t id = 0;
  uint64_t version = 0;
  std::string schema;
  uint64_t file = 0;  // the sequence of the file holding it
  uint64_t offset = 0;
  uint64_t header_size = 0;
  uint64_t payload_len = 0;
  uint64_t payload_checksum = 0;
  uint64_t record_size = 0;
  int64_t created_ns = 0;
};

// The in-memory index: each stream's live snapshots, ordered by (version,
// id), and each file's live bytes. No I/O, no locking.
class SnapshotIndex {
 public:
  // Applies a record found in (or written to) file `file`: drops the
  // stream's snapshots below the record's floor, then adds its snapshot
  // (unless its own floor drops it). A record with an id already indexed
  // (a copy made while reclaiming) moves that snapshot to the copy.
  void apply(const format::SnapshotRecord& record, uint64_t file);
  void add_file(uint64_t file) { live_[file] = 0; }
  void remove_file(uint64_t file) { live_.erase(file); }
  uint64_t live_bytes(uint64_t file) const;
  // The floor that keeps the newest `keep` of the stream's snapshots and of
  // one more at (version, id); (0, 0) drops nothing. keep 0: keep all.
  std::pair<uint64_t, uint64_t> floor_keeping(std::string_view stream, uint32_t keep, uint64_t version,
                                              uint64_t id) const;
  // The newest snapshot at or below max_version, of `schema` unless empty.
  std::optional<SnapshotEntry> find(std::string_view stream, uint64_t max_version, std::string_view schema) const;
  const std::vector<SnapshotEntry>* stream(std::string_view stream) const;
  // The live snapshots held by `file`, with their streams, in id order.
  std::vector<std::pair<std::string, SnapshotEntry>> entries_in(uint64_t file) const;

 private:
  std::map<std::string, std::vector<SnapshotEntry>, std::less<>> streams_;
  std::map<uint64_t, uint64_t> live_;  // file -> bytes of its live records
};

}  // namespace cairn::engine

namespace cairn {

class Snapshots::Impl {
 public:
  struct Config {
    std::string dir;  // the store directory
    format::StoreId store_id{};
    bool read_only = false;
    Options options;  // snapshots_to_keep, max_snapshot_bytes, snapshot_file_bytes, info_log
    // Makes the log durable below a position (Store::sync): a save first
    // makes the events it summarizes durable. Null: nothing to wait for.
    std::function<Status(uint64_t)> make_log_durable;
  };
  // Opens the snapshot log of the store (an empty one when `dir/snapshots`
  // does not exist; it is created by the first save). A log that cannot be
  // opened (corruption, an I/O error) is reported through the info log and
  // every later call fails with that error; the store's events are not
  // affected. `fs` and `log` must outlive the Impl.
  static std::unique_ptr<Impl> open(engine::FileSystem& fs, const engine::Log& log, Config config);

  Result<SnapshotInfo> save(std::string_view stream, uint64_t version, std::string_view schema,
                            std::string_view data);
  Result<std::optional<Snapshot>> load(std::string_view stream, uint64_t max_version, std::string_view schema) const;
  Result<std::vector<SnapshotInfo>> list(std::string_view stream) const;
  Result<uint64_t> prune(std::string_view stream, uint32_t keep);
  Result<Hydration> hydrate(std::string_view stream, std::string_view schema) const;
  void close() { closed_.store(true); }
  // Runs `f` while no save, prune or reclaim runs: the files under
  // `snapshots/` then hold whole, synced records only and none is created
  // or deleted (for a store checkpoint to copy them).
  Status with_writes_paused(const std::function<Status()>& f) {
    std::lock_guard write_lock(write_mu_);
    return f();
  }

  // Files in the log, for tests and stats.
  size_t file_count() const;

 private:
  struct FileState {
    std::shared_ptr<engine::File> file;
    uint64_t end = 0;  // end of its last record
  };
  Impl(engine::FileSystem& fs, const engine::Log& log, Config config);
  Status open_files();
  Status open_file(uint64_t sequence, bool is_last);
  std::string path_of(uint64_t sequence) const;
  Status usable() const;    // kClosed, or the open's error
  Status writable() const;  // usable(), kReadOnly; callers hold write_mu_
  // Appends `record` (its offset set here) and its payload to the newest
  // file, rolled or created first as needed, synced; then indexes it.
  // Callers hold write_mu_.
  Status write_record(format::SnapshotRecord& record, std::string_view payload);
  Status make_room(uint64_t record_size);
  Status create_file(uint64_t sequence);
  // Copies the oldest file's live snapshots forward and deletes it while
  // the sealed files hold at least as much garbage as live bytes.
  Status reclaim();
  bool worth_reclaiming() const;
  Status move_oldest();
  Result<std::string> read_payload(const engine::SnapshotEntry& entry, const engine::File& file) const;
  static SnapshotInfo info_of(std::string_view stream, const engine::SnapshotEntry& entry);

  engine::FileSystem& fs_;
  const engine::Log& log_;
  const Config config_;
  const std::string snap_dir_;
  Status broken_;  // the open's error, returned by every call
  std::atomic<bool> closed_{false};

  std::mutex write_mu_;
  uint64_t next_id_ = 1;     // guarded by write_mu_
  uint64_t next_file_ = 1;   // guarded by write_mu_
  bool failed_ = false;      // guarded by write_mu_

  mutable std::mutex mu_;
  engine::SnapshotIndex index_;          // guarded by mu_
  std::map<uint64_t, FileState> files_;  // guarded by mu_; by sequence, the newest last
};

}  // namespace cairn
