// cairn-bench peer: an event store built the way an LMDB user would build it.
//
// Layout (LMDB 0.9.24), three named databases in one environment:
//   events: position (u64 big-endian) -> record, written with MDB_APPEND (positions only grow)
//   index:  u32 BE stream length + stream + version (u64 BE) -> position (u64 BE)
//   heads:  stream -> head version (u64 BE), the stream's last version
//   read_stream = one cursor scan of index + one mdb_get per event, in one read txn;
//   read_all = one cursor scan of events.
//
// Record (the value in events): the record encoding of peer_common.h (little-endian version,
// created_at, then stream, id, type, data, metadata, each u32 length + bytes).
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

#include <cstring>
#include <string>
#include <vector>

#include "backend.h"
#include "peer_common.h"

namespace cairn::bench {
namespace {

using namespace peer;

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
    if (!create_dir("lmdb", options.dir, error)) return false;
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
    syncer_.start(durability_, [this] { mdb_env_sync(env_, 1); });
    return true;
  }

  std::string name() const override { return "lmdb"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    if (!valid_expected_version(expected_version, error)) return false;
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
      if (!parse_head("lmdb", stream, static_cast<const char*>(hv.mv_data), hv.mv_size, &current, error))
        return false;
    } else if (rc != MDB_NOTFOUND) {
      *error = lmdb_error("get head", rc);
      return false;
    }
    if (!check_expected_version(stream, expected_version, current, error)) return false;
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
    const bool put = encode_append(stream, index_prefix(stream), current, first, events, [&](const AppendRecord& r) {
      MDB_val k = val(r.position_key), v = val(r.record);
      rc = mdb_put(g.txn, events_, &k, &v, MDB_APPEND);
      if (rc != 0) {
        *error = lmdb_error("put event", rc);
        return false;
      }
      k = val(r.index_key);
      v = val(r.position_key);
      rc = mdb_put(g.txn, index_, &k, &v, 0);
      if (rc != 0) {
        *error = lmdb_error("put index", rc);
        return false;
      }
      return true;
    });
    if (!put) return false;
    const std::string pos = be64(static_cast<uint64_t>(current) + events.size());
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
    syncer_.wrote();
    return true;
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0 || stream.size() > kMaxStream) return true;
    const std::string prefix = index_prefix(stream);
    return scan(index_, index_key(prefix, from_version), max_count, "read stream", out, error, [&](MDB_txn* txn, const MDB_val& k, MDB_val& v) {
      if (k.mv_size != prefix.size() + 8 || std::memcmp(k.mv_data, prefix.data(), prefix.size()) != 0)
        return MDB_NOTFOUND;  // past the stream
      if (v.mv_size != 8) return MDB_CORRUPTED;
      MDB_val ev;
      const uint64_t position = get_be64(static_cast<const char*>(v.mv_data));
      int r = mdb_get(txn, events_, &v, &ev);
      if (r != 0) return r;
      return decode_record(static_cast<const char*>(ev.mv_data), ev.mv_size, position, &out->emplace_back())
                 ? 0
                 : MDB_CORRUPTED;
    });
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    return scan(events_, be64(from_position), max_count, "read all", out, error,
                [&](MDB_txn*, const MDB_val& k, const MDB_val& v) {
                  return k.mv_size == 8 && decode_record(static_cast<const char*>(v.mv_data), v.mv_size,
                                                         get_be64(static_cast<const char*>(k.mv_data)),
                                                         &out->emplace_back())
                             ? 0
                             : MDB_CORRUPTED;
                });
  }

  void close() override {
    if (env_ == nullptr) return;
    syncer_.stop();
    if (durability_ != Durability::kSync) mdb_env_sync(env_, 1);
    mdb_env_close(env_);
    env_ = nullptr;
  }

 private:
  // One read-only txn and a cursor on `dbi` from the first key >= `start`: visit(txn, key, value)
  // for each entry while `out` holds fewer than max_count events; visit returns 0 to go on,
  // MDB_NOTFOUND to stop there, or an error. False with "lmdb: <what>: ..." set and `out` cleared
  // on an error.
  template <class Visit>
  bool scan(MDB_dbi dbi, const std::string& start, size_t max_count, const char* what, std::vector<ReadEvent>* out,
            std::string* error, Visit&& visit) {
    TxnGuard g;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &g.txn);
    if (rc != 0) {
      *error = lmdb_error("begin read", rc);
      return false;
    }
    MDB_cursor* cur = nullptr;
    rc = mdb_cursor_open(g.txn, dbi, &cur);
    if (rc != 0) {
      *error = lmdb_error("cursor", rc);
      return false;
    }
    MDB_val k = val(start), v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && out->size() < max_count;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      rc = visit(g.txn, k, v);
      if (rc != 0) break;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      *error = lmdb_error(what, rc);
      out->clear();
      return false;
    }
    return true;
  }

  Durability durability_ = Durability::kSync;
  MDB_env* env_ = nullptr;
  MDB_dbi events_ = 0, index_ = 0, heads_ = 0;
  BatchSyncer syncer_;  // kBatch: mdb_env_sync(force) every 10 ms when something was committed
};

}  // namespace

std::unique_ptr<Backend> open_lmdb(const BackendOptions& options, std::string* error) {
  return peer::open_peer<LmdbBackend>(options, error);
}

}  // namespace cairn::bench
