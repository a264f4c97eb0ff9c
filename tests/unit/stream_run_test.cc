// index/: one run of the stream directory (STREAMS-FFFFFFFF-LLLLLLLL). Built
// from the segment indexes of a store modelled here (streams spanning several
// segments), checked lookup by lookup against the model; a run over later
// segments alone; merged runs (an older run, possibly over a partly indexed
// segment, then newer runs or segments) must be byte for byte the run built
// from scratch; colliding hashes; damaged files; run file names.
#include "index/stream_run.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/format_test_util.h"
#include "format/frame.h"
#include "format/index_file.h"
#include "index_test_util.h"
#include "index/segment_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::index {
namespace {

using format::test_util::SegmentImage;
using format::test_util::SequentialId;

constexpr uint64_t kBlock = format::kIndexBlockSize;
constexpr uint64_t kHeader = format::kIndexHeaderSize;

const format::StoreId kStoreId = SequentialId(0x52).bytes;

// ------------------------------------------------------------------ segments

using test_util::BuildSegment;
using test_util::ModelBatch;
using test_util::Plan;
using test_util::Segment;


Plan RandomPlan(std::mt19937_64& rng, size_t batches, const std::vector<std::string>& names, size_t hot = 8) {
  Plan plan;
  for (size_t i = 0; i < batches; ++i) {
    size_t pick = rng() % 3 == 0 ? rng() % std::min(hot, names.size()) : rng() % names.size();
    auto count = static_cast<uint32_t>(rng() % 8 == 0 ? 1 + rng() % 30 : 1 + rng() % 3);
    plan.emplace_back(names[pick], count);
  }
  return plan;
}

std::vector<std::string> StreamNames(std::mt19937_64& rng, size_t n) {
  std::vector<std::string> names = {"a", "ab", std::string("nul\0inside", 10), std::string("\xff\xfe", 2),
                                    std::string(1024, 'y'), "Order-1", "Order-10"};
  while (names.size() < n) {
    std::string name = "Stream-" + std::to_string(names.size()) + "-";
    size_t extra = rng() % 40;
    for (size_t i = 0; i < extra; ++i) name.push_back(static_cast<char>('a' + rng() % 26));
    names.push_back(name);
  }
  names.resize(n);
  return names;
}

template <typename T>
Result<std::unique_ptr<T>> OpenCopy(std::string_view bytes, const std::string& path, HashFn hash) {
  std::shared_ptr<char[]> buffer(new char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(buffer.get(), bytes.data(), bytes.size());
  std::shared_ptr<const void> keep(buffer, buffer.get());
  return T::open(std::string_view(buffer.get(), bytes.size()), std::move(keep), path, hash);
}

std::unique_ptr<SegmentIndex> IndexOf(const Segment& s, size_t prefix, bool sealed, HashFn hash) {
  SegmentIndexBuilder builder(kStoreId, s.sequence, s.first_position, hash);
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    builder.add(b.offset, b.frame_size, b.checksum, s.views[i]);
  }
  auto index = OpenCopy<SegmentIndex>(builder.finish(sealed, "bitmaps"),
                                      "0000000" + std::to_string(s.sequence) + ".idx", hash);
  EXPECT_TRUE(index.ok()) << index.status().to_string();
  return index.ok() ? std::move(*index) : nullptr;
}

// A store of several segments; some streams placed by hand:
//   "one-and-three"  in segments 1 and 3 only
//   "everywhere"     in every segment, at its start and its end
//   "late-in-two"    only at the very end of segment 2
struct Store {
  std::vector<std::string> names;  // every candidate name
  std::vector<Segment> segments;   // segments[i] has sequence i + 1
};

Store MakeStore(uint64_t seed, size_t segment_count, size_t batches, size_t streams) {
  std::mt19937_64 rng(seed);
  Store store;
  store.names = StreamNames(rng, streams);
  std::map<std::string, uint64_t> next;
  uint64_t position = 0;
  for (size_t i = 0; i < segment_count; ++i) {
    uint64_t sequence = i + 1;
    Plan plan = RandomPlan(rng, batches, store.names);
    plan.insert(plan.begin(), {"everywhere", 2});
    plan.push_back({"everywhere", 1});
    if (sequence == 1 || sequence == 3) plan.insert(plan.begin() + plan.size() / 2, {"one-and-three", 3});
    if (sequence == 2) plan.push_back({"late-in-two", 2});
    store.segments.push_back(BuildSegment(sequence, position, plan, next));
    position = store.segments.back().end_position(plan.size());
  }
  for (const char* n : {"everywhere", "one-and-three", "late-in-two"}) store.names.emplace_back(n);
  return store;
}

// ------------------------------------------------------------------ model

struct ModelStream {
  uint64_t next_version = 0;
  uint64_t last_position = 0;
  std::vector<std::pair<uint64_t, uint64_t>> entries;  // (sequence, first version there)
  std::map<uint64_t, uint64_t> segment_of_version;     // version -> sequence, from the batches
};
using Model = std::map<std::string, ModelStream>;

// A run's content over the first `prefix` batches of `s`, applied to `model`
// (entries for the segment replace any it had). A model applied from segment
// F on holds the run over F..: a stream's versions before F are not in it.
void Apply(Model& model, const Segment& s, size_t prefix) {
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    ModelStream& m = model[b.stream];
    if (!m.segment_of_version.empty()) {
      EXPECT_EQ(m.next_version, b.first_version) << "the store broke version continuity";
    }
    if (m.entries.empty() || m.entries.back().first != s.sequence) m.entries.emplace_back(s.sequence, b.first_version);
    m.next_version = b.first_version + b.count;
    m.last_position = b.first_position + b.count - 1;
    for (uint64_t v = b.first_version; v < b.first_version + b.count; ++v) m.segment_of_version[v] = s.sequence;
  }
}

// The run over segments first..last of `store`, whole.
Model ModelOf(const Store& store, uint64_t first, uint64_t last) {
  Model model;
  for (uint64_t q = first; q <= last; ++q) Apply(model, store.segments[q - 1], store.segments[q - 1].batches.size());
  return model;
}

uint64_t Align8(uint64_t n) { return (n + 7) / 8 * 8; }

struct Layout {
  uint64_t slots, entries, names, body;
};
Layout ExpectedLayout(uint64_t slot_count, uint64_t entry_count, uint64_t names_size) {
  Layout l{};
  l.slots = 0;
  l.entries = slot_count * 40;
  l.names = l.entries + entry_count * 16;
  l.body = l.names + Align8(names_size);
  return l;
}
uint64_t FileSize(uint64_t body) { return kHeader + body + (body + kBlock - 1) / kBlock * 8; }

bool Touches(uint64_t begin, uint64_t size, uint64_t block) {
  if (size == 0) return false;
  return begin / kBlock <= block && block <= (begin + size - 1) / kBlock;
}

// ------------------------------------------------------------------ hashes

uint64_t ConstantHash(std::string_view) { return 0x5eed5eed5eedull; }
uint64_t ZeroHash(std::string_view) { return 0; }
uint64_t AllOnesHash(std::string_view) { return ~uint64_t{0}; }  // probes start at the last slot and wrap
uint64_t LengthHash(std::string_view name) { return name.size() % 3; }

// A hash function with a name for test parameters (and for ctest's listing).
struct NamedHash {
  const char* name;
  HashFn fn;
  friend void PrintTo(const NamedHash& h, std::ostream* os) { *os << h.name; }
};

uint64_t SlotHash(HashFn hash, std::string_view name) {
  uint64_t h = hash(name);
  return h == 0 ? 1 : h;
}

// ------------------------------------------------------------------ checks

void ExpectCorruptionNaming(const Status& s, const std::string& path) {
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("at offset"), std::string::npos) << s.message();
}

template <typename T>
bool FailedAt(const Result<T>& r, const std::string& path, uint64_t bad_offset) {
  if (r.ok()) return false;
  const Status s = r.status();
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find(path + " at offset " + std::to_string(bad_offset)), std::string::npos) << s.message();
  return true;
}
bool FailedAt(const Status& s, const std::string& path, uint64_t bad_offset) {
  if (s.ok()) return false;
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find(path + " at offset " + std::to_string(bad_offset)), std::string::npos) << s.message();
  return true;
}

std::vector<std::string> AbsentNames(const Model& model, const std::vector<std::string>& candidates) {
  std::vector<std::string> out = {"", "absent", std::string(1, '\0'), std::string(1025, 'y'), "A", "abc", "b"};
  for (const std::string& c : candidates) out.push_back(c);
  for (const auto& [name, m] : model) {
    out.push_back(name + "x");
    out.push_back(name.substr(0, name.size() - 1));
  }
  std::vector<std::string> absent;
  std::set<std::string> seen;
  for (const std::string& n : out) {
    if (!model.contains(n) && seen.insert(n).second) absent.push_back(n);
  }
  return absent;
}

struct Expect {
  uint64_t end_position = 0;
  uint64_t first_segment = 1;
  uint64_t last_segment = 1;
  HashFn hash = format::stream_hash;
  std::string path;
  std::vector<std::string> names;
};

void CheckRun(const StreamRun& run, const Model& model, const Expect& e) {
  const format::StreamsHeader& h = run.header();
  uint64_t entries = 0;
  uint64_t names_size = 0;
  for (const auto& [name, m] : model) {
    entries += m.entries.size();
    names_size += name.size();
  }
  EXPECT_EQ(h.store_id, kStoreId);
  EXPECT_EQ(h.end_position, e.end_position);
  EXPECT_EQ(h.first_segment, e.first_segment);
  EXPECT_EQ(h.last_segment, e.last_segment);
  EXPECT_EQ(run.first_segment(), e.first_segment);
  EXPECT_EQ(run.last_segment(), e.last_segment);
  EXPECT_EQ(run.segment_count(), e.last_segment - e.first_segment + 1);
  EXPECT_EQ(h.stream_count, model.size());
  EXPECT_TRUE(std::has_single_bit(h.slot_count)) << h.slot_count;
  EXPECT_GE(h.slot_count, 2 * model.size());
  EXPECT_EQ(h.entry_count, entries);
  EXPECT_EQ(h.names_size, names_size);
  EXPECT_EQ(run.path(), e.path);

  for (const auto& [name, m] : model) {
    auto found = run.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    ASSERT_TRUE(found->has_value()) << "stream not found: " << name;
    const format::StreamsSlot& slot = **found;
    EXPECT_EQ(slot.hash, SlotHash(e.hash, name));
    EXPECT_EQ(slot.next_version, m.next_version) << name;
    EXPECT_EQ(slot.last_position, m.last_position) << name;
    EXPECT_EQ(slot.name_len, name.size());
    ASSERT_EQ(slot.entry_count, m.entries.size()) << name;
    for (size_t k = 0; k < m.entries.size(); ++k) {
      auto entry = run.entry(uint64_t{slot.entry_start} + k);
      ASSERT_TRUE(entry.ok()) << entry.status().to_string();
      EXPECT_EQ(entry->sequence, m.entries[k].first) << name << " entry " << k;
      EXPECT_EQ(entry->first_version, m.entries[k].second) << name << " entry " << k;
    }
    // segment_of for every version the run holds, against the segment its batch is in.
    ASSERT_EQ(m.segment_of_version.size(), m.next_version - m.entries.front().second);
    std::map<uint64_t, uint64_t> first_in;  // sequence -> the stream's lowest version in it
    for (const auto& [version, sequence] : m.segment_of_version) first_in.try_emplace(sequence, version);
    for (const auto& [version, sequence] : m.segment_of_version) {
      auto entry = run.segment_of(slot, version);
      ASSERT_TRUE(entry.ok()) << entry.status().to_string();
      ASSERT_EQ(entry->sequence, sequence) << name << " version " << version;
      ASSERT_EQ(entry->first_version, first_in.at(sequence)) << name << " version " << version;
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (const std::string& name : AbsentNames(model, e.names)) {
    auto found = run.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    EXPECT_FALSE(found->has_value()) << "found an absent stream: " << name;
  }
  EXPECT_FALSE(run.entry(h.entry_count).ok());
  EXPECT_FALSE(run.entry(~uint64_t{0}).ok());

  std::map<std::string, int> visits;
  Status st = run.for_each_stream([&](std::string_view name, const format::StreamsSlot& slot) {
    ++visits[std::string(name)];
    auto found = run.find(name);
    EXPECT_TRUE(found.ok() && found->has_value()) << name;
    if (found.ok() && found->has_value()) {
      EXPECT_EQ(slot.hash, (*found)->hash);
      EXPECT_EQ(slot.next_version, (*found)->next_version);
      EXPECT_EQ(slot.last_position, (*found)->last_position);
      EXPECT_EQ(slot.entry_start, (*found)->entry_start);
      EXPECT_EQ(slot.entry_count, (*found)->entry_count);
    }
    return Status();
  });
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(visits.size(), model.size());
  for (const auto& [name, m] : model) EXPECT_EQ(visits[name], 1) << name;

  if (model.size() >= 2) {
    int calls = 0;
    Status stop = run.for_each_stream([&](std::string_view, const format::StreamsSlot&) {
      return ++calls == 2 ? Status::not_found("stop here") : Status();
    });
    EXPECT_EQ(stop.code(), Code::kNotFound);
    EXPECT_EQ(calls, 2);
  }
}

// Two run files are the same bytes (printing only where they first differ).
void ExpectSameBytes(const std::string& a, const std::string& b, const std::string& what) {
  EXPECT_EQ(a.size(), b.size()) << what;
  auto [x, y] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  EXPECT_TRUE(x == a.end() && y == b.end()) << what << ": first difference at offset " << (x - a.begin());
}

// A run built from scratch over `segments`, consecutive and oldest first.
std::string BuildRun(const std::vector<const SegmentIndex*>& segments, uint64_t end_position, HashFn hash) {
  StreamRunBuilder builder(hash);
  for (const SegmentIndex* s : segments) {
    Status st = builder.add_segment(*s);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  return builder.finish(kStoreId, end_position, segments.front()->header().sequence,
                        segments.back()->header().sequence);
}

// A merged run: `runs` then `segments`, oldest first.
std::string MergeRuns(const std::vector<const StreamRun*>& runs, const std::vector<const SegmentIndex*>& segments,
                      uint64_t end_position, HashFn hash) {
  StreamRunBuilder builder(hash);
  for (const StreamRun* r : runs) {
    Status st = builder.add_run(*r);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  for (const SegmentIndex* s : segments) {
    Status st = builder.add_segment(*s);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  uint64_t last = segments.empty() ? runs.back()->last_segment() : segments.back()->header().sequence;
  return builder.finish(kStoreId, end_position, runs.front()->first_segment(), last);
}

// Whole sealed indexes of every segment of `store`.
std::vector<std::unique_ptr<SegmentIndex>> IndexAll(const Store& store, HashFn hash) {
  std::vector<std::unique_ptr<SegmentIndex>> out;
  for (const Segment& s : store.segments) out.push_back(IndexOf(s, s.batches.size(), true, hash));
  return out;
}

uint64_t EndOf(const Store& store, uint64_t sequence) {
  const Segment& s = store.segments[sequence - 1];
  return s.end_position(s.batches.size());
}

// ------------------------------------------------------------------ tests

TEST(StreamRunTest, EmptyRun) {
  StreamRunBuilder builder;
  EXPECT_EQ(builder.stream_count(), 0u);
  std::string file = builder.finish(kStoreId, 0, 1, 1);
  EXPECT_EQ(file.substr(0, 8), "CAIRNSTR");
  EXPECT_EQ(format::get_u32(file.data() + 8), 2u);
  EXPECT_EQ(file.size(), FileSize(ExpectedLayout(1, 0, 0).body));
  auto run = OpenCopy<StreamRun>(file, "STREAMS-00000001-00000001", format::stream_hash);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ((*run)->header().slot_count, 1u);
  Expect e;
  e.path = "STREAMS-00000001-00000001";
  e.names = {"a", "b"};
  CheckRun(**run, Model{}, e);
}

TEST(StreamRunTest, StreamsSpanningSegments) {
  Store store = MakeStore(1, 4, 600, 200);
  Model model = ModelOf(store, 1, 4);
  auto indexes = IndexAll(store, format::stream_hash);
  for (const auto& i : indexes) ASSERT_TRUE(i);
  ASSERT_EQ(model.at("one-and-three").entries.size(), 2u);
  EXPECT_EQ(model.at("one-and-three").entries[1].first, 3u);
  EXPECT_EQ(model.at("everywhere").entries.size(), 4u);
  size_t multi = 0;
  for (const auto& [name, m] : model) multi += m.entries.size() > 1;
  ASSERT_GT(multi, 20u) << "many streams should span segments";

  uint64_t end = EndOf(store, 4);
  StreamRunBuilder builder;
  for (const auto& i : indexes) ASSERT_TRUE(builder.add_segment(*i).ok());
  EXPECT_EQ(builder.stream_count(), model.size());
  std::string file = builder.finish(kStoreId, end, 1, 4);
  EXPECT_EQ(builder.finish(kStoreId, end, 1, 4), file);  // finish leaves the builder as it was
  auto run = OpenCopy<StreamRun>(file, "STREAMS-00000001-00000004", format::stream_hash);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  const auto& h = (*run)->header();
  EXPECT_EQ(file.size(), FileSize(ExpectedLayout(h.slot_count, h.entry_count, h.names_size).body));
  CheckRun(**run, model,
           {.end_position = end, .first_segment = 1, .last_segment = 4, .path = "STREAMS-00000001-00000004",
            .names = store.names});

  // Hand-checked: "everywhere" opens every segment with 2 events and closes it with 1.
  auto every = (*run)->find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  EXPECT_EQ((*every)->next_version, 12u);
  EXPECT_EQ((*every)->last_position, end - 1);
  for (uint64_t v = 0; v < 12; ++v) {
    auto entry = (*run)->segment_of(**every, v);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(entry->sequence, v / 3 + 1) << v;
    EXPECT_EQ(entry->first_version, v / 3 * 3) << v;
  }
}

TEST(StreamRunTest, RunOverLaterSegments) {
  Store store = MakeStore(1, 4, 600, 200);
  auto indexes = IndexAll(store, format::stream_hash);
  for (const auto& i : indexes) ASSERT_TRUE(i);
  uint64_t end = EndOf(store, 4);
  std::string file = BuildRun({indexes[2].get(), indexes[3].get()}, end, format::stream_hash);
  auto run = OpenCopy<StreamRun>(file, "STREAMS-00000003-00000004", format::stream_hash);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  CheckRun(**run, ModelOf(store, 3, 4),
           {.end_position = end, .first_segment = 3, .last_segment = 4, .path = "STREAMS-00000003-00000004",
            .names = store.names});

  // Hand-checked: versions as of the run's end, entries for its segments only.
  auto every = (*run)->find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  EXPECT_EQ((*every)->next_version, 12u);
  ASSERT_EQ((*every)->entry_count, 2u);
  for (uint64_t v = 6; v < 12; ++v) {
    auto entry = (*run)->segment_of(**every, v);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(entry->sequence, v / 3 + 1) << v;
    EXPECT_EQ(entry->first_version, v / 3 * 3) << v;
  }
  auto one_and_three = (*run)->find("one-and-three");
  ASSERT_TRUE(one_and_three.ok() && one_and_three->has_value());
  EXPECT_EQ((*one_and_three)->next_version, 6u);
  ASSERT_EQ((*one_and_three)->entry_count, 1u);
  auto entry = (*run)->entry((*one_and_three)->entry_start);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->sequence, 3u);
  EXPECT_EQ(entry->first_version, 3u);
  auto late = (*run)->find("late-in-two");
  ASSERT_TRUE(late.ok());
  EXPECT_FALSE(late->has_value());
}

// Merged runs, with segment 2 first indexed up to a prefix (as a clean close
// leaves it), then whole: every way of merging gives the scratch run's bytes.
class StreamRunMergeTest : public ::testing::TestWithParam<NamedHash> {};

void CheckMerged(HashFn hash, size_t streams, size_t batches) {
  Store store = MakeStore(2026, 4, batches, streams);
  const Segment& two = store.segments[1];
  auto full = IndexAll(store, hash);
  for (const auto& i : full) ASSERT_TRUE(i);
  auto open = [&](const std::string& file, const std::string& path) {
    auto run = OpenCopy<StreamRun>(file, path, hash);
    EXPECT_TRUE(run.ok()) << run.status().to_string();
    return run.ok() ? std::move(*run) : nullptr;
  };
  Expect e;
  e.hash = hash;
  e.names = store.names;

  std::string scratch = BuildRun({full[0].get(), full[1].get(), full[2].get(), full[3].get()}, EndOf(store, 4), hash);
  e.end_position = EndOf(store, 4);
  e.first_segment = 1;
  e.last_segment = 4;
  e.path = "scratch";
  auto scratch_run = open(scratch, "scratch");
  ASSERT_TRUE(scratch_run);
  CheckRun(*scratch_run, ModelOf(store, 1, 4), e);

  std::string head = BuildRun({full[0].get(), full[1].get(), full[2].get()}, EndOf(store, 3), hash);
  std::string tail = BuildRun({full[1].get(), full[2].get(), full[3].get()}, EndOf(store, 4), hash);
  std::string last = BuildRun({full[3].get()}, EndOf(store, 4), hash);
  auto head_run = open(head, "head");
  auto tail_run = open(tail, "tail");
  auto last_run = open(last, "last");
  ASSERT_TRUE(head_run && tail_run && last_run);
  e.first_segment = 2;
  e.path = "tail";
  CheckRun(*tail_run, ModelOf(store, 2, 4), e);
  e.first_segment = 4;
  e.path = "last";
  CheckRun(*last_run, ModelOf(store, 4, 4), e);
  // A merged run over 1..last: the bytes of the run built from scratch, and the model's answers.
  auto expect_merged = [&](const std::string& file, const std::string& reference, uint64_t last_segment,
                           const std::string& what) {
    ExpectSameBytes(file, reference, what);
    auto run = open(file, what);
    if (!run) return;
    Expect me = e;
    me.end_position = EndOf(store, last_segment);
    me.first_segment = 1;
    me.last_segment = last_segment;
    me.path = what;
    CheckRun(*run, ModelOf(store, 1, last_segment), me);
  };
  expect_merged(MergeRuns({head_run.get(), last_run.get()}, {}, EndOf(store, 4), hash), scratch, 4, "1..3 + 4");
  expect_merged(MergeRuns({head_run.get()}, {full[3].get()}, EndOf(store, 4), hash), scratch, 4, "1..3 + segment 4");
  auto one = open(BuildRun({full[0].get()}, EndOf(store, 1), hash), "one");
  ASSERT_TRUE(one);
  expect_merged(MergeRuns({one.get(), tail_run.get()}, {}, EndOf(store, 4), hash), scratch, 4, "1 + 2..4");
  if (::testing::Test::HasFatalFailure()) return;

  for (size_t prefix : {size_t{0}, size_t{1}, two.batches.size() / 2, two.batches.size() - 1, two.batches.size()}) {
    SCOPED_TRACE("segment 2 indexed up to batch " + std::to_string(prefix));
    auto partial = IndexOf(two, prefix, false, hash);
    ASSERT_TRUE(partial);
    Model old_model;
    Apply(old_model, store.segments[0], store.segments[0].batches.size());
    Apply(old_model, two, prefix);
    auto old = open(BuildRun({full[0].get(), partial.get()}, two.end_position(prefix), hash), "old");
    ASSERT_TRUE(old);
    Expect oe = e;
    oe.end_position = two.end_position(prefix);
    oe.first_segment = 1;
    oe.last_segment = 2;
    oe.path = "old";
    CheckRun(*old, old_model, oe);
    EXPECT_EQ(old_model.contains("late-in-two"), prefix == two.batches.size());
    if (::testing::Test::HasFatalFailure()) return;

    expect_merged(MergeRuns({old.get()}, {full[1].get(), full[2].get(), full[3].get()}, EndOf(store, 4), hash),
                  scratch, 4, "old + segments 2..4");
    expect_merged(MergeRuns({old.get(), tail_run.get()}, {}, EndOf(store, 4), hash), scratch, 4, "old + 2..4");
    // In two steps: segment 2 whole and 3, then the run over 4 on top.
    std::string step = MergeRuns({old.get()}, {full[1].get(), full[2].get()}, EndOf(store, 3), hash);
    expect_merged(step, head, 3, "old + segments 2..3");
    auto step_run = open(step, "step");
    ASSERT_TRUE(step_run);
    expect_merged(MergeRuns({step_run.get(), last_run.get()}, {}, EndOf(store, 4), hash), scratch, 4, "step + 4");
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_P(StreamRunMergeTest, EqualsTheRunBuiltFromScratch) {
  // Colliding hashes make every lookup a scan of all streams: a smaller store.
  bool colliding = GetParam().fn != &format::stream_hash;
  CheckMerged(GetParam().fn, colliding ? 120 : 300, colliding ? 250 : 500);
}

INSTANTIATE_TEST_SUITE_P(Hashes, StreamRunMergeTest,
                         ::testing::Values(NamedHash{"xxh3", &format::stream_hash},
                                           NamedHash{"constant", &ConstantHash}, NamedHash{"zero", &ZeroHash},
                                           NamedHash{"all_ones", &AllOnesHash},
                                           NamedHash{"length_mod_3", &LengthHash}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(StreamRunTest, AddRunAloneCopiesIt) {
  Store store = MakeStore(5, 3, 300, 100);
  auto idx = IndexAll(store, format::stream_hash);
  for (const auto& i : idx) ASSERT_TRUE(i);
  uint64_t end = EndOf(store, 3);
  std::string file = BuildRun({idx[1].get(), idx[2].get()}, end, format::stream_hash);
  auto run = OpenCopy<StreamRun>(file, "STREAMS-00000002-00000003", format::stream_hash);
  ASSERT_TRUE(run.ok());
  StreamRunBuilder copy;
  ASSERT_TRUE(copy.add_run(**run).ok());
  Model model = ModelOf(store, 2, 3);
  EXPECT_EQ(copy.stream_count(), model.size());
  std::string again = copy.finish(kStoreId, end, 2, 3);
  ExpectSameBytes(again, file, "copy");
  auto copied = OpenCopy<StreamRun>(again, "copy", format::stream_hash);
  ASSERT_TRUE(copied.ok());
  CheckRun(**copied, model,
           {.end_position = end, .first_segment = 2, .last_segment = 3, .path = "copy",
            .names = store.names});
}

TEST(StreamRunTest, LargeRunSpansSeveralBlocks) {
  Store store = MakeStore(77, 4, 2500, 3000);
  auto idx = IndexAll(store, format::stream_hash);
  for (const auto& i : idx) ASSERT_TRUE(i);
  uint64_t end = EndOf(store, 4);
  std::string file = BuildRun({idx[0].get(), idx[1].get(), idx[2].get(), idx[3].get()}, end, format::stream_hash);
  auto run = OpenCopy<StreamRun>(file, "STREAMS-00000001-00000004", format::stream_hash);
  ASSERT_TRUE(run.ok());
  const auto& h = (*run)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(file.size(), FileSize(l.body));
  ASSERT_GE(l.body / kBlock, 5u);
  CheckRun(**run, ModelOf(store, 1, 4),
           {.end_position = end, .first_segment = 1, .last_segment = 4, .path = "STREAMS-00000001-00000004",
            .names = store.names});
}

// ------------------------------------------------------------------ file names

TEST(StreamRunFileNameTest, RoundTrips) {
  EXPECT_EQ(format::streams_run_file_name(1, 8), "STREAMS-00000001-00000008");
  EXPECT_EQ(format::streams_run_file_name(123456789, 1234567890), "STREAMS-123456789-1234567890");
  const std::pair<uint64_t, uint64_t> runs[] = {{1, 1},         {1, 8},          {9, 16},
                                                {99999999, 99999999}, {99999999, 100000000},
                                                {123456789, 1234567890}, {1, 9999999999999999999ull}};
  for (const auto& [first, last] : runs) {
    std::string name = format::streams_run_file_name(first, last);
    auto parsed = format::parse_streams_run_file_name(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(parsed->first_segment, first) << name;
    EXPECT_EQ(parsed->last_segment, last) << name;
  }
}

TEST(StreamRunFileNameTest, RefusesOtherNames) {
  for (std::string_view name :
       {"STREAMS", "STREAMS.tmp", "STREAMS-00000001-00000008.tmp", "STREAMS-00000002-00000001",
        "STREAMS-00000000-00000001", "STREAMS-00000000-00000000", "STREAMS-1-2", "STREAMS-00000001",
        "STREAMS-00000001-", "STREAMS--00000001", "STREAMS-00000001-000000008", "STREAMS-000000001-00000008",
        "STREAMS-0000000a-00000008", "STREAMS-+0000001-00000008", "STREAMS-00000001-00000002-00000003",
        "streams-00000001-00000008", "XSTREAMS-00000001-00000008", "STREAMS-00000001-00000008 ",
        "00000001.idx", ""}) {
    EXPECT_FALSE(format::parse_streams_run_file_name(name).has_value()) << name;
  }
}

// ------------------------------------------------------------------ damage

struct Built {
  Store store;
  Model model;
  std::vector<std::unique_ptr<SegmentIndex>> indexes;
  std::string file;
  std::string path;
  uint64_t end = 0;
};

// The run over segments first..segments of a store of `segments` segments.
Built BuildAll(uint64_t seed, size_t segments, size_t batches, size_t streams, HashFn hash = format::stream_hash,
               uint64_t first = 1) {
  Built b;
  b.store = MakeStore(seed, segments, batches, streams);
  std::vector<const SegmentIndex*> ptrs;
  for (uint64_t q = first; q <= segments; ++q) {
    const Segment& s = b.store.segments[q - 1];
    b.indexes.push_back(IndexOf(s, s.batches.size(), true, hash));
    if (!b.indexes.back()) return b;  // reported by IndexOf; callers check that file is not empty
    ptrs.push_back(b.indexes.back().get());
  }
  b.model = ModelOf(b.store, first, segments);
  b.end = EndOf(b.store, segments);
  b.path = format::streams_run_file_name(first, segments);
  b.file = BuildRun(ptrs, b.end, hash);
  return b;
}

TEST(StreamRunDamageTest, EveryTruncationOfASmallFileFailsOpen) {
  Built b = BuildAll(3, 3, 4, 3);
  ASSERT_FALSE(b.file.empty());
  ASSERT_LT(b.file.size(), 2000u);
  ASSERT_TRUE(OpenCopy<StreamRun>(b.file, b.path, format::stream_hash).ok());
  for (size_t len = 0; len < b.file.size(); ++len) {
    auto run = OpenCopy<StreamRun>(std::string_view(b.file).substr(0, len), b.path, format::stream_hash);
    ASSERT_FALSE(run.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(run.status(), b.path);
  }
  for (size_t extra : {1, 8, 4096}) {
    auto run = OpenCopy<StreamRun>(b.file + std::string(extra, '\0'), b.path, format::stream_hash);
    ASSERT_FALSE(run.ok());
    ExpectCorruptionNaming(run.status(), b.path);
  }
}

TEST(StreamRunDamageTest, TruncationsOfALargeFileFailOpen) {
  Built b = BuildAll(4, 3, 1500, 2000);
  ASSERT_FALSE(b.file.empty());
  ASSERT_GT(b.file.size(), 3 * kBlock);
  ASSERT_TRUE(OpenCopy<StreamRun>(b.file, b.path, format::stream_hash).ok());
  std::set<size_t> lengths;
  for (size_t len = 0; len <= 300; ++len) lengths.insert(len);
  for (size_t len = 301; len < b.file.size(); len += 1009) lengths.insert(len);
  for (size_t back = 1; back <= 64; ++back) lengths.insert(b.file.size() - back);
  for (size_t len : lengths) {
    auto run = OpenCopy<StreamRun>(std::string_view(b.file).substr(0, len), b.path, format::stream_hash);
    ASSERT_FALSE(run.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(run.status(), b.path);
  }
}

TEST(StreamRunDamageTest, EveryHeaderBitFlipFailsOpen) {
  Built b = BuildAll(3, 3, 6, 4);
  ASSERT_FALSE(b.file.empty());
  for (size_t i = 0; i < kHeader; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = b.file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto run = OpenCopy<StreamRun>(bad, b.path, format::stream_hash);
      ASSERT_FALSE(run.ok()) << "opened with byte " << i << " bit " << bit << " flipped";
      if (i >= 8 && i < 12) {
        EXPECT_EQ(run.status().code(), Code::kUnsupportedVersion) << run.status().to_string();
      } else {
        ExpectCorruptionNaming(run.status(), b.path);
      }
    }
  }
}

TEST(StreamRunDamageTest, EveryBlockTableBitFlipFailsOpen) {
  Built b = BuildAll(6, 3, 800, 1200);
  ASSERT_FALSE(b.file.empty());
  auto run = OpenCopy<StreamRun>(b.file, b.path, format::stream_hash);
  ASSERT_TRUE(run.ok());
  const auto& h = (*run)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(b.file.size(), FileSize(l.body));
  ASSERT_GE(b.file.size() - kHeader - l.body, 16u);
  for (size_t i = kHeader + l.body; i < b.file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = b.file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto damaged = OpenCopy<StreamRun>(bad, b.path, format::stream_hash);
      ASSERT_FALSE(damaged.ok()) << "opened with block table byte " << i << " bit " << bit << " flipped";
      ExpectCorruptionNaming(damaged.status(), b.path);
    }
  }
}

// The slots of a clean file, read straight from its bytes.
struct RawSlot {
  format::StreamsSlot slot;
  std::string name;
};
std::vector<RawSlot> RawSlots(const std::string& file, const format::StreamsHeader& h, const Layout& l) {
  std::vector<RawSlot> out;
  for (uint64_t i = 0; i < h.slot_count; ++i) {
    RawSlot r;
    r.slot = format::get_streams_slot(file.data() + kHeader + l.slots + i * 40);
    if (r.slot.hash != 0) r.name = file.substr(kHeader + l.names + r.slot.name_offset, r.slot.name_len);
    out.push_back(r);
  }
  return out;
}

// With body block `block` damaged, as for the segment index: each lookup is
// right or Corruption naming that block; it fails exactly when the linear
// probe (FORMAT.md: from hash & (slot_count - 1)) or the entries it reads
// reach the block.
void CheckDamagedRun(const StreamRun& run, const std::vector<RawSlot>& raw, const Model& model,
                           const Layout& l, HashFn hash, const std::vector<std::string>& names, uint64_t block) {
  const std::string& path = run.path();
  const uint64_t bad = kHeader + block * kBlock;
  const format::StreamsHeader& h = run.header();
  const uint64_t mask = h.slot_count - 1;
  // Whether find(name) reads the damaged block: the slots it probes, and the
  // names of probed slots whose hash equals the name's.
  auto probe_hits = [&](std::string_view name) {
    uint64_t sh = SlotHash(hash, name);
    for (uint64_t i = sh & mask, n = 0; n < h.slot_count; i = (i + 1) & mask, ++n) {
      if (Touches(l.slots + i * 40, 40, block)) return true;
      const RawSlot& r = raw[i];
      if (r.slot.hash == 0) return false;
      if (r.slot.hash != sh) continue;
      if (Touches(l.names + r.slot.name_offset, r.slot.name_len, block)) return true;
      if (r.name == name) return false;
    }
    return false;
  };
  for (const auto& [name, m] : model) {
    auto found = run.find(name);
    ASSERT_EQ(FailedAt(found, path, bad), probe_hits(name)) << "find " << name;
    if (!found.ok()) continue;
    ASSERT_TRUE(found->has_value());
    const format::StreamsSlot& slot = **found;
    EXPECT_EQ(slot.next_version, m.next_version);
    EXPECT_EQ(slot.last_position, m.last_position);
    bool entries_hit = Touches(l.entries + uint64_t{slot.entry_start} * 16, uint64_t{slot.entry_count} * 16, block);
    for (uint64_t k = 0; k < slot.entry_count; ++k) {
      auto entry = run.entry(uint64_t{slot.entry_start} + k);
      ASSERT_EQ(FailedAt(entry, path, bad), Touches(l.entries + (uint64_t{slot.entry_start} + k) * 16, 16, block));
      if (entry.ok()) {
        EXPECT_EQ(entry->sequence, m.entries[k].first);
      }
    }
    for (const auto& [version, sequence] : m.segment_of_version) {
      auto entry = run.segment_of(slot, version);
      bool failed = FailedAt(entry, path, bad);
      size_t k = 0;
      while (m.entries[k].first != sequence) ++k;
      if (Touches(l.entries + (uint64_t{slot.entry_start} + k) * 16, 16, block)) {
        ASSERT_TRUE(failed) << name << " version " << version;
      }
      if (!entries_hit) { ASSERT_FALSE(failed) << name << " version " << version; }
      if (!failed) { ASSERT_EQ(entry->sequence, sequence) << name << " version " << version; }
    }
  }
  for (const std::string& name : AbsentNames(model, names)) {
    auto found = run.find(name);
    ASSERT_EQ(FailedAt(found, path, bad), probe_hits(name)) << "find absent " << name;
    if (found.ok()) { EXPECT_FALSE(found->has_value()); }
  }
  bool slots_hit = Touches(l.slots, h.slot_count * 40, block);
  bool names_hit = Touches(l.names, h.names_size, block);
  bool all_entries_hit = Touches(l.entries, h.entry_count * 16, block);
  size_t visits = 0;
  Status each = run.for_each_stream([&](std::string_view, const format::StreamsSlot&) {
    ++visits;
    return Status();
  });
  EXPECT_EQ(FailedAt(each, path, bad), slots_hit || names_hit);
  if (each.ok()) { EXPECT_EQ(visits, model.size()); }
  // A builder copying the damaged run reads everything but padding.
  StreamRunBuilder copy(hash);
  EXPECT_EQ(FailedAt(copy.add_run(run), path, bad), slots_hit || names_hit || all_entries_hit);
}

TEST(StreamRunDamageTest, ADamagedBodyBlockFailsOnlyTheLookupsThatTouchIt) {
  Built b = BuildAll(8, 4, 2000, 3000);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamRun>(b.file, b.path, format::stream_hash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(b.file.size(), FileSize(l.body));
  uint64_t blocks = (l.body + kBlock - 1) / kBlock;
  ASSERT_GE(blocks, 5u);
  std::vector<RawSlot> raw = RawSlots(b.file, h, l);
  for (uint64_t block = 0; block < blocks; ++block) {
    SCOPED_TRACE("damaged block " + std::to_string(block));
    uint64_t len = std::min(kBlock, l.body - block * kBlock);
    for (uint64_t at : {block * kBlock, block * kBlock + len / 2}) {
      std::string bad = b.file;
      bad[kHeader + at] = static_cast<char>(bad[kHeader + at] ^ 0x04);
      auto run = OpenCopy<StreamRun>(bad, b.path, format::stream_hash);
      ASSERT_TRUE(run.ok()) << "a body flip must not fail open: " << run.status().to_string();
      CheckDamagedRun(**run, raw, b.model, l, format::stream_hash, b.store.names, block);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(StreamRunDamageTest, CollidingHashesAndADamagedBlock) {
  // Every stream in one probe run (which wraps around the table's end).
  Built b = BuildAll(9, 3, 900, 1500, &AllOnesHash);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamRun>(b.file, b.path, &AllOnesHash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  uint64_t blocks = (l.body + kBlock - 1) / kBlock;
  ASSERT_GE(blocks, 3u);
  std::vector<RawSlot> raw = RawSlots(b.file, h, l);
  for (uint64_t block = 0; block < blocks; ++block) {
    SCOPED_TRACE("damaged block " + std::to_string(block));
    std::string bad = b.file;
    bad[kHeader + block * kBlock + 3] ^= 0x01;
    auto run = OpenCopy<StreamRun>(bad, b.path, &AllOnesHash);
    ASSERT_TRUE(run.ok());
    CheckDamagedRun(**run, raw, b.model, l, &AllOnesHash, b.store.names, block);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(StreamRunDamageTest, EveryBodyByteFlipOfASmallFileFailsItsLookups) {
  Built b = BuildAll(3, 3, 5, 4);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamRun>(b.file, b.path, format::stream_hash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_LT(l.body, kBlock);
  std::vector<RawSlot> raw = RawSlots(b.file, h, l);
  for (uint64_t at = 0; at < l.body; ++at) {
    std::string bad = b.file;
    bad[kHeader + at] = static_cast<char>(bad[kHeader + at] ^ 0x80);
    auto run = OpenCopy<StreamRun>(bad, b.path, format::stream_hash);
    ASSERT_TRUE(run.ok()) << at;
    CheckDamagedRun(**run, raw, b.model, l, format::stream_hash, b.store.names, 0);
    EXPECT_FALSE((*run)->find("everywhere").ok());
    if (::testing::Test::HasFailure()) return;
  }
}

std::string Reheader(std::string file, const std::function<void(char*)>& edit) {
  edit(file.data());
  format::put_u64(file.data() + 120, format::checksum(file.data(), 120));
  return file;
}

TEST(StreamRunDamageTest, InconsistentHeadersWithValidChecksumsFailOpen) {
  Built b = BuildAll(3, 3, 6, 4);
  ASSERT_FALSE(b.file.empty());
  const std::string& file = b.file;
  auto clean = OpenCopy<StreamRun>(file, b.path, format::stream_hash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  ASSERT_GE(h.stream_count, 3u);
  std::vector<std::pair<std::string, std::function<void(char*)>>> cases = {
      {"stream count ~0", [](char* p) { format::put_u64(p + 48, ~uint64_t{0}); }},
      {"more streams than half the slots", [&](char* p) { format::put_u64(p + 48, h.slot_count / 2 + 1); }},
      {"slot count 0", [](char* p) { format::put_u64(p + 56, 0); }},
      {"slot count not a power of two", [&](char* p) { format::put_u64(p + 56, h.slot_count + 1); }},
      {"slot count doubled", [&](char* p) { format::put_u64(p + 56, h.slot_count * 2); }},
      {"slot count ~0", [](char* p) { format::put_u64(p + 56, ~uint64_t{0}); }},
      {"slot count 2^63", [](char* p) { format::put_u64(p + 56, uint64_t{1} << 63); }},
      {"fewer entries than streams", [&](char* p) { format::put_u64(p + 64, h.stream_count - 1); }},
      {"entry count + 1", [&](char* p) { format::put_u64(p + 64, h.entry_count + 1); }},
      {"entry count ~0", [](char* p) { format::put_u64(p + 64, ~uint64_t{0}); }},
      {"names size ~0", [](char* p) { format::put_u64(p + 72, ~uint64_t{0}); }},
      {"names size + 8", [&](char* p) { format::put_u64(p + 72, h.names_size + 8); }},
      {"first segment 0", [](char* p) { format::put_u64(p + 80, 0); }},
      {"first segment after the last", [&](char* p) { format::put_u64(p + 80, h.last_segment + 1); }},
      {"last segment 0", [](char* p) { format::put_u64(p + 40, 0); }},
      {"reserved +88", [](char* p) { format::put_u64(p + 88, 1); }},
      {"reserved +96", [](char* p) { format::put_u64(p + 96, 1); }},
      {"reserved +104", [](char* p) { format::put_u64(p + 104, 1); }},
      {"block size 1000", [](char* p) { format::put_u32(p + 12, 1000); }},
      {"the segment index's magic", [](char* p) { std::memcpy(p, "CAIRNIDX", 8); }},
  };
  for (const auto& [what, edit] : cases) {
    auto run = OpenCopy<StreamRun>(Reheader(file, edit), b.path, format::stream_hash);
    ASSERT_FALSE(run.ok()) << what;
    ExpectCorruptionNaming(run.status(), b.path);
  }
  // Version 1 was the one STREAMS file over every segment.
  for (uint32_t version : {0u, 1u, 3u}) {
    auto run = OpenCopy<StreamRun>(Reheader(file, [&](char* p) { format::put_u32(p + 8, version); }), b.path,
                                   format::stream_hash);
    ASSERT_FALSE(run.ok());
    EXPECT_EQ(run.status().code(), Code::kUnsupportedVersion) << run.status().to_string();
    EXPECT_NE(run.status().message().find(b.path), std::string::npos) << run.status().to_string();
  }
  EXPECT_TRUE(OpenCopy<StreamRun>(Reheader(file, [](char*) {}), b.path, format::stream_hash).ok());
}

TEST(StreamRunDamageTest, SegmentRangeOutOfOrderFailsOpen) {
  Built b = BuildAll(3, 4, 6, 4, format::stream_hash, 2);
  ASSERT_FALSE(b.file.empty());
  ASSERT_EQ(b.path, "STREAMS-00000002-00000004");
  auto clean = OpenCopy<StreamRun>(b.file, b.path, format::stream_hash);
  ASSERT_TRUE(clean.ok()) << clean.status().to_string();
  EXPECT_EQ((*clean)->first_segment(), 2u);
  EXPECT_EQ((*clean)->last_segment(), 4u);
  struct Range {
    uint64_t first, last;
  };
  for (Range r : {Range{0, 4}, Range{0, 0}, Range{5, 4}, Range{2, 1}, Range{~uint64_t{0}, 4}, Range{4, 3}}) {
    std::string bad = Reheader(b.file, [&](char* p) {
      format::put_u64(p + 40, r.last);
      format::put_u64(p + 80, r.first);
    });
    auto run = OpenCopy<StreamRun>(bad, b.path, format::stream_hash);
    ASSERT_FALSE(run.ok()) << r.first << ".." << r.last;
    EXPECT_EQ(run.status().code(), Code::kCorruption) << run.status().to_string();
    EXPECT_NE(run.status().message().find(b.path + ": inconsistent index header at offset 32"), std::string::npos)
        << run.status().to_string();
  }
  // Any range with 1 <= first <= last opens, one segment long included.
  for (Range r : {Range{1, 1}, Range{4, 4}, Range{1, 9}}) {
    std::string other = Reheader(b.file, [&](char* p) {
      format::put_u64(p + 40, r.last);
      format::put_u64(p + 80, r.first);
    });
    auto run = OpenCopy<StreamRun>(other, b.path, format::stream_hash);
    ASSERT_TRUE(run.ok()) << run.status().to_string();
    EXPECT_EQ((*run)->first_segment(), r.first);
    EXPECT_EQ((*run)->last_segment(), r.last);
  }
}

// A header narrowed to segments 3..4 over entries for 2..4: the entries for
// segment 2 are refused, the others still read.
TEST(StreamRunDamageTest, EntriesOutsideANarrowedRunAreRefused) {
  Built b = BuildAll(3, 4, 6, 4, format::stream_hash, 2);
  ASSERT_FALSE(b.file.empty());
  std::string narrowed = Reheader(b.file, [](char* p) { format::put_u64(p + 80, 3); });
  auto run = OpenCopy<StreamRun>(narrowed, "narrowed", format::stream_hash);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  size_t refused = 0;
  for (const auto& [name, m] : b.model) {
    auto found = (*run)->find(name);
    ASSERT_TRUE(found.ok() && found->has_value()) << name;
    for (size_t k = 0; k < m.entries.size(); ++k) {
      auto entry = (*run)->entry(uint64_t{(*found)->entry_start} + k);
      if (m.entries[k].first == 2) {
        ASSERT_FALSE(entry.ok()) << name;
        ExpectCorruptionNaming(entry.status(), "narrowed");
        EXPECT_NE(entry.status().message().find("entry names a segment outside the run"), std::string::npos)
            << entry.status().to_string();
        ++refused;
      } else {
        ASSERT_TRUE(entry.ok()) << entry.status().to_string();
        EXPECT_EQ(entry->sequence, m.entries[k].first);
      }
    }
  }
  EXPECT_GT(refused, 0u);
  StreamRunBuilder copy;
  EXPECT_EQ(copy.add_run(**run).code(), Code::kCorruption);
}

std::string Rebody(const std::string& file, uint64_t body_size, const std::function<void(char*)>& edit) {
  std::string body = file.substr(kHeader, body_size);
  edit(body.data());
  return format::seal_index_file(file.substr(0, kHeader), body);
}

TEST(StreamRunDamageTest, OutOfRangeRecordsWithValidChecksumsAreCorruption) {
  Built b = BuildAll(3, 4, 6, 4, format::stream_hash, 2);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamRun>(b.file, b.path, format::stream_hash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(Rebody(b.file, l.body, [](char*) {}), b.file);
  std::vector<RawSlot> raw = RawSlots(b.file, h, l);
  // The slot of "everywhere", and its first entry.
  uint64_t at = 0;
  while (raw[at].name != "everywhere") ++at;
  const uint64_t slot_at = l.slots + at * 40;
  const format::StreamsSlot slot = raw[at].slot;

  auto open = [&](const std::function<void(char*)>& edit) {
    auto run = OpenCopy<StreamRun>(Rebody(b.file, l.body, edit), "craft", format::stream_hash);
    EXPECT_TRUE(run.ok()) << run.status().to_string();
    return run.ok() ? std::move(*run) : nullptr;
  };
  auto expect_at = [&](const Status& s, uint64_t body_offset) {
    ExpectCorruptionNaming(s, "craft");
    EXPECT_NE(s.message().find("craft at offset " + std::to_string(kHeader + body_offset)), std::string::npos)
        << s.message();
  };
  for (auto edit : std::vector<std::function<void(char*)>>{
           [&](char* p) { format::put_u16(p + slot_at + 28, 0); },                                   // no name
           [&](char* p) { format::put_u32(p + slot_at + 24, static_cast<uint32_t>(h.names_size)); },  // name past the end
           [&](char* p) { format::put_u32(p + slot_at + 36, 0); },                                   // no entries
           [&](char* p) { format::put_u32(p + slot_at + 32, static_cast<uint32_t>(h.entry_count)); },
           [&](char* p) { format::put_u32(p + slot_at + 36, 0xffffffffu); },
           [&](char* p) { format::put_u64(p + slot_at + 8, 0); }}) {  // no versions
    auto run = open(edit);
    ASSERT_TRUE(run);
    auto found = run->find("everywhere");
    ASSERT_FALSE(found.ok());
    expect_at(found.status(), slot_at);
    expect_at(run->for_each_stream([](std::string_view, const format::StreamsSlot&) { return Status(); }), slot_at);
  }
  // Entries naming a segment outside the run's 2..4.
  ASSERT_EQ(h.first_segment, 2u);
  for (uint64_t sequence : {uint64_t{0}, h.first_segment - 1, h.last_segment + 1, ~uint64_t{0}}) {
    auto run = open([&](char* p) { format::put_u64(p + l.entries + uint64_t{slot.entry_start} * 16, sequence); });
    ASSERT_TRUE(run);
    auto found = run->find("everywhere");
    ASSERT_TRUE(found.ok() && found->has_value());
    auto entry = run->segment_of(**found, 0);
    ASSERT_FALSE(entry.ok());
    expect_at(entry.status(), l.entries + uint64_t{slot.entry_start} * 16);
    EXPECT_NE(entry.status().message().find("entry names a segment outside the run"), std::string::npos)
        << entry.status().to_string();
    StreamRunBuilder copy;
    EXPECT_FALSE(copy.add_run(*run).ok());
  }
  // A table with no empty slot: looking up an absent name still ends.
  {
    auto run = open([&](char* p) {
      for (uint64_t i = 0; i < h.slot_count; ++i) {
        if (format::get_u64(p + l.slots + i * 40) == 0) {
          std::memcpy(p + l.slots + i * 40, p + slot_at, 40);
          format::put_u64(p + l.slots + i * 40, 12345);  // a hash no name here has
        }
      }
    });
    ASSERT_TRUE(run);
    auto found = run->find("absent");
    EXPECT_TRUE(!found.ok() || !found->has_value());
    auto every = run->find("everywhere");
    ASSERT_TRUE(every.ok() && every->has_value());
  }
  // Lookups given slots that are not from this file fail instead of reading outside the body.
  format::StreamsSlot wild{1, 10, 0, 0xfffffff0u, 0xffff, 0xfffffff0u, 0xffffffffu};
  EXPECT_FALSE((*clean)->segment_of(wild, 3).ok());
}

}  // namespace
}  // namespace cairn::index
