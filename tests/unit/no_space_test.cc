// Out of space (ENOSPC) through the I/O seam, over both write paths: an
// append that needs space the disk does not have fails with kIOError naming
// the errno, before anything is decided; the store stays consistent and
// takes appends again once there is space. (A failed write of a decided
// batch, or a failed fdatasync, still stops the store: fault_test.)
// tmpfs_no_space_test runs the same story on a real, full file system.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "format/index_file.h"
#include "format/segment_header.h"
#include "test_util.h"

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

namespace cairn {
namespace {

using engine::FaultInjectingFileSystem;
using engine::FaultOp;
using engine::WriteFault;
using test::EventSpec;
using test::TempDir;

class NoSpaceTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void open(const Options& o) {
    auto store = engine::open_store(faults_, dir_.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(store).value();
  }
  Options options() const {
    Options o;
    o.io_backend = GetParam();
    return o;
  }
  // An append of one event of `bytes` bytes; remembered when acknowledged.
  Result<AppendResult> append(size_t bytes, const std::string& tag) {
    auto events = test::make_events(1, tag);
    events[0].data = std::string(bytes, tag.empty() ? 'x' : tag[0]) + tag;
    auto r = store_->append("s", ExpectedVersion::any(), test::views(events));
    if (r.ok()) acked_.push_back(events[0]);
    return r;
  }
  static void expect_no_space(const Result<AppendResult>& r) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kIOError) << r.status().to_string();
    EXPECT_NE(r.status().message().find("No space left"), std::string::npos) << r.status().message();
  }
  // Every acknowledged event, in order, byte for byte: in this store and
  // after a reopen without faults.
  void expect_holds_exactly_the_acknowledged() {
    auto check = [&](const Store& store) {
      auto events = store.read_all(0, SIZE_MAX);
      ASSERT_TRUE(events.ok());
      ASSERT_EQ(events->size(), acked_.size());
      for (size_t i = 0; i < acked_.size(); ++i) test::expect_event((*events)[i], acked_[i], "s", i, i);
    };
    check(*store_);
    store_.reset();
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store);
    check(*store);
  }

  TempDir dir_;
  FaultInjectingFileSystem faults_{engine::posix_file_system()};
  std::unique_ptr<Store> store_;
  std::vector<EventSpec> acked_;
};

// The zeros ahead of the writer could not be written (the disk is full), so
// the writer reserves space itself before admitting each batch past them:
// when that fails, only that append fails, whatever part of the zeros
// reached the file.
TEST_P(NoSpaceTest, AppendThatCannotReserveSpaceFailsAloneAndLaterAppendsSucceed) {
  Options o = options();
  o.segment_bytes = 4 << 20;
  faults_.only_files_ending_with(".seg");  // not the prepared next-N.seg.tmp
  faults_.fail(FaultOp::kWrite, 1, ENOSPC);  // the zeroer's first chunk: it gives up
  open(o);
  // The zeroer starts with the writer, at the first append: one refused by
  // its expected-version check starts it and writes nothing.
  auto start = test::make_events(1, "start");
  auto refused = store_->append("s", ExpectedVersion::exactly(5), test::views(start));
  ASSERT_EQ(refused.status().code(), Code::kWrongExpectedVersion) << refused.status().to_string();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (faults_.fired() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(faults_.fired(), 1u) << "the zeroer never wrote";
  const std::string segment = test::segment_files(dir_.path()).at(0);
  ASSERT_EQ(std::filesystem::file_size(segment), format::kSegmentHeaderSize);

  faults_.fail(FaultOp::kWrite, 1, ENOSPC);  // the reservation before the first batch
  expect_no_space(append(200'000, "a"));
  EXPECT_EQ(store_->next_position(), 0u);
  ASSERT_TRUE(append(200'000, "b").ok()) << "space is back";

  // Fail two reservations (the zeroer gave up: each batch past the file's
  // end reserves its own space): one short, one torn.
  const WriteFault faults[] = {WriteFault::kShort, WriteFault::kTorn};
  size_t injected = 0;
  uint64_t data_end = format::kSegmentHeaderSize + store_->stats().bytes_written;
  for (int i = 0; i < 12; ++i) {
    bool reserves = std::filesystem::file_size(segment) - data_end < 200'000;
    if (reserves && injected < 2) {
      uint64_t writes = faults_.count(FaultOp::kWrite);
      faults_.fail_write(1, ENOSPC, faults[injected++], 70'000);
      expect_no_space(append(200'000, "n"));
      EXPECT_EQ(faults_.count(FaultOp::kWrite), writes + 1) << "more than the reservation was written";
    }
    auto r = append(200'000, std::string(1, static_cast<char>('c' + i)));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    data_end = format::kSegmentHeaderSize + store_->stats().bytes_written;
  }
  EXPECT_EQ(injected, 2u);
  EXPECT_EQ(faults_.fired(), 4u);
  expect_holds_exactly_the_acknowledged();
}

// A roll whose next segment cannot be created (its header cannot be
// written) fails the append that needed it; the sealed segment stays sealed,
// and the next append tries again.
TEST_P(NoSpaceTest, RollWithoutSpaceForTheNextSegmentFailsOnlyUntilThereIsSpace) {
  Options o = options();
  o.segment_bytes = 64 << 10;
  o.prepare_segments = false;  // the roll creates the segment itself, no background writes
  // Only the new segment's header, written to <name>.seg.tmp (not the index
  // files the indexer writes after the seal, nor the footer).
  faults_.only_files_ending_with(".seg.tmp");
  open(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append(20'000, "fits" + std::to_string(i)).ok());
  faults_.fail(FaultOp::kWrite, 1, ENOSPC);
  expect_no_space(append(20'000, "rolling"));
  EXPECT_EQ(test::segment_files(dir_.path()).size(), 1u);
  faults_.fail(FaultOp::kWrite, 1, ENOSPC);
  expect_no_space(append(100, "still-full"));
  EXPECT_EQ(faults_.fired(), 2u);
  EXPECT_EQ(store_->read_all(0, SIZE_MAX)->size(), 3u);
  auto r = append(20'000, "space-back");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->first_position, 3u);
  EXPECT_EQ(test::segment_files(dir_.path()).size(), 2u);
  ASSERT_TRUE(append(100, "after").ok());
  expect_holds_exactly_the_acknowledged();
}

// Closed while waiting for space for its next segment: the reopen finds the
// last segment sealed, makes the next one, and goes on.
TEST_P(NoSpaceTest, StoreClosedWithItsNextSegmentMissingReopens) {
  Options o = options();
  o.segment_bytes = 64 << 10;
  o.prepare_segments = false;
  faults_.only_files_ending_with(".seg.tmp");  // the next segment's header
  open(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append(20'000, "fits" + std::to_string(i)).ok());
  faults_.fail(FaultOp::kWrite, 1, ENOSPC);
  expect_no_space(append(20'000, "rolling"));
  ASSERT_TRUE(store_->close().ok());
  store_.reset();
  // The close left the index the indexer wrote at the seal: a sealed one,
  // not a partial index of the segment as if it were still active.
  std::string idx_path = dir_.path() + "/00000001.idx";
  std::string idx_bytes = test::read_bytes(idx_path);
  format::IndexFile idx_file;
  auto idx_header = format::decode_segment_index_header(idx_bytes, idx_path, idx_file);
  ASSERT_TRUE(idx_header.ok()) << idx_header.status().to_string();
  EXPECT_TRUE(idx_header->sealed());
  open(o);
  ASSERT_TRUE(append(20'000, "reopened").ok());
  EXPECT_EQ(test::segment_files(dir_.path()).size(), 2u);
  expect_holds_exactly_the_acknowledged();
}

INSTANTIATE_TEST_SUITE_P(Backends, NoSpaceTest, test::io_backends(), test::backend_name);

}  // namespace
}  // namespace cairn
