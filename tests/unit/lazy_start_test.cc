// The writer's lazy start (engine/writer.h, "Lazy start"): a writable open
// starts no thread and makes no write queue; the first append starts them,
// exactly once however many threads make it at once; a store opened and
// closed with nothing appended changes no byte; a write queue that cannot be
// made fails the first append and stops appends, not reads.
#include "engine/store_open.h"
#include "format/clean_record.h"
#include "test_util.h"

#include "engine/forwarding_file_system.h"

#include <atomic>
#include <filesystem>
#include <latch>
#include <map>
#include <optional>
#include <thread>

namespace cairn {
namespace {

using test::EventSpec;

size_t thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The POSIX file system, counting make_write_queue() calls; with `refuse`
// set they fail with it, with `fall_back` set kAuto gets pwrite as if
// io_uring were unavailable.
class QueueWatchingFileSystem final : public engine::ForwardingFileSystem {
 public:
  QueueWatchingFileSystem() : ForwardingFileSystem(engine::posix_file_system()) {}
  std::optional<Status> refuse;
  bool fall_back = false;
  std::atomic<int> queues_asked{0};
  std::atomic<unsigned> depth_asked{0};  // of the last queue asked for

  Result<std::unique_ptr<engine::WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                               std::string* why_fallback) override {
    queues_asked.fetch_add(1);
    depth_asked.store(depth);
    if (refuse) return *refuse;
    if (fall_back && backend == IoBackend::kAuto) {
      if (why_fallback != nullptr) *why_fallback = "refused by the test";
      return base_.make_write_queue(IoBackend::kPwrite, depth, nullptr);
    }
    return base_.make_write_queue(backend, depth, why_fallback);
  }
};

// Every regular file of the store but LOCK, by relative path, with its bytes.
std::map<std::string, std::string> store_files(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() == "LOCK") continue;
    out[std::filesystem::relative(e.path(), dir).string()] = test::read_bytes(e.path().string());
  }
  return out;
}

class LazyStartTest : public ::testing::TestWithParam<test::WritePath> {
 protected:
  Options options() {
    Options o;
    o.segment_bytes = 4 << 20;
    o.info_log = [this](std::string_view m) {
      std::lock_guard lock(notes_mu_);
      notes_.emplace_back(m);
    };
    GetParam().apply(o);
    return o;
  }
  std::unique_ptr<Store> open(engine::FileSystem& fs, const Options& o) {
    auto store = engine::open_store(fs, dir_.path(), o);
    EXPECT_TRUE(store.ok()) << store.status().to_string();
    return store.ok() ? std::move(*store) : nullptr;
  }
  // A store holding `n` events in stream "old", closed cleanly.
  void make_store(size_t n) {
    auto store = open(fs_, options());
    ASSERT_TRUE(store);
    old_ = test::make_events(n, "old");
    ASSERT_TRUE(store->append("old", ExpectedVersion::no_stream(), test::views(old_)).ok());
    ASSERT_TRUE(store->close().ok());
  }
  void expect_old(const Store& store) {
    auto read = store.read_stream("old", 0, SIZE_MAX);
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    ASSERT_EQ(read->size(), old_.size());
    for (size_t i = 0; i < old_.size(); ++i) test::expect_event((*read)[i], old_[i], "old", i, i);
  }
  bool noted(std::string_view what) {
    std::lock_guard lock(notes_mu_);
    for (const std::string& n : notes_)
      if (n.find(what) != std::string::npos) return true;
    return false;
  }

  test::TempDir dir_;
  QueueWatchingFileSystem fs_;
  std::vector<EventSpec> old_;
  std::mutex notes_mu_;
  std::vector<std::string> notes_;
};

// Each stream's events come back in order, byte for byte, and read_all
// holds exactly them at consecutive positions, each as read_stream has it.
void expect_streams(const Store& store, const std::vector<std::vector<EventSpec>>& streams) {
  std::map<uint64_t, RecordedEvent> by_position;
  size_t total = 0;
  for (size_t s = 0; s < streams.size(); ++s) {
    std::string name = "s" + std::to_string(s);
    auto read = store.read_stream(name, 0, SIZE_MAX);
    if (streams[s].empty()) {
      EXPECT_EQ(read.status().code(), Code::kNotFound) << name;
      continue;
    }
    ASSERT_TRUE(read.ok()) << read.status().to_string();
    ASSERT_EQ(read->size(), streams[s].size()) << name;
    for (size_t v = 0; v < read->size(); ++v) {
      const RecordedEvent& e = (*read)[v];
      test::expect_event(e, streams[s][v], name, v, e.position);
      EXPECT_TRUE(by_position.emplace(e.position, e).second) << "position " << e.position << " twice";
    }
    total += streams[s].size();
  }
  auto all = store.read_all(0, SIZE_MAX);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), total);
  for (size_t p = 0; p < all->size(); ++p) {
    const RecordedEvent& e = (*all)[p];
    ASSERT_EQ(e.position, p);
    const RecordedEvent& same = by_position.at(p);
    EXPECT_EQ(e.stream, same.stream);
    EXPECT_EQ(e.version, same.version);
    EXPECT_EQ(e.id, same.id);
    EXPECT_EQ(e.type, same.type);
    EXPECT_EQ(e.data, same.data);
    EXPECT_EQ(e.metadata, same.metadata);
  }
}

// (a) No thread until the first append; then 8 threads make their first
// appends at once (half synchronous, half asynchronous): one queue is made
// and every event is stored as appended.
TEST_P(LazyStartTest, OpenStartsNoThreadAndConcurrentFirstAppendsStartTheWriterOnce) {
  size_t before = thread_count();
  auto store = open(fs_, options());
  ASSERT_TRUE(store);
  EXPECT_EQ(thread_count(), before) << "a writable open starts no thread";
  EXPECT_EQ(fs_.queues_asked.load(), 0) << "nor makes a write queue";

  constexpr size_t kThreads = 8, kBatches = 5;
  std::vector<std::vector<EventSpec>> streams(kThreads);
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string name = "s" + std::to_string(t);
      go.arrive_and_wait();
      for (size_t b = 0; b < kBatches; ++b) {
        auto events = test::make_events(1 + (t + b) % 4, name + "-" + std::to_string(b));
        auto r = t % 2 == 0 ? store->append(name, ExpectedVersion::any(), test::views(events))
                            : store->append_async(name, ExpectedVersion::any(), test::views(events)).get();
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        streams[t].insert(streams[t].end(), events.begin(), events.end());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fs_.queues_asked.load(), 1) << "the first appends start the writer exactly once";
  EXPECT_GE(thread_count(), before + 2) << "the writer and completer threads run";
  expect_streams(*store, streams);
  ASSERT_TRUE(store->close().ok());
  store.reset();  // releases LOCK

  auto reopened = open(fs_, options());
  ASSERT_TRUE(reopened);
  expect_streams(*reopened, streams);
}

// (b) Open, read, close with nothing appended: no queue, no thread, and not
// a byte of the store changes (segments, index files, CLEAN and the rest).
TEST_P(LazyStartTest, CloseWithNothingAppendedChangesNothingAndMakesNoQueue) {
  make_store(7);
  int queues_before = fs_.queues_asked.load();
  auto files = store_files(dir_.path());
  ASSERT_FALSE(test::segment_files(dir_.path()).empty());
  size_t threads = thread_count();
  {
    auto store = open(fs_, options());
    ASSERT_TRUE(store);
    expect_old(*store);
    EXPECT_EQ(thread_count(), threads);
    ASSERT_TRUE(store->close().ok());
    ASSERT_TRUE(store->close().ok()) << "idempotent";
  }
  {
    auto store = open(fs_, options());  // closed by its destructor alone
    ASSERT_TRUE(store);
  }
  EXPECT_EQ(fs_.queues_asked.load(), queues_before);
  auto after = store_files(dir_.path());
  ASSERT_EQ(after.size(), files.size());
  for (const auto& [name, bytes] : files) {
    ASSERT_TRUE(after.count(name)) << name << " is gone";
    EXPECT_TRUE(after[name] == bytes) << name << " changed";
  }
  EXPECT_TRUE(format::decode_clean_record(files.at("CLEAN"), "CLEAN").ok()) << "the record still holds";
}

// (c) A write queue that cannot be made: the first append fails with its
// status, later ones with kReadOnly naming it; reads, checkpoints and close
// keep working, and the store opens and appends again with a queue.
TEST_P(LazyStartTest, AQueueThatCannotBeMadeFailsTheFirstAppendAndStopsAppendsNotReads) {
  make_store(4);
  QueueWatchingFileSystem refusing;
  refusing.refuse = Status::not_supported("no write queue in this test");
  auto store = open(refusing, options());
  ASSERT_TRUE(store);
  auto events = test::make_events(2, "refused");
  auto first = store->append("new", ExpectedVersion::any(), test::views(events));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Code::kNotSupported) << first.status().to_string();
  EXPECT_NE(first.status().message().find("no write queue in this test"), std::string::npos);
  for (int i = 0; i < 2; ++i) {
    auto later = i == 0 ? store->append("new", ExpectedVersion::any(), test::views(events))
                        : store->append_async("new", ExpectedVersion::any(), test::views(events)).get();
    ASSERT_FALSE(later.ok());
    EXPECT_EQ(later.status().code(), Code::kReadOnly) << later.status().to_string();
    EXPECT_NE(later.status().message().find("no write queue in this test"), std::string::npos)
        << later.status().to_string();
  }
  EXPECT_EQ(refusing.queues_asked.load(), 1) << "a failed start is not retried";
  expect_old(*store);
  EXPECT_EQ(store->next_position(), old_.size());
  test::TempDir copy;
  auto checkpoint = store->checkpoint(copy.sub("copy"));
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status().to_string();
  ASSERT_TRUE(store->close().ok());
  store.reset();

  auto reopened = open(fs_, options());
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(reopened->stats().open_tail_check_skipped) << "a failed writer leaves no clean-close record";
  expect_old(*reopened);
  EXPECT_TRUE(reopened->append("new", ExpectedVersion::no_stream(), test::views(events)).ok());
}

// (c) with 8 threads making the first append at once: exactly one gets the
// queue's status, the others kReadOnly, and the queue is asked for once.
TEST_P(LazyStartTest, ConcurrentFirstAppendsWithNoQueueFailOnce) {
  QueueWatchingFileSystem refusing;
  refusing.refuse = Status::io_error("queue refused");
  auto store = open(refusing, options());
  ASSERT_TRUE(store);
  constexpr int kThreads = 8;
  std::latch go(kThreads);
  std::atomic<int> io_errors{0}, read_only{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto events = test::make_events(1, "t" + std::to_string(t));
      go.arrive_and_wait();
      auto r = store->append("s", ExpectedVersion::any(), test::views(events));
      if (!r.ok() && r.status().code() == Code::kIOError) io_errors.fetch_add(1);
      if (!r.ok() && r.status().code() == Code::kReadOnly) read_only.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(io_errors.load(), 1);
  EXPECT_EQ(read_only.load(), kThreads - 1);
  EXPECT_EQ(refusing.queues_asked.load(), 1);
  EXPECT_EQ(store->next_position(), 0u);
}

// A close racing the first appends: each append is acknowledged or gets
// kClosed, the close returns, and the store holds exactly the acknowledged.
TEST_P(LazyStartTest, CloseRacingTheFirstAppends) {
  auto store = open(fs_, options());
  ASSERT_TRUE(store);
  constexpr size_t kThreads = 4;
  std::vector<std::vector<EventSpec>> streams(kThreads);
  std::latch go(kThreads + 1);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string name = "s" + std::to_string(t);
      go.arrive_and_wait();
      for (int b = 0; b < 20; ++b) {
        auto events = test::make_events(1, name + "-" + std::to_string(b));
        auto r = store->append(name, ExpectedVersion::any(), test::views(events));
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), Code::kClosed) << r.status().to_string();
          return;
        }
        streams[t].insert(streams[t].end(), events.begin(), events.end());
      }
    });
  }
  go.arrive_and_wait();
  ASSERT_TRUE(store->close().ok());
  for (auto& t : threads) t.join();
  EXPECT_LE(fs_.queues_asked.load(), 1);
  store.reset();

  auto reopened = open(fs_, options());
  ASSERT_TRUE(reopened);
  expect_streams(*reopened, streams);
}

// (d) stats() before the first append: nothing counted, and io_backend the
// backend that will be tried; the first append settles it.
TEST_P(LazyStartTest, StatsBeforeTheFirstAppend) {
  auto store = open(fs_, options());
  ASSERT_TRUE(store);
  StoreStats s = store->stats();
  std::string tried = GetParam().backend == IoBackend::kPwrite ? "pwrite" : "io_uring";
  EXPECT_EQ(s.io_backend, tried);
  EXPECT_EQ(s.appends, 0u);
  EXPECT_EQ(s.syncs, 0u);
  EXPECT_EQ(s.in_flight, 0u);
  EXPECT_EQ(s.next_position, 0u);
  EXPECT_EQ(s.segments, 1u);
  auto events = test::make_events(3);
  ASSERT_TRUE(store->append("s", ExpectedVersion::no_stream(), test::views(events)).ok());
  s = store->stats();
  EXPECT_EQ(s.io_backend, tried);
  EXPECT_EQ(s.appends, 1u);
  EXPECT_EQ(s.next_position, 3u);
}

// The one-line note that io_uring is unavailable comes with the first
// append, which also settles io_backend.
TEST_P(LazyStartTest, TheFallbackNoteComesWithTheFirstAppend) {
  Options o = options();
  o.io_backend = IoBackend::kAuto;
  fs_.fall_back = true;
  auto store = open(fs_, o);
  ASSERT_TRUE(store);
  EXPECT_FALSE(noted("io_uring is unavailable"));
  EXPECT_EQ(store->stats().io_backend, "io_uring") << "the backend to be tried";
  auto events = test::make_events(1);
  ASSERT_TRUE(store->append("s", ExpectedVersion::no_stream(), test::views(events)).ok());
  EXPECT_TRUE(noted("io_uring is unavailable, writing with pwrite: refused by the test"));
  EXPECT_EQ(store->stats().io_backend, "pwrite");
}

// Checkpoints and snapshots work on a store whose writer never started.
TEST_P(LazyStartTest, CheckpointAndSnapshotsBeforeTheFirstAppend) {
  make_store(5);
  auto store = open(fs_, options());
  ASSERT_TRUE(store);
  auto saved = store->snapshots().save("old", 4, "v1", "state");
  ASSERT_TRUE(saved.ok()) << saved.status().to_string();
  auto loaded = store->snapshots().load("old");
  ASSERT_TRUE(loaded.ok() && *loaded) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->data, "state");
  test::TempDir target;
  auto checkpoint = store->checkpoint(target.sub("copy"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().to_string();
  ASSERT_TRUE(store->close().ok());
  EXPECT_EQ(fs_.queues_asked.load(), 1) << "only make_store's session made a queue";

  Options o = options();
  auto copy = Store::open(target.sub("copy"), o);
  ASSERT_TRUE(copy.ok()) << copy.status().to_string();
  expect_old(**copy);
  auto snapshot = (*copy)->snapshots().load("old");
  ASSERT_TRUE(snapshot.ok() && *snapshot) << snapshot.status().to_string();
  EXPECT_EQ((*snapshot)->data, "state");
}

// A read-only store has no writer: no backend to report.
TEST_P(LazyStartTest, ReadOnlyStoreReportsNoBackend) {
  make_store(2);
  Options o = options();
  o.read_only = true;
  auto store = open(fs_, o);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->stats().io_backend, "");
}

INSTANTIATE_TEST_SUITE_P(WritePaths, LazyStartTest, test::write_paths(), test::write_path_name);

// By default four group commits may be written and synced at once
// (DESIGN.md, "Pipelining"): the first append makes the write queue that deep.
TEST(WriteQueueDepthTest, DefaultOptionsAskForFourFlights) {
  test::TempDir dir;
  QueueWatchingFileSystem fs;
  auto store = engine::open_store(fs, dir.path(), Options{});
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  auto events = test::make_events(1);
  ASSERT_TRUE((*store)->append("s", ExpectedVersion::any(), test::views(events)).ok());
  EXPECT_EQ(fs.queues_asked.load(), 1);
  EXPECT_EQ(fs.depth_asked.load(), 4u);
}

}  // namespace
}  // namespace cairn
