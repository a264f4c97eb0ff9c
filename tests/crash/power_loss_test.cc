// The power-loss test of the core store.
//
// Each cycle opens the store in-process over a PowerLossFileSystem
// (engine/power_loss.h), runs kThreads appenders (the crash writer's
// workload, crash_common.h: many streams, batches of 1..20 events, sizes up
// to 64 KiB) and cuts the power after a random number of file operations:
// sometimes while the store opens and recovers, mostly while appends, group
// commits, segment rolls, prepared and zero-filled segments and index files
// are being written. Every operation from the cut on fails, and nothing that
// completes after it is acknowledged. Once the store is closed, the file
// system leaves on disk only what a power loss would have kept (unsynced
// sectors reverted, all of them, a random subset, or all but a torn prefix;
// directory entries not made durable by a directory sync undone). The store
// is then opened with the ordinary file system and checked (crash_check.h):
//   - every append acknowledged after its fdatasync (kSync), and every append
//     before it in the log, is there byte for byte;
//   - appends acknowledged before their fdatasync (kBatch, kNone) may be
//     lost, but only as a suffix of the log: every acknowledged append below
//     next_position is there (no holes);
//   - positions and per-stream versions are contiguous, no batch is partial,
//     no event was never appended, and reads by stream (the stream index and
//     the STREAMS / *.idx files) return what read_all returns;
//   - the open succeeds (a torn tail is cut, never refused) and a second open
//     sees the same log.
// Appends acknowledged and lost (kBatch, kNone) leave the oracle; the next
// cycle continues the same store for a few cycles, then starts a fresh one.
//
// Environment:
//   CAIRN_POWER_SEED    seed (default: time-based; printed either way)
//   CAIRN_POWER_CYCLES  cycles per test (default: CAIRN_POWER_DEFAULT_CYCLES,
//                       which the power_loss_test_long ctest entry sets; else 40)
//   CAIRN_POWER_DIR     work directory (default: under /dev/shm when present,
//                       else $TMPDIR: the simulated disk needs no real one)
#include "crash/crash_check.h"
#include "crash/crash_common.h"
#include "engine/power_loss.h"
#include "engine/store_open.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace cairn::crash {
namespace {

namespace fs = std::filesystem;
using engine::PowerLossFileSystem;
using Loss = PowerLossFileSystem::Loss;

constexpr uint64_t kCyclesPerStore = 8;

// The levels one cycle's appends use.
enum class Levels : uint8_t { kSyncOnly, kMixed };

struct AckedAppend {
  Ack ack;
  bool synced = false;  // acknowledged after its fdatasync (kSync)
};

// Appends to the streams s-<n> with n % kThreads == `thread` until an append
// fails (the power is gone), recording what was acknowledged.
class Appender {
 public:
  Appender(Store& store, int thread, uint64_t seed, Levels levels)
      : store_(store), thread_(thread), rng_(seed), levels_(levels) {}

  void run(std::mutex& mu, std::vector<AckedAppend>& acked, std::vector<std::string>& unexpected) {
    while (true) {
      int n = thread_ + kThreads * static_cast<int>(uniform(0, kStreams / kThreads - 1));
      std::string name = stream_name(n);
      auto version = store_.stream_version(name);
      uint64_t first = version ? *version + 1 : 0;
      uint32_t size = pick_size();
      uint32_t count = size == kBigSize ? uniform(1, 2) : uniform(1, kMaxBatch);
      std::vector<Content> contents;
      std::vector<NewEvent> events;
      contents.reserve(count);
      for (uint32_t i = 0; i < count; ++i) {
        contents.push_back(content_for(name, first + i, Shape{size, i, count}));
        events.push_back(NewEvent{contents[i].id, contents[i].type, contents[i].data, contents[i].metadata});
      }
      Durability level = pick_level();
      ExpectedVersion expected = first == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(first - 1);
      auto r = store_.append(name, expected, std::span<const NewEvent>(events), level);
      std::lock_guard lock(mu);
      if (!r.ok()) {
        Code c = r.status().code();
        if (c != Code::kIOError && c != Code::kReadOnly) unexpected.push_back(r.status().to_string());
        return;
      }
      if (r->first_version != first || r->count != count || r->deduplicated) {
        unexpected.push_back(name + ": appended at version " + std::to_string(r->first_version) + ", expected " +
                             std::to_string(first));
        return;
      }
      acked.push_back(AckedAppend{Ack{n, first, count, r->first_position, 0}, level == Durability::kSync});
    }
  }

 private:
  uint32_t uniform(uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng_); }
  uint32_t pick_size() {
    uint32_t r = uniform(0, 999);
    if (r < 100) return 0;
    if (r < 600) return uniform(1, 64);
    if (r < 950) return uniform(65, 4096);
    return kBigSize;
  }
  Durability pick_level() {
    if (levels_ == Levels::kSyncOnly) return Durability::kSync;
    uint32_t r = uniform(0, 9);
    return r < 2 ? Durability::kSync : r < 6 ? Durability::kBatch : Durability::kNone;
  }

  Store& store_;
  const int thread_;
  std::mt19937_64 rng_;
  const Levels levels_;
};

struct Totals {
  uint64_t cycles = 0, cut_while_opening = 0, acked = 0, acked_synced = 0, lost_unsynced = 0, verified = 0;
  uint64_t torn_cut = 0;
  uint64_t by_loss[3] = {0, 0, 0};
  uint64_t direct = 0;  // cycles appending with O_DIRECT
};

// Whether the file system of `dir` takes O_DIRECT (tmpfs does since Linux 6.6).
bool takes_direct_io(const std::string& dir) {
  std::string path = dir + "/direct-probe";
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
  ::unlink(path.c_str());
  return fd >= 0;
}

Options cycle_options(std::mt19937_64& rng, std::string* notes, bool direct_ok) {
  Options o = store_options();
  o.io_backend = rng() % 2 == 0 ? IoBackend::kAuto : IoBackend::kPwrite;
  o.max_writes_in_flight = 1 + static_cast<uint32_t>(rng() % 4);
  o.prepare_segments = rng() % 3 != 0;
  o.direct_io = rng() % 2 == 0 && direct_ok;
  o.batch_sync_interval_us = 2'000;
  // Captured for the checking opens; the appending ones report only the
  // failures the cut causes.
  o.info_log = [notes](std::string_view m) {
    if (notes != nullptr) *notes += "cairn: " + std::string(m) + "\n";
  };
  return o;
}

std::string work_dir() {
  if (const char* d = std::getenv("CAIRN_POWER_DIR"); d != nullptr && *d != '\0') return d;
  fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  std::string tmpl = (base / "cairn-power-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

// One cycle: append until the power fails, leave what survived, check it.
// `oracle` holds every append acknowledged on this store and not lost.
void run_cycle(const std::string& dir, Levels levels, uint64_t seed, std::vector<AckedAppend>& oracle,
               Totals& totals) {
  std::mt19937_64 rng(seed);
  PowerLossFileSystem power(engine::posix_file_system());
  Options options = cycle_options(rng, nullptr, takes_direct_io(dir));
  if (options.direct_io) ++totals.direct;
  bool cut_while_opening = rng() % 10 == 0;
  uint64_t cut_after = cut_while_opening ? 1 + rng() % 12 : 1 + rng() % 300;
  if (cut_while_opening) power.cut_power_after(cut_after);
  std::mutex mu;
  std::vector<AckedAppend> acked;
  std::vector<std::string> unexpected;
  {
    auto store = engine::open_store(power, dir, options);
    if (!store.ok()) {
      ASSERT_TRUE(power.power_is_off()) << "open failed with the power on: " << store.status().to_string();
      ++totals.cut_while_opening;
    } else {
      if (!cut_while_opening) power.cut_power_after(cut_after);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          Appender(**store, t, mix64(seed + t + 1), levels).run(mu, acked, unexpected);
        });
      }
      for (auto& t : threads) t.join();
      ASSERT_TRUE(power.power_is_off());
      (void)(*store)->close();  // fails: the power is gone
    }
  }
  ASSERT_TRUE(unexpected.empty()) << unexpected.front();
  Loss loss = static_cast<Loss>(rng() % 3);
  ++totals.by_loss[static_cast<int>(loss)];
  ASSERT_TRUE(power.restore_after_power_loss(loss, rng()).ok());

  // What must be there: every append below the end of the last one
  // acknowledged after its fdatasync (the log is durable up to there).
  uint64_t durable_end = 0;
  for (const AckedAppend& a : oracle) durable_end = std::max(durable_end, a.ack.first_position + a.ack.count);
  for (const AckedAppend& a : acked) {
    if (a.synced) durable_end = std::max(durable_end, a.ack.first_position + a.ack.count);
    totals.acked_synced += a.synced;
  }
  totals.acked += acked.size();
  oracle.insert(oracle.end(), acked.begin(), acked.end());

  std::string notes;
  auto store = Store::open(dir, cycle_options(rng, &notes, takes_direct_io(dir)));
  ASSERT_TRUE(store.ok()) << "open after the power loss failed: " << store.status().to_string();
  if (!notes.empty()) ++totals.torn_cut;
  EXPECT_EQ(notes.find("corruption"), std::string::npos) << notes;
  Failures fail("seed " + std::to_string(seed) + " (loss " + std::to_string(static_cast<int>(loss)) + ", " +
                std::to_string(acked.size()) + " acks this cycle, store " + dir + ")");
  StoreState first = check_store(**store, fail);
  if (first.next_position < durable_end) {
    fail.add("next_position " + std::to_string(first.next_position) + " is below " + std::to_string(durable_end) +
             ", the end of what an fdatasync acknowledged");
  }
  // Acknowledged before their fdatasync and past the surviving end: lost, as allowed.
  size_t before = oracle.size();
  std::erase_if(oracle, [&](const AckedAppend& a) {
    return !a.synced && a.ack.first_position >= first.next_position && a.ack.first_position >= durable_end;
  });
  totals.lost_unsynced += before - oracle.size();
  std::vector<Ack> must;
  for (const AckedAppend& a : oracle) must.push_back(a.ack);
  totals.verified += check_acks(first, must, fail);
  ASSERT_TRUE((*store)->close().ok());
  store->reset();
  ASSERT_EQ(fail.count(), 0u);

  auto again = Store::open(dir, cycle_options(rng, nullptr, takes_direct_io(dir)));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  Failures fail2("seed " + std::to_string(seed) + " (second open)");
  StoreState second = check_store(**again, fail2, /*recompute=*/false);
  std::string why;
  EXPECT_TRUE(same_state(first, second, why)) << "reopening changed the state: " << why;
  ++totals.cycles;
}

void run_test(Levels levels, const char* name) {
  const uint64_t seed = env_u64("CAIRN_POWER_SEED", static_cast<uint64_t>(
                                                        std::chrono::system_clock::now().time_since_epoch().count()));
  const uint64_t cycles = env_u64("CAIRN_POWER_CYCLES", env_u64("CAIRN_POWER_DEFAULT_CYCLES", 40));
  std::printf("power-loss test %s: CAIRN_POWER_SEED=%llu CAIRN_POWER_CYCLES=%llu\n", name,
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(cycles));
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::string work = work_dir();
  ASSERT_FALSE(work.empty()) << "no work directory";
  Totals totals;
  std::vector<AckedAppend> oracle;
  std::string dir;
  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    if (cycle % kCyclesPerStore == 0) {
      if (!dir.empty()) fs::remove_all(dir);
      dir = work + "/store-" + std::to_string(cycle / kCyclesPerStore);
      oracle.clear();
    }
    uint64_t cycle_seed = mix64(seed ^ mix64(cycle + 0x9e37));
    SCOPED_TRACE("seed " + std::to_string(seed) + " cycle " + std::to_string(cycle));
    run_cycle(dir, levels, cycle_seed, oracle, totals);
    if (::testing::Test::HasFailure()) {
      std::printf("power-loss test: store kept in %s\n", dir.c_str());
      return;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("power-loss test %s: seed %llu: %llu cycles in %.1f s, 0 violations; %llu cut while opening; "
              "%llu appends acknowledged (%llu after an fdatasync), %llu unsynced ones lost as allowed; "
              "%llu acknowledged events verified; torn tail cut in %llu cycles; losses revert/subset/prefix "
              "%llu/%llu/%llu; %llu cycles with direct I/O\n",
              name, static_cast<unsigned long long>(seed), static_cast<unsigned long long>(totals.cycles), secs,
              static_cast<unsigned long long>(totals.cut_while_opening), static_cast<unsigned long long>(totals.acked),
              static_cast<unsigned long long>(totals.acked_synced),
              static_cast<unsigned long long>(totals.lost_unsynced), static_cast<unsigned long long>(totals.verified),
              static_cast<unsigned long long>(totals.torn_cut), static_cast<unsigned long long>(totals.by_loss[0]),
              static_cast<unsigned long long>(totals.by_loss[1]), static_cast<unsigned long long>(totals.by_loss[2]),
              static_cast<unsigned long long>(totals.direct));
  std::fflush(stdout);
  if (std::getenv("CAIRN_POWER_DIR") == nullptr) fs::remove_all(work);
}

TEST(PowerLossTest, SyncAppendsSurviveEveryPowerLoss) { run_test(Levels::kSyncOnly, "sync"); }

TEST(PowerLossTest, BatchAndNoneAppendsLoseOnlyASuffixOfTheLog) { run_test(Levels::kMixed, "mixed"); }

}  // namespace
}  // namespace cairn::crash
