// index/: the stream directory (STREAMS). Built from the segment indexes of
// a store modelled here (streams spanning several segments), checked lookup by
// lookup against the model; the incremental path (a directory over a partly
// indexed segment, then that segment whole and the next) must answer exactly
// like a directory built from scratch; colliding hashes; damaged files.
#include "index/stream_directory.h"

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

// The directory's content over the first `prefix` batches of `s`, applied to
// `model` (entries for the segment replace any it had).
void Apply(Model& model, const Segment& s, size_t prefix) {
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    ModelStream& m = model[b.stream];
    if (m.entries.empty() || m.entries.back().first != s.sequence) m.entries.emplace_back(s.sequence, b.first_version);
    EXPECT_EQ(m.next_version, b.first_version) << "the store broke version continuity";
    m.next_version = b.first_version + b.count;
    m.last_position = b.first_position + b.count - 1;
    for (uint64_t v = b.first_version; v < b.first_version + b.count; ++v) m.segment_of_version[v] = s.sequence;
  }
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
  uint64_t segment_count = 0;
  HashFn hash = format::stream_hash;
  std::string path;
  std::vector<std::string> names;
};

void CheckDirectory(const StreamDirectory& dir, const Model& model, const Expect& e) {
  const format::StreamsHeader& h = dir.header();
  uint64_t entries = 0;
  uint64_t names_size = 0;
  for (const auto& [name, m] : model) {
    entries += m.entries.size();
    names_size += name.size();
  }
  EXPECT_EQ(h.store_id, kStoreId);
  EXPECT_EQ(h.end_position, e.end_position);
  EXPECT_EQ(h.segment_count, e.segment_count);
  EXPECT_EQ(h.stream_count, model.size());
  EXPECT_TRUE(std::has_single_bit(h.slot_count)) << h.slot_count;
  EXPECT_GE(h.slot_count, 2 * model.size());
  EXPECT_EQ(h.entry_count, entries);
  EXPECT_EQ(h.names_size, names_size);
  EXPECT_EQ(dir.path(), e.path);

  for (const auto& [name, m] : model) {
    auto found = dir.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    ASSERT_TRUE(found->has_value()) << "stream not found: " << name;
    const format::StreamsSlot& slot = **found;
    EXPECT_EQ(slot.hash, SlotHash(e.hash, name));
    EXPECT_EQ(slot.next_version, m.next_version) << name;
    EXPECT_EQ(slot.last_position, m.last_position) << name;
    EXPECT_EQ(slot.name_len, name.size());
    ASSERT_EQ(slot.entry_count, m.entries.size()) << name;
    for (size_t k = 0; k < m.entries.size(); ++k) {
      auto entry = dir.entry(uint64_t{slot.entry_start} + k);
      ASSERT_TRUE(entry.ok()) << entry.status().to_string();
      EXPECT_EQ(entry->sequence, m.entries[k].first) << name << " entry " << k;
      EXPECT_EQ(entry->first_version, m.entries[k].second) << name << " entry " << k;
    }
    // segment_of for every version, against the segment its batch is in.
    ASSERT_EQ(m.segment_of_version.size(), m.next_version);
    std::map<uint64_t, uint64_t> first_in;  // sequence -> the stream's lowest version in it
    for (const auto& [version, sequence] : m.segment_of_version) first_in.try_emplace(sequence, version);
    for (const auto& [version, sequence] : m.segment_of_version) {
      auto entry = dir.segment_of(slot, version);
      ASSERT_TRUE(entry.ok()) << entry.status().to_string();
      ASSERT_EQ(entry->sequence, sequence) << name << " version " << version;
      ASSERT_EQ(entry->first_version, first_in.at(sequence)) << name << " version " << version;
    }
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (const std::string& name : AbsentNames(model, e.names)) {
    auto found = dir.find(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    EXPECT_FALSE(found->has_value()) << "found an absent stream: " << name;
  }
  EXPECT_FALSE(dir.entry(h.entry_count).ok());
  EXPECT_FALSE(dir.entry(~uint64_t{0}).ok());

  std::map<std::string, int> visits;
  Status st = dir.for_each_stream([&](std::string_view name, const format::StreamsSlot& slot) {
    ++visits[std::string(name)];
    auto found = dir.find(name);
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
    Status stop = dir.for_each_stream([&](std::string_view, const format::StreamsSlot&) {
      return ++calls == 2 ? Status::not_found("stop here") : Status();
    });
    EXPECT_EQ(stop.code(), Code::kNotFound);
    EXPECT_EQ(calls, 2);
  }
}

// Two directories answer every lookup alike.
void ExpectSameAnswers(const StreamDirectory& a, const StreamDirectory& b, const std::vector<std::string>& names) {
  EXPECT_EQ(a.header().stream_count, b.header().stream_count);
  EXPECT_EQ(a.header().entry_count, b.header().entry_count);
  EXPECT_EQ(a.header().end_position, b.header().end_position);
  EXPECT_EQ(a.header().segment_count, b.header().segment_count);
  for (const std::string& name : names) {
    auto x = a.find(name);
    auto y = b.find(name);
    ASSERT_TRUE(x.ok() && y.ok());
    ASSERT_EQ(x->has_value(), y->has_value()) << name;
    if (!x->has_value()) continue;
    const format::StreamsSlot& s = **x;
    const format::StreamsSlot& t = **y;
    EXPECT_EQ(s.next_version, t.next_version) << name;
    EXPECT_EQ(s.last_position, t.last_position) << name;
    ASSERT_EQ(s.entry_count, t.entry_count) << name;
    for (uint64_t k = 0; k < s.entry_count; ++k) {
      auto p = a.entry(uint64_t{s.entry_start} + k);
      auto q = b.entry(uint64_t{t.entry_start} + k);
      ASSERT_TRUE(p.ok() && q.ok());
      EXPECT_EQ(p->sequence, q->sequence) << name;
      EXPECT_EQ(p->first_version, q->first_version) << name;
    }
    for (uint64_t v = 0; v < s.next_version; ++v) {
      auto p = a.segment_of(s, v);
      auto q = b.segment_of(t, v);
      ASSERT_TRUE(p.ok() && q.ok());
      ASSERT_EQ(p->sequence, q->sequence) << name << " version " << v;
      ASSERT_EQ(p->first_version, q->first_version) << name << " version " << v;
    }
  }
}

std::string BuildDirectory(const std::vector<const SegmentIndex*>& segments, uint64_t end_position, HashFn hash,
                           const StreamDirectory* previous = nullptr) {
  StreamDirectoryBuilder builder(hash);
  if (previous != nullptr) { EXPECT_TRUE(builder.add_directory(*previous).ok()); }
  for (const SegmentIndex* s : segments) {
    Status st = builder.add_segment(*s);
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  return builder.finish(kStoreId, end_position, segments.empty() ? previous->header().segment_count
                                                                 : segments.back()->header().sequence);
}

// ------------------------------------------------------------------ tests

TEST(StreamDirectoryTest, EmptyDirectory) {
  StreamDirectoryBuilder builder;
  EXPECT_EQ(builder.stream_count(), 0u);
  std::string file = builder.finish(kStoreId, 0, 0);
  EXPECT_EQ(file.substr(0, 8), "CAIRNSTR");
  EXPECT_EQ(file.size(), FileSize(ExpectedLayout(1, 0, 0).body));
  auto dir = OpenCopy<StreamDirectory>(file, "STREAMS", format::stream_hash);
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  EXPECT_EQ((*dir)->header().slot_count, 1u);
  Expect e;
  e.path = "STREAMS";
  e.names = {"a", "b"};
  CheckDirectory(**dir, Model{}, e);
}

TEST(StreamDirectoryTest, StreamsSpanningSegments) {
  Store store = MakeStore(1, 4, 600, 200);
  Model model;
  std::vector<std::unique_ptr<SegmentIndex>> indexes;
  std::vector<const SegmentIndex*> ptrs;
  for (const Segment& s : store.segments) {
    Apply(model, s, s.batches.size());
    indexes.push_back(IndexOf(s, s.batches.size(), true, format::stream_hash));
    ASSERT_TRUE(indexes.back());
    ptrs.push_back(indexes.back().get());
  }
  ASSERT_EQ(model.at("one-and-three").entries.size(), 2u);
  EXPECT_EQ(model.at("one-and-three").entries[1].first, 3u);
  EXPECT_EQ(model.at("everywhere").entries.size(), 4u);
  size_t multi = 0;
  for (const auto& [name, m] : model) multi += m.entries.size() > 1;
  ASSERT_GT(multi, 20u) << "many streams should span segments";

  uint64_t end = store.segments.back().end_position(store.segments.back().batches.size());
  StreamDirectoryBuilder builder;
  for (const SegmentIndex* s : ptrs) ASSERT_TRUE(builder.add_segment(*s).ok());
  EXPECT_EQ(builder.stream_count(), model.size());
  std::string file = builder.finish(kStoreId, end, 4);
  EXPECT_EQ(builder.finish(kStoreId, end, 4), file);  // finish leaves the builder as it was
  auto dir = OpenCopy<StreamDirectory>(file, "STREAMS", format::stream_hash);
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  const auto& h = (*dir)->header();
  EXPECT_EQ(file.size(), FileSize(ExpectedLayout(h.slot_count, h.entry_count, h.names_size).body));
  Expect e;
  e.end_position = end;
  e.segment_count = 4;
  e.path = "STREAMS";
  e.names = store.names;
  CheckDirectory(**dir, model, e);

  // Hand-checked: "everywhere" opens every segment with 2 events and closes it with 1.
  auto every = (*dir)->find("everywhere");
  ASSERT_TRUE(every.ok() && every->has_value());
  EXPECT_EQ((*every)->next_version, 12u);
  EXPECT_EQ((*every)->last_position, end - 1);
  for (uint64_t v = 0; v < 12; ++v) {
    auto entry = (*dir)->segment_of(**every, v);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(entry->sequence, v / 3 + 1) << v;
    EXPECT_EQ(entry->first_version, v / 3 * 3) << v;
  }
}

// The incremental path, for prefixes of segment 2 from nothing to all of it.
class StreamDirectoryIncrementalTest : public ::testing::TestWithParam<NamedHash> {};

void CheckIncremental(HashFn hash, size_t streams, size_t batches) {
  Store store = MakeStore(2026, 4, batches, streams);
  const Segment& two = store.segments[1];
  std::vector<std::unique_ptr<SegmentIndex>> full;
  for (const Segment& s : store.segments) {
    full.push_back(IndexOf(s, s.batches.size(), true, hash));
    ASSERT_TRUE(full.back());
  }
  auto end_of = [&](size_t i) { return store.segments[i].end_position(store.segments[i].batches.size()); };

  // From scratch over all four segments.
  Model model;
  for (const Segment& s : store.segments) Apply(model, s, s.batches.size());
  auto scratch = OpenCopy<StreamDirectory>(
      BuildDirectory({full[0].get(), full[1].get(), full[2].get(), full[3].get()}, end_of(3), hash), "scratch",
      hash);
  ASSERT_TRUE(scratch.ok()) << scratch.status().to_string();
  Expect e;
  e.end_position = end_of(3);
  e.segment_count = 4;
  e.hash = hash;
  e.path = "scratch";
  e.names = store.names;
  CheckDirectory(**scratch, model, e);
  if (::testing::Test::HasFailure()) return;

  for (size_t prefix : {size_t{0}, size_t{1}, two.batches.size() / 2, two.batches.size() - 1, two.batches.size()}) {
    SCOPED_TRACE("segment 2 indexed up to batch " + std::to_string(prefix));
    // Segments 1 and (part of) 2, as a clean close leaves them.
    auto partial = IndexOf(two, prefix, false, hash);
    ASSERT_TRUE(partial);
    Model old_model;
    Apply(old_model, store.segments[0], store.segments[0].batches.size());
    Apply(old_model, two, prefix);
    auto old = OpenCopy<StreamDirectory>(BuildDirectory({full[0].get(), partial.get()}, two.end_position(prefix), hash),
                                         "old", hash);
    ASSERT_TRUE(old.ok()) << old.status().to_string();
    Expect oe = e;
    oe.end_position = two.end_position(prefix);
    oe.segment_count = 2;
    oe.path = "old";
    CheckDirectory(**old, old_model, oe);
    EXPECT_EQ(old_model.contains("late-in-two"), prefix == two.batches.size());
    if (::testing::Test::HasFailure()) return;

    // Then segment 2 whole, and 3 and 4.
    auto next = OpenCopy<StreamDirectory>(
        BuildDirectory({full[1].get(), full[2].get(), full[3].get()}, end_of(3), hash, old->get()), "next", hash);
    ASSERT_TRUE(next.ok()) << next.status().to_string();
    Expect ne = e;
    ne.path = "next";
    CheckDirectory(**next, model, ne);
    ExpectSameAnswers(**next, **scratch, store.names);

    // In two steps: segment 2 whole and 3, then 4 on top.
    auto step = OpenCopy<StreamDirectory>(
        BuildDirectory({full[1].get(), full[2].get()}, end_of(2), hash, old->get()), "step", hash);
    ASSERT_TRUE(step.ok());
    auto last = OpenCopy<StreamDirectory>(BuildDirectory({full[3].get()}, end_of(3), hash, step->get()), "last", hash);
    ASSERT_TRUE(last.ok());
    ne.path = "last";
    CheckDirectory(**last, model, ne);
    ExpectSameAnswers(**last, **scratch, store.names);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST_P(StreamDirectoryIncrementalTest, EqualsTheDirectoryBuiltFromScratch) {
  // Colliding hashes make every lookup a scan of all streams: a smaller store.
  bool colliding = GetParam().fn != &format::stream_hash;
  CheckIncremental(GetParam().fn, colliding ? 120 : 300, colliding ? 250 : 500);
}

INSTANTIATE_TEST_SUITE_P(Hashes, StreamDirectoryIncrementalTest,
                         ::testing::Values(NamedHash{"xxh3", &format::stream_hash},
                                           NamedHash{"constant", &ConstantHash}, NamedHash{"zero", &ZeroHash},
                                           NamedHash{"all_ones", &AllOnesHash},
                                           NamedHash{"length_mod_3", &LengthHash}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(StreamDirectoryTest, AddDirectoryAloneCopiesIt) {
  Store store = MakeStore(5, 3, 300, 100);
  std::vector<std::unique_ptr<SegmentIndex>> idx;
  Model model;
  for (const Segment& s : store.segments) {
    idx.push_back(IndexOf(s, s.batches.size(), true, format::stream_hash));
    ASSERT_TRUE(idx.back());
    Apply(model, s, s.batches.size());
  }
  uint64_t end = store.segments[2].end_position(store.segments[2].batches.size());
  auto dir = OpenCopy<StreamDirectory>(BuildDirectory({idx[0].get(), idx[1].get(), idx[2].get()}, end,
                                                      format::stream_hash),
                                       "STREAMS", format::stream_hash);
  ASSERT_TRUE(dir.ok());
  StreamDirectoryBuilder copy;
  ASSERT_TRUE(copy.add_directory(**dir).ok());
  ASSERT_TRUE(copy.add_directory(**dir).ok());  // a second time replaces, never appends
  EXPECT_EQ(copy.stream_count(), model.size());
  auto again = OpenCopy<StreamDirectory>(copy.finish(kStoreId, end, 3), "copy", format::stream_hash);
  ASSERT_TRUE(again.ok());
  Expect e;
  e.end_position = end;
  e.segment_count = 3;
  e.path = "copy";
  e.names = store.names;
  CheckDirectory(**again, model, e);
}

TEST(StreamDirectoryTest, LargeDirectorySpansSeveralBlocks) {
  Store store = MakeStore(77, 4, 2500, 3000);
  std::vector<std::unique_ptr<SegmentIndex>> idx;
  std::vector<const SegmentIndex*> ptrs;
  Model model;
  for (const Segment& s : store.segments) {
    idx.push_back(IndexOf(s, s.batches.size(), true, format::stream_hash));
    ASSERT_TRUE(idx.back());
    ptrs.push_back(idx.back().get());
    Apply(model, s, s.batches.size());
  }
  uint64_t end = store.segments[3].end_position(store.segments[3].batches.size());
  std::string file = BuildDirectory(ptrs, end, format::stream_hash);
  auto dir = OpenCopy<StreamDirectory>(file, "STREAMS", format::stream_hash);
  ASSERT_TRUE(dir.ok());
  const auto& h = (*dir)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(file.size(), FileSize(l.body));
  ASSERT_GE(l.body / kBlock, 5u);
  Expect e;
  e.end_position = end;
  e.segment_count = 4;
  e.path = "STREAMS";
  e.names = store.names;
  CheckDirectory(**dir, model, e);
}

// ------------------------------------------------------------------ damage

struct Built {
  Store store;
  Model model;
  std::vector<std::unique_ptr<SegmentIndex>> indexes;
  std::string file;
  uint64_t end = 0;
};

Built BuildAll(uint64_t seed, size_t segments, size_t batches, size_t streams, HashFn hash = format::stream_hash) {
  Built b;
  b.store = MakeStore(seed, segments, batches, streams);
  std::vector<const SegmentIndex*> ptrs;
  for (const Segment& s : b.store.segments) {
    b.indexes.push_back(IndexOf(s, s.batches.size(), true, hash));
    if (!b.indexes.back()) return b;  // reported by IndexOf; callers check that file is not empty
    ptrs.push_back(b.indexes.back().get());
    Apply(b.model, s, s.batches.size());
  }
  b.end = b.store.segments.back().end_position(b.store.segments.back().batches.size());
  b.file = BuildDirectory(ptrs, b.end, hash);
  return b;
}

TEST(StreamDirectoryDamageTest, EveryTruncationOfASmallFileFailsOpen) {
  Built b = BuildAll(3, 3, 4, 3);
  ASSERT_FALSE(b.file.empty());
  ASSERT_LT(b.file.size(), 2000u);
  ASSERT_TRUE(OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash).ok());
  for (size_t len = 0; len < b.file.size(); ++len) {
    auto dir = OpenCopy<StreamDirectory>(std::string_view(b.file).substr(0, len), "STREAMS", format::stream_hash);
    ASSERT_FALSE(dir.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(dir.status(), "STREAMS");
  }
  for (size_t extra : {1, 8, 4096}) {
    auto dir = OpenCopy<StreamDirectory>(b.file + std::string(extra, '\0'), "STREAMS", format::stream_hash);
    ASSERT_FALSE(dir.ok());
    ExpectCorruptionNaming(dir.status(), "STREAMS");
  }
}

TEST(StreamDirectoryDamageTest, TruncationsOfALargeFileFailOpen) {
  Built b = BuildAll(4, 3, 1500, 2000);
  ASSERT_FALSE(b.file.empty());
  ASSERT_GT(b.file.size(), 3 * kBlock);
  ASSERT_TRUE(OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash).ok());
  std::set<size_t> lengths;
  for (size_t len = 0; len <= 300; ++len) lengths.insert(len);
  for (size_t len = 301; len < b.file.size(); len += 1009) lengths.insert(len);
  for (size_t back = 1; back <= 64; ++back) lengths.insert(b.file.size() - back);
  for (size_t len : lengths) {
    auto dir = OpenCopy<StreamDirectory>(std::string_view(b.file).substr(0, len), "STREAMS", format::stream_hash);
    ASSERT_FALSE(dir.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(dir.status(), "STREAMS");
  }
}

TEST(StreamDirectoryDamageTest, EveryHeaderBitFlipFailsOpen) {
  Built b = BuildAll(3, 3, 6, 4);
  ASSERT_FALSE(b.file.empty());
  for (size_t i = 0; i < kHeader; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = b.file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto dir = OpenCopy<StreamDirectory>(bad, "STREAMS", format::stream_hash);
      ASSERT_FALSE(dir.ok()) << "opened with byte " << i << " bit " << bit << " flipped";
      if (i >= 8 && i < 12) {
        EXPECT_EQ(dir.status().code(), Code::kUnsupportedVersion) << dir.status().to_string();
      } else {
        ExpectCorruptionNaming(dir.status(), "STREAMS");
      }
    }
  }
}

TEST(StreamDirectoryDamageTest, EveryBlockTableBitFlipFailsOpen) {
  Built b = BuildAll(6, 3, 800, 1200);
  ASSERT_FALSE(b.file.empty());
  auto dir = OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash);
  ASSERT_TRUE(dir.ok());
  const auto& h = (*dir)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_EQ(b.file.size(), FileSize(l.body));
  ASSERT_GE(b.file.size() - kHeader - l.body, 16u);
  for (size_t i = kHeader + l.body; i < b.file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = b.file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto damaged = OpenCopy<StreamDirectory>(bad, "STREAMS", format::stream_hash);
      ASSERT_FALSE(damaged.ok()) << "opened with block table byte " << i << " bit " << bit << " flipped";
      ExpectCorruptionNaming(damaged.status(), "STREAMS");
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
void CheckDamagedDirectory(const StreamDirectory& dir, const std::vector<RawSlot>& raw, const Model& model,
                           const Layout& l, HashFn hash, const std::vector<std::string>& names, uint64_t block) {
  const std::string& path = dir.path();
  const uint64_t bad = kHeader + block * kBlock;
  const format::StreamsHeader& h = dir.header();
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
    auto found = dir.find(name);
    ASSERT_EQ(FailedAt(found, path, bad), probe_hits(name)) << "find " << name;
    if (!found.ok()) continue;
    ASSERT_TRUE(found->has_value());
    const format::StreamsSlot& slot = **found;
    EXPECT_EQ(slot.next_version, m.next_version);
    EXPECT_EQ(slot.last_position, m.last_position);
    bool entries_hit = Touches(l.entries + uint64_t{slot.entry_start} * 16, uint64_t{slot.entry_count} * 16, block);
    for (uint64_t k = 0; k < slot.entry_count; ++k) {
      auto entry = dir.entry(uint64_t{slot.entry_start} + k);
      ASSERT_EQ(FailedAt(entry, path, bad), Touches(l.entries + (uint64_t{slot.entry_start} + k) * 16, 16, block));
      if (entry.ok()) {
        EXPECT_EQ(entry->sequence, m.entries[k].first);
      }
    }
    for (const auto& [version, sequence] : m.segment_of_version) {
      auto entry = dir.segment_of(slot, version);
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
    auto found = dir.find(name);
    ASSERT_EQ(FailedAt(found, path, bad), probe_hits(name)) << "find absent " << name;
    if (found.ok()) { EXPECT_FALSE(found->has_value()); }
  }
  bool slots_hit = Touches(l.slots, h.slot_count * 40, block);
  bool names_hit = Touches(l.names, h.names_size, block);
  bool all_entries_hit = Touches(l.entries, h.entry_count * 16, block);
  size_t visits = 0;
  Status each = dir.for_each_stream([&](std::string_view, const format::StreamsSlot&) {
    ++visits;
    return Status();
  });
  EXPECT_EQ(FailedAt(each, path, bad), slots_hit || names_hit);
  if (each.ok()) { EXPECT_EQ(visits, model.size()); }
  // A builder copying the damaged directory reads everything but padding.
  StreamDirectoryBuilder copy(hash);
  EXPECT_EQ(FailedAt(copy.add_directory(dir), path, bad), slots_hit || names_hit || all_entries_hit);
}

TEST(StreamDirectoryDamageTest, ADamagedBodyBlockFailsOnlyTheLookupsThatTouchIt) {
  Built b = BuildAll(8, 4, 2000, 3000);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash);
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
      auto dir = OpenCopy<StreamDirectory>(bad, "STREAMS", format::stream_hash);
      ASSERT_TRUE(dir.ok()) << "a body flip must not fail open: " << dir.status().to_string();
      CheckDamagedDirectory(**dir, raw, b.model, l, format::stream_hash, b.store.names, block);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(StreamDirectoryDamageTest, CollidingHashesAndADamagedBlock) {
  // Every stream in one probe run (which wraps around the table's end).
  Built b = BuildAll(9, 3, 900, 1500, &AllOnesHash);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamDirectory>(b.file, "STREAMS", &AllOnesHash);
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
    auto dir = OpenCopy<StreamDirectory>(bad, "STREAMS", &AllOnesHash);
    ASSERT_TRUE(dir.ok());
    CheckDamagedDirectory(**dir, raw, b.model, l, &AllOnesHash, b.store.names, block);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(StreamDirectoryDamageTest, EveryBodyByteFlipOfASmallFileFailsItsLookups) {
  Built b = BuildAll(3, 3, 5, 4);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash);
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.slot_count, h.entry_count, h.names_size);
  ASSERT_LT(l.body, kBlock);
  std::vector<RawSlot> raw = RawSlots(b.file, h, l);
  for (uint64_t at = 0; at < l.body; ++at) {
    std::string bad = b.file;
    bad[kHeader + at] = static_cast<char>(bad[kHeader + at] ^ 0x80);
    auto dir = OpenCopy<StreamDirectory>(bad, "STREAMS", format::stream_hash);
    ASSERT_TRUE(dir.ok()) << at;
    CheckDamagedDirectory(**dir, raw, b.model, l, format::stream_hash, b.store.names, 0);
    EXPECT_FALSE((*dir)->find("everywhere").ok());
    if (::testing::Test::HasFailure()) return;
  }
}

std::string Reheader(std::string file, const std::function<void(char*)>& edit) {
  edit(file.data());
  format::put_u64(file.data() + 120, format::checksum(file.data(), 120));
  return file;
}

TEST(StreamDirectoryDamageTest, InconsistentHeadersWithValidChecksumsFailOpen) {
  Built b = BuildAll(3, 3, 6, 4);
  ASSERT_FALSE(b.file.empty());
  const std::string& file = b.file;
  auto clean = OpenCopy<StreamDirectory>(file, "STREAMS", format::stream_hash);
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
      {"reserved +80", [](char* p) { format::put_u64(p + 80, 1); }},
      {"reserved +88", [](char* p) { format::put_u64(p + 88, 1); }},
      {"reserved +96", [](char* p) { format::put_u64(p + 96, 1); }},
      {"reserved +104", [](char* p) { format::put_u64(p + 104, 1); }},
      {"block size 1000", [](char* p) { format::put_u32(p + 12, 1000); }},
      {"the segment index's magic", [](char* p) { std::memcpy(p, "CAIRNIDX", 8); }},
  };
  for (const auto& [what, edit] : cases) {
    auto dir = OpenCopy<StreamDirectory>(Reheader(file, edit), "STREAMS", format::stream_hash);
    ASSERT_FALSE(dir.ok()) << what;
    ExpectCorruptionNaming(dir.status(), "STREAMS");
  }
  for (uint32_t version : {0u, 2u}) {
    auto dir = OpenCopy<StreamDirectory>(Reheader(file, [&](char* p) { format::put_u32(p + 8, version); }), "STREAMS",
                                         format::stream_hash);
    ASSERT_FALSE(dir.ok());
    EXPECT_EQ(dir.status().code(), Code::kUnsupportedVersion) << dir.status().to_string();
  }
  EXPECT_TRUE(OpenCopy<StreamDirectory>(Reheader(file, [](char*) {}), "STREAMS", format::stream_hash).ok());
}

std::string Rebody(const std::string& file, uint64_t body_size, const std::function<void(char*)>& edit) {
  std::string body = file.substr(kHeader, body_size);
  edit(body.data());
  return format::seal_index_file(file.substr(0, kHeader), body);
}

TEST(StreamDirectoryDamageTest, OutOfRangeRecordsWithValidChecksumsAreCorruption) {
  Built b = BuildAll(3, 3, 6, 4);
  ASSERT_FALSE(b.file.empty());
  auto clean = OpenCopy<StreamDirectory>(b.file, "STREAMS", format::stream_hash);
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
    auto dir = OpenCopy<StreamDirectory>(Rebody(b.file, l.body, edit), "craft", format::stream_hash);
    EXPECT_TRUE(dir.ok()) << dir.status().to_string();
    return dir.ok() ? std::move(*dir) : nullptr;
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
    auto dir = open(edit);
    ASSERT_TRUE(dir);
    auto found = dir->find("everywhere");
    ASSERT_FALSE(found.ok());
    expect_at(found.status(), slot_at);
    expect_at(dir->for_each_stream([](std::string_view, const format::StreamsSlot&) { return Status(); }), slot_at);
  }
  // Entries naming segment 0 or one past the directory's segments.
  for (uint64_t sequence : {uint64_t{0}, h.segment_count + 1, ~uint64_t{0}}) {
    auto dir = open([&](char* p) { format::put_u64(p + l.entries + uint64_t{slot.entry_start} * 16, sequence); });
    ASSERT_TRUE(dir);
    auto found = dir->find("everywhere");
    ASSERT_TRUE(found.ok() && found->has_value());
    auto entry = dir->segment_of(**found, 0);
    ASSERT_FALSE(entry.ok());
    expect_at(entry.status(), l.entries + uint64_t{slot.entry_start} * 16);
    StreamDirectoryBuilder copy;
    EXPECT_FALSE(copy.add_directory(*dir).ok());
  }
  // A table with no empty slot: looking up an absent name still ends.
  {
    auto dir = open([&](char* p) {
      for (uint64_t i = 0; i < h.slot_count; ++i) {
        if (format::get_u64(p + l.slots + i * 40) == 0) {
          std::memcpy(p + l.slots + i * 40, p + slot_at, 40);
          format::put_u64(p + l.slots + i * 40, 12345);  // a hash no name here has
        }
      }
    });
    ASSERT_TRUE(dir);
    auto found = dir->find("absent");
    EXPECT_TRUE(!found.ok() || !found->has_value());
    auto every = dir->find("everywhere");
    ASSERT_TRUE(every.ok() && every->has_value());
  }
  // Lookups given slots that are not from this file fail instead of reading outside the body.
  format::StreamsSlot wild{1, 10, 0, 0xfffffff0u, 0xffff, 0xfffffff0u, 0xffffffffu};
  EXPECT_FALSE((*clean)->segment_of(wild, 3).ok());
}

}  // namespace
}  // namespace cairn::index
