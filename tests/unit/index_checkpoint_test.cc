// The index checkpoint (FORMAT.md §10: stream directory runs and one
// SSSSSSSS.idx per segment), written when a segment is sealed and at close, and read by
// open instead of scanning the log.
//
// Every test compares what the store returns with a model of what was
// appended, byte for byte (stream, version, position, id, type, data,
// metadata; commit timestamps must stay what the first read saw), and checks
// through StoreStats how much of the log the open scanned.
//
//   1. A seeded model over ~50 streams and many segments, through cycles of
//      close and reopen, compared with opens that ignore the checkpoint.
//   2. Idempotency (retries and DuplicateEvent) after a reopen from it.
//   3. Damage: a damaged, missing, foreign or stale checkpoint never fails an
//      open or a read. A directory run or last index file that cannot be used
//      makes the open scan the log, say so through Options::info_log, and
//      the next close write fresh index files. The sealed segments before the
//      last indexed one are deferred (not opened at open); an unusable index
//      file of one (missing, truncated, zeroed, foreign, partial, a block
//      failing its checksum) is rebuilt from the segment on its first read,
//      with an info line, and written anew at close. An older checkpoint that
//      is still a prefix of the log is used, and the rest scanned.
//   4. A killed writer: the open uses the checkpoint of the segments sealed
//      before the kill and scans only the rest.
//   5. Read-only opens use it too and write nothing.
#include "test_util.h"

#include "engine/forwarding_file_system.h"
#include "engine/index_checkpoint.h"
#include "engine/recovery.h"
#include "engine/store_open.h"
#include "format/footer.h"
#include "format/index_file.h"
#include "format/segment_header.h"
#include "format/segment_scan.h"
#include "index/segment_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <bit>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace cairn {
namespace {

namespace fs = std::filesystem;
using test::EventSpec;
using test::TempDir;

constexpr uint64_t kSegmentBytes = 64 << 10;

// Small segments, so that a store of a few hundred batches has many. The
// clean-close tests need no fdatasync per append (close makes it durable).
// verify_on_open = false: open from the checkpoint (the default is true for
// now, see include/cairn/options.h); tests that want the full scan say so.
Options small_segments(Durability durability = Durability::kNone) {
  Options o;
  o.segment_bytes = kSegmentBytes;
  o.durability = durability;
  o.verify_on_open = false;
  return o;
}

// ---------------------------------------------------------------- info log

// Collects Options::info_log lines (the indexer thread may log too).
class LogCapture {
 public:
  // Opens `dir` with `o`, its info log captured here.
  std::unique_ptr<Store> open(Options o, const std::string& dir) {
    attach(o);
    return test::open_ok(dir, o);
  }
  void attach(Options& o) {
    auto state = state_;
    o.info_log = [state](std::string_view m) {
      std::lock_guard lock(state->mu);
      state->lines.emplace_back(m);
    };
  }
  bool contains(std::string_view what) const {
    std::lock_guard lock(state_->mu);
    return std::any_of(state_->lines.begin(), state_->lines.end(),
                       [&](const std::string& l) { return l.find(what) != std::string::npos; });
  }
  // The line mentioning both, or "".
  std::string line_with(std::string_view a, std::string_view b) const {
    std::lock_guard lock(state_->mu);
    for (const std::string& l : state_->lines) {
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return l;
    }
    return "";
  }
  std::string joined() const {
    std::lock_guard lock(state_->mu);
    std::string out;
    for (const std::string& l : state_->lines) out += "[" + l + "] ";
    return out.empty() ? "(no info log lines)" : out;
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<std::string> lines;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// ---------------------------------------------------------------- the model

struct ModelEvent {
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;
  EventId id;
  std::string type;
  std::string data;
  std::string metadata;
  std::optional<int64_t> timestamp;  // what the first read returned; later reads must agree
};

struct Model {
  std::vector<ModelEvent> events;                        // by position
  std::map<std::string, std::vector<uint64_t>> streams;  // positions by version
  struct Batch {
    uint64_t first_position;
    uint32_t count;
  };
  std::vector<Batch> batches;

  uint64_t size() const { return events.size(); }
  std::optional<uint64_t> last_version(const std::string& stream) const {
    auto it = streams.find(stream);
    if (it == streams.end()) return std::nullopt;
    return it->second.size() - 1;
  }
  // Adds a batch appended at the next position and the stream's next version.
  void add(const std::string& stream, const std::vector<EventSpec>& specs) {
    std::vector<uint64_t>& versions = streams[stream];
    batches.push_back({size(), static_cast<uint32_t>(specs.size())});
    for (const EventSpec& s : specs) {
      ModelEvent e{stream, versions.size(), size(), s.id, s.type, s.data, s.metadata, std::nullopt};
      versions.push_back(e.position);
      events.push_back(std::move(e));
    }
  }
  // Forgets the last batch (recovery cut it off the log).
  void drop_last_batch() {
    Batch b = batches.back();
    batches.pop_back();
    const std::string stream = events[b.first_position].stream;
    std::vector<uint64_t>& versions = streams[stream];
    versions.resize(versions.size() - b.count);
    if (versions.empty()) streams.erase(stream);
    events.resize(b.first_position);
  }
  // The batch as it was appended.
  std::pair<std::string, std::vector<EventSpec>> batch_specs(size_t i) const {
    std::vector<EventSpec> specs;
    for (uint32_t k = 0; k < batches[i].count; ++k) {
      const ModelEvent& e = events[batches[i].first_position + k];
      EventSpec s;
      s.id = e.id;
      s.type = e.type;
      s.data = e.data;
      s.metadata = e.metadata;
      specs.push_back(std::move(s));
    }
    return {events[batches[i].first_position].stream, std::move(specs)};
  }
};

// ---------------------------------------------------------------- random appends

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() & 0xff);
  return s;
}

size_t random_size(std::mt19937_64& rng) {
  uint64_t r = rng() % 100;
  if (r < 70) return rng() % 400;
  if (r < 95) return 400 + rng() % 2100;
  return 2500 + rng() % 5500;  // a batch of five stays well inside a 64 KiB segment
}

const char* const kTypes[] = {"Created", "Updated", "Deleted", "Renamed-With-A-Longer-Type-Name"};

std::vector<EventSpec> random_batch(std::mt19937_64& rng) {
  std::vector<EventSpec> specs(1 + rng() % 5);
  for (EventSpec& s : specs) {
    for (auto& b : s.id.bytes) b = static_cast<uint8_t>(rng());  // deterministic: a forked child's can be replayed
    s.type = kTypes[rng() % 4];
    s.data = random_bytes(rng, random_size(rng));
    s.metadata = rng() % 3 == 0 ? "" : random_bytes(rng, rng() % 80);
  }
  return specs;
}

// Stream names: categories with a separator, a few without, some long.
std::vector<std::string> stream_names(size_t n, const std::string& tag) {
  static const char* const kCategories[] = {"Order", "User", "Cart", "Inventory", "plain"};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string c = kCategories[i % 5];
    std::string name = c == "plain" ? "plain_" + tag + std::to_string(i) : c + "-" + tag + std::to_string(i);
    if (i % 11 == 3) name += std::string(300, static_cast<char>('a' + i % 26));
    out.push_back(name);
  }
  return out;
}

// Appends one random batch to a random stream with an exact expected version
// (no_stream for a new stream; now and then any() or stream_exists()), after
// now and then trying a wrong expectation, which must be refused. Returns ""
// or what went wrong (no gtest: a forked child uses it too).
std::string append_random(Store& store, Model& model, std::mt19937_64& rng, const std::vector<std::string>& names,
                          bool try_wrong = true) {
  const std::string& stream = names[rng() % names.size()];
  std::vector<EventSpec> specs = random_batch(rng);
  std::vector<NewEvent> events = test::views(specs);
  std::optional<uint64_t> current = model.last_version(stream);
  if (try_wrong && rng() % 8 == 0) {
    ExpectedVersion wrong = current ? (rng() % 2 ? ExpectedVersion::exactly(*current + 1 + rng() % 3)
                                                 : ExpectedVersion::no_stream())
                                    : (rng() % 2 ? ExpectedVersion::exactly(rng() % 3)
                                                 : ExpectedVersion::stream_exists());
    auto r = store.append(stream, wrong, events);
    if (r.ok() || r.status().code() != Code::kWrongExpectedVersion) {
      return "a wrong expectation on '" + stream + "' was not refused: " +
             (r.ok() ? std::string("appended") : r.status().to_string());
    }
    if (current && r.status().actual_version() != current) {
      return "'" + stream + "': the refusal names actual version " +
             (r.status().actual_version() ? std::to_string(*r.status().actual_version()) : "none") +
             ", the model has " + std::to_string(*current);
    }
  }
  ExpectedVersion expected = current ? ExpectedVersion::exactly(*current) : ExpectedVersion::no_stream();
  uint64_t pick = rng() % 10;
  if (pick == 0) expected = ExpectedVersion::any();
  if (pick == 1 && current) expected = ExpectedVersion::stream_exists();
  auto r = store.append(stream, expected, events);
  if (!r.ok()) return "append to '" + stream + "' failed: " + r.status().to_string();
  uint64_t want_version = current ? *current + 1 : 0;
  if (r->deduplicated || r->first_version != want_version || r->first_position != model.size() ||
      r->count != specs.size()) {
    return "append to '" + stream + "' got version " + std::to_string(r->first_version) + " position " +
           std::to_string(r->first_position) + (r->deduplicated ? " (deduplicated)" : "") + ", the model expects " +
           std::to_string(want_version) + " and " + std::to_string(model.size());
  }
  model.add(stream, specs);
  return "";
}

void append_batches(Store& store, Model& model, std::mt19937_64& rng, const std::vector<std::string>& names,
                    int batches) {
  for (int i = 0; i < batches; ++i) {
    std::string error = append_random(store, model, rng, names);
    ASSERT_EQ(error, "") << "batch " << i;
  }
}

// ---------------------------------------------------------------- checking reads

// The indexes (into `n` items, in the order returned) a read of up to `max`
// from `from` returns.
std::vector<uint64_t> window(uint64_t n, uint64_t from, size_t max, Direction d) {
  std::vector<uint64_t> out;
  if (n == 0) return out;
  if (d == Direction::kForward) {
    for (uint64_t i = from; i < n && out.size() < max; ++i) out.push_back(i);
  } else {
    for (uint64_t i = std::min(from, n - 1) + 1; i > 0 && out.size() < max; --i) out.push_back(i - 1);
  }
  return out;
}

::testing::AssertionResult same_events(const std::vector<RecordedEvent>& got, Model& model,
                                       const std::vector<uint64_t>& positions) {
  if (got.size() != positions.size()) {
    return ::testing::AssertionFailure() << got.size() << " events, the model has " << positions.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    ModelEvent& m = model.events[positions[i]];
    const RecordedEvent& e = got[i];
    auto fail = [&](const char* field) {
      return ::testing::AssertionFailure() << "event " << i << " (position " << m.position << ", '" << m.stream
                                           << "' version " << m.version << "): " << field << " differs";
    };
    if (e.stream != m.stream) return fail("stream");
    if (e.version != m.version) return fail("version");
    if (e.position != m.position) return fail("position");
    if (e.id != m.id) return fail("id");
    if (e.type != m.type) return fail("type");
    if (e.data != m.data) return fail("data");
    if (e.metadata != m.metadata) return fail("metadata");
    if (m.timestamp && *m.timestamp != e.timestamp_ns) return fail("timestamp");
    m.timestamp = e.timestamp_ns;
  }
  return ::testing::AssertionSuccess();
}

std::string describe(const char* what, const std::string& stream, uint64_t from, size_t max, Direction d) {
  return std::string(what) + (stream.empty() ? "" : " '" + stream.substr(0, 40) + "'") + " from " +
         (from == kEnd ? "kEnd" : std::to_string(from)) + " max " +
         (max == SIZE_MAX ? "SIZE_MAX" : std::to_string(max)) + (d == Direction::kForward ? " forward" : " backward");
}

// Everything a check read, in order: two stores that read the same return equal transcripts.
struct Transcript {
  std::vector<std::vector<RecordedEvent>> reads;
  std::vector<std::optional<uint64_t>> versions;
  bool operator==(const Transcript&) const = default;
};

// Reads the whole store in every way the model can answer, plus random
// windows drawn from `seed`: read_all forward and backward, every stream
// forward and backward (whole and random windows), every stream's version.
void check_store(const Store& store, Model& model, uint64_t seed, Transcript* transcript = nullptr) {
  std::mt19937_64 rng(seed);
  ASSERT_EQ(store.next_position(), model.size());
  auto record = [&](std::vector<RecordedEvent> events) {
    if (transcript) transcript->reads.push_back(std::move(events));
  };
  uint64_t n = model.size();
  std::vector<uint64_t> all_positions(n);
  for (uint64_t i = 0; i < n; ++i) all_positions[i] = i;

  auto check_all = [&](uint64_t from, size_t max, Direction d) {
    auto got = store.read_all(from, max, d);
    ASSERT_TRUE(got.ok()) << describe("read_all", "", from, max, d) << ": " << got.status().to_string();
    ASSERT_TRUE(same_events(*got, model, window(n, from, max, d))) << describe("read_all", "", from, max, d);
    record(std::move(*got));
  };
  ASSERT_NO_FATAL_FAILURE(check_all(0, SIZE_MAX, Direction::kForward));
  ASSERT_NO_FATAL_FAILURE(check_all(kEnd, SIZE_MAX, Direction::kBackward));
  for (int i = 0; i < 60; ++i) {
    Direction d = rng() % 2 ? Direction::kForward : Direction::kBackward;
    uint64_t from = rng() % (n + 5);
    if (i % 9 == 0) from = d == Direction::kForward ? 0 : kEnd;
    size_t max = i % 7 == 0 ? SIZE_MAX : rng() % 120;
    ASSERT_NO_FATAL_FAILURE(check_all(from, max, d));
  }

  for (const auto& [stream, versions] : model.streams) {
    auto version = store.stream_version(stream);
    ASSERT_EQ(version, std::optional<uint64_t>(versions.size() - 1)) << "'" << stream << "'";
    if (transcript) transcript->versions.push_back(version);
    auto check_stream = [&](uint64_t from, size_t max, Direction d) {
      auto got = store.read_stream(stream, from, max, d);
      ASSERT_TRUE(got.ok()) << describe("read_stream", stream, from, max, d) << ": " << got.status().to_string();
      std::vector<uint64_t> positions;
      for (uint64_t v : window(versions.size(), from, max, d)) positions.push_back(versions[v]);
      ASSERT_TRUE(same_events(*got, model, positions)) << describe("read_stream", stream, from, max, d);
      record(std::move(*got));
    };
    ASSERT_NO_FATAL_FAILURE(check_stream(0, SIZE_MAX, Direction::kForward));
    ASSERT_NO_FATAL_FAILURE(check_stream(kEnd, SIZE_MAX, Direction::kBackward));
    for (int i = 0; i < 4; ++i) {
      Direction d = rng() % 2 ? Direction::kForward : Direction::kBackward;
      uint64_t from = rng() % (versions.size() + 3);
      size_t max = rng() % (versions.size() + 3);
      ASSERT_NO_FATAL_FAILURE(check_stream(from, max, d));
    }
  }
  EXPECT_EQ(store.stream_version("never-written"), std::nullopt);
  EXPECT_EQ(store.read_stream("never-written", 0, 10).status().code(), Code::kNotFound);

  // Filtered reads: the type and category bitmaps of checkpointed segments
  // come from their index files (a partial one's then extended by the scan).
  static const char* const kCategories[] = {"Order", "User", "Cart", "Inventory"};
  for (int i = 0; i < 16; ++i) {
    ReadFilter f;
    if (i % 3 != 1) f.categories.push_back(kCategories[rng() % 4]);
    if (i % 3 != 0) f.event_types.push_back(kTypes[rng() % 4]);
    Direction d = rng() % 2 ? Direction::kForward : Direction::kBackward;
    uint64_t from = i % 4 == 0 ? (d == Direction::kForward ? 0 : kEnd) : rng() % (n + 5);
    size_t max = i % 5 == 0 ? SIZE_MAX : rng() % 100;
    auto matches = [&](const ModelEvent& e) {
      std::string category = e.stream.substr(0, std::min(e.stream.find('-'), e.stream.size()));
      bool in_category = e.stream.find('-') != std::string::npos &&
                         (f.categories.empty() || category == f.categories[0]);
      return (f.categories.empty() || in_category) && (f.event_types.empty() || e.type == f.event_types[0]);
    };
    std::vector<uint64_t> want;
    if (d == Direction::kForward) {
      for (uint64_t p = from; p < n && want.size() < max; ++p) {
        if (matches(model.events[p])) want.push_back(p);
      }
    } else if (n > 0) {
      for (uint64_t p = std::min(from, n - 1) + 1; p > 0 && want.size() < max; --p) {
        if (matches(model.events[p - 1])) want.push_back(p - 1);
      }
    }
    std::string what = describe("read_all_filtered", (f.categories.empty() ? "*" : f.categories[0]) + "/" +
                                                         (f.event_types.empty() ? "*" : f.event_types[0]),
                                from, max, d);
    auto got = store.read_all_filtered(f, from, max, d);
    ASSERT_TRUE(got.ok()) << what << ": " << got.status().to_string();
    ASSERT_TRUE(same_events(*got, model, want)) << what;
    record(std::move(*got));
  }
}

// An open after a clean close reads the whole log from the checkpoint, and
// reads back exactly the model.
void expect_clean_open(const std::string& dir, const Options& options, Model& model, uint64_t seed) {
  auto store = test::open_ok(dir, options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->stats().open_scanned_batches, 0u);
  EXPECT_EQ(store->stats().open_indexed_positions, model.size());
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, seed));
}

// ---------------------------------------------------------------- files

// The oldest directory run, the one starting at segment 1 (empty: none).
std::string streams_file(const std::string& dir) {
  auto runs = test::stream_run_files(dir);
  return runs.empty() ? "" : runs.front();
}
// The newest run, over the partial segment after a clean close.
std::string newest_run(const std::string& dir) {
  auto runs = test::stream_run_files(dir);
  return runs.empty() ? "" : runs.back();
}
bool is_index_name(const std::string& name) {
  return format::parse_streams_run_file_name(name) || fs::path(name).extension() == ".idx";
}

std::string index_file(const std::string& dir, uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof name, "%08llu.idx", static_cast<unsigned long long>(sequence));
  return dir + "/" + name;
}

std::vector<std::string> index_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".idx") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct FileState {
  uint64_t size;
  fs::file_time_type mtime;
  std::string bytes;
  bool operator==(const FileState&) const = default;
};

std::map<std::string, FileState> snapshot(const std::string& dir) {
  std::map<std::string, FileState> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    out[e.path().filename().string()] = {e.file_size(), e.last_write_time(), test::read_bytes(e.path().string())};
  }
  return out;
}

// The offsets of the batch frames of a segment file.
std::vector<uint64_t> batch_offsets(const std::string& segment, bool is_last) {
  std::string bytes = test::read_bytes(segment);
  std::vector<uint64_t> offsets;
  auto scan = format::scan_segment(bytes, segment, format::ScanOptions{is_last},
                                   [&](const format::ScannedBatch& b) {
                                     offsets.push_back(b.offset);
                                     return Status();
                                   });
  EXPECT_TRUE(scan.ok()) << scan.status().to_string();
  return offsets;
}

// Builds a store of `batches` random batches over 50 streams (several
// segments) and closes it cleanly.
void build(const std::string& dir, Model& model, uint64_t seed, int batches) {
  std::mt19937_64 rng(seed);
  auto store = test::open_ok(dir, small_segments());
  ASSERT_NE(store, nullptr);
  ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(50, "s"), batches));
  ASSERT_TRUE(store->close().ok());
}

// ---------------------------------------------------------------- 1. the model

TEST(IndexCheckpointTest, ModelSurvivesReopensThroughTheCheckpointAndMatchesAFullScan) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(20240611);
  std::vector<std::string> names = stream_names(50, "s");
  uint64_t segments_before = 0;
  constexpr int kCycles = 4;
  std::optional<Transcript> scanned;  // the previous cycle's read-only verify_on_open reads
  uint64_t scanned_seed = 0;
  for (int cycle = 0; cycle <= kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    LogCapture log;
    auto store = log.open(small_segments(), dir.path());
    ASSERT_NE(store, nullptr);
    if (cycle > 0) {
      StoreStats st = store->stats();
      EXPECT_EQ(st.open_scanned_batches, 0u) << "a clean close leaves nothing to scan";
      EXPECT_EQ(st.open_indexed_positions, model.size());
      EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
      // The same reads as the previous cycle's full-scan open: the same answers.
      Transcript through_checkpoint;
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model, scanned_seed, &through_checkpoint));
      ASSERT_TRUE(scanned.has_value());
      EXPECT_TRUE(through_checkpoint == *scanned) << "verify_on_open reads differ from checkpoint reads";
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model, rng()));
    }
    if (cycle == kCycles) break;
    // New streams and old ones: exact expectations across the checkpoint's end.
    if (cycle > 0) {
      for (const std::string& n : stream_names(5, "c" + std::to_string(cycle) + "-")) names.push_back(n);
    }
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, names, 300));
    StoreStats st = store->stats();
    EXPECT_GE(st.segments, segments_before + 4) << "each cycle spans several segments";
    segments_before = st.segments;
    // Reads mixing the checkpoint and the batches appended since.
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, rng()));
    ASSERT_TRUE(store->close().ok());
    store.reset();

    // The same store opened ignoring the checkpoint (read-only, so the next
    // cycle opens what this cycle's close wrote).
    Options v = small_segments();
    v.verify_on_open = true;
    v.read_only = true;
    auto full = test::open_ok(dir.path(), v);
    ASSERT_NE(full, nullptr);
    EXPECT_EQ(full->stats().open_scanned_batches, model.batches.size());
    EXPECT_EQ(full->stats().open_indexed_positions, 0u);
    scanned_seed = rng();
    scanned.emplace();
    ASSERT_NO_FATAL_FAILURE(check_store(*full, model, scanned_seed, &*scanned));
  }

  // A writable verify_on_open open ignores the checkpoint; its close indexes
  // every segment afresh, and the next open reads that.
  {
    Options v = small_segments();
    v.verify_on_open = true;
    auto full = test::open_ok(dir.path(), v);
    ASSERT_NE(full, nullptr);
    EXPECT_EQ(full->stats().open_scanned_batches, model.batches.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*full, model, rng()));
  }
  // Opens and closes that append nothing leave a checkpoint as good.
  for (int i = 0; i < 2; ++i) {
    auto store = test::open_ok(dir.path(), small_segments());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    EXPECT_EQ(store->stats().open_indexed_positions, model.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, rng()));
  }
  EXPECT_EQ(index_files(dir.path()).size(), test::segment_files(dir.path()).size());
}

// ---------------------------------------------------------------- 2. idempotency

TEST(IndexCheckpointTest, RetriesAreRecognisedAndReusedIdsRefusedAfterAReopenFromTheCheckpoint) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 7, 250));
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(store->stats().open_scanned_batches, 0u);
  ASSERT_EQ(store->stats().open_indexed_positions, model.size());
  const uint64_t end = model.size();

  // Batches in the first sealed segment, in the middle, and the last one (in
  // the active segment's part of the checkpoint), each with 2+ events.
  std::vector<size_t> picks;
  for (size_t i = 0; i < model.batches.size() && picks.empty(); ++i) {
    if (model.batches[i].count >= 2) picks.push_back(i);
  }
  for (size_t i = model.batches.size() / 2; i < model.batches.size(); ++i) {
    if (model.batches[i].count >= 2) {
      picks.push_back(i);
      break;
    }
  }
  picks.push_back(model.batches.size() - 1);
  ASSERT_EQ(picks.size(), 3u);

  for (size_t b : picks) {
    auto [stream, specs] = model.batch_specs(b);
    // Whatever the expectation says (no_stream is wrong for every one of them).
    auto r = store->append(stream, ExpectedVersion::no_stream(), test::views(specs));
    ASSERT_TRUE(r.ok()) << "batch " << b << ": " << r.status().to_string();
    EXPECT_TRUE(r->deduplicated) << "batch " << b;
    EXPECT_EQ(r->first_position, model.batches[b].first_position);
    EXPECT_EQ(r->first_version, model.events[model.batches[b].first_position].version);
    EXPECT_EQ(r->count, specs.size());
  }
  StoreStats st = store->stats();
  EXPECT_EQ(st.deduplicated, picks.size());
  EXPECT_EQ(st.appends, 0u);
  EXPECT_EQ(st.events, 0u);
  EXPECT_EQ(store->next_position(), end);

  // An id already stored, in an append that is not a retry of its append.
  {
    auto [stream, specs] = model.batch_specs(picks[0]);
    std::vector<EventSpec> mixed = test::make_events(2, "fresh");
    mixed[1].id = specs[0].id;  // not the first event
    auto r = store->append("Other-stream", ExpectedVersion::any(), test::views(mixed));
    ASSERT_EQ(r.status().code(), Code::kDuplicateEvent) << r.status().to_string();
    EXPECT_NE(r.status().message().find(specs[0].id.to_hex()), std::string::npos) << r.status().message();
    // The same ids in another stream.
    r = store->append("Other-stream", ExpectedVersion::any(), test::views(specs));
    ASSERT_EQ(r.status().code(), Code::kDuplicateEvent) << r.status().to_string();
  }
  {
    // In its own stream: a stored id after a new one, a new one between
    // stored ones, the stored ids in another order. None is a retry.
    auto [stream, specs] = model.batch_specs(picks[1]);
    std::vector<EventSpec> later = {EventSpec{}, specs[1]};
    auto r = store->append(stream, ExpectedVersion::any(), test::views(later));
    ASSERT_EQ(r.status().code(), Code::kDuplicateEvent) << r.status().to_string();
    EXPECT_NE(r.status().message().find(specs[1].id.to_hex()), std::string::npos) << r.status().message();
    std::vector<EventSpec> gap = {specs[0], EventSpec{}, specs[1]};
    r = store->append(stream, ExpectedVersion::any(), test::views(gap));
    ASSERT_EQ(r.status().code(), Code::kDuplicateEvent) << r.status().to_string();
    std::vector<EventSpec> swapped = specs;
    std::swap(swapped[0], swapped[1]);
    r = store->append(stream, ExpectedVersion::any(), test::views(swapped));
    ASSERT_EQ(r.status().code(), Code::kDuplicateEvent) << r.status().to_string();
  }
  EXPECT_EQ(store->next_position(), end);
  EXPECT_EQ(store->stats().appends, 0u);
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 1));
  ASSERT_TRUE(store->close().ok());
  store.reset();

  // Nothing was written: the next open finds the same log, through the checkpoint.
  store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->stats().open_scanned_batches, 0u);
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 2));
  // A retry is still recognised by a store that appended since.
  std::mt19937_64 rng(8);
  ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(50, "s"), 20));
  auto [stream, specs] = model.batch_specs(picks[0]);
  auto r = store->append(stream, ExpectedVersion::any(), test::views(specs));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->deduplicated);
  EXPECT_EQ(r->first_position, model.batches[picks[0]].first_position);
  EXPECT_EQ(store->next_position(), model.size());
}

// ---------------------------------------------------------------- 3. damage

class DamagedCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(build(dir_.path(), model_, 31, 250));
    segments_ = test::segment_files(dir_.path());
    ASSERT_GE(segments_.size(), 4u);
    ASSERT_GE(test::stream_run_files(dir_.path()).size(), 2u) << "sealed segments' runs and the partial one";
    ASSERT_EQ(index_files(dir_.path()).size(), segments_.size()) << "one index file per segment after a clean close";
  }

  // The damaged open: it succeeds, scans the whole log, says why in the info
  // log (a line mentioning the index checkpoint and `mention`) and reads as
  // the model. Appends then work as before; a close writes fresh index files,
  // so the open after it scans nothing.
  void expect_full_scan(const std::string& mention) {
    {
      LogCapture log;
      auto store = log.open(small_segments(), dir_.path());
      ASSERT_NE(store, nullptr);
      std::string note = log.line_with("index checkpoint", mention);
      EXPECT_NE(note, "") << "no note naming " << mention << ": " << log.joined();
      StoreStats st = store->stats();
      EXPECT_EQ(st.open_scanned_batches, model_.batches.size());
      EXPECT_EQ(st.open_indexed_positions, 0u);
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 11));
      std::mt19937_64 rng(12);
      ASSERT_NO_FATAL_FAILURE(append_batches(*store, model_, rng, stream_names(55, "s"), 40));
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 13));
      ASSERT_TRUE(store->close().ok());
    }
    LogCapture log;
    auto store = log.open(small_segments(), dir_.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, 0u) << "the close rewrote the index files";
    EXPECT_EQ(store->stats().open_indexed_positions, model_.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 14));
  }

  // A sealed segment's unusable index file (`file`, deferred at open): the
  // open uses the checkpoint and opens no sealed segment but the last
  // indexed one; the first read of the segment rebuilds its index from the
  // segment (an info line naming the file) and reads as the model; the close
  // writes the file anew, whole and undamaged, and the next open reads it.
  void expect_rebuilt_on_first_read(const std::string& file, const std::string& mention) {
    {
      LogCapture log;
      auto store = log.open(small_segments(), dir_.path());
      ASSERT_NE(store, nullptr);
      EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
      StoreStats st = store->stats();
      EXPECT_EQ(st.open_scanned_batches, 0u);
      EXPECT_EQ(st.open_indexed_positions, model_.size());
      EXPECT_GT(st.open_deferred_segments, 0u);
      EXPECT_TRUE(log.line_with("rebuilding", file).empty()) << "nothing is read at open: " << log.joined();
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 11));
      std::string note = log.line_with(file, mention);
      EXPECT_NE(note.find("rebuilding it from"), std::string::npos) << log.joined();
      std::mt19937_64 rng(12);
      ASSERT_NO_FATAL_FAILURE(append_batches(*store, model_, rng, stream_names(55, "s"), 40));
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 13));
      ASSERT_TRUE(store->close().ok());
    }
    std::string path = dir_.sub(file);
    std::string bytes = test::read_bytes(path);
    format::IndexFile index;
    auto header = format::decode_segment_index_header(bytes, path, index);
    ASSERT_TRUE(header.ok()) << header.status().to_string();
    EXPECT_TRUE(header->sealed());
    for (size_t b = 0; b < index.block_count(); ++b) EXPECT_TRUE(format::verify_block(index, b)) << b;
    LogCapture log;
    auto store = log.open(small_segments(), dir_.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, 14));
    EXPECT_FALSE(log.contains("rebuilding")) << log.joined();
  }

  std::string streams() const { return streams_file(dir_.path()); }

  TempDir dir_;
  Model model_;
  std::vector<std::string> segments_;
};

TEST_F(DamagedCheckpointTest, StreamsTruncatedToZeroBytes) {
  fs::resize_file(streams(), 0);
  expect_full_scan("STREAMS");
}

TEST_F(DamagedCheckpointTest, StreamsTruncatedToHalf) {
  fs::resize_file(streams(), fs::file_size(streams()) / 2);
  expect_full_scan("STREAMS");
}

TEST_F(DamagedCheckpointTest, StreamsZeroed) {
  test::write_bytes(streams(), std::string(fs::file_size(streams()), '\0'));
  expect_full_scan("STREAMS");
}

TEST_F(DamagedCheckpointTest, StreamsHeaderByteFlipped) {
  test::flip_byte(streams(), 41);  // in last_segment
  expect_full_scan("STREAMS");
}

TEST_F(DamagedCheckpointTest, SegmentIndexDeleted) {
  fs::remove(index_file(dir_.path(), 2));
  expect_rebuilt_on_first_read("00000002.idx", "No such file");
}

// The open checks only the last indexed segment's index: with the last one
// deleted, the checkpoint cannot be used and the log is scanned.
TEST_F(DamagedCheckpointTest, LastSegmentIndexDeleted) {
  const std::string path = index_file(dir_.path(), segments_.size());
  fs::remove(path);
  expect_full_scan(fs::path(path).filename().string());
}

TEST_F(DamagedCheckpointTest, SealedSegmentIndexTruncatedOrZeroed) {
  const std::string one = index_file(dir_.path(), 1), three = index_file(dir_.path(), 3);
  fs::resize_file(one, fs::file_size(one) / 2);
  test::write_bytes(three, std::string(fs::file_size(three), '\0'));
  expect_rebuilt_on_first_read("00000001.idx", "00000001.idx");
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir_.path(), small_segments(), model_, 15));
  std::string bytes = test::read_bytes(three);
  format::IndexFile index;
  EXPECT_TRUE(format::decode_segment_index_header(bytes, three, index).ok()) << "00000003.idx was written anew too";
}

// Another store's index file for a sealed segment, under this store's runs.
TEST_F(DamagedCheckpointTest, SealedSegmentIndexOfAnotherStoreIsRebuilt) {
  TempDir other;
  Model other_model;
  ASSERT_NO_FATAL_FAILURE(build(other.path(), other_model, 31, 250));
  fs::copy_file(index_file(other.path(), 2), index_file(dir_.path(), 2), fs::copy_options::overwrite_existing);
  expect_rebuilt_on_first_read("00000002.idx", "another segment");
}

// The active segment's index (a partial one, written at close): open checks
// its last batch against the segment, which reads the damaged block.
TEST_F(DamagedCheckpointTest, ActiveSegmentIndexBodyByteFlipped) {
  std::string path = index_file(dir_.path(), segments_.size());
  std::string bytes = test::read_bytes(path);
  format::IndexFile file;
  auto header = format::decode_segment_index_header(bytes, path, file);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  ASSERT_FALSE(header->sealed());
  ASSERT_EQ(file.block_count(), 1u);  // the whole body is one checksummed block
  test::flip_byte(path, format::kIndexHeaderSize + file.body.size() / 2);
  expect_full_scan(fs::path(path).filename().string());
}

// A sealed segment's index with a byte flipped in its body. The open does
// not read it; its first load verifies every block, so no read meets the
// damage: the index is rebuilt from the segment.
TEST_F(DamagedCheckpointTest, SealedSegmentIndexBodyByteFlipped) {
  const std::string path = index_file(dir_.path(), 2);
  std::string bytes = test::read_bytes(path);
  format::IndexFile file;
  auto header = format::decode_segment_index_header(bytes, path, file);
  ASSERT_TRUE(header.ok()) << header.status().to_string();
  ASSERT_TRUE(header->sealed());
  ASSERT_EQ(file.block_count(), 1u);
  test::flip_byte(path, format::kIndexHeaderSize + file.body.size() / 2);
  expect_rebuilt_on_first_read("00000002.idx", "fails its checksum");
}

TEST_F(DamagedCheckpointTest, IndexFilesOfAnotherStoreAreNotUsed) {
  TempDir other;
  Model other_model;
  ASSERT_NO_FATAL_FAILURE(build(other.path(), other_model, 31, 250));  // the same appends, another store id
  ASSERT_EQ(test::segment_files(other.path()).size(), segments_.size());
  for (const std::string& f : index_files(other.path())) {
    fs::copy_file(f, dir_.sub(fs::path(f).filename().string()), fs::copy_options::overwrite_existing);
  }
  ASSERT_EQ(test::stream_run_files(other.path()).size(), test::stream_run_files(dir_.path()).size());
  for (const std::string& f : test::stream_run_files(other.path())) {
    fs::copy_file(f, dir_.sub(fs::path(f).filename().string()), fs::copy_options::overwrite_existing);
  }
  expect_full_scan("another store");
}

// Recovery cuts a torn tail off the active segment; an index written before
// (at a clean close) then covers a batch the log no longer has.
TEST_F(DamagedCheckpointTest, IndexNewerThanTheLogIsNotUsed) {
  const std::string& active = segments_.back();
  std::vector<uint64_t> offsets = batch_offsets(active, /*is_last=*/true);
  ASSERT_FALSE(offsets.empty()) << "the active segment holds batches";
  fs::resize_file(active, offsets.back());
  const uint64_t cut_first = model_.batches.back().first_position;
  model_.drop_last_batch();
  ASSERT_EQ(model_.size(), cut_first);
  expect_full_scan(fs::path(index_file(dir_.path(), segments_.size())).filename().string());
}

// ---------------------------------------------------------------- stale checkpoints

// Index files left from an earlier close, as a crash of a later session
// leaves them (the background indexer rewrites .idx files and then runs;
// a kill can come between any two of those files, or before the first).
class StaleCheckpointTest : public DamagedCheckpointTest {
 protected:
  void SetUp() override {
    DamagedCheckpointTest::SetUp();
    if (HasFatalFailure()) return;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      std::string name = e.path().filename().string();
      if (is_index_name(name)) old_[name] = test::read_bytes(e.path());
    }
    old_batches_ = model_.batches.size();
    old_end_ = model_.size();
    old_last_ = fs::path(index_file(dir_.path(), segments_.size())).filename().string();  // partial at that close
    auto store = test::open_ok(dir_.path(), small_segments());
    ASSERT_NE(store, nullptr);
    std::mt19937_64 rng(43);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model_, rng, stream_names(60, "s"), 200));
    ASSERT_GE(store->stats().segments, segments_.size() + 2);
    ASSERT_TRUE(store->close().ok());
  }
  void restore(const std::string& name) { test::write_bytes(dir_.sub(name), old_.at(name)); }
  // The directory as it was at the first close: the later runs gone, as
  // after a crash before any of them was written.
  void restore_old_runs() {
    test::remove_stream_runs(dir_.path());
    for (const auto& [name, bytes] : old_) {
      if (format::parse_streams_run_file_name(name)) restore(name);
    }
  }
  // The open uses the old checkpoint, scans exactly the batches after its
  // end, reads as the model and goes on; its close leaves a clean checkpoint.
  void expect_used_from_old_end(uint64_t seed) {
    {
      LogCapture log;
      auto store = log.open(small_segments(), dir_.path());
      ASSERT_NE(store, nullptr);
      EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
      EXPECT_EQ(store->stats().open_indexed_positions, old_end_);
      EXPECT_EQ(store->stats().open_scanned_batches, model_.batches.size() - old_batches_);
      ASSERT_NO_FATAL_FAILURE(check_store(*store, model_, seed));
      std::mt19937_64 rng(seed + 1);
      ASSERT_NO_FATAL_FAILURE(append_batches(*store, model_, rng, stream_names(60, "s"), 60));
      ASSERT_TRUE(store->close().ok());
    }
    ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir_.path(), small_segments(), model_, seed + 2));
  }

  std::map<std::string, std::string> old_;
  uint64_t old_batches_ = 0, old_end_ = 0;
  std::string old_last_;
};

// The old runs and .idx files are all still consistent with the log (it
// only grew): the open uses them and scans from where they end, in the
// middle of the segment that was active then and is sealed now.
TEST_F(StaleCheckpointTest, OlderCheckpointIsUsedAndOnlyTheRestScanned) {
  restore_old_runs();
  for (const auto& [name, bytes] : old_) restore(name);
  ASSERT_NO_FATAL_FAILURE(expect_used_from_old_end(44));
}

// Killed after the once-partial segment's index was rewritten whole, before
// its run was: the newest run ends inside what that index covers. The
// checkpoint is used up to that run's end and the scan resumes there, inside
// that segment.
TEST_F(StaleCheckpointTest, OlderRunsOverANewerSegmentIndexAreUsedUpToTheirEnd) {
  restore_old_runs();
  for (size_t seq = segments_.size() + 1; fs::exists(index_file(dir_.path(), seq)); ++seq) {
    fs::remove(index_file(dir_.path(), seq));  // no run covers the later ones
  }
  ASSERT_NO_FATAL_FAILURE(expect_used_from_old_end(47));
}

// A partial index under runs that cover later segments: its segment
// is sealed now, so the index is rebuilt when the segment is first read.
TEST_F(StaleCheckpointTest, PartialIndexThatIsNotTheLastIndexedIsNotUsed) {
  restore(old_last_);
  expect_rebuilt_on_first_read(old_last_, "partial");
}

// ---------------------------------------------------------------- directory runs

std::vector<format::RunName> run_names(const std::string& dir) {
  std::vector<format::RunName> out;
  for (const std::string& path : test::stream_run_files(dir)) {
    auto name = format::parse_streams_run_file_name(fs::path(path).filename().string());
    EXPECT_TRUE(name.has_value()) << path;
    if (name) out.push_back(*name);
  }
  return out;
}

// After a clean close: runs over segments 1..n - 1 whose sizes at least halve
// from one to the next (so at most log2(n - 1) + 1 of them), then the run of
// the active segment n alone; no other run file.
void expect_run_shape(const std::string& dir, size_t segments) {
  std::vector<format::RunName> runs = run_names(dir);
  ASSERT_GE(runs.size(), 2u);
  uint64_t next = 1;
  for (const format::RunName& r : runs) {
    EXPECT_EQ(r.first_segment, next) << "runs are consecutive";
    next = r.last_segment + 1;
  }
  EXPECT_EQ(runs.back().first_segment, segments);
  EXPECT_EQ(runs.back().last_segment, segments);
  auto size = [](const format::RunName& r) { return r.last_segment - r.first_segment + 1; };
  for (size_t i = 0; i + 2 < runs.size(); ++i) {
    EXPECT_GE(size(runs[i]), 2 * size(runs[i + 1])) << "run " << i;
  }
  EXPECT_LE(runs.size() - 1, static_cast<size_t>(std::bit_width(segments - 1)));
}

// Many segments sealed one at a time: the directory stays a few runs, each
// entry rewritten a few times, not one file rewritten whole at every seal.
TEST(DirectoryRunsTest, RunsStayLogarithmicInTheSegmentsAndReadBackThroughReopens) {
  TempDir dir;
  Model model;
  std::mt19937_64 rng(71);
  auto names = stream_names(30, "r");
  for (int session = 0; session < 3; ++session) {
    {
      auto store = test::open_ok(dir.path(), small_segments());
      ASSERT_NE(store, nullptr);
      ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, names, 700));
      ASSERT_TRUE(store->close().ok());
    }
    size_t segments = test::segment_files(dir.path()).size();
    ASSERT_GE(segments, 12u * (session + 1));
    ASSERT_NO_FATAL_FAILURE(expect_run_shape(dir.path(), segments));
    ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 72 + session));
  }
}

// A crash after a merged run was written and before the runs it replaced
// were removed: both are on disk. The open takes the merged run (the longest
// from each start), reads everything, and the next write removes the rest.
TEST(DirectoryRunsTest, RunsAMergeReplacedAreIgnoredThenRemoved) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 73, 250));
  std::map<std::string, std::string> first_runs;
  for (const std::string& path : test::stream_run_files(dir.path())) {
    first_runs[fs::path(path).filename().string()] = test::read_bytes(path);
  }
  {
    auto store = test::open_ok(dir.path(), small_segments());
    std::mt19937_64 rng(74);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(50, "s"), 400));
    ASSERT_TRUE(store->close().ok());
  }
  std::vector<std::string> current;
  for (const std::string& path : test::stream_run_files(dir.path())) current.push_back(fs::path(path).filename().string());
  size_t restored = 0;
  for (const auto& [name, bytes] : first_runs) {
    if (std::find(current.begin(), current.end(), name) != current.end()) continue;
    test::write_bytes(dir.sub(name), bytes);
    ++restored;
  }
  ASSERT_GT(restored, 0u) << "the second session merged the first one's runs";
  {
    LogCapture log;
    auto store = log.open(small_segments(), dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    EXPECT_EQ(store->stats().open_indexed_positions, model.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 75));
    std::mt19937_64 rng(76);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(50, "s"), 5));
    ASSERT_TRUE(store->close().ok());
  }
  ASSERT_NO_FATAL_FAILURE(expect_run_shape(dir.path(), test::segment_files(dir.path()).size()));
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 77));
}

// A store whose directory is a format version 1 STREAMS file: the open does
// not use it (no run starts at segment 1) and scans the log; the close writes
// runs and removes the old file.
TEST(DirectoryRunsTest, AVersionOneStreamsFileIsReplacedByRuns) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 78, 200));
  std::string old = test::read_bytes(newest_run(dir.path()));
  old[8] = 1;  // a version 1 header (the file's checksums no longer matter: it is never opened)
  test::remove_stream_runs(dir.path());
  test::write_bytes(dir.sub(std::string(format::kLegacyStreamsFileName)), old);
  {
    LogCapture log;
    auto store = log.open(small_segments(), dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_NE(log.line_with("no index checkpoint", "STREAMS-00000001-"), "") << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, model.batches.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 79));
    ASSERT_TRUE(store->close().ok());
  }
  EXPECT_FALSE(fs::exists(dir.sub(std::string(format::kLegacyStreamsFileName))));
  ASSERT_NO_FATAL_FAILURE(expect_run_shape(dir.path(), test::segment_files(dir.path()).size()));
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 80));
}

// A run whose header disagrees with its name, or that does not end where the
// next segment starts, makes the checkpoint unusable: the open scans.
// Rewrites the run file at `path` with its header changed by `change`
// (checksums made good again), under the name the new header gives.
template <typename Change>
void rewrite_run_header(const std::string& dir, const std::string& path, Change change) {
  std::string bytes = test::read_bytes(path);
  format::IndexFile file;
  auto h = format::decode_streams_header(bytes, path, file);
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  change(*h);
  fs::remove(path);
  test::write_bytes(dir + "/" + format::streams_run_file_name(h->first_segment, h->last_segment),
                    format::seal_index_file(format::encode_streams_header(*h), file.body));
}

// A well-formed run that does not fit the log: the open names the run and
// what is wrong, and scans.
void expect_run_refused(const std::string& dir, Model& model, const std::string& why) {
  LogCapture log;
  auto store = log.open(small_segments(), dir);
  ASSERT_NE(store, nullptr);
  EXPECT_NE(log.line_with("index checkpoint not used", why), "") << log.joined();
  EXPECT_EQ(store->stats().open_scanned_batches, model.batches.size());
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 83));
}

TEST(DirectoryRunsTest, ARunEndingElsewhereThanItsNextSegmentStartsIsNotUsed) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 84, 250));
  auto runs = test::stream_run_files(dir.path());
  ASSERT_GE(runs.size(), 2u);
  ASSERT_NO_FATAL_FAILURE(rewrite_run_header(dir.path(), runs.front(), [](format::StreamsHeader& h) { ++h.end_position; }));
  ASSERT_NO_FATAL_FAILURE(expect_run_refused(dir.path(), model, "starts at"));
}

TEST(DirectoryRunsTest, ARunPastTheLastSegmentIsNotUsed) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 85, 250));
  size_t segments = test::segment_files(dir.path()).size();
  std::string newest = newest_run(dir.path());
  ASSERT_NO_FATAL_FAILURE(rewrite_run_header(dir.path(), newest, [](format::StreamsHeader& h) { ++h.last_segment; }));
  ASSERT_NO_FATAL_FAILURE(expect_run_refused(dir.path(), model,
                                             "covers segments up to " + std::to_string(segments + 1) +
                                                 ", the log has " + std::to_string(segments)));
}

TEST(DirectoryRunsTest, ARunNamedForOtherSegmentsIsNotUsed) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 81, 250));
  auto runs = test::stream_run_files(dir.path());
  ASSERT_GE(runs.size(), 2u);
  auto first = format::parse_streams_run_file_name(fs::path(runs.front()).filename().string());
  ASSERT_TRUE(first.has_value());
  // The oldest run renamed as if it ended one segment earlier.
  ASSERT_GT(first->last_segment, 1u);
  fs::rename(runs.front(), dir.sub(format::streams_run_file_name(1, first->last_segment - 1)));
  ASSERT_NO_FATAL_FAILURE(expect_run_refused(
      dir.path(), model, "its header says it covers segments 1 to " + std::to_string(first->last_segment)));
}

TEST(IndexCheckpointTest, EmptyStoreAndEmptyActiveSegment) {
  TempDir dir;
  Model model;
  { auto store = test::open_ok(dir.path(), small_segments()); }
  ASSERT_EQ(test::stream_run_files(dir.path()), std::vector<std::string>{dir.sub(format::streams_run_file_name(1, 1))});
  {
    LogCapture log;
    auto store = log.open(small_segments(), dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    EXPECT_EQ(store->stats().open_indexed_positions, 0u);
    EXPECT_EQ(store->next_position(), 0u);
    auto all = store->read_all(0, SIZE_MAX);
    ASSERT_TRUE(all.ok()) << all.status().to_string();
    EXPECT_TRUE(all->empty());
    std::mt19937_64 rng(47);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(20, "e"), 150));
  }
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 48));
}

// A damaged body block that open does not read. With 1 MiB segments of
// one-event batches, a sealed segment's index body spans several 64 KiB
// blocks: block 0 holds the first 4096 batch entries, the bitmaps lie in the
// last block(s). A byte flipped in block 0 passes every check open makes
// (header, block table, footer, bitmaps), so the open uses the checkpoint
// and logs nothing. Then, exactly:
//   - a read whose lookup touches block 0 (read_all at the segment's first
//     position, a read_all over the whole store) fails with kCorruption
//     naming the index file ("index block checksum mismatch"); no read
//     returns a wrong event: every read that succeeds equals the model;
//   - a lookup that stays out of block 0 (the segment's last position: the
//     binary search over more than 8192 batches never probes below the
//     middle one) and every stream_version (answered by the runs) are correct;
//   - verify_on_open = true reads everything correctly, and its close
//     rewrites every index file: the next default open uses the checkpoint
//     again and reads everything correctly.
// 1 MiB segments of one-event batches until segment 1 is sealed and a
// few hundred batches are in segment 2; closes.
void build_large(const std::string& dir, Model& model, const Options& o) {
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("L-" + std::to_string(i));
  auto store = test::open_ok(dir, o);
  ASSERT_NE(store, nullptr);
  std::mt19937_64 rng(77);
  bool rolled = false;
  for (int i = 0, after = 0; after < 300; ++i) {
    if (!rolled && i % 50 == 0) rolled = test::segment_files(dir).size() >= 2;
    if (rolled) ++after;
    std::vector<EventSpec> specs(1);
    for (auto& b : specs[0].id.bytes) b = static_cast<uint8_t>(rng());
    specs[0].type = "T";
    specs[0].data = std::string(rng() % 8, 'd');
    specs[0].metadata = "";
    const std::string& stream = names[rng() % names.size()];
    auto r = store->append(stream, ExpectedVersion::any(), test::views(specs));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    model.add(stream, specs);
  }
  ASSERT_TRUE(store->close().ok());
}

// Flips a byte in block 0 (the batch entries) of segment 1's index, which has
// several blocks; returns segment 1's end position.
uint64_t damage_first_block(const std::string& index_path) {
  std::string bytes = test::read_bytes(index_path);
  format::IndexFile file;
  auto header = format::decode_segment_index_header(bytes, index_path, file);
  EXPECT_TRUE(header.ok()) << header.status().to_string();
  if (!header.ok()) return 0;
  EXPECT_TRUE(header->sealed());
  EXPECT_GE(file.block_count(), 3u);
  EXPECT_GT(header->batch_count, 8192u);
  test::flip_byte(index_path, format::kIndexHeaderSize + 1000);  // batch entry 62
  return header->first_position + header->event_count;
}

Options large_segments() {
  Options o = small_segments();
  o.segment_bytes = 1 << 20;
  return o;
}

TEST(IndexCheckpointTest, LargeIndexBlockDamagedAfterOpenChecks) {
  TempDir dir;
  Model model;
  const Options o = large_segments();
  ASSERT_NO_FATAL_FAILURE(build_large(dir.path(), model, o));
  const std::string path = index_file(dir.path(), 1);
  const uint64_t seg_end = damage_first_block(path);  // segment 1: positions [0, seg_end)
  ASSERT_FALSE(::testing::Test::HasFailure());
  {
    // Segment 1 is deferred: the open reads neither it nor its index. Its
    // first read loads the index, whose blocks fail verification, so the
    // index is rebuilt from the segment: no read sees the damage.
    LogCapture log;
    Options d = o;
    log.attach(d);
    auto store = test::open_ok(dir.path(), d);
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    EXPECT_EQ(store->stats().open_indexed_positions, model.size());
    EXPECT_EQ(store->stats().open_deferred_segments, 1u);
    EXPECT_FALSE(log.contains("rebuilding")) << log.joined();
    auto r = store->read_all(seg_end - 1, 2);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE(same_events(*r, model, {seg_end - 1, seg_end}));
    EXPECT_NE(log.line_with("00000001.idx", "fails its checksum"), "") << log.joined();
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 78));
  }
  {
    Options v = o;
    v.verify_on_open = true;
    auto store = test::open_ok(dir.path(), v);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->stats().open_scanned_batches, model.batches.size());
    EXPECT_EQ(store->stats().open_deferred_segments, 0u);
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 79));
    ASSERT_TRUE(store->close().ok());
  }
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), o, model, 80));
}

// After the damage of LargeIndexBlockDamagedAfterOpenChecks, which the open
// cannot see: appends go on (the idempotency window is read from the log's
// frames, after loading segment 1's index, which is rebuilt), and the close
// writes the file anew: the next open reads everything.
TEST(IndexCheckpointTest, LargeIndexBlockDamagedAfterOpenChecksDoesNotStopAppends) {
  TempDir dir;
  Model model;
  const Options o = large_segments();
  ASSERT_NO_FATAL_FAILURE(build_large(dir.path(), model, o));
  damage_first_block(index_file(dir.path(), 1));
  ASSERT_FALSE(::testing::Test::HasFailure());
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_NE(store, nullptr);
    std::mt19937_64 rng(81);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, stream_names(10, "after"), 5));
    ASSERT_TRUE(store->close().ok());
  }
  auto store = test::open_ok(dir.path(), o);
  ASSERT_NE(store, nullptr);
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 82));
}

// ---------------------------------------------------------------- 4. a killed writer

// The batches the child appends: a pure function of the seed, so the parent
// can rebuild what the child wrote from how many batches it acknowledged.
std::pair<std::string, std::vector<EventSpec>> crash_batch(std::mt19937_64& rng, const std::vector<std::string>& names) {
  std::string stream = names[rng() % names.size()];
  return {stream, random_batch(rng)};
}

TEST(IndexCheckpointCrashTest, KilledWriterReopensFromTheSealedSegmentsCheckpointAndScansTheRest) {
  TempDir dir;
  constexpr uint64_t kSeed = 4242;
  const std::vector<std::string> names = stream_names(50, "k");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: no gtest here; failures are exit codes.
    ::close(fds[0]);
    Options o = small_segments(Durability::kSync);
    o.info_log = [](std::string_view) {};
    auto opened = Store::open(dir.path(), o);
    if (!opened.ok()) ::_exit(2);
    Store& store = **opened;
    std::mt19937_64 rng(kSeed);
    uint64_t batches = 0, events = 0;
    auto append_one = [&] {
      auto [stream, specs] = crash_batch(rng, names);
      auto r = store.append(stream, ExpectedVersion::any(), test::views(specs));
      if (!r.ok() || r->first_position != events) ::_exit(3);
      ++batches;
      events += specs.size();
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    // At least 3 sealed segments, and the indexer has written a directory run.
    while (store.stats().segments < 4 || streams_file(dir.path()).empty()) {
      if (std::chrono::steady_clock::now() > deadline) ::_exit(4);
      if (store.stats().segments < 4) append_one();
      else std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    uint64_t target = events + 300;
    while (events < target) append_one();
    uint64_t acked[2] = {batches, events};
    if (::write(fds[1], acked, sizeof acked) != static_cast<ssize_t>(sizeof acked)) ::_exit(5);
    ::_exit(0);  // no close, no destructors: the index of the active segment is never written
  }
  ::close(fds[1]);
  uint64_t acked[2] = {0, 0};
  ssize_t got = ::read(fds[0], acked, sizeof acked);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof acked));
  const uint64_t batches = acked[0];
  const uint64_t events = acked[1];

  Model model;
  std::mt19937_64 rng(kSeed);
  for (uint64_t i = 0; i < batches; ++i) {
    auto [stream, specs] = crash_batch(rng, names);
    model.add(stream, specs);
  }
  ASSERT_EQ(model.size(), events);
  ASSERT_GE(test::segment_files(dir.path()).size(), 4u);

  {
    LogCapture log;
    auto store = log.open(small_segments(), dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_FALSE(log.contains("index checkpoint")) << log.joined();
    StoreStats st = store->stats();
    EXPECT_GT(st.open_scanned_batches, 0u) << "the active segment was never indexed";
    EXPECT_LT(st.open_scanned_batches, batches) << "the sealed segments' index spares their scan";
    EXPECT_GT(st.open_indexed_positions, 0u);
    EXPECT_LT(st.open_indexed_positions, events);
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 1));
    // It goes on appending from there; a clean close then indexes everything.
    std::mt19937_64 more(kSeed + 1);
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, more, names, 50));
    ASSERT_TRUE(store->close().ok());
  }
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 2));
}

// ---------------------------------------------------------------- 5. read-only

TEST(IndexCheckpointTest, ReadOnlyOpenReadsTheCheckpointLikeAWritableOpenAndWritesNothing) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 55, 250));
  ASSERT_GE(test::segment_files(dir.path()).size(), 4u);
  auto before = snapshot(dir.path());
  ASSERT_FALSE(test::stream_run_files(dir.path()).empty());

  Transcript read_only, writable;
  {
    Options o = small_segments();
    o.read_only = true;
    auto store = test::open_ok(dir.path(), o);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    EXPECT_EQ(store->stats().open_indexed_positions, model.size());
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 5, &read_only));
    auto events = test::make_events(1);
    EXPECT_EQ(store->append("Order-x", ExpectedVersion::any(), test::views(events)).status().code(),
              Code::kReadOnly);
    EXPECT_TRUE(store->close().ok());
  }
  EXPECT_TRUE(snapshot(dir.path()) == before) << "a read-only open changed the directory";
  {
    auto store = test::open_ok(dir.path(), small_segments());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 5, &writable));
  }
  EXPECT_TRUE(read_only == writable);
}

TEST(IndexCheckpointTest, ReadOnlyOpenOfADamagedCheckpointScansAndRepairsNothing) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 56, 200));
  test::flip_byte(streams_file(dir.path()), 40);
  auto before = snapshot(dir.path());
  Options o = small_segments();
  o.read_only = true;
  LogCapture log;
  log.attach(o);
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_NE(store, nullptr);
    EXPECT_NE(log.line_with("index checkpoint", "STREAMS-00000001-"), "") << log.joined();
    EXPECT_EQ(store->stats().open_scanned_batches, model.batches.size());
    EXPECT_EQ(store->stats().open_indexed_positions, 0u);
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 6));
  }
  EXPECT_TRUE(snapshot(dir.path()) == before) << "a read-only open changed the directory";
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// ---------------------------------------------------------------- 6. hand-over

// A store that keeps appending hands each sealed segment's batches over to
// its index files (adopted at the next roll): the in-memory index stays
// about a couple of segments long however much is written, and every read
// stays exact while the lookups move from memory to the files.
TEST(IndexCheckpointTest, SealedSegmentsMoveFromMemoryToTheIndexFiles) {
  TempDir dir;
  Model model;
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  std::mt19937_64 rng(99);
  const auto names = stream_names(40, "h");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  // Keep appending until the indexer has caught up at least once and the
  // store has rolled since: then most batches live in the files only.
  while (store->stats().segments < 12 ||
         store->stats().memory_indexed_batches * 2 > model.batches.size()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "memory_indexed_batches " << store->stats().memory_indexed_batches << " of " << model.batches.size();
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, names, 20));
  }
  EXPECT_LT(store->stats().memory_indexed_batches, model.batches.size() / 2);
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 100));
  // Appends to streams whose earlier versions are only in the files continue them.
  ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, names, 50));
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 101));
  ASSERT_TRUE(store->close().ok());
  store.reset();
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 102));
}

// Adopting a checkpoint at a roll trims the streams' in-memory positions a
// few streams per batch indexed after it, and the position index lets go of
// the checkpoint's batches only when every stream is done. With a few
// thousand streams holding positions the trim is still under way right
// after a roll: reads (every stream, both directions, read_all windows) and
// retries of batches the checkpoint covers, made then, must be exact. A
// roll counts once the in-memory batch count shows the drop ending in a
// later append (it falls), so the checks did run mid-drop.
TEST(IndexCheckpointTest, ReadsAndRetriesStayExactWhileACheckpointIsTrimmedIn) {
  TempDir dir;
  Model model;
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  std::mt19937_64 rng(1414);
  const auto names = stream_names(600, "t");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  uint64_t segments = store->stats().segments;
  int checked_mid_drop = 0;
  while (checked_mid_drop < 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "checked mid-drop " << checked_mid_drop << " times";
    ASSERT_EQ(append_random(*store, model, rng, names, /*try_wrong=*/false), "");
    StoreStats st = store->stats();
    if (st.segments == segments) continue;
    segments = st.segments;
    if (segments < 4) continue;
    ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 1400 + segments));
    // Retries of batches from the first segment to the one just sealed (all
    // inside the id window): found through the in-memory batches or the
    // files, wherever they are now.
    for (size_t k = 0; k < 4; ++k) {
      size_t b = (model.batches.size() - 1) * k / 4;
      auto [stream, specs] = model.batch_specs(b);
      auto r = store->append(stream, ExpectedVersion::no_stream(), test::views(specs));
      ASSERT_TRUE(r.ok()) << "batch " << b << ": " << r.status().to_string();
      EXPECT_TRUE(r->deduplicated) << "batch " << b;
      EXPECT_EQ(r->first_position, model.batches[b].first_position) << "batch " << b;
      EXPECT_EQ(r->first_version, model.events[model.batches[b].first_position].version) << "batch " << b;
    }
    // Until the next roll: a drop that ends in one of these appends (the
    // in-memory batches fall) was under way during the checks above.
    uint64_t before = store->stats().memory_indexed_batches;
    while (true) {
      ASSERT_EQ(append_random(*store, model, rng, names, false), "");
      StoreStats now = store->stats();
      if (now.segments != segments) break;
      if (now.memory_indexed_batches <= before) {
        ++checked_mid_drop;
        break;
      }
      before = now.memory_indexed_batches;
    }
  }
  ASSERT_NO_FATAL_FAILURE(check_store(*store, model, 1499));
  ASSERT_TRUE(store->close().ok());
  store.reset();
  ASSERT_NO_FATAL_FAILURE(expect_clean_open(dir.path(), small_segments(), model, 1498));
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// Closing a store nothing was appended to leaves its index files as they
// are: the checkpoint the open loaded already covers the whole log.
TEST(IndexCheckpointCloseTest, ACloseWithNothingAppendedRewritesNoIndexFile) {
  test::TempDir dir;
  Options o;
  o.segment_bytes = 64 << 10;
  auto specs = test::make_events(400, "idle");
  for (auto& spec : specs) spec.data += std::string(300, 'x');  // several segments
  {
    auto store = test::open_ok(dir.path(), o);
    for (size_t i = 0; i < specs.size(); i += 8) {
      std::vector<test::EventSpec> eight(specs.begin() + i, specs.begin() + i + 8);
      ASSERT_TRUE(store->append("S-" + std::to_string(i % 5), ExpectedVersion::any(), test::views(eight)).ok());
    }
  }
  auto identities = [&] {
    std::map<std::string, std::pair<ino_t, int64_t>> out;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      std::string name = e.path().filename().string();
      if (!is_index_name(name)) continue;
      struct stat st {};
      EXPECT_EQ(::stat(e.path().c_str(), &st), 0);
      out[name] = {st.st_ino, st.st_mtim.tv_sec * 1'000'000'000 + st.st_mtim.tv_nsec};
    }
    return out;
  };
  auto before = identities();
  ASSERT_GE(before.size(), 3u);
  {
    auto store = test::open_ok(dir.path(), o);
    EXPECT_EQ(store->stats().open_scanned_batches, 0u);
    ASSERT_TRUE(store->close().ok());
  }
  EXPECT_EQ(identities(), before);
  {  // one more event: the close writes the active segment's index and its run again
    auto store = test::open_ok(dir.path(), o);
    ASSERT_TRUE(store->append("S-0", ExpectedVersion::any(), test::views(test::make_events(1, "more"))).ok());
  }
  auto after = identities();
  std::string last_run = fs::path(newest_run(dir.path())).filename().string();
  ASSERT_TRUE(before.count(last_run));
  EXPECT_NE(after.at(last_run), before.at(last_run));
  auto store = test::open_ok(dir.path(), o);
  EXPECT_EQ(store->stats().open_scanned_batches, 0u);
  EXPECT_EQ(store->next_position(), specs.size() + 1);
}


// ---------------------------------------------------------------- 6. index files from memory

// The in-memory indexes hold what a segment's index file is made of
// (Log::segment_contents), so the indexer need not read the segment again.

// The index a scan of segment `i` (ordinal) makes, over its bytes below `end`.
std::string scanned_index(const engine::Segment& segment, size_t i, uint64_t end, const format::StoreId& id,
                          bool sealed) {
  auto built = engine::build_segment_index(segment, end, id, i + 1, '-', sealed);
  EXPECT_TRUE(built.ok()) << built.status().to_string();
  return built.ok() ? built->bytes : "";
}

uint64_t first_position_of(const engine::Segment& segment) {
  auto header = format::decode_segment_header(segment.bytes(0, format::kSegmentHeaderSize), segment.path());
  EXPECT_TRUE(header.ok());
  return header.ok() ? header->first_position : 0;
}

TEST(IndexFromMemoryTest, SegmentContentsMakeTheIndexFileAScanMakesByteForByte) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 61, 400));
  // Without index files the open reads every batch into the in-memory indexes.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (is_index_name(e.path().filename().string())) fs::remove(e.path());
  }
  auto recovered = engine::recover(engine::posix_file_system(), dir.path(), small_segments());
  ASSERT_TRUE(recovered.ok()) << recovered.status().to_string();
  ASSERT_EQ(recovered->scanned_batches, model.batches.size());
  const engine::Log& log = *recovered->log;
  const format::StoreId& id = recovered->identity.store_id;
  auto segments = log.segments();
  ASSERT_GE(segments.size(), 5u);
  for (size_t i = 0; i < segments.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i + 1));
    bool sealed = i + 1 < segments.size();
    ASSERT_EQ(segments[i]->sealed_end() > 0, sealed);
    uint64_t end = sealed ? segments[i]->sealed_end() : recovered->active.data_end;
    uint64_t data_end = sealed ? end - format::kFooterFrameSize : end;
    auto contents = log.segment_contents(static_cast<uint32_t>(i), data_end);
    ASSERT_TRUE(contents.has_value());
    EXPECT_GT(contents->batches.size(), 0u);
    std::string from_memory = index::build_segment_index(id, i + 1, first_position_of(*segments[i]), *contents, sealed);
    EXPECT_EQ(from_memory, scanned_index(*segments[i], i, end, id, sealed));
    // Not every batch indexed in memory, or not a batch's end: no contents
    // (the indexer scans instead). A prefix's bitmaps would cover too much.
    const index::BatchLocation& third = contents->batches.at(2);
    EXPECT_FALSE(log.segment_contents(static_cast<uint32_t>(i), third.offset + third.frame_size).has_value());
    EXPECT_FALSE(log.segment_contents(static_cast<uint32_t>(i), third.offset + 8).has_value());
    EXPECT_FALSE(log.segment_contents(static_cast<uint32_t>(i), data_end + 8).has_value());
  }
  EXPECT_FALSE(log.segment_contents(static_cast<uint32_t>(segments.size()), format::kSegmentHeaderSize).has_value());
}

// A segment file read on its own: where its batches end, and whether a footer follows.
struct SegmentFile {
  std::unique_ptr<engine::Segment> segment;
  uint64_t data_end = 0;
  bool sealed = false;
};

std::vector<SegmentFile> segment_files(const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<SegmentFile> out;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string bytes = test::read_bytes(paths[i]);
    auto scan = format::scan_segment(bytes, paths[i], format::ScanOptions{i + 1 == paths.size()},
                                     [](const format::ScannedBatch&) { return Status(); });
    EXPECT_TRUE(scan.ok()) << scan.status().to_string();
    auto segment = engine::Segment::open(engine::posix_file_system(), paths[i], /*read_only=*/true, bytes.size());
    EXPECT_TRUE(segment.ok()) << segment.status().to_string();
    if (!scan.ok() || !segment.ok()) return {};
    out.push_back({std::move(*segment), scan->data_end, scan->footer.has_value()});
  }
  return out;
}

TEST(IndexFromMemoryTest, SegmentsTheCheckpointHoldsHaveNoContentsInMemory) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 62, 300));
  auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 3u);
  auto recovered = engine::recover(engine::posix_file_system(), dir.path(), small_segments());
  ASSERT_TRUE(recovered.ok()) << recovered.status().to_string();
  ASSERT_EQ(recovered->scanned_batches, 0u) << "the clean close's checkpoint covers the whole log";
  // Their batches are in the index files only.
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_FALSE(recovered->log->segment_contents(static_cast<uint32_t>(i), files[i].data_end).has_value()) << i;
  }
}

// What the indexer writes, at each seal (from memory) and at close, is what
// a scan of the segment makes.
TEST(IndexFromMemoryTest, IndexFilesWrittenWhileAppendingMatchAScanOfTheirSegments) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 63, 500));
  auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 5u);
  auto header = format::decode_segment_header(files[0].segment->bytes(0, format::kSegmentHeaderSize), "first");
  ASSERT_TRUE(header.ok());
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE("segment " + std::to_string(i + 1));
    ASSERT_EQ(files[i].sealed, i + 1 < files.size());
    uint64_t end = files[i].data_end + (files[i].sealed ? format::kFooterFrameSize : 0);
    EXPECT_EQ(test::read_bytes(index_file(dir.path(), i + 1)),
              scanned_index(*files[i].segment, i, end, header->store_id, files[i].sealed));
  }
}


TEST(IndexFromMemoryTest, ContentHashCheckFindsABatchByteChangedInTheFile) {
  TempDir dir;
  Model model;
  ASSERT_NO_FATAL_FAILURE(build(dir.path(), model, 64, 300));
  auto files = segment_files(dir.path());
  ASSERT_GE(files.size(), 2u);
  files[0].segment->set_sealed_end(files[0].data_end + format::kFooterFrameSize);
  EXPECT_TRUE(engine::check_content_hash(*files[0].segment).ok());
  std::string path = files[0].segment->path();
  std::string bytes = test::read_bytes(path);
  bytes[format::kSegmentHeaderSize + 100] ^= 0x20;
  test::write_bytes(path, bytes);
  auto reopened = engine::Segment::open(engine::posix_file_system(), path, /*read_only=*/true, bytes.size());
  ASSERT_TRUE(reopened.ok());
  (*reopened)->set_sealed_end(files[0].data_end + format::kFooterFrameSize);
  Status s = engine::check_content_hash(**reopened);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(path + " at offset 64"), std::string::npos) << s.message();
}

// A batch changed in the file after it was written (here by the test, in
// the page cache the store's mapping shares) is caught when its segment is
// sealed: the indexer does not vouch for it from memory, and the scan it
// falls back to names the damage. The store's reads of other batches go on.
TEST(IndexFromMemoryTest, ABatchChangedInTheFileBeforeTheSealIsNotIndexedFromMemory) {
  TempDir dir;
  LogCapture log;
  Options o = small_segments();
  auto store = log.open(o, dir.path());
  ASSERT_NE(store, nullptr);
  auto specs = test::make_events(3, "first");
  ASSERT_TRUE(store->append("victim", ExpectedVersion::any(), test::views(specs)).ok());
  Model model;
  model.add("victim", specs);
  std::string path = segment_files(dir.path()).at(0).segment->path();
  {
    // Flip a byte of the first batch's data, through a write call.
    int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, format::kSegmentHeaderSize + 120), 1);
    c ^= 0x01;
    ASSERT_EQ(::pwrite(fd, &c, 1, format::kSegmentHeaderSize + 120), 1);
    ::close(fd);
  }
  // Fill the segment so that it is sealed and indexed.
  std::mt19937_64 rng(65);
  const auto names = stream_names(10, "x");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!log.contains("indexing from memory refused")) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << log.joined();
    ASSERT_NO_FATAL_FAILURE(append_batches(*store, model, rng, names, 5));
  }
  std::string refused = log.line_with("indexing from memory refused", "content hash");
  EXPECT_NE(refused.find(path + " at offset 64"), std::string::npos) << log.joined();
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (log.line_with("index checkpoint of segment 1 failed", path).empty()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << log.joined();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto victim = store->read_stream("victim", 0, 10);
  EXPECT_EQ(victim.status().code(), Code::kCorruption) << "the damaged batch is refused when read";
}

// ---------------------------------------------------------------- 7. cached segments

// Records which files are asked to leave the page cache.
class DropWatcher final : public engine::ForwardingFileSystem {
 public:
  using ForwardingFileSystem::ForwardingFileSystem;
  Result<std::unique_ptr<engine::File>> open(const std::string& path, engine::OpenMode mode) override;
  void dropped(const std::string& path) {
    std::lock_guard lock(mu_);
    dropped_.push_back(fs::path(path).filename().string());
  }
  std::vector<std::string> drops() {
    std::lock_guard lock(mu_);
    return dropped_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dropped_;
};

class DropRecordingFile final : public engine::File {
 public:
  DropRecordingFile(std::unique_ptr<engine::File> base, DropWatcher& watcher) : base_(std::move(base)), watcher_(watcher) {}
  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override { return base_->write_at(offset, parts); }
  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override { return base_->read_at(offset, buf, n); }
  Status sync() override { return base_->sync(); }
  Status drop_from_cache() override {
    watcher_.dropped(base_->path());
    return base_->drop_from_cache();
  }
  Status truncate(uint64_t size) override { return base_->truncate(size); }
  Result<uint64_t> size() const override { return base_->size(); }
  Result<std::shared_ptr<engine::Mapping>> map(uint64_t length) const override { return base_->map(length); }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<engine::File> base_;
  DropWatcher& watcher_;
};

Result<std::unique_ptr<engine::File>> DropWatcher::open(const std::string& path, engine::OpenMode mode) {
  auto file = base_.open(path, mode);
  if (!file.ok() || mode != engine::OpenMode::kRead) return file;
  return std::unique_ptr<engine::File>(std::make_unique<DropRecordingFile>(std::move(*file), *this));
}

// With cached_sealed_segments = K, sealing and indexing segment N drops
// segment N - K from the page cache, oldest first; with 0 nothing is
// dropped. Reads of the dropped segments still return every event.
TEST(CachedSegmentsTest, OlderSealedSegmentsAreDroppedFromThePageCache) {
  for (uint32_t keep : {2u, 0u}) {
    SCOPED_TRACE("cached_sealed_segments " + std::to_string(keep));
    TempDir dir;
    DropWatcher watcher(engine::posix_file_system());
    Options o = small_segments();
    o.cached_sealed_segments = keep;
    Model model;
    std::mt19937_64 rng(70 + keep);
    {
      auto store = engine::open_store(watcher, dir.path(), o);
      ASSERT_TRUE(store.ok()) << store.status().to_string();
      ASSERT_NO_FATAL_FAILURE(append_batches(**store, model, rng, stream_names(20, "c"), 300));
      ASSERT_NO_FATAL_FAILURE(check_store(**store, model, 71));
    }  // the close waits for the indexer
    std::vector<std::string> segments;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      if (e.path().extension() == ".seg") segments.push_back(e.path().filename().string());
    }
    std::sort(segments.begin(), segments.end());
    ASSERT_GE(segments.size(), 5u);
    std::vector<std::string> want;
    if (keep > 0) want.assign(segments.begin(), segments.end() - 1 - keep);  // the last one is active
    EXPECT_EQ(watcher.drops(), want);
  }
}

// A byte flipped in the body of a stream directory run (derived data),
// found only when the open's scan of the log after the checkpoint looks a
// stream up: the open must not fail blaming a healthy segment, nor (with
// open_intact_prefix) hide acknowledged events. It opens again with the
// whole log scanned. (Found by a review in session 15.)
TEST(DamagedRunBodyTest, TheOpenScansTheLogInsteadOfFailing) {
  TempDir dir;
  Options o;
  o.segment_bytes = 64 << 10;
  o.durability = Durability::kNone;
  o.info_log = [](std::string_view) {};
  auto is_index = [](const std::string& n) {
    return n.rfind("STREAMS-", 0) == 0 || (n.size() > 4 && n.substr(n.size() - 4) == ".idx");
  };
  auto save_index_files = [&] {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      std::string n = e.path().filename().string();
      if (is_index(n) && n.find(".tmp") == std::string::npos) out[n] = test::read_bytes(e.path().string());
    }
    return out;
  };
  auto restore_index_files = [&](const std::map<std::string, std::string>& files) {
    for (const auto& e : fs::directory_iterator(dir.path())) {
      if (is_index(e.path().filename().string())) fs::remove(e.path());
    }
    for (const auto& [n, b] : files) test::write_bytes(dir.path() + "/" + n, b);
    fs::remove(dir.path() + "/CLEAN");
  };
  std::vector<EventSpec> all;
  auto append_some = [&](Store& store, int n) {
    for (int i = 0; i < n; ++i) {
      auto specs = test::make_events(1 + all.size() % 3, "b" + std::to_string(all.size()));
      ASSERT_TRUE(store.append("s-" + std::to_string(i % 20), ExpectedVersion::any(), test::views(specs)).ok());
      all.insert(all.end(), specs.begin(), specs.end());
    }
  };
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_TRUE(store);
    append_some(*store, 400);
  }
  auto checkpoint = save_index_files();
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_TRUE(store);
    append_some(*store, 30);  // after the checkpoint
  }
  // As a kill before the close's index writes leaves it: the older
  // checkpoint (a prefix of the log) and no clean-close record; then one
  // byte of the newest run's body flipped.
  restore_index_files(checkpoint);
  std::vector<std::string> runs = test::stream_run_files(dir.path());
  ASSERT_FALSE(runs.empty());
  test::flip_byte(runs.back(), format::kIndexHeaderSize + 8);
  auto check = [&](Store& store) {
    ASSERT_EQ(store.next_position(), all.size());
    auto read = store.read_all(0, SIZE_MAX);
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(read->size(), all.size());
    for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ((*read)[i].data, all[i].data) << i;
  };
  Options prefix = o;
  prefix.open_intact_prefix = true;
  {
    auto store = Store::open(dir.path(), prefix);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    ASSERT_NO_FATAL_FAILURE(check(**store));
    auto more = test::make_events(1, "after");
    ASSERT_TRUE((*store)->append("s-0", ExpectedVersion::any(), test::views(more)).ok()) << "opened read-only";
    all.insert(all.end(), more.begin(), more.end());
  }
  restore_index_files(checkpoint);
  test::flip_byte(test::stream_run_files(dir.path()).back(), format::kIndexHeaderSize + 8);
  auto store = Store::open(dir.path(), o);
  ASSERT_TRUE(store.ok()) << "a damaged derived file refused the open: " << store.status().to_string();
  ASSERT_NO_FATAL_FAILURE(check(**store));
}

// The same damage after a clean close (the open scans nothing): appends to
// streams the session has not loaded yet, new ones and old ones, still go
// through, at the right versions (from the segments' own indexes), and the
// stream reads back whole after a reopen.
TEST(DamagedRunBodyTest, AppendsGoOnAfterACleanOpen) {
  TempDir dir;
  Options o;
  o.segment_bytes = 64 << 10;
  o.info_log = [](std::string_view) {};
  std::map<std::string, std::vector<EventSpec>> written;
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_TRUE(store);
    for (int i = 0; i < 400; ++i) {
      std::string stream = "s-" + std::to_string(i % 20);
      auto specs = test::make_events(1 + i % 3, "b" + std::to_string(i));
      ASSERT_TRUE(store->append(stream, ExpectedVersion::any(), test::views(specs)).ok());
      written[stream].insert(written[stream].end(), specs.begin(), specs.end());
    }
  }
  std::vector<std::string> runs = test::stream_run_files(dir.path());
  ASSERT_FALSE(runs.empty());
  test::flip_byte(runs.back(), format::kIndexHeaderSize + 8);
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_TRUE(store);
    auto fresh = test::make_events(2, "new");
    auto r = store->append("brand-new-stream", ExpectedVersion::no_stream(), test::views(fresh));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->first_version, 0u);
    written["brand-new-stream"] = fresh;
    for (int i = 0; i < 20; ++i) {
      std::string stream = "s-" + std::to_string(i);
      auto more = test::make_events(1, "more" + std::to_string(i));
      auto next = ExpectedVersion::exactly(written[stream].size() - 1);
      auto appended = store->append(stream, next, test::views(more));
      ASSERT_TRUE(appended.ok()) << stream << ": " << appended.status().to_string();
      EXPECT_EQ(appended->first_version, written[stream].size()) << stream;
      written[stream].insert(written[stream].end(), more.begin(), more.end());
    }
  }
  auto store = test::open_ok(dir.path(), o);
  ASSERT_TRUE(store);
  for (const auto& [stream, specs] : written) {
    auto read = store->read_stream(stream, 0, SIZE_MAX);
    ASSERT_TRUE(read.ok()) << stream << ": " << read.status().to_string();
    ASSERT_EQ(read->size(), specs.size()) << stream;
    for (size_t v = 0; v < specs.size(); ++v) {
      ASSERT_EQ((*read)[v].version, v) << stream;
      ASSERT_EQ((*read)[v].data, specs[v].data) << stream << " " << v;
    }
  }
}
}  // namespace
}  // namespace cairn
