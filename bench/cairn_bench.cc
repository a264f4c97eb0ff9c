// cairn-bench: the load generator. Runs an event-store workload on Cairn (over
// its public API) or on a peer (RocksDB, LevelDB, LMDB, SQLite, when built in),
// measures the raw limits of the same disk before every repetition, and
// reports medians with their ratios to those limits. See usage() for flags.
#include <cairn/store.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "backend_cairn.h"
#include "latency.h"
#include "raw_disk.h"

namespace cairn::bench {
namespace {

namespace fs = std::filesystem;

constexpr size_t kStampBytes = 12;      // stream (4 B) + version (8 B) at the front of each event's data
constexpr size_t kMetadataBytes = 32;
constexpr size_t kRawFramingBytes = 64;  // the raw write is event_size + this
constexpr size_t kReadPage = 4096;      // read-all page size
constexpr uint32_t kPrefillInFlight = 256;
constexpr uint64_t kDefaultStoreEvents = 1'000'000;  // read-stream, read-all, open
constexpr const char* kEventType = "OrderPlaced";

const std::vector<std::string> kWorkloads = {"append-durable", "append-batch", "read-stream",
                                             "read-all",       "mixed",        "open"};

// ---- flags -------------------------------------------------------------------

struct Config {
  std::string workload = "append-durable";
  int writers = 1;
  uint32_t streams = 10000;
  size_t event_size = 200;
  uint32_t batch = 0;       // 0: the workload's default
  std::string durability;   // empty: the workload's default
  uint32_t inflight = 0;
  double duration = 5;
  uint64_t events = 0;      // > 0: a count instead of a duration
  std::string dir;
  bool own_dir = true;
  std::vector<std::string> backends = {"cairn"};
  bool compare = false;
  int repeat = 3;
  bool json = false;
  uint64_t segment_mib = 64;
  std::string io_backend = "auto";
  uint32_t pipeline = 2;
  bool prepare = true;

  bool appends() const { return workload == "append-durable" || workload == "append-batch" || workload == "mixed"; }
  bool async() const { return inflight > 1; }
  double warmup_seconds() const { return std::max(0.5, duration / 10); }
};

std::string join(const std::vector<std::string>& names, const char* sep) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += sep;
    out += n;
  }
  return out;
}

void usage(FILE* out) {
  std::fprintf(out, R"(usage: cairn-bench [flags]
  --workload NAME      append-durable (default), append-batch, read-stream, read-all, mixed, open
  --writers N          load threads (writers; readers for read-stream/read-all), default 1
  --streams N          streams Order-<n>, default 10000; writer t owns the streams n %% N == t
                       and always passes the exact expected version (conflicts are counted)
  --event-size BYTES   event data bytes, default 200 (plus 32 B metadata, type "OrderPlaced",
                       16 B random id)
  --batch N            events per append (default 1; append-batch 10)
  --durability L       sync|batch|none (default sync; read-stream, read-all, open: none)
  --inflight N         async appends in flight per writer (0 or 1: synchronous appends)
  --duration SECONDS   measured time, default 5, after a warm-up of max(0.5 s, 10%%)
  --events N           appends: measure N events (after N/10 warm-up) instead of a duration;
                       read-stream, read-all, open: events in the store (default 1000000,
                       streams of 100 events written in interleaved batches of 10)
  --dir PATH           where to run (default: a fresh directory under the current one,
                       removed afterwards); the raw limits are measured on its disk
  --backend NAME       one of: %s
  --compare A,B,...    run the same workload on Cairn and each named backend, one table
                       with ratios to Cairn
  --repeat N           repetitions, default 3; the median is reported
  --json               one JSON object per run configuration on stdout (table on stderr)
  --segment-mib N      Cairn Options::segment_bytes in MiB, default 64
  --io-backend B       Cairn Options::io_backend: auto|io_uring|pwrite, default auto
  --pipeline N         Cairn Options::max_writes_in_flight, default 2
  --prepare 0|1        Cairn Options::prepare_segments (zero-filled segments ahead), default 1

Before each repetition, on the same disk: one write of (event size + 64 B) + fdatasync
inside a pre-zeroed file (p50, ops/s), and 1 MiB buffered writes + fdatasync each into a
pre-zeroed file (MB/s). Cairn's figures are printed as ratios to them.
Cairn steady state: measured after the first segment roll. A fresh store's first segment
is not zero-filled ahead (the engine prepares the next one when the active one is half
full), so before append workloads filler events (durability none, streams Warmup-<k>)
are written until the store runs in a segment that was prepared ahead.
)",
               join(backend_names(), ", ").c_str());
}

[[noreturn]] void bad_usage(const std::string& why) {
  std::fprintf(stderr, "cairn-bench: %s\n\n", why.c_str());
  usage(stderr);
  std::exit(2);
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

uint64_t to_uint(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || value[0] == '-') bad_usage(flag + ": not a count: " + value);
  return v;
}

double to_seconds(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v > 0)) bad_usage(flag + ": not a positive number: " + value);
  return v;
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

void set_dir(Config& cfg, const std::string& dir) {
  cfg.dir = dir;
  cfg.own_dir = false;
}

void set_backends(Config& cfg, std::vector<std::string> names, bool compare) {
  cfg.backends = std::move(names);
  cfg.compare = compare;
}

// Applies one flag that takes a value.
void apply_flag(Config& cfg, const std::string& flag, const std::string& value) {
  if (flag == "--workload") cfg.workload = value;
  else if (flag == "--writers") cfg.writers = static_cast<int>(to_uint(flag, value));
  else if (flag == "--streams") cfg.streams = static_cast<uint32_t>(to_uint(flag, value));
  else if (flag == "--event-size") cfg.event_size = to_uint(flag, value);
  else if (flag == "--batch") cfg.batch = static_cast<uint32_t>(to_uint(flag, value));
  else if (flag == "--durability") cfg.durability = value;
  else if (flag == "--inflight") cfg.inflight = static_cast<uint32_t>(to_uint(flag, value));
  else if (flag == "--duration") cfg.duration = to_seconds(flag, value);
  else if (flag == "--events") cfg.events = to_uint(flag, value);
  else if (flag == "--dir") set_dir(cfg, value);
  else if (flag == "--backend") set_backends(cfg, {value}, false);
  else if (flag == "--compare") set_backends(cfg, split(value), true);
  else if (flag == "--repeat") cfg.repeat = static_cast<int>(to_uint(flag, value));
  else if (flag == "--segment-mib") cfg.segment_mib = to_uint(flag, value);
  else if (flag == "--io-backend") cfg.io_backend = value;
  else if (flag == "--pipeline") cfg.pipeline = static_cast<uint32_t>(to_uint(flag, value));
  else if (flag == "--prepare") cfg.prepare = to_uint(flag, value) != 0;
  else bad_usage("unknown flag " + flag);
}

void resolve_defaults(Config& cfg) {
  if (cfg.batch == 0) cfg.batch = cfg.workload == "append-batch" ? 10 : 1;
  if (cfg.durability.empty()) cfg.durability = cfg.appends() ? "sync" : "none";
  if (cfg.compare && !contains(cfg.backends, "cairn")) cfg.backends.insert(cfg.backends.begin(), "cairn");
}

void validate(const Config& cfg) {
  if (!contains(kWorkloads, cfg.workload)) bad_usage("unknown workload " + cfg.workload);
  if (cfg.writers < 1) bad_usage("--writers must be at least 1");
  if (cfg.streams < static_cast<uint32_t>(cfg.writers)) bad_usage("--streams must be at least --writers");
  if (cfg.batch < 1) bad_usage("--batch must be at least 1");
  if (cfg.repeat < 1) bad_usage("--repeat must be at least 1");
  if (!contains({"sync", "batch", "none"}, cfg.durability)) bad_usage("unknown durability " + cfg.durability);
  if (!contains({"auto", "io_uring", "pwrite"}, cfg.io_backend)) bad_usage("unknown io backend " + cfg.io_backend);
  if (cfg.pipeline < 1 || cfg.pipeline > 16) bad_usage("--pipeline must be 1 to 16");
  if (cfg.segment_mib < 1) bad_usage("--segment-mib must be at least 1");
  if (cfg.backends.empty()) bad_usage("no backend named");
  for (const auto& b : cfg.backends)
    if (!contains(backend_names(), b)) bad_usage("backend " + b + " is not built in (built in: " + join(backend_names(), ", ") + ")");
}

Config parse_args(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (flag == "--json") {
      cfg.json = true;
      continue;
    }
    std::string value;
    if (size_t eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      bad_usage(flag + " needs a value");
    }
    apply_flag(cfg, flag, value);
  }
  resolve_defaults(cfg);
  validate(cfg);
  return cfg;
}

Durability durability_of(const std::string& name) {
  if (name == "batch") return Durability::kBatch;
  if (name == "none") return Durability::kNone;
  return Durability::kSync;
}

cairn::IoBackend io_backend_of(const std::string& name) {
  if (name == "io_uring") return cairn::IoBackend::kIoUring;
  if (name == "pwrite") return cairn::IoBackend::kPwrite;
  return cairn::IoBackend::kAuto;
}

// ---- events ------------------------------------------------------------------

// splitmix64: cheap enough for ids in the hot loop. Seeded from the OS, so
// that no two threads (or runs) share a sequence: ids must never repeat.
struct Rng {
  uint64_t state;
  Rng() {
    std::random_device rd;
    state = (uint64_t{rd()} << 32) ^ rd();
  }
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
};

std::string stream_name(uint32_t n) { return "Order-" + std::to_string(n); }

// Event bodies: a fixed pseudo-random template (base64 alphabet, so that no
// peer can compress it away) with (stream, version) stamped at the front,
// so that readers can check every byte they get back.
class EventMaker {
 public:
  explicit EventMaker(size_t data_bytes) : data_(data_bytes, ' '), metadata_(kMetadataBytes, ' ') {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Rng rng;
    for (char& c : data_) c = kAlphabet[rng.below(64)];
    for (char& c : metadata_) c = kAlphabet[rng.below(64)];
  }

  size_t payload_bytes() const { return data_.size() + metadata_.size(); }

  std::vector<BenchEvent> batch(size_t n) const {
    return std::vector<BenchEvent>(n, BenchEvent{std::string(16, '\0'), kEventType, data_, metadata_});
  }

  // Fresh random ids; event i is stamped as version first_version + i of `stream`.
  void fill(std::vector<BenchEvent>& batch, uint32_t stream, uint64_t first_version, Rng& rng) const {
    for (size_t i = 0; i < batch.size(); ++i) {
      uint64_t id[2] = {rng.next(), rng.next()};
      std::memcpy(batch[i].id.data(), id, sizeof id);
      stamp(&batch[i].data, stream, first_version + i);
    }
  }

  // Whether `e` holds exactly the bytes written as `version` of `stream`.
  bool matches(const ReadEvent& e, uint32_t stream, uint64_t version) const {
    if (e.version != version || e.data.size() != data_.size() || e.metadata != metadata_ || e.type != kEventType)
      return false;
    char expected[kStampBytes];
    size_t n = std::min(kStampBytes, data_.size());
    stamp_bytes(expected, stream, version);
    return std::memcmp(e.data.data(), expected, n) == 0 &&
           std::memcmp(e.data.data() + n, data_.data() + n, data_.size() - n) == 0;
  }

  // Whether `e` holds the bytes of some stream's event at its own version.
  bool matches_any_stream(const ReadEvent& e) const {
    uint32_t stream = 0;
    if (e.data.size() >= sizeof stream) std::memcpy(&stream, e.data.data(), sizeof stream);
    return matches(e, stream, e.version);
  }

 private:
  static void stamp_bytes(char* bytes, uint32_t stream, uint64_t version) {
    std::memcpy(bytes, &stream, 4);
    std::memcpy(bytes + 4, &version, 8);
  }
  static void stamp(std::string* data, uint32_t stream, uint64_t version) {
    char bytes[kStampBytes];
    stamp_bytes(bytes, stream, version);
    std::memcpy(data->data(), bytes, std::min(kStampBytes, data->size()));
  }

  std::string data_;
  std::string metadata_;
};

bool is_conflict(const std::string& error) {
  std::string lower = error;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("wrongexpectedversion") != std::string::npos ||
         lower.find("wrong expected version") != std::string::npos;
}

// ---- the schedule: warm-up, measured phase, stop ----------------------------

enum class Phase : int { kWarmup, kMeasure, kStop };

// Shared by the load threads (which ask before each operation what it counts
// as) and the main thread (which waits for the phases, to take snapshots).
// Timed: warm-up seconds, then measured seconds. Counted: warm-up events,
// then measured events, decided by the events claimed so far.
class Schedule {
 public:
  static Schedule timed(double warmup_s, double measure_s) { return Schedule(warmup_s, measure_s, 0, 0); }
  static Schedule counted(uint64_t warmup_events, uint64_t events) {
    return Schedule(0, 0, warmup_events, events);
  }
  void start() { t0_ = Clock::now(); }

  // What the next operation of `n` events belongs to.
  Phase claim(uint64_t n) {
    Phase p = now();
    if (events_ == 0 || p == Phase::kStop) return p;
    uint64_t c = claimed_.fetch_add(n, std::memory_order_relaxed);
    Phase by_count = c < warmup_events_ ? Phase::kWarmup : c < warmup_events_ + events_ ? Phase::kMeasure : Phase::kStop;
    if (by_count > p) raise(by_count);
    return by_count;
  }

  Phase now() const { return static_cast<Phase>(state_.load(std::memory_order_acquire)); }
  void abort() { raise(Phase::kStop); }

  // The main thread: returns once `p` has begun (timed: begins it on time).
  void wait_for(Phase p) {
    std::unique_lock lock(mu_);
    auto reached = [&] { return state_.load() >= static_cast<int>(p); };
    if (events_ > 0) {
      cv_.wait(lock, reached);
      return;
    }
    double at = p == Phase::kMeasure ? warmup_s_ : warmup_s_ + measure_s_;
    auto deadline = t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
    cv_.wait_until(lock, deadline, reached);
    if (!reached()) state_.store(static_cast<int>(p));
  }

 private:
  Schedule(double warmup_s, double measure_s, uint64_t warmup_events, uint64_t events)
      : warmup_s_(warmup_s), measure_s_(measure_s), warmup_events_(warmup_events), events_(events) {}

  void raise(Phase p) {
    std::lock_guard lock(mu_);
    if (state_.load() < static_cast<int>(p)) state_.store(static_cast<int>(p));
    cv_.notify_all();
  }

  const double warmup_s_, measure_s_;
  const uint64_t warmup_events_, events_;
  Clock::time_point t0_ = Clock::now();
  std::atomic<int> state_{static_cast<int>(Phase::kWarmup)};
  std::atomic<uint64_t> claimed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// ---- what the load threads share and record ---------------------------------

// One load thread's measured operations.
struct Tally {
  LatencyHistogram latency_ns;
  uint64_t ops = 0;
  uint64_t events = 0;
  Clock::time_point first = Clock::time_point::max();  // earliest submit
  Clock::time_point last = Clock::time_point::min();   // latest completion

  void add(Clock::time_point t0, Clock::time_point t1, uint64_t n) {
    latency_ns.record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    ++ops;
    events += n;
    first = std::min(first, t0);
    last = std::max(last, t1);
  }
  void merge(const Tally& o) {
    latency_ns.merge(o.latency_ns);
    ops += o.ops;
    events += o.events;
    first = std::min(first, o.first);
    last = std::max(last, o.last);
  }
  double seconds() const { return ops == 0 ? 0 : std::chrono::duration<double>(last - first).count(); }
};

// The first error of a run; setting it stops the run.
class Failure {
 public:
  void set(const std::string& error) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = error.empty() ? "unknown error" : error;
  }
  std::string get() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  mutable std::mutex mu_;
  std::string error_;
};

struct Load {
  Backend& backend;
  const Config& cfg;
  const EventMaker& maker;
  Schedule& schedule;
  Failure failure;
  std::atomic<uint64_t> conflicts{0};
  int64_t start_version = -1;  // every stream's last version when the load starts (-1: none)

  void fail(const std::string& error) {
    failure.set(error);
    schedule.abort();
  }
};

// The streams writer t of w owns (n % w == t) and the version each is at.
class OwnStreams {
 public:
  OwnStreams(uint32_t t, uint32_t w, uint32_t streams, int64_t version)
      : t_(t), w_(w), versions_((streams - t + w - 1) / w, version) {}
  size_t pick(Rng& rng) const { return rng.below(static_cast<uint32_t>(versions_.size())); }
  uint32_t stream(size_t j) const { return t_ + static_cast<uint32_t>(j) * w_; }
  int64_t version(size_t j) const { return versions_[j]; }
  void advance(size_t j, size_t n) { versions_[j] += static_cast<int64_t>(n); }

 private:
  uint32_t t_, w_;
  std::vector<int64_t> versions_;
};

// Waits until fewer than `limit` operations are pending.
void wait_below(std::atomic<uint32_t>& pending, uint32_t limit) {
  for (uint32_t p; (p = pending.load(std::memory_order_acquire)) >= limit;) pending.wait(p);
}

void wait_drained(std::atomic<uint32_t>& pending) { wait_below(pending, 1); }

// ---- writers -------------------------------------------------------------------

// One append at a time, timed from the call to its return.
void sync_writer(Load& load, int t, Tally& tally) {
  const Config& cfg = load.cfg;
  OwnStreams own(t, cfg.writers, cfg.streams, load.start_version);
  Rng rng;
  std::vector<BenchEvent> batch = load.maker.batch(cfg.batch);
  std::string error;
  for (Phase phase; (phase = load.schedule.claim(batch.size())) != Phase::kStop;) {
    size_t j = own.pick(rng);
    load.maker.fill(batch, own.stream(j), own.version(j) + 1, rng);
    auto t0 = Clock::now();
    bool ok = load.backend.append(stream_name(own.stream(j)), own.version(j), batch, &error);
    auto t1 = Clock::now();
    if (ok) {
      own.advance(j, batch.size());
      if (phase == Phase::kMeasure) tally.add(t0, t1, batch.size());
    } else if (is_conflict(error)) {
      load.conflicts.fetch_add(1);
    } else {
      load.fail(error);
    }
  }
}

// Keeps cfg.inflight appends in flight (append_async), each timed from the
// call to its callback. Expected versions count the appends still in flight.
void async_writer(Load& load, int t, Tally& tally) {
  const Config& cfg = load.cfg;
  OwnStreams own(t, cfg.writers, cfg.streams, load.start_version);
  Rng rng;
  std::vector<BenchEvent> batch = load.maker.batch(cfg.batch);
  std::mutex tally_mu;
  std::atomic<uint32_t> pending{0};
  for (Phase phase; (phase = load.schedule.claim(batch.size())) != Phase::kStop;) {
    wait_below(pending, cfg.inflight);
    size_t j = own.pick(rng);
    load.maker.fill(batch, own.stream(j), own.version(j) + 1, rng);
    pending.fetch_add(1);
    auto t0 = Clock::now();
    bool measured = phase == Phase::kMeasure;
    size_t n = batch.size();
    load.backend.append_async(stream_name(own.stream(j)), own.version(j), batch,
                              [&, t0, measured, n](bool ok, const std::string& error) {
                                auto t1 = Clock::now();
                                if (ok && measured) {
                                  std::lock_guard lock(tally_mu);
                                  tally.add(t0, t1, n);
                                } else if (!ok && is_conflict(error)) {
                                  load.conflicts.fetch_add(1);
                                } else if (!ok) {
                                  load.fail(error);
                                }
                                pending.fetch_sub(1, std::memory_order_release);
                                pending.notify_one();
                              });
    own.advance(j, n);
  }
  wait_drained(pending);
}

// ---- readers -------------------------------------------------------------------

// Checks a whole-stream read: versions 0.. in order, every byte as written.
bool check_stream(const EventMaker& maker, const std::vector<ReadEvent>& events, uint32_t stream,
                  size_t min_count, std::string* error) {
  if (events.size() < min_count) {
    *error = stream_name(stream) + ": read " + std::to_string(events.size()) + " events, expected at least " +
             std::to_string(min_count);
    return false;
  }
  for (size_t v = 0; v < events.size(); ++v) {
    if (!maker.matches(events[v], stream, v)) {
      *error = stream_name(stream) + "@" + std::to_string(v) + ": wrong event read back";
      return false;
    }
  }
  return true;
}

// Reads random whole streams (from version 0, up to max_count events).
void stream_reader(Load& load, uint32_t streams, size_t max_count, size_t min_count, Tally& tally) {
  Rng rng;
  std::vector<ReadEvent> events;
  std::string error;
  for (Phase phase; (phase = load.schedule.now()) != Phase::kStop;) {
    uint32_t n = rng.below(streams);
    auto t0 = Clock::now();
    bool ok = load.backend.read_stream(stream_name(n), 0, max_count, &events, &error);
    auto t1 = Clock::now();
    if (!ok || !check_stream(load.maker, events, n, min_count, &error)) return load.fail(error);
    if (phase == Phase::kMeasure) tally.add(t0, t1, events.size());
  }
}

// Reads one page of read_all at `pos` and checks it.
bool read_page(Load& load, uint64_t pos, std::vector<ReadEvent>* page, std::string* error) {
  if (!load.backend.read_all(pos, kReadPage, page, error)) return false;
  if (page->empty()) {
    *error = "read_all ended early, at position " + std::to_string(pos);
    return false;
  }
  for (size_t i = 0; i < page->size(); ++i) {
    const ReadEvent& e = (*page)[i];
    if (e.position != pos + i || !load.maker.matches_any_stream(e)) {
      *error = "read_all: wrong event at position " + std::to_string(pos + i);
      return false;
    }
  }
  return true;
}

// Scans all `total` events in pages of kReadPage, over and over.
void all_reader(Load& load, uint64_t total, Tally& tally) {
  std::vector<ReadEvent> page;
  std::string error;
  while (load.schedule.now() != Phase::kStop) {
    for (uint64_t pos = 0; pos < total;) {
      Phase phase = load.schedule.now();
      if (phase == Phase::kStop) return;
      auto t0 = Clock::now();
      if (!read_page(load, pos, &page, &error)) return load.fail(error);
      auto t1 = Clock::now();
      if (phase == Phase::kMeasure) tally.add(t0, t1, page.size());
      pos += page.size();
    }
  }
}

// ---- prefill -------------------------------------------------------------------

// Thread t of `threads`: writes `per_stream` events to each of its streams
// (n % threads == t), in rounds of one batch of up to 10 per stream, so that
// every stream's events are spread over the log as in a real store.
void prefill_thread(Backend& backend, const EventMaker& maker, uint32_t streams, uint32_t per_stream, int threads,
                    int t, Failure& failure) {
  Rng rng;
  std::atomic<uint32_t> pending{0};
  for (uint32_t done = 0; done < per_stream && failure.get().empty(); done += 10) {
    std::vector<BenchEvent> batch = maker.batch(std::min<uint32_t>(10, per_stream - done));
    for (uint32_t n = t; n < streams; n += threads) {
      wait_below(pending, kPrefillInFlight);
      maker.fill(batch, n, done, rng);
      pending.fetch_add(1);
      backend.append_async(stream_name(n), static_cast<int64_t>(done) - 1, batch,
                           [&](bool ok, const std::string& error) {
                             if (!ok) failure.set("prefill: " + error);
                             pending.fetch_sub(1, std::memory_order_release);
                             pending.notify_one();
                           });
    }
  }
  wait_drained(pending);
}

bool prefill(Backend& backend, const EventMaker& maker, uint32_t streams, uint32_t per_stream, int threads,
             std::string* error) {
  Failure failure;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(prefill_thread, std::ref(backend), std::cref(maker), streams, per_stream, threads, t,
                      std::ref(failure));
  for (auto& th : pool) th.join();
  *error = failure.get();
  return error->empty();
}

// ---- one repetition ------------------------------------------------------------

// One repetition's figures. Every field is a number so that medians can be
// taken field by field (kFields below).
struct Run {
  double events = 0, ops = 0, seconds = 0, events_per_s = 0, ops_per_s = 0, mb_per_s = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double conflicts = 0, rss_mb = 0;
  double read_ops_per_s = 0, read_events_per_s = 0, read_p50_us = 0, read_p99_us = 0;  // mixed: the reader
  double open_ms = 0, empty_open_ms = 0;                                                 // open
  double raw_p50_us = 0, raw_p99_us = 0, raw_ops_per_s = 0, raw_mb_per_s = 0;
  double x_bound = 0, p50_ratio = 0, mb_ratio = 0;  // vs the raw limits of the same repetition
  // Cairn's StoreStats over the measured phase.
  double events_per_sync = 0, group_events_p50 = 0, group_events_max = 0;
  double sync_p50_us = 0, sync_p99_us = 0, queue_p50_us = 0, queue_p99_us = 0;
  double fill_mb = 0;  // Cairn: filler written to reach the steady state
};

struct Field {
  const char* name;
  double Run::*member;
};

const Field kFields[] = {
    {"events", &Run::events}, {"ops", &Run::ops}, {"seconds", &Run::seconds},
    {"events_per_s", &Run::events_per_s}, {"ops_per_s", &Run::ops_per_s}, {"mb_per_s", &Run::mb_per_s},
    {"p50_us", &Run::p50_us}, {"p90_us", &Run::p90_us}, {"p99_us", &Run::p99_us}, {"p999_us", &Run::p999_us},
    {"max_us", &Run::max_us}, {"conflicts", &Run::conflicts}, {"rss_mb", &Run::rss_mb},
    {"read_ops_per_s", &Run::read_ops_per_s}, {"read_events_per_s", &Run::read_events_per_s},
    {"read_p50_us", &Run::read_p50_us}, {"read_p99_us", &Run::read_p99_us}, {"open_ms", &Run::open_ms},
    {"empty_open_ms", &Run::empty_open_ms}, {"raw_fdatasync_p50_us", &Run::raw_p50_us},
    {"raw_fdatasync_p99_us", &Run::raw_p99_us}, {"raw_fdatasync_ops_per_s", &Run::raw_ops_per_s},
    {"raw_write_mb_per_s", &Run::raw_mb_per_s}, {"x_bound", &Run::x_bound}, {"p50_ratio", &Run::p50_ratio},
    {"mb_ratio", &Run::mb_ratio}, {"events_per_fdatasync", &Run::events_per_sync},
    {"group_events_p50", &Run::group_events_p50}, {"group_events_max", &Run::group_events_max},
    {"sync_p50_us", &Run::sync_p50_us}, {"sync_p99_us", &Run::sync_p99_us}, {"queue_p50_us", &Run::queue_p50_us},
    {"queue_p99_us", &Run::queue_p99_us}, {"fill_mb", &Run::fill_mb},
};

// A repetition's result: figures, or the error that stopped it.
struct Outcome {
  Run run;
  std::string io_backend;  // Cairn's, from StoreStats
  std::string error;
};

double rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024;
  return 0;
}

std::unique_ptr<Backend> open_for_run(const Config& cfg, const std::string& name, const std::string& dir,
                                      std::string* error) {
  BackendOptions options{dir, durability_of(cfg.durability)};
  if (name != "cairn") return open_backend(name, options, error);
  CairnTuning tuning{cfg.segment_mib << 20, io_backend_of(cfg.io_backend), cfg.pipeline, cfg.prepare};
  return open_cairn(options, tuning, error);
}

void set_latency(Run& r, const Tally& t) {
  r.ops = static_cast<double>(t.ops);
  r.events = static_cast<double>(t.events);
  r.seconds = t.seconds();
  r.ops_per_s = r.seconds > 0 ? r.ops / r.seconds : 0;
  r.events_per_s = r.seconds > 0 ? r.events / r.seconds : 0;
  r.p50_us = t.latency_ns.percentile(50) / 1e3;
  r.p90_us = t.latency_ns.percentile(90) / 1e3;
  r.p99_us = t.latency_ns.percentile(99) / 1e3;
  r.p999_us = t.latency_ns.percentile(99.9) / 1e3;
  r.max_us = static_cast<double>(t.latency_ns.max()) / 1e3;
}

void set_cairn_stats(Outcome& out, const cairn::StoreStats& before, const cairn::StoreStats& after) {
  Run& r = out.run;
  out.io_backend = after.io_backend;
  uint64_t syncs = after.syncs - before.syncs;
  r.events_per_sync = syncs > 0 ? static_cast<double>(after.events - before.events) / syncs : 0;
  auto group = LatencyHistogram::difference(after.group_events, before.group_events);
  r.group_events_p50 = group.percentile(50);
  r.group_events_max = static_cast<double>(group.max());
  auto sync = LatencyHistogram::difference(after.sync_latency_ns, before.sync_latency_ns);
  r.sync_p50_us = sync.percentile(50) / 1e3;
  r.sync_p99_us = sync.percentile(99) / 1e3;
  auto queue = LatencyHistogram::difference(after.queue_wait_ns, before.queue_wait_ns);
  r.queue_p50_us = queue.percentile(50) / 1e3;
  r.queue_p99_us = queue.percentile(99) / 1e3;
}

// Runs the load threads; the main thread takes Cairn's stats when the
// measured phase begins and ends, and the resident memory at the end.
template <class Body>
void drive(Load& load, int threads, Body body, Outcome& out) {
  cairn::Store* store = cairn_store(load.backend);
  load.schedule.start();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
  load.schedule.wait_for(Phase::kMeasure);
  cairn::StoreStats before = store ? store->stats() : cairn::StoreStats{};
  load.schedule.wait_for(Phase::kStop);
  out.run.rss_mb = rss_mb();
  for (auto& th : pool) th.join();
  if (store) set_cairn_stats(out, before, store->stats());
  out.error = load.failure.get();
  out.run.conflicts = static_cast<double>(load.conflicts.load());
}

Schedule schedule_for(const Config& cfg, bool counted) {
  if (counted && cfg.events > 0) return Schedule::counted(cfg.events / 10, cfg.events);
  return Schedule::timed(cfg.warmup_seconds(), cfg.duration);
}

Tally merged(const std::vector<Tally>& tallies) {
  Tally all;
  for (const Tally& t : tallies) all.merge(t);
  return all;
}

// append-durable, append-batch, and mixed (plus one stream reader).
Outcome run_appends(Backend& backend, const Config& cfg) {
  Outcome out;
  EventMaker maker(cfg.event_size);
  bool mixed = cfg.workload == "mixed";
  if (mixed && !prefill(backend, maker, cfg.streams, 10, cfg.writers, &out.error)) return out;
  uint64_t filled = 0;
  if (cairn_store(backend) && !warm_past_first_roll(backend, cfg.event_size, &filled, &out.error)) return out;
  out.run.fill_mb = static_cast<double>(filled) / 1e6;
  Schedule schedule = schedule_for(cfg, true);
  Load load{backend, cfg, maker, schedule};
  load.start_version = mixed ? 9 : -1;
  std::vector<Tally> writers(cfg.writers);
  Tally reader;
  drive(load, cfg.writers + (mixed ? 1 : 0),
        [&](int t) {
          if (t == cfg.writers) return stream_reader(load, cfg.streams, 1000, 10, reader);
          cfg.async() ? async_writer(load, t, writers[t]) : sync_writer(load, t, writers[t]);
        },
        out);
  set_latency(out.run, merged(writers));
  if (mixed) {
    double s = reader.seconds();
    out.run.read_ops_per_s = s > 0 ? reader.ops / s : 0;
    out.run.read_events_per_s = s > 0 ? reader.events / s : 0;
    out.run.read_p50_us = reader.latency_ns.percentile(50) / 1e3;
    out.run.read_p99_us = reader.latency_ns.percentile(99) / 1e3;
  }
  return out;
}

uint32_t store_streams(const Config& cfg) {
  uint64_t events = cfg.events > 0 ? cfg.events : kDefaultStoreEvents;
  return static_cast<uint32_t>(std::max<uint64_t>(1, events / 100));
}

// read-stream and read-all over a store of streams of 100 events.
Outcome run_reads(Backend& backend, const Config& cfg) {
  Outcome out;
  EventMaker maker(cfg.event_size);
  uint32_t streams = store_streams(cfg);
  if (!prefill(backend, maker, streams, 100, cfg.writers, &out.error)) return out;
  Schedule schedule = schedule_for(cfg, false);
  Load load{backend, cfg, maker, schedule};
  std::vector<Tally> readers(cfg.writers);
  bool whole_streams = cfg.workload == "read-stream";
  drive(load, cfg.writers,
        [&](int t) {
          if (whole_streams) return stream_reader(load, streams, 100, 100, readers[t]);
          all_reader(load, uint64_t{streams} * 100, readers[t]);
        },
        out);
  set_latency(out.run, merged(readers));
  return out;
}

// Times opening the backend in `dir`; the store is checked to hold `events`.
bool time_open(const Config& cfg, const std::string& name, const std::string& dir, uint64_t events, double* ms,
               std::string* error) {
  auto t0 = Clock::now();
  auto backend = open_for_run(cfg, name, dir, error);
  *ms = seconds_since(t0) * 1e3;
  if (!backend) return false;
  std::vector<ReadEvent> page;
  bool ok = backend->read_all(events > 0 ? events - 1 : 0, 2, &page, error);
  if (ok && page.size() != (events > 0 ? 1u : 0u)) {
    *error = "reopened store holds the wrong number of events";
    ok = false;
  }
  backend->close();
  return ok;
}

// Writes a store of `events` (streams of 100) in `dir` and closes it; with
// events == 0, an empty store.
bool make_store(const Config& cfg, const std::string& name, const std::string& dir, uint32_t streams,
                uint32_t per_stream, std::string* error) {
  auto backend = open_for_run(cfg, name, dir, error);
  if (!backend) return false;
  EventMaker maker(cfg.event_size);
  bool ok = per_stream == 0 || prefill(*backend, maker, streams, per_stream, cfg.writers, error);
  backend->close();
  return ok;
}

// open: close a full store and time opening it again; the same for an empty one.
Outcome run_open(const Config& cfg, const std::string& name, const std::string& dir) {
  Outcome out;
  uint32_t streams = store_streams(cfg);
  uint64_t events = uint64_t{streams} * 100;
  Run& r = out.run;
  if (!make_store(cfg, name, dir + "/full", streams, 100, &out.error) ||
      !make_store(cfg, name, dir + "/empty", 0, 0, &out.error) ||
      !time_open(cfg, name, dir + "/full", events, &r.open_ms, &out.error) ||
      !time_open(cfg, name, dir + "/empty", 0, &r.empty_open_ms, &out.error))
    return out;
  r.rss_mb = rss_mb();
  r.events = static_cast<double>(events);
  r.seconds = r.open_ms / 1e3;
  r.events_per_s = r.seconds > 0 ? r.events / r.seconds : 0;
  r.p50_us = r.p90_us = r.p99_us = r.p999_us = r.max_us = r.open_ms * 1e3;
  return out;
}

void set_ratios(Run& r, const RawLimits& raw, const Config& cfg, size_t payload_bytes) {
  r.raw_p50_us = raw.fdatasync_p50_us;
  r.raw_p99_us = raw.fdatasync_p99_us;
  r.raw_ops_per_s = raw.fdatasync_ops_per_s;
  r.raw_mb_per_s = raw.write_mb_per_s;
  r.mb_per_s = r.seconds > 0 ? r.events * static_cast<double>(payload_bytes) / r.seconds / 1e6 : 0;
  r.mb_ratio = raw.write_mb_per_s > 0 ? r.mb_per_s / raw.write_mb_per_s : 0;
  if (!cfg.appends() || raw.fdatasync_p50_us <= 0) return;
  r.x_bound = r.ops_per_s / (cfg.writers * 1e6 / raw.fdatasync_p50_us);
  r.p50_ratio = r.p50_us / raw.fdatasync_p50_us;
}

// One repetition on one backend in a fresh directory under `root`, after
// measuring the raw limits on the same disk.
Outcome run_once(const Config& cfg, const std::string& name, const std::string& root, int rep) {
  RawLimits raw = measure_raw_limits(root, cfg.event_size + kRawFramingBytes);
  std::string dir = root + "/" + name + "-" + std::to_string(rep);
  Outcome out;
  if (cfg.workload == "open") {
    out = run_open(cfg, name, dir);
  } else {
    auto backend = open_for_run(cfg, name, dir, &out.error);
    if (backend) {
      out = cfg.appends() ? run_appends(*backend, cfg) : run_reads(*backend, cfg);
      backend->close();
    }
  }
  set_ratios(out.run, raw, cfg, EventMaker(cfg.event_size).payload_bytes());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return out;
}

// ---- medians and reports -------------------------------------------------------

// All repetitions of one backend.
struct Series {
  std::string backend;
  std::vector<Outcome> reps;
  std::string io_backend;
  std::string error;  // the first failed repetition's
  Run median;
};

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void summarize_series(Series& s) {
  std::vector<const Run*> ok;
  for (const Outcome& o : s.reps) {
    if (!o.error.empty() && s.error.empty()) s.error = o.error;
    if (o.error.empty()) ok.push_back(&o.run);
    if (!o.io_backend.empty()) s.io_backend = o.io_backend;
  }
  for (const Field& f : kFields) {
    std::vector<double> v;
    for (const Run* r : ok) v.push_back(r->*f.member);
    s.median.*f.member = median_of(v);
  }
}

struct Context {  // what every report line states
  Machine machine;
  std::string dir;
};

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 3 significant digits for ratios, whole numbers for rates.
std::string ratio(double v) { return v == 0 ? "-" : v < 10 ? fmt("%.2f", v) : fmt("%.1f", v); }
std::string num(double v) { return v >= 100 ? fmt("%.0f", v) : fmt("%.1f", v); }

// What ran and for how long, as the first line of the report says it.
std::string load_text(const Config& cfg) {
  std::string events = std::to_string(uint64_t{store_streams(cfg)} * 100);
  if (cfg.workload == "open")
    return "store of " + events + " events (streams of 100, written in batches of 10), closed, then opened (warm "
           "page cache); empty: a store with no events";
  std::string text = std::to_string(cfg.writers) + (cfg.appends() ? " writer(s)" : " reader(s)");
  if (cfg.appends())
    text += " | batch " + std::to_string(cfg.batch) + " | inflight " + std::to_string(cfg.inflight) + " | " +
            std::to_string(cfg.streams) + " streams";
  else
    text += " | store of " + events + " events in streams of 100";
  if (cfg.events > 0 && cfg.appends())
    return text + " | " + std::to_string(cfg.events) + " events measured after " + std::to_string(cfg.events / 10) +
           " of warm-up";
  return text + " | " + fmt("%.1f", cfg.duration) + " s measured after " + fmt("%.1f", cfg.warmup_seconds()) +
         " s of warm-up";
}

void print_header(FILE* out, const Config& cfg, const Context& ctx) {
  const Machine& m = ctx.machine;
  std::fprintf(out, "cairn-bench %s | durability %s | event %zu B data + %zu B metadata + 16 B id | %s | median of %d\n",
               cfg.workload.c_str(), cfg.durability.c_str(), cfg.event_size, kMetadataBytes, load_text(cfg).c_str(),
               cfg.repeat);
  std::fprintf(out, "disk: dir %s | %s on %s (write_cache %s, fua %s) | kernel %s | %u CPUs\n", ctx.dir.c_str(),
               m.fs_type.c_str(), m.device.c_str(), m.write_cache.c_str(), m.fua.c_str(), m.kernel.c_str(), m.cpus);
  std::fprintf(out, "raw limits, before each repetition on that disk: %zu B pwrite + fdatasync in a pre-zeroed file; "
               "1 MiB buffered pwrite + fdatasync each into a pre-zeroed file\n",
               cfg.event_size + kRawFramingBytes);
  if (contains(cfg.backends, "cairn"))
    std::fprintf(out, "cairn: segments %" PRIu64 " MiB, io %s, pipeline %u, prepared segments %s%s\n",
                 cfg.segment_mib, cfg.io_backend.c_str(), cfg.pipeline, cfg.prepare ? "on" : "off",
                 cfg.appends() ? "; steady state: measured after the first segment roll (filler written with "
                                 "durability none beforehand)"
                               : "");
  if (cfg.workload == "mixed")
    std::fprintf(out, "mixed: the writers plus 1 reader of random whole streams (up to 1000 events); "
                 "subscriptions: not measured (Cairn has no subscriptions yet)\n");
  const char* per = cfg.appends() ? "append, call to acknowledgement"
                    : cfg.workload == "read-stream" ? "read of a whole stream of 100 events"
                    : cfg.workload == "read-all" ? "read_all page of 4096 events" : "open";
  std::fprintf(out, "ops = %s; latency per %s; MB/s = event data + metadata; xW/raw = ops/s / (W / raw fdatasync "
               "p50); p50/raw = p50 / raw fdatasync p50; MB/raw = MB/s / raw write MB/s\n",
               cfg.appends() ? "appends" : cfg.workload == "open" ? "opens" : "reads", per);
}

void print_columns(FILE* out, const Config& cfg) {
  if (cfg.workload == "open") {
    std::fprintf(out, "\n%-8s %-6s %9s %9s %10s %12s %9s %9s %7s %8s %7s\n", "backend", "dur", "events", "open ms",
                 "empty ms", "events/s", "raw p50", "raw MB/s", "MB/raw", "x cairn", "rss MB");
    return;
  }
  std::fprintf(out, "\n%-8s %-14s %-5s %3s %6s %5s %5s %10s %10s %8s %8s %8s %8s %8s %8s | %8s %8s | %6s %7s %6s | "
               "%7s %7s %5s %-6s %s\n",
               "backend", "workload", "dur", "W", "size", "batch", "infl", "events/s", "ops/s", "MB/s", "p50 us",
               "p90 us", "p99 us", "p999 us", "max us", "raw p50", "raw MB/s", "xW/raw", "p50/raw", "MB/raw",
               "x cairn", "rss MB", "confl", "disk", "events/s range");
}

std::string range_of(const Series& s) {
  double lo = 0, hi = 0;
  bool first = true;
  for (const Outcome& o : s.reps) {
    if (!o.error.empty()) continue;
    lo = first ? o.run.events_per_s : std::min(lo, o.run.events_per_s);
    hi = first ? o.run.events_per_s : std::max(hi, o.run.events_per_s);
    first = false;
  }
  return first ? "-" : num(lo) + ".." + num(hi);
}

void print_row(FILE* out, const Config& cfg, const Context& ctx, const Series& s, double cairn_rate) {
  const Run& r = s.median;
  std::string vs = cairn_rate > 0 ? ratio(r.events_per_s / cairn_rate) : "-";
  if (cfg.workload == "open") {
    std::fprintf(out, "%-8s %-6s %9.0f %9.1f %10.2f %12.0f %9.1f %9.0f %7s %8s %7.0f\n", s.backend.c_str(),
                 cfg.durability.c_str(), r.events, r.open_ms, r.empty_open_ms, r.events_per_s, r.raw_p50_us,
                 r.raw_mb_per_s, ratio(r.mb_ratio).c_str(), vs.c_str(), r.rss_mb);
    return;
  }
  std::fprintf(out, "%-8s %-14s %-5s %3d %6zu %5u %5u %10.0f %10.0f %8.1f %8s %8s %8s %8s %8s | %8.1f %8.0f | %6s %7s "
               "%6s | %7s %7.0f %5.0f %-6s %s\n",
               s.backend.c_str(), cfg.workload.c_str(), cfg.durability.c_str(), cfg.writers, cfg.event_size, cfg.batch,
               cfg.inflight, r.events_per_s, r.ops_per_s, r.mb_per_s, num(r.p50_us).c_str(), num(r.p90_us).c_str(),
               num(r.p99_us).c_str(), num(r.p999_us).c_str(), num(r.max_us).c_str(), r.raw_p50_us, r.raw_mb_per_s,
               ratio(r.x_bound).c_str(), ratio(r.p50_ratio).c_str(), ratio(r.mb_ratio).c_str(), vs.c_str(), r.rss_mb,
               r.conflicts, ctx.machine.device.c_str(), range_of(s).c_str());
}

void print_details(FILE* out, const Config& cfg, const Series& s) {
  const Run& r = s.median;
  if (!s.error.empty()) std::fprintf(out, "  %s FAILED: %s\n", s.backend.c_str(), s.error.c_str());
  if (cfg.workload == "mixed")
    std::fprintf(out, "  %s reader: %.0f streams/s, %.0f events/s, p50 %s us, p99 %s us\n", s.backend.c_str(),
                 r.read_ops_per_s, r.read_events_per_s, num(r.read_p50_us).c_str(), num(r.read_p99_us).c_str());
  if (s.backend != "cairn" || cfg.workload == "open" || !cfg.appends()) return;
  std::fprintf(out, "  cairn stats: io %s | %s events/fdatasync | group events p50 %s max %.0f | sync latency p50 %s us "
               "p99 %s us | queue wait p50 %s us p99 %s us | filler %.0f MB\n",
               s.io_backend.c_str(), ratio(r.events_per_sync).c_str(), num(r.group_events_p50).c_str(),
               r.group_events_max, num(r.sync_p50_us).c_str(), num(r.sync_p99_us).c_str(), num(r.queue_p50_us).c_str(),
               num(r.queue_p99_us).c_str(), r.fill_mb);
}

void print_table(FILE* out, const Config& cfg, const Context& ctx, const std::vector<Series>& all) {
  print_header(out, cfg, ctx);
  print_columns(out, cfg);
  double cairn_rate = 0;
  for (const Series& s : all)
    if (s.backend == "cairn") cairn_rate = s.median.events_per_s;
  for (const Series& s : all) print_row(out, cfg, ctx, s, cfg.backends.size() > 1 ? cairn_rate : 0);
  for (const Series& s : all) print_details(out, cfg, s);
  std::fflush(out);
}

// ---- JSON --------------------------------------------------------------------

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch;
  }
  return out + "\"";
}

std::string jnum(double v) { return fmt("%.6g", v); }

std::string json_object(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (const auto& [k, v] : fields) {
    if (out.size() > 1) out += ',';
    out += quoted(k);
    out += ':';
    out += v;
  }
  return out + "}";
}

std::string json_rep(const Outcome& o) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const Field& f : kFields) fields.emplace_back(f.name, jnum(o.run.*f.member));
  if (!o.error.empty()) fields.emplace_back("error", quoted(o.error));
  return json_object(fields);
}

std::string json_cairn(const Config& cfg, const Series& s) {
  const Run& r = s.median;
  return json_object({
      {"io_backend", quoted(s.io_backend)},
      {"events_per_fdatasync", jnum(r.events_per_sync)},
      {"group_events", json_object({{"p50", jnum(r.group_events_p50)}, {"max", jnum(r.group_events_max)}})},
      {"sync_latency_us", json_object({{"p50", jnum(r.sync_p50_us)}, {"p99", jnum(r.sync_p99_us)}})},
      {"queue_wait_us", json_object({{"p50", jnum(r.queue_p50_us)}, {"p99", jnum(r.queue_p99_us)}})},
      {"segment_mib", jnum(static_cast<double>(cfg.segment_mib))},
      {"io_backend_option", quoted(cfg.io_backend)},
      {"pipeline", jnum(cfg.pipeline)},
      {"prepare_segments", cfg.prepare ? "true" : "false"},
      {"steady_state", quoted(cfg.appends() ? "measured after the first segment roll" : "-")},
      {"filler_mb", jnum(r.fill_mb)},
  });
}

std::string json_series(const Config& cfg, const Context& ctx, const Series& s, double cairn_rate) {
  const Run& r = s.median;
  std::vector<std::pair<std::string, std::string>> f = {
      {"workload", quoted(cfg.workload)}, {"backend", quoted(s.backend)}, {"durability", quoted(cfg.durability)},
      {"writers", jnum(cfg.writers)}, {"streams", jnum(cfg.streams)}, {"event_size", jnum(double(cfg.event_size))},
      {"metadata_size", jnum(double(kMetadataBytes))}, {"batch", jnum(cfg.batch)}, {"inflight", jnum(cfg.inflight)},
      {"events", jnum(r.events)}, {"seconds", jnum(r.seconds)}, {"events_per_s", jnum(r.events_per_s)},
      {"ops_per_s", jnum(r.ops_per_s)}, {"mb_per_s", jnum(r.mb_per_s)},
      {"latency_us", json_object({{"p50", jnum(r.p50_us)}, {"p90", jnum(r.p90_us)}, {"p99", jnum(r.p99_us)},
                                  {"p999", jnum(r.p999_us)}, {"max", jnum(r.max_us)}})},
      {"raw", json_object({{"record_bytes", jnum(double(cfg.event_size + kRawFramingBytes))},
                           {"fdatasync_p50_us", jnum(r.raw_p50_us)}, {"fdatasync_p99_us", jnum(r.raw_p99_us)},
                           {"fdatasync_ops_per_s", jnum(r.raw_ops_per_s)}, {"write_mb_per_s", jnum(r.raw_mb_per_s)}})},
      {"ratios", json_object({{"ops_per_s_over_writers_per_raw_fdatasync", jnum(r.x_bound)},
                              {"p50_over_raw_fdatasync_p50", jnum(r.p50_ratio)},
                              {"mb_per_s_over_raw_write_mb_per_s", jnum(r.mb_ratio)},
                              {"events_per_s_over_cairn", jnum(cairn_rate > 0 ? r.events_per_s / cairn_rate : 0)}})},
      {"conflicts", jnum(r.conflicts)}, {"rss_mb", jnum(r.rss_mb)}, {"repeat", jnum(cfg.repeat)},
      {"warmup", quoted(cfg.events > 0 && cfg.appends() ? std::to_string(cfg.events / 10) + " events"
                                                          : fmt("%g s", cfg.warmup_seconds()))},
      {"dir", quoted(ctx.dir)}, {"fs", quoted(ctx.machine.fs_type)}, {"device", quoted(ctx.machine.device)},
      {"kernel", quoted(ctx.machine.kernel)}, {"cpus", jnum(ctx.machine.cpus)},
  };
  if (cfg.workload == "open") {
    f.emplace_back("open_ms", jnum(r.open_ms));
    f.emplace_back("empty_open_ms", jnum(r.empty_open_ms));
  }
  if (cfg.workload == "mixed") {
    f.emplace_back("reads", json_object({{"streams_per_s", jnum(r.read_ops_per_s)},
                                         {"events_per_s", jnum(r.read_events_per_s)},
                                         {"latency_us", json_object({{"p50", jnum(r.read_p50_us)},
                                                                     {"p99", jnum(r.read_p99_us)}})}}));
    f.emplace_back("subscriptions", quoted("not measured: Cairn has no subscriptions yet"));
  }
  if (s.backend == "cairn" && cfg.appends()) {
    f.emplace_back("events_per_fdatasync", jnum(r.events_per_sync));
    f.emplace_back("cairn", json_cairn(cfg, s));
  }
  if (!s.error.empty()) f.emplace_back("error", quoted(s.error));
  std::string reps = "[";
  for (const Outcome& o : s.reps) {
    if (reps.size() > 1) reps += ',';
    reps += json_rep(o);
  }
  f.emplace_back("repetitions", reps + "]");
  return json_object(f);
}

void print_json(const Config& cfg, const Context& ctx, const std::vector<Series>& all) {
  double cairn_rate = 0;
  for (const Series& s : all)
    if (s.backend == "cairn" && all.size() > 1) cairn_rate = s.median.events_per_s;
  for (const Series& s : all) std::printf("%s\n", json_series(cfg, ctx, s, cairn_rate).c_str());
  std::fflush(stdout);
}

// ---- main ------------------------------------------------------------------------

std::string g_own_dir;  // removed at exit, also on failure
void remove_own_dir() {
  std::error_code ec;
  if (!g_own_dir.empty()) fs::remove_all(g_own_dir, ec);
}

std::string make_dir(const Config& cfg) {
  if (!cfg.own_dir) {
    fs::create_directories(cfg.dir);
    return fs::absolute(cfg.dir).string();
  }
  std::string templ = (fs::current_path() / "cairn-bench-XXXXXX").string();
  if (!::mkdtemp(templ.data())) die("mkdtemp");
  g_own_dir = templ;
  std::atexit(remove_own_dir);
  return templ;
}

void print_progress(const Config& cfg, const std::string& backend, int rep, const Outcome& o) {
  const Run& r = o.run;
  std::fprintf(stderr, "  rep %d/%d %-8s raw fdatasync p50 %.1f us p99 %.1f us, raw write %.0f MB/s | %.0f events/s, "
               "p50 %s us, p99 %s us%s%s\n",
               rep + 1, cfg.repeat, backend.c_str(), r.raw_p50_us, r.raw_p99_us, r.raw_mb_per_s, r.events_per_s,
               num(r.p50_us).c_str(), num(r.p99_us).c_str(), o.error.empty() ? "" : " | FAILED: ", o.error.c_str());
}

int run_main(int argc, char** argv) {
  Config cfg = parse_args(argc, argv);
  Context ctx;
  ctx.dir = make_dir(cfg);
  ctx.machine = probe(ctx.dir);
  std::vector<Series> all;
  for (const auto& name : cfg.backends) all.push_back(Series{name, {}, {}, {}, {}});
  // Backends interleave within each repetition, so drift hits them alike.
  for (int rep = 0; rep < cfg.repeat; ++rep) {
    for (Series& s : all) {
      s.reps.push_back(run_once(cfg, s.backend, ctx.dir, rep));
      print_progress(cfg, s.backend, rep, s.reps.back());
    }
  }
  bool failed = false;
  for (Series& s : all) {
    summarize_series(s);
    failed = failed || !s.error.empty();
  }
  print_table(cfg.json ? stderr : stdout, cfg, ctx, all);
  if (cfg.json) print_json(cfg, ctx, all);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace cairn::bench

int main(int argc, char** argv) { return cairn::bench::run_main(argc, argv); }
