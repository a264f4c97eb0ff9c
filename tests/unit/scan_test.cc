// Store::scan_all and Store::scan_stream, the visitor reads: checked byte for
// byte against what was appended and against read_all / read_stream, over
// many segments, forward and backward, with limits, early stops, a missing
// stream, writers appending meanwhile, damage, and a reopen from the index
// checkpoint.
#include "test_util.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

namespace cairn {
namespace {

using test::small_segments;
using test::TempDir;

// What was appended, in position order, without timestamps (the writer
// chooses them).
struct Model {
  std::vector<RecordedEvent> events;
  std::map<std::string, std::vector<uint64_t>> positions;  // a stream's positions, by version
  std::vector<uint32_t> batch_sizes;
};

// The last name is longer than std::string's inline buffer.
const std::vector<std::string> kStreams = {"Order-1", "Order-2", "User-7", "x",
                                           "Warehouse-with-a-name-longer-than-sso-buffers-hold"};

void fill(Store& store, Model& model, std::mt19937_64& rng, int batches) {
  for (int b = 0; b < batches; ++b) {
    std::vector<test::EventSpec> specs(1 + rng() % 6);
    for (test::EventSpec& s : specs) {
      s.type = "Type" + std::to_string(rng() % 4);
      s.data = std::string(rng() % 400, static_cast<char>(rng())) + std::string(1, '\0');
      s.metadata = rng() % 2 ? "" : "meta-" + std::to_string(b) + std::string(rng() % 40, '\xfe');
    }
    const std::string& stream = kStreams[rng() % kStreams.size()];
    auto r = store.append(stream, ExpectedVersion::any(), test::views(specs));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->first_position, model.events.size());
    for (uint32_t i = 0; i < r->count; ++i) {
      const test::EventSpec& s = specs[i];
      model.events.push_back(
          {stream, r->first_version + i, r->first_position + i, s.id, s.type, s.data, s.metadata, 0});
      model.positions[stream].push_back(r->first_position + i);
    }
    model.batch_sizes.push_back(r->count);
  }
}

struct Scanned {
  Status status;
  std::vector<RecordedEvent> events;
};

// The events a scan visits, copied; `stop_after` stops it (false) at the Nth.
Scanned scan_all(const Store& store, uint64_t from, size_t max_count, Direction d, size_t stop_after = SIZE_MAX) {
  Scanned out;
  out.status = store.scan_all(from, max_count, d, [&](const EventView& e) {
    out.events.push_back(e.to_event());
    return out.events.size() < stop_after;
  });
  return out;
}

Scanned scan_stream(const Store& store, const std::string& stream, uint64_t from, size_t max_count, Direction d,
                    size_t stop_after = SIZE_MAX) {
  Scanned out;
  out.status = store.scan_stream(stream, from, max_count, d, [&](const EventView& e) {
    out.events.push_back(e.to_event());
    return out.events.size() < stop_after;
  });
  return out;
}

// read_all's answer, from the model.
std::vector<RecordedEvent> expected_all(const Model& m, uint64_t from, size_t max_count, Direction d) {
  std::vector<RecordedEvent> out;
  uint64_t end = m.events.size();
  if (d == Direction::kForward) {
    for (uint64_t p = from; p < end && out.size() < max_count; ++p) out.push_back(m.events[p]);
  } else if (end > 0) {
    for (uint64_t p = std::min(from, end - 1) + 1; p-- > 0 && out.size() < max_count;) out.push_back(m.events[p]);
  }
  return out;
}

// read_stream's answer, from the model (the stream exists).
std::vector<RecordedEvent> expected_stream(const Model& m, const std::string& stream, uint64_t from, size_t max_count,
                                           Direction d) {
  const std::vector<uint64_t>& positions = m.positions.at(stream);
  std::vector<RecordedEvent> out;
  uint64_t end = positions.size();
  if (d == Direction::kForward) {
    for (uint64_t v = from; v < end && out.size() < max_count; ++v) out.push_back(m.events[positions[v]]);
  } else {
    for (uint64_t v = std::min(from, end - 1) + 1; v-- > 0 && out.size() < max_count;) {
      out.push_back(m.events[positions[v]]);
    }
  }
  return out;
}

// Every field of every event equals the model's, byte for byte; timestamps are set.
void expect_events(const std::vector<RecordedEvent>& got, const std::vector<RecordedEvent>& want,
                   const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    RecordedEvent e = got[i];
    EXPECT_GT(e.timestamp_ns, 0) << what << ", event " << i;
    e.timestamp_ns = 0;
    ASSERT_EQ(e, want[i]) << what << ", event " << i;
  }
}

std::string describe(const std::string& what, uint64_t from, size_t max_count, Direction d) {
  return what + " from " + std::to_string(from) + " max " + std::to_string(max_count) +
         (d == Direction::kForward ? " forward" : " backward");
}

size_t random_max(std::mt19937_64& rng, int i) {
  if (i % 29 == 0) return SIZE_MAX;  // whole-store scans: WholeStoreBothWays
  if (i % 11 == 0) return 0;
  return rng() % 400;
}

// Random scans of all events and of each stream, each compared with the
// model and with the copying read of the same arguments.
void check_random_scans(const Store& store, const Model& model, std::mt19937_64& rng, int scans) {
  uint64_t end = model.events.size();
  ASSERT_EQ(store.next_position(), end);
  for (int i = 0; i < scans; ++i) {
    Direction d = rng() % 2 ? Direction::kForward : Direction::kBackward;
    uint64_t from = rng() % (end + 20);
    if (i % 10 == 0) from = d == Direction::kForward ? 0 : kEnd;
    size_t max_count = random_max(rng, i);
    std::string what = describe("scan_all", from, max_count, d);
    Scanned all = scan_all(store, from, max_count, d);
    ASSERT_TRUE(all.status.ok()) << what << ": " << all.status.to_string();
    expect_events(all.events, expected_all(model, from, max_count, d), what);
    auto read = store.read_all(from, max_count, d);
    ASSERT_TRUE(read.ok()) << what << ": " << read.status().to_string();
    ASSERT_EQ(*read, all.events) << what;

    const std::string& stream = kStreams[rng() % kStreams.size()];
    uint64_t versions = model.positions.at(stream).size();
    uint64_t version = rng() % (versions + 5);
    if (i % 10 == 1) version = d == Direction::kForward ? 0 : kEnd;
    what = describe("scan_stream " + stream, version, max_count, d);
    Scanned one = scan_stream(store, stream, version, max_count, d);
    ASSERT_TRUE(one.status.ok()) << what << ": " << one.status.to_string();
    expect_events(one.events, expected_stream(model, stream, version, max_count, d), what);
    auto read_one = store.read_stream(stream, version, max_count, d);
    ASSERT_TRUE(read_one.ok()) << what << ": " << read_one.status().to_string();
    ASSERT_EQ(*read_one, one.events) << what;
  }
}

TEST(ScanTest, VisitsWhatWasAppendedAndWhatTheReadsReturnAcrossSegments) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  Model model;
  std::mt19937_64 rng(41);
  fill(*store, model, rng, 1500);
  ASSERT_GE(store->stats().segments, 8u);
  check_random_scans(*store, model, rng, 120);
}

TEST(ScanTest, WholeStoreBothWays) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  Model model;
  std::mt19937_64 rng(5);
  fill(*store, model, rng, 1200);
  Scanned forward = scan_all(*store, 0, SIZE_MAX, Direction::kForward);
  ASSERT_TRUE(forward.status.ok()) << forward.status.to_string();
  expect_events(forward.events, model.events, "forward");
  Scanned backward = scan_all(*store, kEnd, SIZE_MAX, Direction::kBackward);
  ASSERT_TRUE(backward.status.ok()) << backward.status.to_string();
  std::reverse(backward.events.begin(), backward.events.end());
  EXPECT_EQ(backward.events, forward.events);
  for (const std::string& stream : kStreams) {
    Scanned one = scan_stream(*store, stream, kEnd, SIZE_MAX, Direction::kBackward);
    ASSERT_TRUE(one.status.ok()) << one.status.to_string();
    expect_events(one.events, expected_stream(model, stream, kEnd, SIZE_MAX, Direction::kBackward), stream);
  }
}

TEST(ScanTest, VisitorStopsTheScanEarly) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  Model model;
  std::mt19937_64 rng(9);
  fill(*store, model, rng, 800);
  for (size_t stop : {size_t{1}, size_t{2}, size_t{37}, size_t{1000}}) {
    for (Direction d : {Direction::kForward, Direction::kBackward}) {
      uint64_t from = d == Direction::kForward ? 3 : kEnd;
      Scanned all = scan_all(*store, from, SIZE_MAX, d, stop);
      ASSERT_TRUE(all.status.ok()) << all.status.to_string();
      expect_events(all.events, expected_all(model, from, stop, d), describe("stopped all", from, stop, d));
      Scanned one = scan_stream(*store, "Order-1", from, SIZE_MAX, d, stop);
      ASSERT_TRUE(one.status.ok()) << one.status.to_string();
      expect_events(one.events, expected_stream(model, "Order-1", from, stop, d),
                    describe("stopped stream", from, stop, d));
    }
  }
}

TEST(ScanTest, MissingStreamEmptyStoreAndPositionsPastTheEnd) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  Scanned empty = scan_all(*store, 0, SIZE_MAX, Direction::kForward);
  EXPECT_TRUE(empty.status.ok());
  EXPECT_TRUE(empty.events.empty());
  EXPECT_TRUE(scan_all(*store, kEnd, SIZE_MAX, Direction::kBackward).events.empty());
  Scanned missing = scan_stream(*store, "Order-1", 0, 10, Direction::kForward);
  EXPECT_EQ(missing.status.code(), Code::kNotFound);
  EXPECT_EQ(missing.status.code(), store->read_stream("Order-1", 0, 10).status().code());

  Model model;
  std::mt19937_64 rng(3);
  fill(*store, model, rng, 300);
  uint64_t end = model.events.size();
  missing = scan_stream(*store, "Nope-1", 0, 10, Direction::kBackward);
  EXPECT_EQ(missing.status.code(), Code::kNotFound);
  EXPECT_NE(missing.status.message().find("'Nope-1'"), std::string::npos) << missing.status.message();
  EXPECT_TRUE(missing.events.empty());
  EXPECT_EQ(store->read_stream("Nope-1", 0, 10).status().code(), Code::kNotFound);

  Scanned past = scan_all(*store, end, 10, Direction::kForward);
  EXPECT_TRUE(past.status.ok());
  EXPECT_TRUE(past.events.empty());
  past = scan_all(*store, end + 1000, 10, Direction::kForward);
  EXPECT_TRUE(past.status.ok());
  EXPECT_TRUE(past.events.empty());
  Scanned last = scan_all(*store, end + 1000, 3, Direction::kBackward);
  ASSERT_TRUE(last.status.ok());
  expect_events(last.events, expected_all(model, end - 1, 3, Direction::kBackward), "backward from past the end");

  uint64_t versions = model.positions.at("x").size();
  Scanned beyond = scan_stream(*store, "x", versions, 10, Direction::kForward);
  EXPECT_TRUE(beyond.status.ok());
  EXPECT_TRUE(beyond.events.empty());
  Scanned newest = scan_stream(*store, "x", versions + 50, 2, Direction::kBackward);
  ASSERT_TRUE(newest.status.ok());
  expect_events(newest.events, expected_stream(model, "x", kEnd, 2, Direction::kBackward), "newest of x");
  EXPECT_TRUE(scan_all(*store, 0, 0, Direction::kForward).events.empty());
  EXPECT_TRUE(scan_stream(*store, "x", kEnd, 0, Direction::kBackward).events.empty());
}

// The scan holds no lock while the visitor runs: it may read and append,
// and it visits only what was published when it began.
TEST(ScanTest, VisitorMayCallTheStore) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  Model model;
  std::mt19937_64 rng(13);
  fill(*store, model, rng, 400);
  uint64_t end = store->next_position();
  size_t visited = 0;
  Status s = store->scan_all(0, SIZE_MAX, Direction::kForward, [&](const EventView& e) {
    auto same = store->read_stream(std::string(e.stream), e.version, 1);
    EXPECT_TRUE(same.ok() && same->size() == 1 && (*same)[0] == e.to_event()) << e.position;
    if (++visited % 100 == 0) {
      auto more = test::make_events(2, "inside");
      EXPECT_TRUE(store->append("Inside-1", ExpectedVersion::any(), test::views(more)).ok());
    }
    return true;
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(visited, end);
  EXPECT_EQ(store->next_position(), end + 2 * (end / 100));
}

// An exception from the visitor leaves the scan and leaves the store usable.
TEST(ScanTest, VisitorExceptionPropagates) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  Model model;
  std::mt19937_64 rng(17);
  fill(*store, model, rng, 100);
  EXPECT_THROW((void)store->scan_all(0, SIZE_MAX, Direction::kForward,
                                     [](const EventView&) -> bool { throw std::runtime_error("visitor"); }),
               std::runtime_error);
  fill(*store, model, rng, 5);
  check_random_scans(*store, model, rng, 20);
}

TEST(ScanTest, DamagedBatchIsCorruptionNamingItsPlace) {
  TempDir dir;
  Model model;
  {
    auto store = test::open_ok(dir.path(), small_segments());
    std::mt19937_64 rng(23);
    fill(*store, model, rng, 600);
    ASSERT_GE(store->stats().segments, 3u);
  }
  std::string first_segment = test::segment_files(dir.path())[0];
  test::flip_byte(first_segment, 64 + 20);  // inside the first batch's body
  Options from_checkpoint = small_segments();
  from_checkpoint.verify_on_open = false;
  auto store = test::open_ok(dir.path(), from_checkpoint);
  ASSERT_NE(store, nullptr);
  Scanned damaged = scan_all(*store, 0, SIZE_MAX, Direction::kForward);
  EXPECT_EQ(damaged.status.code(), Code::kCorruption);
  EXPECT_NE(damaged.status.message().find(first_segment + " at offset 64"), std::string::npos)
      << damaged.status.message();
  EXPECT_TRUE(damaged.events.empty());
  // Backward, every event above the damaged batch is visited before the error.
  uint64_t first_batch = model.batch_sizes[0];
  Scanned backward = scan_all(*store, kEnd, SIZE_MAX, Direction::kBackward);
  EXPECT_EQ(backward.status.code(), Code::kCorruption);
  std::vector<RecordedEvent> above = expected_all(model, kEnd, model.events.size() - first_batch, Direction::kBackward);
  expect_events(backward.events, above, "backward down to the damage");
  Scanned rest = scan_all(*store, first_batch, SIZE_MAX, Direction::kForward);
  ASSERT_TRUE(rest.status.ok()) << rest.status.to_string();
  expect_events(rest.events, expected_all(model, first_batch, SIZE_MAX, Direction::kForward), "after the damage");
  EXPECT_EQ(scan_stream(*store, model.events[0].stream, 0, 1, Direction::kForward).status.code(), Code::kCorruption);
}

TEST(ScanTest, ScansAcrossAReopenFromTheIndexCheckpoint) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(29);
  {
    auto store = test::open_ok(dir.path(), small_segments());
    fill(*store, model, rng, 900);
    ASSERT_TRUE(store->close().ok());
  }
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  EXPECT_GT(store->stats().open_indexed_positions, 0u) << "the open read the index checkpoint";
  check_random_scans(*store, model, rng, 80);
  fill(*store, model, rng, 700);  // past the checkpoint, into new segments
  check_random_scans(*store, model, rng, 80);
  ASSERT_TRUE(store->close().ok());
  store.reset();

  Options read_only = small_segments();
  read_only.read_only = true;
  auto reader = test::open_ok(dir.path(), read_only);
  ASSERT_NE(reader, nullptr);
  check_random_scans(*reader, model, rng, 50);
}

// Writer k's stream "Writer-k" holds at version v the data payload(k, v).
std::string payload(std::string_view stream, uint64_t version) {
  return std::string(stream) + "#" + std::to_string(version) + std::string(version % 50, 'p');
}

void append_versions(Store& store, const std::string& stream, int batches, std::atomic<bool>& failed) {
  uint64_t next = 0;
  for (int b = 0; b < batches; ++b) {
    std::vector<test::EventSpec> specs(1 + b % 4);
    for (size_t i = 0; i < specs.size(); ++i) specs[i].data = payload(stream, next + i);
    auto expected = next == 0 ? ExpectedVersion::no_stream() : ExpectedVersion::exactly(next - 1);
    if (!store.append(stream, expected, test::views(specs)).ok()) failed = true;
    next += specs.size();
  }
}

// One scan of everything while writers append: a dense prefix of the log,
// each stream's versions contiguous from 0, each event's bytes as written.
void check_scan_during_appends(const Store& store, uint64_t& seen) {
  uint64_t next = 0;
  std::map<std::string, uint64_t, std::less<>> versions;
  Status s = store.scan_all(0, SIZE_MAX, Direction::kForward, [&](const EventView& e) {
    uint64_t& version = versions[std::string(e.stream)];
    EXPECT_EQ(e.position, next);
    EXPECT_EQ(e.version, version);
    EXPECT_EQ(e.data, payload(e.stream, e.version));
    ++next;
    ++version;
    return !::testing::Test::HasFailure();
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_GE(next, seen);
  seen = next;
}

TEST(ScanTest, ReaderScansWhileFourWritersAppend) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  std::atomic<bool> failed{false};
  std::atomic<int> running{4};
  std::vector<std::thread> writers;
  for (int k = 0; k < 4; ++k) {
    writers.emplace_back([&, k] {
      append_versions(*store, "Writer-" + std::to_string(k), 150, failed);
      --running;
    });
  }
  uint64_t seen = 0;
  int scans = 0;
  while (running > 0 || scans < 2) {
    check_scan_during_appends(*store, seen);
    Scanned newest = scan_stream(*store, "Writer-" + std::to_string(scans % 4), kEnd, 30, Direction::kBackward);
    if (newest.status.code() != Code::kNotFound) {
      ASSERT_TRUE(newest.status.ok()) << newest.status.to_string();
      for (size_t i = 1; i < newest.events.size(); ++i) {
        EXPECT_EQ(newest.events[i].version + 1, newest.events[i - 1].version);
      }
      for (const RecordedEvent& e : newest.events) EXPECT_EQ(e.data, payload(e.stream, e.version));
    }
    if (HasFailure()) break;
    ++scans;
  }
  for (std::thread& t : writers) t.join();
  EXPECT_FALSE(failed);
  check_scan_during_appends(*store, seen);
  EXPECT_EQ(seen, 4u * (150 / 4 * 10 + 1 + 2));  // batches of 1, 2, 3, 4 events, 150 of them
}

}  // namespace
}  // namespace cairn
