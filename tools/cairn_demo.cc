// cairn-demo: Cairn's main job in one run, using only the public API.
// Appends about a million events across thousands of streams from several
// threads into a fresh directory, reads every stream back and checks it,
// reads all events in global order, saves aggregate snapshots and hydrates
// from them, takes a store checkpoint (an online backup) while a writer
// keeps appending and checks the copy, and prints the rate of each phase.
// (`make demo` then checks and dumps the store with the `cairn` tool.)
//
//   cairn-demo [DIR]   (default: ./cairn-demo-data, emptied first)
#include <cairn/checkpoint.h>
#include <cairn/snapshot.h>
#include <cairn/store.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kStreams = 5000;        // stream s is written by thread s % kThreads
constexpr int kEventsPerAppend = 10;
constexpr int kAppendsPerStream = 20;  // 5000 * 20 * 10 = 1,000,000 events
constexpr int kInFlight = 64;          // async appends in flight per thread

std::string stream_name(int s) { return "Order-" + std::to_string(s); }

// Event data is a function of (stream, version), so reads can be checked.
std::string event_data(int s, uint64_t version) {
  std::string d = "{\"order\":" + std::to_string(s) + ",\"version\":" + std::to_string(version) + ",\"pad\":\"";
  d.append(200 - std::min<size_t>(d.size(), 190), static_cast<char>('a' + (s + version) % 26));
  return d + "\"}";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int fail(const std::string& what) {
  std::fprintf(stderr, "cairn-demo: FAILED: %s\n", what.c_str());
  return 1;
}

// Appends all of thread t's streams, keeping kInFlight appends in flight.
bool append_phase(cairn::Store& store, int t, std::atomic<bool>& ok) {
  std::atomic<int> in_flight{0};
  for (int round = 0; round < kAppendsPerStream; ++round) {
    for (int s = t; s < kStreams; s += kThreads) {
      while (in_flight.load() >= kInFlight) std::this_thread::yield();
      std::vector<std::string> data;
      std::vector<cairn::NewEvent> events;
      uint64_t first = static_cast<uint64_t>(round) * kEventsPerAppend;
      for (int i = 0; i < kEventsPerAppend; ++i) data.push_back(event_data(s, first + i));
      for (int i = 0; i < kEventsPerAppend; ++i) {
        events.push_back({cairn::EventId::random(), i % 2 ? "ItemAdded" : "PriceChanged", data[i], "{}"});
      }
      auto expected = round == 0 ? cairn::ExpectedVersion::no_stream()
                                 : cairn::ExpectedVersion::exactly(first - 1);
      in_flight.fetch_add(1);
      store.append_async(stream_name(s), expected, events, [&](cairn::Result<cairn::AppendResult> r) {
        if (!r.ok()) {
          std::fprintf(stderr, "append failed: %s\n", r.status().to_string().c_str());
          ok = false;
        }
        in_flight.fetch_sub(1);
      });
    }
    // Rounds of one stream must not overtake each other: wait for this round.
    while (in_flight.load() > 0) std::this_thread::yield();
  }
  return ok.load();
}

// The demo's aggregate: the stream's event count and its last event's data.
std::string aggregate_state(int s, uint64_t events) {
  return "{\"events\":" + std::to_string(events) + ",\"last\":" + event_data(s, events - 1) + "}";
}

int snapshot_phase(cairn::Store& store) {
  constexpr int kEvery = 10;
  const uint64_t last = uint64_t{kAppendsPerStream} * kEventsPerAppend - 1;
  auto t0 = std::chrono::steady_clock::now();
  int saved = 0;
  for (int s = 0; s < kStreams; s += kEvery, ++saved) {
    auto info = store.snapshots().save(stream_name(s), last, "OrderState/v1", aggregate_state(s, last + 1));
    if (!info.ok()) return fail("snapshot save: " + info.status().to_string());
  }
  double save_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < kStreams; s += kEvery) {
    auto h = store.snapshots().hydrate(stream_name(s), "OrderState/v1");
    if (!h.ok()) return fail("hydrate: " + h.status().to_string());
    if (!h->snapshot || h->snapshot->info.version != last || h->snapshot->data != aggregate_state(s, last + 1) ||
        !h->events.empty()) {
      return fail("hydrate " + stream_name(s) + ": not the saved snapshot");
    }
  }
  double hydrate_s = seconds_since(t0);
  std::printf("  snapshots %9.0f saves/s, %.0f hydrations/s  (%d aggregates of %d events, each save durable)\n",
              saved / save_s, saved / hydrate_s, saved, kAppendsPerStream * kEventsPerAppend);
  return 0;
}

int checkpoint_phase(cairn::Store& store, const std::string& dir) {
  std::string target = dir + "-checkpoint";
  std::filesystem::remove_all(target);
  std::atomic<bool> stop{false}, ok{true};
  std::thread writer([&] {  // keeps appending to a stream of its own during the checkpoint
    std::string data(200, 'w');
    while (!stop.load()) {
      cairn::NewEvent e{cairn::EventId::random(), "Written", data, "{}"};
      if (!store.append("Writer-1", cairn::ExpectedVersion::any(), std::span(&e, 1), cairn::Durability::kNone).ok()) {
        ok = false;
        return;
      }
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  auto done = store.checkpoint(target);
  double checkpoint_s = seconds_since(t0);
  stop = true;
  writer.join();
  if (!done.ok()) return fail("checkpoint: " + done.status().to_string());
  if (!ok) return fail("appends during the checkpoint");
  cairn::Options read_only;
  read_only.read_only = true;
  auto copy = cairn::Store::open(target, read_only);
  if (!copy.ok()) return fail("open the checkpoint: " + copy.status().to_string());
  if ((*copy)->next_position() != done->position) return fail("the checkpoint's event count");
  auto last_copied = (*copy)->read_all(done->position - 1, 1);
  auto last_stored = store.read_all(done->position - 1, 1);
  if (!last_copied.ok() || !last_stored.ok() || *last_copied != *last_stored) {
    return fail("the checkpoint's last event differs from the store's");
  }
  std::printf("  checkpoint %.1f ms  (%llu events, as of position %llu, the writer had %llu more by its end; "
              "%llu files linked, %.1f MB copied; into %s)\n",
              checkpoint_s * 1e3, static_cast<unsigned long long>(done->position),
              static_cast<unsigned long long>(done->position),
              static_cast<unsigned long long>(store.next_position() - done->position),
              static_cast<unsigned long long>(done->files_linked), done->bytes_copied / 1e6, target.c_str());
  return 0;
}

}  // namespace

// "p50 X p99 Y max Z" of a nanosecond histogram, in microseconds.
static std::string latency_us(const cairn::Histogram& h) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "p50 %.0f, p99 %.0f, max %.0f", h.percentile(50) / 1e3, h.percentile(99) / 1e3,
                h.max() / 1e3);
  return buf;
}

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : (std::filesystem::current_path() / "cairn-demo-data").string();
  std::filesystem::remove_all(dir);
  auto opened = cairn::Store::open(dir);
  if (!opened.ok()) return fail(opened.status().to_string());
  cairn::Store& store = **opened;
  const uint64_t total = uint64_t{kStreams} * kAppendsPerStream * kEventsPerAppend;
  std::printf("cairn-demo: %llu events of ~220 bytes, %d streams, %d threads, into %s\n",
              static_cast<unsigned long long>(total), kStreams, kThreads, dir.c_str());

  // 1. Append, durably (every append acknowledged after fdatasync).
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<bool> ok{true};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { append_phase(store, t, ok); });
  for (auto& th : threads) th.join();
  double append_s = seconds_since(t0);
  if (!ok) return fail("appends");
  cairn::StoreStats stats = store.stats();
  if (store.next_position() != total) return fail("next_position " + std::to_string(store.next_position()));
  std::printf("  append    %9.0f events/s  (%llu appends of %d events, %llu group commits, %llu fdatasyncs, %.0f events per fdatasync, %s)\n",
              total / append_s, static_cast<unsigned long long>(stats.appends), kEventsPerAppend,
              static_cast<unsigned long long>(stats.group_commits), static_cast<unsigned long long>(stats.syncs),
              static_cast<double>(stats.events) / static_cast<double>(std::max<uint64_t>(stats.syncs, 1)),
              stats.io_backend.c_str());
  std::printf("            fdatasync latency %s us; events per group %s\n",
              latency_us(stats.sync_latency_ns).c_str(), stats.group_events.to_string().c_str());

  // 2. Read every stream back and check every event.
  t0 = std::chrono::steady_clock::now();
  uint64_t read = 0;
  for (int s = 0; s < kStreams; ++s) {
    auto events = store.read_stream(stream_name(s), 0, SIZE_MAX);
    if (!events.ok()) return fail(events.status().to_string());
    if (events->size() != uint64_t{kAppendsPerStream} * kEventsPerAppend) return fail("stream length");
    for (uint64_t v = 0; v < events->size(); ++v) {
      const cairn::RecordedEvent& e = (*events)[v];
      if (e.version != v || e.stream != stream_name(s) || e.data != event_data(s, v)) {
        return fail("stream " + stream_name(s) + " version " + std::to_string(v));
      }
    }
    read += events->size();
  }
  double stream_s = seconds_since(t0);
  std::printf("  read streams %6.0f events/s  (%d streams of %d events, every byte checked)\n",
              read / stream_s, kStreams, kAppendsPerStream * kEventsPerAppend);

  // 3. Read all events in global order, in pages.
  t0 = std::chrono::steady_clock::now();
  uint64_t next = 0;
  while (true) {
    auto page = store.read_all(next, 10000);
    if (!page.ok()) return fail(page.status().to_string());
    if (page->empty()) break;
    for (const cairn::RecordedEvent& e : *page) {
      if (e.position != next++) return fail("global order at position " + std::to_string(e.position));
    }
  }
  double all_s = seconds_since(t0);
  if (next != total) return fail("read_all saw " + std::to_string(next) + " events");
  std::printf("  read all  %9.0f events/s  (positions 0..%llu, contiguous)\n", total / all_s,
              static_cast<unsigned long long>(total - 1));

  // 4. Aggregate snapshots: the state of every 10th stream as of its last
  // version, saved durably; then hydrated (snapshot + the events after it).
  if (int rc = snapshot_phase(store); rc != 0) return rc;

  // 5. A store checkpoint while a writer keeps appending: the copy holds
  // exactly the events below the position it reports.
  if (int rc = checkpoint_phase(store, dir); rc != 0) return rc;

  stats = store.stats();
  if (cairn::Status s = store.close(); !s.ok()) return fail(s.to_string());
  std::printf("  data: %s (%llu segment files, %.1f MB written)\n", dir.c_str(),
              static_cast<unsigned long long>(stats.segments), stats.bytes_written / 1e6);
  return 0;
}
