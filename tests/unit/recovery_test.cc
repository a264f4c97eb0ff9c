// Opening stores: bad directories, unknown versions, missing segments, torn
// tails cut off at every byte, and corruption reported with file and offset.
#include "test_util.h"

#include "format/index_file.h"

#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "format/segment_name.h"

#include <chrono>
#include <filesystem>
#include <thread>

namespace cairn {
namespace {

namespace fs = std::filesystem;
using test::EventSpec;
using test::TempDir;

// Appends `batches` single-stream batches of 1..3 events; returns what was written.
std::vector<std::vector<EventSpec>> fill(Store& store, int batches, const std::string& stream = "s") {
  std::vector<std::vector<EventSpec>> written;
  for (int i = 0; i < batches; ++i) {
    written.push_back(test::make_events(1 + i % 3, stream + std::to_string(i)));
    auto r = store.append(stream, ExpectedVersion::any(), test::views(written.back()));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
  }
  return written;
}

// Checks that the store holds exactly the first `batches` of `written`, byte for byte.
void expect_prefix(Store& store, const std::vector<std::vector<EventSpec>>& written, size_t batches,
                   const std::string& stream = "s") {
  std::vector<EventSpec> flat;
  for (size_t b = 0; b < batches; ++b) flat.insert(flat.end(), written[b].begin(), written[b].end());
  ASSERT_EQ(store.next_position(), flat.size());
  auto all = store.read_all(0, SIZE_MAX);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), flat.size());
  for (size_t i = 0; i < flat.size(); ++i) test::expect_event((*all)[i], flat[i], stream, i, i);
}

uint64_t file_size(const std::string& path) { return fs::file_size(path); }

TEST(OpenTest, DirectoryWithOtherFilesIsNotAStore) {
  TempDir dir;
  test::write_bytes(dir.sub("notes.txt"), "hello");
  auto r = Store::open(dir.path());
  EXPECT_EQ(r.status().code(), Code::kNotAStore);
  EXPECT_NE(r.status().message().find(dir.path()), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.sub("LOCK")));  // nothing dropped into a foreign directory
}

TEST(OpenTest, RegularFileIsNotAStore) {
  TempDir dir;
  test::write_bytes(dir.sub("file"), "x");
  EXPECT_EQ(Store::open(dir.sub("file")).status().code(), Code::kNotAStore);
}

TEST(OpenTest, MissingDirectoryWithoutCreateIsNotFound) {
  TempDir dir;
  Options options;
  options.create_if_missing = false;
  EXPECT_EQ(Store::open(dir.sub("nope"), options).status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir.sub("nope")));
  EXPECT_TRUE(test::open_ok(dir.sub("a/b/c")) != nullptr);  // created, parents too
}

TEST(OpenTest, UnknownStoreFormatVersionNamesTheFile) {
  TempDir dir;
  test::open_ok(dir.path()).reset();
  std::string bytes = test::read_bytes(dir.sub("STORE"));
  bytes[8] = 9;
  test::write_bytes(dir.sub("STORE"), bytes);
  auto r = Store::open(dir.path());
  EXPECT_EQ(r.status().code(), Code::kUnsupportedVersion);
  EXPECT_NE(r.status().message().find(dir.sub("STORE")), std::string::npos) << r.status().message();
}

TEST(OpenTest, UnknownSegmentFormatVersionNamesTheFile) {
  TempDir dir;
  test::open_ok(dir.path()).reset();
  std::string seg = test::segment_files(dir.path()).at(0);
  std::string bytes = test::read_bytes(seg);
  bytes[8] = 2;
  test::write_bytes(seg, bytes);
  auto r = Store::open(dir.path());
  EXPECT_EQ(r.status().code(), Code::kUnsupportedVersion);
  EXPECT_NE(r.status().message().find(seg), std::string::npos);
}

TEST(OpenTest, SecondWriterIsLockedOutButReadersAreNot) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  fill(*store, 2);
  auto second = Store::open(dir.path());
  EXPECT_EQ(second.status().code(), Code::kLocked);
  EXPECT_NE(second.status().message().find("LOCK"), std::string::npos);
  Options ro;
  ro.read_only = true;
  auto reader = test::open_ok(dir.path(), ro);
  EXPECT_EQ(reader->next_position(), 3u);
  auto events = test::make_events(1);
  EXPECT_EQ(reader->append("s", ExpectedVersion::any(), test::views(events)).status().code(), Code::kReadOnly);
  store.reset();
  EXPECT_TRUE(test::open_ok(dir.path()) != nullptr);  // the lock went with the store
}

class SegmentedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.segment_bytes = 64 << 10;
    auto store = test::open_ok(dir_.path(), options_);
    written_ = fill(*store, 1200);  // ~1200 batches of ~150 bytes: several segments
    store.reset();
    segments_ = test::segment_files(dir_.path());
    ASSERT_GE(segments_.size(), 3u);
  }
  TempDir dir_;
  Options options_;
  std::vector<std::vector<EventSpec>> written_;
  std::vector<std::string> segments_;
};

TEST_F(SegmentedTest, SegmentsRollAndReopenReadsEverything) {
  uint64_t expected_first = 0;
  for (size_t i = 0; i < segments_.size(); ++i) {
    auto name = format::parse_segment_file_name(fs::path(segments_[i]).filename().string());
    ASSERT_TRUE(name);
    EXPECT_EQ(name->sequence, i + 1);
    EXPECT_GE(name->first_position, expected_first);
    expected_first = name->first_position;
    EXPECT_LE(file_size(segments_[i]), options_.segment_bytes);
  }
  auto store = test::open_ok(dir_.path(), options_);
  expect_prefix(*store, written_, written_.size());
  EXPECT_EQ(store->stats().segments, segments_.size());
}

TEST_F(SegmentedTest, MissingSegmentInTheMiddleNamesIt) {
  fs::remove(segments_[1]);
  auto r = Store::open(dir_.path(), options_);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("segment 2 is missing"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(segments_[2]), std::string::npos);
}

TEST_F(SegmentedTest, ChecksumFailureInSealedSegmentIsCorruptionWithOffset) {
  uint64_t offset = 64 + 20;  // inside the first batch's body
  test::flip_byte(segments_[0], offset);
  Options verify = options_;
  verify.verify_on_open = true;
  auto r = Store::open(dir_.path(), verify);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(segments_[0] + " at offset 64"), std::string::npos)
      << r.status().message();
}

TEST_F(SegmentedTest, WithTheIndexCheckpointADamagedSealedBatchFailsItsReadNotTheOpen) {
  test::flip_byte(segments_[0], 64 + 20);
  Options from_checkpoint = options_;
  from_checkpoint.verify_on_open = false;
  auto store = test::open_ok(dir_.path(), from_checkpoint);
  EXPECT_EQ(store->stats().open_scanned_batches, 0u) << "a clean open reads the index, not the log";
  auto damaged = store->read_all(0, 1);
  EXPECT_EQ(damaged.status().code(), Code::kCorruption);
  EXPECT_NE(damaged.status().message().find(segments_[0] + " at offset 64"), std::string::npos)
      << damaged.status().message();
  // Everything after the damaged batch still reads.
  auto rest = store->read_all(written_[0].size(), SIZE_MAX);
  ASSERT_TRUE(rest.ok()) << rest.status().to_string();
  uint64_t total = 0;
  for (const auto& batch : written_) total += batch.size();
  EXPECT_EQ(rest->size(), total - written_[0].size());
}

TEST_F(SegmentedTest, IntactPrefixCanBeOpenedReadOnlyOnRequest) {
  // Corrupt the second segment's first batch: the first segment stays readable.
  test::flip_byte(segments_[1], 64 + 20);
  auto first_of_second = format::parse_segment_file_name(fs::path(segments_[1]).filename().string());
  Options options = options_;
  options.open_intact_prefix = true;
  options.verify_on_open = true;  // else the index checkpoint spares the open the scan
  auto store = test::open_ok(dir_.path(), options);
  EXPECT_EQ(store->next_position(), first_of_second->first_position);
  auto events = test::make_events(1);
  EXPECT_EQ(store->append("s", ExpectedVersion::any(), test::views(events)).status().code(), Code::kReadOnly);
  EXPECT_EQ(test::read_bytes(segments_[1]).size(), file_size(segments_[1]));  // untouched
}

// A sealed segment the index checkpoint covers is not opened at open
// (deferred): its first read checks its header and fails. An open that
// scans the log (verify_on_open, or no checkpoint) fails at once.
TEST_F(SegmentedTest, SegmentFromAnotherStoreIsCorruption) {
  TempDir other;
  auto store = test::open_ok(other.path(), options_);
  fill(*store, 1200);
  store.reset();
  fs::copy_file(test::segment_files(other.path())[1], segments_[1], fs::copy_options::overwrite_existing);
  auto is_foreign = [&](const Status& s) {
    return s.code() == Code::kCorruption && s.message().find("another store") != std::string::npos &&
           s.message().find(segments_[1]) != std::string::npos;
  };
  {
    auto opened = test::open_ok(dir_.path(), options_);
    ASSERT_NE(opened, nullptr);
    EXPECT_GT(opened->stats().open_deferred_segments, 0u);
    auto first_of_second = format::parse_segment_file_name(fs::path(segments_[1]).filename().string());
    auto r = opened->read_all(first_of_second->first_position, 1);
    EXPECT_TRUE(!r.ok() && is_foreign(r.status())) << (r.ok() ? "read" : r.status().to_string());
    auto before = opened->read_all(0, 1);  // segment 1 is intact
    EXPECT_TRUE(before.ok()) << before.status().to_string();
  }
  Options verify = options_;
  verify.verify_on_open = true;
  auto r = Store::open(dir_.path(), verify);
  EXPECT_TRUE(is_foreign(r.status())) << r.status().to_string();
  test::remove_stream_runs(dir_.path());
  r = Store::open(dir_.path(), options_);
  EXPECT_TRUE(is_foreign(r.status())) << r.status().to_string();
}

TEST_F(SegmentedTest, SealedLastSegmentGetsASuccessorAndLeftoverTempIsRemoved) {
  // As after a crash between sealing a segment and creating the next one.
  fs::remove(segments_.back());
  test::write_bytes(segments_.back() + ".tmp", std::string(10, 'x'));
  std::vector<std::vector<EventSpec>> kept;
  auto store = test::open_ok(dir_.path(), options_);
  uint64_t end = store->next_position();
  EXPECT_LT(end, 1200u * 2);
  auto more = test::make_events(2);
  auto r = store->append("s", ExpectedVersion::any(), test::views(more));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->first_position, end);
  EXPECT_FALSE(fs::exists(segments_.back() + ".tmp"));
  EXPECT_EQ(test::segment_files(dir_.path()).size(), segments_.size());
}

TEST_F(SegmentedTest, LeftoverPreparedFileIsRemovedByAWritableOpenOnly) {
  // As after a crash while the next segment was being zero-filled.
  std::string prepared = dir_.sub("next-3.seg.tmp");
  test::write_bytes(prepared, std::string(4096, '\0'));
  Options ro = options_;
  ro.read_only = true;
  {
    auto store = test::open_ok(dir_.path(), ro);
    ASSERT_TRUE(store);
    EXPECT_TRUE(fs::exists(prepared)) << "a read-only open changed the directory";
  }
  auto store = test::open_ok(dir_.path(), options_);
  ASSERT_TRUE(store);
  EXPECT_FALSE(fs::exists(prepared));
  EXPECT_EQ(test::segment_files(dir_.path()).size(), segments_.size());
}

class TornTailTest : public ::testing::Test {
 protected:
  // A store whose active segment ends with a last batch at [tail_begin_, tail_end_),
  // at the end of the file: no zeros are written ahead of the data here
  // (ZeroFilledSegmentTest covers torn tails before such zeros).
  void SetUp() override {
    options_.prepare_segments = false;
    auto store = test::open_ok(dir_.path(), options_);
    written_ = fill(*store, 5);
    store.reset();
    segment_ = test::segment_files(dir_.path()).at(0);
    tail_begin_ = file_size(segment_);
    store = test::open_ok(dir_.path(), options_);
    written_.push_back(test::make_events(3, "last"));
    ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(written_.back())).ok());
    store.reset();
    tail_end_ = file_size(segment_);
    pristine_ = test::read_bytes(segment_);
  }

  // Reopens and checks: the last batch is gone, the rest intact, the cut durable,
  // and the store takes appends again.
  void expect_recovers_without_last_batch() {
    {
      auto store = test::open_ok(dir_.path(), options_);
      ASSERT_TRUE(store);
      expect_prefix(*store, written_, written_.size() - 1);
    }
    // The torn bytes are cut off. Zeros may stay: a torn tail whose bytes
    // happen to be zeros (a checksum byte of 0 left alone, 1 in 256) reads
    // as the zeros after the data, which are no batch and need no cut.
    std::string rest = test::read_bytes(segment_).substr(std::min<uint64_t>(tail_begin_, file_size(segment_)));
    EXPECT_GE(file_size(segment_), tail_begin_);
    EXPECT_EQ(rest.find_first_not_of('\0'), std::string::npos) << "torn bytes left after offset " << tail_begin_;
    auto store = test::open_ok(dir_.path(), options_);
    expect_prefix(*store, written_, written_.size() - 1);
    auto again = store->append("s", ExpectedVersion::any(), test::views(written_.back()));
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->deduplicated);
    store.reset();
    test::write_bytes(segment_, pristine_);
  }

  TempDir dir_;
  Options options_;
  std::vector<std::vector<EventSpec>> written_;
  std::string segment_;
  uint64_t tail_begin_ = 0;
  uint64_t tail_end_ = 0;
  std::string pristine_;
};

TEST_F(TornTailTest, TruncationAtEveryOffsetInsideTheLastBatch) {
  ASSERT_GT(tail_end_, tail_begin_ + 16);
  for (uint64_t cut = tail_begin_ + 1; cut < tail_end_; ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    test::write_bytes(segment_, pristine_.substr(0, cut));
    expect_recovers_without_last_batch();
    if (HasFatalFailure()) return;
  }
}

TEST_F(TornTailTest, FlippedByteAnywhereInTheLastBatch) {
  for (uint64_t at = tail_begin_; at < tail_end_; ++at) {
    SCOPED_TRACE("flip at " + std::to_string(at));
    test::flip_byte(segment_, at);
    expect_recovers_without_last_batch();
    if (HasFatalFailure()) return;
  }
}

TEST_F(TornTailTest, GarbageOrZerosAfterTheLastBatch) {
  test::write_bytes(segment_, pristine_ + std::string(3000, '\0'));
  {
    auto store = test::open_ok(dir_.path(), options_);
    expect_prefix(*store, written_, written_.size());
  }
  std::string garbage;
  for (int i = 0; i < 777; ++i) garbage.push_back(static_cast<char>(i * 37 + 11));
  test::write_bytes(segment_, pristine_ + garbage);
  auto store = test::open_ok(dir_.path(), options_);
  expect_prefix(*store, written_, written_.size());
  EXPECT_EQ(file_size(segment_), tail_end_);
}

TEST_F(TornTailTest, ChecksumFailureBeforeTheTailIsCorruption) {
  // The first batch of the active segment: later batches were written after it
  // was durable, so damage there cannot be a torn write.
  test::flip_byte(segment_, 64 + 30);
  Options verify;
  verify.verify_on_open = true;  // a clean close's index checkpoint would spare the open the scan
  auto r = Store::open(dir_.path(), verify);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(segment_ + " at offset 64"), std::string::npos) << r.status().message();
  EXPECT_EQ(test::read_bytes(segment_).size(), pristine_.size());  // nothing cut
}

TEST_F(TornTailTest, ReadOnlyOpenIgnoresATornTailWithoutCuttingIt) {
  test::write_bytes(segment_, pristine_.substr(0, tail_end_ - 5));
  Options ro = options_;
  ro.read_only = true;
  auto store = test::open_ok(dir_.path(), ro);
  expect_prefix(*store, written_, written_.size() - 1);
  EXPECT_EQ(file_size(segment_), tail_end_ - 5);
}

// The active segment zero-filled ahead of its data (a prepared segment): a
// clean reopen continues after the data, and a torn last batch followed by
// megabytes of zeros is cut off like any torn tail.
TEST(ZeroFilledSegmentTest, ReopensAfterTheDataAndCutsATornTailBeforeTheZeros) {
  TempDir dir;
  std::vector<std::vector<EventSpec>> written;
  {
    auto store = test::open_ok(dir.path());
    written = fill(*store, 5);
    // Zeroing runs in the background: wait until it is ahead of the data
    // (a loaded machine may not have run it yet).
    std::string path = test::segment_files(dir.path()).at(0);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string now = test::read_bytes(path);
      size_t data = now.find_last_not_of('\0');
      if (data != std::string::npos && now.size() >= data + 4096) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::string segment = test::segment_files(dir.path()).at(0);
  std::string bytes = test::read_bytes(segment);
  size_t last_nonzero = bytes.find_last_not_of('\0');
  ASSERT_NE(last_nonzero, std::string::npos);
  ASSERT_GE(bytes.size(), last_nonzero + 4096) << "expected zeros written ahead of the data";
  {
    auto store = test::open_ok(dir.path());  // clean: nothing is cut
    expect_prefix(*store, written, written.size());
  }
  // Not cut (zeroing may go on where the first writer stopped).
  EXPECT_GE(test::read_bytes(segment).size(), bytes.size());
  // Tear the last batch: flip its last non-zero byte.
  test::flip_byte(segment, last_nonzero);
  auto store = test::open_ok(dir.path());
  ASSERT_TRUE(store);
  expect_prefix(*store, written, written.size() - 1);
  auto again = store->append("s", ExpectedVersion::any(), test::views(written.back()));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  store.reset();
  store = test::open_ok(dir.path());
  expect_prefix(*store, written, written.size());
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// Everything an index checkpoint covers was durable before its files were
// written, so an open that finds nothing after it syncs nothing; one that
// finds batches after it makes them durable before readers see them.
TEST(CleanOpenTest, SyncsOnlyWhatLiesBeyondTheIndexCheckpoint) {
  test::TempDir dir;
  test::TempDir copy;
  Options o;
  o.prepare_segments = false;  // no zeroing thread syncing the segment
  o.segment_bytes = 64 << 10;
  auto specs = test::make_events(40, "clean");
  {
    auto store = test::open_ok(dir.path(), o);
    for (size_t i = 0; i < specs.size(); i += 4) {
      std::vector<test::EventSpec> four(specs.begin() + i, specs.begin() + i + 4);
      ASSERT_TRUE(store->append("Order-" + std::to_string(i % 3), ExpectedVersion::any(), test::views(four)).ok());
    }
    // While open, the active segment's tail is not in any index file yet.
    std::filesystem::copy(dir.path(), copy.path(), std::filesystem::copy_options::recursive |
                                                       std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(copy.path() + "/LOCK");
  }
  auto syncs_of_open = [&](const std::string& path, uint64_t* scanned) {
    engine::FaultInjectingFileSystem fs(engine::posix_file_system());
    fs.only_files_ending_with(".seg");
    auto store = engine::open_store(fs, path, o);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    uint64_t syncs = fs.count(engine::FaultOp::kSync);
    if (store.ok()) {
      *scanned = (*store)->stats().open_scanned_batches;
      auto all = (*store)->read_all(0, 100);
      EXPECT_TRUE(all.ok());
      EXPECT_EQ(all->size(), specs.size());
    }
    return syncs;
  };
  uint64_t scanned = 0;
  EXPECT_EQ(syncs_of_open(dir.path(), &scanned), 0u);
  EXPECT_EQ(scanned, 0u);
  EXPECT_EQ(syncs_of_open(copy.path(), &scanned), 1u);
  EXPECT_GT(scanned, 0u);
}

}  // namespace
}  // namespace cairn
