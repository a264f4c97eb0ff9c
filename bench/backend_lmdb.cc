// cairn-bench peer: an event store built the way an LMDB user would build it.
//
// Layout (LMDB 0.9.24), three named databases in one environment:
//   events: position (u64 big-endian) -> record, written with MDB_APPEND (positions only grow)
//   index:  u32 BE stream length + stream + version (u64 BE) -> position (u64 BE)
//   heads:  stream -> head version (u64 BE), the stream's last version
//   read_stream = one cursor scan of index + one mdb_get per event, in one read txn;
//   read_all = one cursor scan of events.
//
// Record (the value in events), all integers little-endian:
//   version u64 | created_at u64 (ns since the epoch) |
//   stream, id, type, data, metadata: each u32 length + bytes.
//
// Append: one write transaction (LMDB allows one at a time, so writers queue on its writer lock):
// read the head, check the expected version, put events + index entries + head, commit. The next
// position is one past the last key of events, read inside the write txn; commits are serial, so
// read_all sees a dense prefix without a tracker.
// Stream names are limited to 400 bytes (LMDB's 511-byte key limit, index key = name + 12).
//
// Durability: kSync = default flags (commit writes the pages, fdatasyncs, then writes the meta page
// synchronously); kNone = MDB_NOSYNC (commit leaves the pages to the OS; survives a process crash);
// kBatch = MDB_NOSYNC plus a background thread calling mdb_env_sync(force) every 10 ms when
// something was committed since its last sync.
// kNone/kBatch call mdb_env_sync at close.
//
// Settings: 64 GiB map, MDB_NOTLS (read txns are not tied to threads), 1024 reader slots;
// one read-only txn per read call.
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
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
std::string version_error(std::string_view stream, int64_t expected, int64_t current) {
  return "wrong expected version for stream '" + std::string(stream) + "': expected " + std::to_string(expected) +
         ", current " + std::to_string(current);
}

constexpr size_t kMaxStream = 400;

std::string index_prefix(std::string_view stream) {
  std::string k = stream_prefix(stream);
  return k.substr(1);  // no 's' tag: the index has a database of its own
}
MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string lmdb_error(const char* what, int rc) { return std::string("lmdb: ") + what + ": " + mdb_strerror(rc); }

// Aborts the txn unless released.
struct TxnGuard {
  MDB_txn* txn = nullptr;
  ~TxnGuard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

class LmdbBackend final : public Backend {
 public:
  ~LmdbBackend() override { close(); }

  bool open(const BackendOptions& options, std::string* error) {
    durability_ = options.durability;
    std::error_code ec;
    std::filesystem::create_directories(options.dir, ec);
    if (ec) {
      *error = "lmdb: create " + options.dir + ": " + ec.message();
      return false;
    }
    int rc = mdb_env_create(&env_);
    if (rc != 0) {
      env_ = nullptr;
      *error = lmdb_error("env_create", rc);
      return false;
    }
    mdb_env_set_maxdbs(env_, 4);
    mdb_env_set_maxreaders(env_, 1024);
    mdb_env_set_mapsize(env_, size_t{64} << 30);
    unsigned flags = MDB_NOTLS;
    if (durability_ != Durability::kSync) flags |= MDB_NOSYNC;
    rc = mdb_env_open(env_, options.dir.c_str(), flags, 0644);
    if (rc != 0) {
      *error = lmdb_error(("open " + options.dir).c_str(), rc);
      mdb_env_close(env_);
      env_ = nullptr;
      return false;
    }
    TxnGuard g;
    rc = mdb_txn_begin(env_, nullptr, 0, &g.txn);
    if (rc == 0) rc = mdb_dbi_open(g.txn, "events", MDB_CREATE, &events_);
    if (rc == 0) rc = mdb_dbi_open(g.txn, "index", MDB_CREATE, &index_);
    if (rc == 0) rc = mdb_dbi_open(g.txn, "heads", MDB_CREATE, &heads_);
    if (rc == 0) {
      rc = mdb_txn_commit(g.txn);
      g.txn = nullptr;
    }
    if (rc != 0) {
      *error = lmdb_error("open databases", rc);
      return false;
    }
    if (durability_ == Durability::kBatch) syncer_ = std::thread([this] { sync_loop(); });
    return true;
  }

  std::string name() const override { return "lmdb"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    if (expected_version < -2) {
      *error = "bad expected version " + std::to_string(expected_version);
      return false;
    }
    if (stream.size() > kMaxStream) {
      *error = "lmdb: stream name longer than " + std::to_string(kMaxStream) + " bytes";
      return false;
    }
    TxnGuard g;
    int rc = mdb_txn_begin(env_, nullptr, 0, &g.txn);  // waits for LMDB's writer lock
    if (rc != 0) {
      *error = lmdb_error("begin", rc);
      return false;
    }
    MDB_val hk = val(stream), hv;
    int64_t current = -1;
    rc = mdb_get(g.txn, heads_, &hk, &hv);
    if (rc == 0) {
      if (hv.mv_size != 8) {
        *error = "lmdb: corrupt head of " + std::string(stream);
        return false;
      }
      current = static_cast<int64_t>(get_be64(static_cast<const char*>(hv.mv_data)));
    } else if (rc != MDB_NOTFOUND) {
      *error = lmdb_error("get head", rc);
      return false;
    }
    if (expected_version != -2 && expected_version != current) {
      *error = version_error(stream, expected_version, current);
      return false;
    }
    if (events.empty()) return true;

    // The next position: one past the last key of events, read inside the txn (the rightmost
    // b-tree path, always cached), so it is exact whatever earlier commits did.
    uint64_t first = 0;
    {
      MDB_cursor* cur = nullptr;
      rc = mdb_cursor_open(g.txn, events_, &cur);
      MDB_val k, v;
      if (rc == 0) rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
      if (cur != nullptr) mdb_cursor_close(cur);
      if (rc == 0 && k.mv_size == 8) {
        first = get_be64(static_cast<const char*>(k.mv_data)) + 1;
      } else if (rc != MDB_NOTFOUND) {
        *error = lmdb_error("last position", rc == 0 ? MDB_CORRUPTED : rc);
        return false;
      }
    }
    const uint64_t created_at = now_ns();
    const std::string prefix = index_prefix(stream);
    std::string record, ekey, ikey, pos;
    for (size_t i = 0; i < events.size(); ++i) {
      const uint64_t version = static_cast<uint64_t>(current + 1) + i;
      encode_record(&record, stream, version, created_at, events[i]);
      ekey.clear();
      put_be64(&ekey, first + i);
      MDB_val k = val(ekey), v = val(record);
      rc = mdb_put(g.txn, events_, &k, &v, MDB_APPEND);
      if (rc != 0) {
        *error = lmdb_error("put event", rc);
        return false;
      }
      ikey = prefix;
      put_be64(&ikey, version);
      k = val(ikey);
      v = val(ekey);
      rc = mdb_put(g.txn, index_, &k, &v, 0);
      if (rc != 0) {
        *error = lmdb_error("put index", rc);
        return false;
      }
    }
    put_be64(&pos, static_cast<uint64_t>(current) + events.size());
    hv = val(pos);
    rc = mdb_put(g.txn, heads_, &hk, &hv, 0);
    if (rc != 0) {
      *error = lmdb_error("put head", rc);
      return false;
    }
    rc = mdb_txn_commit(g.txn);
    g.txn = nullptr;
    if (rc != 0) {
      *error = lmdb_error("commit", rc);
      return false;
    }
    writes_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0 || stream.size() > kMaxStream) return true;
    TxnGuard g;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &g.txn);
    if (rc != 0) {
      *error = lmdb_error("begin read", rc);
      return false;
    }
    MDB_cursor* cur = nullptr;
    rc = mdb_cursor_open(g.txn, index_, &cur);
    if (rc != 0) {
      *error = lmdb_error("cursor", rc);
      return false;
    }
    const std::string prefix = index_prefix(stream);
    std::string start = prefix;
    put_be64(&start, from_version);
    MDB_val k = val(start), v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < max_count;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != prefix.size() + 8 || std::memcmp(k.mv_data, prefix.data(), prefix.size()) != 0) break;
      if (v.mv_size != 8) {
        rc = MDB_CORRUPTED;
        break;
      }
      MDB_val ev;
      const uint64_t position = get_be64(static_cast<const char*>(v.mv_data));
      int r = mdb_get(g.txn, events_, &v, &ev);
      if (r != 0 || !decode_record(static_cast<const char*>(ev.mv_data), ev.mv_size, position, &out->emplace_back())) {
        rc = r != 0 ? r : MDB_CORRUPTED;
        break;
      }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      *error = lmdb_error("read stream", rc);
      out->clear();
      return false;
    }
    return true;
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    TxnGuard g;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &g.txn);
    if (rc != 0) {
      *error = lmdb_error("begin read", rc);
      return false;
    }
    MDB_cursor* cur = nullptr;
    rc = mdb_cursor_open(g.txn, events_, &cur);
    if (rc != 0) {
      *error = lmdb_error("cursor", rc);
      return false;
    }
    std::string start;
    put_be64(&start, from_position);
    MDB_val k = val(start), v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < max_count;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      if (k.mv_size != 8 || !decode_record(static_cast<const char*>(v.mv_data), v.mv_size,
                                           get_be64(static_cast<const char*>(k.mv_data)), &out->emplace_back())) {
        rc = MDB_CORRUPTED;
        break;
      }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      *error = lmdb_error("read all", rc);
      out->clear();
      return false;
    }
    return true;
  }

  void close() override {
    if (env_ == nullptr) return;
    if (syncer_.joinable()) {
      {
        std::lock_guard lock(sync_mu_);
        stop_ = true;
      }
      sync_cv_.notify_all();
      syncer_.join();
    }
    if (durability_ != Durability::kSync) mdb_env_sync(env_, 1);
    mdb_env_close(env_);
    env_ = nullptr;
  }

 private:
  void sync_loop() {
    uint64_t synced = 0;
    std::unique_lock lock(sync_mu_);
    while (!stop_) {
      sync_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stop_; });
      if (stop_) break;
      const uint64_t written = writes_.load();
      if (written == synced) continue;  // nothing new since the last sync
      lock.unlock();
      mdb_env_sync(env_, 1);
      synced = written;
      lock.lock();
    }
  }

  Durability durability_ = Durability::kSync;
  MDB_env* env_ = nullptr;
  MDB_dbi events_ = 0, index_ = 0, heads_ = 0;
  std::thread syncer_;
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool stop_ = false;
  std::atomic<uint64_t> writes_{0};  // successful appends, for the kBatch sync thread
};

}  // namespace

std::unique_ptr<Backend> open_lmdb(const BackendOptions& options, std::string* error) {
  auto b = std::make_unique<LmdbBackend>();
  if (!b->open(options, error)) return nullptr;
  return b;
}

}  // namespace cairn::bench
