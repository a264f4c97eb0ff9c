// Options::direct_io on a file system that refuses O_DIRECT (ramfs, mounted
// for the test): open fails with kNotSupported naming O_DIRECT and the file,
// and the store opens and holds its events without direct_io. Mounting needs
// root (CAP_SYS_ADMIN): where the mount is refused the test says so and is
// skipped (as tmpfs_no_space_test is).
#include "test_util.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cairn {
namespace {

TEST(DirectIoUnsupportedTest, OpenFailsWithNotSupportedAndTheStoreStaysUsable) {
  test::TempDir dir;
  std::string mount = dir.sub("ramfs");
  std::filesystem::create_directories(mount);
  if (::mount("ramfs", mount.c_str(), "ramfs", 0, nullptr) != 0) {
    GTEST_SKIP() << "cannot mount a ramfs at " << mount << ": " << std::strerror(errno)
                 << " (needs root with CAP_SYS_ADMIN)";
  }
  std::string store_dir = mount + "/store";
  auto events = test::make_events(3, "kept");
  {
    auto store = test::open_ok(store_dir);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->append("s", ExpectedVersion::no_stream(), test::views(events)).ok());
  }
  Options direct;
  direct.direct_io = true;
  auto refused = Store::open(store_dir, direct);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kNotSupported) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("O_DIRECT"), std::string::npos) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find(".seg"), std::string::npos) << refused.status().to_string();
  {
    auto store = test::open_ok(store_dir);
    ASSERT_TRUE(store);
    auto read = store->read_stream("s", 0, SIZE_MAX);
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    ASSERT_EQ(read->size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) test::expect_event((*read)[i], events[i], "s", i, i);
  }
  ::umount2(mount.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace cairn
