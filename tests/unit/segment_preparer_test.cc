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
#include <mutex>
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

// Preparing is an optimisation: a full disk makes it fail with a log line,
// leaves no file behind, and the writer creates its segments the old way.
TEST(SegmentPreparerTest, NoSpaceIsLoggedAndLeavesNothing) {
  TempDir dir;
  engine::FaultInjectingFileSystem faults(fs());
  std::mutex mu;
  std::vector<std::string> logged;
  SegmentPreparer preparer(faults, dir.path(), 4u << 20, [&](std::string_view m) {
    std::lock_guard lock(mu);
    logged.emplace_back(m);
  });
  faults.fail(engine::FaultOp::kWrite, 2, ENOSPC);
  preparer.request();
  preparer.wait_idle();
  EXPECT_EQ(preparer.take().file, nullptr);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("No space left"), std::string::npos) << logged[0];
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  preparer.request();  // the next attempt succeeds
  preparer.wait_idle();
  EXPECT_NE(preparer.take().file, nullptr);
}

// Files that record File::write_back calls, and fail them when told to.
class WriteBackWatcher final : public engine::ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<engine::File>> open(const std::string& path, OpenMode mode) override {
    auto file = base_.open(path, mode);
    if (!file.ok()) return file.status();
    return std::unique_ptr<engine::File>(std::make_unique<File>(std::move(*file), *this));
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges() {
    std::lock_guard lock(mu_);
    return ranges_;
  }
  std::atomic<bool> fail{false};

 private:
  class File final : public engine::File {
   public:
    File(std::unique_ptr<engine::File> base, WriteBackWatcher& watcher) : base_(std::move(base)), w_(watcher) {}
    Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
      return base_->write_at(offset, parts);
    }
    Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
      return base_->read_at(offset, buf, n);
    }
    Status sync() override { return base_->sync(); }
    Status write_back(uint64_t offset, uint64_t length) override {
      if (w_.fail) return Status::io_error(path() + ": write back: Input/output error (injected)");
      std::lock_guard lock(w_.mu_);
      w_.ranges_.emplace_back(offset, length);
      return base_->write_back(offset, length);
    }
    Status truncate(uint64_t size) override { return base_->truncate(size); }
    Result<uint64_t> size() const override { return base_->size(); }
    Result<std::shared_ptr<engine::Mapping>> map(uint64_t length) const override { return base_->map(length); }
    const std::string& path() const override { return base_->path(); }

   private:
    std::unique_ptr<engine::File> base_;
    WriteBackWatcher& w_;
  };
  std::mutex mu_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
};

// The zeros go to the device a chunk at a time, each written back before the
// next is written, rather than all at the final fdatasync.
TEST(SegmentPreparerTest, WritesEachChunkBackBeforeTheNext) {
  TempDir dir;
  WriteBackWatcher watcher(fs());
  SegmentPreparer preparer(watcher, dir.path(), (5u << 20) + 4096, nullptr);
  preparer.request();
  preparer.wait_idle();
  SegmentPreparer::Prepared p = preparer.take();
  ASSERT_NE(p.file, nullptr);
  std::vector<std::pair<uint64_t, uint64_t>> expected;
  for (uint64_t at = 0; at < 5; ++at) expected.emplace_back(at << 20, 1u << 20);
  expected.emplace_back(5u << 20, 4096);
  EXPECT_EQ(watcher.ranges(), expected);
  EXPECT_TRUE(all_zero(test::read_bytes(p.path)));
  EXPECT_EQ(std::filesystem::file_size(p.path), (5u << 20) + 4096);
}

// A failed write-back fails the preparation like a failed write: logged, no
// file left, and the next request tries again.
TEST(SegmentPreparerTest, AFailedWriteBackIsLoggedAndLeavesNothing) {
  TempDir dir;
  WriteBackWatcher watcher(fs());
  std::mutex mu;
  std::vector<std::string> logged;
  SegmentPreparer preparer(watcher, dir.path(), 2u << 20, [&](std::string_view m) {
    std::lock_guard lock(mu);
    logged.emplace_back(m);
  });
  watcher.fail = true;
  preparer.request();
  preparer.wait_idle();
  EXPECT_EQ(preparer.take().file, nullptr);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("write back: Input/output error (injected)"), std::string::npos) << logged[0];
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  watcher.fail = false;
  preparer.request();
  preparer.wait_idle();
  EXPECT_NE(preparer.take().file, nullptr);
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

}  // namespace
}  // namespace cairn
