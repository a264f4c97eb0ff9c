// index/: the stream directory, a stack of runs (STREAMS-FFFFFFFF-LLLLLLLL)
// oldest first. Runs are built from the segment indexes of a store modelled
// here and checked against that model, computed from the store's batches
// alone: which run is the newest holding each stream, its version count and
// last position as of that run, and the segment of every version. Several
// layouts of runs (one run, one run per segment, a segment indexed in part in
// an older run and whole in a newer one), runs missing below a stream's
// newest run, and a damaged older run.
#include "index/stream_directory.h"

#include "format/format_test_util.h"
#include "format/index_file.h"
#include "index/segment_index.h"
#include "index/stream_run.h"
#include "index_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::index {
namespace {

using format::test_util::SequentialId;
using test_util::BuildSegment;
using test_util::ModelBatch;
using test_util::Plan;
using test_util::Segment;

const format::StoreId kStoreId = SequentialId(0x53).bytes;

uint64_t ConstantHash(std::string_view) { return 0x5eed5eed5eedull; }

// ------------------------------------------------------------------ store

// Six segments; some streams placed by hand:
//   "everywhere"    every segment, at its start and its end
//   "first-only"    segments 1 and 2 only
//   "newest-only"   segment 6 only
//   "one-and-five"  segments 1 and 5 only
//   "early-in-two"  only the first batch of segment 2
//   "late-in-two"   only the last batch of segment 2
struct Store {
  std::vector<std::string> names;  // every stream name, and some absent ones after them
  std::vector<Segment> segments;   // segments[i] has sequence i + 1
};

constexpr uint64_t kSegments = 6;

Store MakeStore(uint64_t seed, size_t batches, size_t streams) {
  std::mt19937_64 rng(seed);
  Store store;
  std::vector<std::string> pool;
  for (size_t i = 0; i < streams; ++i) pool.push_back("Stream-" + std::to_string(i));
  std::map<std::string, uint64_t> next;
  uint64_t position = 0;
  for (uint64_t sequence = 1; sequence <= kSegments; ++sequence) {
    Plan plan;
    for (size_t i = 0; i < batches; ++i) plan.emplace_back(pool[rng() % pool.size()], 1 + rng() % 4);
    auto middle = [&] { return plan.begin() + static_cast<std::ptrdiff_t>(plan.size() / 2); };
    if (sequence <= 2) plan.insert(middle(), {"first-only", 2});
    if (sequence == 6) plan.insert(middle(), {"newest-only", 4});
    if (sequence == 1 || sequence == 5) plan.insert(middle(), {"one-and-five", 3});
    plan.insert(plan.begin(), {"everywhere", 2});
    plan.push_back({"everywhere", 1});
    if (sequence == 2) {
      plan.insert(plan.begin(), {"early-in-two", 1});
      plan.push_back({"late-in-two", 2});
    }
    store.segments.push_back(BuildSegment(sequence, position, plan, next));
    position = store.segments.back().end_position(plan.size());
  }
  store.names = pool;
  for (const char* n : {"everywhere", "first-only", "newest-only", "one-and-five", "early-in-two", "late-in-two"}) {
    store.names.emplace_back(n);
  }
  return store;
}

std::unique_ptr<SegmentIndex> IndexOf(const Segment& s, size_t prefix, HashFn hash) {
  SegmentIndexBuilder builder(kStoreId, s.sequence, s.first_position, hash);
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    builder.add(b.offset, b.frame_size, b.checksum, s.views[i]);
  }
  auto keep = std::make_shared<std::string>(builder.finish(prefix == s.batches.size(), "bitmaps"));
  auto index = SegmentIndex::open(*keep, keep, "idx", hash);
  EXPECT_TRUE(index.ok()) << index.status().to_string();
  return index.ok() ? std::move(*index) : nullptr;
}

// ------------------------------------------------------------------ runs

// A run over segments first..last, the last indexed up to `prefix` batches.
struct RunSpec {
  uint64_t first = 1;
  uint64_t last = 1;
  size_t prefix = SIZE_MAX;
};

size_t Covered(const Segment& s, const RunSpec& r) {
  return s.sequence == r.last ? std::min(r.prefix, s.batches.size()) : s.batches.size();
}

std::string RunFile(const Store& store, const RunSpec& r, HashFn hash) {
  StreamRunBuilder builder(hash);
  for (uint64_t q = r.first; q <= r.last; ++q) {
    const Segment& s = store.segments[q - 1];
    auto index = IndexOf(s, Covered(s, r), hash);
    if (!index) return "";
    Status st = builder.add_segment(*index);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  const Segment& last = store.segments[r.last - 1];
  return builder.finish(kStoreId, last.end_position(Covered(last, r)), r.first, r.last);
}

std::shared_ptr<const StreamRun> OpenRun(const std::string& file, const RunSpec& r, HashFn hash) {
  auto keep = std::make_shared<std::string>(file);
  auto run = StreamRun::open(*keep, keep, format::streams_run_file_name(r.first, r.last), hash);
  EXPECT_TRUE(run.ok()) << run.status().to_string();
  return run.ok() ? std::shared_ptr<const StreamRun>(std::move(*run)) : nullptr;
}

std::vector<std::shared_ptr<const StreamRun>> OpenRuns(const Store& store, const std::vector<RunSpec>& specs,
                                                       HashFn hash) {
  std::vector<std::shared_ptr<const StreamRun>> runs;
  for (const RunSpec& r : specs) {
    runs.push_back(OpenRun(RunFile(store, r, hash), r, hash));
    if (!runs.back()) return {};
  }
  return runs;
}

// ------------------------------------------------------------------ model

struct ModelStream {
  uint64_t next_version = 0;
  uint64_t last_position = 0;
  std::map<uint64_t, uint64_t> segment_of_version;  // version -> sequence
};
using Model = std::map<std::string, ModelStream>;

// The streams of the batches run `r` covers.
Model ModelOf(const Store& store, const RunSpec& r) {
  Model model;
  for (uint64_t q = r.first; q <= r.last; ++q) {
    const Segment& s = store.segments[q - 1];
    for (size_t i = 0; i < Covered(s, r); ++i) {
      const ModelBatch& b = s.batches[i];
      ModelStream& m = model[b.stream];
      m.next_version = b.first_version + b.count;
      m.last_position = b.first_position + b.count - 1;
      for (uint64_t v = b.first_version; v < m.next_version; ++v) m.segment_of_version[v] = q;
    }
  }
  return model;
}

// The stream's first version in each segment, over the whole store.
std::map<uint64_t, uint64_t> FirstVersions(const Store& store, const std::string& name) {
  std::map<uint64_t, uint64_t> first;
  for (const Segment& s : store.segments) {
    for (const ModelBatch& b : s.batches) {
      if (b.stream == name) first.try_emplace(s.sequence, b.first_version);
    }
  }
  return first;
}

// ------------------------------------------------------------------ checks

bool HoldsNoVersion(const Status& s, const std::string& path, uint64_t version, const std::string& name) {
  return s.code() == Code::kCorruption && s.message().find(path) != std::string::npos &&
         s.message().find("no run of the stream directory holds version " + std::to_string(version) + " of stream '" +
                          name + "'") != std::string::npos;
}

// Every stream of the store: found in the newest run the model has it in,
// with that run's version count and last position; each version's segment
// where some run up to that one holds it, Corruption where none does.
void CheckDirectory(const StreamDirectory& dir, const Store& store, const std::vector<RunSpec>& specs) {
  ASSERT_EQ(dir.runs().size(), specs.size());
  const RunSpec& newest = specs.back();
  const Segment& last = store.segments[newest.last - 1];
  EXPECT_EQ(dir.last_segment(), newest.last);
  EXPECT_EQ(dir.end_position(), last.end_position(Covered(last, newest)));
  EXPECT_EQ(dir.path(), format::streams_run_file_name(newest.first, newest.last));

  std::vector<Model> models;
  for (const RunSpec& r : specs) models.push_back(ModelOf(store, r));
  size_t checked = 0;
  for (const std::string& name : store.names) {
    SCOPED_TRACE("stream " + name);
    int holder = -1;  // the newest run holding the stream
    for (size_t r = 0; r < models.size(); ++r) {
      if (models[r].contains(name)) holder = static_cast<int>(r);
    }
    auto found = dir.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    ASSERT_EQ(found->has_value(), holder >= 0);
    if (holder < 0) continue;
    const DirectoryStream& d = **found;
    const ModelStream& m = models[holder].at(name);
    ASSERT_EQ(d.run, static_cast<uint32_t>(holder));
    EXPECT_EQ(d.slot.next_version, m.next_version);
    EXPECT_EQ(d.slot.last_position, m.last_position);

    std::map<uint64_t, uint64_t> first_in = FirstVersions(store, name);
    const std::string& path = dir.runs()[holder]->path();
    for (uint64_t v = 0; v < m.next_version; ++v) {
      uint64_t sequence = 0;  // of the segment holding v, in the newest run up to holder that has it
      for (int r = holder; r >= 0 && sequence == 0; --r) {
        auto it = models[r].find(name);
        if (it != models[r].end() && it->second.segment_of_version.contains(v)) {
          sequence = it->second.segment_of_version.at(v);
        }
      }
      auto entry = dir.segment_of(name, d, v);
      if (sequence == 0) {
        ASSERT_FALSE(entry.ok()) << "version " << v << " answered: segment " << entry->sequence;
        EXPECT_TRUE(HoldsNoVersion(entry.status(), path, v, name)) << entry.status().to_string();
        continue;
      }
      ASSERT_TRUE(entry.ok()) << "version " << v << ": " << entry.status().to_string();
      ASSERT_EQ(entry->sequence, sequence) << "version " << v;
      ASSERT_EQ(entry->first_version, first_in.at(sequence)) << "version " << v;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
  for (std::string_view name : {"", "absent", "Stream-", "everywhere ", "Everywhere", "late-in-tw"}) {
    auto found = dir.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    EXPECT_FALSE(found->has_value()) << name;
  }
  EXPECT_FALSE(dir.damaged());
  EXPECT_TRUE(dir.verify_all());
}

// The directory over `specs`, checked against the model.
void CheckLayout(uint64_t seed, const std::vector<RunSpec>& specs, HashFn hash = format::stream_hash) {
  Store store = MakeStore(seed, 150, 60);
  auto runs = OpenRuns(store, specs, hash);
  ASSERT_EQ(runs.size(), specs.size());
  StreamDirectory dir(runs);
  CheckDirectory(dir, store, specs);
}

// ------------------------------------------------------------------ tests

TEST(StreamDirectoryTest, SeveralRuns) {
  Store store = MakeStore(1, 150, 60);
  std::vector<RunSpec> specs = {{1, 3}, {4, 5}, {6, 6}};
  auto runs = OpenRuns(store, specs, format::stream_hash);
  ASSERT_EQ(runs.size(), 3u);
  StreamDirectory dir(runs);
  CheckDirectory(dir, store, specs);

  // Hand-checked: "everywhere" has 3 events a segment, 9 as of the oldest
  // run, 18 in all; each version in segment version / 3 + 1.
  auto every = dir.find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  EXPECT_EQ((*every)->run, 2u);
  EXPECT_EQ((*every)->slot.next_version, 18u);
  auto oldest = runs[0]->find("everywhere");
  ASSERT_TRUE(oldest.ok() && oldest->has_value());
  EXPECT_EQ((*oldest)->next_version, 9u);
  for (uint64_t v = 0; v < 18; ++v) {
    auto entry = dir.segment_of("everywhere", **every, v);
    ASSERT_TRUE(entry.ok()) << entry.status().to_string();
    EXPECT_EQ(entry->sequence, v / 3 + 1) << v;
    EXPECT_EQ(entry->first_version, v / 3 * 3) << v;
  }
  // Only in the oldest run; only in the newest; in the oldest and the middle one.
  auto first_only = dir.find("first-only");
  ASSERT_TRUE(first_only.ok() && first_only->has_value());
  EXPECT_EQ((*first_only)->run, 0u);
  EXPECT_EQ((*first_only)->slot.next_version, 4u);
  auto newest_only = dir.find("newest-only");
  ASSERT_TRUE(newest_only.ok() && newest_only->has_value());
  EXPECT_EQ((*newest_only)->run, 2u);
  EXPECT_EQ((*newest_only)->slot.next_version, 4u);
  auto one_and_five = dir.find("one-and-five");
  ASSERT_TRUE(one_and_five.ok() && one_and_five->has_value());
  EXPECT_EQ((*one_and_five)->run, 1u);
  for (uint64_t v = 0; v < 6; ++v) {
    auto entry = dir.segment_of("one-and-five", **one_and_five, v);
    ASSERT_TRUE(entry.ok()) << entry.status().to_string();
    EXPECT_EQ(entry->sequence, v < 3 ? 1u : 5u) << v;
    EXPECT_EQ(entry->first_version, v < 3 ? 0u : 3u) << v;
  }
  auto absent = dir.find("no-such-stream");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(StreamDirectoryTest, OneRun) { CheckLayout(2, {{1, 6}}); }

TEST(StreamDirectoryTest, OneRunPerSegment) { CheckLayout(3, {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}}); }

TEST(StreamDirectoryTest, RunsOfDecreasingSize) { CheckLayout(4, {{1, 4}, {5, 5}, {6, 6}}); }

TEST(StreamDirectoryTest, CollidingHashes) { CheckLayout(5, {{1, 2}, {3, 5}, {6, 6}}, &ConstantHash); }

// Segment 2 indexed up to a prefix in the older run, whole in the newer one.
TEST(StreamDirectoryTest, SegmentPartlyIndexedInAnOlderRunThenWhole) {
  Store store = MakeStore(6, 150, 60);
  size_t batches = store.segments[1].batches.size();
  for (size_t prefix : {size_t{0}, size_t{1}, batches / 2, batches - 1}) {
    SCOPED_TRACE("segment 2 indexed up to batch " + std::to_string(prefix));
    std::vector<RunSpec> specs = {{1, 2, prefix}, {2, 4}, {5, 6}};
    auto runs = OpenRuns(store, specs, format::stream_hash);
    ASSERT_EQ(runs.size(), 3u);
    StreamDirectory dir(runs);
    CheckDirectory(dir, store, specs);
    if (::testing::Test::HasFatalFailure()) return;
    // "late-in-two" is past every prefix: the newer run alone has it.
    auto late = runs[0]->find("late-in-two");
    ASSERT_TRUE(late.ok());
    EXPECT_FALSE(late->has_value());
    auto found = dir.find("late-in-two");
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->run, 1u);
    auto entry = dir.segment_of("late-in-two", **found, 1);
    ASSERT_TRUE(entry.ok()) << entry.status().to_string();
    EXPECT_EQ(entry->sequence, 2u);
  }
}

// Runs missing below a stream's newest run: its versions there are
// Corruption, not some other segment.
TEST(StreamDirectoryTest, VersionsBelowTheOldestRunAreCorruption) {
  Store store = MakeStore(7, 150, 60);
  std::vector<RunSpec> specs = {{3, 4}, {5, 6}};
  auto runs = OpenRuns(store, specs, format::stream_hash);
  ASSERT_EQ(runs.size(), 2u);
  StreamDirectory dir(runs);
  CheckDirectory(dir, store, specs);

  auto every = dir.find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  for (uint64_t v = 0; v < 6; ++v) {
    auto entry = dir.segment_of("everywhere", **every, v);
    ASSERT_FALSE(entry.ok()) << v;
    EXPECT_TRUE(HoldsNoVersion(entry.status(), "STREAMS-00000005-00000006", v, "everywhere"))
        << entry.status().to_string();
  }
  auto entry = dir.segment_of("everywhere", **every, 6);
  ASSERT_TRUE(entry.ok()) << entry.status().to_string();
  EXPECT_EQ(entry->sequence, 3u);
  // Its versions of segment 1 are in no run; the run between has no entry for it.
  auto one_and_five = dir.find("one-and-five");
  ASSERT_TRUE(one_and_five.ok() && one_and_five->has_value());
  EXPECT_FALSE(dir.segment_of("one-and-five", **one_and_five, 0).ok());
  auto five = dir.segment_of("one-and-five", **one_and_five, 3);
  ASSERT_TRUE(five.ok()) << five.status().to_string();
  EXPECT_EQ(five->sequence, 5u);
  auto first_only = dir.find("first-only");
  ASSERT_TRUE(first_only.ok());
  EXPECT_FALSE(first_only->has_value());
}

// The oldest run's only body block fails its checksum: lookups that reach it
// are Corruption naming it, the others answer, and the directory is damaged.
TEST(StreamDirectoryTest, ADamagedOlderRun) {
  Store store = MakeStore(8, 150, 60);
  std::vector<RunSpec> specs = {{1, 3}, {4, 5}, {6, 6}};
  std::string oldest = RunFile(store, specs[0], format::stream_hash);
  ASSERT_LT(oldest.size(), format::kIndexHeaderSize + format::kIndexBlockSize);
  oldest[format::kIndexHeaderSize + 5] ^= 0x10;
  std::vector<std::shared_ptr<const StreamRun>> runs = {
      OpenRun(oldest, specs[0], format::stream_hash),
      OpenRun(RunFile(store, specs[1], format::stream_hash), specs[1], format::stream_hash),
      OpenRun(RunFile(store, specs[2], format::stream_hash), specs[2], format::stream_hash)};
  for (const auto& r : runs) ASSERT_TRUE(r);
  StreamDirectory dir(runs);
  EXPECT_FALSE(dir.damaged());

  auto newest_only = dir.find("newest-only");
  ASSERT_TRUE(newest_only.ok() && newest_only->has_value());
  auto six = dir.segment_of("newest-only", **newest_only, 0);
  ASSERT_TRUE(six.ok()) << six.status().to_string();
  EXPECT_EQ(six->sequence, 6u);
  EXPECT_FALSE(dir.damaged());

  auto every = dir.find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  auto entry = dir.segment_of("everywhere", **every, 17);
  ASSERT_TRUE(entry.ok()) << entry.status().to_string();
  EXPECT_EQ(entry->sequence, 6u);
  auto below = dir.segment_of("everywhere", **every, 0);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.status().code(), Code::kCorruption);
  EXPECT_NE(below.status().message().find("STREAMS-00000001-00000003"), std::string::npos) << below.status().to_string();
  EXPECT_TRUE(dir.damaged());
  EXPECT_FALSE(dir.verify_all());

  auto first_only = dir.find("first-only");
  ASSERT_FALSE(first_only.ok());
  EXPECT_EQ(first_only.status().code(), Code::kCorruption);
  EXPECT_NE(first_only.status().message().find("STREAMS-00000001-00000003"), std::string::npos)
      << first_only.status().to_string();
}

}  // namespace
}  // namespace cairn::index
