// index/: position lookups, stream versions, and the idempotency id window.
#include "index/stream_index.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace cairn::index {
namespace {

BatchLocation batch(uint64_t first_position, uint32_t count, uint32_t stream = 0) {
  BatchLocation b;
  b.first_position = first_position;
  b.count = count;
  b.stream = stream;
  b.offset = 64 + first_position * 100;
  return b;
}

TEST(PositionIndexTest, FindsTheBatchHoldingEveryPosition) {
  PositionIndex index;
  EXPECT_EQ(index.find(0), std::nullopt);
  EXPECT_EQ(index.end_position(), 0u);
  index.add(batch(0, 3));
  index.add(batch(3, 1));
  index.add(batch(4, 5));
  EXPECT_EQ(index.end_position(), 9u);
  std::vector<size_t> expected = {0, 0, 0, 1, 2, 2, 2, 2, 2};
  for (uint64_t p = 0; p < expected.size(); ++p) EXPECT_EQ(index.find(p), expected[p]) << p;
  EXPECT_EQ(index.find(9), std::nullopt);
  EXPECT_EQ(index.batch(2).offset, 64u + 400u);
}

TEST(StreamIndexTest, StreamsKeepTheirPositionsPerVersion) {
  StreamIndex streams;
  EXPECT_EQ(streams.find("a"), std::nullopt);
  uint32_t a = streams.add("a", 0);
  uint32_t b = streams.add("b", 7);  // versions 0..6 of b are in index files
  EXPECT_NE(a, b);
  EXPECT_EQ(streams.find("a"), a);
  streams.add_events(a, 10, 2);
  streams.add_events(b, 12, 1);
  streams.add_events(a, 13, 2);
  EXPECT_EQ(streams.next_version(a), 4u);
  EXPECT_EQ(streams.next_version(b), 8u);
  EXPECT_EQ(streams.stream(a).positions, (std::vector<uint64_t>{10, 11, 13, 14}));
  EXPECT_EQ(streams.stream(b).name, "b");
  EXPECT_EQ(streams.stream_count(), 2u);
}

// The name table grows past many doublings; every name added is found with
// its ordinal, names never added (prefixes, extensions, the empty name,
// names differing in one byte) are not, before and after each growth.
TEST(StreamIndexTest, FindsEveryNameAcrossTableGrowth) {
  StreamIndex streams;
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("Order-" + std::to_string(i * 7919 % 100003));
  names.push_back(std::string("nul\0inside", 10));
  names.push_back(std::string(1024, 'x'));
  for (size_t i = 0; i < names.size(); ++i) {
    streams.prefetch(StreamIndex::hash(names[i]));
    EXPECT_EQ(streams.find(names[i]), std::nullopt) << names[i];
    EXPECT_EQ(streams.find(names[i], StreamIndex::hash(names[i])), std::nullopt) << names[i];
    ASSERT_EQ(streams.add(names[i], 0), i);
    if (i % 97 == 0 || i + 1 == names.size()) {
      for (size_t j = 0; j <= i; ++j) ASSERT_EQ(streams.find(names[j]), j) << names[j];
    }
  }
  for (std::string_view absent : {std::string_view("Order-"), std::string_view("Order-00"), std::string_view(""),
                                  std::string_view("order-0"), std::string_view("Order-0 "),
                                  std::string_view("nul\0insidf", 10), std::string_view("nul")}) {
    EXPECT_EQ(streams.find(absent), std::nullopt) << absent;
  }
  EXPECT_EQ(streams.find(std::string(1023, 'x')), std::nullopt);
  EXPECT_EQ(streams.stream_count(), names.size());
}

// Growth moves names between tables a little at a time (kMovedPerAdd slots
// an add); the streams themselves never move, so a reference taken early
// stays valid, and every name keeps its ordinal, found in whichever table
// holds it, at every step of several growths.
TEST(StreamIndexTest, StreamsStayPutAndFoundWhileTheTableGrows) {
  StreamIndex streams;
  uint32_t first = streams.add("first", 3);
  streams.add_events(first, 40, 2);
  const StreamIndex::Stream* held = &streams.stream(first);
  for (int i = 0; i < 70000; ++i) {
    std::string name = "s" + std::to_string(i);
    ASSERT_EQ(streams.add(name, 0), static_cast<uint32_t>(i + 1));
    // The name just added, one added long ago, and one never added.
    ASSERT_EQ(streams.find(name), static_cast<uint32_t>(i + 1));
    ASSERT_EQ(streams.find("s" + std::to_string(i / 2)), static_cast<uint32_t>(i / 2 + 1));
    ASSERT_EQ(streams.find("t" + std::to_string(i)), std::nullopt);
  }
  EXPECT_EQ(&streams.stream(first), held);
  EXPECT_EQ(held->name, "first");
  EXPECT_EQ(held->positions, (std::vector<uint64_t>{40, 41}));
  EXPECT_EQ(streams.next_version(first), 5u);
  for (int i = 0; i < 70000; ++i) ASSERT_EQ(streams.find("s" + std::to_string(i)), static_cast<uint32_t>(i + 1));
  EXPECT_EQ(streams.stream_count(), 70001u);
}

// Past 262,144 names the next table is 16 MiB, eight huge pages, so it is
// faulted in over several adds while names still go to the current table
// (past half full), then takes over and is moved into: names added in
// every phase are found with their ordinals, names never added are not.
TEST(StreamIndexTest, FindsEveryNameWhileABigTableIsFaultedInAndMoved) {
  StreamIndex streams;
  constexpr uint32_t kNames = 300000;
  for (uint32_t i = 0; i < kNames; ++i) {
    ASSERT_EQ(streams.add("big-" + std::to_string(i), 0), i);
    if (i > 262000 && i < 262200) {  // around the growth: the name just added and a spread of older ones
      ASSERT_EQ(streams.find("big-" + std::to_string(i)), i);
      for (uint32_t j = 0; j <= i; j += 9973) ASSERT_EQ(streams.find("big-" + std::to_string(j)), j) << "at " << i;
      ASSERT_EQ(streams.find("big-x" + std::to_string(i)), std::nullopt);
    }
  }
  for (uint32_t i = 0; i < kNames; ++i) ASSERT_EQ(streams.find("big-" + std::to_string(i)), i);
  EXPECT_EQ(streams.find("big-" + std::to_string(kNames)), std::nullopt);
}

// drop_below forgets the positions below a checkpoint and moves their
// versions into each stream's base; streams with no positions (new ones,
// or ones whose positions were all dropped before) keep theirs, and a
// stream dropped empty that gets events again is dropped again later.
TEST(StreamIndexTest, DropBelowMovesCheckpointedVersionsIntoTheBase) {
  StreamIndex streams;
  uint32_t a = streams.add("a", 0);
  uint32_t b = streams.add("b", 0);
  uint32_t c = streams.add("c", 0);
  uint32_t d = streams.add("d", 0);
  uint32_t e = streams.add("e", 7);
  streams.add_events(a, 0, 2);
  streams.add_events(b, 2, 2);
  streams.add_events(c, 4, 1);
  streams.add_events(a, 5, 1);
  streams.add_events(e, 6, 1);
  streams.add_events(d, 7, 0);
  streams.add_events(e, 8, 1);
  auto expect = [&](uint32_t s, uint64_t base, std::vector<uint64_t> positions) {
    EXPECT_EQ(streams.stream(s).base_version, base) << streams.stream(s).name;
    EXPECT_EQ(streams.stream(s).positions, positions) << streams.stream(s).name;
  };
  streams.drop_below(4);
  expect(a, 2, {5});
  expect(b, 2, {});
  expect(c, 0, {4});
  expect(d, 0, {});
  expect(e, 7, {6, 8});
  streams.add_events(b, 9, 1);
  streams.drop_below(9);
  expect(a, 3, {});
  expect(b, 2, {9});
  expect(c, 1, {});
  expect(e, 9, {});
  streams.drop_below(10);
  expect(b, 3, {});
  streams.add_events(a, 10, 2);
  streams.drop_below(11);
  expect(a, 4, {11});
  EXPECT_EQ(streams.next_version(a), 5u);
  EXPECT_EQ(streams.next_version(b), 3u);
  EXPECT_EQ(streams.next_version(d), 0u);
  EXPECT_EQ(streams.next_version(e), 9u);
}

// Against a plain model: 3,000 streams, events appended at random, and
// drop_below at rising positions now and then; after each drop every
// stream's base and positions are the model's.
TEST(StreamIndexTest, DropBelowAgreesWithAModelOverManyStreams) {
  struct Model {
    uint64_t base = 0;
    std::vector<uint64_t> positions;
  };
  StreamIndex streams;
  std::vector<Model> model(3000);
  for (size_t s = 0; s < model.size(); ++s) ASSERT_EQ(streams.add("m" + std::to_string(s), 0), s);
  uint64_t position = 0;
  uint64_t below = 0;
  uint64_t rng = 12345;
  auto next = [&] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return rng >> 33;
  };
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 500; ++i) {
      auto s = static_cast<uint32_t>(next() % (round % 2 == 0 ? model.size() : 50));
      auto count = static_cast<uint32_t>(next() % 3);
      streams.add_events(s, position, count);
      for (uint32_t k = 0; k < count; ++k) model[s].positions.push_back(position + k);
      position += count;
    }
    below = std::max(below, position - next() % 200);
    streams.drop_below(below);
    for (Model& m : model) {
      auto it = std::lower_bound(m.positions.begin(), m.positions.end(), below);
      m.base += static_cast<uint64_t>(it - m.positions.begin());
      m.positions.erase(m.positions.begin(), it);
    }
    for (size_t s = 0; s < model.size(); ++s) {
      ASSERT_EQ(streams.stream(static_cast<uint32_t>(s)).base_version, model[s].base) << "round " << round;
      ASSERT_EQ(streams.stream(static_cast<uint32_t>(s)).positions, model[s].positions) << "round " << round;
    }
  }
}

// A drop done a few streams at a time (begin_drop, drop_some) while events
// keep coming: at every step each stream still has its next version, and
// its positions are the model's, preceded, until it is trimmed, only by
// positions below the drop's. Once drop_some says done, every stream is
// the model's; a drop begun during another finishes that one first.
TEST(StreamIndexTest, AGradualDropKeepsEveryStreamConsistent) {
  struct Model {
    uint64_t base = 0;
    std::vector<uint64_t> positions;
    void drop(uint64_t below) {
      auto it = std::lower_bound(positions.begin(), positions.end(), below);
      base += static_cast<uint64_t>(it - positions.begin());
      positions.erase(positions.begin(), it);
    }
  };
  StreamIndex streams;
  std::vector<Model> model(2000);
  for (size_t s = 0; s < model.size(); ++s) ASSERT_EQ(streams.add("g" + std::to_string(s), 0), s);
  uint64_t position = 0;
  uint64_t rng = 777;
  auto next = [&] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return rng >> 33;
  };
  auto append = [&] {
    auto s = static_cast<uint32_t>(next() % model.size());
    auto count = static_cast<uint32_t>(1 + next() % 2);
    streams.add_events(s, position, count);
    for (uint32_t k = 0; k < count; ++k) model[s].positions.push_back(position + k);
    position += count;
  };
  auto check_during = [&](uint64_t below, const char* when) {
    for (size_t s = 0; s < model.size(); ++s) {
      const auto& got = streams.stream(static_cast<uint32_t>(s));
      const Model& m = model[s];
      ASSERT_EQ(got.base_version + got.positions.size(), m.base + m.positions.size()) << when << " " << s;
      ASSERT_GE(got.positions.size(), m.positions.size()) << when << " " << s;
      size_t extra = got.positions.size() - m.positions.size();
      ASSERT_TRUE(std::equal(m.positions.begin(), m.positions.end(), got.positions.begin() + extra)) << when << " " << s;
      for (size_t k = 0; k < extra; ++k) ASSERT_LT(got.positions[k], below) << when << " " << s;
    }
  };
  uint64_t below = 0;
  for (int round = 0; round < 12; ++round) {
    for (int i = 0; i < 3000; ++i) append();
    below = position - next() % 100;
    streams.begin_drop(below);
    for (Model& m : model) m.drop(below);
    ASSERT_TRUE(streams.dropping());
    int steps = 0;
    // Round 5 begins the next drop before this one is done.
    while (round != 5 && !streams.drop_some(1 + next() % 20)) {
      append();
      if (++steps % 50 == 0) {
        ASSERT_NO_FATAL_FAILURE(check_during(below, "during"));
      }
    }
    if (round != 5) {
      ASSERT_GT(steps, 10) << "the drop took a single step";
      EXPECT_FALSE(streams.dropping());
      for (size_t s = 0; s < model.size(); ++s) {
        ASSERT_EQ(streams.stream(static_cast<uint32_t>(s)).base_version, model[s].base) << round << " " << s;
        ASSERT_EQ(streams.stream(static_cast<uint32_t>(s)).positions, model[s].positions) << round << " " << s;
      }
    }
  }
}

// Thousands of batches over many chunks, dropped from the front now and
// then (once down to nothing), against a plain vector: every position finds
// its batch, positions outside do not, and ordinals, counts and ends agree.
TEST(PositionIndexTest, AgreesWithAVectorAcrossChunksAndDrops) {
  PositionIndex index;
  std::vector<BatchLocation> model;
  uint64_t position = 0;
  uint64_t rng = 4242;
  auto next = [&] {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return rng >> 33;
  };
  auto check = [&](const char* when) {
    ASSERT_EQ(index.batch_count(), model.size()) << when;
    ASSERT_EQ(index.end_position(), model.empty() ? 0 : position) << when;
    for (size_t i = 0; i < model.size(); ++i) {
      ASSERT_EQ(index.batch(i).first_position, model[i].first_position) << when << " " << i;
      ASSERT_EQ(index.batch(i).offset, model[i].offset) << when << " " << i;
      for (uint32_t k = 0; k < model[i].count; ++k) {
        ASSERT_EQ(index.find(model[i].first_position + k), i) << when << " position " << model[i].first_position + k;
      }
    }
    if (!model.empty()) {
      ASSERT_EQ(index.find(model.front().first_position - 1), std::nullopt) << when;
    }
    ASSERT_EQ(index.find(position), std::nullopt) << when;
  };
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 1500 + round * 300; ++i) {
      auto count = static_cast<uint32_t>(1 + next() % 3);
      index.add(batch(position, count));
      model.push_back(batch(position, count));
      position += count;
    }
    ASSERT_NO_FATAL_FAILURE(check("after adding"));
    // Round 4 drops everything; the others a batch boundary or a position inside a batch.
    uint64_t below = round == 4 ? position : model[next() % model.size()].first_position + next() % 2;
    index.drop_below(below);
    while (!model.empty() && model.front().first_position + model.front().count <= below) model.erase(model.begin());
    ASSERT_NO_FATAL_FAILURE(check("after dropping"));
  }
}

TEST(PositionIndexTest, PositionsBeforeTheFirstBatchAreNotFound) {
  PositionIndex index;
  EXPECT_EQ(index.find(0), std::nullopt);
  BatchLocation b;
  b.first_position = 100;
  b.count = 2;
  index.add(b);
  EXPECT_EQ(index.find(99), std::nullopt);
  EXPECT_EQ(index.find(100), 0u);
  EXPECT_EQ(index.find(101), 0u);
  EXPECT_EQ(index.find(102), std::nullopt);
}

EventId id_of(uint8_t n) {
  EventId id;
  id.bytes.fill(n);
  return id;
}

// A ZeroedArray reads as zeros until written, keeps what is written, is
// 2 MiB-aligned when large, and hands its block over on a move (the
// moved-from array is empty).
TEST(ZeroedArrayTest, StartsAsZerosAndMovesItsBlock) {
  ZeroedArray<uint64_t> a(1u << 20);  // 8 MiB: 2 MiB-aligned, huge pages advised
  ASSERT_EQ(a.size(), 1u << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&a[0]) % kHugePage, 0u);
  for (size_t i = 0; i < a.size(); i += 4099) ASSERT_EQ(a[i], 0u) << i;
  for (size_t i = 0; i < a.size(); i += 7) a[i] = i + 1;
  ZeroedArray<uint64_t> b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the promise tested
  ASSERT_EQ(b.size(), 1u << 20);
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], i % 7 == 0 ? i + 1 : 0u) << i;
  ZeroedArray<uint64_t> small(3);
  small[2] = 9;
  b = std::move(small);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0], 0u);
  EXPECT_EQ(b[2], 9u);
  EXPECT_TRUE(ZeroedArray<uint64_t>().empty());
}

// An array whose size is not a whole number of pages (a ring of 200,000
// ids: 3,200,000 bytes) gives back all it mapped: making and dropping ten
// leaves the process's mapped size where it was (each used to keep up to
// 2 MiB of its alignment slack mapped).
TEST(ZeroedArrayTest, AnOddSizedBlockGivesBackAllItMapped) {
  auto mapped_pages = [] {
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    return pages;
  };
  { ZeroedArray<EventId> warm(200000); }
  uint64_t before = mapped_pages();
  for (int i = 0; i < 10; ++i) {
    ZeroedArray<EventId> ring(200000);
    ring[199999].bytes[15] = 1;
    ASSERT_EQ(reinterpret_cast<uintptr_t>(&ring[0]) % kHugePage, 0u);
  }
  uint64_t after = mapped_pages();
  EXPECT_LT(after, before + 256) << "pages mapped: " << before << " -> " << after;
}

// Windows of 1 and of 200,000 positions (neither a power of two, the
// second's ring not a whole number of pages), starting far from position 0
// as after an open: exactly the last `capacity` ids are found.
TEST(IdWindowTest, OddCapacitiesFromAFarPositionFindExactlyTheirWindow) {
  for (uint32_t capacity : {1u, 200000u}) {
    IdWindow window(capacity);
    const uint64_t first = 9'000'000'000'000ull;
    const uint64_t count = uint64_t{capacity} * 2 + 3;
    auto id_at = [](uint64_t p) {
      EventId id;
      for (size_t b = 0; b < 8; ++b) id.bytes[b] = static_cast<uint8_t>(p >> (8 * b));
      id.bytes[8] = 0xAB;
      return id;
    };
    for (uint64_t p = first; p < first + count; ++p) window.add(id_at(p), p);
    for (uint64_t p = first; p < first + count; ++p) {
      bool inside = p >= first + count - capacity;
      ASSERT_EQ(window.find(id_at(p)), inside ? std::optional<uint64_t>(p) : std::nullopt)
          << "capacity " << capacity << " position " << p;
    }
  }
}

TEST(IdWindowTest, RemembersTheLastCapacityPositions) {
  IdWindow window(3);
  for (uint8_t p = 0; p < 5; ++p) window.add(id_of(p + 1), p);
  EXPECT_EQ(window.find(id_of(1)), std::nullopt);
  EXPECT_EQ(window.find(id_of(2)), std::nullopt);
  EXPECT_EQ(window.find(id_of(3)), 2u);
  EXPECT_EQ(window.find(id_of(5)), 4u);
  EXPECT_EQ(window.find(id_of(9)), std::nullopt);
}

TEST(IdWindowTest, NilIdsAreNotRemembered) {
  IdWindow window(4);
  window.add(EventId{}, 0);
  EXPECT_EQ(window.find(EventId{}), std::nullopt);
}

TEST(IdWindowTest, AnIdReusedLaterPointsAtItsLatestPosition) {
  IdWindow window(4);
  window.add(id_of(7), 0);
  window.add(id_of(7), 1);
  EXPECT_EQ(window.find(id_of(7)), 1u);
  for (uint64_t p = 2; p < 5; ++p) window.add(id_of(static_cast<uint8_t>(20 + p)), p);
  EXPECT_EQ(window.find(id_of(7)), 1u);  // evicting position 0 kept position 1
  window.add(id_of(30), 5);
  EXPECT_EQ(window.find(id_of(7)), std::nullopt);
}

TEST(IdWindowTest, CapacityZeroRemembersNothing) {
  IdWindow window(0);
  window.add(id_of(1), 0);
  window.add(id_of(2), 1);
  EXPECT_EQ(window.find(id_of(1)), std::nullopt);
  EXPECT_EQ(window.find(id_of(2)), std::nullopt);
}

// Against a plain map, over many wrap-arounds of a small window, with ids
// that collide in the table (few distinct values, so probe chains are long)
// and ids repeated at later positions.
// The table keeps positions' low 32 bits: `first` puts the run across
// 2^32 and later multiples.
void check_against_reference_model(uint64_t first) {
  constexpr uint32_t kCapacity = 37;
  IdWindow window(kCapacity);
  std::map<std::array<uint8_t, 16>, uint64_t> latest;  // id -> latest position
  uint32_t seed = 7;
  for (uint64_t p = first; p < first + 5000; ++p) {
    seed = seed * 1103515245 + 12345;
    EventId id = id_of(static_cast<uint8_t>(seed % 97));  // repeats on purpose
    if (seed % 13 == 0) id = EventId{};                   // some nil ids
    window.add(id, p);
    if (!id.is_nil()) latest[id.bytes] = p;
    for (uint8_t v = 0; v < 97; ++v) {
      EventId probe = id_of(v);
      auto it = latest.find(probe.bytes);
      std::optional<uint64_t> expected;
      if (it != latest.end() && it->second + kCapacity > p) expected = it->second;
      ASSERT_EQ(window.find(probe), expected) << "id " << int(v) << " after position " << p;
    }
  }
}

TEST(IdWindowTest, AgreesWithAReferenceModelOverManyEvictions) { check_against_reference_model(0); }

// A window whose table has 2^18 slots, wrapping three times: every id inside the window is found at its position, every
// one that left it is not.
TEST(IdWindowTest, ALargeWindowFindsExactlyItsLastCapacityIds) {
  constexpr uint32_t kCapacity = 1u << 16;
  constexpr uint64_t kFirst = (uint64_t{3} << 32) - 100000;  // across a wrap of the low 32 bits too
  IdWindow window(kCapacity);
  std::vector<EventId> ids(4 * kCapacity);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = EventId::random();
    window.add(ids[i], kFirst + i);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    std::optional<uint64_t> expected;
    if (i >= ids.size() - kCapacity) expected = kFirst + i;
    ASSERT_EQ(window.find(ids[i]), expected) << i;
  }
}

TEST(IdWindowTest, AgreesWithAReferenceModelAcrossThe32BitWrapOfPositions) {
  check_against_reference_model((uint64_t{1} << 32) - 2500);
  check_against_reference_model((uint64_t{5} << 32) - 10);
}

// add_run (a batch's ids at once, prefetching ahead) leaves the window
// exactly as add() one id at a time does: runs of 1 to 40 ids, with repeats
// inside a run, nil ids and many evictions, compared after every run.
TEST(IdWindowTest, AddRunAgreesWithAddOneAtATime) {
  constexpr uint32_t kCapacity = 53;
  IdWindow one(kCapacity), runs(kCapacity);
  uint32_t seed = 11;
  uint64_t position = 0;
  for (int r = 0; r < 600; ++r) {
    seed = seed * 1103515245 + 12345;
    std::vector<EventId> ids(1 + (seed >> 8) % 40);
    for (auto& id : ids) {
      seed = seed * 1103515245 + 12345;
      id = seed % 11 == 0 ? EventId{} : id_of(static_cast<uint8_t>((seed >> 4) % 89));
    }
    for (size_t i = 0; i < ids.size(); ++i) one.add(ids[i], position + i);
    runs.add_run(ids, position);
    position += ids.size();
    for (uint8_t v = 0; v < 89; ++v) {
      ASSERT_EQ(runs.find(id_of(v)), one.find(id_of(v))) << "id " << int(v) << " after run " << r;
    }
  }
}

}  // namespace
}  // namespace cairn::index
