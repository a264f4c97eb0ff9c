// Durability levels (sync, batch, none) and the pipelined write path, over
// both I/O backends: what is acknowledged when, how many fdatasyncs it takes,
// and that everything acknowledged is there, byte for byte, after a reopen.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "test_util.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace cairn {
namespace {

using engine::FaultInjectingFileSystem;
using engine::FaultOp;
using test::EventSpec;
using test::TempDir;

class DurabilityTest : public ::testing::TestWithParam<test::WritePath> {
 protected:
  Options options() const {
    Options o;
    GetParam().apply(o);
    o.prepare_segments = false;  // only the appends' fdatasyncs are counted
    return o;
  }
  void open(const Options& o) {
    fs_.only_files_ending_with(".seg");  // the log's syncs, not the index files' (written at close)
    auto store = engine::open_store(fs_, dir_.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(store).value();
  }
  Result<AppendResult> append(const std::vector<EventSpec>& events, Durability d = Durability::kDefault) {
    return store_->append("s", ExpectedVersion::any(), test::views(events), d);
  }
  uint64_t syncs() const { return fs_.count(FaultOp::kSync); }
  // kNone appends, and kBatch's own fdatasync never due: only Store::sync
  // (or a save that calls it) makes them durable.
  void open_unsynced() {
    Options o = options();
    o.durability = Durability::kNone;
    o.batch_sync_interval_us = 600'000'000;
    open(o);
  }
  // Every spec of `expected`, in order, is stream "s" after a reopen.
  void expect_reopened_holds(const std::vector<EventSpec>& expected) {
    store_.reset();
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store);
    auto events = store->read_stream("s", 0, SIZE_MAX);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) test::expect_event((*events)[i], expected[i], "s", i, i);
  }

  TempDir dir_;
  FaultInjectingFileSystem fs_{engine::posix_file_system()};
  std::unique_ptr<Store> store_;
};

TEST_P(DurabilityTest, SyncAppendsAreAcknowledgedAfterAnFdatasync) {
  open(options());
  uint64_t before = syncs();
  std::vector<EventSpec> all;
  for (int i = 0; i < 5; ++i) {
    auto e = test::make_events(2, "sync" + std::to_string(i));
    ASSERT_TRUE(append(e).ok());
    all.insert(all.end(), e.begin(), e.end());
    EXPECT_EQ(syncs(), before + i + 1) << "one fdatasync per lone synchronous append";
  }
  EXPECT_EQ(store_->stats().syncs, 5u);
  EXPECT_EQ(store_->stats().io_backend, GetParam().backend == IoBackend::kPwrite ? "pwrite" : "io_uring");
  EXPECT_EQ(store_->stats().direct_writes, GetParam().direct_io ? 5u : 0u);
  expect_reopened_holds(all);
}

TEST_P(DurabilityTest, NoneAppendsNeverSyncUntilClose) {
  Options o = options();
  o.durability = Durability::kNone;
  open(o);
  uint64_t before = syncs();
  std::vector<EventSpec> all;
  for (int i = 0; i < 20; ++i) {
    auto e = test::make_events(3, "none" + std::to_string(i));
    auto r = append(e);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    all.insert(all.end(), e.begin(), e.end());
  }
  EXPECT_EQ(syncs(), before);
  EXPECT_EQ(store_->stats().syncs, 0u);
  // Acknowledged means readable, in this process, at once.
  EXPECT_EQ(store_->read_all(0, SIZE_MAX)->size(), all.size());
  ASSERT_TRUE(store_->close().ok());
  EXPECT_EQ(syncs(), before + 1) << "close makes everything durable with one fdatasync";
  expect_reopened_holds(all);
}

TEST_P(DurabilityTest, AnAppendCanAskForMoreDurabilityThanTheStoreDefault) {
  Options o = options();
  o.durability = Durability::kNone;
  open(o);
  auto a = test::make_events(1, "a");
  auto b = test::make_events(1, "b");
  ASSERT_TRUE(append(a).ok());
  uint64_t before = syncs();
  ASSERT_TRUE(append(b, Durability::kSync).ok());
  EXPECT_EQ(syncs(), before + 1) << "the kSync append covers the earlier kNone one too";
  EXPECT_EQ(store_->stats().syncs, 1u);
  EXPECT_EQ(store_->stats().direct_writes, GetParam().direct_io ? 1u : 0u) << "only synced groups go direct";
  // And less: a kNone append into a kSync store does not sync.
  store_.reset();
  open(options());
  before = syncs();
  auto c = test::make_events(1, "c");
  ASSERT_TRUE(append(c, Durability::kNone).ok());
  EXPECT_EQ(syncs(), before);
  expect_reopened_holds({a[0], b[0], c[0]});
}

// Groups of every level from 4 threads, sharing pages: with direct_io the
// synced ones are written direct and the others through the page cache,
// never two sharing a page in flight together. Everything reads back byte
// for byte, in this process and after a reopen.
TEST_P(DurabilityTest, MixedLevelsFromManyThreadsReadBackByteForByte) {
  Options o = options();
  o.max_writes_in_flight = 4;
  o.batch_sync_interval_us = 500;
  open(o);
  constexpr int kThreads = 4, kAppends = 150;
  std::vector<std::vector<EventSpec>> written(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Durability levels[] = {Durability::kSync, Durability::kNone, Durability::kBatch};
      for (int i = 0; i < kAppends; ++i) {
        auto e = test::make_events(1 + i % 3, "t" + std::to_string(t) + "-" + std::to_string(i));
        e[0].data.append(static_cast<size_t>((i * 37 + t * 101) % 1500), static_cast<char>('a' + t));
        std::string stream = "s" + std::to_string(t);
        auto r = store_->append(stream, ExpectedVersion::any(), test::views(e), levels[(i + t) % 3]);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        written[t].insert(written[t].end(), e.begin(), e.end());
      }
    });
  }
  for (auto& th : threads) th.join();
  if (GetParam().direct_io) {
    EXPECT_GT(store_->stats().direct_writes, 0u);
  }
  auto check = [&](Store& store) {
    for (int t = 0; t < kThreads; ++t) {
      auto events = store.read_stream("s" + std::to_string(t), 0, SIZE_MAX);
      ASSERT_TRUE(events.ok()) << events.status().to_string();
      ASSERT_EQ(events->size(), written[t].size());
      for (size_t i = 0; i < written[t].size(); ++i) {
        EXPECT_EQ((*events)[i].id, written[t][i].id);
        EXPECT_EQ((*events)[i].data, written[t][i].data);
        EXPECT_EQ((*events)[i].metadata, written[t][i].metadata);
      }
    }
  };
  check(*store_);
  store_.reset();
  auto reopened = test::open_ok(dir_.path());
  ASSERT_TRUE(reopened);
  check(*reopened);
}

// Synchronous appenders that do not sync wait awake and take over the
// queue a leader leaves them (Writer::spin); with a few syncing appenders
// among them, leadership passes between callers, spinners and the writer
// thread across segment rolls. Every append gets contiguous versions of its
// own stream and positions no other append got, and reads back byte for byte.
// Synchronous kNone and kBatch appenders take turns to commit their own
// requests; they meet kSync appenders, spinners and (from the async threads)
// a writer thread that leads.
TEST_P(DurabilityTest, AppendersOfEveryKindTakingTurnsLoseNothing) {
  Options o = options();
  o.segment_bytes = 64 << 10;
  open(o);
  constexpr int kSyncThreads = 8, kThreads = 10, kAppends = 200;
  std::vector<std::vector<EventSpec>> written(kThreads);
  std::vector<std::vector<uint64_t>> positions(kThreads);
  std::vector<std::thread> threads;
  for (int t = kSyncThreads; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "s" + std::to_string(t);
      std::vector<std::future<Result<AppendResult>>> pending;
      for (int i = 0; i < kAppends; ++i) {
        auto e = test::make_events(1 + i % 2, "t" + std::to_string(t) + "-" + std::to_string(i));
        ExpectedVersion expected =
            written[t].empty() ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(written[t].size() - 1);
        pending.push_back(store_->append_async(stream, expected, test::views(e),
                                               t % 2 ? Durability::kNone : Durability::kSync));
        written[t].insert(written[t].end(), e.begin(), e.end());
      }
      uint64_t version = 0;
      for (auto& f : pending) {
        auto r = f.get();
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        ASSERT_EQ(r->first_version, version);
        for (uint32_t k = 0; k < r->count; ++k) positions[t].push_back(r->first_position + k);
        version += r->count;
      }
    });
  }
  for (int t = 0; t < kSyncThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "s" + std::to_string(t);
      for (int i = 0; i < kAppends; ++i) {
        auto e = test::make_events(1 + i % 3, "t" + std::to_string(t) + "-" + std::to_string(i));
        Durability d = t == 0 && i % 10 == 0 ? Durability::kSync : t % 2 ? Durability::kNone : Durability::kBatch;
        ExpectedVersion expected =
            written[t].empty() ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(written[t].size() - 1);
        auto r = store_->append(stream, expected, test::views(e), d);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        ASSERT_EQ(r->first_version, written[t].size());
        for (size_t k = 0; k < e.size(); ++k) positions[t].push_back(r->first_position + k);
        written[t].insert(written[t].end(), e.begin(), e.end());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint64_t> all;
  for (const auto& p : positions) all.insert(all.end(), p.begin(), p.end());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i) << "positions are dense and each given once";
  auto check = [&](Store& store) {
    for (int t = 0; t < kThreads; ++t) {
      std::string stream = "s" + std::to_string(t);
      auto events = store.read_stream(stream, 0, SIZE_MAX);
      ASSERT_TRUE(events.ok()) << events.status().to_string();
      ASSERT_EQ(events->size(), written[t].size());
      for (size_t i = 0; i < written[t].size(); ++i) {
        test::expect_event((*events)[i], written[t][i], stream, i, positions[t][i]);
      }
    }
  };
  check(*store_);
  EXPECT_GT(store_->stats().segments, 2u);
  store_.reset();
  auto reopened = test::open_ok(dir_.path());
  ASSERT_TRUE(reopened);
  check(*reopened);
}

TEST_P(DurabilityTest, BatchSyncsWithinTheIntervalWithoutFurtherAppends) {
  Options o = options();
  o.durability = Durability::kBatch;
  o.batch_sync_interval_us = 20'000;
  open(o);
  uint64_t before = syncs();
  auto e = test::make_events(2, "batch");
  ASSERT_TRUE(append(e).ok());
  // Acknowledged before its fdatasync; the writer syncs once the interval is up.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (store_->stats().syncs == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(store_->stats().syncs, 1u);
  EXPECT_EQ(syncs(), before + 1);
  expect_reopened_holds(e);
}

TEST_P(DurabilityTest, BatchSyncsWhenTheByteBudgetIsSpent) {
  Options o = options();
  o.durability = Durability::kBatch;
  o.batch_sync_interval_us = 3'600'000'000u;  // an hour: only bytes can trigger it
  o.batch_sync_bytes = 4096;
  open(o);
  std::vector<EventSpec> all;
  uint64_t written = 0;
  uint64_t before = syncs();
  while (written < 4096) {
    auto e = test::make_events(1, "b" + std::to_string(all.size()));
    e[0].data = std::string(1000, 'x');
    auto r = append(e);
    ASSERT_TRUE(r.ok());
    all.push_back(e[0]);
    written = store_->stats().bytes_written;
    if (written < 4096) {
      EXPECT_EQ(syncs(), before) << "synced before the budget was spent";
    }
  }
  EXPECT_EQ(syncs(), before + 1);
  expect_reopened_holds(all);
}

TEST_P(DurabilityTest, PipelinedAsyncAppendsCompleteInLogOrder) {
  Options o = options();
  o.max_writes_in_flight = 4;
  o.max_group_bytes = 4096;  // many small groups, so that several are in flight
  open(o);
  constexpr int kAppends = 2000;
  std::vector<std::vector<EventSpec>> batches;
  for (int i = 0; i < kAppends; ++i) batches.push_back(test::make_events(1 + i % 3, "p" + std::to_string(i)));
  std::mutex mu;
  std::vector<uint64_t> completed;  // first positions, in completion order
  std::atomic<int> failures{0};
  for (const auto& b : batches) {
    store_->append_async("s", ExpectedVersion::any(), test::views(b), [&](Result<AppendResult> r) {
      if (!r.ok()) {
        failures++;
        return;
      }
      std::lock_guard lock(mu);
      completed.push_back(r->first_position);
    });
  }
  ASSERT_TRUE(store_->close().ok());
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(completed.size(), batches.size());
  for (size_t i = 1; i < completed.size(); ++i) ASSERT_LT(completed[i - 1], completed[i]) << "at " << i;
  StoreStats stats = store_->stats();
  EXPECT_GT(stats.group_commits, 1u);
  EXPECT_EQ(stats.group_events.count(), stats.group_commits);
  EXPECT_EQ(stats.group_events.sum(), stats.events);
  EXPECT_EQ(stats.group_bytes.sum(), stats.bytes_written);
  EXPECT_LE(stats.group_bytes.max(), 4096u);
  EXPECT_EQ(stats.queue_wait_ns.count(), static_cast<uint64_t>(kAppends));
  EXPECT_EQ(stats.sync_latency_ns.count(), stats.syncs);
  EXPECT_EQ(stats.in_flight, 0u);
  std::vector<EventSpec> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  expect_reopened_holds(all);
}

// By default a group commit writes at most 128 KiB, so that the next group
// fills and goes while one is in flight (DESIGN.md, "Pipelining and the
// write queues"): 2 MB of async appends queued at once take at least 16
// groups, each within the bound.
TEST_P(DurabilityTest, AsyncGroupsStayWithinTheDefaultGroupSize) {
  Options o = options();
  ASSERT_EQ(o.max_group_bytes, 128u << 10);
  open(o);
  std::vector<std::vector<EventSpec>> batches;
  for (int i = 0; i < 1000; ++i) {
    batches.push_back(test::make_events(1, "g" + std::to_string(i)));
    batches.back()[0].data = std::string(2000, static_cast<char>('a' + i % 26));
  }
  std::atomic<int> failures{0};
  for (const auto& b : batches) {
    store_->append_async("s", ExpectedVersion::any(), test::views(b), [&](Result<AppendResult> r) {
      if (!r.ok()) failures++;
    });
  }
  ASSERT_TRUE(store_->close().ok());
  EXPECT_EQ(failures.load(), 0);
  StoreStats stats = store_->stats();
  EXPECT_LE(stats.group_bytes.max(), o.max_group_bytes);
  EXPECT_GE(stats.group_commits, (stats.bytes_written + o.max_group_bytes - 1) / o.max_group_bytes);
  EXPECT_GE(stats.bytes_written, 2000u * 1000u);
  std::vector<EventSpec> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  expect_reopened_holds(all);
}

TEST_P(DurabilityTest, FailedSyncFailsEveryPipelinedAppendAfterTheDurableOnes) {
  Options o = options();
  o.max_writes_in_flight = 4;
  o.max_group_bytes = 512;
  open(o);
  auto first = test::make_events(1, "first");
  ASSERT_TRUE(append(first).ok());
  fs_.fail(FaultOp::kSync, 3, EIO);
  std::vector<std::future<Result<AppendResult>>> futures;
  std::vector<std::vector<EventSpec>> batches;
  for (int i = 0; i < 200; ++i) batches.push_back(test::make_events(1, "q" + std::to_string(i)));
  for (const auto& b : batches) futures.push_back(store_->append_async("s", ExpectedVersion::any(), test::views(b)));
  std::vector<EventSpec> acked = first;
  bool failed = false;
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    if (r.ok()) {
      EXPECT_FALSE(failed) << "append " << i << " acknowledged after a failed one";
      acked.push_back(batches[i][0]);
    } else {
      failed = true;
      EXPECT_TRUE(r.status().code() == Code::kIOError || r.status().code() == Code::kReadOnly)
          << r.status().to_string();
    }
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(fs_.fired(), 1u);
  EXPECT_EQ(append(test::make_events(1)).status().code(), Code::kReadOnly);
  EXPECT_EQ(store_->read_all(0, SIZE_MAX)->size(), acked.size());
  expect_reopened_holds(acked);
}

// A kBatch append is acknowledged once written; when the fdatasync that was
// to follow fails, the store stops taking appends (fail-stop) but keeps the
// acknowledged writes: they are in the file for a reopen in this boot, as
// after a process crash.
TEST_P(DurabilityTest, FailedBatchSyncStopsTheStoreAndKeepsAcknowledgedWrites) {
  Options o = options();
  o.durability = Durability::kBatch;
  // Counted from the open: long enough that the append (slow under the
  // sanitizers) comes before it is due and so does not carry the sync itself.
  o.batch_sync_interval_us = 1'000'000;
  open(o);
  auto acked = test::make_events(3, "acked");
  fs_.fail(FaultOp::kSync, 1, EIO);  // the timed fdatasync
  ASSERT_TRUE(append(acked).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  Result<AppendResult> after = Status::closed("not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs_.fired() == 1) {
      after = append(test::make_events(1, "after"));
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(fs_.fired(), 1u) << "the batch fdatasync never ran";
  // kReadOnly once the failure is known; kIOError if it was decided while the
  // failing fdatasync was still in flight (then it failed with it).
  EXPECT_TRUE(after.status().code() == Code::kReadOnly || after.status().code() == Code::kIOError)
      << after.status().to_string();
  EXPECT_EQ(append(test::make_events(1, "later")).status().code(), Code::kReadOnly);
  EXPECT_EQ(store_->read_all(0, SIZE_MAX)->size(), acked.size());
  expect_reopened_holds(acked);
}

// Store::sync makes kNone and kBatch appends durable with one fdatasync,
// and sends none when nothing is left unsynced.
TEST_P(DurabilityTest, SyncMakesEveryAcknowledgedAppendDurable) {
  open_unsynced();
  uint64_t before = syncs();
  std::vector<EventSpec> all;
  for (int i = 0; i < 20; ++i) {
    auto e = test::make_events(3, "none" + std::to_string(i));
    ASSERT_TRUE(append(e).ok());
    all.insert(all.end(), e.begin(), e.end());
  }
  auto e = test::make_events(2, "batch");
  ASSERT_TRUE(append(e, Durability::kBatch).ok());
  all.insert(all.end(), e.begin(), e.end());
  ASSERT_EQ(syncs(), before);
  ASSERT_TRUE(store_->sync().ok());
  EXPECT_EQ(syncs(), before + 1);
  EXPECT_EQ(store_->stats().syncs, 1u);
  ASSERT_TRUE(store_->sync().ok());
  EXPECT_EQ(syncs(), before + 1) << "nothing new to sync: no fdatasync";
  // Async appends and syncs from other threads at once.
  std::atomic<int> done{0};
  std::vector<std::thread> syncers;
  for (int t = 0; t < 3; ++t) {
    syncers.emplace_back([&] {
      for (int i = 0; i < 20; ++i) EXPECT_TRUE(store_->sync().ok());
    });
  }
  for (int i = 0; i < 200; ++i) {
    auto more = test::make_events(1, "async" + std::to_string(i));
    all.insert(all.end(), more.begin(), more.end());
    store_->append_async("s", ExpectedVersion::any(), test::views(more), [&](Result<AppendResult> r) {
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      ++done;
    });
  }
  for (auto& t : syncers) t.join();
  while (done.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  uint64_t mid = syncs();
  ASSERT_TRUE(store_->sync().ok());
  EXPECT_LE(syncs(), mid + 1);
  EXPECT_GE(store_->stats().syncs, 2u);
  expect_reopened_holds(all);
}

TEST_P(DurabilityTest, SyncFromACallbackOrAfterCloseIsRefused) {
  open_unsynced();
  std::promise<Status> from_callback;
  store_->append_async("s", ExpectedVersion::any(), test::views(test::make_events(1)),
                       [&](Result<AppendResult>) { from_callback.set_value(store_->sync()); });
  EXPECT_EQ(from_callback.get_future().get().code(), Code::kInvalidArgument);
  ASSERT_TRUE(store_->close().ok());
  EXPECT_EQ(store_->sync().code(), Code::kClosed);
}

// A sync (or a save that syncs first) whose fdatasync fails returns the
// error; it waited for ever before (nothing woke it on a failure).
TEST_P(DurabilityTest, SyncReturnsTheErrorWhenItsFdatasyncFails) {
  open_unsynced();
  ASSERT_TRUE(append(test::make_events(3, "none")).ok());
  fs_.fail(FaultOp::kSync, 1, EIO);
  auto syncing = std::async(std::launch::async, [&] { return store_->sync(); });
  ASSERT_EQ(syncing.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "sync() still waiting";
  EXPECT_EQ(syncing.get().code(), Code::kIOError);
  EXPECT_EQ(fs_.fired(), 1u);
  EXPECT_EQ(store_->sync().code(), Code::kIOError) << "the store stays stopped";
}

TEST_P(DurabilityTest, ACheckpointSaveReturnsTheErrorWhenItsFdatasyncFails) {
  open_unsynced();
  ASSERT_TRUE(append(test::make_events(3, "none")).ok());
  fs_.fail(FaultOp::kSync, 1, EIO);
  auto saving = std::async(std::launch::async, [&] { return store_->save_subscription_checkpoint("sub", 1); });
  ASSERT_EQ(saving.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the save still waiting";
  EXPECT_EQ(saving.get().code(), Code::kIOError);
}

// An append callback closes the store while a subscription checkpoint save
// waits for the log to be durable: the save must not hold what close()
// needs (it held the hub's lock, on the thread close() blocked: deadlock).
TEST_P(DurabilityTest, CloseFromAnAppendCallbackWhileACheckpointSaveWaits) {
  open_unsynced();
  std::promise<void> in_callback;
  std::promise<void> closed;
  std::thread saver([&] {
    in_callback.get_future().wait();
    (void)store_->save_subscription_checkpoint("sub", 0);
  });
  store_->append_async("s", ExpectedVersion::any(), test::views(test::make_events(1, "cb")),
                       [&](Result<AppendResult> r) {
                         EXPECT_TRUE(r.ok());
                         in_callback.set_value();
                         std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the save waits now
                         (void)store_->close();
                         closed.set_value();
                       });
  ASSERT_EQ(closed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "close() from the callback is stuck";
  saver.join();
  store_.reset();
  auto reopened = test::open_ok(dir_.path());
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->next_position(), 1u);
}

// A snapshot save from an append callback while another thread's save
// waits for the log to be durable: the waiting save must not hold the
// snapshot lock, which the callback would wait for on the very thread the
// wait needs (deadlock before).
TEST_P(DurabilityTest, ASnapshotSaveFromACallbackWhileAnotherWaitsForTheLog) {
  open_unsynced();
  ASSERT_TRUE(append(test::make_events(3, "before")).ok());
  std::promise<void> in_callback;
  std::promise<Status> from_callback;
  std::atomic<bool> waiting{false};
  store_->append_async("s", ExpectedVersion::any(), test::views(test::make_events(1, "cb")),
                       [&](Result<AppendResult> r) {
                         EXPECT_TRUE(r.ok());
                         in_callback.set_value();
                         while (!waiting.load()) std::this_thread::yield();
                         std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the other save waits now
                         auto saved = store_->snapshots().save("s", 2, "v1", "from the callback");
                         from_callback.set_value(saved.ok() ? Status() : saved.status());
                       });
  in_callback.get_future().wait();
  auto saving = std::async(std::launch::async, [&] {
    waiting = true;
    auto saved = store_->snapshots().save("s", 2, "v1", "from a thread");
    return saved.ok() ? Status() : saved.status();
  });
  auto cb = from_callback.get_future();
  ASSERT_EQ(cb.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the callback's save is stuck";
  Status cb_status = cb.get();
  EXPECT_TRUE(cb_status.ok() || cb_status.code() == Code::kInvalidArgument) << cb_status.to_string();
  ASSERT_EQ(saving.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "the thread's save is stuck";
  EXPECT_TRUE(saving.get().ok());
  auto loaded = store_->snapshots().load("s", kEnd, "v1");
  ASSERT_TRUE(loaded.ok() && *loaded);
}

TEST_P(DurabilityTest, BadOptionsAreRefused) {
  Options o = options();
  o.durability = Durability::kDefault;
  EXPECT_EQ(engine::open_store(fs_, dir_.path(), o).status().code(), Code::kInvalidArgument);
  o = options();
  o.max_writes_in_flight = 0;
  EXPECT_EQ(engine::open_store(fs_, dir_.path(), o).status().code(), Code::kInvalidArgument);
  o.max_writes_in_flight = 17;
  EXPECT_EQ(engine::open_store(fs_, dir_.path(), o).status().code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurabilityTest, test::write_paths(), test::write_path_name);

}  // namespace
}  // namespace cairn
