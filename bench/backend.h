// The event-store operations cairn-bench drives, implemented once over Cairn's
// public API and once over each peer (RocksDB, LevelDB, LMDB, SQLite) as a
// user of that peer would build an event store on it: an atomic batch per
// append, an expected-version check, per-stream versions from 0, and one
// global order over all streams (dense positions from 0).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

// A subscriber's feed: every event in global order from a position.
class Tail {
 public:
  virtual ~Tail() = default;
  // The next events (at most the tail's max_count), waiting up to `wait`
  // for the first; empty when none came.
  virtual bool next(std::chrono::milliseconds wait, std::vector<ReadEvent>* out, std::string* error) = 0;
};

// Where an asynchronous append reports, once: done(tag, ok, error), with the
// tag it was started with. A pointer and a tag rather than a std::function,
// so that a backend's wrapper around it is 16 bytes, kept inside its own
// std::function: no allocation per append in the load generator.
class AppendSink {
 public:
  virtual void done(uint64_t tag, bool ok, const std::string& error) = 0;

 protected:
  ~AppendSink() = default;
};

// An AppendSink over a function, for callers off the measured path.
class FunctionSink final : public AppendSink {
 public:
  explicit FunctionSink(std::function<void(bool ok, const std::string& error)> f) : f_(std::move(f)) {}
  void done(uint64_t, bool ok, const std::string& error) override { f_(ok, error); }

 private:
  std::function<void(bool ok, const std::string& error)> f_;
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
  // and report to `sink` before returning.
  virtual void append_async(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
                            AppendSink* sink, uint64_t tag) {
    std::string error;
    bool ok = append(stream, expected_version, events, &error);
    sink->done(tag, ok, error);
  }
  virtual bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count,
                           std::vector<ReadEvent>* out, std::string* error) = 0;
  virtual bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out,
                        std::string* error) = 0;
  // Up to `max_count` events of type `event_type` at positions >= from_position, in
  // global order (fewer only at the end of the store). The default is what a user of a
  // store without a type index does: read_all pages of 4096 and keep the matches (the
  // peers' layouts have no type index). Cairn overrides it with its type bitmaps
  // (Store::read_all_filtered).
  virtual bool read_all_filtered(std::string_view event_type, uint64_t from_position, size_t max_count,
                                 std::vector<ReadEvent>* out, std::string* error) {
    out->clear();
    std::vector<ReadEvent> page;
    for (uint64_t pos = from_position; out->size() < max_count;) {
      if (!read_all(pos, 4096, &page, error)) return false;
      if (page.empty()) break;
      pos = page.back().position + 1;
      for (ReadEvent& e : page) {
        if (e.type != event_type) continue;
        out->push_back(std::move(e));
        if (out->size() == max_count) break;
      }
    }
    return true;
  }
  // A subscriber from `from_position`, max_count events at a time. The default is what users of a store
  // without subscriptions do: poll read_all, sleeping 1 ms after an empty
  // poll. Cairn overrides it with Store::subscribe (woken by commits).
  virtual std::unique_ptr<Tail> tail(uint64_t from_position, size_t max_count);
  // Whether read_all_filtered uses an index (true) or the default scan (false).
  virtual bool indexed_filter() const { return false; }
  virtual void close() = 0;
};

// Backend::tail's default: polls read_all.
class PollingTail final : public Tail {
 public:
  PollingTail(Backend& backend, uint64_t from, size_t max_count)
      : backend_(backend), next_(from), max_count_(max_count) {}
  bool next(std::chrono::milliseconds wait, std::vector<ReadEvent>* out, std::string* error) override {
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      if (!backend_.read_all(next_, max_count_, out, error)) return false;
      if (!out->empty()) {
        next_ = out->back().position + 1;
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  Backend& backend_;
  uint64_t next_;
  size_t max_count_;
};

inline std::unique_ptr<Tail> Backend::tail(uint64_t from_position, size_t max_count) {
  return std::make_unique<PollingTail>(*this, from_position, max_count);
}

// The backends compiled into this binary: "cairn" always, peers when their
// Debian packages were present at build time.
std::vector<std::string> backend_names();
// nullptr with `error` set when the name is unknown or opening failed.
std::unique_ptr<Backend> open_backend(const std::string& name, const BackendOptions& options, std::string* error);

}  // namespace cairn::bench
