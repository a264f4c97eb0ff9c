// engine/posix_io: the pwrite/fdatasync backend of the I/O seam.
#include "engine/io.h"

#include "engine/fault_injection.h"

#include "test_util.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace cairn::engine {
namespace {

TEST(PosixIoTest, WriteAtGathersPartsAndReadsBack) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  auto file = fs.open(dir.sub("f"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  std::vector<std::string_view> parts = {"abc", "", std::string_view("d\0e", 3)};
  ASSERT_TRUE((*file)->write_at(10, parts).ok());
  ASSERT_TRUE((*file)->write_back(0, 16).ok());  // writes back, changes nothing
  ASSERT_TRUE((*file)->sync().ok());
  EXPECT_EQ(*(*file)->size(), 16u);
  char buf[32] = {};
  auto n = (*file)->read_at(8, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 8u);
  EXPECT_EQ(std::string(buf, 8), std::string("\0\0abcd\0e", 8));
  auto mapped = (*file)->map(16);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::string((*mapped)->data() + 10, 6), std::string("abcd\0e", 6));
  ASSERT_TRUE((*file)->truncate(11).ok());
  EXPECT_EQ(*(*file)->size(), 11u);
}

TEST(PosixIoTest, ErrorsNameTheFile) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  auto missing = fs.open(dir.sub("missing"), OpenMode::kRead);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.sub("missing")), std::string::npos);
  EXPECT_EQ(fs.list(dir.sub("nodir")).status().code(), Code::kNotFound);
  auto file = fs.open(dir.sub("f"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  Status bad_range = (*file)->write_back(UINT64_MAX - 10, 5);  // a negative off_t: EINVAL
  EXPECT_EQ(bad_range.code(), Code::kIOError);
  EXPECT_NE(bad_range.message().find(dir.sub("f") + ": write back at offset"), std::string::npos)
      << bad_range.message();
}

// Stores into a writable mapping are the file's bytes (reads and read-only
// mappings see them); what cannot be mapped for writing says why.
TEST(PosixIoTest, WritableMappingStoresIntoTheFile) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  auto file = fs.open(dir.sub("f"), OpenMode::kCreate);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->write_at(0, std::string(8192, '\0')).ok());
  auto writable = (*file)->map_writable(8192);
  ASSERT_TRUE(writable.ok()) << writable.status().to_string();
  EXPECT_EQ((*writable)->size(), 8192u);
  const std::string bytes("map\0ped", 7);
  std::copy(bytes.begin(), bytes.end(), (*writable)->data() + 4094);  // across a page boundary
  ASSERT_TRUE((*file)->sync().ok());
  char buf[7] = {};
  ASSERT_EQ(*(*file)->read_at(4094, buf, sizeof buf), sizeof buf);
  EXPECT_EQ(std::string(buf, sizeof buf), bytes);
  auto mapped = (*file)->map(8192);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::string((*mapped)->data() + 4094, 7), bytes);
  (*mapped)->drop_pages(0, 8192);  // unmapped from this process, still the file's
  EXPECT_EQ(std::string((*mapped)->data() + 4094, 7), bytes) << "read again after drop_pages";
  (*mapped)->drop_pages(100, 10);  // no whole page inside: nothing
  EXPECT_EQ(std::string((*mapped)->data() + 4094, 7), bytes);
  EXPECT_EQ(*(*file)->size(), 8192u) << "stores do not grow the file";
  // Released pages keep their stored bytes (dirty in the page cache until written back).
  std::fill((*writable)->data(), (*writable)->data() + 4096, 'r');
  (*writable)->release(0, 4096);
  EXPECT_EQ(std::string((*mapped)->data(), 4), "rrrr");
  EXPECT_EQ(std::string((*writable)->data() + 4092, 4), "rrrr") << "read again through the released range";
  ASSERT_TRUE((*file)->write_back(0, 8192).ok());
  ASSERT_TRUE((*file)->sync().ok());
  EXPECT_EQ(test::read_bytes(dir.sub("f")).substr(0, 4101), std::string(4096, 'r') + std::string("p\0ped", 5));

  auto empty = (*file)->map_writable(0);
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);
  EXPECT_NE(empty.status().message().find(dir.sub("f")), std::string::npos) << empty.status().message();
  auto direct = fs.open(dir.sub("f"), OpenMode::kReadWriteDirect);
  ASSERT_TRUE(direct.ok()) << direct.status().to_string();
  auto refused = (*direct)->map_writable(8192);
  EXPECT_EQ(refused.status().code(), Code::kNotSupported);
  EXPECT_NE(refused.status().message().find(dir.sub("f")), std::string::npos) << refused.status().message();
}

// load_into_cache reads exactly the pages asked for into the page cache, in
// the posix file and in the default of the seam (through read_at), and
// names the file when it cannot.
TEST(PosixIoTest, LoadIntoCacheCachesThePagesAskedFor) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  FaultInjectingFileSystem wrapped(fs);  // keeps File::load_into_cache's default
  for (FileSystem* through : {&fs, static_cast<FileSystem*>(&wrapped)}) {
    SCOPED_TRACE(through == &fs ? "posix" : "default");
    const std::string path = dir.sub(through == &fs ? "posix" : "default");
    {
      auto direct = fs.open(path, OpenMode::kCreate);
      ASSERT_TRUE(direct.ok());
      direct = fs.open(path, OpenMode::kReadWriteDirect);  // written past the page cache
      ASSERT_TRUE(direct.ok()) << direct.status().to_string();
      std::unique_ptr<char, decltype(&std::free)> pages(static_cast<char*>(std::aligned_alloc(4096, 8 * 4096)),
                                                        &std::free);
      std::memset(pages.get(), 'p', 8 * 4096);
      ASSERT_TRUE((*direct)->write_at(0, std::string_view(pages.get(), 8 * 4096)).ok());
    }
    ASSERT_EQ(test::cached_pages(path, 8 * 4096), std::vector<bool>(8, false)) << "direct writes leave nothing cached";
    auto file = through->open(path, OpenMode::kReadWrite);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->load_into_cache(2 * 4096, 3 * 4096).ok());
    std::vector<bool> cached = test::cached_pages(path, 8 * 4096);
    if (through == &fs) {
      EXPECT_EQ(cached, std::vector<bool>({false, false, true, true, true, false, false, false})) << "no readahead";
    } else {  // the default's reads may read ahead, never behind
      EXPECT_EQ(std::vector<bool>(cached.begin(), cached.begin() + 5), std::vector<bool>({false, false, true, true, true}));
    }
    ASSERT_TRUE((*file)->load_into_cache(7 * 4096, 10 * 4096).ok()) << "past the end: up to the end";
    EXPECT_TRUE(test::cached_pages(path, 8 * 4096)[7]);
  }
  // The open file, whatever became of its name.
  auto moved = fs.open(dir.sub("posix"), OpenMode::kReadWrite);
  ASSERT_TRUE(moved.ok());
  ASSERT_TRUE(fs.rename(dir.sub("posix"), dir.sub("moved")).ok());
  test::write_bytes(dir.sub("posix"), std::string(8 * 4096, 'x'));  // another file of that name
  {
    auto direct = fs.open(dir.sub("moved"), OpenMode::kReadWriteDirect);
    ASSERT_TRUE(direct.ok());
    std::unique_ptr<char, decltype(&std::free)> page(static_cast<char*>(std::aligned_alloc(4096, 4096)), &std::free);
    std::memset(page.get(), 'm', 4096);
    ASSERT_TRUE((*direct)->write_at(0, std::string_view(page.get(), 4096)).ok());  // drops page 0 from the cache
  }
  ASSERT_FALSE(test::cached_pages(dir.sub("moved"), 4096)[0]);
  ASSERT_TRUE((*moved)->load_into_cache(0, 4096).ok());
  EXPECT_TRUE(test::cached_pages(dir.sub("moved"), 4096)[0]) << "the renamed file's page is loaded";
}

TEST(PosixIoTest, DropFromCacheEvictsTheFilesCleanPages) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  test::write_bytes(dir.sub("f"), std::string(8 * 4096, 'd'));
  auto file = fs.open(dir.sub("f"), OpenMode::kReadWrite);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->sync().ok());  // clean pages
  ASSERT_TRUE((*file)->load_into_cache(0, 8 * 4096).ok());
  ASSERT_TRUE((*file)->drop_from_cache().ok());
  EXPECT_EQ(test::cached_pages(dir.sub("f"), 8 * 4096), std::vector<bool>(8, false));
  EXPECT_EQ(test::read_bytes(dir.sub("f")), std::string(8 * 4096, 'd')) << "read back from the disk";
}

TEST(PosixIoTest, LockIsExclusiveUntilReleased) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  auto first = fs.lock(dir.sub("LOCK"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(fs.lock(dir.sub("LOCK")).status().code(), Code::kLocked);
  first->reset();
  EXPECT_TRUE(fs.lock(dir.sub("LOCK")).ok());
}

TEST(PosixIoTest, WriteFileAtomicallyReplacesContentAndLeavesNoTemp) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  ASSERT_TRUE(write_file_atomically(fs, dir.path(), "F", "first version").ok());
  ASSERT_TRUE(write_file_atomically(fs, dir.path(), "F", "second").ok());
  EXPECT_EQ(*read_file(fs, dir.sub("F")), "second");
  auto names = fs.list(dir.path());
  EXPECT_EQ(*names, std::vector<std::string>{"F"});
}

TEST(PosixIoTest, RenameWithoutReplaceNeverOverwrites) {
  test::TempDir dir;
  FileSystem& fs = posix_file_system();
  ASSERT_TRUE(write_file_atomically(fs, dir.path(), "A", "precious").ok());
  Status s = write_file_atomically(fs, dir.path(), "A", "intruder", /*replace=*/false);
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find(dir.sub("A")), std::string::npos) << s.message();
  EXPECT_EQ(*read_file(fs, dir.sub("A")), "precious");
  ASSERT_TRUE(write_file_atomically(fs, dir.path(), "B", "new", /*replace=*/false).ok());
  EXPECT_EQ(*read_file(fs, dir.sub("B")), "new");
}

}  // namespace
}  // namespace cairn::engine
