// cairn-bench peer: an event store built the way a RocksDB user would build it.
//
// Layout (RocksDB 7.8.3):
//   CF "events": position (u64 big-endian) -> record.
//   CF "index":  's' + u32 BE stream length + stream + version (u64 BE) -> position (u64 BE),
//                'h' + stream -> head version (u64 BE), the stream's last version.
//   read_stream = one index range scan + MultiGet on "events"; read_all = one range scan of "events".
//
// Record (the value in "events"): the record encoding of peer_common.h (little-endian version,
// created_at, then stream, id, type, data, metadata, each u32 length + bytes).
//
// Append: a striped per-stream mutex (4096 stripes, peer::StreamLocks) is held across Get(head) +
// the expected-version check + Write(WriteBatch); the batch holds the events, their index entries
// and the new head, so it is atomic. Global positions come from an in-memory counter allocated
// under the stream lock (initialised from the last key of "events" at open). Under RocksDB's group
// commit, batches on different streams can commit in another order than their positions were
// allocated, so a commit tracker (peer::CommitTracker) exposes only the contiguous committed prefix
// of positions to read_all. A failed Write leaves a hole: its positions are marked done so
// read_all does not stall (they are never written).
//
// Durability: kSync = WAL write with sync=true (fdatasync, shared by RocksDB's write group);
// kNone = sync=false (the WAL reaches the page cache; survives a process crash);
// kBatch = sync=false plus a background thread calling FlushWAL(true) (flush + SyncWAL) every
// 10 ms when something was appended since its last sync, so an acknowledged append is on disk
// within about 10 ms plus one sync. kNone/kBatch sync the WAL at close.
//
// Settings: 512 MiB LRU block cache shared by both CFs, bloom filter 10 bits/key on both CFs,
// max_background_jobs=2, max_write_buffer_number=4, level_compaction_dynamic_level_bytes,
// bytes_per_sync=1 MiB, max_total_wal_size=256 MiB; everything else default (snappy compression,
// 64 MiB memtables, non-pipelined writes).
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "peer_common.h"

namespace cairn::bench {
namespace {

using namespace peer;

class RocksBackend final : public Backend {
 public:
  ~RocksBackend() override { close(); }

  bool open(const BackendOptions& options, std::string* error) {
    durability_ = options.durability;
    if (!create_dir("rocksdb", options.dir, error)) return false;

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(512ull << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions cf;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf.max_write_buffer_number = 4;
    cf.level_compaction_dynamic_level_bytes = true;

    rocksdb::DBOptions db;
    db.create_if_missing = true;
    db.create_missing_column_families = true;
    db.max_background_jobs = 2;
    db.bytes_per_sync = 1ull << 20;
    db.max_total_wal_size = 256ull << 20;

    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, cf}, {"events", cf}, {"index", cf}};
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db, options.dir, cfs, &handles_, &raw);
    if (!s.ok()) {
      *error = "rocksdb: open " + options.dir + ": " + s.ToString();
      return false;
    }
    db_.reset(raw);
    events_ = handles_[1];
    index_ = handles_[2];

    // The next position: one past the last key of "events".
    uint64_t next = 0;
    {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), events_));
      it->SeekToLast();
      if (it->Valid()) next = get_be64(it->key().data()) + 1;
      if (!status_ok(it->status(), "rocksdb: scan", error)) return false;
    }
    write_options_.sync = durability_ == Durability::kSync;
    appends_.start(next, durability_, [this] { db_->FlushWAL(/*sync=*/true); });
    return true;
  }

  std::string name() const override { return "rocksdb"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    return appends_.append(
        stream, expected_version, events.size(), error,
        [&](const std::string& hkey, int64_t* current) {
          rocksdb::PinnableSlice head;
          const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), index_, hkey, &head);
          return read_head("rocksdb", stream, s, head.data(), head.size(), current, error);
        },
        [&](const std::string& hkey, int64_t current, uint64_t first) {
          rocksdb::WriteBatch batch;
          encode_append(stream, stream_prefix(stream), current, first, events, [&](const AppendRecord& r) {
            batch.Put(events_, r.position_key, r.record);
            batch.Put(index_, r.index_key, r.position_key);
            return true;
          });
          batch.Put(index_, hkey, be64(static_cast<uint64_t>(current) + events.size()));
          return status_ok(db_->Write(write_options_, &batch), "rocksdb: write", error);
        });
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    std::vector<std::string> keys;  // the positions, big-endian = the events keys
    {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_));
      if (!scan_index("rocksdb", it.get(), stream_prefix(stream), from_version, max_count, &keys, error)) return false;
    }
    if (keys.empty()) return true;
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), events_, keys.size(), slices.data(), values.data(), statuses.data(),
                  /*sorted_input=*/true);
    out->resize(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!statuses[i].ok()) {
        *error = "rocksdb: multiget: " + statuses[i].ToString();
        out->clear();
        return false;
      }
      if (!decode_record(values[i].data(), values[i].size(), get_be64(keys[i].data()), &(*out)[i])) {
        *error = "rocksdb: corrupt record at position " + std::to_string(get_be64(keys[i].data()));
        out->clear();
        return false;
      }
    }
    return true;
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                std::string* error) override {
    uint64_t limit = 0;
    if (!appends_.read_bounds(from_position, max_count, out, &limit)) return true;
    const std::string start = be64(from_position);
    const std::string end = be64(limit);
    rocksdb::Slice upper(end);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, events_));
    return scan_events("rocksdb", it.get(), start, max_count, out, error,
                       [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
                         ReadEvent& e = out->emplace_back();
                         if (k.size() == 8 && decode_record(v.data(), v.size(), get_be64(k.data()), &e))
                           return Scanned::kEvent;
                         *error = "rocksdb: corrupt record";
                         return Scanned::kCorrupt;
                       });
  }

  void close() override {
    if (!db_) return;
    appends_.stop();
    if (durability_ != Durability::kSync) db_->FlushWAL(true);
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    handles_.clear();
    db_->Close();
    db_.reset();
  }

 private:
  Durability durability_ = Durability::kSync;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_ = nullptr;
  rocksdb::WriteOptions write_options_;
  GroupCommitAppends appends_;  // kBatch: FlushWAL(sync) every 10 ms when something was appended
};

}  // namespace

std::unique_ptr<Backend> open_rocksdb(const BackendOptions& options, std::string* error) {
  return peer::open_peer<RocksBackend>(options, error);
}

}  // namespace cairn::bench
