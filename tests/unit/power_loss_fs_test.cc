// PowerLossFileSystem (engine/power_loss.h): what a simulated power loss
// keeps of files and directory entries, the cut of the power, both write
// queues under it, and a failed fdatasync followed by a power loss in a store
// (nothing written since the last good sync was acknowledged, so nothing
// acknowledged is lost).
#include "engine/fault_injection.h"
#include "engine/power_loss.h"
#include "engine/store_open.h"
#include "test_util.h"

#include <cerrno>
#include <filesystem>

namespace cairn {
namespace {

using engine::FileSystem;
using engine::OpenMode;
using engine::PowerLossFileSystem;
using Loss = PowerLossFileSystem::Loss;
constexpr uint64_t kSector = PowerLossFileSystem::kSector;

class PowerLossFsTest : public ::testing::Test {
 protected:
  std::unique_ptr<engine::File> open(const std::string& name, OpenMode mode = OpenMode::kCreate) {
    auto file = power_.open(dir_.sub(name), mode);
    EXPECT_TRUE(file.ok()) << file.status().to_string();
    return file.ok() ? std::move(*file) : nullptr;
  }
  std::string bytes(const std::string& name) { return test::read_bytes(dir_.sub(name)); }
  bool exists(const std::string& name) { return std::filesystem::exists(dir_.sub(name)); }
  // A durable file `name` of `size` bytes of `c`, its entry durable too.
  void make_durable(const std::string& name, size_t size, char c) {
    auto f = open(name);
    ASSERT_TRUE(f->write_at(0, std::string(size, c)).ok());
    ASSERT_TRUE(f->sync().ok());
    ASSERT_TRUE(power_.sync_dir(dir_.path()).ok());
  }

  test::TempDir dir_;
  PowerLossFileSystem power_{engine::posix_file_system()};
};

TEST_F(PowerLossFsTest, RevertBringsBackTheSyncedBytesAndSize) {
  make_durable("f", 3000, 'a');
  auto f = open("f", OpenMode::kReadWrite);
  ASSERT_TRUE(f->write_at(100, std::string(1000, 'b')).ok());  // overwrite, unsynced
  ASSERT_TRUE(f->write_at(3000, std::string(5000, 'c')).ok());  // growth, unsynced
  f.reset();
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_EQ(bytes("f"), std::string(3000, 'a'));
}

TEST_F(PowerLossFsTest, SyncedWritesSurviveAndLaterOnesDoNot) {
  make_durable("f", 1000, 'a');
  auto f = open("f", OpenMode::kReadWrite);
  ASSERT_TRUE(f->write_at(0, std::string(2000, 'b')).ok());
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(f->write_at(500, std::string(100, 'c')).ok());
  ASSERT_TRUE(f->truncate(700).ok());
  f.reset();
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_EQ(bytes("f"), std::string(2000, 'b'));
}

// Torn and partial losses: every sector holds either its synced or its new
// bytes, never a mix inside a sector, and the file ends between its synced
// and its written size, on a sector boundary or at the written end.
TEST_F(PowerLossFsTest, SubsetAndPrefixLossesAreMadeOfWholeSectors) {
  const std::string synced(8 * kSector, 'o');
  std::string written = synced;
  for (size_t i = 0; i < written.size(); i += 3) written[i] = 'n';
  written += std::string(6 * kSector + 100, 'g');
  for (Loss loss : {Loss::kSubset, Loss::kPrefix}) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      SCOPED_TRACE("loss " + std::to_string(static_cast<int>(loss)) + " seed " + std::to_string(seed));
      make_durable("f", synced.size(), 'o');
      auto f = open("f", OpenMode::kReadWrite);
      ASSERT_TRUE(f->write_at(0, written).ok());
      f.reset();
      ASSERT_TRUE(power_.restore_after_power_loss(loss, seed).ok());
      std::string got = bytes("f");
      ASSERT_GE(got.size(), synced.size());
      ASSERT_LE(got.size(), written.size());
      EXPECT_TRUE(got.size() % kSector == 0 || got.size() == written.size()) << got.size();
      bool reverted_seen = false;
      for (size_t at = 0; at < got.size(); at += kSector) {
        std::string sector = got.substr(at, kSector);
        std::string fresh = written.substr(at, sector.size());
        std::string zeros(sector.size(), '\0');
        bool old = at < synced.size() && sector == synced.substr(at, sector.size());
        bool hole = at >= synced.size() && loss == Loss::kSubset && sector == zeros;
        EXPECT_TRUE(sector == fresh || old || hole) << "sector at " << at;
        if (loss == Loss::kPrefix && at < synced.size()) {
          EXPECT_FALSE(reverted_seen && sector == fresh) << "a new sector after a reverted one at " << at;
          reverted_seen = reverted_seen || old;
        }
      }
      std::filesystem::remove(dir_.sub("f"));
    }
  }
}

TEST_F(PowerLossFsTest, DirectoryChangesWithoutADirectorySyncAreUndone) {
  make_durable("kept", 10, 'k');
  make_durable("replaced", 20, 'r');
  make_durable("removed", 30, 'x');
  make_durable("moved", 40, 'm');
  {
    auto created = open("created");
    ASSERT_TRUE(created->write_at(0, "new file").ok());
    ASSERT_TRUE(created->sync().ok());  // its data, not its directory entry
    auto tmp = open("replacement");
    ASSERT_TRUE(tmp->write_at(0, "replacement").ok());
    ASSERT_TRUE(tmp->sync().ok());
  }
  ASSERT_TRUE(power_.rename(dir_.sub("replacement"), dir_.sub("replaced"), true).ok());
  ASSERT_TRUE(power_.remove(dir_.sub("removed")).ok());
  ASSERT_TRUE(power_.rename(dir_.sub("moved"), dir_.sub("elsewhere"), false).ok());
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_FALSE(exists("created"));
  EXPECT_FALSE(exists("replacement"));
  EXPECT_FALSE(exists("elsewhere"));
  EXPECT_EQ(bytes("kept"), std::string(10, 'k'));
  EXPECT_EQ(bytes("replaced"), std::string(20, 'r'));
  EXPECT_EQ(bytes("removed"), std::string(30, 'x'));
  EXPECT_EQ(bytes("moved"), std::string(40, 'm'));
}

TEST_F(PowerLossFsTest, ADirectorySyncMakesTheChangesStick) {
  make_durable("a", 5, 'a');
  {
    auto tmp = open("b.tmp");
    ASSERT_TRUE(tmp->write_at(0, "bbb").ok());
    ASSERT_TRUE(tmp->sync().ok());
  }
  ASSERT_TRUE(power_.rename(dir_.sub("b.tmp"), dir_.sub("b"), false).ok());
  ASSERT_TRUE(power_.remove(dir_.sub("a")).ok());
  ASSERT_TRUE(power_.sync_dir(dir_.path()).ok());
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_FALSE(exists("a"));
  EXPECT_FALSE(exists("b.tmp"));
  EXPECT_EQ(bytes("b"), "bbb");
}

TEST_F(PowerLossFsTest, EveryOperationFromTheCutOnFailsAndChangesNothing) {
  make_durable("f", 10, 'a');
  auto f = open("f", OpenMode::kReadWrite);
  power_.cut_power_after(2);
  ASSERT_TRUE(f->write_at(0, "b").ok());
  EXPECT_EQ(f->sync().code(), Code::kIOError);
  EXPECT_TRUE(power_.power_is_off());
  EXPECT_EQ(f->write_at(1, "c").code(), Code::kIOError);
  EXPECT_EQ(power_.open(dir_.sub("g"), OpenMode::kCreate).status().code(), Code::kIOError);
  EXPECT_EQ(power_.remove(dir_.sub("f")).code(), Code::kIOError);
  EXPECT_EQ(bytes("f"), "b" + std::string(9, 'a'));  // the write before the cut, unsynced
  f.reset();
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_EQ(bytes("f"), std::string(10, 'a'));
  EXPECT_FALSE(exists("g"));
  EXPECT_FALSE(power_.power_is_off()) << "the power is back";
}

class PowerLossQueueTest : public PowerLossFsTest, public ::testing::WithParamInterface<IoBackend> {};

// A submission's sync makes its write durable; one that completes after
// the cut fails, whatever the base queue did, and its write is lost.
TEST_P(PowerLossQueueTest, SyncedSubmissionsSurviveAndThoseCompletingAfterTheCutFail) {
  auto queue = power_.make_write_queue(GetParam(), 4, nullptr);
  ASSERT_TRUE(queue.ok()) << queue.status().to_string();
  auto f = open("f");
  std::string_view first = "durable ";
  ASSERT_TRUE((*queue)->submit(*f, 0, std::span<const std::string_view>(&first, 1), true).ok());
  ASSERT_TRUE((*queue)->wait_oldest().ok());
  ASSERT_TRUE(power_.sync_dir(dir_.path()).ok());
  std::string_view second = "lost";
  ASSERT_TRUE((*queue)->submit(*f, 8, std::span<const std::string_view>(&second, 1), true).ok());
  power_.cut_power_now();
  EXPECT_EQ((*queue)->wait_oldest().code(), Code::kIOError);
  queue->reset();
  f.reset();
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  EXPECT_EQ(bytes("f"), "durable ");
}

// fsyncgate, then a power loss: after a failed fdatasync the store
// acknowledges nothing more, and the power loss takes nothing acknowledged.
// The failed appends may survive (a later flight's fdatasync, already in
// flight, may have made them durable before the store could cut them off),
// but only whole, in order, after the acknowledged ones.
TEST_P(PowerLossQueueTest, FailedFdatasyncThenPowerLossLosesNothingAcknowledged) {
  engine::FaultInjectingFileSystem faults(power_);
  faults.only_files_ending_with(".seg");
  Options o;
  o.io_backend = GetParam();
  o.prepare_segments = false;
  std::vector<test::EventSpec> acked;
  std::vector<std::vector<test::EventSpec>> batches;
  {
    auto store = engine::open_store(faults, dir_.path(), o);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    for (int i = 0; i < 3; ++i) {
      auto e = test::make_events(2, "acked" + std::to_string(i));
      ASSERT_TRUE((*store)->append("s", ExpectedVersion::any(), test::views(e)).ok());
      acked.insert(acked.end(), e.begin(), e.end());
    }
    faults.fail(engine::FaultOp::kSync, 1, EIO);
    std::vector<std::future<Result<AppendResult>>> later;
    for (int i = 0; i < 20; ++i) batches.push_back(test::make_events(1, "later" + std::to_string(i)));
    for (const auto& b : batches) later.push_back((*store)->append_async("s", ExpectedVersion::any(), test::views(b)));
    for (auto& r : later) {
      Result<AppendResult> got = r.get();
      EXPECT_FALSE(got.ok()) << "acknowledged after a failed fdatasync";
    }
    power_.cut_power_now();
  }
  ASSERT_TRUE(power_.restore_after_power_loss(Loss::kRevert, 1).ok());
  auto store = test::open_ok(dir_.path());
  ASSERT_TRUE(store);
  auto events = store->read_all(0, SIZE_MAX);
  ASSERT_TRUE(events.ok());
  ASSERT_GE(events->size(), acked.size());
  ASSERT_LE(events->size(), acked.size() + batches.size());
  for (size_t i = 0; i < acked.size(); ++i) test::expect_event((*events)[i], acked[i], "s", i, i);
  for (size_t i = acked.size(); i < events->size(); ++i) {
    test::expect_event((*events)[i], batches[i - acked.size()][0], "s", i, i);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, PowerLossQueueTest, test::io_backends(), test::backend_name);

}  // namespace
}  // namespace cairn
