// cairn-bench: the load generator. Runs an event-store workload on Cairn (over
// its public API) or on a peer (RocksDB, LevelDB, LMDB, SQLite, when built in),
// measures the raw limits of the same disk before every repetition, and
// reports medians with their ratios to those limits. See usage() for flags.
#include <cairn/store.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend.h"
#include "backend_cairn.h"
#include "checkpoint_bench.h"
#include "in_flight.h"
#include "hydrate_bench.h"
#include "subscribe_bench.h"
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
constexpr uint64_t kDefaultStoreEvents = 1'000'000;  // read-stream, read-all, read-filtered, open
constexpr const char* kEventType = "OrderPlaced";
// read-filtered: event `version` of stream n has this type when (n + version) % kRareEvery == 0,
// so each stream of 100 holds one, at a different version per stream: 1 % of the events,
// spread evenly over the log (every round of batches holds its share).
constexpr const char* kRareType = "OrderShipped";
constexpr uint32_t kRareEvery = 100;
// Measured reads verify every event they get during the warm-up, and every event of one
// read (page or stream) in this many during the measured phase; the other measured reads
// check only positions, versions and counts, so that the figures are the store's, not the
// checker's (a full check costs about as much as reading the event).
constexpr uint64_t kFullCheckEvery = 64;

const std::vector<std::string> kWorkloads = {"append-durable", "append-batch", "read-stream", "read-all",
                                             "read-filtered",  "mixed",        "open",
                                             "checkpoint",     "hydrate",      "subscribe"};

// This process's arguments, to run the open probes (a fresh cairn-bench process
// each) with the same flags.
std::vector<std::string> g_args;

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
  uint32_t pipeline = cairn::Options{}.max_writes_in_flight;
  bool prepare = true;
  bool direct = false;
  bool mapped = true;
  uint32_t cached_segments = 16;
  uint64_t crash_mib = 0;   // open: what the crashed child appends after its roll-over (0: half a segment)
  uint64_t crash_pause_ms = 0;  // open: the crashed child's pause after its roll-over
  uint64_t store_mib = 1024;    // checkpoint: the store's size
  uint64_t snapshot_bytes = 4096;  // hydrate: the aggregate's state
  // Hidden (the open workload runs them): --probe open|open-ro|crash in --probe-dir,
  // a store expected to hold --probe-events events.
  std::string probe;
  std::string probe_dir;
  uint64_t probe_events = 0;

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
  --workload NAME      append-durable (default), append-batch, read-stream, read-all,
                       read-filtered, mixed, open, checkpoint, hydrate, subscribe
  --writers N          load threads (writers; readers for read-stream/read-all/read-filtered),
                       default 1
  --streams N          streams Order-<n>, default 10000; writer t owns the streams n %% N == t
                       and always passes the exact expected version (conflicts are counted)
  --event-size BYTES   event data bytes, default 200 (plus 32 B metadata, type "OrderPlaced",
                       16 B random id)
  --batch N            events per append (default 1; append-batch 10)
  --durability L       sync|batch|none (default sync; read-stream, read-all, read-filtered,
                       open: none)
  --inflight N         async appends in flight per writer (0 or 1: synchronous appends); a full
                       window refills once N/16 of them have completed
  --duration SECONDS   measured time, default 5, after a warm-up of max(0.5 s, 10%%)
  --events N           appends: measure N events (after N/10 warm-up) instead of a duration;
                       read-stream, read-all, read-filtered, open: events in the store
                       (default 1000000: N/100 streams of 100 events, written in rounds of
                       one batch of 10 per stream, then closed; the reads reopen it)
  --crash-mib N        open, Cairn: the crashed copy's child appends until a segment
                       roll-over, then N MiB more (default half a segment), and is SIGKILLed
  --crash-pause-ms N   open, Cairn: the child pauses N ms after the roll-over (default 0), so
                       that the seal's index checkpoint is written before it appends more
  --store-mib N        checkpoint: the store's size in MiB (default 1024); Store::checkpoint
                       is timed with hard links, with copies (CheckpointOptions::copy), and
                       incrementally (1 MiB more into the copied target), fresh targets each
                       repetition, on the store's file system
  --workload subscribe  the latency from a durable append (one writer, kSync, --duration)
                       to its delivery with 1 and 100 subscribers waiting; a catch-up
                       subscription reading --events events (default 10000000) against
                       read_all pages of the same store; heap bytes per idle
                       subscription (10000 of them)
  --snapshot-bytes N   hydrate: the aggregate's snapshot size, default 4096. hydrate times
                       rebuilding one aggregate of --events events (default 10000; as many
                       other events interleaved) by replaying them all, and from a snapshot
                       plus the 10 events after it (Snapshots::hydrate), and the
                       snapshot's save (fdatasync)
  --dir PATH           where to run (default: a fresh directory under the current one,
                       removed afterwards); the raw limits are measured on its disk
  --backend NAME       one of: %s
  --compare A,B,...    run the same workload on Cairn and each named backend, one table
                       with ratios to Cairn
  --repeat N           repetitions, default 3; the median is reported
  --json               one JSON object per run configuration on stdout (table on stderr)
  --segment-mib N      Cairn Options::segment_bytes in MiB, default 64
  --io-backend B       Cairn Options::io_backend: auto|io_uring|pwrite, default auto
  --pipeline N         Cairn Options::max_writes_in_flight, default %u
  --prepare 0|1        Cairn Options::prepare_segments (zero-filled segments ahead), default 1
  --direct 0|1         Cairn Options::direct_io (O_DIRECT writes of whole pages), default 0;
                       the raw bandwidth is then measured with O_DIRECT writes too
  --mapped 0|1         Cairn Options::mapped_writes (unsynced groups copied into a mapping
                       of the segment, no write call), default 1
  --cached-segments N  Cairn Options::cached_sealed_segments (older sealed segments are
                       dropped from the page cache; 0: never), default 16

Workloads without appends: read-stream reads random whole streams (100 events);
read-all scans the store from position 0 in pages of 4096; read-filtered reads every
event of the type that is 1 %% of the store (%s) in pages of 4096 from position 0
(Cairn: Store::read_all_filtered; peers: read_all pages with a type check), then
scans the same store unfiltered; open times opening the store (in a fresh process, with
its resident memory), read-only too for Cairn, an empty store, and for Cairn a copy
crashed (SIGKILL) after appending past a segment roll-over.

Before each repetition, on the same disk: one write of (event size + 64 B) + fdatasync
inside a pre-zeroed file (p50, ops/s), and 1 MiB buffered writes + fdatasync each into a
pre-zeroed file (MB/s). Cairn's figures are printed as ratios to them.
Cairn steady state: measured after the first segment roll. A fresh store's first segment
is not zero-filled ahead (the engine prepares the next one when the active one is half
full), so before append workloads filler events (durability none, streams Warmup-<k>)
are written until the store runs in a segment that was prepared ahead.
)",
               join(backend_names(), ", ").c_str(), cairn::Options{}.max_writes_in_flight, kRareType);
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
  else if (flag == "--direct") cfg.direct = to_uint(flag, value) != 0;
  else if (flag == "--mapped") cfg.mapped = to_uint(flag, value) != 0;
  else if (flag == "--cached-segments") cfg.cached_segments = static_cast<uint32_t>(to_uint(flag, value));
  else if (flag == "--crash-mib") cfg.crash_mib = to_uint(flag, value);
  else if (flag == "--crash-pause-ms") cfg.crash_pause_ms = to_uint(flag, value);
  else if (flag == "--store-mib") cfg.store_mib = to_uint(flag, value);
  else if (flag == "--snapshot-bytes") cfg.snapshot_bytes = to_uint(flag, value);
  else if (flag == "--probe") cfg.probe = value;
  else if (flag == "--probe-dir") cfg.probe_dir = value;
  else if (flag == "--probe-events") cfg.probe_events = to_uint(flag, value);
  else bad_usage("unknown flag " + flag);
}

void resolve_defaults(Config& cfg) {
  if (cfg.batch == 0) cfg.batch = cfg.workload == "append-batch" ? 10 : 1;
  if (cfg.durability.empty()) cfg.durability = cfg.appends() ? "sync" : "none";
  if (cfg.compare && !contains(cfg.backends, "cairn")) cfg.backends.insert(cfg.backends.begin(), "cairn");
}

void validate(const Config& cfg) {
  if (!contains(kWorkloads, cfg.workload)) bad_usage("--workload: unknown workload " + cfg.workload);
  if (cfg.writers < 1) bad_usage("--writers must be at least 1");
  if (cfg.streams < static_cast<uint32_t>(cfg.writers)) bad_usage("--streams must be at least --writers");
  if (cfg.batch < 1) bad_usage("--batch must be at least 1");
  if (cfg.repeat < 1) bad_usage("--repeat must be at least 1");
  if (!contains({"sync", "batch", "none"}, cfg.durability)) bad_usage("--durability: unknown level " + cfg.durability + " (sync, batch or none)");
  if (!contains({"auto", "io_uring", "pwrite"}, cfg.io_backend)) bad_usage("--io-backend: unknown backend " + cfg.io_backend);
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
  // `rare_types`: 1 % of the events have type kRareType (see kRareEvery).
  explicit EventMaker(size_t data_bytes, bool rare_types = false)
      : data_(data_bytes, ' '), metadata_(kMetadataBytes, ' '), rare_types_(rare_types) {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Rng rng;
    for (char& c : data_) c = kAlphabet[rng.below(64)];
    for (char& c : metadata_) c = kAlphabet[rng.below(64)];
  }

  size_t payload_bytes() const { return data_.size() + metadata_.size(); }

  // The type of event `version` of `stream`.
  const char* type_of(uint32_t stream, uint64_t version) const {
    return rare_types_ && (stream + version) % kRareEvery == 0 ? kRareType : kEventType;
  }

  std::vector<BenchEvent> batch(size_t n) const {
    return std::vector<BenchEvent>(n, BenchEvent{std::string(16, '\0'), kEventType, data_, metadata_});
  }

  // Fresh random ids; event i is stamped as version first_version + i of `stream`.
  void fill(std::vector<BenchEvent>& batch, uint32_t stream, uint64_t first_version, Rng& rng) const {
    for (size_t i = 0; i < batch.size(); ++i) {
      uint64_t id[2] = {rng.next(), rng.next()};
      std::memcpy(batch[i].id.data(), id, sizeof id);
      batch[i].type = type_of(stream, first_version + i);
      stamp(&batch[i].data, stream, first_version + i);
    }
  }

  // Whether `e` holds exactly the bytes written as `version` of `stream`.
  bool matches(const ReadEvent& e, uint32_t stream, uint64_t version) const {
    if (e.version != version || e.data.size() != data_.size() || e.metadata != metadata_ ||
        e.type != type_of(stream, version))
      return false;
    char expected[kStampBytes];
    size_t n = std::min(kStampBytes, data_.size());
    stamp_bytes(expected, stream, version);
    return std::memcmp(e.data.data(), expected, n) == 0 &&
           std::memcmp(e.data.data() + n, data_.data() + n, data_.size() - n) == 0;
  }

  // Whether `e` holds the bytes of some stream's event at its own version.
  bool matches_any_stream(const ReadEvent& e) const { return matches(e, stream_of(e), e.version); }

  // The stream stamped into `e` (0 when the data is too short to hold it).
  static uint32_t stream_of(const ReadEvent& e) {
    uint32_t stream = 0;
    if (e.data.size() >= sizeof stream) std::memcpy(&stream, e.data.data(), sizeof stream);
    return stream;
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
  bool rare_types_;
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

// Where one async writer's appends of `n` events each report. An append's
// tag is its start time (nanoseconds since the sink was made, so never
// negative), with kMeasured set when it was started in the measured phase.
class AsyncTally final : public AppendSink {
 public:
  AsyncTally(Load& load, Tally& tally, InFlight& in_flight, size_t n)
      : load_(load), tally_(tally), in_flight_(in_flight), n_(n) {}

  uint64_t tag(Clock::time_point t0, bool measured) const {
    auto ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t0 - base_).count());
    return ns | (measured ? kMeasured : 0);
  }

  void done(uint64_t tag, bool ok, const std::string& error) override {
    auto t1 = Clock::now();
    if (ok && (tag & kMeasured)) {
      Clock::time_point t0 = base_ + std::chrono::nanoseconds(tag & ~kMeasured);
      std::lock_guard lock(mu_);
      tally_.add(t0, t1, n_);
    } else if (!ok && is_conflict(error)) {
      load_.conflicts.fetch_add(1);
    } else if (!ok) {
      load_.fail(error);
    }
    in_flight_.release();
  }

 private:
  static constexpr uint64_t kMeasured = uint64_t{1} << 63;
  Load& load_;
  Tally& tally_;
  InFlight& in_flight_;
  const size_t n_;
  const Clock::time_point base_ = Clock::now();
  std::mutex mu_;  // callbacks may run on more than one thread
};

// Keeps cfg.inflight appends in flight (append_async), each timed from the
// call to its callback. Expected versions count the appends still in flight.
void async_writer(Load& load, int t, Tally& tally) {
  const Config& cfg = load.cfg;
  OwnStreams own(t, cfg.writers, cfg.streams, load.start_version);
  Rng rng;
  std::vector<BenchEvent> batch = load.maker.batch(cfg.batch);
  InFlight in_flight(cfg.inflight);
  AsyncTally sink(load, tally, in_flight, batch.size());
  for (Phase phase; (phase = load.schedule.claim(batch.size())) != Phase::kStop;) {
    size_t j = own.pick(rng);
    load.maker.fill(batch, own.stream(j), own.version(j) + 1, rng);  // ready before a slot frees
    in_flight.acquire();
    uint64_t tag = sink.tag(Clock::now(), phase == Phase::kMeasure);
    load.backend.append_async(stream_name(own.stream(j)), own.version(j), batch, &sink, tag);
    own.advance(j, batch.size());
  }
  in_flight.drain();
}

// ---- readers -------------------------------------------------------------------

// Whether the next read's events get the full byte-for-byte check: always during
// the warm-up, one read in kFullCheckEvery during the measured phase.
bool full_check(Phase phase, uint64_t* reads) { return phase != Phase::kMeasure || ++*reads % kFullCheckEvery == 0; }

// Checks a whole-stream read: versions 0.. in order, and with `full` every byte as written.
bool check_stream(const EventMaker& maker, const std::vector<ReadEvent>& events, uint32_t stream,
                  size_t min_count, bool full, std::string* error) {
  if (events.size() < min_count) {
    *error = stream_name(stream) + ": read " + std::to_string(events.size()) + " events, expected at least " +
             std::to_string(min_count);
    return false;
  }
  for (size_t v = 0; v < events.size(); ++v) {
    bool ok = full ? maker.matches(events[v], stream, v)
                   : events[v].version == v && (v == 0 || events[v].position > events[v - 1].position);
    if (!ok) {
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
  uint64_t reads = 0;
  for (Phase phase; (phase = load.schedule.now()) != Phase::kStop;) {
    uint32_t n = rng.below(streams);
    auto t0 = Clock::now();
    bool ok = load.backend.read_stream(stream_name(n), 0, max_count, &events, &error);
    auto t1 = Clock::now();
    if (!ok || !check_stream(load.maker, events, n, min_count, full_check(phase, &reads), &error))
      return load.fail(error);
    if (phase == Phase::kMeasure) tally.add(t0, t1, events.size());
  }
}

// Follows every event from position 0 (the prefill, then live) as a
// subscriber does, checking that positions arrive dense and in order.
// Counts the events that arrive during the measured phase.
void subscriber(Load& load, Tally& tally) {
  auto tail = load.backend.tail(0, kReadPage);
  if (!tail) return load.fail("could not subscribe");
  std::vector<ReadEvent> events;
  std::string error;
  uint64_t next = 0;
  for (Phase phase; (phase = load.schedule.now()) != Phase::kStop;) {
    auto t0 = Clock::now();
    if (!tail->next(std::chrono::milliseconds(10), &events, &error)) return load.fail(error);
    auto t1 = Clock::now();
    for (const ReadEvent& e : events) {
      if (e.position != next++) return load.fail("subscriber: position " + std::to_string(e.position) +
                                                 " arrived where " + std::to_string(next - 1) + " was due");
    }
    if (phase == Phase::kMeasure && !events.empty()) tally.add(t0, t1, events.size());
  }
}

// Checks one page of read_all read at `pos`: dense positions from `pos`, and with
// `full` every byte as written.
bool check_page(const EventMaker& maker, const std::vector<ReadEvent>& page, uint64_t pos, bool full,
                std::string* error) {
  if (page.empty()) {
    *error = "read_all ended early, at position " + std::to_string(pos);
    return false;
  }
  for (size_t i = 0; i < page.size(); ++i) {
    const ReadEvent& e = page[i];
    if (e.position != pos + i || (full && !maker.matches_any_stream(e))) {
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
  uint64_t reads = 0;
  while (load.schedule.now() != Phase::kStop) {
    for (uint64_t pos = 0; pos < total;) {
      Phase phase = load.schedule.now();
      if (phase == Phase::kStop) return;
      auto t0 = Clock::now();
      bool ok = load.backend.read_all(pos, kReadPage, &page, &error);
      auto t1 = Clock::now();
      if (!ok || !check_page(load.maker, page, pos, full_check(phase, &reads), &error)) return load.fail(error);
      if (phase == Phase::kMeasure) tally.add(t0, t1, page.size());
      pos += page.size();
    }
  }
}

// Checks one page of read_all_filtered read at `pos`: increasing positions from
// `pos`, each of type kRareType, and with `full` every byte as written.
bool check_filtered_page(const EventMaker& maker, const std::vector<ReadEvent>& page, uint64_t pos, bool full,
                         std::string* error) {
  for (size_t i = 0; i < page.size(); ++i) {
    const ReadEvent& e = page[i];
    bool ok = e.position >= pos && (i == 0 || e.position > page[i - 1].position) && e.type == kRareType &&
              (!full || maker.matches_any_stream(e));
    if (!ok) {
      *error = "read_all_filtered: wrong event at position " + std::to_string(e.position);
      return false;
    }
  }
  return true;
}

// Reads every event of type kRareType from position 0 to the end in pages of
// kReadPage (the last, empty, page ends a pass), over and over; every complete
// pass must return exactly `matches` events. The empty read that ends a pass
// counts as no operation (its time is in the wall time the rate is taken over).
void filtered_reader(Load& load, uint64_t matches, Tally& tally) {
  std::vector<ReadEvent> page;
  std::string error;
  uint64_t reads = 0;
  while (load.schedule.now() != Phase::kStop) {
    uint64_t got = 0;
    for (uint64_t pos = 0;;) {
      Phase phase = load.schedule.now();
      if (phase == Phase::kStop) return;
      auto t0 = Clock::now();
      bool ok = load.backend.read_all_filtered(kRareType, pos, kReadPage, &page, &error);
      auto t1 = Clock::now();
      if (!ok || !check_filtered_page(load.maker, page, pos, full_check(phase, &reads), &error))
        return load.fail(error);
      if (page.empty()) break;
      if (phase == Phase::kMeasure) tally.add(t0, t1, page.size());
      got += page.size();
      pos = page.back().position + 1;
    }
    if (got != matches)
      return load.fail("read_all_filtered: a pass returned " + std::to_string(got) + " events of type " + kRareType +
                       ", expected " + std::to_string(matches));
  }
}

// ---- prefill -------------------------------------------------------------------

// Thread t of `threads`: writes `per_stream` events to each of its streams
// (n % threads == t), in rounds of one batch of up to 10 per stream, so that
// every stream's events are spread over the log as in a real store.
void prefill_thread(Backend& backend, const EventMaker& maker, uint32_t streams, uint32_t per_stream, int threads,
                    int t, Failure& failure) {
  Rng rng;
  InFlight in_flight(kPrefillInFlight);
  FunctionSink sink([&](bool ok, const std::string& error) {
    if (!ok) failure.set("prefill: " + error);
    in_flight.release();
  });
  for (uint32_t done = 0; done < per_stream && failure.get().empty(); done += 10) {
    std::vector<BenchEvent> batch = maker.batch(std::min<uint32_t>(10, per_stream - done));
    for (uint32_t n = t; n < streams; n += threads) {
      in_flight.acquire();
      maker.fill(batch, n, done, rng);
      backend.append_async(stream_name(n), static_cast<int64_t>(done) - 1, batch, &sink, 0);
    }
  }
  in_flight.drain();
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
  // CPU time of the whole process (every thread, io_uring's workers
  // included; not the kernel's own flusher and journal threads) over the
  // measured phase, per event measured.
  double cpu_us_per_event = 0;
  double read_ops_per_s = 0, read_events_per_s = 0, read_p50_us = 0, read_p99_us = 0;  // mixed: the reader
  double subscriber_events_per_s = 0;  // mixed: events the subscriber received per measured second
  double open_ms = 0, empty_open_ms = 0;                                                 // open
  // open: the read-only opens (Cairn), the open's resident memory (its own process:
  // VmRSS after open - before), the events in the store at the clean open, and the
  // crashed copy (Cairn): what its child appended, the open after it and what that
  // open read from the log (batches, events, and bytes: events x the child's bytes
  // per event).
  double open_ro_ms = 0, empty_open_ro_ms = 0, open_rss_mb = 0, open_rss_mb_per_m = 0, store_events = 0;
  double empty_open_rss_mb = 0, open_ro_rss_mb = 0, empty_open_ro_rss_mb = 0;
  double open_ro_anon_mb = 0, open_ro_file_mb = 0;  // the read-only open's growth: RssAnon, RssFile
  double open_ro_seg_mb = 0, open_ro_idx_mb = 0;    // of which mapped segments, index files
  double crash_appended_events = 0, crash_appended_mb = 0, crash_rolls = 0, crash_open_ms = 0;
  double crash_indexed_positions = 0, crash_scanned_batches = 0, crash_replayed_events = 0, crash_replayed_mb = 0;
  double build_s = 0;  // reads, open: writing the store (prefill + close)
  // read-filtered: the unfiltered scan of the same store, the events each filtered pass
  // returns, and the ratios (see print_details).
  double scan_events_per_s = 0, matches = 0, rate_ratio = 0, speedup = 0;
  double raw_p50_us = 0, raw_p99_us = 0, raw_ops_per_s = 0, raw_mb_per_s = 0;
  double x_bound = 0, p50_ratio = 0, mb_ratio = 0;  // vs the raw limits of the same repetition
  // Cairn's StoreStats over the measured phase.
  double events_per_sync = 0, group_events_p50 = 0, group_events_max = 0;
  double sync_p50_us = 0, sync_p99_us = 0, queue_p50_us = 0, queue_p99_us = 0;
  double mapped_share = 0;  // Cairn: of the group commits, the share copied into a mapping
  double fill_mb = 0;  // Cairn: filler written to reach the steady state
  // Appends: the close after the measured phase (Cairn: the background
  // indexer's backlog, then the active segment's index).
  double close_ms = 0;
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
    {"cpu_us_per_event", &Run::cpu_us_per_event},
    {"read_ops_per_s", &Run::read_ops_per_s}, {"read_events_per_s", &Run::read_events_per_s},
    {"read_p50_us", &Run::read_p50_us}, {"subscriber_events_per_s", &Run::subscriber_events_per_s}, {"read_p99_us", &Run::read_p99_us}, {"open_ms", &Run::open_ms},
    {"empty_open_ms", &Run::empty_open_ms}, {"raw_fdatasync_p50_us", &Run::raw_p50_us},
    {"raw_fdatasync_p99_us", &Run::raw_p99_us}, {"raw_fdatasync_ops_per_s", &Run::raw_ops_per_s},
    {"raw_write_mb_per_s", &Run::raw_mb_per_s}, {"x_bound", &Run::x_bound}, {"p50_ratio", &Run::p50_ratio},
    {"mb_ratio", &Run::mb_ratio}, {"events_per_fdatasync", &Run::events_per_sync},
    {"group_events_p50", &Run::group_events_p50}, {"group_events_max", &Run::group_events_max},
    {"sync_p50_us", &Run::sync_p50_us}, {"sync_p99_us", &Run::sync_p99_us}, {"queue_p50_us", &Run::queue_p50_us},
    {"queue_p99_us", &Run::queue_p99_us}, {"mapped_share", &Run::mapped_share}, {"fill_mb", &Run::fill_mb},
    {"close_ms", &Run::close_ms},
    {"open_read_only_ms", &Run::open_ro_ms}, {"empty_open_read_only_ms", &Run::empty_open_ro_ms},
    {"open_rss_mb", &Run::open_rss_mb}, {"open_rss_mb_per_million_events", &Run::open_rss_mb_per_m},
    {"empty_open_rss_mb", &Run::empty_open_rss_mb}, {"open_read_only_rss_mb", &Run::open_ro_rss_mb},
    {"empty_open_read_only_rss_mb", &Run::empty_open_ro_rss_mb}, {"open_read_only_anon_mb", &Run::open_ro_anon_mb},
    {"open_read_only_file_mb", &Run::open_ro_file_mb}, {"open_read_only_segments_mb", &Run::open_ro_seg_mb},
    {"open_read_only_index_files_mb", &Run::open_ro_idx_mb},
    {"store_events", &Run::store_events}, {"crash_appended_events", &Run::crash_appended_events},
    {"crash_appended_mb", &Run::crash_appended_mb}, {"crash_rolls", &Run::crash_rolls},
    {"crash_open_ms", &Run::crash_open_ms}, {"crash_indexed_positions", &Run::crash_indexed_positions},
    {"crash_scanned_batches", &Run::crash_scanned_batches}, {"crash_replayed_events", &Run::crash_replayed_events},
    {"crash_replayed_mb", &Run::crash_replayed_mb}, {"build_s", &Run::build_s},
    {"scan_events_per_s", &Run::scan_events_per_s}, {"matches", &Run::matches}, {"rate_ratio", &Run::rate_ratio},
    {"speedup", &Run::speedup},
};

// A repetition's result: figures, or the error that stopped it.
struct Outcome {
  Run run;
  std::string io_backend;  // Cairn's, from StoreStats
  std::string error;
  bool indexed_filter = false;  // read-filtered: Backend::indexed_filter()
  double cpu_cores = 0;         // set by drive()
};

// A line of /proc/self/status ("VmRSS", "RssAnon", "RssFile"), in MB.
double status_mb(const char* key) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(key) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::strtod(line.c_str() + prefix.size(), nullptr) / 1024;
  return 0;
}

double rss_mb() { return status_mb("VmRSS"); }

// Resident MB of this process's mappings of files in `dir`: Cairn's segments
// (*.seg) and its index files (*.idx, STREAMS-*), from /proc/self/smaps.
struct MappedRss {
  double segments = 0, index = 0;
};
MappedRss mapped_rss(const std::string& dir) {
  MappedRss out;
  std::ifstream in("/proc/self/smaps");
  double* current = nullptr;
  const std::string prefix = fs::absolute(dir).lexically_normal().string() + "/";
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      size_t slash = line.find('/');  // a mapping's header line: the path, if any, is last
      std::string path = slash == std::string::npos ? "" : line.substr(slash);
      current = nullptr;
      if (path.rfind(prefix, 0) == 0) {
        if (path.size() > 4 && path.compare(path.size() - 4, 4, ".seg") == 0) current = &out.segments;
        else if ((path.size() > 4 && path.compare(path.size() - 4, 4, ".idx") == 0) ||
                 path.compare(prefix.size(), 8, "STREAMS-") == 0)
          current = &out.index;
      }
    } else if (current != nullptr && line.rfind("Rss:", 0) == 0) {
      *current += std::strtod(line.c_str() + 4, nullptr) / 1024;
    }
  }
  return out;
}

// `read_only`: Cairn only (Options::read_only).
std::unique_ptr<Backend> open_for_run(const Config& cfg, const std::string& name, const std::string& dir,
                                      std::string* error, bool read_only = false) {
  BackendOptions options{dir, durability_of(cfg.durability)};
  if (name != "cairn") return open_backend(name, options, error);
  CairnTuning tuning{cfg.segment_mib << 20, io_backend_of(cfg.io_backend), cfg.pipeline, cfg.prepare, read_only,
                     cfg.direct, cfg.mapped, cfg.cached_segments};
  return open_cairn(options, tuning, error);
}

// The measured phase's figures from the load threads' tallies, and the CPU
// time per event from what drive() measured.
void set_measured(Outcome& out, const Tally& t) {
  Run& r = out.run;
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
  r.cpu_us_per_event = r.events_per_s > 0 ? out.cpu_cores * 1e6 / r.events_per_s : 0;
}

void set_cairn_stats(Outcome& out, const cairn::StoreStats& before, const cairn::StoreStats& after) {
  Run& r = out.run;
  out.io_backend = after.io_backend;
  uint64_t syncs = after.syncs - before.syncs;
  r.events_per_sync = syncs > 0 ? static_cast<double>(after.events - before.events) / syncs : 0;
  uint64_t groups = after.group_commits - before.group_commits;
  r.mapped_share = groups > 0 ? static_cast<double>(after.mapped_writes - before.mapped_writes) / groups : 0;
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

// User + system CPU seconds of every thread of this process so far.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

// Runs the load threads; the main thread takes Cairn's stats and the CPU
// time when the measured phase begins and ends, and the resident memory at
// the end. Sets cpu_cores (CPUs busy on average over the measured phase);
// the caller turns it into CPU time per event once the events are counted.
template <class Body>
void drive(Load& load, int threads, Body body, Outcome& out) {
  cairn::Store* store = cairn_store(load.backend);
  load.schedule.start();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
  load.schedule.wait_for(Phase::kMeasure);
  cairn::StoreStats before = store ? store->stats() : cairn::StoreStats{};
  double cpu0 = process_cpu_seconds();
  auto wall0 = Clock::now();
  load.schedule.wait_for(Phase::kStop);
  double wall = seconds_since(wall0);
  out.cpu_cores = wall > 0 ? (process_cpu_seconds() - cpu0) / wall : 0;
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
  Tally reader, follower;
  drive(load, cfg.writers + (mixed ? 2 : 0),
        [&](int t) {
          if (t == cfg.writers) return stream_reader(load, cfg.streams, 1000, 10, reader);
          if (t == cfg.writers + 1) return subscriber(load, follower);
          cfg.async() ? async_writer(load, t, writers[t]) : sync_writer(load, t, writers[t]);
        },
        out);
  set_measured(out, merged(writers));
  if (mixed) {
    double s = reader.seconds();
    out.run.read_ops_per_s = s > 0 ? reader.ops / s : 0;
    out.run.read_events_per_s = s > 0 ? reader.events / s : 0;
    out.run.read_p50_us = reader.latency_ns.percentile(50) / 1e3;
    out.run.read_p99_us = reader.latency_ns.percentile(99) / 1e3;
    // Over the writers' measured time: a subscriber that keeps up gets what they append.
    double measured = merged(writers).seconds();
    out.run.subscriber_events_per_s = measured > 0 ? static_cast<double>(follower.events) / measured : 0;
  }
  return out;
}

uint32_t store_streams(const Config& cfg) {
  uint64_t events = cfg.events > 0 ? cfg.events : kDefaultStoreEvents;
  return static_cast<uint32_t>(std::max<uint64_t>(1, events / 100));
}

// Writes `per_stream` events to each of `streams` streams in `dir` (per_stream 0:
// an empty store) and closes the store.
bool make_store(const Config& cfg, const std::string& name, const std::string& dir, const EventMaker& maker,
                uint32_t streams, uint32_t per_stream, std::string* error) {
  auto backend = open_for_run(cfg, name, dir, error);
  if (!backend) return false;
  bool ok = per_stream == 0 || prefill(*backend, maker, streams, per_stream, cfg.writers, error);
  backend->close();
  return ok;
}

// The stores the read workloads keep over their repetitions, by backend, with
// the EventMaker that wrote them (its event template checks what is read).
std::map<std::string, std::unique_ptr<EventMaker>> g_read_stores;

// read-stream, read-all and read-filtered: a store of streams of 100 events,
// written and closed at the first repetition (kept until the last), and opened
// again at each (as by an application that restarts: Cairn reads through the
// index checkpoint its open loaded), page cache warm. read-filtered then scans
// the same store unfiltered, for its ratios.
Outcome run_reads(const Config& cfg, const std::string& name, const std::string& dir) {
  Outcome out;
  const bool filtered = cfg.workload == "read-filtered";
  const uint32_t streams = store_streams(cfg);
  const uint64_t total = uint64_t{streams} * 100;
  if (!g_read_stores.count(name)) {
    auto made = std::make_unique<EventMaker>(cfg.event_size, filtered);
    auto t0 = Clock::now();
    if (!make_store(cfg, name, dir, *made, streams, 100, &out.error)) return out;
    out.run.build_s = seconds_since(t0);
    g_read_stores[name] = std::move(made);
  }
  const EventMaker& maker = *g_read_stores[name];
  auto backend = open_for_run(cfg, name, dir, &out.error);
  if (!backend) return out;
  out.indexed_filter = backend->indexed_filter();
  std::vector<Tally> readers(cfg.writers);
  {
    Schedule schedule = schedule_for(cfg, false);
    Load load{*backend, cfg, maker, schedule};
    drive(load, cfg.writers,
          [&](int t) {
            if (cfg.workload == "read-stream") return stream_reader(load, streams, 100, 100, readers[t]);
            if (filtered) return filtered_reader(load, total / kRareEvery, readers[t]);
            all_reader(load, total, readers[t]);
          },
          out);
  }
  set_measured(out, merged(readers));
  if (filtered && out.error.empty()) {
    Outcome scan;
    std::vector<Tally> scanners(cfg.writers);
    Schedule schedule = schedule_for(cfg, false);
    Load load{*backend, cfg, maker, schedule};
    drive(load, cfg.writers, [&](int t) { all_reader(load, total, scanners[t]); }, scan);
    out.error = scan.error;
    Tally all = merged(scanners);
    Run& r = out.run;
    r.scan_events_per_s = all.seconds() > 0 ? static_cast<double>(all.events) / all.seconds() : 0;
    r.matches = static_cast<double>(total / kRareEvery);
    r.rate_ratio = r.scan_events_per_s > 0 ? r.events_per_s / r.scan_events_per_s : 0;
    r.speedup = r.matches > 0 ? r.rate_ratio * static_cast<double>(total) / r.matches : 0;
  }
  backend->close();
  return out;
}

// ---- open: each open timed in a fresh process (a probe) -------------------------

// What a probe printed: key=value pairs, or error=<the rest of the line>.
struct Probe {
  std::map<std::string, double> values;
  std::string error;
  double operator[](const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? 0 : it->second;
  }
};

// Runs this binary again with this process's flags plus --backend `name`
// --probe `mode` --probe-dir `dir` --probe-events `events`, and parses what it
// prints on standard output. `killed`: the probe must end by SIGKILL (the
// crashed child), else exit 0.
Probe run_probe(const std::string& name, const std::string& mode, const std::string& dir, uint64_t events,
                bool killed = false) {
  Probe p;
  std::vector<std::string> args = {"cairn-bench"};
  args.insert(args.end(), g_args.begin(), g_args.end());
  for (const std::string& a : {std::string("--backend"), name, std::string("--probe"), mode,
                               std::string("--probe-dir"), dir, std::string("--probe-events"), std::to_string(events)})
    args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) die("readlink /proc/self/exe");
  exe[n] = '\0';
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) die("pipe2");
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::dup2(fds[1], STDOUT_FILENO);
    ::execv(exe, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    text.append(buf, static_cast<size_t>(r));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (size_t e = text.find("error="); e != std::string::npos) {
    p.error = text.substr(e + 6);
    while (!p.error.empty() && (p.error.back() == '\n' || p.error.back() == '\r')) p.error.pop_back();
  } else {
    std::istringstream in(text);
    for (std::string tok; in >> tok;)
      if (size_t eq = tok.find('='); eq != std::string::npos)
        p.values[tok.substr(0, eq)] = std::strtod(tok.c_str() + eq + 1, nullptr);
  }
  bool ok = killed ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                   : WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (p.error.empty() && !ok)
    p.error = "probe " + mode + " ended with " +
              (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                   : "exit status " + std::to_string(WEXITSTATUS(status)));
  return p;
}

int probe_error(const std::string& error) {
  std::printf("error=%s\n", error.c_str());
  std::fflush(stdout);
  return 1;
}

// The crashed child (Cairn): opens the store, appends (durability none, 256
// appends of 10 events in flight, streams Crash-<k>) until the store has rolled
// over into a new segment (then pauses cfg.crash_pause_ms, if asked) and then
// cfg.crash_mib more (default half a segment), waits for every append to be
// acknowledged, prints what it wrote and SIGKILLs itself: no close, so the
// index checkpoint covers only what the store wrote before (at the seals, in
// the background, and at the last close).
int crash_child(const Config& cfg, const std::string& name) {
  std::string error;
  auto backend = open_for_run(cfg, name, cfg.probe_dir, &error);
  if (!backend) return probe_error(error);
  cairn::Store* store = cairn_store(*backend);
  if (store == nullptr) return probe_error("the crash probe is Cairn only");
  const uint64_t after = cfg.crash_mib > 0 ? cfg.crash_mib << 20 : (cfg.segment_mib << 20) / 2;
  EventMaker maker(cfg.event_size);
  std::vector<BenchEvent> batch = maker.batch(10);
  Rng rng;
  Failure failure;
  InFlight in_flight(kPrefillInFlight);
  std::atomic<uint64_t> acked{0};
  FunctionSink sink([&](bool ok, const std::string& e) {
    if (ok) acked.fetch_add(10);
    else failure.set("crash child: " + e);
    in_flight.release();
  });
  const cairn::StoreStats st0 = store->stats();
  uint64_t rolled_at = 0;
  bool rolled = false;
  for (uint64_t k = 0; failure.get().empty(); ++k) {
    if (k % 16 == 0) {
      cairn::StoreStats st = store->stats();
      if (!rolled && st.segments > st0.segments) {
        rolled = true;
        if (cfg.crash_pause_ms > 0) {
          in_flight.drain();
          std::this_thread::sleep_for(std::chrono::milliseconds(cfg.crash_pause_ms));
          st = store->stats();
        }
        rolled_at = st.bytes_written;
      }
      if (rolled && st.bytes_written - rolled_at >= after) break;
    }
    in_flight.acquire();
    maker.fill(batch, 0, 0, rng);
    backend->append_async("Crash-" + std::to_string(k % 1000), -2, batch, &sink, 0);
  }
  in_flight.drain();
  if (!failure.get().empty()) return probe_error(failure.get());
  const cairn::StoreStats st = store->stats();
  const uint64_t bytes = st.bytes_written - st0.bytes_written;
  std::printf("appended_events=%" PRIu64 " appended_bytes=%" PRIu64 " bytes_per_event=%.3f rolls=%" PRIu64 "\n",
              acked.load(), bytes, acked.load() > 0 ? static_cast<double>(bytes) / acked.load() : 0.0,
              st.segments - st0.segments);
  std::fflush(stdout);
  ::kill(::getpid(), SIGKILL);
  return 1;
}

// A probe process: --probe open|open-ro (read-only, Cairn) times one open of
// the store in --probe-dir, with VmRSS before and after it, checks that the
// store holds --probe-events events, prints key=value pairs and closes the
// store; --probe crash is crash_child.
int probe_main(const Config& cfg) {
  const std::string& name = cfg.backends.front();
  if (cfg.probe == "crash") return crash_child(cfg, name);
  const bool read_only = cfg.probe == "open-ro";
  if (!read_only && cfg.probe != "open") return probe_error("unknown probe " + cfg.probe);
  if (read_only && name != "cairn") return probe_error("read-only open: Cairn only");
  std::string error;
  const double rss0 = rss_mb(), anon0 = status_mb("RssAnon"), file0 = status_mb("RssFile");
  auto t0 = Clock::now();
  auto backend = open_for_run(cfg, name, cfg.probe_dir, &error, read_only);
  const double ms = seconds_since(t0) * 1e3;
  const double rss1 = rss_mb(), anon1 = status_mb("RssAnon"), file1 = status_mb("RssFile");
  const MappedRss mapped = mapped_rss(cfg.probe_dir);
  if (!backend) return probe_error(error);
  const uint64_t n = cfg.probe_events;
  std::vector<ReadEvent> page;
  if (!backend->read_all(n > 0 ? n - 1 : 0, 2, &page, &error)) return probe_error(error);
  if (page.size() != (n > 0 ? 1u : 0u) || (n > 0 && page[0].position != n - 1))
    return probe_error("the opened store does not hold " + std::to_string(n) + " events");
  std::printf("open_ms=%.6f rss_before_mb=%.3f rss_after_mb=%.3f anon_mb=%.3f file_mb=%.3f segments_mb=%.3f "
              "index_files_mb=%.3f",
              ms, rss0, rss1, anon1 - anon0, file1 - file0, mapped.segments, mapped.index);
  if (cairn::Store* store = cairn_store(*backend)) {
    const cairn::StoreStats st = store->stats();
    std::printf(" next_position=%" PRIu64 " scanned_batches=%" PRIu64 " indexed_positions=%" PRIu64,
                st.next_position, st.open_scanned_batches, st.open_indexed_positions);
  }
  std::printf("\n");
  std::fflush(stdout);
  backend->close();
  return 0;
}

// Events in each backend's open-workload store, once written.
std::map<std::string, uint64_t> g_open_events;

// open: the store (N events in N/100 streams of 100) and an empty one are
// written and closed at the first repetition and kept until the last; each
// repetition times, each in a fresh process: opening the store, for Cairn
// read-only too, the same for the empty store, and for Cairn a crashed copy:
// the store is copied, a child opens the copy, appends past a roll-over and
// SIGKILLs itself, then the copy is opened (and removed).
Outcome run_open(const Config& cfg, const std::string& name, const std::string& dir, int rep) {
  Outcome out;
  Run& r = out.run;
  const uint32_t streams = store_streams(cfg);
  const uint64_t built = uint64_t{streams} * 100;
  const std::string full = dir + "/full", empty = dir + "/empty";
  if (rep == 0 || !g_open_events.count(name)) {
    EventMaker maker(cfg.event_size);
    auto t0 = Clock::now();
    if (!make_store(cfg, name, full, maker, streams, 100, &out.error)) return out;
    r.build_s = seconds_since(t0);
    if (!make_store(cfg, name, empty, maker, 0, 0, &out.error)) return out;
    g_open_events[name] = built;
  }
  const uint64_t events = g_open_events[name];
  auto fail = [&](const char* what, const Probe& p) {
    out.error = std::string(what) + ": " + p.error;
    return out;
  };
  Probe p = run_probe(name, "open", full, events);
  if (!p.error.empty()) return fail("open", p);
  auto rss = [](const Probe& p) { return p["rss_after_mb"] - p["rss_before_mb"]; };
  const double millions = static_cast<double>(events) / 1e6;
  r.open_ms = p["open_ms"];
  r.rss_mb = p["rss_after_mb"];
  r.open_rss_mb = rss(p);
  Probe e = run_probe(name, "open", empty, 0);
  if (!e.error.empty()) return fail("empty open", e);
  r.empty_open_ms = e["open_ms"];
  r.empty_open_rss_mb = rss(e);
  r.open_rss_mb_per_m = (r.open_rss_mb - r.empty_open_rss_mb) / millions;
  if (name == "cairn") {
    // The index's memory: a read-only open (no writer, no segment preparer, no
    // I/O rings), less the same open of an empty store.
    Probe ro = run_probe(name, "open-ro", full, events);
    if (!ro.error.empty()) return fail("read-only open", ro);
    r.open_ro_ms = ro["open_ms"];
    r.open_ro_rss_mb = rss(ro);
    r.open_ro_anon_mb = ro["anon_mb"];
    r.open_ro_file_mb = ro["file_mb"];
    r.open_ro_seg_mb = ro["segments_mb"];
    r.open_ro_idx_mb = ro["index_files_mb"];
    Probe ero = run_probe(name, "open-ro", empty, 0);
    if (!ero.error.empty()) return fail("empty read-only open", ero);
    r.empty_open_ro_ms = ero["open_ms"];
    r.empty_open_ro_rss_mb = rss(ero);
    r.open_rss_mb_per_m = (r.open_ro_rss_mb - r.empty_open_ro_rss_mb) / millions;
    const std::string crashed = dir + "/crashed";
    std::error_code ec;
    fs::remove_all(crashed, ec);
    fs::copy(full, crashed, fs::copy_options::recursive, ec);
    if (ec) {
      out.error = "copy " + full + " to " + crashed + ": " + ec.message();
      return out;
    }
    Probe c = run_probe(name, "crash", crashed, events, true);
    if (!c.error.empty()) return fail("crashed child", c);
    const uint64_t appended = static_cast<uint64_t>(c["appended_events"]);
    r.crash_appended_events = static_cast<double>(appended);
    r.crash_appended_mb = c["appended_bytes"] / 1e6;
    r.crash_rolls = c["rolls"];
    Probe o = run_probe(name, "open", crashed, events + appended);
    fs::remove_all(crashed, ec);
    if (!o.error.empty()) return fail("open after the crash", o);
    r.crash_open_ms = o["open_ms"];
    r.crash_indexed_positions = o["indexed_positions"];
    r.crash_scanned_batches = o["scanned_batches"];
    r.crash_replayed_events = o["next_position"] - o["indexed_positions"];
    r.crash_replayed_mb = r.crash_replayed_events * c["bytes_per_event"] / 1e6;
  }
  r.store_events = static_cast<double>(events);
  r.events = static_cast<double>(built);
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

// One repetition on one backend, after measuring the raw limits on the same
// disk: in a fresh directory under `root` (open: one kept over the repetitions).
Outcome run_once(const Config& cfg, const std::string& name, const std::string& root, int rep) {
  RawLimits raw = measure_raw_limits(root, cfg.event_size + kRawFramingBytes, cfg.direct);
  const bool open = cfg.workload == "open", kept = !cfg.appends();  // stores kept over the repetitions
  std::string dir = root + "/" + name + (open ? "-open" : kept ? "-reads" : "-" + std::to_string(rep));
  Outcome out;
  if (open) {
    out = run_open(cfg, name, dir, rep);
  } else if (cfg.appends()) {
    auto backend = open_for_run(cfg, name, dir, &out.error);
    if (backend) {
      out = run_appends(*backend, cfg);
      auto closing = Clock::now();
      backend->close();
      out.run.close_ms = seconds_since(closing) * 1e3;
    }
    raw = averaged(raw, measure_raw_limits(root, cfg.event_size + kRawFramingBytes, cfg.direct));
  } else {
    out = run_reads(cfg, name, dir);
  }
  set_ratios(out.run, raw, cfg, EventMaker(cfg.event_size).payload_bytes());
  if (!kept || rep == cfg.repeat - 1 || !out.error.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    g_open_events.erase(name);
    g_read_stores.erase(name);
  }
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
  bool indexed_filter = false;
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
    s.indexed_filter = s.indexed_filter || o.indexed_filter;
  }
  for (const Field& f : kFields) {
    std::vector<double> v;
    for (const Run* r : ok) v.push_back(r->*f.member);
    s.median.*f.member = median_of(v);
  }
  // The store is written once (the first repetition) for reads and open.
  for (const Run* r : ok) s.median.build_s = std::max(s.median.build_s, r->build_s);
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
  const uint32_t streams = store_streams(cfg);
  std::string events = std::to_string(uint64_t{streams} * 100);
  std::string store = "store of " + events + " events in " + std::to_string(streams) + " streams of 100";
  if (cfg.workload == "open")
    return store + " (written in rounds of batches of 10), closed; each open timed in a fresh cairn-bench process, "
                   "warm page cache; empty: a store with no events";
  std::string text = std::to_string(cfg.writers) + (cfg.appends() ? " writer(s)" : " reader(s)");
  if (cfg.appends())
    text += " | batch " + std::to_string(cfg.batch) + " | inflight " + std::to_string(cfg.inflight) + " | " +
            std::to_string(cfg.streams) + " streams";
  else
    text += " | " + store + " (written once, closed; reopened at each repetition; warm page cache)" +
            (cfg.workload == "read-filtered" ? ", 1 % of type " + std::string(kRareType) : std::string());
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
  std::fprintf(out, "raw limits, before each repetition on that disk (appends: the mean of before and after it): %zu B pwrite + fdatasync in a pre-zeroed file; "
               "1 MiB %s pwrite + fdatasync each into a pre-zeroed file\n",
               cfg.event_size + kRawFramingBytes, cfg.direct ? "O_DIRECT" : "buffered");
  if (contains(cfg.backends, "cairn"))
    std::fprintf(out, "cairn: segments %" PRIu64 " MiB, io %s, pipeline %u, prepared segments %s, writes %s, "
                 "mapped writes %s, cached sealed segments %u%s\n",
                 cfg.segment_mib, cfg.io_backend.c_str(), cfg.pipeline, cfg.prepare ? "on" : "off",
                 cfg.direct ? "O_DIRECT" : "buffered", cfg.mapped ? "on" : "off", cfg.cached_segments,
                 cfg.appends() ? "; steady state: measured after the first segment roll (filler written with "
                                 "durability none beforehand)"
                               : "");
  if (cfg.workload == "mixed")
    std::fprintf(out, "mixed: the writers plus 1 reader of random whole streams (up to 1000 events) and 1 "
                 "subscriber to all events from position 0 (Cairn: Store::subscribe; peers: polling read_all, "
                 "1 ms sleep when empty)\n");
  if (cfg.workload == "open")
    std::fprintf(out, "open: time of the open call in a fresh process (VmRSS before/after it: the open's resident "
                 "memory); Cairn also read-only, and crashed: a copy of the store, which a child opened, appended to "
                 "(durability none) until a segment roll-over, paused %" PRIu64 " ms, appended %" PRIu64
                 " MiB more and was SIGKILLed; then the copy was opened\n",
                 cfg.crash_pause_ms, cfg.crash_mib > 0 ? cfg.crash_mib : cfg.segment_mib / 2);
  if (!cfg.appends() && cfg.workload != "open")
    std::fprintf(out, "reads: every event checked byte for byte during the warm-up, then one read in %" PRIu64
                 " fully (the others: positions, versions, counts, types)\n",
                 kFullCheckEvery);
  const char* per = cfg.appends() ? "append, call to acknowledgement"
                    : cfg.workload == "read-stream" ? "read of a whole stream of 100 events"
                    : cfg.workload == "read-all" ? "read_all page of 4096 events"
                    : cfg.workload == "read-filtered" ? "read_all_filtered page of up to 4096 events" : "open";
  std::fprintf(out, "ops = %s; latency per %s; MB/s = event data + metadata; xW/raw = ops/s / (W / raw fdatasync "
               "p50); p50/raw = p50 / raw fdatasync p50; MB/raw = MB/s / raw write MB/s; cpu/ev = CPU us of the "
               "whole process (all threads) per event, measured phase\n",
               cfg.appends() ? "appends" : cfg.workload == "open" ? "opens" : "reads", per);
}

void print_columns(FILE* out, const Config& cfg) {
  if (cfg.workload == "open") {
    std::fprintf(out, "\n%-8s %9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %8s %9s %9s %8s\n", "backend", "events",
                 "open ms", "ro ms", "empty ms", "empty ro", "crash ms", "replay MB", "rss MB", "ro rss", "MB/M ev",
                 "build s", "raw p50", "raw MB/s", "ms/cairn");
    return;
  }
  std::fprintf(out, "\n%-8s %-14s %-5s %3s %6s %5s %5s %10s %10s %8s %8s %8s %8s %8s %8s | %8s %8s | %6s %7s %6s | "
               "%7s %7s %6s %5s %-6s %s\n",
               "backend", "workload", "dur", "W", "size", "batch", "infl", "events/s", "ops/s", "MB/s", "p50 us",
               "p90 us", "p99 us", "p999 us", "max us", "raw p50", "raw MB/s", "xW/raw", "p50/raw", "MB/raw",
               "x cairn", "rss MB", "cpu/ev", "confl", "disk", "events/s range");
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

// `cairn_ms`: Cairn's open_ms when the table compares backends (open), else 0.
void print_row(FILE* out, const Config& cfg, const Context& ctx, const Series& s, double cairn_rate,
               double cairn_ms) {
  const Run& r = s.median;
  std::string vs = cairn_rate > 0 ? ratio(r.events_per_s / cairn_rate) : "-";
  if (cfg.workload == "open") {
    bool cairn = s.backend == "cairn";
    auto ms = [](double v, bool have) { return have ? fmt(v < 10 ? "%.3f" : "%.1f", v) : std::string("-"); };
    std::string vs_ms = cairn_ms > 0 ? ratio(r.open_ms / cairn_ms) : "-";
    std::fprintf(out, "%-8s %9.0f %9s %9s %9s %9s %9s %9s %8.1f %8s %8.2f %8.1f %9.1f %9.0f %8s\n",
                 s.backend.c_str(), r.events, ms(r.open_ms, true).c_str(), ms(r.open_ro_ms, cairn).c_str(),
                 ms(r.empty_open_ms, true).c_str(), ms(r.empty_open_ro_ms, cairn).c_str(),
                 ms(r.crash_open_ms, cairn).c_str(), cairn ? fmt("%.1f", r.crash_replayed_mb).c_str() : "-",
                 r.open_rss_mb, cairn ? fmt("%.1f", r.open_ro_rss_mb).c_str() : "-", r.open_rss_mb_per_m, r.build_s,
                 r.raw_p50_us, r.raw_mb_per_s, vs_ms.c_str());
    return;
  }
  std::fprintf(out, "%-8s %-14s %-5s %3d %6zu %5u %5u %10.0f %10.0f %8.1f %8s %8s %8s %8s %8s | %8.1f %8.0f | %6s %7s "
               "%6s | %7s %7.0f %6.2f %5.0f %-6s %s\n",
               s.backend.c_str(), cfg.workload.c_str(), cfg.durability.c_str(), cfg.writers, cfg.event_size, cfg.batch,
               cfg.inflight, r.events_per_s, r.ops_per_s, r.mb_per_s, num(r.p50_us).c_str(), num(r.p90_us).c_str(),
               num(r.p99_us).c_str(), num(r.p999_us).c_str(), num(r.max_us).c_str(), r.raw_p50_us, r.raw_mb_per_s,
               ratio(r.x_bound).c_str(), ratio(r.p50_ratio).c_str(), ratio(r.mb_ratio).c_str(), vs.c_str(), r.rss_mb,
               r.cpu_us_per_event, r.conflicts, ctx.machine.device.c_str(), range_of(s).c_str());
}

void print_details(FILE* out, const Config& cfg, const Series& s) {
  const Run& r = s.median;
  if (!s.error.empty()) std::fprintf(out, "  %s FAILED: %s\n", s.backend.c_str(), s.error.c_str());
  if (cfg.workload == "mixed")
    std::fprintf(out, "  %s reader: %.0f streams/s, %.0f events/s, p50 %s us, p99 %s us; subscriber: %.0f events/s "
                 "(%s)\n", s.backend.c_str(), r.read_ops_per_s, r.read_events_per_s, num(r.read_p50_us).c_str(),
                 num(r.read_p99_us).c_str(), r.subscriber_events_per_s,
                 s.backend == "cairn" ? "Store::subscribe" : "polling read_all");
  if (cfg.workload == "read-stream")
    std::fprintf(out, "  %s read-stream: %.0f streams/s (whole streams of 100 events, random among %u), p50 %s us "
                 "p99 %s us per stream; store written in %.1f s\n",
                 s.backend.c_str(), r.ops_per_s, store_streams(cfg), num(r.p50_us).c_str(), num(r.p99_us).c_str(),
                 r.build_s);
  if (cfg.workload == "read-all")
    std::fprintf(out, "  %s read-all: %.0f events/s; store written in %.1f s\n", s.backend.c_str(), r.events_per_s,
                 r.build_s);
  if (cfg.workload == "read-filtered")
    std::fprintf(out, "  %s read-filtered: %.0f events of type %s per pass (1 %% of %.0f), %s: %.0f events/s "
                 "filtered; unfiltered read_all scan of the same store %.0f events/s; filtered / unfiltered "
                 "events/s = %s; unfiltered scan of the whole store / filtered read of its matches (time) = %s; "
                 "store written in %.1f s\n",
                 s.backend.c_str(), r.matches, kRareType, r.matches * kRareEvery,
                 s.indexed_filter ? "Store::read_all_filtered (type bitmaps)" : "read_all pages + type check",
                 r.events_per_s, r.scan_events_per_s, ratio(r.rate_ratio).c_str(), ratio(r.speedup).c_str(),
                 r.build_s);
  if (cfg.workload == "open") {
    std::fprintf(out, "  %s open: %s ms (store of %.0f events at this open)", s.backend.c_str(),
                 fmt("%.3f", r.open_ms).c_str(), r.store_events);
    if (s.backend == "cairn")
      std::fprintf(out, ", read-only %s ms; empty %s ms, read-only %s ms", fmt("%.3f", r.open_ro_ms).c_str(),
                   fmt("%.3f", r.empty_open_ms).c_str(), fmt("%.3f", r.empty_open_ro_ms).c_str());
    else
      std::fprintf(out, "; empty %s ms (no read-only or crashed figures: Cairn only)",
                   fmt("%.3f", r.empty_open_ms).c_str());
    std::fprintf(out, "; resident memory (VmRSS of the probe process after the open - before): +%.1f MB, empty "
                 "store +%.1f MB",
                 r.open_rss_mb, r.empty_open_rss_mb);
    if (s.backend == "cairn")
      std::fprintf(out, "; read-only +%.1f MB (anonymous +%.1f, mapped files +%.1f: segments %.1f, index files "
                   "%.1f), empty store +%.1f MB",
                   r.open_ro_rss_mb, r.open_ro_anon_mb, r.open_ro_file_mb, r.open_ro_seg_mb, r.open_ro_idx_mb,
                   r.empty_open_ro_rss_mb);
    std::fprintf(out, "; so %.2f MB per million events (%s open: store - empty store); store written in %.1f s\n",
                 r.open_rss_mb_per_m, s.backend == "cairn" ? "read-only" : "the", r.build_s);
    if (s.backend == "cairn")
      std::fprintf(out, "  cairn crashed copy: the child appended %.0f events (%.1f MB, %.0f segment roll-over(s), "
                   "pause %" PRIu64 " ms after it) and was SIGKILLed; the open after it took %s ms and read %.0f "
                   "batches = %.0f events = about %.1f MB of log after the index checkpoint (which covered %.0f "
                   "positions)\n",
                   r.crash_appended_events, r.crash_appended_mb, r.crash_rolls, cfg.crash_pause_ms,
                   fmt("%.3f", r.crash_open_ms).c_str(),
                   r.crash_scanned_batches, r.crash_replayed_events, r.crash_replayed_mb, r.crash_indexed_positions);
  }
  if (s.backend != "cairn" || cfg.workload == "open" || !cfg.appends()) return;
  std::fprintf(out, "  cairn stats: io %s | %s events/fdatasync | group events p50 %s max %.0f | sync latency p50 %s us "
               "p99 %s us | queue wait p50 %s us p99 %s us | mapped %.0f %% | filler %.0f MB | close %.0f ms\n",
               s.io_backend.c_str(), ratio(r.events_per_sync).c_str(), num(r.group_events_p50).c_str(),
               r.group_events_max, num(r.sync_p50_us).c_str(), num(r.sync_p99_us).c_str(), num(r.queue_p50_us).c_str(),
               num(r.queue_p99_us).c_str(), 100 * r.mapped_share, r.fill_mb, r.close_ms);
}

void print_table(FILE* out, const Config& cfg, const Context& ctx, const std::vector<Series>& all) {
  print_header(out, cfg, ctx);
  print_columns(out, cfg);
  double cairn_rate = 0, cairn_ms = 0;
  for (const Series& s : all)
    if (s.backend == "cairn") cairn_rate = s.median.events_per_s, cairn_ms = s.median.open_ms;
  bool compare = cfg.backends.size() > 1;
  for (const Series& s : all) print_row(out, cfg, ctx, s, compare ? cairn_rate : 0, compare ? cairn_ms : 0);
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
      {"direct_io", cfg.direct ? "true" : "false"},
      {"mapped_writes", cfg.mapped ? "true" : "false"},
      {"cached_sealed_segments", std::to_string(cfg.cached_segments)},
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
                           {"fdatasync_ops_per_s", jnum(r.raw_ops_per_s)}, {"write_mb_per_s", jnum(r.raw_mb_per_s)},
                           {"write_mode", quoted(cfg.direct ? "O_DIRECT" : "buffered")}})},
      {"ratios", json_object({{"ops_per_s_over_writers_per_raw_fdatasync", jnum(r.x_bound)},
                              {"p50_over_raw_fdatasync_p50", jnum(r.p50_ratio)},
                              {"mb_per_s_over_raw_write_mb_per_s", jnum(r.mb_ratio)},
                              {"events_per_s_over_cairn", jnum(cairn_rate > 0 ? r.events_per_s / cairn_rate : 0)}})},
      {"conflicts", jnum(r.conflicts)}, {"rss_mb", jnum(r.rss_mb)}, {"cpu_us_per_event", jnum(r.cpu_us_per_event)}, {"repeat", jnum(cfg.repeat)},
      {"warmup", quoted(cfg.events > 0 && cfg.appends() ? std::to_string(cfg.events / 10) + " events"
                                                          : fmt("%g s", cfg.warmup_seconds()))},
      {"dir", quoted(ctx.dir)}, {"fs", quoted(ctx.machine.fs_type)}, {"device", quoted(ctx.machine.device)},
      {"kernel", quoted(ctx.machine.kernel)}, {"cpus", jnum(ctx.machine.cpus)},
  };
  if (cfg.workload == "open") {
    f.emplace_back("open_ms", jnum(r.open_ms));
    f.emplace_back("empty_open_ms", jnum(r.empty_open_ms));
    f.emplace_back("store_events", jnum(r.store_events));
    f.emplace_back("build_s", jnum(r.build_s));
    f.emplace_back("open_rss_mb", jnum(r.open_rss_mb));
    f.emplace_back("empty_open_rss_mb", jnum(r.empty_open_rss_mb));
    f.emplace_back("open_rss_mb_per_million_events", jnum(r.open_rss_mb_per_m));
    if (s.backend == "cairn") {
      f.emplace_back("open_read_only_ms", jnum(r.open_ro_ms));
      f.emplace_back("empty_open_read_only_ms", jnum(r.empty_open_ro_ms));
      f.emplace_back("open_read_only_rss_mb", jnum(r.open_ro_rss_mb));
      f.emplace_back("empty_open_read_only_rss_mb", jnum(r.empty_open_ro_rss_mb));
      f.emplace_back("open_read_only_rss_split_mb",
                     json_object({{"anon", jnum(r.open_ro_anon_mb)}, {"file", jnum(r.open_ro_file_mb)},
                                  {"segments", jnum(r.open_ro_seg_mb)}, {"index_files", jnum(r.open_ro_idx_mb)}}));
      f.emplace_back("crash", json_object({{"pause_ms_after_roll", jnum(static_cast<double>(cfg.crash_pause_ms))},
                                           {"appended_events", jnum(r.crash_appended_events)},
                                           {"appended_mb", jnum(r.crash_appended_mb)},
                                           {"segment_rolls", jnum(r.crash_rolls)},
                                           {"open_ms", jnum(r.crash_open_ms)},
                                           {"indexed_positions", jnum(r.crash_indexed_positions)},
                                           {"scanned_batches", jnum(r.crash_scanned_batches)},
                                           {"replayed_events", jnum(r.crash_replayed_events)},
                                           {"replayed_mb", jnum(r.crash_replayed_mb)}}));
    }
  }
  if (cfg.workload == "read-stream" || cfg.workload == "read-all" || cfg.workload == "read-filtered")
    f.emplace_back("build_s", jnum(r.build_s));
  if (cfg.workload == "read-stream") f.emplace_back("streams_per_s", jnum(r.ops_per_s));
  if (cfg.workload == "read-filtered")
    f.emplace_back("filtered", json_object({{"event_type", quoted(kRareType)},
                                            {"how", quoted(s.indexed_filter ? "index" : "scan with a type check")},
                                            {"matches_per_pass", jnum(r.matches)},
                                            {"events_per_s", jnum(r.events_per_s)},
                                            {"unfiltered_scan_events_per_s", jnum(r.scan_events_per_s)},
                                            {"events_per_s_over_unfiltered", jnum(r.rate_ratio)},
                                            {"unfiltered_scan_time_over_filtered_time", jnum(r.speedup)}}));
  if (cfg.workload == "mixed") {
    f.emplace_back("reads", json_object({{"streams_per_s", jnum(r.read_ops_per_s)},
                                         {"events_per_s", jnum(r.read_events_per_s)},
                                         {"latency_us", json_object({{"p50", jnum(r.read_p50_us)},
                                                                     {"p99", jnum(r.read_p99_us)}})}}));
    f.emplace_back("subscriber", json_object({{"events_per_s", jnum(r.subscriber_events_per_s)},
                                              {"how", quoted(s.backend == "cairn" ? "Store::subscribe"
                                                                                  : "polling read_all")}}));
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
  if (!cfg.probe.empty()) return probe_main(cfg);
  g_args.assign(argv + 1, argv + argc);
  if (cfg.workload == "subscribe") {
    return run_subscribe_bench({make_dir(cfg), cfg.duration, {1, 100}, cfg.events ? cfg.events : 10'000'000,
                                cfg.event_size, 10'000, cfg.repeat, cfg.json});
  }
  if (cfg.workload == "hydrate") {
    return run_hydrate_bench({make_dir(cfg), cfg.events ? cfg.events : 10'000, 10, cfg.event_size, cfg.snapshot_bytes,
                              cfg.repeat, cfg.json});
  }
  if (cfg.workload == "checkpoint") {
    return run_checkpoint_bench({make_dir(cfg), cfg.store_mib, cfg.segment_mib, cfg.event_size, cfg.repeat, cfg.json});
  }
  Context ctx;
  ctx.dir = make_dir(cfg);
  ctx.machine = probe(ctx.dir);
  std::vector<Series> all;
  for (const auto& name : cfg.backends) all.push_back(Series{name, {}, {}, {}, {}, false});
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
