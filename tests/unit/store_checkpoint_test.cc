// Store::checkpoint: a copy holding exactly the events up to the reported
// position (compared event by event with the original), taken while writers
// append; hard links for sealed segments, copies otherwise; incremental
// checkpoints; an interrupted checkpoint refused on open; bad targets.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "format/segment_name.h"
#include "test_util.h"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace cairn {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

constexpr uint64_t kSmallSegment = 64u << 10;

Options small_segments() {
  Options o;
  o.segment_bytes = kSmallSegment;
  return o;
}

// Appends `batches` batches of 5 events of about 1 KiB to streams s-0..s-6.
void fill(Store& store, int batches, const std::string& tag = "e") {
  for (int i = 0; i < batches; ++i) {
    auto events = test::make_events(5, tag + std::to_string(i));
    for (auto& e : events) e.data += std::string(200, static_cast<char>('a' + i % 26));
    auto r = store.append("s-" + std::to_string(i % 7), ExpectedVersion::any(), test::views(events));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
}

// Waits until the indexer has written the index file of every sealed
// segment (and, shortly after, STREAMS), so that no index file appears
// between two checkpoints.
void wait_for_index_files(const std::string& dir) {
  auto segments = test::segment_files(dir);
  for (size_t sequence = 1; sequence < segments.size(); ++sequence) {
    char name[32];
    std::snprintf(name, sizeof name, "/%08zu.idx", sequence);
    for (int i = 0; i < 500 && !fs::exists(dir + name); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

std::vector<RecordedEvent> all_events(const Store& store, uint64_t end) {
  std::vector<RecordedEvent> out;
  while (out.size() < end) {
    auto page = store.read_all(out.size(), std::min<uint64_t>(4096, end - out.size()));
    EXPECT_TRUE(page.ok()) << page.status().to_string();
    if (!page.ok() || page->empty()) break;
    out.insert(out.end(), page->begin(), page->end());
  }
  return out;
}

// The copy opens and holds exactly the original's events [0, position),
// every field equal, and nothing after them.
void expect_copy_of(const Store& original, const std::string& copy, uint64_t position) {
  Options read_only;
  read_only.read_only = true;
  auto opened = test::open_ok(copy, read_only);
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->next_position(), position);
  std::vector<RecordedEvent> want = all_events(original, position);
  std::vector<RecordedEvent> got = all_events(*opened, position);
  ASSERT_EQ(want.size(), position);
  ASSERT_EQ(got.size(), position);
  for (uint64_t p = 0; p < position; ++p) ASSERT_EQ(got[p], want[p]) << "position " << p;
  auto after = opened->read_all(position, 10);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

// A checkpoint that must succeed.
CheckpointResult checkpoint_ok(const Store& store, const std::string& target, CheckpointOptions options = {}) {
  auto result = store.checkpoint(target, options);
  EXPECT_TRUE(result.ok()) << result.status().to_string();
  return result.ok() ? *result : CheckpointResult{};
}

ino_t inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST(StoreCheckpointTest, CopyHoldsTheEventsUpToItsPositionWithSealedSegmentsLinked) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 150);
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(result.position, store->next_position());
  std::vector<std::string> segments = test::segment_files(dir.sub("store"));
  ASSERT_GE(segments.size(), 3u);
  EXPECT_EQ(result.segments, segments.size());
  EXPECT_GE(result.files_linked, segments.size() - 1);  // sealed segments, STORE, index files
  EXPECT_GE(result.files_copied, 1u);                   // the active segment's prefix
  EXPECT_EQ(result.files_kept, 0u);
  std::vector<std::string> copied = test::segment_files(dir.sub("copy"));
  ASSERT_EQ(copied.size(), segments.size());
  for (size_t i = 0; i + 1 < segments.size(); ++i) EXPECT_EQ(inode(copied[i]), inode(segments[i])) << copied[i];
  EXPECT_NE(inode(copied.back()), inode(segments.back()));
  EXPECT_LT(fs::file_size(copied.back()), kSmallSegment);  // the prefix, not the zeros after it
  EXPECT_FALSE(fs::exists(dir.sub("copy/") + std::string(format::kCheckpointMarkerName)));
  for (const auto& e : fs::directory_iterator(dir.sub("copy"))) {
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  }
  expect_copy_of(*store, dir.sub("copy"), result.position);
}

TEST(StoreCheckpointTest, RestoredCopyTakesAppendsAndReopens) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 40);
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  store.reset();
  {
    auto restored = test::open_ok(dir.sub("copy"), small_segments());
    ASSERT_NE(restored, nullptr);
    EXPECT_EQ(restored->next_position(), result.position);
    fill(*restored, 40, "after");
  }
  auto reopened = test::open_ok(dir.sub("copy"), small_segments());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->next_position(), result.position + 200);
  // The original still holds only its own events: the links share sealed
  // segments, which are never written again.
  auto original = test::open_ok(dir.sub("store"), small_segments());
  EXPECT_EQ(original->next_position(), result.position);
}

TEST(StoreCheckpointTest, CopyUsesTheIndexCheckpointOfAClosedAndReopenedStore) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.sub("store"), small_segments());
    fill(*store, 150);
  }
  auto store = test::open_ok(dir.sub("store"), small_segments());
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  auto copy = test::open_ok(dir.sub("copy"), small_segments());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->stats().open_indexed_positions, result.position);
  EXPECT_EQ(copy->stats().open_scanned_batches, 0u);
}

TEST(StoreCheckpointTest, EmptyStore) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"));
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(result.position, 0u);
  expect_copy_of(*store, dir.sub("copy"), 0);
}

TEST(StoreCheckpointTest, WritersKeepAppendingWhileCheckpointsRun) {
  TempDir dir;
  Options options = small_segments();
  options.durability = Durability::kBatch;
  auto store = test::open_ok(dir.sub("store"), options);
  fill(*store, 20);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        auto events = test::make_events(1 + i % 4, "w" + std::to_string(t));
        auto r = store->append("w-" + std::to_string(t), ExpectedVersion::any(), test::views(events));
        ASSERT_TRUE(r.ok()) << r.status().to_string();
      }
    });
  }
  std::atomic<uint64_t> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto page = store->read_all(0, 100);
      ASSERT_TRUE(page.ok()) << page.status().to_string();
      reads++;
    }
  });
  // Alternately fresh targets and one target checkpointed again and again.
  std::vector<std::pair<std::string, uint64_t>> copies;
  for (int i = 0; i < 6; ++i) {
    std::string target = i % 2 == 0 ? dir.sub("copy-" + std::to_string(i)) : dir.sub("again");
    CheckpointResult result = checkpoint_ok(*store, target);
    if (i % 2 == 0 || i == 5) copies.emplace_back(target, result.position);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  for (auto& w : writers) w.join();
  reader.join();
  EXPECT_GT(reads.load(), 0u);
  EXPECT_GT(store->next_position(), copies.back().second);
  for (const auto& [target, position] : copies) {
    SCOPED_TRACE(target);
    expect_copy_of(*store, target, position);
  }
}

TEST(StoreCheckpointTest, SecondCheckpointCopiesOnlyWhatIsNew) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 100);
  CheckpointOptions copy;
  copy.copy = true;
  CheckpointResult first = checkpoint_ok(*store, dir.sub("copy"), copy);
  EXPECT_EQ(first.files_linked, 0u);
  uint64_t sealed_before = first.segments - 1;
  fill(*store, 100, "more");
  wait_for_index_files(dir.sub("store"));
  CheckpointResult second = checkpoint_ok(*store, dir.sub("copy"), copy);
  EXPECT_GT(second.segments, first.segments);
  // Kept: STORE and the segments sealed before the first checkpoint (and
  // their index files, when the indexer had written them).
  EXPECT_GE(second.files_kept, 1 + sealed_before);
  // Copied: the segment that was active then, those sealed since, the
  // active one, and the index files written since.
  uint64_t new_segments = second.segments - sealed_before;
  EXPECT_GE(second.files_copied, new_segments);
  uint64_t store_bytes = 0;
  for (const auto& f : test::segment_files(dir.sub("store"))) store_bytes += fs::file_size(f);
  EXPECT_LT(second.bytes_copied, store_bytes - sealed_before * kSmallSegment / 2);
  expect_copy_of(*store, dir.sub("copy"), second.position);

  // Nothing new: everything immutable is kept, only the active prefix copied.
  CheckpointResult third = checkpoint_ok(*store, dir.sub("copy"), copy);
  EXPECT_EQ(third.position, second.position);
  EXPECT_EQ(third.files_copied, 1u);
  expect_copy_of(*store, dir.sub("copy"), third.position);
}

TEST(StoreCheckpointTest, CheckpointRemovesWhatTheStoreNoLongerHolds) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 10);
  ASSERT_TRUE(store->checkpoint(dir.sub("copy")).ok());
  test::write_bytes(dir.sub("copy/stale-file"), "x");
  test::write_bytes(dir.sub("copy/00000099-00000000000000999999.seg"), "not a segment");
  CheckpointResult again = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(again.files_removed, 2u);
  EXPECT_FALSE(fs::exists(dir.sub("copy/stale-file")));
  expect_copy_of(*store, dir.sub("copy"), again.position);
}

TEST(StoreCheckpointTest, SnapshotsAndOtherStoreFilesAreCopied) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 10);
  fs::create_directories(dir.sub("store/snapshots/nested"));
  test::write_bytes(dir.sub("store/snapshots/a.bin"), std::string("snap\0shot", 9));
  test::write_bytes(dir.sub("store/snapshots/nested/b.bin"), "nested");
  test::write_bytes(dir.sub("store/snapshots/c.bin.tmp"), "unfinished");
  test::write_bytes(dir.sub("store/snapshots/00000100.snap"), std::string(64, 's'));  // sealed
  test::write_bytes(dir.sub("store/snapshots/00000101.snap"), std::string(80, 'n'));  // newest: appended to
  test::write_bytes(dir.sub("store/APP-METADATA"), "kept");
  test::write_bytes(dir.sub("store/next-7.seg.tmp"), std::string(4096, '\0'));
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(result.position, store->stats().next_position);
  EXPECT_EQ(test::read_bytes(dir.sub("copy/snapshots/a.bin")), std::string("snap\0shot", 9));
  EXPECT_EQ(test::read_bytes(dir.sub("copy/snapshots/nested/b.bin")), "nested");
  EXPECT_EQ(test::read_bytes(dir.sub("copy/APP-METADATA")), "kept");
  EXPECT_FALSE(fs::exists(dir.sub("copy/snapshots/c.bin.tmp")));
  EXPECT_FALSE(fs::exists(dir.sub("copy/next-7.seg.tmp")));
  EXPECT_NE(inode(dir.sub("copy/APP-METADATA")), inode(dir.sub("store/APP-METADATA")));  // may change in place
  EXPECT_EQ(inode(dir.sub("copy/snapshots/00000100.snap")), inode(dir.sub("store/snapshots/00000100.snap")));
  EXPECT_NE(inode(dir.sub("copy/snapshots/00000101.snap")), inode(dir.sub("store/snapshots/00000101.snap")));
  EXPECT_EQ(test::read_bytes(dir.sub("copy/snapshots/00000101.snap")), std::string(80, 'n'));
  // A snapshot file gone from the store goes from the copy too.
  fs::remove(dir.sub("store/snapshots/a.bin"));
  CheckpointResult again = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(again.files_removed, 1u);
  EXPECT_FALSE(fs::exists(dir.sub("copy/snapshots/a.bin")));
  EXPECT_TRUE(fs::exists(dir.sub("copy/snapshots/nested/b.bin")));
}

// A restored copy that was written to (its own snapshots), then checkpointed
// into again from the original: its sealed snapshot file has the same name,
// header and size as the original's but other records, and must be
// replaced, not kept (it was compared by size and header only).
TEST(StoreCheckpointTest, ADivergedCopysSealedSnapshotFileIsReplaced) {
  TempDir dir;
  Options o;
  o.snapshot_file_bytes = 4096;
  auto store = test::open_ok(dir.sub("store"), o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(test::make_events(10))).ok());
  ASSERT_TRUE(store->snapshots().save("s", 9, "v1", std::string(1000, 'a')).ok());
  ASSERT_TRUE(store->checkpoint(dir.sub("copy")).ok());
  {
    auto restored = test::open_ok(dir.sub("copy"), o);
    ASSERT_TRUE(restored);
    ASSERT_TRUE(restored->snapshots().save("s", 9, "v2", std::string(1000, 'X')).ok());
  }
  ASSERT_TRUE(store->snapshots().save("s", 9, "v2", std::string(1000, 'b')).ok());
  ASSERT_TRUE(store->snapshots().save("s", 9, "v1", std::string(3000, 'c')).ok());  // the file rolls: sealed
  auto again = store->checkpoint(dir.sub("copy"));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  store.reset();
  auto copy = test::open_ok(dir.sub("copy"), o);
  ASSERT_TRUE(copy);
  auto got = copy->snapshots().load("s", kEnd, "v2");
  ASSERT_TRUE(got.ok() && *got) << got.status().to_string();
  EXPECT_EQ((*got)->data, std::string(1000, 'b'));
  auto v1 = copy->snapshots().load("s", kEnd, "v1");
  ASSERT_TRUE(v1.ok() && *v1);
  EXPECT_EQ((*v1)->data, std::string(3000, 'c'));
}

// The same with a store that never saved a snapshot: the copy's own
// snapshots/ (saved after a restore) must not survive the next checkpoint.
TEST(StoreCheckpointTest, ACopysSnapshotsAreRemovedWhenTheStoreHasNone) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"));
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(test::make_events(10))).ok());
  ASSERT_TRUE(store->checkpoint(dir.sub("copy")).ok());
  {
    auto restored = test::open_ok(dir.sub("copy"));
    ASSERT_TRUE(restored);
    ASSERT_TRUE(restored->append("s", ExpectedVersion::any(), test::views(test::make_events(5, "restored"))).ok());
    ASSERT_TRUE(restored->snapshots().save("s", 14, "v1", "folded from restored-*").ok());
  }
  auto later = test::make_events(5, "orig");
  ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(later)).ok());
  auto again = store->checkpoint(dir.sub("copy"));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_GE(again->files_removed, 1u);
  store.reset();
  auto copy = test::open_ok(dir.sub("copy"));
  ASSERT_TRUE(copy);
  ASSERT_EQ(copy->next_position(), 15u);
  auto events = copy->read_stream("s", 10, 5);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), later.size());
  for (size_t i = 0; i < later.size(); ++i) test::expect_event((*events)[i], later[i], "s", 10 + i, 10 + i);
  auto h = copy->snapshots().hydrate("s");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_FALSE(h->snapshot.has_value()) << "a snapshot the store never had: " << h->snapshot->data;
}

TEST(StoreCheckpointTest, ReadOnlyStoreCanBeCheckpointed) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.sub("store"), small_segments());
    fill(*store, 60);
  }
  Options read_only = small_segments();
  read_only.read_only = true;
  auto store = test::open_ok(dir.sub("store"), read_only);
  CheckpointResult result = checkpoint_ok(*store, dir.sub("copy"));
  EXPECT_EQ(result.position, 300u);
  expect_copy_of(*store, dir.sub("copy"), 300);
}

// A read-only store (what `cairn checkpoint` opens) while another process
// goes on appending, saving snapshots and subscription checkpoints: the
// copy is of the store when checkpoint() runs, not when it was opened, so
// no snapshot or cursor in it speaks of events it lacks.
TEST(StoreCheckpointTest, ReadOnlyStoreCopiesTheLogItsMetadataSpeaksOf) {
  TempDir dir;
  auto writer = test::open_ok(dir.sub("store"));
  ASSERT_TRUE(writer);
  auto first = test::make_events(10, "old");
  ASSERT_TRUE(writer->append("s", ExpectedVersion::any(), test::views(first)).ok());
  Options ro;
  ro.read_only = true;
  auto reader = test::open_ok(dir.sub("store"), ro);
  ASSERT_TRUE(reader);
  ASSERT_EQ(reader->next_position(), 10u);
  auto second = test::make_events(10, "orig");
  ASSERT_TRUE(writer->append("s", ExpectedVersion::any(), test::views(second)).ok());
  ASSERT_TRUE(writer->snapshots().save("s", 19, "v1", "state of old-* and orig-*").ok());
  ASSERT_TRUE(writer->save_subscription_checkpoint("sub", 20).ok());

  auto result = reader->checkpoint(dir.sub("copy"));
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  EXPECT_EQ(result->position, 20u);
  writer.reset();
  reader.reset();
  auto copy = test::open_ok(dir.sub("copy"));
  ASSERT_TRUE(copy);
  ASSERT_EQ(copy->next_position(), 20u);
  auto events = copy->read_stream("s", 0, SIZE_MAX);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 20u);
  for (size_t i = 0; i < 20; ++i) test::expect_event((*events)[i], i < 10 ? first[i] : second[i - 10], "s", i, i);
  EXPECT_EQ(**copy->subscription_checkpoint("sub"), 20u);
  auto h = copy->snapshots().hydrate("s", "v1");
  ASSERT_TRUE(h.ok() && h->snapshot) << h.status().to_string();
  EXPECT_EQ(h->snapshot->info.version, 19u);
  EXPECT_TRUE(h->events.empty());
}

TEST(StoreCheckpointTest, LinksFallBackToCopiesOnAnotherFileSystem) {
  struct stat tmp {}, shm {};
  TempDir dir;
  if (::stat(dir.path().c_str(), &tmp) != 0 || ::stat("/dev/shm", &shm) != 0 || tmp.st_dev == shm.st_dev) {
    GTEST_SKIP() << "no second file system at /dev/shm";
  }
  std::string target = "/dev/shm/cairn-checkpoint-test-" + std::to_string(::getpid());
  fs::remove_all(target);
  auto store = test::open_ok(dir.sub("store"), small_segments());
  fill(*store, 60);
  CheckpointResult result = checkpoint_ok(*store, target);
  EXPECT_EQ(result.files_linked, 0u);
  EXPECT_GE(result.files_copied, result.segments);
  expect_copy_of(*store, target, result.position);
  fs::remove_all(target);
}

// ---- interrupted checkpoints ---------------------------------------------------

void expect_refused_as_incomplete(const std::string& dir) {
  for (bool read_only : {false, true}) {
    Options o;
    o.read_only = read_only;
    auto opened = Store::open(dir, o);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.status().code(), Code::kIncompleteCheckpoint) << opened.status().to_string();
    EXPECT_NE(opened.status().message().find("incomplete checkpoint"), std::string::npos);
  }
}

TEST(StoreCheckpointTest, CheckpointFailingHalfwayLeavesATargetRefusedOnOpen) {
  TempDir dir;
  engine::FaultInjectingFileSystem faults(engine::posix_file_system());
  Options o;
  o.prepare_segments = false;  // no background writes to *.tmp files
  auto opened = engine::open_store(faults, dir.sub("store"), o);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  std::unique_ptr<Store> store = std::move(opened).value();
  fill(*store, 30);
  // Writes to *.tmp files: the marker first, then the copies (the active
  // segment's prefix: sealed segments would be linked).
  faults.only_files_ending_with(".tmp");
  faults.fail(engine::FaultOp::kWrite, 2, EIO);
  auto failed = store->checkpoint(dir.sub("copy"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kIOError) << failed.status().to_string();
  EXPECT_EQ(faults.fired(), 1u);
  EXPECT_TRUE(fs::exists(dir.sub("copy/") + std::string(format::kCheckpointMarkerName)));
  expect_refused_as_incomplete(dir.sub("copy"));
  // The next checkpoint into it finishes the copy.
  CheckpointResult again = checkpoint_ok(*store, dir.sub("copy"));
  expect_copy_of(*store, dir.sub("copy"), again.position);
}

TEST(StoreCheckpointTest, DirectoryWithTheMarkerIsRefusedOnOpen) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.sub("store"));
    fill(*store, 3);
  }
  test::write_bytes(dir.sub("store/") + std::string(format::kCheckpointMarkerName), "");
  expect_refused_as_incomplete(dir.sub("store"));
  // Even before anything else was copied.
  fs::create_directories(dir.sub("bare"));
  test::write_bytes(dir.sub("bare/") + std::string(format::kCheckpointMarkerName), "");
  expect_refused_as_incomplete(dir.sub("bare"));
}

// ---- bad targets -----------------------------------------------------------------

TEST(StoreCheckpointTest, BadTargetsAreRefused) {
  TempDir dir;
  auto store = test::open_ok(dir.sub("store"));
  fill(*store, 3);
  auto code = [&](const std::string& target) { return store->checkpoint(target).status().code(); };
  EXPECT_EQ(code(dir.sub("store")), Code::kInvalidArgument);
  EXPECT_EQ(code(dir.sub("store/backup")), Code::kInvalidArgument);
  EXPECT_EQ(code(dir.sub("store/../store/backup/")), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.sub("store/backup")));

  fs::create_directories(dir.sub("other-files"));
  test::write_bytes(dir.sub("other-files/notes.txt"), "mine");
  EXPECT_EQ(code(dir.sub("other-files")), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.sub("other-files/LOCK")));

  test::write_bytes(dir.sub("a-file"), "x");
  EXPECT_EQ(code(dir.sub("a-file")), Code::kInvalidArgument);

  {
    auto other = test::open_ok(dir.sub("other-store"));
    fill(*other, 2);
    ASSERT_TRUE(other->checkpoint(dir.sub("other-copy")).ok());
  }
  EXPECT_EQ(code(dir.sub("other-store")), Code::kInvalidArgument);
  EXPECT_EQ(code(dir.sub("other-copy")), Code::kInvalidArgument);

  // A copy open as a store is locked.
  ASSERT_TRUE(store->checkpoint(dir.sub("copy")).ok());
  {
    auto open_copy = test::open_ok(dir.sub("copy"));
    EXPECT_EQ(code(dir.sub("copy")), Code::kLocked);
  }
  ASSERT_TRUE(store->close().ok());
  EXPECT_EQ(code(dir.sub("copy")), Code::kClosed);
}

}  // namespace
}  // namespace cairn
