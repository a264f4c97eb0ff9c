// cairn-bench peer: an event store built the way an SQLite user would build it.
//
// Layout (SQLite 3.40.1), the classic events table, WAL mode:
//   events(position INTEGER PRIMARY KEY, stream_id TEXT, version INTEGER, event_id BLOB, type TEXT,
//          data BLOB, metadata BLOB, created_at INTEGER, UNIQUE(stream_id, version))
//   read_stream = WHERE stream_id=? AND version>=? ORDER BY version (the UNIQUE index);
//   read_all = WHERE position>=? ORDER BY position (the rowid b-tree).
// Fields are stored as columns (no record encoding); created_at is ns since the epoch.
//
// Append: one writer connection behind an in-process mutex: BEGIN IMMEDIATE; SELECT MAX(version)
// ... WHERE stream_id=?; compare with the expected version; one INSERT per event (the UNIQUE
// constraint is the backstop); COMMIT (ROLLBACK on any failure). Positions are explicit and dense
// from 0: the next one is kept in memory under the writer mutex (MAX(position)+1 at open) and moves
// only when COMMIT succeeds; commits are serial, so read_all sees a dense prefix.
// Readers use connections of their own from a pool (one per concurrently reading thread), each
// with its two statements prepared once; WAL readers never wait for the writer.
//
// Durability: kSync = synchronous=FULL (the WAL is fdatasynced at every COMMIT);
// kNone and kBatch = synchronous=NORMAL (WAL commits are not synced; the WAL is synced only before
// a checkpoint, so commits survive a process crash but a power loss may lose those since the last
// checkpoint). SQLite has no call to sync the WAL alone, so kBatch has no 10 ms sync here.
//
// Settings: journal_mode=WAL, cache_size 128 MiB (per connection), temp_store=MEMORY, no mmap
// (mmap_size=0), busy_timeout 10 s, default autocheckpoint (1000 pages, run inside a COMMIT).
#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "peer_common.h"

namespace cairn::bench {
namespace {

using namespace peer;

std::string sqlite_error(sqlite3* db, const char* what) {
  return std::string("sqlite: ") + what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

int64_t clamp64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                         : static_cast<int64_t>(v);
}

std::string column_bytes(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  int n = sqlite3_column_bytes(st, col);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

// Runs `sql` (one or more statements without results).
bool exec(sqlite3* db, const char* sql, std::string* error) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    *error = std::string("sqlite: ") + sql + ": " + (msg != nullptr ? msg : "?");
    sqlite3_free(msg);
    return false;
  }
  return true;
}

bool prepare(sqlite3* db, const char* sql, sqlite3_stmt** st, std::string* error) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) != SQLITE_OK) {
    *error = sqlite_error(db, sql);
    return false;
  }
  return true;
}

// Opens a connection and applies the per-connection settings.
sqlite3* connect(const std::string& path, Durability durability, std::string* error) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    *error = sqlite_error(db, ("open " + path).c_str());
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 10'000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;"
                        " PRAGMA mmap_size=0;";
  pragmas += durability == Durability::kSync ? " PRAGMA synchronous=FULL;" : " PRAGMA synchronous=NORMAL;";
  if (!exec(db, pragmas.c_str(), error)) {
    sqlite3_close(db);
    return nullptr;
  }
  return db;
}

constexpr const char* kSelectColumns = "SELECT version, position, event_id, type, data, metadata FROM events ";

class SqliteBackend final : public Backend {
  struct Reader {
    sqlite3* db = nullptr;
    sqlite3_stmt* stream = nullptr;
    sqlite3_stmt* all = nullptr;
    ~Reader() {
      sqlite3_finalize(stream);
      sqlite3_finalize(all);
      sqlite3_close(db);
    }
  };

 public:
  ~SqliteBackend() override { close(); }

  bool open(const BackendOptions& options, std::string* error) {
    durability_ = options.durability;
    if (!create_dir("sqlite", options.dir, error)) return false;
    path_ = options.dir + "/events.db";
    writer_ = connect(path_, durability_, error);
    if (writer_ == nullptr) return false;
    if (!exec(writer_,
              "CREATE TABLE IF NOT EXISTS events("
              " position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL,"
              " event_id BLOB NOT NULL, type TEXT NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL,"
              " created_at INTEGER NOT NULL, UNIQUE(stream_id, version))",
              error))
      return false;
    sqlite3_stmt* st = nullptr;
    if (!prepare(writer_, "SELECT COALESCE(MAX(position) + 1, 0) FROM events", &st, error)) return false;
    if (sqlite3_step(st) != SQLITE_ROW) {
      *error = sqlite_error(writer_, "max position");
      sqlite3_finalize(st);
      return false;
    }
    next_position_ = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return prepare(writer_, "BEGIN IMMEDIATE", &begin_, error) && prepare(writer_, "COMMIT", &commit_, error) &&
           prepare(writer_, "ROLLBACK", &rollback_, error) &&
           prepare(writer_, "SELECT MAX(version) FROM events WHERE stream_id = ?", &max_version_, error) &&
           prepare(writer_,
                   "INSERT INTO events(position, stream_id, version, event_id, type, data, metadata, created_at)"
                   " VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                   &insert_, error);
  }

  std::string name() const override { return "sqlite"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    if (!valid_expected_version(expected_version, error)) return false;
    std::lock_guard lock(write_mu_);
    if (step_done(begin_) != SQLITE_DONE) {
      *error = sqlite_error(writer_, "BEGIN IMMEDIATE");
      return false;
    }
    int64_t current = -1;
    sqlite3_bind_text(max_version_, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    int rc = sqlite3_step(max_version_);
    if (rc == SQLITE_ROW && sqlite3_column_type(max_version_, 0) != SQLITE_NULL)
      current = sqlite3_column_int64(max_version_, 0);
    sqlite3_reset(max_version_);
    sqlite3_clear_bindings(max_version_);
    if (rc != SQLITE_ROW) {
      *error = sqlite_error(writer_, "SELECT MAX(version)");
      return rollback();
    }
    if (!check_expected_version(stream, expected_version, current, error)) return rollback();
    const int64_t created_at = static_cast<int64_t>(now_ns());
    for (size_t i = 0; i < events.size(); ++i) {
      const BenchEvent& e = events[i];
      sqlite3_bind_int64(insert_, 1, static_cast<int64_t>(next_position_ + i));
      sqlite3_bind_text(insert_, 2, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 3, current + 1 + static_cast<int64_t>(i));
      // std::string::data() is never null, so an empty field binds an empty blob, not NULL.
      sqlite3_bind_blob(insert_, 4, e.id.data(), static_cast<int>(e.id.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_, 5, e.type.data(), static_cast<int>(e.type.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert_, 6, e.data.data(), static_cast<int>(e.data.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert_, 7, e.metadata.data(), static_cast<int>(e.metadata.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 8, created_at);
      rc = sqlite3_step(insert_);
      sqlite3_reset(insert_);
      sqlite3_clear_bindings(insert_);
      if (rc != SQLITE_DONE) {
        *error = sqlite_error(writer_, "INSERT");
        return rollback();
      }
    }
    if (step_done(commit_) != SQLITE_DONE) {
      *error = sqlite_error(writer_, "COMMIT");
      return rollback();
    }
    next_position_ += events.size();
    return true;
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    std::unique_ptr<Reader> r = acquire(error);
    if (!r) return false;
    sqlite3_bind_text(r->stream, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    sqlite3_bind_int64(r->stream, 2, clamp64(from_version));
    sqlite3_bind_int64(r->stream, 3, clamp64(max_count));
    bool ok = collect(r.get(), r->stream, out, error);
    release(std::move(r));
    return ok;
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                std::string* error) override {
    out->clear();
    if (max_count == 0) return true;
    std::unique_ptr<Reader> r = acquire(error);
    if (!r) return false;
    sqlite3_bind_int64(r->all, 1, clamp64(from_position));
    sqlite3_bind_int64(r->all, 2, clamp64(max_count));
    bool ok = collect(r.get(), r->all, out, error);
    release(std::move(r));
    return ok;
  }

  void close() override {
    {
      std::lock_guard lock(pool_mu_);
      pool_.clear();
    }
    for (sqlite3_stmt** st : {&begin_, &commit_, &rollback_, &max_version_, &insert_}) {
      sqlite3_finalize(*st);
      *st = nullptr;
    }
    if (writer_ != nullptr) {
      sqlite3_close(writer_);  // the last connection: checkpoints the WAL (and syncs it)
      writer_ = nullptr;
    }
  }

 private:
  int step_done(sqlite3_stmt* st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
  }
  bool rollback() {
    if (sqlite3_get_autocommit(writer_) == 0) step_done(rollback_);
    return false;
  }

  std::unique_ptr<Reader> acquire(std::string* error) {
    {
      std::lock_guard lock(pool_mu_);
      if (!pool_.empty()) {
        std::unique_ptr<Reader> r = std::move(pool_.back());
        pool_.pop_back();
        return r;
      }
    }
    auto r = std::make_unique<Reader>();
    r->db = connect(path_, durability_, error);
    if (r->db == nullptr) return nullptr;
    std::string stream_sql = std::string(kSelectColumns) + "WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?";
    std::string all_sql = std::string(kSelectColumns) + "WHERE position >= ? ORDER BY position LIMIT ?";
    if (!prepare(r->db, stream_sql.c_str(), &r->stream, error) || !prepare(r->db, all_sql.c_str(), &r->all, error))
      return nullptr;
    return r;
  }
  void release(std::unique_ptr<Reader> r) {
    std::lock_guard lock(pool_mu_);
    pool_.push_back(std::move(r));
  }

  static bool collect(Reader* r, sqlite3_stmt* st, std::vector<ReadEvent>* out, std::string* error) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      ReadEvent& e = out->emplace_back();
      e.version = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
      e.position = static_cast<uint64_t>(sqlite3_column_int64(st, 1));
      e.id = column_bytes(st, 2);
      e.type = column_bytes(st, 3);
      e.data = column_bytes(st, 4);
      e.metadata = column_bytes(st, 5);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
      *error = sqlite_error(r->db, "SELECT");
      out->clear();
      return false;
    }
    return true;
  }

  Durability durability_ = Durability::kSync;
  std::string path_;
  std::mutex write_mu_;
  sqlite3* writer_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* max_version_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  uint64_t next_position_ = 0;  // guarded by write_mu_
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Reader>> pool_;
};

}  // namespace

std::unique_ptr<Backend> open_sqlite(const BackendOptions& options, std::string* error) {
  return peer::open_peer<SqliteBackend>(options, error);
}

}  // namespace cairn::bench
