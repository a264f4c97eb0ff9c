// cairn-bench peer: an event store built the way a LevelDB user would build it.
//
// Layout (LevelDB 1.23), one key space:
//   'e' + position (u64 big-endian)                           -> record
//   's' + u32 BE stream length + stream + version (u64 BE)    -> position (u64 BE)
//   'h' + stream                                              -> head version (u64 BE)
//   read_stream = one scan of the 's' range + one Get per event; read_all = one scan of the 'e' range.
//
// Record (the value of an 'e' key), all integers little-endian:
//   version u64 | created_at u64 (ns since the epoch) |
//   stream, id, type, data, metadata: each u32 length + bytes.
//
// Append: a striped per-stream mutex (4096 stripes) is held across Get(head) + the expected-version
// check + Write(WriteBatch); the batch holds the events, their index entries and the new head, so
// it is atomic. Global positions come from an in-memory counter allocated under the stream lock
// (initialised from the last 'e' key at open); LevelDB's writer queue groups concurrent writers,
// so commit order can differ from allocation order and a commit tracker exposes only the
// contiguous committed prefix to read_all. A failed Write leaves a hole (never written).
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

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backend.h"

namespace cairn::bench {
namespace {

// ---- encoding -------------------------------------------------------------

void put_be64(std::string* s, uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 8);
}
uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
void put_le64(std::string* s, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 8);
}
void put_le32(std::string* s, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 4);
}
uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
void put_field(std::string* s, std::string_view f) {
  put_le32(s, static_cast<uint32_t>(f.size()));
  s->append(f);
}

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

void encode_record(std::string* s, std::string_view stream, uint64_t version, uint64_t created_at,
                   const BenchEvent& e) {
  s->clear();
  s->reserve(16 + 20 + stream.size() + e.id.size() + e.type.size() + e.data.size() + e.metadata.size());
  put_le64(s, version);
  put_le64(s, created_at);
  put_field(s, stream);
  put_field(s, e.id);
  put_field(s, e.type);
  put_field(s, e.data);
  put_field(s, e.metadata);
}

bool decode_record(const char* p, size_t n, uint64_t position, ReadEvent* out) {
  if (n < 16) return false;
  out->position = position;
  out->version = get_le(p, 8);
  size_t off = 16;
  std::string* fields[5] = {nullptr, &out->id, &out->type, &out->data, &out->metadata};
  for (std::string* f : fields) {
    if (n - off < 4) return false;
    uint64_t len = get_le(p + off, 4);
    off += 4;
    if (n - off < len) return false;
    if (f != nullptr) f->assign(p + off, len);
    off += len;
  }
  return off == n;
}

std::string stream_prefix(std::string_view stream) {
  std::string k;
  k.push_back('s');
  uint32_t n = static_cast<uint32_t>(stream.size());
  char b[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
               static_cast<char>(n)};
  k.append(b, 4);
  k.append(stream);
  return k;
}
std::string head_key(std::string_view stream) {
  std::string k;
  k.push_back('h');
  k.append(stream);
  return k;
}

std::string version_error(std::string_view stream, int64_t expected, int64_t current) {
  return "wrong expected version for stream '" + std::string(stream) + "': expected " + std::to_string(expected) +
         ", current " + std::to_string(current);
}

// ---- commit tracker -------------------------------------------------------

// Positions are allocated in one order and committed in another; read_all may
// see only [0, committed()) where every position is committed (or abandoned).
class CommitTracker {
 public:
  explicit CommitTracker(uint64_t start) : committed_(start) {}
  void done(uint64_t first, uint64_t count) {
    std::lock_guard lock(mu_);
    uint64_t c = committed_.load(std::memory_order_relaxed);
    if (first != c) {
      pending_.emplace(first, first + count);
      return;
    }
    c = first + count;
    for (auto it = pending_.begin(); it != pending_.end() && it->first == c; it = pending_.erase(it)) c = it->second;
    committed_.store(c, std::memory_order_release);
  }
  uint64_t committed() const { return committed_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::map<uint64_t, uint64_t> pending_;  // first -> end, above committed_
  std::atomic<uint64_t> committed_;
};


constexpr size_t kStripes = 4096;

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
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) {
      *error = "leveldb: create " + options.dir + ": " + ec.message();
      return false;
    }
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
      if (!it->status().ok()) {
        *error = "leveldb: scan: " + it->status().ToString();
        return false;
      }
    }
    next_position_.store(next);
    tracker_ = std::make_unique<CommitTracker>(next);

    write_options_.sync = durability_ == Durability::kSync;
    if (durability_ == Durability::kBatch) syncer_ = std::thread([this] { sync_loop(); });
    return true;
  }

  std::string name() const override { return "leveldb"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    if (expected_version < -2) {
      *error = "bad expected version " + std::to_string(expected_version);
      return false;
    }
    std::lock_guard lock(stripes_[std::hash<std::string_view>{}(stream) % kStripes]);
    const std::string hkey = head_key(stream);
    std::string head;
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), hkey, &head);
    int64_t current = -1;
    if (s.ok()) {
      if (head.size() != 8) {
        *error = "leveldb: corrupt head of " + std::string(stream);
        return false;
      }
      current = static_cast<int64_t>(get_be64(head.data()));
    } else if (!s.IsNotFound()) {
      *error = "leveldb: get head: " + s.ToString();
      return false;
    }
    if (expected_version != -2 && expected_version != current) {
      *error = version_error(stream, expected_version, current);
      return false;
    }
    if (events.empty()) return true;

    const uint64_t n = events.size();
    const uint64_t first = next_position_.fetch_add(n);
    const uint64_t created_at = now_ns();
    leveldb::WriteBatch batch;
    std::string record, key, pos;
    const std::string prefix = stream_prefix(stream);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t version = static_cast<uint64_t>(current + 1) + i;
      encode_record(&record, stream, version, created_at, events[i]);
      batch.Put(ekey(first + i), record);
      key = prefix;
      put_be64(&key, version);
      pos.clear();
      put_be64(&pos, first + i);
      batch.Put(key, pos);
    }
    pos.clear();
    put_be64(&pos, static_cast<uint64_t>(current) + n);
    batch.Put(hkey, pos);
    s = db_->Write(write_options_, &batch);
    tracker_->done(first, n);  // a failed write leaves a hole rather than stalling read_all
    if (!s.ok()) {
      *error = "leveldb: write: " + s.ToString();
      return false;
    }
    writes_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    const std::string prefix = stream_prefix(stream);
    std::string start = prefix;
    put_be64(&start, from_version);
    std::vector<uint64_t> positions;
    {
      std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
      for (it->Seek(start); it->Valid() && positions.size() < max_count; it->Next()) {
        leveldb::Slice k = it->key();
        if (!k.starts_with(prefix) || k.size() != prefix.size() + 8) break;
        if (it->value().size() != 8) {
          *error = "leveldb: corrupt index entry";
          return false;
        }
        positions.push_back(get_be64(it->value().data()));
      }
      if (!it->status().ok()) {
        *error = "leveldb: index scan: " + it->status().ToString();
        return false;
      }
    }
    out->resize(positions.size());
    std::string value;
    for (size_t i = 0; i < positions.size(); ++i) {
      leveldb::Status s = db_->Get(leveldb::ReadOptions(), ekey(positions[i]), &value);
      if (!s.ok() || !decode_record(value.data(), value.size(), positions[i], &(*out)[i])) {
        *error = "leveldb: event at position " + std::to_string(positions[i]) + ": " +
                 (s.ok() ? std::string("corrupt record") : s.ToString());
        out->clear();
        return false;
      }
    }
    return true;
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                std::string* error) override {
    out->clear();
    const uint64_t limit = tracker_->committed();
    if (max_count == 0 || from_position >= limit) return true;
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(ekey(from_position)); it->Valid() && out->size() < max_count; it->Next()) {
      leveldb::Slice k = it->key(), v = it->value();
      if (k.size() != 9 || k[0] != 'e') break;
      const uint64_t position = get_be64(k.data() + 1);
      if (position >= limit) break;
      ReadEvent& e = out->emplace_back();
      if (!decode_record(v.data(), v.size(), position, &e)) {
        *error = "leveldb: corrupt record at position " + std::to_string(position);
        out->clear();
        return false;
      }
    }
    if (!it->status().ok()) {
      *error = "leveldb: scan: " + it->status().ToString();
      out->clear();
      return false;
    }
    return true;
  }

  void close() override {
    if (!db_) return;
    if (syncer_.joinable()) {
      {
        std::lock_guard lock(sync_mu_);
        stop_ = true;
      }
      sync_cv_.notify_all();
      syncer_.join();
    }
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

  void sync_loop() {
    uint64_t synced = 0;
    std::unique_lock lock(sync_mu_);
    while (!stop_) {
      sync_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_; });
      if (stop_) break;
      const uint64_t written = writes_.load();
      if (written == synced) continue;  // nothing new since the last sync
      lock.unlock();
      sync_log();
      synced = written;
      lock.lock();
    }
  }

  Durability durability_ = Durability::kSync;
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  leveldb::WriteOptions write_options_;
  std::mutex stripes_[kStripes];
  std::atomic<uint64_t> next_position_{0};
  std::unique_ptr<CommitTracker> tracker_;
  std::thread syncer_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stop_ = false;
  std::atomic<uint64_t> writes_{0};  // successful appends, for the kBatch sync thread
};

}  // namespace

std::unique_ptr<Backend> open_leveldb(const BackendOptions& options, std::string* error) {
  auto b = std::make_unique<LevelBackend>();
  if (!b->open(options, error)) return nullptr;
  return b;
}

}  // namespace cairn::bench
