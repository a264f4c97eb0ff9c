// Out of space on a real file system: a store on a small tmpfs mounted for
// the test is filled until appends fail, then space is freed and appends
// succeed again; every acknowledged event is there, byte for byte, before
// and after a reopen. Mounting needs root (CAP_SYS_ADMIN): where the mount
// is refused the test says so and is skipped (no_space_test, always run,
// covers the same semantics through the I/O seam).
#include "test_util.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cairn {
namespace {

using test::EventSpec;

constexpr uint64_t kMountBytes = 6 << 20;
constexpr uint64_t kFillerBytes = 2 << 20;

class TmpfsNoSpaceTest : public ::testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    mount_ = dir_.sub("mnt");
    std::filesystem::create_directories(mount_);
    std::string data = "size=" + std::to_string(kMountBytes);
    if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, data.c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a " << (kMountBytes >> 20) << " MiB tmpfs at " << mount_ << ": "
                   << std::strerror(errno) << " (needs root with CAP_SYS_ADMIN); the out-of-space "
                   << "semantics are tested through the I/O seam by no_space_test";
    }
    mounted_ = true;
    std::ofstream filler(mount_ + "/filler", std::ios::binary);
    filler << std::string(kFillerBytes, 'f');
    ASSERT_TRUE(filler.good());
  }
  void TearDown() override {
    store_.reset();
    if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
  }

  Result<AppendResult> append(const std::string& tag) {
    auto events = test::make_events(1, tag);
    events[0].data = std::string(8000, tag[0]) + tag;
    auto r = store_->append("s", ExpectedVersion::any(), test::views(events));
    if (r.ok()) acked_.push_back(events[0]);
    return r;
  }
  void expect_holds_exactly_the_acknowledged(const Store& store) {
    auto events = store.read_all(0, SIZE_MAX);
    ASSERT_TRUE(events.ok()) << events.status().to_string();
    ASSERT_EQ(events->size(), acked_.size());
    for (size_t i = 0; i < acked_.size(); ++i) test::expect_event((*events)[i], acked_[i], "s", i, i);
  }

  test::TempDir dir_;
  std::string mount_;
  bool mounted_ = false;
  std::unique_ptr<Store> store_;
  std::vector<EventSpec> acked_;
};

TEST_P(TmpfsNoSpaceTest, AppendsFailWhileTheDiskIsFullAndSucceedOnceSpaceIsFreed) {
  Options o;
  o.io_backend = GetParam();
  o.segment_bytes = 1 << 20;
  o.info_log = [](std::string_view) {};  // the zeroer, preparer and indexer report the full disk
  std::string dir = mount_ + "/store";
  store_ = test::open_ok(dir, o);
  ASSERT_TRUE(store_);
  Status failed;
  for (int i = 0; i < 2000 && failed.ok(); ++i) failed = append("a" + std::to_string(i)).status();
  ASSERT_FALSE(failed.ok()) << "a " << (kMountBytes >> 20) << " MiB tmpfs never filled up";
  EXPECT_EQ(failed.code(), Code::kIOError) << failed.to_string();
  EXPECT_NE(failed.message().find("No space left"), std::string::npos) << failed.message();
  ASSERT_GT(acked_.size(), 10u);
  // While the disk stays (nearly) full, appends fail with that clear error or
  // succeed (a failed attempt may have freed what it had taken), but the
  // store never stops for good.
  for (int i = 0; i < 20; ++i) {
    Status s = append("full" + std::to_string(i)).status();
    EXPECT_TRUE(s.ok() || s.code() == Code::kIOError) << s.to_string();
  }
  expect_holds_exactly_the_acknowledged(*store_);

  std::filesystem::remove(mount_ + "/filler");
  for (int i = 0; i < 100; ++i) {
    auto r = append("b" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << "after space was freed, append " << i << ": " << r.status().to_string();
  }
  expect_holds_exactly_the_acknowledged(*store_);
  ASSERT_TRUE(store_->close().ok());
  store_.reset();
  store_ = test::open_ok(dir, o);
  ASSERT_TRUE(store_);
  expect_holds_exactly_the_acknowledged(*store_);
}

INSTANTIATE_TEST_SUITE_P(Backends, TmpfsNoSpaceTest, test::io_backends(), test::backend_name);

}  // namespace
}  // namespace cairn
