// cairn-bench-peer-check: the event-store semantics of each peer backend compiled into cairn-bench
// (RocksDB, LevelDB, LMDB, SQLite), checked at each durability level (sync, batch, none):
//
//   * 4 threads append 3 streams x 50 events in batches of 1-5, each with the exact expected version
//     it believes current. Threads race on the same streams, so some appends are refused; after a
//     refusal the thread reads the stream back to learn its version. Exactly one append may win
//     each version: the events acknowledged must add up to 150.
//   * Meanwhile a reader polls read_all: the prefix it sees must be dense from position 0, never
//     shrink, hold each stream as versions 0..k in position order, and every byte must match.
//   * Wrong expected versions are refused (stale, future, "no stream" on an existing stream, an
//     exact version on a missing stream), and leave no trace; -1 and -2 (any) work on a new stream.
//   * Every stream (whole, from a middle version, with a count limit, past its end) and read_all
//     (whole and paged) are read back and compared field by field, byte by byte: version, position,
//     id, type, data, metadata; stream and global positions must agree.
//   * The store is closed and reopened: the same reads again, then an append continues the stream
//     at the next version and the next global position.
//
// Event content is a function of (stream, version); data starts with "<stream>\0<version>\0" so an
// event seen in read_all (which returns no stream name) can be identified. Bytes cover 0..255.
//
//   cairn-bench-peer-check [--dir PATH] [--keep] [PEER...]
//
// PATH defaults to a fresh directory under the current one, removed afterwards unless --keep.
// Exit status 0 when every check passed.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend.h"

namespace cairn::bench {
#if CAIRN_BENCH_HAVE_ROCKSDB
std::unique_ptr<Backend> open_rocksdb(const BackendOptions& options, std::string* error);
#endif
#if CAIRN_BENCH_HAVE_LEVELDB
std::unique_ptr<Backend> open_leveldb(const BackendOptions& options, std::string* error);
#endif
#if CAIRN_BENCH_HAVE_LMDB
std::unique_ptr<Backend> open_lmdb(const BackendOptions& options, std::string* error);
#endif
#if CAIRN_BENCH_HAVE_SQLITE
std::unique_ptr<Backend> open_sqlite(const BackendOptions& options, std::string* error);
#endif
}  // namespace cairn::bench

namespace {

using namespace cairn::bench;
using Clock = std::chrono::steady_clock;
using OpenFn = std::unique_ptr<Backend> (*)(const BackendOptions&, std::string*);

constexpr int kThreads = 4;
constexpr int kStreams = 3;
constexpr int64_t kPerStream = 50;
const char* const kNew = "New-0";  // the stream of the -1 / -2 checks

std::string stream_name(int s) { return "Order-" + std::to_string(s); }

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t seed_of(const std::string& stream, uint64_t version) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : stream) h = (h ^ c) * 1099511628211ull;
  return mix(h ^ mix(version));
}

std::string random_bytes(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) seed = mix(seed);
    s[i] = static_cast<char>(seed >> (8 * (i % 8)));
  }
  return s;
}

BenchEvent make_event(const std::string& stream, uint64_t version) {
  const uint64_t seed = seed_of(stream, version);
  BenchEvent e;
  e.id = random_bytes(seed, 16);
  static const char* const kTypes[] = {"OrderPlaced", "ItemAdded", "OrderShipped"};
  e.type = kTypes[version % 3];
  e.data = stream;
  e.data.push_back('\0');
  e.data += std::to_string(version);
  e.data.push_back('\0');
  e.data += random_bytes(seed + 1, version % 11 == 5 ? 0 : 200);
  e.metadata = version % 7 == 3 ? std::string() : random_bytes(seed + 2, 32);
  return e;
}

std::vector<BenchEvent> make_batch(const std::string& stream, uint64_t first_version, size_t n) {
  std::vector<BenchEvent> v;
  for (size_t i = 0; i < n; ++i) v.push_back(make_event(stream, first_version + i));
  return v;
}

// The stream an event belongs to, from its data ("" when unparseable).
std::pair<std::string, uint64_t> identify(const ReadEvent& e) {
  size_t a = e.data.find('\0');
  if (a == std::string::npos) return {"", 0};
  size_t b = e.data.find('\0', a + 1);
  if (b == std::string::npos) return {"", 0};
  return {e.data.substr(0, a), std::strtoull(e.data.substr(a + 1, b - a - 1).c_str(), nullptr, 10)};
}

class Checker {
 public:
  void fail(const std::string& what) {
    std::lock_guard lock(mu_);
    if (failures_.size() < 20) failures_.push_back(what);
    ++count_;
  }
  bool ok() const { return count_ == 0; }
  void print() const {
    for (const auto& f : failures_) std::printf("    FAIL: %s\n", f.c_str());
    if (count_ > failures_.size()) std::printf("    ... %zu failures in all\n", count_);
  }

  // `e` is the event at `version` of `stream`, byte for byte.
  bool event_matches(const std::string& where, const std::string& stream, uint64_t version, const ReadEvent& e) {
    BenchEvent want = make_event(stream, version);
    const char* bad = nullptr;
    if (e.version != version) bad = "version";
    else if (e.id != want.id) bad = "id";
    else if (e.type != want.type) bad = "type";
    else if (e.data != want.data) bad = "data";
    else if (e.metadata != want.metadata) bad = "metadata";
    if (bad == nullptr) return true;
    fail(where + ": " + stream + "@" + std::to_string(version) + " (position " + std::to_string(e.position) +
         ", version read " + std::to_string(e.version) + "): wrong " + bad);
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> failures_;
  size_t count_ = 0;
};

struct Expected {
  std::map<std::string, uint64_t> count;  // stream -> number of events (versions 0..n-1)
  uint64_t total() const {
    uint64_t t = 0;
    for (const auto& [s, n] : count) t += n;
    return t;
  }
};

// Checks a read_all prefix: dense positions from `from`, each event identified and byte-exact,
// per stream versions contiguous and increasing (starting at 0 when from == 0). Records each
// (stream, version) -> position in `positions` when given.
void check_global(Checker& c, const std::string& where, const std::vector<ReadEvent>& events, uint64_t from,
                  std::map<std::pair<std::string, uint64_t>, uint64_t>* positions) {
  std::map<std::string, int64_t> last;
  for (size_t i = 0; i < events.size(); ++i) {
    const ReadEvent& e = events[i];
    if (e.position != from + i) {
      c.fail(where + ": position " + std::to_string(e.position) + " at index " + std::to_string(i) + " (want " +
             std::to_string(from + i) + ")");
      return;
    }
    auto [stream, version] = identify(e);
    if (stream.empty()) {
      c.fail(where + ": unidentifiable event at position " + std::to_string(e.position));
      return;
    }
    if (!c.event_matches(where, stream, version, e)) return;
    auto it = last.find(stream);
    if (it != last.end() ? static_cast<int64_t>(version) != it->second + 1 : (from == 0 && version != 0)) {
      c.fail(where + ": " + stream + "@" + std::to_string(version) + " at position " + std::to_string(e.position) +
             " does not follow version " + (it != last.end() ? std::to_string(it->second) : "none"));
      return;
    }
    last[stream] = static_cast<int64_t>(version);
    if (positions != nullptr) (*positions)[{stream, version}] = e.position;
  }
}

// Every read the harness makes, against the expected content.
void verify_all(Checker& c, Backend& b, const Expected& want, const std::string& phase) {
  std::string err;
  std::vector<ReadEvent> all;
  const uint64_t total = want.total();
  if (!b.read_all(0, 1'000'000, &all, &err)) {
    c.fail(phase + ": read_all: " + err);
    return;
  }
  if (all.size() != total) c.fail(phase + ": read_all returned " + std::to_string(all.size()) + " events, want " +
                                  std::to_string(total));
  std::map<std::pair<std::string, uint64_t>, uint64_t> positions;
  check_global(c, phase + " read_all", all, 0, &positions);

  // Paged read_all (pages of 7) equals the whole.
  std::vector<ReadEvent> paged, page;
  for (uint64_t from = 0;;) {
    if (!b.read_all(from, 7, &page, &err)) {
      c.fail(phase + ": paged read_all: " + err);
      return;
    }
    if (page.empty()) break;
    if (page.size() > 7) c.fail(phase + ": read_all page of " + std::to_string(page.size()) + " > 7");
    from = page.back().position + 1;
    paged.insert(paged.end(), page.begin(), page.end());
  }
  check_global(c, phase + " paged read_all", paged, 0, nullptr);
  if (paged.size() != all.size()) c.fail(phase + ": paged read_all returned " + std::to_string(paged.size()));
  if (!b.read_all(total, 10, &page, &err) || !page.empty()) c.fail(phase + ": read_all past the end not empty");
  if (total > 5 && (!b.read_all(total - 5, 100, &page, &err) || page.size() != 5 || page[0].position != total - 5))
    c.fail(phase + ": read_all of the last 5 events");

  for (const auto& [stream, n] : want.count) {
    std::vector<ReadEvent> events;
    if (!b.read_stream(stream, 0, 1'000'000, &events, &err)) {
      c.fail(phase + ": read_stream " + stream + ": " + err);
      continue;
    }
    if (events.size() != n) c.fail(phase + ": read_stream " + stream + " returned " + std::to_string(events.size()) +
                                   " events, want " + std::to_string(n));
    for (size_t v = 0; v < events.size(); ++v) {
      if (!c.event_matches(phase + " read_stream", stream, v, events[v])) break;
      auto it = positions.find({stream, v});
      if (it == positions.end() || it->second != events[v].position) {
        c.fail(phase + ": " + stream + "@" + std::to_string(v) + " has position " +
               std::to_string(events[v].position) + " in read_stream but not in read_all");
        break;
      }
    }
    // From a middle version, with a limit; past the end.
    const uint64_t from = n / 2;
    if (!b.read_stream(stream, from, 10, &events, &err)) {
      c.fail(phase + ": read_stream " + stream + " from " + std::to_string(from) + ": " + err);
      continue;
    }
    if (events.size() != std::min<uint64_t>(10, n - from))
      c.fail(phase + ": read_stream " + stream + " from " + std::to_string(from) + " limit 10 returned " +
             std::to_string(events.size()));
    for (size_t i = 0; i < events.size(); ++i)
      if (!c.event_matches(phase + " read_stream from", stream, from + i, events[i])) break;
    if (!b.read_stream(stream, n, 10, &events, &err) || !events.empty())
      c.fail(phase + ": read_stream " + stream + " past its end not empty");
  }
  std::vector<ReadEvent> none;
  if (!b.read_stream("Order-missing", 0, 10, &none, &err) || !none.empty())
    c.fail(phase + ": read_stream of a missing stream not empty");
}

struct RunStats {
  uint64_t appends = 0, conflicts = 0, polls = 0, refused = 0;
};

void concurrent_appends(Checker& c, Backend& b, RunStats* stats) {
  std::atomic<int64_t> known[kStreams];
  for (auto& k : known) k.store(-1);
  std::atomic<uint64_t> acknowledged{0}, appends{0}, conflicts{0};
  std::atomic<bool> writers_done{false};

  auto writer = [&](int t) {
    std::string err;
    std::vector<ReadEvent> events;
    for (uint64_t iter = 0;; ++iter) {
      bool all_done = true;
      for (int s = 0; s < kStreams; ++s) all_done = all_done && known[s].load() >= kPerStream - 1;
      if (all_done) return;
      const int s = static_cast<int>((iter + t) % kStreams);  // threads 0 and 3 always race
      const std::string stream = stream_name(s);
      const int64_t exp = known[s].load();
      if (exp >= kPerStream - 1) continue;
      const uint64_t next = static_cast<uint64_t>(exp + 1);
      const size_t n = std::min<uint64_t>(1 + (next * 7 + t) % 5, kPerStream - next);
      if (b.append(stream, exp, make_batch(stream, next, n), &err)) {
        appends++;
        acknowledged += n;
        int64_t k = exp;
        while (k < exp + static_cast<int64_t>(n) && !known[s].compare_exchange_weak(k, exp + static_cast<int64_t>(n))) {
        }
        continue;
      }
      // Refused: the stream must have moved past `exp`; learn where it is from a read.
      conflicts++;
      if (!b.read_stream(stream, 0, 1'000'000, &events, &err)) {
        c.fail("read_stream during appends: " + err);
        return;
      }
      for (size_t v = 0; v < events.size(); ++v)
        if (!c.event_matches("read_stream during appends", stream, v, events[v])) return;
      const int64_t last = static_cast<int64_t>(events.size()) - 1;
      if (last <= exp) {
        c.fail("append to " + stream + " with the current version " + std::to_string(exp) + " refused: " + err);
        return;
      }
      int64_t k = known[s].load();
      while (k < last && !known[s].compare_exchange_weak(k, last)) {
      }
    }
  };

  auto reader = [&] {
    std::string err;
    std::vector<ReadEvent> events;
    size_t seen = 0;
    bool last_round = false;
    for (;;) {
      last_round = writers_done.load();
      if (!b.read_all(0, 1'000'000, &events, &err)) {
        c.fail("read_all during appends: " + err);
        return;
      }
      stats->polls++;
      if (events.size() < seen) c.fail("read_all shrank from " + std::to_string(seen) + " to " +
                                       std::to_string(events.size()) + " events");
      seen = events.size();
      check_global(c, "read_all during appends", events, 0, nullptr);
      if (last_round) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  };

  std::thread r(reader);
  std::vector<std::thread> ws;
  for (int t = 0; t < kThreads; ++t) ws.emplace_back(writer, t);
  for (auto& w : ws) w.join();
  writers_done = true;
  r.join();
  stats->appends = appends;
  stats->conflicts = conflicts;
  if (acknowledged != kStreams * kPerStream)
    c.fail("appends acknowledged " + std::to_string(acknowledged.load()) + " events, want " +
           std::to_string(kStreams * kPerStream) + " (a version won twice?)");
}

void refusals(Checker& c, Backend& b, RunStats* stats) {
  std::string err;
  auto refuse = [&](const std::string& stream, int64_t exp) {
    err.clear();
    if (b.append(stream, exp, make_batch(stream, 0, 1), &err)) {
      c.fail("append to " + stream + " with wrong expected version " + std::to_string(exp) + " accepted");
    } else if (err.empty()) {
      c.fail("refused append to " + stream + " without an error message");
    } else {
      stats->refused++;
    }
  };
  for (int s = 0; s < kStreams; ++s) {
    for (int64_t exp : {kPerStream - 2, int64_t{0}, int64_t{-1}, kPerStream, kPerStream + 1000}) refuse(stream_name(s), exp);
  }
  refuse("Order-missing", 0);
  // -1 (no stream) and -2 (any) on a new stream: versions 0, 1, then 2.
  if (!b.append(kNew, -1, make_batch(kNew, 0, 2), &err)) c.fail(std::string("append -1 to a new stream: ") + err);
  if (!b.append(kNew, -2, make_batch(kNew, 2, 1), &err)) c.fail(std::string("append -2 (any): ") + err);
  refuse(kNew, -1);
  refuse(kNew, 1);
}

bool run(const std::string& peer, OpenFn open, Durability d, const std::string& dir) {
  const char* dname = d == Durability::kSync ? "sync" : d == Durability::kBatch ? "batch" : "none";
  auto t0 = Clock::now();
  Checker c;
  RunStats stats;
  BackendOptions options;
  options.dir = dir;
  options.durability = d;
  std::string err;
  Expected want;
  bool reopened = false;
  {
    std::unique_ptr<Backend> b = open(options, &err);
    if (!b) {
      c.fail("open: " + err);
    } else {
      if (b->name() != peer) c.fail("name() is " + b->name());
      concurrent_appends(c, *b, &stats);
      refusals(c, *b, &stats);
      for (int s = 0; s < kStreams; ++s) want.count[stream_name(s)] = kPerStream;
      want.count[kNew] = 3;
      verify_all(c, *b, want, "after appends");
      b->close();
    }
  }
  if (c.ok()) {
    std::unique_ptr<Backend> b = open(options, &err);
    if (!b) {
      c.fail("reopen: " + err);
    } else {
      verify_all(c, *b, want, "after reopen");
      // The stream continues at version 50, the log at the next position.
      const std::string s0 = stream_name(0);
      if (!b->append(s0, kPerStream - 1, make_batch(s0, kPerStream, 1), &err)) {
        c.fail("append after reopen: " + err);
      } else {
        want.count[s0]++;
        std::vector<ReadEvent> tail;
        if (!b->read_all(want.total() - 1, 10, &tail, &err) || tail.size() != 1 ||
            tail[0].position != want.total() - 1)
          c.fail("after reopen, the new event is not at position " + std::to_string(want.total() - 1));
        else
          c.event_matches("after reopen", s0, kPerStream, tail[0]);
        verify_all(c, *b, want, "after reopen + append");
        reopened = true;
      }
      b->close();
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%-8s %-5s %s  %llu events; %d streams x %lld from %d threads: %llu appends won, %llu refused as "
              "stale; %llu wrong versions refused; %llu read_all polls; reopen %s  (%.2f s)\n",
              peer.c_str(), dname, c.ok() ? "ok  " : "FAIL", static_cast<unsigned long long>(want.total()), kStreams,
              static_cast<long long>(kPerStream), kThreads, static_cast<unsigned long long>(stats.appends),
              static_cast<unsigned long long>(stats.conflicts), static_cast<unsigned long long>(stats.refused),
              static_cast<unsigned long long>(stats.polls), reopened ? "ok" : "-", secs);
  c.print();
  std::fflush(stdout);
  return c.ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, OpenFn>> peers = {
#if CAIRN_BENCH_HAVE_ROCKSDB
      {"rocksdb", &open_rocksdb},
#endif
#if CAIRN_BENCH_HAVE_LEVELDB
      {"leveldb", &open_leveldb},
#endif
#if CAIRN_BENCH_HAVE_LMDB
      {"lmdb", &open_lmdb},
#endif
#if CAIRN_BENCH_HAVE_SQLITE
      {"sqlite", &open_sqlite},
#endif
  };
  std::string dir;
  bool keep = false;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [--dir PATH] [--keep] [PEER...]\npeers compiled in:", argv[0]);
      for (const auto& p : peers) std::printf(" %s", p.first.c_str());
      std::printf("\n");
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "unknown option %s (try --help)\n", a.c_str());
      return 2;
    } else {
      only.push_back(a);
    }
  }
  for (const auto& name : only) {
    if (std::none_of(peers.begin(), peers.end(), [&](const auto& p) { return p.first == name; })) {
      std::fprintf(stderr, "peer %s is not compiled in\n", name.c_str());
      return 2;
    }
  }
  if (peers.empty()) {
    std::printf("no peer backends compiled in\n");
    return 0;
  }
  bool made_dir = false;
  if (dir.empty()) {
    char tmpl[] = "cairn-peer-check-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = std::filesystem::absolute(tmpl).string();
    made_dir = true;
  }
  bool ok = true;
  for (const auto& [name, open] : peers) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end()) continue;
    for (Durability d : {Durability::kSync, Durability::kBatch, Durability::kNone}) {
      const char* dname = d == Durability::kSync ? "sync" : d == Durability::kBatch ? "batch" : "none";
      const std::string sub = dir + "/" + name + "-" + dname;
      std::error_code ec;
      std::filesystem::remove_all(sub, ec);  // a fresh directory every time
      ok = run(name, open, d, sub) && ok;
      if (!keep) std::filesystem::remove_all(sub, ec);
    }
  }
  if (made_dir && !keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::printf("%s\n", ok ? "all peer checks passed" : "PEER CHECKS FAILED");
  return ok ? 0 : 1;
}
