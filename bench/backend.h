// The event-store operations cairn-bench drives, implemented once over Cairn's
// public API and once over each peer (RocksDB, LevelDB, LMDB, SQLite) as a
// user of that peer would build an event store on it: an atomic batch per
// append, an expected-version check, per-stream versions from 0, and one
// global order over all streams (dense positions from 0).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::bench {

enum class Durability { kSync, kBatch, kNone };

struct BenchEvent {
  std::string id;        // 16 bytes
  std::string type;
  std::string data;
  std::string metadata;
};

struct ReadEvent {
  uint64_t version = 0;
  uint64_t position = 0;
  std::string id, type, data, metadata;
};

struct BackendOptions {
  std::string dir;                 // the backend's own directory (created by it)
  Durability durability = Durability::kSync;
};

// All methods may be called from many threads at once, except open/close.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // expected_version: -2 any, -1 no stream, else the exact current last version.
  // False with `error` set when the append failed (a version conflict too).
  virtual bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
                      std::string* error) = 0;
  // Asynchronous append when the backend has one (Cairn); others run append()
  // and call `done` before returning.
  virtual void append_async(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
                            std::function<void(bool ok, const std::string& error)> done) {
    std::string error;
    bool ok = append(stream, expected_version, events, &error);
    done(ok, error);
  }
  virtual bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count,
                           std::vector<ReadEvent>* out, std::string* error) = 0;
  virtual bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                        std::string* error) = 0;
  virtual void close() = 0;
};

// The backends compiled into this binary: "cairn" always, peers when their
// Debian packages were present at build time.
std::vector<std::string> backend_names();
// nullptr with `error` set when the name is unknown or opening failed.
std::unique_ptr<Backend> open_backend(const std::string& name, const BackendOptions& options, std::string* error);

}  // namespace cairn::bench
