#include "hydrate_bench.h"

#include "raw_disk.h"

#include <cairn/store.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kBatch = 10;
constexpr double kMinSeconds = 1.0;  // each measurement runs at least this long
constexpr int kMinRounds = 20;
const std::string kStream = "Account-1";
const std::string kSchema = "Account/v1";

double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}


// The aggregate: what folding its events yields. A real one decodes each
// event; this one hashes its data (FNV-1a), so every byte is touched.
struct State {
  uint64_t count = 0;
  uint64_t hash = 1469598103934665603ull;
  std::string blob;  // the rest of the state, opaque here

  void apply(const RecordedEvent& e) {
    for (char c : e.data) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    ++count;
  }
  std::string encode(size_t bytes) const {
    std::string out(std::max<size_t>(bytes, 16), '\0');
    std::memcpy(out.data(), &count, 8);
    std::memcpy(out.data() + 8, &hash, 8);
    std::memcpy(out.data() + 16, blob.data(), std::min(blob.size(), out.size() - 16));
    return out;
  }
  static State decode(const std::string& bytes) {
    State s;
    std::memcpy(&s.count, bytes.data(), 8);
    std::memcpy(&s.hash, bytes.data() + 8, 8);
    s.blob = bytes.substr(16);
    return s;
  }
};

void fail(const char* what, const Status& s) { std::fprintf(stderr, "cairn-bench: %s: %s\n", what, s.to_string().c_str()); }

// `events` events of the aggregate, each batch of kBatch followed by as many
// of another stream, so the aggregate's events are spread over the log.
bool write_stream(Store& store, const HydrateBench& b) {
  std::vector<std::string> data(kBatch);
  std::vector<NewEvent> events(kBatch);
  for (uint64_t written = 0; written < b.events; written += kBatch) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kBatch, b.events - written));
    for (uint32_t i = 0; i < n; ++i) data[i] = std::string(b.event_size, static_cast<char>('a' + (written + i) % 26));
    std::span<const NewEvent> batch(events.data(), n);
    for (const std::string& stream : {kStream, "Other-" + std::to_string(written % 97)}) {
      for (uint32_t i = 0; i < n; ++i) events[i] = NewEvent{EventId::random(), "Deposited", data[i], "{}"};
      auto r = store.append(stream, ExpectedVersion::any(), batch, Durability::kNone);
      if (!r.ok()) {
        fail("append", r.status());
        return false;
      }
    }
  }
  return true;
}

Result<State> replay(const Store& store) {
  auto events = store.read_stream(kStream, 0, SIZE_MAX);
  if (!events.ok()) return events.status();
  State s;
  for (const RecordedEvent& e : *events) s.apply(e);
  return s;
}

Result<State> hydrate(const Store& store) {
  auto h = store.snapshots().hydrate(kStream, kSchema);
  if (!h.ok()) return h.status();
  State s = h->snapshot ? State::decode(h->snapshot->data) : State();
  for (const RecordedEvent& e : h->events) s.apply(e);
  return s;
}

// Microseconds per call of `f`, over at least kMinSeconds and kMinRounds.
template <typename F>
double time_per_call(F&& f) {
  auto t0 = Clock::now();
  int rounds = 0;
  while (rounds < kMinRounds || us_since(t0) < kMinSeconds * 1e6) {
    if (!f()) return -1;
    ++rounds;
  }
  return us_since(t0) / rounds;
}

void report(const HydrateBench& b, const char* kind, const std::vector<double>& us) {
  std::fprintf(b.json ? stderr : stdout, "%-26s %10.1f us (min %.1f, max %.1f)\n", kind, median(us),
               *std::min_element(us.begin(), us.end()), *std::max_element(us.begin(), us.end()));
  if (b.json) {
    std::printf("{\"workload\":\"hydrate\",\"kind\":\"%s\",\"events\":%" PRIu64 ",\"tail\":%" PRIu64
                ",\"event_size\":%zu,\"snapshot_bytes\":%zu,\"repeat\":%zu,\"median_us\":%.3f}\n",
                kind, b.events, b.tail, b.event_size, b.snapshot_bytes, us.size(), median(us));
  }
}

// Saves the aggregate's state as of `tail` events before the end; returns
// the microseconds the save took (-1 on an error).
double save_snapshot(Store& store, const HydrateBench& b) {
  auto events = store.read_stream(kStream, 0, b.events - b.tail);
  if (!events.ok()) {
    fail("read_stream", events.status());
    return -1;
  }
  State s;
  s.blob.assign(b.snapshot_bytes, 's');
  for (const RecordedEvent& e : *events) s.apply(e);
  std::string bytes = s.encode(b.snapshot_bytes);
  auto t0 = Clock::now();
  auto saved = store.snapshots().save(kStream, s.count - 1, kSchema, bytes);
  double us = us_since(t0);
  if (!saved.ok()) {
    fail("save", saved.status());
    return -1;
  }
  return us;
}

}  // namespace

int run_hydrate_bench(const HydrateBench& b) {
  if (b.tail >= b.events) {
    std::fprintf(stderr, "cairn-bench: hydrate: --events must exceed the tail\n");
    return 1;
  }
  auto opened = Store::open(b.dir + "/store");
  if (!opened.ok()) {
    fail("open", opened.status());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  if (!write_stream(*store, b)) return 1;
  std::fprintf(stderr, "hydrate: %" PRIu64 " events of %s (%zu B each) among %" PRIu64
               " events; a %zu B snapshot at version %" PRIu64 ", %" PRIu64 " events after it\n",
               b.events, kStream.c_str(), b.event_size, store->next_position(), b.snapshot_bytes,
               b.events - b.tail - 1, b.tail);
  std::vector<double> replayed, hydrated, saves;
  for (int rep = 0; rep < b.repeat; ++rep) {
    saves.push_back(save_snapshot(*store, b));
    auto full = replay(*store);
    auto fast = hydrate(*store);
    if (saves.back() < 0 || !full.ok() || !fast.ok()) return 1;
    if (full->count != fast->count || full->hash != fast->hash) {
      std::fprintf(stderr, "cairn-bench: hydrate: the snapshot's state differs from the replayed one\n");
      return 1;
    }
    replayed.push_back(time_per_call([&] { return replay(*store).ok(); }));
    hydrated.push_back(time_per_call([&] { return hydrate(*store).ok(); }));
  }
  report(b, ("replay " + std::to_string(b.events) + " events").c_str(), replayed);
  report(b, ("snapshot + " + std::to_string(b.tail) + " events").c_str(), hydrated);
  report(b, "save snapshot (fdatasync)", saves);
  double ratio = median(hydrated) > 0 ? median(replayed) / median(hydrated) : 0;
  std::fprintf(b.json ? stderr : stdout, "ratio replay / hydrate: %.1f\n", ratio);
  if (b.json) std::printf("{\"workload\":\"hydrate\",\"kind\":\"ratio\",\"ratio\":%.3f}\n", ratio);
  return 0;
}

}  // namespace cairn::bench
