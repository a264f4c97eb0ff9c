// WriteQueue: every test runs against both backends (pwrite and io_uring).
// Bytes land exactly where they were submitted, submissions complete in
// order, faults injected through FaultInjectingFileSystem fail exactly the
// submission they hit, a real short write (RLIMIT_FSIZE) is continued at the
// right offset, and kAuto picks io_uring whenever the kernel allows it.
#include "engine/fault_injection.h"
#include "engine/io.h"
#include "test_util.h"

#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <semaphore>
#include <thread>

namespace cairn::engine {
// Names the backend in gtest's output.
void PrintTo(IoBackend backend, std::ostream* out) {
  *out << (backend == IoBackend::kIoUring ? "kIoUring" : backend == IoBackend::kPwrite ? "kPwrite" : "kAuto");
}
}  // namespace cairn::engine

namespace cairn {
namespace {

using engine::FaultInjectingFileSystem;
using engine::FaultOp;
using engine::File;
using engine::FileSystem;
using engine::OpenMode;
using engine::WriteQueue;

#ifdef NDEBUG
constexpr bool kAssertsOn = false;
#else
constexpr bool kAssertsOn = true;
#endif

// Why this process cannot set up an io_uring ("" when it can), asked of the
// kernel directly rather than of the code under test.
std::string io_uring_unavailable_reason() {
  io_uring_params params{};
  long fd = ::syscall(__NR_io_uring_setup, 8, &params);
  if (fd < 0) return std::strerror(errno);
  ::close(static_cast<int>(fd));
  return "";
}

// n bytes that differ from one seed to the next.
std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

Status submit(WriteQueue& q, File& f, uint64_t offset, std::string_view bytes, bool sync) {
  return q.submit(f, offset, std::span<const std::string_view>(&bytes, 1), sync);
}

bool contains(const Status& s, const std::string& text) { return s.message().find(text) != std::string::npos; }

// Forwards to a File and counts sync() calls.
class CountingFile final : public File {
 public:
  explicit CountingFile(std::unique_ptr<File> base) : base_(std::move(base)) {}
  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    return base_->write_at(offset, parts);
  }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override { return base_->read_at(offset, buf, n); }
  Status sync() override {
    ++syncs;
    return base_->sync();
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<engine::Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }
  int native_handle() const override { return base_->native_handle(); }

  int syncs = 0;

 private:
  std::unique_ptr<File> base_;
};

// Lowers RLIMIT_FSIZE (soft) and ignores SIGXFSZ, so that a write crossing the
// limit is cut short by the kernel and the next one fails with EFBIG.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit lowered = old_;
    lowered.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lowered) == 0;
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  bool ok_ = false;
  void (*old_handler_)(int) = nullptr;
};

class WriteQueueTest : public testing::TestWithParam<IoBackend> {
 protected:
  void SetUp() override {
    if (uring() && !io_uring_unavailable_reason().empty()) {
      GTEST_SKIP() << "io_uring unavailable here (" << io_uring_unavailable_reason()
                   << "); WriteQueueAutoTest checks the fallback";
    }
  }

  bool uring() const { return GetParam() == IoBackend::kIoUring; }

  std::unique_ptr<WriteQueue> make_queue(unsigned depth, FileSystem& fs = engine::posix_file_system()) {
    std::string why;
    auto q = fs.make_write_queue(GetParam(), depth, &why);
    EXPECT_TRUE(q.ok()) << q.status().to_string();
    if (!q.ok()) return nullptr;
    EXPECT_STREQ((*q)->name(), uring() ? "io_uring" : "pwrite");
    EXPECT_EQ(why, "");
    return std::move(q).value();
  }

  std::unique_ptr<File> open(const std::string& name, FileSystem& fs = engine::posix_file_system()) {
    auto f = fs.open(dir_.sub(name), OpenMode::kCreate);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  std::string contents(const std::string& name) const { return test::read_bytes(dir_.sub(name)); }

  test::TempDir dir_;
};

TEST_P(WriteQueueTest, SequentialSubmissionsWithAndWithoutSync) {
  auto q = make_queue(1);
  auto f = open("a");
  ASSERT_TRUE(q && f);
  std::string expected;
  for (uint32_t i = 0; i < 20; ++i) {
    std::string bytes = pattern(100 + i * 37, i);
    ASSERT_TRUE(submit(*q, *f, expected.size(), bytes, i % 2 == 0).ok());
    EXPECT_EQ(q->pending(), 1u);
    Status s = q->wait_oldest();
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(q->pending(), 0u);
    expected += bytes;
  }
  EXPECT_EQ(contents("a"), expected);
}

TEST_P(WriteQueueTest, SeveralFilesInOneQueue) {
  constexpr unsigned kDepth = 6;
  auto q = make_queue(kDepth);
  std::vector<std::unique_ptr<File>> files;
  for (const char* name : {"a", "b", "c"}) files.push_back(open(name));
  ASSERT_TRUE(q && files[2]);
  std::vector<std::string> data;
  data.reserve(60);
  std::string expected[3];
  for (uint32_t i = 0; i < 60; ++i) {
    if (q->pending() == kDepth) {
      ASSERT_TRUE(q->wait_oldest().ok());
    }
    size_t k = i % 3;
    data.push_back(pattern(4096 + i, i));
    ASSERT_TRUE(submit(*q, *files[k], expected[k].size(), data.back(), i % 3 == 1).ok());
    expected[k] += data.back();
  }
  while (q->pending() > 0) ASSERT_TRUE(q->wait_oldest().ok());
  EXPECT_EQ(contents("a"), expected[0]);
  EXPECT_EQ(contents("b"), expected[1]);
  EXPECT_EQ(contents("c"), expected[2]);
}

TEST_P(WriteQueueTest, PipelinedSubmissionsCompleteInOrder) {
  auto q = make_queue(4);
  auto big = open("big");
  auto small = open("small");
  ASSERT_TRUE(q && big && small);
  // The first one is slow (8 MiB and an fdatasync); the backend may finish the
  // others first but must report the first one first.
  std::string large = pattern(8 << 20, 1);
  std::string tiny[3] = {"one", "two", "three"};
  ASSERT_TRUE(submit(*q, *big, 0, large, true).ok());
  ASSERT_TRUE(submit(*q, *small, 0, tiny[0], false).ok());
  ASSERT_TRUE(submit(*q, *small, 3, tiny[1], true).ok());
  ASSERT_TRUE(submit(*q, *small, 6, tiny[2], true).ok());
  for (size_t left = 4; left > 0; --left) {
    EXPECT_EQ(q->pending(), left);
    ASSERT_TRUE(q->wait_oldest().ok());
  }
  EXPECT_EQ(contents("big"), large);
  EXPECT_EQ(contents("small"), "onetwothree");

  // A steady pipeline: 4 in flight, one waited for per submission.
  std::vector<std::string> data;
  for (uint32_t i = 0; i < 200; ++i) data.push_back(pattern(1000 + i % 17, i));
  std::string expected;
  for (const std::string& d : data) {
    if (q->pending() == 4) {
      ASSERT_TRUE(q->wait_oldest().ok());
    }
    ASSERT_TRUE(submit(*q, *small, expected.size(), d, true).ok());
    expected += d;
  }
  while (q->pending() > 0) ASSERT_TRUE(q->wait_oldest().ok());
  EXPECT_EQ(contents("small"), expected);
}

TEST_P(WriteQueueTest, EmptyPartsWithSyncIsASyncAlone) {
  auto q = make_queue(4);
  auto f = open("a");
  ASSERT_TRUE(q && f);
  std::span<const std::string_view> none;
  ASSERT_TRUE(q->submit(*f, 0, none, true).ok());  // a fresh, empty file
  ASSERT_TRUE(q->wait_oldest().ok());
  std::string bytes = pattern(5000, 7);
  ASSERT_TRUE(submit(*q, *f, 0, bytes, false).ok());
  ASSERT_TRUE(q->submit(*f, 0, none, true).ok());
  ASSERT_TRUE(q->submit(*f, 123, none, false).ok());  // nothing at all
  std::vector<std::string_view> empties = {"", ""};
  ASSERT_TRUE(q->submit(*f, 9, empties, true).ok());
  EXPECT_EQ(q->pending(), 4u);
  while (q->pending() > 0) ASSERT_TRUE(q->wait_oldest().ok());
  EXPECT_EQ(contents("a"), bytes);
}

TEST_P(WriteQueueTest, LargeWriteOfManyParts) {
  auto q = make_queue(2);
  auto f = open("a");
  ASSERT_TRUE(q && f);
  // 3000 parts (more than IOV_MAX), some empty, some of 1 MiB: about 9 MiB.
  std::string source = pattern(1 << 20, 3);
  std::vector<std::string_view> parts;
  std::string expected(4096, '\0');  // written at offset 4096
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    size_t n = i % 500 == 250 ? source.size() : i % 97 == 0 ? 0 : rng() % 4096;
    std::string_view part(source.data() + (n == source.size() ? 0 : rng() % (source.size() - n)), n);
    parts.push_back(part);
    expected += part;
  }
  ASSERT_GT(expected.size(), 8u << 20);
  ASSERT_TRUE(q->submit(*f, 4096, parts, true).ok());
  ASSERT_TRUE(q->submit(*f, 4096, parts, false).ok());  // the same again, over it
  ASSERT_TRUE(q->wait_oldest().ok());
  ASSERT_TRUE(q->wait_oldest().ok());
  EXPECT_TRUE(contents("a") == expected);
}

TEST_P(WriteQueueTest, OneThreadSubmitsWhileAnotherWaits) {
  constexpr unsigned kDepth = 8;
  constexpr int kCount = 3000;
  auto q = make_queue(kDepth);
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(q && a && b);
  std::vector<std::string> data;
  for (int i = 0; i < kCount; ++i) data.push_back(pattern(1 + i % 2000, i));
  std::counting_semaphore<kDepth> free_slots(kDepth);
  std::counting_semaphore<kCount> submitted(0);
  std::vector<Status> results(kCount);
  std::thread waiter([&] {
    for (int i = 0; i < kCount; ++i) {
      submitted.acquire();
      results[i] = q->wait_oldest();
      free_slots.release();
    }
  });
  std::string expected[2];
  for (int i = 0; i < kCount; ++i) {
    free_slots.acquire();
    std::string& e = expected[i % 2];
    Status s = submit(*q, i % 2 ? *b : *a, e.size(), data[i], i % 4 == 3);
    EXPECT_TRUE(s.ok()) << s.to_string();
    e += data[i];
    submitted.release();
  }
  waiter.join();
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].to_string();
  EXPECT_EQ(q->pending(), 0u);
  EXPECT_EQ(contents("a"), expected[0]);
  EXPECT_EQ(contents("b"), expected[1]);
}

TEST_P(WriteQueueTest, InjectedWriteErrorFailsOnlyThatSubmission) {
  for (int err : {EIO, ENOSPC}) {
    SCOPED_TRACE(std::strerror(err));
    FaultInjectingFileSystem faults(engine::posix_file_system());
    auto q = make_queue(4, faults);
    std::string name = "w" + std::to_string(err);
    auto f = open(name, faults);
    ASSERT_TRUE(q && f);
    faults.fail(FaultOp::kWrite, 3, err);
    std::vector<std::string> data;
    for (uint32_t i = 0; i < 8; ++i) data.push_back(pattern(1000, i));
    std::vector<Status> results;
    for (uint32_t i = 0; i < 8; ++i) {
      if (q->pending() == 4) results.push_back(q->wait_oldest());
      ASSERT_TRUE(submit(*q, *f, i * 1000, data[i], i % 2 == 0).ok());
    }
    while (q->pending() > 0) results.push_back(q->wait_oldest());
    ASSERT_EQ(results.size(), 8u);
    std::string expected;
    for (uint32_t i = 0; i < 8; ++i) {
      if (i == 2) {
        EXPECT_EQ(results[i].code(), Code::kIOError);
        EXPECT_TRUE(contains(results[i], f->path())) << results[i].message();
        EXPECT_TRUE(contains(results[i], "write at offset 2000")) << results[i].message();
        EXPECT_TRUE(contains(results[i], std::strerror(err))) << results[i].message();
        expected += std::string(1000, '\0');  // nothing was written there
      } else {
        EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].to_string();
        expected += data[i];
      }
    }
    EXPECT_EQ(contents(name), expected);
    EXPECT_EQ(faults.fired(), 1u);
    EXPECT_EQ(faults.count(FaultOp::kWrite), 8u);
    EXPECT_EQ(faults.count(FaultOp::kSync), 3u);  // the failed write's sync is not attempted
  }
}

TEST_P(WriteQueueTest, InjectedSyncErrorFailsOnlyThatSubmission) {
  for (int err : {EIO, ENOSPC}) {
    SCOPED_TRACE(std::strerror(err));
    FaultInjectingFileSystem faults(engine::posix_file_system());
    auto q = make_queue(4, faults);
    std::string name = "s" + std::to_string(err);
    auto f = open(name, faults);
    ASSERT_TRUE(q && f);
    faults.fail(FaultOp::kSync, 2, err);
    std::vector<std::string> data;
    for (uint32_t i = 0; i < 6; ++i) data.push_back(pattern(3000, i));
    std::string expected;
    for (uint32_t i = 0; i < 4; ++i) {
      ASSERT_TRUE(submit(*q, *f, expected.size(), data[i], true).ok());
      expected += data[i];
    }
    std::span<const std::string_view> none;
    std::vector<Status> results;
    results.push_back(q->wait_oldest());
    ASSERT_TRUE(q->submit(*f, 0, none, true).ok());  // a sync alone
    results.push_back(q->wait_oldest());
    ASSERT_TRUE(submit(*q, *f, expected.size(), data[4], true).ok());
    expected += data[4];
    while (q->pending() > 0) results.push_back(q->wait_oldest());
    ASSERT_EQ(results.size(), 6u);
    for (size_t i = 0; i < results.size(); ++i) {
      if (i == 1) {
        EXPECT_EQ(results[i].code(), Code::kIOError);
        EXPECT_TRUE(contains(results[i], f->path() + ": fdatasync: " + std::strerror(err))) << results[i].message();
      } else {
        EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].to_string();
      }
    }
    EXPECT_EQ(contents(name), expected) << "the write of the failed sync happened";
    EXPECT_EQ(faults.fired(), 1u);
    EXPECT_EQ(faults.count(FaultOp::kWrite), 5u);
    EXPECT_EQ(faults.count(FaultOp::kSync), 6u);

    faults.fail(FaultOp::kSync, 1, err);  // on a sync alone
    ASSERT_TRUE(q->submit(*f, 0, none, true).ok());
    Status s = q->wait_oldest();
    EXPECT_EQ(s.code(), Code::kIOError);
    EXPECT_TRUE(contains(s, "fdatasync")) << s.message();
  }
}

TEST_P(WriteQueueTest, ShortWriteIsContinuedAtTheRightOffset) {
  // The kernel cuts a write that crosses RLIMIT_FSIZE short at the limit; the
  // backend must then write the rest at exactly the limit, where it fails with
  // EFBIG. (A backend that ignored the short count would report success.)
  constexpr rlim_t kLimit = (1 << 20) + 100;
  for (bool sync : {true, false}) {
    SCOPED_TRACE(sync ? "with sync" : "without sync");
    auto q = make_queue(2);
    std::string name = sync ? "synced" : "unsynced";
    auto f = open(name);
    ASSERT_TRUE(q && f);
    std::string a = pattern(700'000, 1), b = pattern(700'000, 2), c = pattern(700'000, 3);
    std::vector<std::string_view> parts = {a, b, c};
    Status s;
    {
      FileSizeLimit limit(kLimit);
      ASSERT_TRUE(limit.ok());
      ASSERT_TRUE(q->submit(*f, 0, parts, sync).ok());
      s = q->wait_oldest();
    }
    EXPECT_EQ(s.code(), Code::kIOError);
    EXPECT_TRUE(contains(s, f->path() + ": write at offset " + std::to_string(kLimit) + ": " + std::strerror(EFBIG)))
        << s.to_string();
    EXPECT_TRUE(contents(name) == (a + b + c).substr(0, kLimit));
  }
}

TEST_P(WriteQueueTest, FileWithoutDescriptor) {
  // A FaultInjectingFileSystem's files have no descriptor (so no queue can
  // bypass the faults): io_uring refuses them, pwrite writes through them.
  FaultInjectingFileSystem faults(engine::posix_file_system());
  auto q = make_queue(2);
  auto f = open("a", faults);
  ASSERT_TRUE(q && f);
  EXPECT_EQ(f->native_handle(), -1);
  Status s = submit(*q, *f, 0, "abc", true);
  if (uring()) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(s, f->path())) << s.message();
    EXPECT_EQ(q->pending(), 0u);
  } else {
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_TRUE(q->wait_oldest().ok());
    EXPECT_EQ(contents("a"), "abc");
    EXPECT_EQ(faults.count(FaultOp::kWrite), 1u);
    EXPECT_EQ(faults.count(FaultOp::kSync), 1u);
  }
}

TEST_P(WriteQueueTest, FaultQueueTakesOnlyItsOwnFiles) {
  FaultInjectingFileSystem faults(engine::posix_file_system());
  auto q = make_queue(2, faults);
  auto f = open("a");  // not through `faults`
  ASSERT_TRUE(q && f);
  Status s = submit(*q, *f, 0, "abc", true);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(q->pending(), 0u);
}

TEST_P(WriteQueueTest, SubmittingPastTheDepthIsRefused) {
  auto q = make_queue(2);
  auto f = open("a");
  ASSERT_TRUE(q && f);
  ASSERT_TRUE(submit(*q, *f, 0, "ab", true).ok());
  ASSERT_TRUE(submit(*q, *f, 2, "cd", true).ok());
  Status s;
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // an io_uring has kernel threads
  EXPECT_DEBUG_DEATH(s = submit(*q, *f, 4, "ef", true), "at most depth");
  if (!kAssertsOn) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_TRUE(contains(s, "write queue full")) << s.message();
  }
  EXPECT_EQ(q->pending(), 2u);
  ASSERT_TRUE(q->wait_oldest().ok());
  ASSERT_TRUE(q->wait_oldest().ok());
  EXPECT_EQ(contents("a"), "abcd");
}

TEST_P(WriteQueueTest, DestroyingTheQueueFinishesWhatIsPending) {
  auto f = open("a");
  std::string data = pattern(4 << 20, 9);
  {
    auto q = make_queue(4);
    ASSERT_TRUE(q && f);
    for (int i = 0; i < 4; ++i) {
      std::string_view quarter(data.data() + i * (1 << 20), 1 << 20);
      ASSERT_TRUE(submit(*q, *f, i * (1 << 20), quarter, i == 3).ok());
    }
  }
  EXPECT_TRUE(contents("a") == data);
}

INSTANTIATE_TEST_SUITE_P(Backends, WriteQueueTest, testing::Values(IoBackend::kPwrite, IoBackend::kIoUring),
                         [](const testing::TestParamInfo<IoBackend>& info) {
                           return info.param == IoBackend::kIoUring ? "IoUring" : "Pwrite";
                         });

TEST(WriteQueueAutoTest, AutoPicksIoUringWhenTheKernelAllowsIt) {
  FileSystem& fs = engine::posix_file_system();
  std::string unavailable = io_uring_unavailable_reason();
  std::string why;
  auto automatic = fs.make_write_queue(IoBackend::kAuto, 4, &why);
  ASSERT_TRUE(automatic.ok()) << automatic.status().to_string();
  auto uring = fs.make_write_queue(IoBackend::kIoUring, 4, nullptr);
  if (unavailable.empty()) {
    EXPECT_STREQ((*automatic)->name(), "io_uring");
    EXPECT_EQ(why, "");
    ASSERT_TRUE(uring.ok()) << uring.status().to_string();
    EXPECT_STREQ((*uring)->name(), "io_uring");
  } else {
    EXPECT_STREQ((*automatic)->name(), "pwrite");
    EXPECT_NE(why, "") << "kAuto fell back without saying why";
    EXPECT_EQ(uring.status().code(), Code::kNotSupported);
    EXPECT_NE(uring.status().message(), "");
  }
  auto pwrite = fs.make_write_queue(IoBackend::kPwrite, 4, nullptr);
  ASSERT_TRUE(pwrite.ok());
  EXPECT_STREQ((*pwrite)->name(), "pwrite");
}

// From now on io_uring_setup fails with EPERM in this process, as under
// Docker's default seccomp profile.
bool forbid_io_uring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs in a child process: forbids io_uring, then checks that kAuto falls
// back to pwrite saying why and kIoUring is kNotSupported naming EPERM.
// Exits 0 when all of that holds.
void check_fallback_when_forbidden() {
  if (!forbid_io_uring()) {
    std::fprintf(stderr, "seccomp filter: %s\n", std::strerror(errno));
    std::_Exit(2);
  }
  FileSystem& fs = engine::posix_file_system();
  std::string why;
  auto automatic = fs.make_write_queue(IoBackend::kAuto, 4, &why);
  auto uring = fs.make_write_queue(IoBackend::kIoUring, 4, nullptr);
  std::fprintf(stderr, "why: %s\nkIoUring: %s\n", why.c_str(), uring.status().to_string().c_str());
  bool ok = automatic.ok() && std::string((*automatic)->name()) == "pwrite" &&
            why.find("EPERM") != std::string::npos && uring.status().code() == Code::kNotSupported &&
            uring.status().message().find("EPERM") != std::string::npos;
  std::_Exit(ok ? 0 : 1);
}

TEST(WriteQueueAutoTest, FallsBackToPwriteWhenSeccompForbidsIoUring) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(check_fallback_when_forbidden(), testing::ExitedWithCode(0),
              "why: io_uring unavailable, using pwrite: io_uring_queue_init: Operation not permitted");
}

TEST(WriteQueueAutoTest, DepthMustBeSensible) {
  FileSystem& fs = engine::posix_file_system();
  for (IoBackend backend : {IoBackend::kAuto, IoBackend::kIoUring, IoBackend::kPwrite}) {
    EXPECT_EQ(fs.make_write_queue(backend, 0, nullptr).status().code(), Code::kInvalidArgument);
    EXPECT_EQ(fs.make_write_queue(backend, 1'000'000, nullptr).status().code(), Code::kInvalidArgument);
  }
}

// The pwrite backend's coalescing: one fdatasync covers every write to its
// file that had completed when it started.
class PwriteCoalescingTest : public testing::Test {
 protected:
  std::unique_ptr<CountingFile> open(const std::string& name) {
    auto f = engine::posix_file_system().open(dir_.sub(name), OpenMode::kCreate);
    EXPECT_TRUE(f.ok());
    return std::make_unique<CountingFile>(std::move(f).value());
  }
  std::unique_ptr<WriteQueue> queue_ = std::move(engine::posix_file_system().make_write_queue(IoBackend::kPwrite, 8, nullptr)).value();
  test::TempDir dir_;
};

TEST_F(PwriteCoalescingTest, OneSyncCoversEarlierWritesToTheSameFile) {
  auto f = open("a");
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(submit(*queue_, *f, i, "x", true).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue_->wait_oldest().ok());
  EXPECT_EQ(f->syncs, 1);
  EXPECT_EQ(test::read_bytes(dir_.sub("a")), "xxx");
}

TEST_F(PwriteCoalescingTest, SyncsAreCountedPerFile) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(submit(*queue_, *a, 0, "1", true).ok());
  ASSERT_TRUE(submit(*queue_, *b, 0, "2", true).ok());
  ASSERT_TRUE(submit(*queue_, *a, 1, "3", true).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue_->wait_oldest().ok());
  EXPECT_EQ(a->syncs, 1);
  EXPECT_EQ(b->syncs, 1);
}

TEST_F(PwriteCoalescingTest, AWriteAfterTheSyncStartedNeedsItsOwn) {
  auto f = open("a");
  ASSERT_TRUE(submit(*queue_, *f, 0, "1", true).ok());
  ASSERT_TRUE(queue_->wait_oldest().ok());
  ASSERT_TRUE(submit(*queue_, *f, 1, "2", true).ok());
  ASSERT_TRUE(queue_->wait_oldest().ok());
  EXPECT_EQ(f->syncs, 2);
  // A write-only submission followed by a sync alone: one fdatasync.
  ASSERT_TRUE(submit(*queue_, *f, 2, "3", false).ok());
  ASSERT_TRUE(queue_->submit(*f, 0, {}, true).ok());
  ASSERT_TRUE(queue_->wait_oldest().ok());
  ASSERT_TRUE(queue_->wait_oldest().ok());
  EXPECT_EQ(f->syncs, 3);
}

}  // namespace
}  // namespace cairn
