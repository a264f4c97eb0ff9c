// cairn-bench peer: an event store built the way a LevelDB user would build it.
//
// Layout (LevelDB 1.23), one key space:
//   'e' + position (u64 big-endian)                           -> record
//   's' + u32 BE stream length + stream + version (u64 BE)    -> position (u64 BE)
//   'h' + stream                                              -> head version (u64 BE)
//   read_stream = one scan of the 's' range + one Get per event; read_all = one scan of the 'e' range.
//
// Record (the value of an 'e' key): the record encoding of peer_common.h (little-endian version,
// created_at, then stream, id, type, data, metadata, each u32 length + bytes).
//
// Append: a striped per-stream mutex (4096 stripes, peer::StreamLocks) is held across Get(head) +
// the expected-version check + Write(WriteBatch); the batch holds the events, their index entries
// and the new head, so it is atomic. Global positions come from an in-memory counter allocated
// under the stream lock (initialised from the last 'e' key at open); LevelDB's writer queue groups
// concurrent writers, so commit order can differ from allocation order and a commit tracker
// (peer::CommitTracker) exposes only the contiguous committed prefix to read_all. A failed Write
// leaves a hole (never written).
//
// Durability: kSync = Write with sync=true (log write + fdatasync, shared by LevelDB's writer
// group); kNone = sync=false (the log reaches the page cache; survives a process crash);
// kBatch = sync=false plus a background thread that writes an empty WriteBatch with sync=true
// every 10 ms when something was appended since its last sync: LevelDB has no SyncWAL, and a
// synced write fdatasyncs the log, covering every earlier write. kNone/kBatch sync the log the
// same way at close.
//
// Settings: 512 MiB LRU block cache, bloom filter 10 bits/key, 64 MiB write buffer,
// 32 MiB table files; everything else default (snappy compression).
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "peer_common.h"

namespace cairn::bench {
namespace {

using namespace peer;

std::string ekey(uint64_t position) {
  std::string k(1, 'e');
  put_be64(&k, position);
  return k;
}

class LevelBackend final : public Backend {
 public:
  ~LevelBackend() override { close(); }

  bool open(const BackendOptions& options, std::string* error) {
    durability_ = options.durability;
    if (!create_dir("leveldb", options.dir, error)) return false;
    cache_.reset(leveldb::NewLRUCache(512ull << 20));
    filter_.reset(leveldb::NewBloomFilterPolicy(10));
    leveldb::Options o;
    o.create_if_missing = true;
    o.block_cache = cache_.get();
    o.filter_policy = filter_.get();
    o.write_buffer_size = 64ull << 20;
    o.max_file_size = 32ull << 20;
    leveldb::DB* raw = nullptr;
    leveldb::Status s = leveldb::DB::Open(o, options.dir, &raw);
    if (!s.ok()) {
      *error = "leveldb: open " + options.dir + ": " + s.ToString();
      return false;
    }
    db_.reset(raw);

    // The next position: one past the last 'e' key.
    uint64_t next = 0;
    {
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
      it->Seek("f");
      if (it->Valid()) {
        it->Prev();
      } else {
        it->SeekToLast();
      }
      if (it->Valid() && it->key().size() == 9 && it->key()[0] == 'e') next = get_be64(it->key().data() + 1) + 1;
      if (!status_ok(it->status(), "leveldb: scan", error)) return false;
    }
    write_options_.sync = durability_ == Durability::kSync;
    appends_.start(next, durability_, [this] { sync_log(); });
    return true;
  }

  std::string name() const override { return "leveldb"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    return appends_.append(
        stream, expected_version, events.size(), error,
        [&](const std::string& hkey, int64_t* current) {
          std::string head;
          const leveldb::Status s = db_->Get(leveldb::ReadOptions(), hkey, &head);
          return read_head("leveldb", stream, s, head.data(), head.size(), current, error);
        },
        [&](const std::string& hkey, int64_t current, uint64_t first) {
          leveldb::WriteBatch batch;
          encode_append(stream, stream_prefix(stream), current, first, events, [&](const AppendRecord& r) {
            batch.Put(ekey(r.position), r.record);
            batch.Put(r.index_key, r.position_key);
            return true;
          });
          batch.Put(hkey, be64(static_cast<uint64_t>(current) + events.size()));
          return status_ok(db_->Write(write_options_, &batch), "leveldb: write", error);
        });
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    std::vector<std::string> keys;  // the positions, big-endian
    {
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
      if (!scan_index("leveldb", it.get(), stream_prefix(stream), from_version, max_count, &keys, error)) return false;
    }
    out->resize(keys.size());
    std::string value;
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t position = get_be64(keys[i].data());
      leveldb::Status s = db_->Get(leveldb::ReadOptions(), ekey(position), &value);
      if (!s.ok() || !decode_record(value.data(), value.size(), position, &(*out)[i])) {
        *error = "leveldb: event at position " + std::to_string(position) + ": " +
                 (s.ok() ? std::string("corrupt record") : s.ToString());
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
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    return scan_events("leveldb", it.get(), ekey(from_position), max_count, out, error,
                       [&](const leveldb::Slice& k, const leveldb::Slice& v) {
                         if (k.size() != 9 || k[0] != 'e') return Scanned::kPast;
                         const uint64_t position = get_be64(k.data() + 1);
                         if (position >= limit) return Scanned::kPast;
                         ReadEvent& e = out->emplace_back();
                         if (decode_record(v.data(), v.size(), position, &e)) return Scanned::kEvent;
                         *error = "leveldb: corrupt record at position " + std::to_string(position);
                         return Scanned::kCorrupt;
                       });
  }

  void close() override {
    if (!db_) return;
    appends_.stop();
    if (durability_ != Durability::kSync) sync_log();
    db_.reset();
    cache_.reset();
    filter_.reset();
  }

 private:
  // fdatasync the log: a synced write of an empty batch (the log has no sync call of its own).
  void sync_log() {
    leveldb::WriteOptions wo;
    wo.sync = true;
    leveldb::WriteBatch empty;
    db_->Write(wo, &empty);
  }

  Durability durability_ = Durability::kSync;
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  leveldb::WriteOptions write_options_;
  GroupCommitAppends appends_;  // kBatch: sync_log() every 10 ms when something was appended
};

}  // namespace

std::unique_ptr<Backend> open_leveldb(const BackendOptions& options, std::string* error) {
  return peer::open_peer<LevelBackend>(options, error);
}

}  // namespace cairn::bench
