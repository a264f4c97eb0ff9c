// Fail-stop under injected I/O errors: after a failed write or fdatasync the
// group fails, nothing more is acknowledged, the unsynced bytes are cut off,
// and a reopen holds exactly what was acknowledged.
#include "engine/fault_injection.h"
#include "engine/store_open.h"
#include "format/segment_header.h"
#include "test_util.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <thread>
#include <vector>

namespace cairn {
namespace {

using engine::FaultInjectingFileSystem;
using engine::FaultOp;
using test::EventSpec;
using test::TempDir;

// Over both write paths (the pwrite and io_uring write queues).
class FaultTest : public ::testing::TestWithParam<test::WritePath> {
 public:
  // Without background zero-filling, whose writes and syncs would take the
  // injected faults meant for the appends.
  Options options() const {
    Options o;
    GetParam().apply(o);
    o.prepare_segments = false;
    return o;
  }
  void SetUp() override {
    auto store = engine::open_store(faults_, dir_.path(), options());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(store).value();
    for (int i = 0; i < 3; ++i) {
      acked_.push_back(test::make_events(2, "ok" + std::to_string(i)));
      ASSERT_TRUE(store_->append("s", ExpectedVersion::any(), test::views(acked_.back())).ok());
    }
    remember_durable();
  }

  // The last segment's bytes while everything written to it is acknowledged.
  void remember_durable() { durable_ = last_segment_bytes(); }
  std::string last_segment_bytes() const {
    std::ifstream in(test::segment_files(dir_.path()).back(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The active segment's data end while it is the store's only segment.
  uint64_t data_end() const { return format::kSegmentHeaderSize + store_->stats().bytes_written; }

  Result<AppendResult> append(const std::vector<EventSpec>& events, ExpectedVersion expected = ExpectedVersion::any()) {
    return store_->append("s", expected, test::views(events));
  }

  // Reopens without faults and checks the store holds exactly acked_.
  void expect_reopens_with_exactly_the_acknowledged() {
    store_.reset();
    // Direct writes pad the last page with zeros: the cut goes back to the
    // data's end, which may be short of the file's end as remembered.
    std::string now = last_segment_bytes();
    if (!GetParam().direct_io) {
      EXPECT_EQ(now.size(), durable_.size()) << "the unsynced batch was not cut off";
    }
    ASSERT_LE(now.size(), durable_.size()) << "the unsynced batch was not cut off";
    EXPECT_EQ(now, durable_.substr(0, now.size())) << "the unsynced batch was not cut off";
    EXPECT_EQ(durable_.find_first_not_of('\0', now.size()), std::string::npos) << "acknowledged bytes were cut";
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store);
    auto events = store->read_stream("s", 0, SIZE_MAX);
    ASSERT_TRUE(events.ok());
    size_t k = 0;
    for (const auto& batch : acked_) {
      for (const auto& spec : batch) {
        ASSERT_LT(k, events->size());
        test::expect_event((*events)[k], spec, "s", k, k);
        ++k;
      }
    }
    EXPECT_EQ(events->size(), k);
    auto more = test::make_events(1);
    EXPECT_TRUE(store->append("s", ExpectedVersion::exactly(k - 1), test::views(more)).ok());
  }

  // Holds the writer thread inside the callback of a kNone append of
  // `events` to `stream` until release_ counts down (a write with no
  // fdatasync to wait for is completed by the writer thread itself, so the
  // callback runs there); returns once it is held.
  void hold_writer_thread(const std::string& stream, const std::vector<EventSpec>& events) {
    store_->append_async(
        stream, ExpectedVersion::any(), test::views(events),
        [this](Result<AppendResult> r) {
          EXPECT_TRUE(r.ok());
          held_.count_down();
          release_.wait();
        },
        Durability::kNone);
    held_.wait();
  }
  // A test that stopped early must not leave the writer thread held: the
  // store's close waits for it.
  void TearDown() override {
    if (!release_.try_wait()) release_.count_down();
  }

  TempDir dir_;
  FaultInjectingFileSystem faults_{engine::posix_file_system()};
  std::unique_ptr<Store> store_;
  std::vector<std::vector<EventSpec>> acked_;
  std::string durable_;
  std::latch held_{1};
  std::latch release_{1};
};

TEST_P(FaultTest, FailedFdatasyncFailsTheAppendAndStopsTheStore) {
  faults_.fail(FaultOp::kSync, 1, EIO);
  auto lost = append(test::make_events(2, "lost"));
  EXPECT_EQ(lost.status().code(), Code::kIOError);
  EXPECT_NE(lost.status().message().find("fdatasync"), std::string::npos) << lost.status().message();
  EXPECT_EQ(faults_.fired(), 1u);
  // Nothing more is acknowledged, though the next sync would succeed.
  auto after = append(test::make_events(1, "after"));
  EXPECT_EQ(after.status().code(), Code::kReadOnly);
  EXPECT_NE(after.status().message().find("I/O error"), std::string::npos);
  // Readers see only what was durable.
  EXPECT_EQ(store_->next_position(), 6u);
  EXPECT_EQ(store_->read_all(0, SIZE_MAX)->size(), 6u);
  EXPECT_EQ(store_->stream_version("s"), std::optional<uint64_t>(5));
  expect_reopens_with_exactly_the_acknowledged();
}

TEST_P(FaultTest, FailedWriteWithNoSpaceFailsTheAppendAndStopsTheStore) {
  faults_.fail(FaultOp::kWrite, 1, ENOSPC);
  auto lost = append(test::make_events(3, "lost"));
  EXPECT_EQ(lost.status().code(), Code::kIOError);
  EXPECT_NE(lost.status().message().find("No space left"), std::string::npos) << lost.status().message();
  EXPECT_EQ(append(test::make_events(1)).status().code(), Code::kReadOnly);
  expect_reopens_with_exactly_the_acknowledged();
}

TEST_P(FaultTest, DecisionsMadeAfterALostBatchFailToo) {
  // Hold the writer thread so that A and B queue up and are decided in one
  // group: B's conflict is with A, which will never exist.
  auto first = test::make_events(1, "first");
  hold_writer_thread("other", first);
  auto a = test::make_events(1, "a");
  auto b = test::make_events(1, "b");
  auto fa = store_->append_async("new", ExpectedVersion::no_stream(), test::views(a));
  auto fb = store_->append_async("new", ExpectedVersion::no_stream(), test::views(b));
  faults_.fail(FaultOp::kSync, 1, EIO);
  release_.count_down();
  auto ra = fa.get();
  auto rb = fb.get();
  EXPECT_EQ(ra.status().code(), Code::kIOError);
  // Not WrongExpectedVersion(actual 0): version 0 of "new" was never written.
  EXPECT_EQ(rb.status().code(), Code::kIOError) << rb.status().to_string();
  EXPECT_EQ(store_->stream_version("new"), std::nullopt);
  acked_.clear();  // "other" was acknowledged too: check the whole log by hand
  store_.reset();
  auto store = test::open_ok(dir_.path());
  EXPECT_EQ(store->next_position(), 7u);
  EXPECT_EQ(store->stream_version("new"), std::nullopt);
  EXPECT_EQ((*store->read_all(6, 1))[0].data, first[0].data);
}

// Synchronous appenders that queue while the writer thread is busy are
// committed together by it, on its own thread when nothing else is queued
// (Writer::only_sync_appends). A failed fdatasync of that group fails every
// append in it and stops the store; none is acknowledged, and the reopened
// store holds exactly what was acknowledged before.
TEST_P(FaultTest, ConcurrentSyncAppendsInAFailedGroupAllFail) {
  auto held = test::make_events(1, "held");
  hold_writer_thread("held", held);
  remember_durable();  // "held" is acknowledged: its bytes stay
  faults_.fail(FaultOp::kSync, 1, EIO);
  constexpr int kAppenders = 3;
  std::vector<Result<AppendResult>> results(kAppenders, Status::closed("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kAppenders; ++t) {
    threads.emplace_back([&, t] {
      auto e = test::make_events(1, "sync" + std::to_string(t));
      results[t] = store_->append("p" + std::to_string(t), ExpectedVersion::no_stream(), test::views(e),
                                  Durability::kSync);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // usually all queued by now
  release_.count_down();
  for (auto& th : threads) th.join();
  int io_errors = 0;
  for (const auto& r : results) {
    ASSERT_FALSE(r.ok()) << "an append of the failed group was acknowledged";
    // Queued together: kIOError each. Decided after the failure: kReadOnly.
    EXPECT_TRUE(r.status().code() == Code::kIOError || r.status().code() == Code::kReadOnly) << r.status().to_string();
    io_errors += r.status().code() == Code::kIOError;
  }
  EXPECT_GE(io_errors, 1);
  EXPECT_EQ(faults_.fired(), 1u);
  for (int t = 0; t < kAppenders; ++t) EXPECT_EQ(store_->stream_version("p" + std::to_string(t)), std::nullopt);
  EXPECT_EQ(store_->append("s", ExpectedVersion::any(), test::views(test::make_events(1))).status().code(),
            Code::kReadOnly);
  expect_reopens_with_exactly_the_acknowledged();
}

TEST_P(FaultTest, RollThatCannotSyncTheFooterStopsTheStoreAndLosesNothing) {
  store_.reset();
  Options options = this->options();
  options.segment_bytes = 64 << 10;
  auto store = engine::open_store(faults_, dir_.path(), options);
  ASSERT_TRUE(store.ok());
  store_ = std::move(store).value();
  // Three 20 KB events fit after the small batches; the fourth rolls.
  for (int i = 0; i < 3; ++i) {
    acked_.push_back(test::make_events(1, "big" + std::to_string(i)));
    acked_.back()[0].data = std::string(20000, static_cast<char>('a' + i));
    ASSERT_TRUE(append(acked_.back()).ok());
  }
  remember_durable();
  size_t segments = test::segment_files(dir_.path()).size();
  faults_.fail(FaultOp::kSync, 1, EIO);  // the footer's fdatasync
  auto rolling = test::make_events(1, "rolling");
  rolling[0].data = std::string(20000, 'r');
  auto r = append(rolling);
  EXPECT_EQ(r.status().code(), Code::kIOError);
  EXPECT_EQ(faults_.fired(), 1u);
  EXPECT_EQ(test::segment_files(dir_.path()).size(), segments);  // no new segment
  expect_reopens_with_exactly_the_acknowledged();  // the unsynced footer was cut too
}

// A footer vouches for every batch before it (recovery takes damage before
// a footer for corruption, not a torn tail), so a roll syncs the batches
// not yet synced before it writes the footer. (Found by power_loss_test:
// kNone batches lost to a power loss while their footer survived.)
TEST_P(FaultTest, RollSyncsUnsyncedBatchesBeforeWritingTheFooter) {
  store_.reset();
  Options options = this->options();
  options.segment_bytes = 64 << 10;
  options.durability = Durability::kNone;
  auto store = engine::open_store(faults_, dir_.path(), options);
  ASSERT_TRUE(store.ok());
  store_ = std::move(store).value();
  for (int i = 0; i < 3; ++i) {
    acked_.push_back(test::make_events(1, "none" + std::to_string(i)));
    acked_.back()[0].data = std::string(20000, static_cast<char>('a' + i));
    ASSERT_TRUE(append(acked_.back()).ok());
  }
  remember_durable();
  uint64_t writes = faults_.count(FaultOp::kWrite);
  faults_.fail(FaultOp::kSync, 1, EIO);  // the roll's first fdatasync
  auto rolling = test::make_events(1, "rolling");
  rolling[0].data = std::string(20000, 'r');
  EXPECT_EQ(append(rolling).status().code(), Code::kIOError);
  EXPECT_EQ(faults_.fired(), 1u);
  EXPECT_EQ(faults_.count(FaultOp::kWrite), writes) << "the footer was written before the batches were synced";
  expect_reopens_with_exactly_the_acknowledged();
}

// A write that fails after part of its bytes reached the file (a short
// write whose retry failed, or one torn at a 512-byte sector boundary):
// the store stops, and the partial batch is cut off. Synchronous appends
// write on the caller's thread (File::write_at), asynchronous ones through
// the write queue.
void expect_partial_write_stops_the_store(FaultTest& t, engine::WriteFault how, bool async) {
  // A direct write starts at the page holding the data's end and keeps whole pages.
  bool direct = t.GetParam().direct_io;
  uint64_t end = t.data_end();
  uint64_t offset = direct ? end / 4096 * 4096 : end;
  uint64_t unit = direct ? 4096 : how == engine::WriteFault::kShort ? 1 : 512;
  uint64_t keep = direct ? 5000 : 1500;
  auto lost = test::make_events(1, "lost");
  lost[0].data = std::string(direct ? 9000 : 3000, 'L');
  uint64_t writes = t.faults_.count(FaultOp::kWrite);
  t.faults_.fail_write(1, EIO, how, keep);
  auto r = async ? t.store_->append_async("s", ExpectedVersion::any(), test::views(lost)).get() : t.append(lost);
  EXPECT_EQ(r.status().code(), Code::kIOError) << r.status().to_string();
  uint64_t kept = (offset + keep) / unit * unit - offset;
  EXPECT_GT(kept, 0u);
  EXPECT_NE(r.status().message().find("(" + std::to_string(kept) + " of "), std::string::npos)
      << r.status().message();
  EXPECT_EQ(t.faults_.count(FaultOp::kWrite), writes + 1);
  EXPECT_EQ(t.append(test::make_events(1)).status().code(), Code::kReadOnly);
  t.expect_reopens_with_exactly_the_acknowledged();
}

TEST_P(FaultTest, ShortBatchWriteStopsTheStoreAndIsCutOff) {
  expect_partial_write_stops_the_store(*this, engine::WriteFault::kShort, /*async=*/false);
}

TEST_P(FaultTest, TornBatchWriteStopsTheStoreAndIsCutOff) {
  expect_partial_write_stops_the_store(*this, engine::WriteFault::kTorn, /*async=*/true);
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultTest, test::write_paths(), test::write_path_name);

}  // namespace
}  // namespace cairn
