// bench/in_flight.h: the window of async operations cairn-bench keeps.
#include "bench/in_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace cairn::bench {
namespace {

// Operations started by one thread and completed by `completers` others, in
// a random order and after random short delays.
struct Workload {
  explicit Workload(uint32_t limit) : window(limit) {}
  InFlight window;
  std::mutex mu;
  std::deque<int> started;  // guarded by mu
  std::atomic<int> live{0}, most{0}, completed{0};
  std::atomic<bool> done{false};

  void start_one(int id) {
    window.acquire();
    int now = live.fetch_add(1) + 1;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    std::lock_guard lock(mu);
    started.push_back(id);
  }
  void complete_some(unsigned seed) {
    std::mt19937 rng(seed);
    while (true) {
      bool any = false;
      {
        std::lock_guard lock(mu);
        if (!started.empty()) {
          any = true;
          if (rng() % 2) started.pop_front(); else started.pop_back();
        }
      }
      if (!any) {
        if (done.load()) return;
        std::this_thread::yield();
        continue;
      }
      if (rng() % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
      live.fetch_sub(1);
      completed.fetch_add(1);
      window.release();
    }
  }
};

void run(uint32_t limit, int operations, int completers) {
  Workload w(limit);
  std::vector<std::thread> pool;
  for (int c = 0; c < completers; ++c) pool.emplace_back([&w, c] { w.complete_some(1234 + c); });
  for (int i = 0; i < operations; ++i) w.start_one(i);
  w.window.drain();
  EXPECT_EQ(w.completed.load(), operations) << "drain() returned before every release";
  EXPECT_EQ(w.live.load(), 0);
  w.done = true;
  for (auto& t : pool) t.join();
  EXPECT_LE(w.most.load(), static_cast<int>(std::max<uint32_t>(limit, 1)));
  EXPECT_GE(w.most.load(), 1);
}

TEST(InFlightTest, NeverMoreThanTheLimitWithManyCompleters) {
  run(64, 100'000, 3);
  run(1024, 100'000, 2);
}

TEST(InFlightTest, SmallWindows) {
  run(0, 20'000, 2);  // taken as 1
  run(1, 20'000, 2);
  run(2, 20'000, 2);
  run(17, 20'000, 3);
}

// A full window of 32 refills once 2 (a sixteenth) have completed, not at
// the first completion.
TEST(InFlightTest, AFullWindowWaitsForASixteenthToComplete) {
  InFlight window(32);
  for (int i = 0; i < 32; ++i) window.acquire();
  std::atomic<bool> started{false};
  std::thread next([&] {
    window.acquire();  // on a full window: waits
    started = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // lets it find the window full
  EXPECT_FALSE(started.load()) << "started a 33rd of 32";
  window.release();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(started.load()) << "refilled after one completion of 32";
  window.release();
  next.join();
  EXPECT_TRUE(started.load());
  for (int i = 0; i < 31; ++i) window.release();
  window.drain();
}

// drain() returns only once the last release() is done with the object: the
// acquiring thread destroys it at once. A release() that still touches it is
// a heap-use-after-free for TSan (checked by mutation: the step onto 0 taken
// before the lock); ASan cannot see it, the touches being inside libc's
// pthread calls.
TEST(InFlightTest, TheWindowMayBeDestroyedAsSoonAsDrainReturns) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    auto window = std::make_unique<InFlight>(1 + round % 3);
    InFlight* w = window.get();
    w->acquire();
    std::atomic<bool> go{false};
    std::thread releaser([w, &go] {
      while (!go.load()) {
      }
      w->release();
    });
    go = true;
    // Drain at a random moment around the release, sometimes in the middle of it.
    for (volatile unsigned spin = rng() % 4096; spin > 0; --spin) {
    }
    w->drain();
    window.reset();
    releaser.join();
  }
}

TEST(InFlightTest, DrainWaitsForTheLastRelease) {
  InFlight window(8);
  for (int i = 0; i < 5; ++i) window.acquire();
  std::atomic<int> released{0};
  std::thread releaser([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      released.fetch_add(1);
      window.release();
    }
  });
  window.drain();
  EXPECT_EQ(released.load(), 5);
  releaser.join();
}

}  // namespace
}  // namespace cairn::bench
