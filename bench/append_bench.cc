// cairn-append-bench: Cairn's durable append and read rates, next to the raw
// limit they are bound by (one small write + fdatasync), measured in the same
// run on the same disk, so the ratios hold on a noisy shared machine.
//
//   cairn-append-bench [--dir PATH] [--seconds S] [--event-size B]
//
// PATH defaults to a fresh directory under the current one, removed afterwards.
#include <cairn/store.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string dir;
  double seconds = 3;
  size_t event_size = 200;
};

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct RawSync {
  double p50_us = 0;
  double per_s = 0;  // rounds per second over the whole loop: compares with Cairn's rates
};

// `n` rounds of a `size`-byte append + fdatasync to a growing file: the same
// kind of write a group commit makes.
RawSync raw_fdatasync(const std::string& dir, size_t size, int n) {
  std::string path = dir + "/raw-fdatasync";
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::string buf(size, 'r');
  std::vector<double> us;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) || ::fdatasync(fd) != 0) {
      std::perror("write/fdatasync");
      std::exit(1);
    }
    us.push_back(since(t0) * 1e6);
  }
  double total = since(start);
  ::close(fd);
  std::filesystem::remove(path);
  std::sort(us.begin(), us.end());
  return RawSync{us[us.size() / 2], n / total};
}

struct Run {
  uint64_t events = 0;
  double seconds = 0;
  uint64_t group_commits = 0;
  double events_per_s() const { return events / seconds; }
  double events_per_sync() const { return group_commits ? double(events) / group_commits : 0; }
};

std::string payload(size_t size) { return std::string(size, 'x'); }

// `threads` threads, each appending one event at a time to its own streams,
// waiting for each append (synchronous API).
Run sync_appends(cairn::Store& store, int threads, const Config& cfg) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0};
  std::string data = payload(cfg.event_size);
  auto before = store.stats();
  std::vector<std::thread> pool;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        cairn::NewEvent e{cairn::EventId::random(), "OrderPlaced", data, ""};
        std::string stream = "Order-" + std::to_string(t) + "-" + std::to_string(n % 1000);
        auto r = store.append(stream, cairn::ExpectedVersion::any(), std::span(&e, 1));
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().to_string().c_str());
          std::exit(1);
        }
        ++n;
      }
      events += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
  stop = true;
  for (auto& th : pool) th.join();
  Run run{events.load(), since(t0), store.stats().group_commits - before.group_commits};
  return run;
}

// One thread keeping `in_flight` single-event appends in flight (async API).
Run async_appends(cairn::Store& store, int in_flight, const Config& cfg) {
  std::string data = payload(cfg.event_size);
  std::atomic<int> pending{0};
  uint64_t n = 0;
  auto before = store.stats();
  auto t0 = Clock::now();
  while (since(t0) < cfg.seconds) {
    while (pending.load(std::memory_order_acquire) >= in_flight) std::this_thread::yield();
    cairn::NewEvent e{cairn::EventId::random(), "OrderPlaced", data, ""};
    pending.fetch_add(1);
    store.append_async("Async-" + std::to_string(n % 1000), cairn::ExpectedVersion::any(), std::span(&e, 1),
                       [&](cairn::Result<cairn::AppendResult> r) {
                         if (!r.ok()) std::exit(1);
                         pending.fetch_sub(1, std::memory_order_release);
                       });
    ++n;
  }
  while (pending.load() > 0) std::this_thread::yield();
  return Run{n, since(t0), store.stats().group_commits - before.group_commits};
}

void reads(cairn::Store& store, const Config& cfg) {
  // 1,000 streams of exactly 100 events, written in batches of 10 interleaved.
  std::string data = payload(cfg.event_size);
  std::vector<cairn::NewEvent> batch(10, cairn::NewEvent{{}, "ItemAdded", data, ""});
  for (int round = 0; round < 10; ++round) {
    std::vector<std::future<cairn::Result<cairn::AppendResult>>> futures;
    for (int s = 0; s < 1000; ++s) {
      for (auto& e : batch) e.id = cairn::EventId::random();
      futures.push_back(store.append_async("Read-" + std::to_string(s), cairn::ExpectedVersion::any(), batch));
    }
    for (auto& f : futures) (void)f.get();
  }
  uint64_t events = 0;
  uint64_t streams = 0;
  auto t0 = Clock::now();
  while (since(t0) < cfg.seconds) {
    auto r = store.read_stream("Read-" + std::to_string(streams % 1000), 0, 100);
    if (!r.ok() || r->size() != 100) std::exit(1);
    events += r->size();
    ++streams;
  }
  double s = since(t0);
  std::printf("read stream of 100 events   %10.0f streams/s  %10.0f events/s\n", streams / s, events / s);

  uint64_t scanned = 0;
  t0 = Clock::now();
  for (uint64_t p = 0;;) {
    auto page = store.read_all(p, 4096);
    if (!page.ok()) std::exit(1);
    if (page->empty()) break;
    p += page->size();
    scanned += page->size();
  }
  s = since(t0);
  std::printf("read all (scan %llu events)  %10.0f events/s\n", static_cast<unsigned long long>(scanned), scanned / s);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  bool own_dir = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--dir") {
      cfg.dir = argv[i + 1];
      own_dir = false;
    } else if (flag == "--seconds") {
      cfg.seconds = std::atof(argv[i + 1]);
    } else if (flag == "--event-size") {
      cfg.event_size = std::strtoul(argv[i + 1], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--dir PATH] [--seconds S] [--event-size B]\n", argv[0]);
      return 2;
    }
  }
  if (own_dir) cfg.dir = (std::filesystem::current_path() / ("cairn-bench-" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(cfg.dir);

  RawSync raw = raw_fdatasync(cfg.dir, cfg.event_size + 64, 2000);
  std::printf("raw: %zu-byte append + fdatasync: %.0f/s (p50 %.1f us)  [dir %s]\n", cfg.event_size + 64,
              raw.per_s, raw.p50_us, cfg.dir.c_str());
  {
    std::string store_dir = cfg.dir + "/store";
    auto opened = cairn::Store::open(store_dir);
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().to_string().c_str());
      return 1;
    }
    cairn::Store& store = **opened;
    // Each phase is compared with the raw rate measured just before it: the
    // disk's speed drifts by tens of percent within minutes here.
    for (int threads : {1, 4, 16}) {
      RawSync now = raw_fdatasync(cfg.dir, cfg.event_size + 64, 500);
      Run run = sync_appends(store, threads, cfg);
      std::printf("sync  %2d thread(s)          %10.0f events/s  %6.1f events/fdatasync  %.2f x (W x raw rate %.0f/s)\n",
                  threads, run.events_per_s(), run.events_per_sync(), run.events_per_s() / (threads * now.per_s),
                  now.per_s);
    }
    for (int in_flight : {64, 1024}) {
      RawSync now = raw_fdatasync(cfg.dir, cfg.event_size + 64, 500);
      Run run = async_appends(store, in_flight, cfg);
      std::printf("async 1 thread, %4d in flight %8.0f events/s  %6.1f events/fdatasync  %.1f x raw rate %.0f/s\n",
                  in_flight, run.events_per_s(), run.events_per_sync(), run.events_per_s() / now.per_s, now.per_s);
    }
    reads(store, cfg);
  }
  RawSync after = raw_fdatasync(cfg.dir, cfg.event_size + 64, 1000);
  std::printf("raw again: %.0f/s (p50 %.1f us), drift %+.0f%% since the start\n", after.per_s, after.p50_us,
              (after.per_s / raw.per_s - 1) * 100);
  if (own_dir) std::filesystem::remove_all(cfg.dir);
  return 0;
}
