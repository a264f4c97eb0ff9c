// cairn-crash-writer DIR SEED: appends to the store at DIR under load until it
// is killed. Driven (and SIGKILLed) by tests/crash/crash_test.cc.
//
// kThreads threads each own the streams s-<n> with n % kThreads == thread, so
// appends never conflict: each thread knows every stream's next version and
// appends with ExpectedVersion::exactly(last) / no_stream(), sometimes any().
// Appends are synchronous or asynchronous (several in flight per thread,
// possibly to the same stream). Events are made by crash_common.h, so every
// byte can be recomputed by the checker.
//
// Output on stdout, each line written with a single write(2) (atomic on a
// pipe, so lines never tear or interleave):
//   READY <next_position>                                        once, first
//   ACK <stream> <first_version> <count> <first_position>         per acknowledged append
//   SUBSTART <cursor>      once: where the named subscription resumed
//   SUB <cursor>           per subscription checkpoint save that returned
//   CKPT <position>        per store checkpoint into DIR-checkpoint that returned
// Anything unexpected (a failed append, a wrong version) is reported on
// stderr and the process exits with status 2.
#include "crash/crash_common.h"

#include <cairn/store.h>

#include <unistd.h>

#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace cairn::crash {
namespace {

[[noreturn]] void die(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > static_cast<int>(sizeof buf) - 2) n = static_cast<int>(sizeof buf) - 2;
  buf[n++] = '\n';
  (void)!::write(2, buf, static_cast<size_t>(n));
  ::_exit(2);
}

// One line, one write(2).
void emit(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n <= 0 || n >= static_cast<int>(sizeof buf)) die("crash-writer: line too long");
  ssize_t w = ::write(1, buf, static_cast<size_t>(n));
  if (w != n) die("crash-writer: write to stdout returned %zd of %d bytes", w, n);
}

struct Completion {
  int stream;
  uint64_t predicted_version;
  uint32_t count;
  std::string expected;
  Result<AppendResult> result;
};

class Worker {
 public:
  // `with_sync`: some appends are kSync (else kBatch and kNone only, so that
  // Options::mapped_writes, paused after kSync appends, maps their groups).
  Worker(Store& store, int id, uint64_t seed, bool with_sync)
      : store_(store), id_(id), with_sync_(with_sync), rng_(seed) {
    for (int n = id; n < kStreams; n += kThreads) {
      streams_.push_back(n);
      auto v = store.stream_version(stream_name(n));
      next_.push_back(v ? *v + 1 : 0);
    }
  }

  void run() {
    while (true) {
      drain(/*wait_until_below=*/kMaxInFlight);
      append_one();
    }
  }

 private:
  static constexpr int kMaxInFlight = 6;

  uint32_t uniform(uint32_t lo, uint32_t hi) {  // inclusive
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng_);
  }

  uint32_t pick_size() {
    uint32_t r = uniform(0, 999);
    if (r < 100) return 0;
    if (r < 500) return uniform(1, 64);
    if (r < 800) return uniform(65, 1024);
    if (r < 995) return uniform(1025, 4096);
    return kBigSize;
  }

  uint32_t pick_count(uint32_t size) {
    if (size == kBigSize) return uniform(1, 3);
    uint32_t r = uniform(0, 99);
    if (r < 45) return uniform(1, 3);
    if (r < 85) return uniform(4, 10);
    return uniform(11, kMaxBatch);
  }

  void append_one() {
    size_t slot = uniform(0, static_cast<uint32_t>(streams_.size() - 1));
    int n = streams_[slot];
    std::string name = stream_name(n);
    uint64_t first = next_[slot];
    uint32_t size = pick_size();
    uint32_t count = pick_count(size);
    ExpectedVersion expected = ExpectedVersion::any();
    if (uniform(0, 9) != 0) {
      expected = first == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(first - 1);
    }
    std::vector<Content> contents;
    std::vector<NewEvent> events;
    contents.reserve(count);
    events.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      contents.push_back(content_for(name, first + i, Shape{size, i, count}));
      const Content& c = contents.back();
      events.push_back(NewEvent{c.id, c.type, c.data, c.metadata});
    }
    next_[slot] = first + count;
    std::span<const NewEvent> span(events);
    // Every level survives a process crash: SIGKILL loses no page-cache data.
    uint32_t level = uniform(0, 9);
    Durability durability = with_sync_ && level < 6 ? Durability::kSync
                            : level < 8               ? Durability::kBatch
                                                      : Durability::kNone;
    if (uniform(0, 99) < 35) {
      auto r = store_.append(name, expected, span, durability);
      check(Completion{n, first, count, expected.to_string(), std::move(r)});
      return;
    }
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    std::string exp = expected.to_string();
    // The callback runs on the store's writer thread: it only queues.
    store_.append_async(
        name, expected, span,
        [this, n, first, count, exp](Result<AppendResult> r) {
          std::lock_guard lock(mu_);
          done_.push_back(Completion{n, first, count, exp, std::move(r)});
          cv_.notify_one();
        },
        durability);
  }

  // Reports finished async appends; waits while kMaxInFlight or more remain.
  void drain(int wait_until_below) {
    std::deque<Completion> ready;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ - static_cast<int>(done_.size()) < wait_until_below; });
      ready.swap(done_);
      in_flight_ -= static_cast<int>(ready.size());
    }
    for (Completion& c : ready) check(std::move(c));
  }

  void check(Completion c) {
    std::string name = stream_name(c.stream);
    if (!c.result.ok()) {
      die("crash-writer: append of %u events to %s at version %llu (expected %s) failed: %s", c.count,
          name.c_str(), static_cast<unsigned long long>(c.predicted_version), c.expected.c_str(),
          c.result.status().to_string().c_str());
    }
    const AppendResult& r = *c.result;
    if (r.deduplicated || r.count != c.count || r.first_version != c.predicted_version) {
      die("crash-writer: append of %u events to %s (expected %s) predicted version %llu, got "
          "first_version %llu count %u deduplicated %d",
          c.count, name.c_str(), c.expected.c_str(),
          static_cast<unsigned long long>(c.predicted_version),
          static_cast<unsigned long long>(r.first_version), r.count, r.deduplicated ? 1 : 0);
    }
    emit("ACK %s %llu %u %llu\n", name.c_str(), static_cast<unsigned long long>(r.first_version),
         r.count, static_cast<unsigned long long>(r.first_position));
  }

  Store& store_;
  int id_;
  bool with_sync_;
  std::mt19937_64 rng_;
  std::vector<int> streams_;
  std::vector<uint64_t> next_;  // next version of streams_[i]

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Completion> done_;  // guarded by mu_
  int in_flight_ = 0;            // guarded by mu_: submitted async appends not yet drained
};

// The named subscription kSubscriptionName, following the log from its
// saved checkpoint while the workers append: positions must arrive
// contiguous, and every few batches it saves its cursor and reports it.
void follow(Store& store) {
  SubscriptionOptions o;
  o.name = kSubscriptionName;
  o.max_batch = 64;
  auto sub = store.subscribe(o);
  if (!sub.ok()) die("crash-writer: subscribe: %s", sub.status().to_string().c_str());
  uint64_t expected = (*sub)->cursor();
  emit("SUBSTART %llu\n", static_cast<unsigned long long>(expected));
  for (uint64_t round = 0;; ++round) {
    auto got = (*sub)->next(std::chrono::milliseconds(50));
    if (!got.ok()) die("crash-writer: subscription: %s", got.status().to_string().c_str());
    for (const RecordedEvent& e : *got) {
      if (e.position != expected) {
        die("crash-writer: the subscription delivered position %llu where %llu was due",
            static_cast<unsigned long long>(e.position), static_cast<unsigned long long>(expected));
      }
      ++expected;
    }
    if (got->empty() || round % 3 != 0) continue;
    uint64_t cursor = (*sub)->cursor();
    if (Status s = (*sub)->save_checkpoint(cursor); !s.ok()) die("crash-writer: save_checkpoint: %s", s.to_string().c_str());
    emit("SUB %llu\n", static_cast<unsigned long long>(cursor));
  }
}

// Store checkpoints (online backups) into DIR-checkpoint every few
// milliseconds while the workers append; each one that returned is reported.
// A kill in the middle leaves the target marked incomplete.
void back_up(Store& store, const std::string& target) {
  while (true) {
    auto done = store.checkpoint(target);
    if (!done.ok()) die("crash-writer: checkpoint: %s", done.status().to_string().c_str());
    emit("CKPT %llu\n", static_cast<unsigned long long>(done->position));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int run(const std::string& dir, uint64_t seed) {
  Options options = store_options();
  // Both write paths, and pipelines of several depths, across the cycles.
  options.io_backend = seed % 2 == 0 ? IoBackend::kAuto : IoBackend::kPwrite;
  options.max_writes_in_flight = 1 + static_cast<uint32_t>(seed / 2 % 4);
  options.direct_io = seed / 8 % 2 == 1;
  options.mapped_writes = seed / 16 % 2 == 0;  // kNone and kBatch groups copied into a mapping, or written
  const bool with_sync = seed / 32 % 4 != 0;  // a quarter of the cycles append no kSync
  options.batch_sync_interval_us = 2'000;
  options.info_log = [](std::string_view message) {  // the checker looks for these lines
    std::string line = "cairn: " + std::string(message) + "\n";
    (void)!::write(2, line.data(), line.size());
  };
  auto store = Store::open(dir, options);
  if (!store.ok() && store.status().code() == Code::kNotSupported && options.direct_io) {
    options.direct_io = false;  // a file system without O_DIRECT (tmpfs before Linux 6.6)
    store = Store::open(dir, options);
  }
  if (!store.ok()) die("crash-writer: open %s: %s", dir.c_str(), store.status().to_string().c_str());
  if (seed % 3 == 0) {
    // A clean close and a second open first: the appends below, and the kill,
    // come after an open that found the clean-close record (FORMAT.md §13),
    // which the first of them must have removed before writing.
    if (Status s = (*store)->close(); !s.ok()) die("crash-writer: close: %s", s.to_string().c_str());
    store->reset();
    store = Store::open(dir, options);
    if (!store.ok()) die("crash-writer: reopen %s: %s", dir.c_str(), store.status().to_string().c_str());
  }
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::make_unique<Worker>(**store, t, mix64(seed ^ mix64(t + 1)), with_sync));
  }
  emit("READY %llu\n", static_cast<unsigned long long>((*store)->next_position()));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  threads.emplace_back([&store] { follow(**store); });
  threads.emplace_back([&store, &dir] { back_up(**store, dir + "-checkpoint"); });
  for (auto& t : threads) t.join();  // never: the workers run until the process is killed
  return 0;
}

}  // namespace
}  // namespace cairn::crash

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DIR SEED\n", argv[0]);
    return 64;
  }
  char* end = nullptr;
  unsigned long long seed = std::strtoull(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0') {
    std::fprintf(stderr, "%s: bad seed '%s'\n", argv[0], argv[2]);
    return 64;
  }
  return cairn::crash::run(argv[1], seed);
}
