// The clean-close record (FORMAT.md §13, engine/clean_close.h): a clean
// close writes CLEAN, the next open trusts it and skips reading the zeros
// after the log, the first append after an open removes it durably before it
// writes (overwrites it with zeros and syncs that), and a CLEAN that is
// damaged, truncated, stale or another store's is ignored (the open checks
// the tail as after a crash), never fatal.
#include "engine/power_loss.h"
#include "engine/store_open.h"
#include "format/clean_record.h"
#include "test_util.h"

#include <filesystem>
#include <string>
#include <vector>

namespace cairn {
namespace {

using engine::PowerLossFileSystem;
using Loss = PowerLossFileSystem::Loss;

class CleanCloseTest : public ::testing::Test {
 protected:
  Options options() {
    Options o;
    o.segment_bytes = 1 << 20;
    o.info_log = [this](std::string_view m) { notes_.emplace_back(m); };
    return o;
  }
  std::string clean_path() const { return dir_.sub("CLEAN"); }
  bool has_clean() const { return std::filesystem::exists(clean_path()); }
  // CLEAN holds a record (not the zeros of an invalidated one).
  bool valid_clean() const { return format::decode_clean_record(test::read_bytes(clean_path()), "CLEAN").ok(); }
  bool invalidated_clean() const { return format::is_invalidated_clean_record(test::read_bytes(clean_path())); }
  // Appends `n` batches of 2 events to `stream` with kSync; keeps what it wrote.
  void append(Store& store, int n, const std::string& stream = "s") {
    for (int i = 0; i < n; ++i) {
      auto e = test::make_events(2, stream + std::to_string(written_.size()));
      auto r = store.append(stream, ExpectedVersion::any(), test::views(e));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      written_.insert(written_.end(), e.begin(), e.end());
    }
  }
  // Every event written so far is in the store, in order.
  void expect_all(Store& store, const std::string& stream = "s") {
    auto events = store.read_all(0, SIZE_MAX);
    ASSERT_TRUE(events.ok()) << events.status().to_string();
    ASSERT_EQ(events->size(), written_.size());
    for (size_t i = 0; i < written_.size(); ++i) test::expect_event((*events)[i], written_[i], stream, i, i);
  }
  // A store with a few events, closed cleanly.
  void make_clean_store() {
    auto store = test::open_ok(dir_.path(), options());
    ASSERT_TRUE(store);
    append(*store, 5);
    ASSERT_TRUE(store->close().ok());
    ASSERT_TRUE(valid_clean());
  }
  bool noted(std::string_view what) const {
    for (const std::string& n : notes_)
      if (n.find(what) != std::string::npos) return true;
    return false;
  }

  test::TempDir dir_;
  std::vector<test::EventSpec> written_;
  std::vector<std::string> notes_;
};

TEST_F(CleanCloseTest, CleanCloseWritesTheRecordAndTheNextOpenSkipsTheTailCheck) {
  make_clean_store();
  auto record = format::decode_clean_record(test::read_bytes(clean_path()), "CLEAN");
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->segment_sequence, 1u);
  EXPECT_EQ(record->next_position, written_.size());
  EXPECT_GT(record->data_end, 64u);
  EXPECT_LT(record->data_end, std::filesystem::file_size(test::segment_files(dir_.path()).back()))
      << "zeros follow the data";
  auto store = test::open_ok(dir_.path(), options());
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->stats().open_tail_check_skipped);
  EXPECT_EQ(store->stats().open_scanned_batches, 0u);
  expect_all(*store);
  EXPECT_TRUE(valid_clean()) << "an open changes nothing before the first append";
  EXPECT_TRUE(notes_.empty()) << notes_.front();
}

TEST_F(CleanCloseTest, AStoreWithoutTheRecordChecksTheTail) {
  make_clean_store();
  std::filesystem::remove(clean_path());
  auto store = test::open_ok(dir_.path(), options());
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->stats().open_tail_check_skipped);
  expect_all(*store);
}

TEST_F(CleanCloseTest, TheFirstAppendRemovesTheRecordAndTheCloseWritesANewOne) {
  make_clean_store();
  {
    auto store = test::open_ok(dir_.path(), options());
    ASSERT_TRUE(store);
    append(*store, 1);
    EXPECT_TRUE(invalidated_clean()) << "zeros once an append after the open was acknowledged";
    append(*store, 3);
    ASSERT_TRUE(store->close().ok());
  }
  auto record = format::decode_clean_record(test::read_bytes(clean_path()), "CLEAN");
  ASSERT_TRUE(record.ok()) << record.status().to_string();
  EXPECT_EQ(record->next_position, written_.size());
  auto store = test::open_ok(dir_.path(), options());
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->stats().open_tail_check_skipped);
  expect_all(*store);
}

TEST_F(CleanCloseTest, ACloseWithNothingAppendedKeepsTheRecord) {
  make_clean_store();
  std::string before = test::read_bytes(clean_path());
  auto written_at = std::filesystem::last_write_time(clean_path());
  for (int i = 0; i < 3; ++i) {
    auto store = test::open_ok(dir_.path(), options());
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->stats().open_tail_check_skipped);
    ASSERT_TRUE(store->close().ok());
  }
  EXPECT_EQ(test::read_bytes(clean_path()), before);
  EXPECT_EQ(std::filesystem::last_write_time(clean_path()), written_at) << "not rewritten";
}

TEST_F(CleanCloseTest, AReadOnlyOpenUsesTheRecordAndLeavesIt) {
  make_clean_store();
  std::string before = test::read_bytes(clean_path());
  auto written_at = std::filesystem::last_write_time(clean_path());
  Options o = options();
  o.read_only = true;
  {
    auto store = test::open_ok(dir_.path(), o);
    ASSERT_TRUE(store);
    EXPECT_TRUE(store->stats().open_tail_check_skipped);
    expect_all(*store);
    EXPECT_FALSE(store->append("s", ExpectedVersion::any(), test::views(test::make_events(1))).ok());
    ASSERT_TRUE(store->close().ok());
  }
  EXPECT_EQ(test::read_bytes(clean_path()), before);
  EXPECT_EQ(std::filesystem::last_write_time(clean_path()), written_at);
}

// Each unusable record: the open succeeds, checks the tail, says why once.
TEST_F(CleanCloseTest, ADamagedTruncatedOrForeignRecordIsIgnored) {
  make_clean_store();
  const std::string good = test::read_bytes(clean_path());
  format::CleanRecord foreign = *format::decode_clean_record(good, "CLEAN");
  foreign.store_id[0] ^= 1;
  std::string flipped = good;
  flipped[40] ^= 1;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"damaged", flipped},
      {"truncated", good.substr(0, 40)},
      {"empty", ""},
      {"another store's", format::encode_clean_record(foreign)},
  };
  for (const auto& [what, bytes] : cases) {
    SCOPED_TRACE(what);
    notes_.clear();
    test::write_bytes(clean_path(), bytes);
    auto store = test::open_ok(dir_.path(), options());
    ASSERT_TRUE(store);
    EXPECT_FALSE(store->stats().open_tail_check_skipped);
    EXPECT_TRUE(noted("clean-close record not used")) << what;
    expect_all(*store);
    ASSERT_TRUE(store->close().ok());
    // The close replaced it with a good one.
    EXPECT_EQ(test::read_bytes(clean_path()), good);
  }
}

// A record that does not describe the log (another end, another segment) is
// not trusted: the tail is checked, so zeros followed by data still stop the
// open as corruption instead of being cut off.
TEST_F(CleanCloseTest, AStaleRecordIsIgnored) {
  make_clean_store();
  const std::string good = test::read_bytes(clean_path());
  format::CleanRecord record = *format::decode_clean_record(good, "CLEAN");
  std::vector<format::CleanRecord> stale(3, record);
  stale[0].data_end += 8;
  stale[1].next_position -= 1;
  stale[2].segment_sequence += 1;
  for (const format::CleanRecord& r : stale) {
    notes_.clear();
    test::write_bytes(clean_path(), format::encode_clean_record(r));
    auto store = test::open_ok(dir_.path(), options());
    ASSERT_TRUE(store);
    EXPECT_FALSE(store->stats().open_tail_check_skipped);
    EXPECT_TRUE(noted("clean-close record not used")) << r.segment_sequence << " " << r.data_end;
    expect_all(*store);
  }
}

// The danger a clean record must never cause: the first append after an open
// is written at the record's data_end; if its bytes were then lost (zeroed)
// while a later acknowledged append survived, a trusted stale record would
// make the open stop at the zeros and cut the later append. The record is
// gone by then, so the open checks the tail and finds the damage.
TEST_F(CleanCloseTest, ZerosAtTheOldEndFollowedByAcknowledgedDataAreCorruptionNotACut) {
  make_clean_store();
  uint64_t old_end = format::decode_clean_record(test::read_bytes(clean_path()), "CLEAN")->data_end;
  {
    PowerLossFileSystem power(engine::posix_file_system());
    auto store = engine::open_store(power, dir_.path(), options());
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    append(**store, 3);
    power.cut_power_now();  // no clean close: the store stops as after a crash
    store->reset();
    ASSERT_TRUE(power.restore_after_power_loss(Loss::kRevert, 1).ok());
  }
  EXPECT_TRUE(invalidated_clean());
  std::string segment = test::segment_files(dir_.path()).back();
  std::string bytes = test::read_bytes(segment);
  for (uint64_t i = old_end; i < old_end + 16; ++i) bytes[i] = '\0';  // the first new frame's header
  test::write_bytes(segment, bytes);
  auto reopened = Store::open(dir_.path(), options());
  ASSERT_FALSE(reopened.ok()) << "opened, cutting acknowledged appends";
  EXPECT_EQ(reopened.status().code(), Code::kCorruption) << reopened.status().to_string();
}

// Power cut at every operation from the first append after a clean open on:
// whatever survives holds every acknowledged append, and a CLEAN that
// survives never hides one (it is removed before anything is written).
TEST_F(CleanCloseTest, PowerLossAfterTheOpenLosesNothingAcknowledged) {
  for (uint64_t cut = 1; cut <= 12; ++cut) {
    for (Loss loss : {Loss::kRevert, Loss::kSubset, Loss::kPrefix}) {
      SCOPED_TRACE("cut " + std::to_string(cut) + " loss " + std::to_string(static_cast<int>(loss)));
      test::TempDir dir;
      std::vector<test::EventSpec> acked;
      {
        auto store = test::open_ok(dir.path(), options());
        ASSERT_TRUE(store);
        auto e = test::make_events(4, "before");
        ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(e)).ok());
        acked = e;
        ASSERT_TRUE(store->close().ok());
      }
      const size_t before_open = acked.size();
      PowerLossFileSystem power(engine::posix_file_system());
      {
        auto store = engine::open_store(power, dir.path(), options());
        ASSERT_TRUE(store.ok()) << store.status().to_string();
        power.cut_power_after(cut);
        for (int i = 0; i < 6; ++i) {
          auto e = test::make_events(1, "after" + std::to_string(i));
          if (!(*store)->append("s", ExpectedVersion::any(), test::views(e)).ok()) break;
          acked.insert(acked.end(), e.begin(), e.end());
        }
        power.cut_power_now();
      }
      ASSERT_TRUE(power.restore_after_power_loss(loss, cut).ok());
      bool clean_survived = format::decode_clean_record(test::read_bytes(dir.sub("CLEAN")), "CLEAN").ok();
      if (acked.size() > before_open) {
        EXPECT_FALSE(clean_survived) << "a record outlived an acknowledged append";
      }
      auto store = test::open_ok(dir.path(), options());
      ASSERT_TRUE(store);
      auto events = store->read_all(0, SIZE_MAX);
      ASSERT_TRUE(events.ok()) << events.status().to_string();
      ASSERT_GE(events->size(), acked.size());
      for (size_t i = 0; i < acked.size(); ++i) test::expect_event((*events)[i], acked[i], "s", i, i);
      if (clean_survived) {
        EXPECT_TRUE(store->stats().open_tail_check_skipped);
      }
    }
  }
}

TEST_F(CleanCloseTest, AnInvalidatedRecordIsNoRecord) {
  make_clean_store();
  test::write_bytes(clean_path(), std::string(format::kCleanFileSize, '\0'));
  auto store = test::open_ok(dir_.path(), options());
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->stats().open_tail_check_skipped);
  EXPECT_TRUE(notes_.empty()) << notes_.front();
  expect_all(*store);
  append(*store, 1);
  ASSERT_TRUE(store->close().ok());
  EXPECT_TRUE(valid_clean());
}

TEST_F(CleanCloseTest, AFailedInvalidationRefusesAppendsAndKeepsReads) {
  make_clean_store();
  PowerLossFileSystem power(engine::posix_file_system());
  auto store = engine::open_store(power, dir_.path(), options());
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  power.cut_power_after(1);  // the overwrite
  auto first = (*store)->append("s", ExpectedVersion::any(), test::views(test::make_events(1)));
  EXPECT_EQ(first.status().code(), Code::kIOError) << first.status().to_string();
  auto second = (*store)->append("s", ExpectedVersion::any(), test::views(test::make_events(1)));
  EXPECT_EQ(second.status().code(), Code::kIOError) << second.status().to_string();
  expect_all(**store);
}

TEST_F(CleanCloseTest, AStoreCheckpointDoesNotCopyTheRecord) {
  make_clean_store();
  auto store = test::open_ok(dir_.path(), options());
  ASSERT_TRUE(store);
  test::TempDir target;
  std::string copy = target.sub("copy");
  auto taken = store->checkpoint(copy);
  ASSERT_TRUE(taken.ok()) << taken.status().to_string();
  EXPECT_FALSE(std::filesystem::exists(copy + "/CLEAN"));
  EXPECT_TRUE(has_clean());
}

}  // namespace
}  // namespace cairn
