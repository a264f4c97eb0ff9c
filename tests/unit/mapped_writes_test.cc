// Options::mapped_writes: groups that are not synced are copied into a
// writable mapping of a segment prepared whole; synced groups, segments not
// prepared whole and file systems that watch every write keep write calls.
// Whatever path a group took, every acknowledged byte is read back, in this
// process, after a reopen, and after the writing process is killed.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "test_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cairn {
namespace {

using test::EventSpec;
using test::TempDir;

class MappedWritesTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  Options options(Durability durability) const {
    Options o;
    o.io_backend = GetParam();
    o.segment_bytes = 64 << 10;
    o.durability = durability;
    return o;
  }

  static std::vector<std::vector<EventSpec>> make_batches(int count) {
    std::vector<std::vector<EventSpec>> batches;
    for (int i = 0; i < count; ++i) batches.push_back(test::make_events(1 + i % 3, "m" + std::to_string(i)));
    return batches;
  }

  // Appends `batches` to stream "s", which holds `all`; every `sync_every`th
  // (if any) is kSync, the others at the store's level. Returns the stream's
  // events acknowledged.
  static std::vector<EventSpec> append_all(Store& store, const std::vector<std::vector<EventSpec>>& batches,
                                           int sync_every = 0, std::vector<EventSpec> all = {}) {
    for (size_t i = 0; i < batches.size(); ++i) {
      bool sync = sync_every > 0 && i % sync_every == static_cast<size_t>(sync_every) - 1;
      ExpectedVersion expected =
          all.empty() ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(all.size() - 1);
      auto r = store.append("s", expected, test::views(batches[i]), sync ? Durability::kSync : Durability::kDefault);
      EXPECT_TRUE(r.ok()) << r.status().to_string();
      if (!r.ok()) return all;
      EXPECT_EQ(r->first_version, all.size());
      all.insert(all.end(), batches[i].begin(), batches[i].end());
    }
    return all;
  }

  static std::vector<EventSpec> append_many(Store& store, int count, int sync_every = 0,
                                            std::vector<EventSpec> all = {}) {
    return append_all(store, make_batches(count), sync_every, std::move(all));
  }

  static void expect_holds(Store& store, const std::vector<EventSpec>& expected) {
    auto events = store.read_stream("s", 0, SIZE_MAX);
    ASSERT_TRUE(events.ok()) << events.status().to_string();
    ASSERT_EQ(events->size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) test::expect_event((*events)[i], expected[i], "s", i, i);
  }

  void expect_reopened_holds(const std::vector<EventSpec>& expected) {
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store);
    expect_holds(*store, expected);
  }

  TempDir dir_;
};

TEST_P(MappedWritesTest, UnsyncedGroupsInPreparedSegmentsAreMappedAndKept) {
  for (Durability level : {Durability::kNone, Durability::kBatch}) {
    SCOPED_TRACE(level == Durability::kNone ? "none" : "batch");
    TempDir dir;
    auto store = test::open_ok(dir.path(), options(level));
    ASSERT_TRUE(store);
    // A new store's first segment is not prepared whole: write calls.
    auto first = append_many(*store, 20);
    EXPECT_EQ(store->stats().segments, 1u);
    EXPECT_EQ(store->stats().mapped_writes, 0u);
    // In steps, so that the preparer (a background thread) has the next
    // segment ready before a roll even on a loaded machine: a roll into a
    // segment not yet prepared creates one, whose groups are written.
    for (int step = 0; step < 30; ++step) {
      first = append_many(*store, 100, /*sync_every=*/0, std::move(first));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    StoreStats stats = store->stats();
    EXPECT_GT(stats.segments, 4u);
    EXPECT_GT(stats.mapped_writes, stats.group_commits / 2) << "prepared segments take most groups";
    EXPECT_LT(stats.mapped_writes, stats.group_commits) << "the first segment's groups are written";
    expect_holds(*store, first);
    store.reset();
    auto reopened = test::open_ok(dir.path());
    ASSERT_TRUE(reopened);
    expect_holds(*reopened, first);
  }
}

TEST_P(MappedWritesTest, SyncedGroupsAreNeverMapped) {
  auto store = test::open_ok(dir_.path(), options(Durability::kSync));
  ASSERT_TRUE(store);
  auto all = append_many(*store, 1500);
  EXPECT_GT(store->stats().segments, 2u);
  EXPECT_EQ(store->stats().mapped_writes, 0u);
  EXPECT_EQ(store->stats().syncs, store->stats().group_commits);
  store.reset();
  expect_reopened_holds(all);
}

TEST_P(MappedWritesTest, TurnedOffEveryGroupIsWritten) {
  Options o = options(Durability::kNone);
  o.mapped_writes = false;
  auto store = test::open_ok(dir_.path(), o);
  ASSERT_TRUE(store);
  auto all = append_many(*store, 1500);
  EXPECT_GT(store->stats().segments, 2u);
  EXPECT_EQ(store->stats().mapped_writes, 0u);
  store.reset();
  expect_reopened_holds(all);
}

// After a kSync append nothing is mapped for Writer::kMapPauseAfterSync (a
// second), so that the next kSync append's fdatasync does not pay for stores
// into the mapping; kSync groups themselves are written.
TEST_P(MappedWritesTest, AKSyncAppendPausesMappedWritesForASecond) {
  auto store = test::open_ok(dir_.path(), options(Durability::kNone));
  ASSERT_TRUE(store);
  auto all = append_many(*store, 1500);
  uint64_t mapped = store->stats().mapped_writes;
  ASSERT_GT(mapped, 0u);
  all = append_many(*store, 1, /*sync_every=*/1, std::move(all));
  uint64_t syncs = store->stats().syncs;
  EXPECT_GE(syncs, 1u);
  all = append_many(*store, 50, 0, std::move(all));
  EXPECT_EQ(store->stats().mapped_writes, mapped) << "paused: written with write calls";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // Enough to reach a segment prepared whole (one the writer had to make
  // itself, because the preparer was not ready, is not mapped).
  all = append_many(*store, 1000, 0, std::move(all));
  EXPECT_GT(store->stats().mapped_writes, mapped) << "mapped again a second later";
  EXPECT_EQ(store->stats().syncs, syncs) << "kNone appends sync nothing";
  expect_holds(*store, all);
  store.reset();
  expect_reopened_holds(all);
}

// Fault injection and power-loss simulation must see every write: their
// files keep File::map_writable's default, so nothing is mapped under them.
TEST_P(MappedWritesTest, AFileSystemThatWatchesWritesIsNotMapped) {
  engine::FaultInjectingFileSystem fs(engine::posix_file_system());
  fs.only_files_ending_with(".seg");
  auto store = engine::open_store(fs, dir_.path(), options(Durability::kNone));
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  uint64_t writes_before = fs.count(engine::FaultOp::kWrite);
  auto all = append_many(**store, 1500);
  EXPECT_GT((*store)->stats().segments, 2u);
  EXPECT_EQ((*store)->stats().mapped_writes, 0u);
  EXPECT_GE(fs.count(engine::FaultOp::kWrite) - writes_before, (*store)->stats().group_commits);
  store->reset();
  expect_reopened_holds(all);
}

// kNone promises that an acknowledged append outlives the process: the bytes
// copied into the mapping are in the kernel's page cache.
TEST_P(MappedWritesTest, MappedAppendsOutliveAKilledProcess) {
  const auto batches = make_batches(1500);
  std::vector<EventSpec> expected;
  for (const auto& b : batches) expected.insert(expected.end(), b.begin(), b.end());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto store = Store::open(dir_.path(), options(Durability::kNone));
    if (!store.ok()) ::_exit(2);
    auto all = append_all(**store, batches);
    bool mapped = (*store)->stats().mapped_writes > 0;
    char done = mapped && all.size() == expected.size() ? 'y' : 'n';
    (void)!::write(ready[1], &done, 1);
    ::pause();  // killed here, the store never closed
    ::_exit(3);
  }
  ::close(ready[1]);
  char done = 0;
  ASSERT_EQ(::read(ready[0], &done, 1), 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(done, 'y') << "the child appended everything, some of it through the mapping";
  expect_reopened_holds(expected);
}

INSTANTIATE_TEST_SUITE_P(Backends, MappedWritesTest, test::io_backends(), test::backend_name);

}  // namespace
}  // namespace cairn
