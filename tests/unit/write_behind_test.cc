// WriteBehind: the active segment's unsynced bytes written back to the
// device a chunk at a time, ahead of the fdatasync that makes them durable;
// and a store whose unsynced appends are written back so.
#include "engine/forwarding_file_system.h"
#include "engine/store_open.h"
#include "engine/write_behind.h"
#include "format/segment_scan.h"
#include "test_util.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace cairn {
namespace {

using engine::WriteBehind;
constexpr uint64_t kChunk = WriteBehind::kChunk;
using Range = std::pair<uint64_t, uint64_t>;  // offset, length

// A file that records its write-backs (and fails them when told to); it
// holds no bytes.
class WriteBackRecorder final : public engine::File {
 public:
  Status write_at(uint64_t, std::span<const std::string_view>) override { return Status(); }
  Result<size_t> read_at(uint64_t, char*, size_t) const override { return size_t{0}; }
  Status sync() override { return Status(); }
  Status write_back(uint64_t offset, uint64_t length) override {
    std::this_thread::sleep_for(delay_);
    std::lock_guard lock(mu_);
    calls_.emplace_back(offset, length);
    if (fail_) return Status::io_error(path_ + ": write back at offset " + std::to_string(offset) + ": EIO");
    return Status();
  }
  Status truncate(uint64_t) override { return Status(); }
  Result<uint64_t> size() const override { return uint64_t{0}; }
  Result<std::shared_ptr<engine::Mapping>> map(uint64_t) const override {
    return Status::not_supported("no mapping");
  }
  const std::string& path() const override { return path_; }

  std::vector<Range> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  void fail() { fail_ = true; }
  void slow(std::chrono::milliseconds delay) { delay_ = delay; }

 private:
  std::string path_ = "recorded.seg";
  mutable std::mutex mu_;
  std::vector<Range> calls_;
  bool fail_ = false;
  std::chrono::milliseconds delay_{0};
};

// `n` events of `bytes` bytes of data each, distinct by `tag`.
std::vector<test::EventSpec> sized_events(size_t n, const std::string& tag, size_t bytes) {
  auto specs = test::make_events(n, tag);
  for (auto& s : specs) s.data.resize(bytes, static_cast<char>('a' + s.data.size() % 26));
  return specs;
}

std::vector<Range> chunks(uint64_t from, uint64_t to) {
  std::vector<Range> out;
  for (uint64_t at = from; at < to; at += kChunk) out.emplace_back(at, kChunk);
  return out;
}

TEST(WriteBehindTest, WritesBackEachWholeChunkBelowTheWrittenEndOnceInOrder) {
  WriteBackRecorder file;
  WriteBehind behind(file, 0, nullptr);
  behind.written(kChunk - 1);
  behind.wait_idle();
  EXPECT_TRUE(file.calls().empty()) << "no whole chunk is written yet";
  behind.written(3 * kChunk + kChunk / 2);
  behind.wait_idle();
  EXPECT_EQ(file.calls(), chunks(0, 3 * kChunk));
  behind.written(3 * kChunk + kChunk - 1);
  behind.written(2 * kChunk);  // an older end changes nothing
  behind.wait_idle();
  EXPECT_EQ(file.calls(), chunks(0, 3 * kChunk));
  behind.written(5 * kChunk);
  behind.wait_idle();
  EXPECT_EQ(file.calls(), chunks(0, 5 * kChunk));
}

TEST(WriteBehindTest, StartsAtTheChunkHoldingWhereTheSegmentWasContinued) {
  WriteBackRecorder file;
  WriteBehind behind(file, kChunk + 12345, nullptr);
  behind.written(kChunk + 20000);
  behind.wait_idle();
  EXPECT_TRUE(file.calls().empty());
  behind.written(4 * kChunk);
  behind.wait_idle();
  EXPECT_EQ(file.calls(), chunks(kChunk, 4 * kChunk));
}

TEST(WriteBehindTest, AFailedWriteBackIsLoggedOnceAndStopsIt) {
  WriteBackRecorder file;
  file.fail();
  std::vector<std::string> lines;
  WriteBehind behind(file, 0, [&](std::string_view line) { lines.emplace_back(line); });
  behind.written(3 * kChunk);
  behind.wait_idle();
  behind.written(6 * kChunk);
  behind.wait_idle();
  EXPECT_EQ(file.calls(), chunks(0, kChunk)) << "nothing after the failure";
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("recorded.seg: write back at offset 0: EIO"), std::string::npos) << lines[0];
}

TEST(WriteBehindTest, StoppingWaitsForTheChunkInProgressOnly) {
  WriteBackRecorder file;
  file.slow(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  {
    WriteBehind behind(file, 0, nullptr);
    behind.written(100 * kChunk);  // five seconds of write-backs at this pace
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_GE(file.calls().size(), 1u);
  EXPECT_LE(file.calls().size(), 3u);
}

// A writable mapping that records what is prefaulted; it holds no bytes.
class PrefaultRecorder final : public engine::WritableMapping {
 public:
  explicit PrefaultRecorder(uint64_t size) : size_(size) {}
  char* data() override { return nullptr; }
  uint64_t size() const override { return size_; }
  void prefault(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(mu_);
    calls_.emplace_back(offset, length);
  }
  std::vector<Range> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  uint64_t size_;
  mutable std::mutex mu_;
  std::vector<Range> calls_;
};

// The chunk after the one the writer entered, once, only when asked, and
// never past the mapping.
TEST(WriteBehindTest, PrefaultsTheChunkAfterTheWritersWhenAsked) {
  WriteBackRecorder file;
  PrefaultRecorder mapping(6 * kChunk + kChunk / 2);
  WriteBehind behind(file, 0, nullptr, &mapping);
  behind.written(kChunk + 10, true);
  behind.wait_idle();
  EXPECT_EQ(mapping.calls(), (std::vector<Range>{{2 * kChunk, kChunk}}));
  behind.written(kChunk + 20, true);  // the same chunk: nothing more
  behind.written(3 * kChunk + 5, true);
  behind.wait_idle();
  EXPECT_EQ(mapping.calls(), (std::vector<Range>{{2 * kChunk, kChunk}, {4 * kChunk, kChunk}}));
  behind.written(4 * kChunk + 1, false);  // not asked
  behind.wait_idle();
  EXPECT_EQ(mapping.calls().size(), 2u);
  behind.written(5 * kChunk + 1, true);  // only the half chunk left in the mapping
  behind.wait_idle();
  EXPECT_EQ(mapping.calls(),
            (std::vector<Range>{{2 * kChunk, kChunk}, {4 * kChunk, kChunk}, {6 * kChunk, kChunk / 2}}));
  behind.written(6 * kChunk + 1, true);  // nothing left
  behind.wait_idle();
  EXPECT_EQ(mapping.calls().size(), 3u);
  EXPECT_EQ(file.calls(), chunks(0, 6 * kChunk)) << "write-backs go on as before";
}

// ---------------------------------------------------------------- in a store

// Records write-backs of segment files.
class WriteBackWatcher final : public engine::ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<engine::File>> open(const std::string& path, engine::OpenMode mode) override;
  std::vector<Range> calls(const std::string& path) {
    std::lock_guard lock(mu_);
    return calls_[path];
  }
  void record(const std::string& path, Range r) {
    std::lock_guard lock(mu_);
    calls_[path].push_back(r);
    for (uint64_t at = r.first; at < r.first + r.second; at += 4096) {
      if (!released_[path].count(at / 4096)) unreleased_written_back_[path]++;
    }
  }
  void record_release(const std::string& path, Range r) {
    std::lock_guard lock(mu_);
    for (uint64_t at = r.first; at < r.first + r.second; at += 4096) released_[path].insert(at / 4096);
  }
  void record_prefault(const std::string& path, Range r) {
    std::lock_guard lock(mu_);
    prefaults_[path].push_back(r);
  }
  std::vector<Range> prefaults(const std::string& path) {
    std::lock_guard lock(mu_);
    return prefaults_[path];
  }
  // Pages written back while still mapped writable (released later or never).
  uint64_t unreleased_written_back(const std::string& path) {
    std::lock_guard lock(mu_);
    return unreleased_written_back_[path];
  }
  uint64_t released_pages(const std::string& path) {
    std::lock_guard lock(mu_);
    return released_[path].size();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<Range>> calls_;
  std::map<std::string, std::set<uint64_t>> released_;
  std::map<std::string, uint64_t> unreleased_written_back_;
  std::map<std::string, std::vector<Range>> prefaults_;
};

// Records the pages the writer releases from its writable mapping.
class WatchedMapping final : public engine::WritableMapping {
 public:
  WatchedMapping(std::unique_ptr<engine::WritableMapping> base, WriteBackWatcher& watcher, std::string path)
      : base_(std::move(base)), watcher_(watcher), path_(std::move(path)) {}
  char* data() override { return base_->data(); }
  uint64_t size() const override { return base_->size(); }
  void release(uint64_t offset, uint64_t length) override {
    watcher_.record_release(path_, {offset, length});
    base_->release(offset, length);
  }
  void prefault(uint64_t offset, uint64_t length) override {
    watcher_.record_prefault(path_, {offset, length});
    base_->prefault(offset, length);
  }

 private:
  std::unique_ptr<engine::WritableMapping> base_;
  WriteBackWatcher& watcher_;
  std::string path_;
};

class WatchedFile final : public engine::File {
 public:
  WatchedFile(std::unique_ptr<engine::File> base, WriteBackWatcher& watcher)
      : base_(std::move(base)), watcher_(watcher) {}
  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override { return base_->read_at(offset, buf, n); }
  Status sync() override { return base_->sync(); }
  Status write_back(uint64_t offset, uint64_t length) override {
    watcher_.record(base_->path(), {offset, length});
    return base_->write_back(offset, length);
  }
  Status load_into_cache(uint64_t offset, uint64_t length) override { return base_->load_into_cache(offset, length); }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<engine::Mapping>> map(uint64_t length) const override { return base_->map(length); }
  Result<std::unique_ptr<engine::WritableMapping>> map_writable(uint64_t length) override {
    auto mapped = base_->map_writable(length);
    if (!mapped.ok()) return mapped;
    return std::unique_ptr<engine::WritableMapping>(
        std::make_unique<WatchedMapping>(std::move(*mapped), watcher_, base_->path()));
  }
  const std::string& path() const override { return base_->path(); }
  int native_handle() const override { return base_->native_handle(); }
  uint64_t write_alignment() const override { return base_->write_alignment(); }

 private:
  std::unique_ptr<engine::File> base_;
  WriteBackWatcher& watcher_;
};

Result<std::unique_ptr<engine::File>> WriteBackWatcher::open(const std::string& path, engine::OpenMode mode) {
  auto file = base_.open(path, mode);
  if (!file.ok() || path.size() < 4 || path.substr(path.size() - 4) != ".seg") return file;
  return std::unique_ptr<engine::File>(std::make_unique<WatchedFile>(std::move(*file), *this));
}

class StoreWriteBehindTest : public ::testing::TestWithParam<bool> {};  // mapped writes or not

// Where the batches of segment file `path` end (the active one: the zeros after them).
uint64_t data_end_of(const std::string& path) {
  std::string bytes = test::read_bytes(path);
  auto scan = format::scan_segment(bytes, path, format::ScanOptions{/*is_last=*/true},
                                   [](const format::ScannedBatch&) { return Status(); });
  EXPECT_TRUE(scan.ok()) << scan.status().to_string();
  return scan.ok() ? scan->data_end : 0;
}

Options four_mib_segments(Durability durability, bool mapped) {
  Options o;
  o.segment_bytes = 4 << 20;
  o.durability = durability;
  o.mapped_writes = mapped;
  return o;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// kNone appends of ~20 KB batches into 4 MiB segments, until a segment
// holds 2 MiB (with mapped writes: written through the mapping, so in a
// prepared segment). Every segment's write-backs are whole chunks, in
// order from its start, below its batches' end (a seal stops them, its
// fdatasync writes the rest); the active segment's whole chunks are all
// written back soon after; every event reads back after a reopen.
TEST_P(StoreWriteBehindTest, UnsyncedAppendsAreWrittenBackAheadAndReadBack) {
  test::TempDir dir;
  WriteBackWatcher watcher(engine::posix_file_system());
  Options o = four_mib_segments(Durability::kNone, GetParam());
  std::vector<test::EventSpec> all;
  {
    auto store = engine::open_store(watcher, dir.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    auto done = [&] {
      std::string newest = segment_files(dir.path()).back();
      if (GetParam() && watcher.released_pages(newest) * 4096 < 2 * kChunk) return false;  // not mapped (yet)
      return data_end_of(newest) >= 2 * kChunk;
    };
    for (int i = 0; i % 20 != 0 || !done(); ++i) {
      ASSERT_LT(i, 20000) << "no segment was written through the mapping";
      auto specs = sized_events(10, "wb" + std::to_string(i), 2000);
      ASSERT_TRUE((*store)->append("s", ExpectedVersion::any(), test::views(specs)).ok());
      all.insert(all.end(), specs.begin(), specs.end());
    }
    std::vector<std::string> segments = segment_files(dir.path());
    for (const std::string& path : segments) {
      SCOPED_TRACE(path);
      std::vector<Range> calls = watcher.calls(path);
      EXPECT_EQ(calls, chunks(0, calls.size() * kChunk));
      EXPECT_LE(calls.size() * kChunk, data_end_of(path));
    }
    const std::string& active = segments.back();
    std::vector<Range> want = chunks(0, data_end_of(active) / kChunk * kChunk);
    ASSERT_GE(want.size(), 2u);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (watcher.calls(active) != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(watcher.calls(active), want);
    if (GetParam()) {
      // Stored through the mapping: each chunk is released before it is
      // written back (no writable mapping left to clean), and only whole
      // chunks below what was written.
      EXPECT_EQ(watcher.unreleased_written_back(active), 0u);
      EXPECT_GE(watcher.released_pages(active) * 4096, want.size() * kChunk);
      EXPECT_LE(watcher.released_pages(active) * 4096, data_end_of(active));
      // Chunks from the third on are prefaulted as the writer enters the one
      // before each (whole chunks, in order, once; one the writer overtook
      // is skipped), up to the chunk after the writer's, which comes last.
      uint64_t end = std::min(data_end_of(active) / kChunk + 2, uint64_t{4}) * kChunk;
      auto reached_end = [&] {
        auto p = watcher.prefaults(active);
        return !p.empty() && p.back().first + p.back().second == end;
      };
      while (!reached_end() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_TRUE(reached_end());
      uint64_t next = 2 * kChunk;
      for (const Range& r : watcher.prefaults(active)) {
        EXPECT_EQ(r.first % kChunk, 0u);
        EXPECT_EQ(r.second, kChunk);
        EXPECT_GE(r.first, next);
        next = r.first + r.second;
      }
    } else {
      EXPECT_TRUE(watcher.prefaults(active).empty());
    }
  }
  auto store = test::open_ok(dir.path());
  ASSERT_NE(store, nullptr);
  auto events = store->read_stream("s", 0, SIZE_MAX);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) test::expect_event((*events)[i], all[i], "s", i, i);
}

// Synced appends leave nothing to write back.
TEST_P(StoreWriteBehindTest, SyncedAppendsAreNotWrittenBack) {
  test::TempDir dir;
  WriteBackWatcher watcher(engine::posix_file_system());
  Options o;
  o.durability = Durability::kSync;
  o.mapped_writes = GetParam();
  auto store = engine::open_store(watcher, dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  for (int i = 0; i < 40; ++i) {
    auto specs = sized_events(10, "sync" + std::to_string(i), 10000);
    ASSERT_TRUE((*store)->append("s", ExpectedVersion::any(), test::views(specs)).ok());
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().extension() == ".seg") {
      EXPECT_TRUE(watcher.calls(e.path().string()).empty());
    }
  }
}

// kBatch's fdatasyncs would clean prefaulted, still-mapped pages one TLB
// flush each: its groups are stored through the mapping, but nothing is
// prefaulted.
TEST(StoreWriteBehindMappedTest, BatchAppendsPrefaultNothing) {
  test::TempDir dir;
  WriteBackWatcher watcher(engine::posix_file_system());
  Options o = four_mib_segments(Durability::kBatch, /*mapped=*/true);
  auto store = engine::open_store(watcher, dir.path(), o);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto mapped_chunks = [&] {  // the most any segment had stored through the mapping and released
    uint64_t most = 0;
    for (const std::string& path : segment_files(dir.path())) most = std::max(most, watcher.released_pages(path));
    return most * 4096 / kChunk;
  };
  for (int i = 0; i % 20 != 0 || mapped_chunks() < 3; ++i) {
    ASSERT_LT(i, 20000) << "no segment was written through the mapping";
    auto specs = sized_events(10, "batch" + std::to_string(i), 2000);
    ASSERT_TRUE((*store)->append("s", ExpectedVersion::any(), test::views(specs)).ok());
  }
  for (const std::string& path : segment_files(dir.path())) EXPECT_TRUE(watcher.prefaults(path).empty()) << path;
}

INSTANTIATE_TEST_SUITE_P(WritePaths, StoreWriteBehindTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Mapped" : "WriteCalls"; });

}  // namespace
}  // namespace cairn
