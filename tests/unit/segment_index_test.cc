// index/: one segment's index file (SSSSSSSS.idx). SegmentIndexBuilder is fed
// real encoded batches; SegmentIndex is checked lookup by lookup against a
// model of the segment, with colliding stream hashes, and over damaged files
// (truncated, bits flipped in the header, the block table and each body block,
// crafted headers and records with valid checksums).
#include "index/segment_index.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/format_test_util.h"
#include "format/frame.h"
#include "format/index_file.h"
#include "index_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
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

const format::StoreId kStoreId = SequentialId(0x31).bytes;

// ------------------------------------------------------------------ model

using test_util::BuildSegment;
using test_util::ModelBatch;
using test_util::Plan;
using test_util::Segment;


// A random plan: `batches` batches over `names`, half of them on a few hot
// streams (long version lists), event counts mostly 1..3, sometimes up to 40.
Plan RandomPlan(std::mt19937_64& rng, size_t batches, const std::vector<std::string>& names, size_t hot = 8) {
  Plan plan;
  for (size_t i = 0; i < batches; ++i) {
    size_t pick = rng() % 2 == 0 ? rng() % std::min(hot, names.size()) : rng() % names.size();
    auto count = static_cast<uint32_t>(rng() % 8 == 0 ? 1 + rng() % 40 : 1 + rng() % 3);
    plan.emplace_back(names[pick], count);
  }
  return plan;
}

// Stream names of many lengths, with prefixes of each other, NUL and 0xff
// bytes, and one of the longest length allowed (1,024 bytes).
std::vector<std::string> StreamNames(std::mt19937_64& rng, size_t n) {
  std::vector<std::string> names = {"a", "ab", "abc", std::string("nul\0inside", 10), std::string("\xff\xfe", 2),
                                    std::string(1024, 'x'), "Order-1", "Order-10"};
  while (names.size() < n) {
    std::string name = "Stream-" + std::to_string(names.size()) + "-";
    size_t extra = rng() % 60;
    for (size_t i = 0; i < extra; ++i) name.push_back(static_cast<char>('a' + rng() % 26));
    names.push_back(name);
  }
  names.resize(n);
  return names;
}

struct ModelStream {
  uint64_t first_version = 0;
  std::vector<uint64_t> batches;  // ordinals, in version order
  uint64_t version_count = 0;
  uint64_t last_position = 0;
};

// The streams of the first `prefix` batches of `s`.
std::map<std::string, ModelStream> StreamsOf(const Segment& s, size_t prefix) {
  std::map<std::string, ModelStream> out;
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    auto [it, added] = out.try_emplace(b.stream);
    ModelStream& m = it->second;
    if (added) m.first_version = b.first_version;
    EXPECT_EQ(b.first_version, m.first_version + m.version_count) << "the plan broke version continuity";
    m.batches.push_back(i);
    m.version_count += b.count;
    m.last_position = b.first_position + b.count - 1;
  }
  return out;
}

std::string BuildIndex(const Segment& s, size_t prefix, bool sealed, std::string_view bitmaps,
                       HashFn hash = format::stream_hash) {
  SegmentIndexBuilder builder(kStoreId, s.sequence, s.first_position, hash);
  for (size_t i = 0; i < prefix; ++i) {
    const ModelBatch& b = s.batches[i];
    builder.add(b.offset, b.frame_size, b.checksum, s.views[i]);
  }
  EXPECT_EQ(builder.batch_count(), prefix);
  return builder.finish(sealed, bitmaps);
}

// Opens a copy of `bytes` held in a heap buffer of exactly its size (so that
// AddressSanitizer sees any read past the end), kept alive by the index.
Result<std::unique_ptr<SegmentIndex>> OpenCopy(std::string_view bytes, const std::string& path,
                                               HashFn hash = format::stream_hash) {
  std::shared_ptr<char[]> buffer(new char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(buffer.get(), bytes.data(), bytes.size());
  std::shared_ptr<const void> keep(buffer, buffer.get());
  return SegmentIndex::open(std::string_view(buffer.get(), bytes.size()), std::move(keep), path, hash);
}

// ------------------------------------------------------------------ hashes

uint64_t ConstantHash(std::string_view) { return 0x5eed5eed5eedull; }
uint64_t ZeroHash(std::string_view) { return 0; }
uint64_t AllOnesHash(std::string_view) { return ~uint64_t{0}; }
uint64_t LengthHash(std::string_view name) { return name.size() % 3; }  // a few distinct values

// A hash function with a name for test parameters (and for ctest's listing).
struct NamedHash {
  const char* name;
  HashFn fn;
  friend void PrintTo(const NamedHash& h, std::ostream* os) { *os << h.name; }
};

// ------------------------------------------------------------------ layout

// The body layout, computed here from FORMAT.md's description (not with
// format::segment_index_layout) so the two are checked against each other.
struct Layout {
  uint64_t batches, streams, lists, names, bitmaps, body;
};
uint64_t Align8(uint64_t n) { return (n + 7) / 8 * 8; }
Layout ExpectedLayout(uint64_t batch_count, uint64_t stream_count, uint64_t names_size, uint64_t bitmaps_size) {
  Layout l{};
  l.batches = 0;
  l.streams = batch_count * 16;
  l.lists = l.streams + stream_count * 32;
  l.names = l.lists + batch_count * 8;
  l.bitmaps = l.names + Align8(names_size);
  l.body = l.bitmaps + Align8(bitmaps_size);
  return l;
}
uint64_t FileSize(uint64_t body) { return kHeader + body + (body + kBlock - 1) / kBlock * 8; }

// Whether body bytes [begin, begin + size) lie (partly) in body block `block`.
bool Touches(uint64_t begin, uint64_t size, uint64_t block) {
  if (size == 0) return false;
  return begin / kBlock <= block && block <= (begin + size - 1) / kBlock;
}

// ------------------------------------------------------------------ checks

void ExpectCorruptionNaming(const Status& s, const std::string& path) {
  EXPECT_EQ(s.code(), Code::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("at offset"), std::string::npos) << s.message();
}

// A failed lookup over a damaged file must be Corruption naming the file and
// the damaged block's offset. Returns whether `r` failed.
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

void ExpectSameStream(const format::SegmentIndexStream& a, const format::SegmentIndexStream& b) {
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_EQ(a.first_version, b.first_version);
  EXPECT_EQ(a.name_offset, b.name_offset);
  EXPECT_EQ(a.name_len, b.name_len);
  EXPECT_EQ(a.list_start, b.list_start);
  EXPECT_EQ(a.list_count, b.list_count);
}

// Names that are not streams of `model`: near misses of real names and others.
std::vector<std::string> AbsentNames(const std::map<std::string, ModelStream>& model,
                                     const std::vector<std::string>& candidates) {
  std::vector<std::string> out = {"", "absent", std::string(1, '\0'), std::string(1025, 'x'), "A", "abcd", "b"};
  for (const std::string& c : candidates) out.push_back(c);
  for (const auto& [name, m] : model) {
    out.push_back(name + "x");
    out.push_back(name.substr(0, name.size() - 1));
    out.push_back(std::string(1, '\0') + name);
  }
  std::vector<std::string> absent;
  std::set<std::string> seen;
  for (const std::string& n : out) {
    if (!model.contains(n) && seen.insert(n).second) absent.push_back(n);
  }
  return absent;
}

struct Expect {
  const Segment* segment = nullptr;
  size_t prefix = 0;
  bool sealed = false;
  std::string bitmaps;
  HashFn hash = format::stream_hash;
  std::string path;
  std::vector<std::string> names;  // every candidate name (used or not)
};

// Every lookup of `index` against the model of `e`.
void CheckIndex(const SegmentIndex& index, const Expect& e) {
  const Segment& seg = *e.segment;
  std::map<std::string, ModelStream> model = StreamsOf(seg, e.prefix);
  const format::SegmentIndexHeader& h = index.header();

  // Header.
  uint64_t events = 0;
  for (size_t i = 0; i < e.prefix; ++i) events += seg.batches[i].count;
  uint64_t names_size = 0;
  for (const auto& [name, m] : model) names_size += name.size();
  EXPECT_EQ(h.store_id, kStoreId);
  EXPECT_EQ(h.sequence, seg.sequence);
  EXPECT_EQ(h.first_position, seg.first_position);
  EXPECT_EQ(h.event_count, events);
  EXPECT_EQ(h.batch_count, e.prefix);
  EXPECT_EQ(h.data_end, e.prefix == 0 ? format::kSegmentHeaderSize
                                      : seg.batches[e.prefix - 1].offset + seg.batches[e.prefix - 1].frame_size);
  EXPECT_EQ(h.last_frame_checksum, e.prefix == 0 ? 0 : seg.batches[e.prefix - 1].checksum);
  EXPECT_EQ(h.sealed(), e.sealed);
  EXPECT_EQ(h.flags, e.sealed ? format::kSegmentIndexSealed : 0u);
  EXPECT_EQ(h.stream_count, model.size());
  EXPECT_EQ(h.names_size, names_size);
  EXPECT_EQ(h.bitmaps_size, e.bitmaps.size());
  EXPECT_EQ(index.end_position(), seg.first_position + events);
  EXPECT_EQ(index.path(), e.path);

  // batch(i), and one past the end.
  for (size_t i = 0; i < e.prefix; ++i) {
    auto b = index.batch(i);
    ASSERT_TRUE(b.ok()) << i << ": " << b.status().to_string();
    EXPECT_EQ(b->offset, seg.batches[i].offset) << i;
    EXPECT_EQ(b->relative_position, seg.batches[i].first_position - seg.first_position) << i;
    EXPECT_EQ(b->count, seg.batches[i].count) << i;
  }
  auto past = index.batch(e.prefix);
  EXPECT_FALSE(past.ok());
  EXPECT_FALSE(index.batch(~uint64_t{0}).ok());

  // find_batch for every position, and positions outside the range.
  for (size_t i = 0; i < e.prefix; ++i) {
    const ModelBatch& b = seg.batches[i];
    for (uint64_t p = b.first_position; p < b.first_position + b.count; ++p) {
      auto found = index.find_batch(p);
      ASSERT_TRUE(found.ok()) << p << ": " << found.status().to_string();
      ASSERT_EQ(*found, i) << "position " << p;
    }
  }
  if (seg.first_position > 0) { EXPECT_FALSE(index.find_batch(seg.first_position - 1).ok()); }
  EXPECT_FALSE(index.find_batch(seg.first_position + events).ok());
  EXPECT_FALSE(index.find_batch(~uint64_t{0}).ok());

  // find_stream, stream_name, span and find_version for every stream.
  for (const auto& [name, m] : model) {
    auto found = index.find_stream(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    ASSERT_TRUE(found->has_value()) << "stream not found: " << name;
    const format::SegmentIndexStream& s = **found;
    EXPECT_EQ(s.hash, e.hash(name));
    EXPECT_EQ(s.first_version, m.first_version);
    EXPECT_EQ(s.name_len, name.size());
    EXPECT_EQ(s.list_count, m.batches.size());
    auto n = index.stream_name(s);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, name);
    auto span = index.span(s);
    ASSERT_TRUE(span.ok()) << span.status().to_string();
    EXPECT_EQ(span->version_count, m.version_count) << name;
    EXPECT_EQ(span->last_position, m.last_position) << name;
    for (uint64_t ordinal : m.batches) {
      const ModelBatch& b = seg.batches[ordinal];
      for (uint64_t v = b.first_version; v < b.first_version + b.count; ++v) {
        auto hit = index.find_version(s, v);
        ASSERT_TRUE(hit.ok()) << hit.status().to_string();
        ASSERT_EQ(hit->batch, ordinal) << name << " version " << v;
        ASSERT_EQ(hit->first_version, b.first_version) << name << " version " << v;
      }
    }
    if (m.first_version > 0) { EXPECT_FALSE(index.find_version(s, m.first_version - 1).ok()); }
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (const std::string& name : AbsentNames(model, e.names)) {
    auto found = index.find_stream(name);
    ASSERT_TRUE(found.ok()) << found.status().to_string();
    EXPECT_FALSE(found->has_value()) << "found an absent stream: " << name;
  }

  // bitmaps() hands back exactly the bytes given.
  auto bitmaps = index.bitmaps();
  ASSERT_TRUE(bitmaps.ok());
  EXPECT_EQ(*bitmaps, e.bitmaps);

  // for_each_stream: each stream once, sorted by (hash, name), their lists
  // laid end to end.
  std::vector<std::pair<uint64_t, std::string>> expected_order;
  for (const auto& [name, m] : model) expected_order.emplace_back(e.hash(name), name);
  std::sort(expected_order.begin(), expected_order.end());
  std::vector<std::string> visited;
  uint64_t list_at = 0;
  uint64_t name_bytes = 0;
  Status st = index.for_each_stream([&](std::string_view name, const format::SegmentIndexStream& s) {
    visited.emplace_back(name);
    auto found = index.find_stream(name);
    EXPECT_TRUE(found.ok() && found->has_value()) << name;
    if (found.ok() && found->has_value()) ExpectSameStream(s, **found);
    EXPECT_EQ(s.list_start, list_at) << name;
    list_at += s.list_count;
    name_bytes += s.name_len;
    return Status();
  });
  EXPECT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(visited.size(), expected_order.size());
  for (size_t i = 0; i < visited.size(); ++i) EXPECT_EQ(visited[i], expected_order[i].second) << i;
  EXPECT_EQ(list_at, e.prefix);
  EXPECT_EQ(name_bytes, names_size);

  // for_each_stream stops at the first error and returns it.
  if (model.size() >= 2) {
    int calls = 0;
    Status stop = index.for_each_stream([&](std::string_view, const format::SegmentIndexStream&) {
      return ++calls == 2 ? Status::not_found("stop here") : Status();
    });
    EXPECT_EQ(stop.code(), Code::kNotFound);
    EXPECT_EQ(stop.message(), "stop here");
    EXPECT_EQ(calls, 2);
  }
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A segment of `batches` random batches over `streams` names, versions
// starting at 0, somewhere below 1,000 or past 2^40.
struct RandomCase {
  std::vector<std::string> names;
  Segment segment;
};
RandomCase MakeRandom(uint64_t seed, size_t batches, size_t streams, uint64_t first_position = 123456) {
  std::mt19937_64 rng(seed);
  RandomCase c;
  c.names = StreamNames(rng, streams);
  std::map<std::string, uint64_t> next;
  for (size_t i = 0; i < c.names.size(); ++i) {
    switch (rng() % 3) {
      case 0: next[c.names[i]] = 0; break;
      case 1: next[c.names[i]] = rng() % 1000; break;
      default: next[c.names[i]] = (uint64_t{1} << 40) + rng() % 1000; break;
    }
  }
  c.segment = BuildSegment(7, first_position, RandomPlan(rng, batches, c.names), next);
  return c;
}

// ------------------------------------------------------------------ tests

TEST(SegmentIndexTest, EmptyIndexOpensAndFindsNothing) {
  std::map<std::string, uint64_t> next;
  Segment seg = BuildSegment(3, 500, {}, next);
  std::string file = BuildIndex(seg, 0, false, "");
  EXPECT_EQ(file.size(), kHeader);  // no body, no block table
  auto index = OpenCopy(file, "empty.idx");
  ASSERT_TRUE(index.ok()) << index.status().to_string();
  Expect e;
  e.segment = &seg;
  e.path = "empty.idx";
  e.names = {"a", "b"};
  CheckIndex(**index, e);
  ExpectCorruptionNaming((*index)->find_batch(500).status(), "empty.idx");
  ExpectCorruptionNaming((*index)->batch(0).status(), "empty.idx");
}

TEST(SegmentIndexTest, SmallSegmentMatchesItsBatches) {
  std::map<std::string, uint64_t> next = {{"Order-1", 10}, {"b", 0}};
  Plan plan = {{"Order-1", 2}, {"b", 1}, {"Order-1", 3}, {"c", 1}, {"b", 4}, {"Order-1", 1}, {"Order-10", 2}};
  Segment seg = BuildSegment(2, 40, plan, next);
  for (bool sealed : {true, false}) {
    std::string bitmaps = "bit";  // not a multiple of 8: padded in the file
    std::string file = BuildIndex(seg, plan.size(), sealed, bitmaps);
    Layout l = ExpectedLayout(plan.size(), 4, std::string("Order-1bcOrder-10").size(), bitmaps.size());
    EXPECT_EQ(file.size(), FileSize(l.body));
    EXPECT_EQ(file.substr(0, 8), "CAIRNIDX");
    auto index = OpenCopy(file, "00000002.idx");
    ASSERT_TRUE(index.ok()) << index.status().to_string();
    Expect e;
    e.segment = &seg;
    e.prefix = plan.size();
    e.sealed = sealed;
    e.bitmaps = bitmaps;
    e.path = "00000002.idx";
    e.names = {"Order-1", "Order-10", "Order-", "b", "c", "d"};
    CheckIndex(**index, e);

    // Spot checks written out by hand.
    auto order = (*index)->find_stream("Order-1");
    ASSERT_TRUE(order.ok() && order->has_value());
    EXPECT_EQ((*order)->first_version, 10u);
    EXPECT_EQ((*order)->list_count, 3u);
    auto hit = (*index)->find_version(**order, 14);  // versions 12..14 are the third batch
    ASSERT_TRUE(hit.ok());
    EXPECT_EQ(hit->batch, 2u);
    EXPECT_EQ(hit->first_version, 12u);
    auto span = (*index)->span(**order);
    ASSERT_TRUE(span.ok());
    EXPECT_EQ(span->version_count, 6u);   // versions 10..15
    EXPECT_EQ(span->last_position, 51u);  // positions 40,41 | 42 | 43..45 | 46 | 47..50 | 51
    auto at = (*index)->find_batch(48);
    ASSERT_TRUE(at.ok());
    EXPECT_EQ(*at, 4u);
  }
}

TEST(SegmentIndexTest, FinishIsDeterministicAndRepeatable) {
  RandomCase c = MakeRandom(11, 300, 40);
  SegmentIndexBuilder builder(kStoreId, c.segment.sequence, c.segment.first_position);
  for (size_t i = 0; i < c.segment.batches.size(); ++i) {
    const ModelBatch& b = c.segment.batches[i];
    builder.add(b.offset, b.frame_size, b.checksum, c.segment.views[i]);
  }
  std::string first = builder.finish(true, "bitmaps");
  EXPECT_EQ(builder.finish(true, "bitmaps"), first);
  EXPECT_EQ(BuildIndex(c.segment, c.segment.batches.size(), true, "bitmaps"), first);
  EXPECT_NE(builder.finish(false, "bitmaps"), first);
}

// The in-memory indexes' path: batches whose streams the caller keys (any
// numbering, here sparse and in reverse order of first appearance) make the
// same file as the batches themselves.
TEST(SegmentIndexTest, KeyedBatchesMakeTheSameFileAsDecodedOnes) {
  RandomCase c = MakeRandom(12, 2000, 150);
  std::map<std::string, uint32_t> keys;
  for (const ModelBatch& b : c.segment.batches) keys.try_emplace(b.stream, 0);
  uint32_t next_key = 7 * static_cast<uint32_t>(keys.size());
  SegmentContents contents;
  contents.names.resize(next_key + 7);
  for (const ModelBatch& b : c.segment.batches) {
    uint32_t& key = keys[b.stream];
    if (key == 0) {
      key = next_key;
      next_key -= 7;
      contents.names[key] = b.stream;
    }
    BatchLocation loc;
    loc.first_position = b.first_position;
    loc.first_version = b.first_version;
    loc.offset = b.offset;
    loc.frame_size = b.frame_size;
    loc.count = b.count;
    loc.stream = key;
    contents.batches.push_back(loc);
  }
  contents.bitmaps = "the bitmaps section";
  contents.last_frame_checksum = c.segment.batches.back().checksum;
  for (bool sealed : {false, true}) {
    EXPECT_EQ(build_segment_index(kStoreId, c.segment.sequence, c.segment.first_position, contents, sealed),
              BuildIndex(c.segment, c.segment.batches.size(), sealed, contents.bitmaps));
  }
  // The last frame's checksum is part of the file.
  contents.last_frame_checksum ^= 1;
  EXPECT_NE(build_segment_index(kStoreId, c.segment.sequence, c.segment.first_position, contents, true),
            BuildIndex(c.segment, c.segment.batches.size(), true, contents.bitmaps));
}

TEST(SegmentIndexTest, LargeRandomSegmentSpansSeveralBlocks) {
  RandomCase c = MakeRandom(20261127, 9000, 400);
  std::mt19937_64 rng(5);
  std::string bitmaps = RandomBytes(rng, 100'003);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, bitmaps);
  auto model = StreamsOf(c.segment, c.segment.batches.size());
  uint64_t names_size = 0;
  for (const auto& [name, m] : model) names_size += name.size();
  Layout l = ExpectedLayout(c.segment.batches.size(), model.size(), names_size, bitmaps.size());
  ASSERT_EQ(file.size(), FileSize(l.body));
  ASSERT_GE(l.body / kBlock, 4u) << "the body should span several blocks";
  ASSERT_GT(l.lists / kBlock, l.batches / kBlock) << "sections should sit in different blocks";

  auto index = OpenCopy(file, "00000007.idx");
  ASSERT_TRUE(index.ok()) << index.status().to_string();
  Expect e;
  e.segment = &c.segment;
  e.prefix = c.segment.batches.size();
  e.sealed = true;
  e.bitmaps = bitmaps;
  e.path = "00000007.idx";
  e.names = c.names;
  CheckIndex(**index, e);
}

TEST(SegmentIndexTest, PartialIndexCoversAPrefix) {
  RandomCase c = MakeRandom(77, 4000, 150);
  for (size_t prefix : {size_t{1}, size_t{2}, size_t{1999}, size_t{3999}}) {
    SCOPED_TRACE(prefix);
    std::string file = BuildIndex(c.segment, prefix, false, "xy");
    auto index = OpenCopy(file, "00000007.idx");
    ASSERT_TRUE(index.ok()) << index.status().to_string();
    Expect e;
    e.segment = &c.segment;
    e.prefix = prefix;
    e.sealed = false;
    e.bitmaps = "xy";
    e.path = "00000007.idx";
    e.names = c.names;
    CheckIndex(**index, e);
    // Positions after the prefix are not in this index.
    EXPECT_FALSE((*index)->find_batch(c.segment.batches[prefix].first_position).ok());
  }
}

TEST(SegmentIndexTest, KeepsItsMappingAlive) {
  RandomCase c = MakeRandom(3, 200, 20);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, "");
  std::unique_ptr<SegmentIndex> index;
  {
    auto opened = OpenCopy(file, "keep.idx");  // the only owner of the buffer is the index
    ASSERT_TRUE(opened.ok());
    index = std::move(*opened);
  }
  Expect e;
  e.segment = &c.segment;
  e.prefix = c.segment.batches.size();
  e.sealed = true;
  e.path = "keep.idx";
  e.names = c.names;
  CheckIndex(*index, e);
}

class SegmentIndexCollisionTest : public ::testing::TestWithParam<NamedHash> {};

TEST_P(SegmentIndexCollisionTest, EveryLookupResolvesByName) {
  HashFn hash = GetParam().fn;
  RandomCase c = MakeRandom(99, 3000, 120);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, "bm", hash);
  auto index = OpenCopy(file, "collide.idx", hash);
  ASSERT_TRUE(index.ok()) << index.status().to_string();
  Expect e;
  e.segment = &c.segment;
  e.prefix = c.segment.batches.size();
  e.sealed = true;
  e.bitmaps = "bm";
  e.hash = hash;
  e.path = "collide.idx";
  e.names = c.names;
  CheckIndex(**index, e);
}

INSTANTIATE_TEST_SUITE_P(Hashes, SegmentIndexCollisionTest,
                         ::testing::Values(NamedHash{"constant", &ConstantHash}, NamedHash{"zero", &ZeroHash},
                                           NamedHash{"all_ones", &AllOnesHash},
                                           NamedHash{"length_mod_3", &LengthHash}),
                         [](const auto& info) { return std::string(info.param.name); });

// ------------------------------------------------------------------ damage

std::string SmallFile(Segment& seg) {
  std::map<std::string, uint64_t> next = {{"s", 5}};
  Plan plan = {{"s", 2}, {"t", 1}, {"s", 1}, {"u", 3}, {"t", 2}};
  seg = BuildSegment(4, 90, plan, next);
  return BuildIndex(seg, plan.size(), true, "bitmap!");
}

TEST(SegmentIndexDamageTest, EveryTruncationOfASmallFileFailsOpen) {
  Segment seg;
  std::string file = SmallFile(seg);
  ASSERT_TRUE(OpenCopy(file, "small.idx").ok());
  for (size_t len = 0; len < file.size(); ++len) {
    auto index = OpenCopy(std::string_view(file).substr(0, len), "small.idx");
    ASSERT_FALSE(index.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(index.status(), "small.idx");
  }
  for (size_t extra : {1, 7, 8, 4096}) {
    auto index = OpenCopy(file + std::string(extra, '\0'), "small.idx");
    ASSERT_FALSE(index.ok()) << "opened a file with " << extra << " bytes appended";
    ExpectCorruptionNaming(index.status(), "small.idx");
  }
}

TEST(SegmentIndexDamageTest, TruncationsOfALargeFileFailOpen) {
  RandomCase c = MakeRandom(8, 6000, 200);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, std::string(70'000, 'b'));
  ASSERT_GT(file.size(), 3 * kBlock);
  ASSERT_TRUE(OpenCopy(file, "large.idx").ok());
  std::set<size_t> lengths;
  for (size_t len = 0; len <= 300; ++len) lengths.insert(len);
  for (size_t len = 301; len < file.size(); len += 997) lengths.insert(len);
  for (size_t back = 1; back <= 64; ++back) lengths.insert(file.size() - back);
  for (size_t b = 1; b * kBlock < file.size(); ++b) {
    for (size_t len : {b * kBlock + kHeader - 1, b * kBlock + kHeader, b * kBlock + kHeader + 1}) {
      if (len < file.size()) lengths.insert(len);
    }
  }
  for (size_t len : lengths) {
    auto index = OpenCopy(std::string_view(file).substr(0, len), "large.idx");
    ASSERT_FALSE(index.ok()) << "opened a file truncated to " << len << " bytes";
    ExpectCorruptionNaming(index.status(), "large.idx");
  }
}

TEST(SegmentIndexDamageTest, EveryHeaderBitFlipFailsOpen) {
  Segment seg;
  std::string file = SmallFile(seg);
  for (size_t i = 0; i < kHeader; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto index = OpenCopy(bad, "hdr.idx");
      ASSERT_FALSE(index.ok()) << "opened with byte " << i << " bit " << bit << " flipped";
      if (i >= 8 && i < 12) {
        EXPECT_EQ(index.status().code(), Code::kUnsupportedVersion) << i << ": " << index.status().to_string();
        EXPECT_NE(index.status().message().find("hdr.idx"), std::string::npos);
      } else {
        ExpectCorruptionNaming(index.status(), "hdr.idx");
      }
    }
  }
}

TEST(SegmentIndexDamageTest, EveryBlockTableBitFlipFailsOpen) {
  RandomCase c = MakeRandom(9, 5000, 100);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, "");
  auto model = StreamsOf(c.segment, c.segment.batches.size());
  uint64_t names_size = 0;
  for (const auto& [name, m] : model) names_size += name.size();
  Layout l = ExpectedLayout(c.segment.batches.size(), model.size(), names_size, 0);
  ASSERT_EQ(file.size(), FileSize(l.body));
  uint64_t table = kHeader + l.body;
  ASSERT_GE(file.size() - table, 16u);  // at least two blocks
  for (size_t i = table; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = file;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto index = OpenCopy(bad, "table.idx");
      ASSERT_FALSE(index.ok()) << "opened with block table byte " << i << " bit " << bit << " flipped";
      ExpectCorruptionNaming(index.status(), "table.idx");
    }
  }
}

// With body block `block` damaged: every lookup gives the right answer or
// Corruption naming the file and that block's offset; it must fail when it
// has to read the block and must succeed when it cannot reach it.
void CheckDamagedBlock(const SegmentIndex& index, const SegmentIndex& clean, const Segment& seg, const Layout& l,
                       const std::string& bitmaps, uint64_t block) {
  const std::string& path = index.path();
  const uint64_t bad = kHeader + block * kBlock;
  const uint64_t batch_count = seg.batches.size();
  std::map<std::string, ModelStream> model = StreamsOf(seg, batch_count);
  uint64_t names_size = clean.header().names_size;
  const bool batches_hit = Touches(l.batches, batch_count * 16, block);
  const bool streams_hit = Touches(l.streams, uint64_t{clean.header().stream_count} * 32, block);
  const bool names_hit = Touches(l.names, names_size, block);

  for (uint64_t i = 0; i < batch_count; ++i) {
    auto b = index.batch(i);
    bool failed = FailedAt(b, path, bad);
    ASSERT_EQ(failed, Touches(l.batches + i * 16, 16, block)) << "batch " << i;
    if (!failed) {
      EXPECT_EQ(b->offset, seg.batches[i].offset);
      EXPECT_EQ(b->count, seg.batches[i].count);
    }
  }
  for (uint64_t i = 0; i < batch_count; ++i) {
    const ModelBatch& mb = seg.batches[i];
    for (uint64_t p = mb.first_position; p < mb.first_position + mb.count; ++p) {
      auto found = index.find_batch(p);
      bool failed = FailedAt(found, path, bad);
      if (Touches(l.batches + i * 16, 16, block)) { ASSERT_TRUE(failed) << "position " << p; }
      if (!batches_hit) { ASSERT_FALSE(failed) << "position " << p; }
      if (!failed) { ASSERT_EQ(*found, i) << "position " << p; }
    }
  }
  Status st = clean.for_each_stream([&](std::string_view name, const format::SegmentIndexStream& s) {
    const ModelStream& m = model.at(std::string(name));
    // find_stream reads this stream's record and its name.
    auto found = index.find_stream(name);
    bool failed = FailedAt(found, path, bad);
    bool must = Touches(l.names + s.name_offset, s.name_len, block);
    if (must) { EXPECT_TRUE(failed) << "find_stream " << name; }
    if (!streams_hit && !names_hit) { EXPECT_FALSE(failed) << "find_stream " << name; }
    if (!failed) {
      EXPECT_TRUE(found->has_value());
      if (found->has_value()) ExpectSameStream(**found, s);
    }
    // stream_name reads exactly the name.
    auto n = index.stream_name(s);
    EXPECT_EQ(FailedAt(n, path, bad), must) << "stream_name " << name;
    if (n.ok()) { EXPECT_EQ(*n, name); }
    // span reads the last list entry and its batch.
    uint64_t last_entry = l.lists + (uint64_t{s.list_start} + s.list_count - 1) * 8;
    uint64_t last_batch = m.batches.back();
    auto span = index.span(s);
    EXPECT_EQ(FailedAt(span, path, bad),
              Touches(last_entry, 8, block) || Touches(l.batches + last_batch * 16, 16, block))
        << "span " << name;
    if (span.ok()) {
      EXPECT_EQ(span->version_count, m.version_count);
      EXPECT_EQ(span->last_position, m.last_position);
    }
    // find_version reads only this stream's list, and surely the entry it returns.
    bool list_hit = Touches(l.lists + uint64_t{s.list_start} * 8, uint64_t{s.list_count} * 8, block);
    for (size_t k = 0; k < m.batches.size(); ++k) {
      const ModelBatch& mb = seg.batches[m.batches[k]];
      for (uint64_t v = mb.first_version; v < mb.first_version + mb.count; ++v) {
        auto hit = index.find_version(s, v);
        bool vfailed = FailedAt(hit, path, bad);
        if (Touches(l.lists + (uint64_t{s.list_start} + k) * 8, 8, block)) {
          EXPECT_TRUE(vfailed) << name << " v" << v;
        }
        if (!list_hit) { EXPECT_FALSE(vfailed) << name << " v" << v; }
        if (!vfailed) {
          EXPECT_EQ(hit->batch, m.batches[k]);
          EXPECT_EQ(hit->first_version, mb.first_version);
        }
      }
    }
    return ::testing::Test::HasFailure() ? Status::corruption("stop: failures above") : Status();
  });
  ASSERT_TRUE(st.ok()) << st.to_string();

  // find_stream must be able to fail on its own record too: check through the
  // record's own index (file order).
  uint64_t i = 0;
  st = clean.for_each_stream([&](std::string_view name, const format::SegmentIndexStream&) {
    if (Touches(l.streams + i * 32, 32, block)) {
      EXPECT_FALSE(index.find_stream(name).ok()) << "find_stream read a damaged record: " << name;
    }
    ++i;
    return Status();
  });
  ASSERT_TRUE(st.ok());

  // Absent names read only the streams and names sections.
  for (const std::string& name : AbsentNames(model, {"absent", "Stream-x"})) {
    auto found = index.find_stream(name);
    bool failed = FailedAt(found, path, bad);
    if (!streams_hit && !names_hit) { EXPECT_FALSE(failed) << "find_stream absent " << name; }
    if (!failed) { EXPECT_FALSE(found->has_value()) << name; }
  }

  auto bm = index.bitmaps();
  EXPECT_EQ(FailedAt(bm, path, bad), Touches(l.bitmaps, bitmaps.size(), block));
  if (bm.ok()) { EXPECT_EQ(*bm, bitmaps); }

  size_t visits = 0;
  Status each = index.for_each_stream([&](std::string_view, const format::SegmentIndexStream&) {
    ++visits;
    return Status();
  });
  EXPECT_EQ(FailedAt(each, path, bad), streams_hit || names_hit);
  if (each.ok()) { EXPECT_EQ(visits, model.size()); }

  // A damaged block stays damaged; a good one stays good.
  for (uint64_t j = 0; j < batch_count; j += 97) {
    EXPECT_EQ(index.batch(j).ok(), !Touches(l.batches + j * 16, 16, block));
  }
}

TEST(SegmentIndexDamageTest, ADamagedBodyBlockFailsOnlyTheLookupsThatTouchIt) {
  RandomCase c = MakeRandom(4242, 7000, 300);
  std::mt19937_64 rng(6);
  std::string bitmaps = RandomBytes(rng, 90'001);
  std::string file = BuildIndex(c.segment, c.segment.batches.size(), true, bitmaps);
  auto clean = OpenCopy(file, "clean.idx");
  ASSERT_TRUE(clean.ok());
  const auto& h = (*clean)->header();
  Layout l = ExpectedLayout(h.batch_count, h.stream_count, h.names_size, h.bitmaps_size);
  ASSERT_EQ(file.size(), FileSize(l.body));
  uint64_t blocks = (l.body + kBlock - 1) / kBlock;
  ASSERT_GE(blocks, 4u);
  for (uint64_t block = 0; block < blocks; ++block) {
    SCOPED_TRACE("damaged block " + std::to_string(block));
    uint64_t len = std::min(kBlock, l.body - block * kBlock);
    // Two places in the block: its middle and its very last byte.
    for (uint64_t at : {block * kBlock + len / 2, block * kBlock + len - 1}) {
      std::string bad = file;
      bad[kHeader + at] = static_cast<char>(bad[kHeader + at] ^ 0x10);
      auto index = OpenCopy(bad, "00000007.idx");
      ASSERT_TRUE(index.ok()) << "a body flip must not fail open: " << index.status().to_string();
      CheckDamagedBlock(**index, **clean, c.segment, l, bitmaps, block);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(SegmentIndexDamageTest, EveryBodyByteFlipOfASmallFileFailsItsLookups) {
  Segment seg;
  std::string file = SmallFile(seg);
  auto clean = OpenCopy(file, "clean.idx");
  ASSERT_TRUE(clean.ok());
  const auto& h = (*clean)->header();
  Layout l = ExpectedLayout(h.batch_count, h.stream_count, h.names_size, h.bitmaps_size);
  ASSERT_EQ(file.size(), FileSize(l.body));
  ASSERT_LT(l.body, kBlock);  // one block: every lookup reads it
  for (uint64_t at = 0; at < l.body; ++at) {
    std::string bad = file;
    bad[kHeader + at] = static_cast<char>(bad[kHeader + at] ^ 0x80);
    auto index = OpenCopy(bad, "small.idx");
    ASSERT_TRUE(index.ok()) << at;
    CheckDamagedBlock(**index, **clean, seg, l, "bitmap!", 0);
    EXPECT_FALSE((*index)->find_stream("s").ok());
    EXPECT_FALSE((*index)->find_stream("absent").ok());
    EXPECT_FALSE((*index)->find_batch(90).ok());
    if (::testing::Test::HasFailure()) return;
  }
}

// Rewrites header bytes and seals the header's checksum again, as a writer
// with a bug (or an attacker) would.
std::string Reheader(std::string file, const std::function<void(char*)>& edit) {
  edit(file.data());
  format::put_u64(file.data() + 120, format::checksum(file.data(), 120));
  return file;
}

TEST(SegmentIndexDamageTest, InconsistentHeadersWithValidChecksumsFailOpen) {
  Segment seg;
  std::string file = SmallFile(seg);
  const uint64_t batches = 5;
  ASSERT_EQ(format::get_u64(file.data() + 56), batches);
  std::vector<std::pair<std::string, std::function<void(char*)>>> cases = {
      {"batch count 2^62", [](char* p) { format::put_u64(p + 56, uint64_t{1} << 62); }},
      {"batch count ~0", [](char* p) { format::put_u64(p + 56, ~uint64_t{0}); }},
      {"batch count + 1", [](char* p) { format::put_u64(p + 56, batches + 1); }},
      {"batch count - 1", [](char* p) { format::put_u64(p + 56, batches - 1); }},
      {"more streams than batches", [](char* p) { format::put_u32(p + 84, batches + 1); }},
      {"stream count ~0", [](char* p) { format::put_u32(p + 84, ~uint32_t{0}); }},
      {"fewer events than batches", [](char* p) { format::put_u64(p + 48, batches - 1); }},
      {"names size ~0", [](char* p) { format::put_u64(p + 88, ~uint64_t{0}); }},
      {"names size + 8", [](char* p) { format::put_u64(p + 88, format::get_u64(p + 88) + 8); }},
      {"bitmaps size ~0", [](char* p) { format::put_u64(p + 96, ~uint64_t{0}); }},
      {"bitmaps size + 8", [](char* p) { format::put_u64(p + 96, format::get_u64(p + 96) + 8); }},
      {"unknown flag", [](char* p) { format::put_u32(p + 80, 3); }},
      {"reserved field", [](char* p) { format::put_u64(p + 104, 1); }},
      {"block size 0", [](char* p) { format::put_u32(p + 12, 0); }},
      {"block size 1000", [](char* p) { format::put_u32(p + 12, 1000); }},
      {"block size 3 x 4096", [](char* p) { format::put_u32(p + 12, 3 * 4096); }},
      {"block size 2^25", [](char* p) { format::put_u32(p + 12, 1u << 25); }},
      {"the directory's magic", [](char* p) { std::memcpy(p, "CAIRNSTR", 8); }},
  };
  for (const auto& [what, edit] : cases) {
    auto index = OpenCopy(Reheader(file, edit), "craft.idx");
    ASSERT_FALSE(index.ok()) << what;
    ExpectCorruptionNaming(index.status(), "craft.idx");
  }
  for (uint32_t version : {0u, 2u, 0xffffffffu}) {
    auto index = OpenCopy(Reheader(file, [&](char* p) { format::put_u32(p + 8, version); }), "craft.idx");
    ASSERT_FALSE(index.ok());
    EXPECT_EQ(index.status().code(), Code::kUnsupportedVersion) << index.status().to_string();
  }
  // The unchanged header sealed again still opens (the edits above are what fail).
  EXPECT_TRUE(OpenCopy(Reheader(file, [](char*) {}), "craft.idx").ok());
}

// Rewrites body bytes and seals the file again (checksums valid): records
// out of range must be Corruption naming the file and an offset, never a crash.
std::string Rebody(const std::string& file, uint64_t body_size, const std::function<void(char*)>& edit) {
  std::string body = file.substr(kHeader, body_size);
  edit(body.data());
  return format::seal_index_file(file.substr(0, kHeader), body);
}

TEST(SegmentIndexDamageTest, OutOfRangeRecordsWithValidChecksumsAreCorruption) {
  Segment seg;
  std::string file = SmallFile(seg);
  auto clean = OpenCopy(file, "clean.idx");
  ASSERT_TRUE(clean.ok());
  const auto h = (*clean)->header();
  Layout l = ExpectedLayout(h.batch_count, h.stream_count, h.names_size, h.bitmaps_size);
  ASSERT_EQ(Rebody(file, l.body, [](char*) {}), file);  // resealing unchanged bytes changes nothing
  // Streams in file order, for the record offsets.
  std::vector<std::string> order;
  ASSERT_TRUE((*clean)->for_each_stream([&](std::string_view n, const format::SegmentIndexStream&) {
                        order.emplace_back(n);
                        return Status();
                      }).ok());
  ASSERT_EQ(order.size(), 3u);

  auto open = [&](const std::function<void(char*)>& edit) {
    auto index = OpenCopy(Rebody(file, l.body, edit), "craft.idx");
    EXPECT_TRUE(index.ok()) << index.status().to_string();
    return index.ok() ? std::move(*index) : nullptr;
  };
  auto expect_corrupt = [&](const Status& s, uint64_t body_offset) {
    ExpectCorruptionNaming(s, "craft.idx");
    EXPECT_NE(s.message().find("craft.idx at offset " + std::to_string(kHeader + body_offset)), std::string::npos)
        << s.message();
  };

  // Batch records: zero events, an offset inside the segment header, an
  // offset at the data end, events past the covered range.
  for (auto edit : std::vector<std::function<void(char*)>>{
           [&](char* b) { format::put_u32(b + l.batches + 16 * 2 + 12, 0); },
           [&](char* b) { format::put_u64(b + l.batches + 16 * 2, 8); },
           [&](char* b) { format::put_u64(b + l.batches + 16 * 2, h.data_end); },
           [&](char* b) { format::put_u32(b + l.batches + 16 * 2 + 8, static_cast<uint32_t>(h.event_count)); },
           [&](char* b) { format::put_u32(b + l.batches + 16 * 2 + 12, 0xffffffffu); }}) {
    auto index = open(edit);
    ASSERT_TRUE(index);
    expect_corrupt(index->batch(2).status(), l.batches + 32);
    EXPECT_TRUE(index->batch(1).ok());
  }
  // Batch records that do not cover a position: batch 1 starts where batch 2 does.
  {
    auto index = open([&](char* b) { format::put_u32(b + l.batches + 16 + 8, format::get_u32(b + l.batches + 32 + 8)); });
    ASSERT_TRUE(index);
    uint64_t p = seg.batches[1].first_position;  // batch 0 ends before it, batch 1 now starts after it
    auto found = index->find_batch(p);
    ASSERT_FALSE(found.ok()) << *found;
    ExpectCorruptionNaming(found.status(), "craft.idx");
  }
  // Stream records: an empty name, a name past the names section, no list,
  // a list past the lists section. Every lookup that reads them fails.
  for (auto edit : std::vector<std::function<void(char*)>>{
           [&](char* b) { format::put_u16(b + l.streams + 32 + 20, 0); },
           [&](char* b) { format::put_u32(b + l.streams + 32 + 16, static_cast<uint32_t>(h.names_size)); },
           [&](char* b) { format::put_u16(b + l.streams + 32 + 20, 0xffff); },
           [&](char* b) { format::put_u32(b + l.streams + 32 + 28, 0); },
           [&](char* b) { format::put_u32(b + l.streams + 32 + 24, static_cast<uint32_t>(h.batch_count)); },
           [&](char* b) { format::put_u32(b + l.streams + 32 + 28, 0xffffffffu); }}) {
    auto index = open(edit);
    ASSERT_TRUE(index);
    auto found = index->find_stream(order[1]);
    ASSERT_FALSE(found.ok());
    expect_corrupt(found.status(), l.streams + 32);
    Status each = index->for_each_stream([](std::string_view, const format::SegmentIndexStream&) { return Status(); });
    expect_corrupt(each, l.streams + 32);
  }
  // List entries naming a batch past the end: find_version and span fail.
  {
    auto s = (*clean)->find_stream(order[0]);
    ASSERT_TRUE(s.ok() && s->has_value());
    uint64_t last = (*s)->list_start + (*s)->list_count - 1;
    auto index = open([&](char* b) { format::put_u32(b + l.lists + last * 8 + 4, static_cast<uint32_t>(h.batch_count)); });
    ASSERT_TRUE(index);
    auto span = index->span(**s);
    ASSERT_FALSE(span.ok());
    expect_corrupt(span.status(), l.lists + last * 8);
    auto model = StreamsOf(seg, seg.batches.size());
    auto hit = index->find_version(**s, model.at(order[0]).first_version + model.at(order[0]).version_count - 1);
    ASSERT_FALSE(hit.ok());
    expect_corrupt(hit.status(), l.lists + last * 8);
  }
  // Lookups given records that are not from this file fail instead of reading
  // outside the body.
  {
    format::SegmentIndexStream wild{1, 0, 0xfffffff0u, 0xffff, 0xfffffff0u, 0xffffffffu};
    EXPECT_FALSE((*clean)->stream_name(wild).ok());
    EXPECT_FALSE((*clean)->span(wild).ok());
    EXPECT_FALSE((*clean)->find_version(wild, 5).ok());
    format::SegmentIndexStream empty{1, 0, 0, 1, 0, 0};
    EXPECT_FALSE((*clean)->span(empty).ok());
  }
}

}  // namespace
}  // namespace cairn::index
