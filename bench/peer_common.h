// What the peer backends of cairn-bench (backend_rocksdb.cc, backend_leveldb.cc, backend_lmdb.cc,
// backend_sqlite.cc) share: the byte encodings of their keys and records, the expected-version
// rules, the per-stream locks, the commit tracker, the kBatch sync thread, and for the two peers
// of the LevelDB family (RocksDB, LevelDB) the append flow and the iterator scans. Each backend
// keeps only what is specific to its peer (its layout, its calls, its durability settings).
// Header-only: everything is inline or a template, in namespace cairn::bench::peer.
//
// Record (the value stored per event by the key-value peers), all integers little-endian:
//   version u64 | created_at u64 (ns since the epoch) |
//   stream, id, type, data, metadata: each u32 length + bytes.
// Stream index prefix: 's' + u32 BE stream length + stream; an index key is the prefix + version
// (u64 BE), its value the event's position (u64 BE). Head key: 'h' + stream -> head version (u64 BE).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "backend.h"

namespace cairn::bench::peer {

// ---- encoding -------------------------------------------------------------

inline void put_be64(std::string* s, uint64_t v) {
  char b[8];
  for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 8);
}
inline uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline void put_le64(std::string* s, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 8);
}
inline void put_le32(std::string* s, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i, v >>= 8) b[i] = static_cast<char>(v & 0xff);
  s->append(b, 4);
}
inline uint64_t get_le(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline void put_field(std::string* s, std::string_view f) {
  put_le32(s, static_cast<uint32_t>(f.size()));
  s->append(f);
}
// `v` as 8 bytes big-endian (a position key, a head value).
inline std::string be64(uint64_t v) {
  std::string s;
  put_be64(&s, v);
  return s;
}

inline uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

inline void encode_record(std::string* s, std::string_view stream, uint64_t version, uint64_t created_at,
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

inline bool decode_record(const char* p, size_t n, uint64_t position, ReadEvent* out) {
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

inline std::string stream_prefix(std::string_view stream) {
  std::string k;
  k.push_back('s');
  uint32_t n = static_cast<uint32_t>(stream.size());
  char b[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
               static_cast<char>(n)};
  k.append(b, 4);
  k.append(stream);
  return k;
}
// An index key: the stream's index prefix + version (u64 BE).
inline std::string index_key(const std::string& prefix, uint64_t version) {
  std::string k = prefix;
  put_be64(&k, version);
  return k;
}
inline std::string head_key(std::string_view stream) {
  std::string k;
  k.push_back('h');
  k.append(stream);
  return k;
}

// One event of an append, encoded: what a key-value peer writes for it.
struct AppendRecord {
  uint64_t position = 0;
  uint64_t version = 0;
  std::string position_key;  // position, u64 BE: the events key and the index value
  std::string index_key;     // the stream's index prefix + version (u64 BE)
  std::string record;        // encode_record
};

// Encodes the events of one append on `stream` (versions current+1.., positions first..) and hands
// each to put(const AppendRecord&) -> bool, in order; stops at the first false and returns it.
// `index_prefix` is the peer's prefix for the stream's index keys.
template <class Put>
bool encode_append(std::string_view stream, const std::string& index_prefix, int64_t current, uint64_t first,
                   const std::vector<BenchEvent>& events, Put&& put) {
  const uint64_t created_at = now_ns();
  AppendRecord r;
  for (size_t i = 0; i < events.size(); ++i) {
    r.position = first + i;
    r.version = static_cast<uint64_t>(current + 1) + i;
    encode_record(&r.record, stream, r.version, created_at, events[i]);
    r.position_key.clear();
    put_be64(&r.position_key, r.position);
    r.index_key = index_prefix;  // index_key(), into the reused buffer
    put_be64(&r.index_key, r.version);
    if (!put(std::as_const(r))) return false;
  }
  return true;
}

// ---- expected versions ----------------------------------------------------

// expected_version: -2 any, -1 no stream, else the exact current last version.
inline bool valid_expected_version(int64_t expected, std::string* error) {
  if (expected >= -2) return true;
  *error = "bad expected version " + std::to_string(expected);
  return false;
}
// False with `error` set when `expected` (not -2, any) is not `current` (-1: no stream).
inline bool check_expected_version(std::string_view stream, int64_t expected, int64_t current, std::string* error) {
  if (expected == -2 || expected == current) return true;
  *error = "wrong expected version for stream '" + std::string(stream) + "': expected " + std::to_string(expected) +
           ", current " + std::to_string(current);
  return false;
}
// A stored head value (u64 BE) into *current; false with `error` set when it is not 8 bytes.
inline bool parse_head(std::string_view peer, std::string_view stream, const char* p, size_t n, int64_t* current,
                       std::string* error) {
  if (n != 8) {
    *error = std::string(peer) + ": corrupt head of " + std::string(stream);
    return false;
  }
  *current = static_cast<int64_t>(get_be64(p));
  return true;
}

// ---- open -----------------------------------------------------------------

// Creates the backend's directory; false with "<peer>: create <dir>: ..." on failure.
inline bool create_dir(std::string_view peer, const std::string& dir, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = std::string(peer) + ": create " + dir + ": " + ec.message();
    return false;
  }
  return true;
}

// A backend B with bool open(const BackendOptions&, std::string*), opened; nullptr on failure.
template <class B>
std::unique_ptr<Backend> open_peer(const BackendOptions& options, std::string* error) {
  auto b = std::make_unique<B>();
  if (!b->open(options, error)) return nullptr;
  return b;
}

// ---- concurrency ----------------------------------------------------------

// Striped per-stream mutexes: appends on one stream serialise, on others mostly not.
class StreamLocks {
 public:
  std::mutex& of(std::string_view stream) { return stripes_[std::hash<std::string_view>{}(stream) % kStripes]; }

 private:
  static constexpr size_t kStripes = 4096;
  std::mutex stripes_[kStripes];
};

// Global positions: allocated from an in-memory counter, committed in another order than allocated
// (under group commit); read_all may see only [0, committed()) where every position is committed
// (or abandoned: a failed write marks its positions done so read_all does not stall).
class CommitTracker {
 public:
  // The next position to allocate, and all below it committed (at open).
  void start(uint64_t next) {
    next_.store(next);
    committed_.store(next);
  }
  uint64_t allocate(uint64_t count) { return next_.fetch_add(count); }
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
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  std::map<uint64_t, uint64_t> pending_;  // first -> end, above committed_
  std::atomic<uint64_t> committed_{0};
};

// kBatch durability: a background thread calling `sync` every 10 ms when something was written
// (wrote()) since its last sync. start() runs it only under kBatch; stop() joins it; wrote() is
// cheap whether it runs or not.
class BatchSyncer {
 public:
  ~BatchSyncer() { stop(); }
  void start(Durability durability, std::function<void()> sync) {
    if (durability != Durability::kBatch) return;
    sync_ = std::move(sync);
    thread_ = std::thread([this] { loop(); });
  }
  void wrote() { writes_.fetch_add(1, std::memory_order_relaxed); }
  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    uint64_t synced = 0;
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_; });
      if (stop_) break;
      const uint64_t written = writes_.load();
      if (written == synced) continue;  // nothing new since the last sync
      lock.unlock();
      sync_();
      synced = written;
      lock.lock();
    }
  }

  std::function<void()> sync_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<uint64_t> writes_{0};  // successful appends
};

// ---- the LevelDB-family peers (RocksDB, LevelDB) -----------------------------

// RocksDB began as a fork of LevelDB and keeps its API shape: a Status with ok(), IsNotFound() and
// ToString(); an Iterator with Seek, Valid, Next, key, value (Slices with data, size, starts_with)
// and status. These templates take either library's types.

// True when `s` is ok; else false with "<what>: <status>" in `error`.
template <class Status>
bool status_ok(const Status& s, std::string_view what, std::string* error) {
  if (s.ok()) return true;
  *error = std::string(what) + ": " + s.ToString();
  return false;
}

// The result of Get(head key) into *current: the stored head (parse_head), or left as is (-1)
// when the stream has none; false with `error` set on a failed or corrupt read.
template <class Status>
bool read_head(std::string_view peer, std::string_view stream, const Status& s, const char* p, size_t n,
               int64_t* current, std::string* error) {
  if (s.ok()) return parse_head(peer, stream, p, n, current, error);
  if (s.IsNotFound()) return true;
  return status_ok(s, std::string(peer) + ": get head", error);
}

// Scans a stream's index entries (keys `prefix` + version, values the position u64 BE) from
// from_version with `it` over the key space holding them: the positions' 8-byte keys into *keys,
// at most max_count. False with `error` set on a corrupt entry or a failed scan.
template <class Iterator>
bool scan_index(std::string_view peer, Iterator* it, const std::string& prefix, uint64_t from_version,
                size_t max_count, std::vector<std::string>* keys, std::string* error) {
  const std::string start = index_key(prefix, from_version);
  for (it->Seek(start); it->Valid() && keys->size() < max_count; it->Next()) {
    auto k = it->key();
    if (!k.starts_with(prefix) || k.size() != prefix.size() + 8) break;
    if (it->value().size() != 8) {
      *error = std::string(peer) + ": corrupt index entry";
      return false;
    }
    keys->emplace_back(it->value().data(), 8);  // the position, big-endian
  }
  return status_ok(it->status(), std::string(peer) + ": index scan", error);
}

// What scan_events' callback made of one entry.
enum class Scanned {
  kEvent,    // decoded into out->back(): go on
  kPast,     // past the events: stop, the scan succeeded
  kCorrupt,  // `error` set: the scan fails
};

// Decodes the events `it` yields from `start` into `out`, at most max_count: event(key, value)
// -> Scanned for each entry. False with `error` set and `out` cleared on a corrupt entry or a
// failed scan ("<peer>: scan: ...").
template <class Iterator, class Event>
bool scan_events(std::string_view peer, Iterator* it, const std::string& start, size_t max_count,
                 std::vector<ReadEvent>* out, std::string* error, Event&& event) {
  for (it->Seek(start); it->Valid() && out->size() < max_count; it->Next()) {
    const Scanned r = event(it->key(), it->value());
    if (r == Scanned::kPast) break;
    if (r == Scanned::kCorrupt) {
      out->clear();
      return false;
    }
  }
  if (status_ok(it->status(), std::string(peer) + ": scan", error)) return true;
  out->clear();
  return false;
}

// The appends of the peers that write each one as an atomic batch whose commits their library
// groups, so batches on different streams commit out of allocation order (RocksDB, LevelDB).
// append() holds the stream's lock (StreamLocks) across: read_head(hkey, int64_t* current) -> bool
// (leaves -1 when the stream has none), the expected-version check, the allocation of positions
// (CommitTracker) and write(hkey, int64_t current, uint64_t first) -> bool, the batch; hkey is the
// stream's head_key(). The positions are then done whether the write succeeded or not (a failed
// write leaves a hole rather than stalling read_all), and a successful one counts for the kBatch
// syncer. Both callbacks set `error` when they return false.
class GroupCommitAppends {
 public:
  // At open: `next` is one past the last stored position; under kBatch, `sync` runs every 10 ms
  // when something was appended (BatchSyncer).
  void start(uint64_t next, Durability durability, std::function<void()> sync) {
    tracker_.start(next);
    syncer_.start(durability, std::move(sync));
  }
  // At close, before the final sync.
  void stop() { syncer_.stop(); }
  // read_all's bounds: read_all sees only the committed prefix of positions. Clears `out`; false
  // when there is nothing to read (max_count 0, or from_position at or past that prefix), else true
  // with the prefix's end in *limit.
  bool read_bounds(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out, uint64_t* limit) const {
    out->clear();
    *limit = tracker_.committed();
    return max_count != 0 && from_position < *limit;
  }

  template <class ReadHead, class Write>
  bool append(std::string_view stream, int64_t expected_version, size_t count, std::string* error,
              ReadHead&& read_head, Write&& write) {
    if (!valid_expected_version(expected_version, error)) return false;
    std::lock_guard lock(locks_.of(stream));
    const std::string hkey = head_key(stream);
    int64_t current = -1;
    if (!read_head(hkey, &current)) return false;
    if (!check_expected_version(stream, expected_version, current, error)) return false;
    if (count == 0) return true;
    const uint64_t first = tracker_.allocate(count);
    const bool ok = write(hkey, current, first);
    tracker_.done(first, count);  // a failed write leaves a hole rather than stalling read_all
    if (!ok) return false;
    syncer_.wrote();
    return true;
  }

 private:
  StreamLocks locks_;
  CommitTracker tracker_;
  BatchSyncer syncer_;
};

}  // namespace cairn::bench::peer
