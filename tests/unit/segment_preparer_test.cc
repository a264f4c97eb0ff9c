// Segment space prepared off the commit path: whole next segment files
// (SegmentPreparer) and zeros kept ahead of the writer in the active segment
// (ZeroAhead), and a store whose segments roll into prepared files.
#include "engine/fault_injection.h"
#include "engine/forwarding_file_system.h"
#include "engine/segment_preparer.h"
#include "engine/zero_ahead.h"
#include "test_util.h"

#include <atomic>
#include <chrono>
#include <cerrno>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

namespace cairn {
namespace {

using engine::OpenMode;
using engine::SegmentPreparer;
using engine::ZeroAhead;
using test::TempDir;

engine::FileSystem& fs() { return engine::posix_file_system(); }

bool all_zero(const std::string& bytes) { return bytes.find_first_not_of('\0') == std::string::npos; }

TEST(SegmentPreparerTest, PreparesOneZeroFilledFileWhenAsked) {
  TempDir dir;
  SegmentPreparer preparer(fs(), dir.path(), 1u << 20, nullptr);
  EXPECT_EQ(preparer.take().file, nullptr) << "nothing is prepared before it is asked for";
  preparer.request();
  preparer.wait_idle();
  SegmentPreparer::Prepared p = preparer.take();
  ASSERT_NE(p.file, nullptr);
  EXPECT_EQ(p.path, dir.path() + "/next-0.seg.tmp");
  EXPECT_EQ(std::filesystem::file_size(p.path), 1u << 20);
  std::string bytes = test::read_bytes(p.path);
  EXPECT_TRUE(all_zero(bytes));
  EXPECT_EQ(preparer.take().file, nullptr) << "taken once";
}

TEST(SegmentPreparerTest, AnUnusedFileIsRemovedWhenThePreparerStops) {
  TempDir dir;
  {
    SegmentPreparer preparer(fs(), dir.path(), 256u << 10, nullptr);
    preparer.request();
    preparer.wait_idle();
    ASSERT_TRUE(std::filesystem::exists(dir.sub("next-0.seg.tmp")));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.sub("next-0.seg.tmp")));
}

TEST(SegmentPreparerTest, StoppingMidwayLeavesNoFile) {
  TempDir dir;
  {
    SegmentPreparer preparer(fs(), dir.path(), 2u << 30, nullptr);  // takes seconds
    preparer.request();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::filesystem::is_empty(dir.path()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_FALSE(std::filesystem::is_empty(dir.path())) << "preparing never started";
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// Files that record what the preparer does to them (writes, by the mode of
// the handle, write-backs, loads into the cache, syncs), and refuse O_DIRECT
// or fail write-backs or loads when told to.
class Recorder final : public engine::ForwardingFileSystem {
 public:
  struct Op {
    std::string what;  // "write", "direct write", "write back", "load", "sync"
    uint64_t offset = 0;
    uint64_t length = 0;
    bool operator==(const Op&) const = default;
    friend void PrintTo(const Op& op, std::ostream* os) { *os << op.what << " " << op.offset << "+" << op.length; }
  };
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<engine::File>> open(const std::string& path, OpenMode mode) override {
    if (mode == OpenMode::kReadWriteDirect && refuse_direct) return Status::not_supported(path + ": O_DIRECT refused");
    auto file = base_.open(path, mode);
    if (!file.ok()) return file.status();
    return std::unique_ptr<engine::File>(
        std::make_unique<File>(std::move(*file), *this, mode == OpenMode::kReadWriteDirect));
  }
  std::vector<Op> ops() {
    std::lock_guard lock(mu_);
    return ops_;
  }
  std::atomic<bool> refuse_direct{false};
  std::atomic<bool> fail_write_back{false};
  std::atomic<bool> fail_load{false};
  std::atomic<bool> refuse_allocate{false};
  std::atomic<int> direct_delay_ms{0};  // each direct write takes at least this long

 private:
  class File final : public engine::File {
   public:
    File(std::unique_ptr<engine::File> base, Recorder& r, bool direct) : base_(std::move(base)), r_(r), direct_(direct) {}
    Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
      uint64_t n = 0;
      for (std::string_view part : parts) n += part.size();
      if (direct_) std::this_thread::sleep_for(std::chrono::milliseconds(r_.direct_delay_ms.load()));
      r_.record({direct_ ? "direct write" : "write", offset, n});
      return base_->write_at(offset, parts);
    }
    Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
      return base_->read_at(offset, buf, n);
    }
    Status sync() override {
      r_.record({"sync", 0, 0});
      return base_->sync();
    }
    Status write_back(uint64_t offset, uint64_t length) override {
      if (r_.fail_write_back) return Status::io_error(path() + ": write back: Input/output error (injected)");
      r_.record({"write back", offset, length});
      return base_->write_back(offset, length);
    }
    Status load_into_cache(uint64_t offset, uint64_t length) override {
      if (r_.fail_load) return Status::io_error(path() + ": read at offset 0: Input/output error (injected)");
      r_.record({"load", offset, length});
      return base_->load_into_cache(offset, length);
    }
    Status allocate(uint64_t length) override {
      if (r_.refuse_allocate) return Status::not_supported(path() + ": fallocate refused");
      r_.record({"allocate", 0, length});
      return base_->allocate(length);
    }
    Status truncate(uint64_t size) override { return base_->truncate(size); }
    Result<uint64_t> size() const override { return base_->size(); }
    Result<std::shared_ptr<engine::Mapping>> map(uint64_t length) const override { return base_->map(length); }
    const std::string& path() const override { return base_->path(); }
    uint64_t write_alignment() const override { return base_->write_alignment(); }

   private:
    std::unique_ptr<engine::File> base_;
    Recorder& r_;
    const bool direct_;
  };
  void record(Op op) {
    std::lock_guard lock(mu_);
    ops_.push_back(std::move(op));
  }
  std::mutex mu_;
  std::vector<Op> ops_;
};

// The zeros go to the device with O_DIRECT writes (no copy into the page
// cache; each on the device before the next), a tail short of a page
// through the page cache, written back; then one fdatasync; then the file is
// loaded into the page cache, 8 MiB at a time, so that the writer's small
// writes find their pages there (a write to part of an uncached page reads
// it first).
TEST(SegmentPreparerTest, ZerosDirectThenLoadsTheFileIntoThePageCache) {
  TempDir dir;
  Recorder recorder(fs());
  const uint64_t size = (9u << 20) + 8192 + 100;
  SegmentPreparer preparer(recorder, dir.path(), size, nullptr);
  preparer.request();
  preparer.wait_idle();
  SegmentPreparer::Prepared p = preparer.take();
  ASSERT_NE(p.file, nullptr);
  using Op = Recorder::Op;
  std::vector<Op> expected;
  for (uint64_t at = 0; at < 9; ++at) expected.push_back({"direct write", at << 20, 1u << 20});
  const uint64_t tail = (9u << 20) + 8192;
  expected.insert(expected.end(), {{"direct write", 9u << 20, 8192},
                                   {"write", tail, 100},
                                   {"write back", tail, 100},
                                   {"sync", 0, 0},
                                   {"load", 0, 8u << 20},
                                   {"load", 8u << 20, tail - (8u << 20)}});
  // The loads cover every page written direct; that a load caches its pages
  // is File::load_into_cache's own test (posix_io_test). A mincore check
  // here, milliseconds later, failed once under `make test`: this VM drops
  // page cache at any moment.
  EXPECT_EQ(recorder.ops(), expected);
  EXPECT_EQ(std::filesystem::file_size(p.path), size);
  EXPECT_TRUE(all_zero(test::read_bytes(p.path)));
}

// Where O_DIRECT is refused (tmpfs, say), the zeros go through the page
// cache, each chunk written back before the next is written, rather than all
// at the final fdatasync; they are cached already, so nothing is loaded.
TEST(SegmentPreparerTest, WithoutDirectWritesEachChunkIsWrittenBackBeforeTheNext) {
  TempDir dir;
  Recorder recorder(fs());
  recorder.refuse_direct = true;
  SegmentPreparer preparer(recorder, dir.path(), (2u << 20) + 4096, nullptr);
  preparer.request();
  preparer.wait_idle();
  SegmentPreparer::Prepared p = preparer.take();
  ASSERT_NE(p.file, nullptr);
  using Op = Recorder::Op;
  std::vector<Op> expected = {{"write", 0, 1u << 20},       {"write back", 0, 1u << 20},
                              {"write", 1u << 20, 1u << 20}, {"write back", 1u << 20, 1u << 20},
                              {"write", 2u << 20, 4096},    {"write back", 2u << 20, 4096},
                              {"sync", 0, 0}};
  EXPECT_EQ(recorder.ops(), expected);
  EXPECT_TRUE(all_zero(test::read_bytes(p.path)));
  EXPECT_EQ(std::filesystem::file_size(p.path), (2u << 20) + 4096);
}

// A failed write-back or load fails the preparation like a failed write:
// logged, no file left, and the next request tries again.
TEST(SegmentPreparerTest, AFailedWriteBackOrLoadIsLoggedAndLeavesNothing) {
  for (bool load : {false, true}) {
    SCOPED_TRACE(load ? "load" : "write back");
    TempDir dir;
    Recorder recorder(fs());
    recorder.refuse_direct = !load;  // write-backs only happen without O_DIRECT, loads only with it
    std::mutex mu;
    std::vector<std::string> logged;
    SegmentPreparer preparer(recorder, dir.path(), 2u << 20, [&](std::string_view m) {
      std::lock_guard lock(mu);
      logged.emplace_back(m);
    });
    std::atomic<bool>& fail = load ? recorder.fail_load : recorder.fail_write_back;
    fail = true;
    preparer.request();
    preparer.wait_idle();
    EXPECT_EQ(preparer.take().file, nullptr);
    // Without O_DIRECT the preparer says so first.
    ASSERT_EQ(logged.size(), load ? 1u : 2u);
    std::string error = load ? "read at offset 0: Input/output error (injected)" : "write back: Input/output error (injected)";
    EXPECT_NE(logged.back().find(error), std::string::npos) << logged.back();
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
    fail = false;
    preparer.request();
    preparer.wait_idle();
    EXPECT_NE(preparer.take().file, nullptr);
  }
}

// Logs what the preparer logs (from its thread).
struct Logged {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(std::string_view)> sink() {
    return [this](std::string_view m) {
      std::lock_guard lock(mu);
      lines.emplace_back(m);
    };
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mu);
    return lines;
  }
};

// Preparing is an optimisation: a full disk makes it fail with a log line,
// leaves no file behind, and the writer creates its segments the old way.
// (Buffered zeros here: where O_DIRECT writes fail, see the next test.)
TEST(SegmentPreparerTest, NoSpaceIsLoggedAndLeavesNothing) {
  TempDir dir;
  Recorder recorder(fs());
  recorder.refuse_direct = true;
  engine::FaultInjectingFileSystem faults(recorder);
  Logged logged;
  SegmentPreparer preparer(faults, dir.path(), 4u << 20, logged.sink());
  faults.fail(engine::FaultOp::kWrite, 2, ENOSPC);
  preparer.request();
  preparer.wait_idle();
  EXPECT_EQ(preparer.take().file, nullptr);
  auto lines = logged.get();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("preparing segments without O_DIRECT from now on"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("No space left"), std::string::npos) << lines[1];
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  preparer.request();  // the next attempt succeeds
  preparer.wait_idle();
  EXPECT_NE(preparer.take().file, nullptr);
  EXPECT_EQ(logged.get().size(), 2u);
}

// A file system may take O_DIRECT at the open and refuse the writes: the
// file is zeroed through the page cache instead, and so are the next ones
// (one log line).
TEST(SegmentPreparerTest, AFailedDirectWriteFallsBackToBufferedZerosForGood) {
  TempDir dir;
  Recorder recorder(fs());
  engine::FaultInjectingFileSystem faults(recorder);
  Logged logged;
  SegmentPreparer preparer(faults, dir.path(), 2u << 20, logged.sink());
  faults.fail(engine::FaultOp::kWrite, 2, EINVAL);
  for (int round = 0; round < 2; ++round) {
    preparer.request();
    preparer.wait_idle();
    SegmentPreparer::Prepared p = preparer.take();
    ASSERT_NE(p.file, nullptr) << round;
    EXPECT_EQ(std::filesystem::file_size(p.path), 2u << 20);
    EXPECT_TRUE(all_zero(test::read_bytes(p.path)));
  }
  auto ops = recorder.ops();
  using Op = Recorder::Op;
  // The first direct write went through, the second failed (and was not
  // recorded); then everything is buffered, each chunk written back.
  std::vector<Op> buffered = {{"write", 0, 1u << 20}, {"write back", 0, 1u << 20},
                              {"write", 1u << 20, 1u << 20}, {"write back", 1u << 20, 1u << 20},
                              {"sync", 0, 0}};
  std::vector<Op> expected = {{"direct write", 0, 1u << 20}};
  expected.insert(expected.end(), buffered.begin(), buffered.end());
  expected.insert(expected.end(), buffered.begin(), buffered.end());
  EXPECT_EQ(ops, expected);
  auto lines = logged.get();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("preparing segments without O_DIRECT from now on"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("Invalid argument"), std::string::npos) << lines[0];
}

// A log outruns zero-filled preparation when it takes files faster than
// twice the time the last zeroing took; unknown times never count.
TEST(SegmentPreparerTest, OutrunsZeroingWhenFilesAreTakenFasterThanTwiceTheZeroingTime) {
  using std::chrono::milliseconds;
  EXPECT_TRUE(SegmentPreparer::outruns_zeroing(milliseconds(150), milliseconds(100)));
  EXPECT_TRUE(SegmentPreparer::outruns_zeroing(milliseconds(199), milliseconds(100)));
  EXPECT_FALSE(SegmentPreparer::outruns_zeroing(milliseconds(200), milliseconds(100)));
  EXPECT_FALSE(SegmentPreparer::outruns_zeroing(milliseconds(5000), milliseconds(100)));
  EXPECT_FALSE(SegmentPreparer::outruns_zeroing(milliseconds(0), milliseconds(100))) << "one take: no interval yet";
  EXPECT_FALSE(SegmentPreparer::outruns_zeroing(milliseconds(10), milliseconds(0))) << "nothing zeroed yet";
}

// Files taken back to back while zeroing takes 100 ms or more: the next
// file gets its blocks allocated, not written (all zeros to read, the
// segment's size, synced), and nothing is logged; where fallocate is
// refused, zeros through the page cache (one pass over the device, no load).
TEST(SegmentPreparerTest, ALogThatOutrunsZeroingGetsAllocatedFiles) {
  for (bool refuse : {false, true}) {
    SCOPED_TRACE(refuse ? "fallocate refused" : "fallocate");
    TempDir dir;
    Recorder recorder(fs());
    recorder.refuse_allocate = refuse;
    recorder.direct_delay_ms = 50;  // 2 MiB: two direct writes, 100 ms or more
    Logged logged;
    SegmentPreparer preparer(recorder, dir.path(), 2u << 20, logged.sink());
    for (int i = 0; i < 2; ++i) {  // two zero-filled files, taken back to back
      preparer.request();
      preparer.wait_idle();
      ASSERT_NE(preparer.take().file, nullptr) << i;
    }
    using Op = Recorder::Op;
    std::vector<Op> direct = {{"direct write", 0, 1u << 20}, {"direct write", 1u << 20, 1u << 20}, {"sync", 0, 0},
                              {"load", 0, 2u << 20}};
    std::vector<Op> expected = direct;
    expected.insert(expected.end(), direct.begin(), direct.end());
    EXPECT_EQ(recorder.ops(), expected);
    preparer.request();
    preparer.wait_idle();
    SegmentPreparer::Prepared third = preparer.take();
    ASSERT_NE(third.file, nullptr);
    EXPECT_EQ(std::filesystem::file_size(third.path), 2u << 20);
    EXPECT_TRUE(all_zero(test::read_bytes(third.path)));
    if (refuse) {
      std::vector<Op> buffered = {{"write", 0, 1u << 20}, {"write back", 0, 1u << 20},
                                  {"write", 1u << 20, 1u << 20}, {"write back", 1u << 20, 1u << 20}, {"sync", 0, 0}};
      expected.insert(expected.end(), buffered.begin(), buffered.end());
    } else {
      expected.push_back({"allocate", 0, 2u << 20});
      expected.push_back({"sync", 0, 0});
    }
    EXPECT_EQ(recorder.ops(), expected);
    EXPECT_TRUE(logged.get().empty());
  }
}

TEST(ZeroAheadTest, AFailedChunkStopsZeroingAndKeepsTheData) {
  TempDir dir;
  engine::FaultInjectingFileSystem faults(fs());
  auto file = faults.open(dir.sub("active"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->write_at(0, "data").ok());
  faults.fail(engine::FaultOp::kSync, 1, EIO);
  std::vector<std::string> logged;
  {
    ZeroAhead zeros(**file, 4, 4, 32u << 20, [&](std::string_view m) { logged.emplace_back(m); });
    zeros.wait_idle();
    zeros.before_write(1000);  // the writer goes on regardless
  }
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("Input/output error"), std::string::npos) << logged[0];
  EXPECT_EQ(test::read_bytes(dir.sub("active")).substr(0, 4), "data");
}

TEST(ZeroAheadTest, ZerosAheadOfTheWriterUpToTheLimit) {
  TempDir dir;
  auto file = fs().open(dir.sub("active"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->write_at(0, std::string(100, 'h')).ok());
  {
    ZeroAhead zeros(**file, 100, 100, 32u << 20, nullptr);
    zeros.wait_idle();
    auto size = (*file)->size();
    ASSERT_TRUE(size.ok());
    EXPECT_GE(*size, 100 + ZeroAhead::kLookahead);
    EXPECT_LT(*size, 32u << 20) << "no further ahead than needed";
    zeros.before_write(30u << 20);  // the writer outran it: zeros go on from there
    zeros.wait_idle();
    EXPECT_EQ(*(*file)->size(), 32u << 20) << "never past the limit";
  }
  std::string bytes = test::read_bytes(dir.sub("active"));
  EXPECT_EQ(bytes.substr(0, 100), std::string(100, 'h'));
  EXPECT_TRUE(all_zero(bytes.substr(100)));
}

// The safety property: zeros never land on bytes the writer wrote, however
// the two threads interleave.
TEST(ZeroAheadTest, NeverOverwritesWhatTheWriterWrote) {
  TempDir dir;
  auto file = fs().open(dir.sub("active"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  constexpr uint64_t kLimit = 48u << 20;
  std::string expected;
  {
    ZeroAhead zeros(**file, 0, 0, kLimit, nullptr);
    uint64_t at = 0;
    uint32_t seed = 1;
    while (at < kLimit - (1u << 20)) {
      seed = seed * 1103515245 + 12345;
      size_t n = 1 + seed % 200000;  // up to ~200 KB, sometimes past the zeros
      std::string chunk(n, static_cast<char>('a' + seed % 26));
      zeros.before_write(at + n);
      ASSERT_TRUE((*file)->write_at(at, chunk).ok());
      expected += chunk;
      at += n;
      if (seed % 7 == 0) std::this_thread::yield();
    }
  }
  std::string bytes = test::read_bytes(dir.sub("active"));
  ASSERT_GE(bytes.size(), expected.size());
  EXPECT_TRUE(bytes.compare(0, expected.size(), expected) == 0) << "zeros landed on written data";
  EXPECT_TRUE(all_zero(bytes.substr(expected.size())));
}

// A store with 1 MiB segments: sync appends fill a segment in about a second
// here, far longer than zero-filling the next one takes, so every roll after
// the first finds a prepared file and sealed segments keep its full size.
TEST(PreparedStoreTest, SegmentsRollIntoPreparedFilesAndReadBackWhole) {
  TempDir dir;
  Options options;
  options.segment_bytes = 1u << 20;
  std::vector<test::EventSpec> all;
  {
    auto store = test::open_ok(dir.path(), options);
    ASSERT_TRUE(store);
    while (test::segment_files(dir.path()).size() < 4) {
      auto batch = test::make_events(8, "p" + std::to_string(all.size()));
      for (auto& e : batch) e.data = std::string(2000, static_cast<char>('a' + all.size() % 26));
      ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(batch)).ok());
      all.insert(all.end(), batch.begin(), batch.end());
    }
  }
  auto segments = test::segment_files(dir.path());
  for (size_t i = 1; i + 1 < segments.size(); ++i) {
    EXPECT_EQ(std::filesystem::file_size(segments[i]), options.segment_bytes) << segments[i];
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path() << " left behind";
  }
  auto store = test::open_ok(dir.path(), options);
  ASSERT_TRUE(store);
  auto events = store->read_stream("s", 0, SIZE_MAX);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) test::expect_event((*events)[i], all[i], "s", i, i);
}

// The first segment's successor is asked for once it is half full; after a
// roll the next one is asked for at once (a store that filled a segment
// fills the next), so a fast writer never outruns the preparer.
TEST(PreparedStoreTest, AfterARollTheNextSegmentIsPreparedAtOnce) {
  TempDir dir;
  Options options;
  options.segment_bytes = 1u << 20;
  auto store = test::open_ok(dir.path(), options);
  ASSERT_TRUE(store);
  auto prepared = [&](int n) { return std::filesystem::exists(dir.sub("next-" + std::to_string(n) + ".seg.tmp")); };
  auto wait_for = [&](int n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!prepared(n) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return prepared(n);
  };
  auto big = test::make_events(1, "big");
  big[0].data = std::string(200u << 10, 'b');
  auto append_big = [&] {
    big[0].id = EventId::random();  // not a retry of the last one
    ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(big), Durability::kNone).ok());
  };
  append_big();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(prepared(0)) << "a store that has not filled half a segment prepares nothing";
  while (store->stats().bytes_written < options.segment_bytes / 2) append_big();
  ASSERT_TRUE(wait_for(0)) << "asked for once half full";
  // Roll until a roll takes a prepared file (next-K renamed into the new
  // segment; one still being prepared at a roll is taken at the next one).
  // The new segment then holds one 200 KiB batch, under half of it, and
  // nothing more is appended: next-(K+1) appears only if asked for at once.
  for (int taken = 0;; ) {
    size_t segments = test::segment_files(dir.path()).size();
    while (test::segment_files(dir.path()).size() == segments) append_big();
    if (prepared(taken)) {
      ASSERT_LT(segments, 10u) << "no roll took the prepared file";
      continue;
    }
    EXPECT_TRUE(wait_for(taken + 1)) << "the segment after next-" << taken << " is prepared at once";
    break;
  }
}

}  // namespace
}  // namespace cairn
