// index/bitmap_index: the type and category bitmaps of a segment, their
// encoding (round trip, and hostile input), and iteration from a position.
#include "index/bitmap_index.h"

#include "format/batch.h"
#include "format/coding.h"
#include "format/frame.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

namespace cairn::index {
namespace {

std::vector<uint32_t> members(const Roaring& r) {
  std::vector<uint32_t> out;
  for (auto it = r.begin(); it.i.has_value; ++it) out.push_back(*it);
  return out;
}

// A brute-force model of a segment's bitmaps.
struct Model {
  std::map<std::string, std::set<uint32_t>> types;
  std::map<std::string, std::set<uint32_t>> categories;
};

// Random events: sparse stretches, dense stretches and long single-type
// runs, so that arrays, bitsets and run containers all occur.
SegmentBitmaps random_bitmaps(std::mt19937_64& rng, uint32_t events, Model& model) {
  SegmentBitmaps bitmaps;
  uint32_t position = 0;
  for (uint32_t i = 0; i < events; ++i) {
    position += rng() % 8 == 0 ? static_cast<uint32_t>(rng() % 70000) : 1;  // jumps across containers
    bool run = (position / 100000) % 2 == 0;
    std::string type = run ? "Steady" : "Type" + std::to_string(rng() % 5);
    std::string category = rng() % 4 == 0 ? "" : "Cat" + std::to_string(rng() % 3);
    bitmaps.add(type, category, position);
    model.types[type].insert(position);
    if (!category.empty()) model.categories[category].insert(position);
  }
  return bitmaps;
}

// add_batch puts runs of one type in as ranges: the same bitmaps as one
// add() per event, for batches mixing types in runs of every length.
TEST(SegmentBitmapsTest, AddBatchEqualsOneAddPerEvent) {
  std::mt19937_64 rng(5);
  SegmentBitmaps by_batch, by_event;
  uint64_t segment_first = 1000, position = segment_first;
  for (int b = 0; b < 300; ++b) {
    std::string stream = b % 3 == 0 ? "nocategory" : "Cat" + std::to_string(b % 4) + "-" + std::to_string(b);
    std::vector<std::string> types;
    size_t n = 1 + rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      types.push_back(i > 0 && rng() % 3 != 0 ? types.back() : "Type" + std::to_string(rng() % 4));
    }
    std::vector<NewEvent> events;
    for (const auto& t : types) events.push_back(NewEvent{EventId::random(), t, "d", ""});
    std::string frame;
    format::encode_batch(frame, stream, events, format::BatchStamp{position, 0, 0, 0});
    auto batch = format::BatchView::decode(format::parse_frame(frame).body, "test");
    ASSERT_TRUE(batch.ok()) << batch.status().to_string();
    add_batch(by_batch, *batch, segment_first);
    std::string_view category = category_of(stream, '-');
    for (size_t i = 0; i < n; ++i) {
      by_event.add(types[i], category, static_cast<uint32_t>(position - segment_first + i));
    }
    position += n;
  }
  EXPECT_EQ(by_batch.end(), by_event.end());
  for (int t = 0; t < 4; ++t) {
    std::string type = "Type" + std::to_string(t);
    ASSERT_NE(by_event.type(type), nullptr);
    ASSERT_NE(by_batch.type(type), nullptr);
    EXPECT_EQ(members(*by_batch.type(type)), members(*by_event.type(type))) << type;
    std::string category = "Cat" + std::to_string(t);
    ASSERT_NE(by_event.category(category), nullptr);
    EXPECT_EQ(members(*by_batch.category(category)), members(*by_event.category(category))) << category;
  }
  EXPECT_EQ(by_batch.category("nocategory"), nullptr);
}

// add() remembers the bitmap it found last for a type and a category: a copy
// must not add to its source's bitmaps, a move must keep adding to the
// moved ones, and a name read from a reused buffer must not match the
// remembered one by address.
TEST(SegmentBitmapsTest, CopiesAndMovesKeepAddingToTheirOwnBitmaps) {
  auto type_members = [](const SegmentBitmaps& b, const std::string& t) {
    return b.type(t) ? members(*b.type(t)) : std::vector<uint32_t>{};
  };
  auto category_members = [](const SegmentBitmaps& b, const std::string& c) {
    return b.category(c) ? members(*b.category(c)) : std::vector<uint32_t>{};
  };
  SegmentBitmaps a;
  a.add("T", "C", 0);
  SegmentBitmaps b = a;
  b.add("T", "C", 1);
  a.add("T", "C", 2);
  EXPECT_EQ(type_members(a, "T"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(category_members(a, "C"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(type_members(b, "T"), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(category_members(b, "C"), (std::vector<uint32_t>{0, 1}));

  SegmentBitmaps c = std::move(a);
  c.add("T", "C", 3);
  EXPECT_EQ(type_members(c, "T"), (std::vector<uint32_t>{0, 2, 3}));
  a = b;  // the moved-from one, assigned a copy
  a.add("T", "C", 5);
  EXPECT_EQ(type_members(a, "T"), (std::vector<uint32_t>{0, 1, 5}));
  EXPECT_EQ(type_members(b, "T"), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(type_members(c, "T"), (std::vector<uint32_t>{0, 2, 3}));

  SegmentBitmaps d;
  d.add("T", "C", 0);
  d = std::move(c);
  d.add("T", "C", 4);
  EXPECT_EQ(type_members(d, "T"), (std::vector<uint32_t>{0, 2, 3, 4}));
  EXPECT_EQ(category_members(d, "C"), (std::vector<uint32_t>{0, 2, 3, 4}));

  std::vector<SegmentBitmaps> grown;
  for (uint32_t i = 0; i < 40; ++i) {  // reallocations move (or copy) the earlier ones
    grown.emplace_back();
    grown.back().add("T", "C", i);
    for (uint32_t j = 0; j <= i; ++j) grown[j].add("T", "C", 100 + i);
  }
  for (uint32_t j = 0; j < grown.size(); ++j) {
    std::vector<uint32_t> want{j};
    for (uint32_t i = j; i < 40; ++i) want.push_back(100 + i);
    ASSERT_EQ(type_members(grown[j], "T"), want) << j;
    ASSERT_EQ(category_members(grown[j], "C"), want) << j;
  }

  SegmentBitmaps e;
  std::string type = "Placed", category = "Order";
  e.add(type, category, 0);
  type = "Paid!!";  // same buffer, same length
  category = "Ordex";
  e.add(type, category, 1);
  e.add("Placed", "Order", 2);
  EXPECT_EQ(type_members(e, "Placed"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(type_members(e, "Paid!!"), (std::vector<uint32_t>{1}));
  EXPECT_EQ(category_members(e, "Order"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(category_members(e, "Ordex"), (std::vector<uint32_t>{1}));
}

TEST(CategoryOfTest, IsTheNameBeforeTheFirstSeparator) {
  EXPECT_EQ(category_of("Order-42", '-'), "Order");
  EXPECT_EQ(category_of("Order-42-a", '-'), "Order");
  EXPECT_EQ(category_of("Order", '-'), "");
  EXPECT_EQ(category_of("-42", '-'), "");
  EXPECT_EQ(category_of("", '-'), "");
  EXPECT_EQ(category_of("orders/42", '/'), "orders");
  EXPECT_EQ(category_of("Order-42", '/'), "");
}

TEST(SegmentBitmapsTest, IndexesTypesAndCategories) {
  SegmentBitmaps b;
  b.add("Placed", "Order", 0);
  b.add("Paid", "Order", 1);
  b.add("Placed", "", 2);
  b.add("Placed", "User", 70000);
  EXPECT_EQ(b.end(), 70001u);
  ASSERT_NE(b.type("Placed"), nullptr);
  EXPECT_EQ(members(*b.type("Placed")), (std::vector<uint32_t>{0, 2, 70000}));
  EXPECT_EQ(members(*b.category("Order")), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(b.type("Missing"), nullptr);
  EXPECT_EQ(b.category(""), nullptr);
  EXPECT_EQ(b.type_count(), 2u);
  EXPECT_EQ(b.category_count(), 2u);
}

TEST(SegmentBitmapsTest, MatchingIsTheUnionOfTypesWithinTheUnionOfCategories) {
  SegmentBitmaps b;
  b.add("A", "X", 0);
  b.add("B", "X", 1);
  b.add("C", "Y", 2);
  b.add("A", "Y", 3);
  b.add("A", "", 4);
  Roaring scratch;
  using V = std::vector<std::string>;
  auto match = [&](const V& types, const V& categories) {
    const Roaring* r = b.matching(types, categories, scratch);
    return r == nullptr ? std::vector<uint32_t>{} : members(*r);
  };
  EXPECT_EQ(match({"A"}, {}), (std::vector<uint32_t>{0, 3, 4}));
  EXPECT_EQ(b.matching(V{"A"}, V{}, scratch), b.type("A"));  // no copy for one bitmap
  EXPECT_EQ(match({"A", "B"}, {}), (std::vector<uint32_t>{0, 1, 3, 4}));
  EXPECT_EQ(match({}, {"Y"}), (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(match({"A"}, {"Y"}), (std::vector<uint32_t>{3}));
  EXPECT_EQ(match({"A", "C"}, {"X", "Y"}), (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(match({"A", "Nope"}, {}), (std::vector<uint32_t>{0, 3, 4}));
  EXPECT_EQ(b.matching(V{"Nope"}, V{}, scratch), nullptr);
  EXPECT_EQ(b.matching(V{"A"}, V{"Nope"}, scratch), nullptr);
  EXPECT_EQ(b.matching(V{}, V{}, scratch), nullptr);
  EXPECT_EQ(match({"B"}, {"Y"}), std::vector<uint32_t>{});
}

TEST(SegmentBitmapsTest, EncodingOfAnEmptySegmentIsTheHeader) {
  SegmentBitmaps b('/');
  std::string out = "prefix";
  b.encode(out);
  ASSERT_EQ(out.size(), 6u + 32u);
  EXPECT_EQ(format::get_u32(out.data() + 6), 1u);   // version
  EXPECT_EQ(out[10], '/');                          // separator
  EXPECT_EQ(format::get_u64(out.data() + 6 + 24), 32u);  // length
  auto decoded = SegmentBitmaps::decode(std::string_view(out).substr(6), "seg");
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->category_separator(), '/');
  EXPECT_EQ(decoded->end(), 0u);
}

// The layout FORMAT.md gives, checked field by field on a small example.
TEST(SegmentBitmapsTest, EncodingFollowsTheDocumentedLayout) {
  SegmentBitmaps b;
  b.add("B", "Ord", 0);
  b.add("A", "Ord", 1);
  std::string out;
  b.encode(out);
  std::string_view e = out;
  EXPECT_EQ(format::get_u32(e.data()), 1u);
  EXPECT_EQ(e.substr(4, 4), std::string_view("-\0\0\0", 4));
  EXPECT_EQ(format::get_u32(e.data() + 8), 2u);   // types
  EXPECT_EQ(format::get_u32(e.data() + 12), 1u);  // categories
  EXPECT_EQ(format::get_u64(e.data() + 16), 2u);  // end
  EXPECT_EQ(format::get_u64(e.data() + 24), e.size());
  size_t at = 32;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> expected = {
      {"A", {1}}, {"B", {0}}, {"Ord", {0, 1}}};
  for (const auto& [name, positions] : expected) {
    uint16_t name_len = format::get_u16(e.data() + at);
    uint32_t bitmap_len = format::get_u32(e.data() + at + 2);
    EXPECT_EQ(e.substr(at + 6, name_len), name);
    Roaring r = Roaring::readSafe(e.data() + at + 6 + name_len, bitmap_len);
    EXPECT_EQ(members(r), positions);
    at += 6 + name_len + bitmap_len;
  }
  EXPECT_EQ(at, e.size());
}

// The worked example of FORMAT.md ("Type and category bitmaps"), byte for byte.
TEST(SegmentBitmapsTest, EncodingMatchesTheDocumentedExample) {
  SegmentBitmaps b('-');
  b.add("Paid", category_of("Order-1", '-'), 0);
  b.add("Placed", category_of("Order-2", '-'), 1);
  b.add("Placed", category_of("loose", '-'), 2);
  const unsigned char expected[] = {
      0x01, 0x00, 0x00, 0x00, 0x2d, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
      0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x04, 0x00, 0x12, 0x00, 0x00, 0x00, 0x50, 0x61, 0x69, 0x64, 0x3a, 0x30, 0x00, 0x00, 0x01, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x14, 0x00,
      0x00, 0x00, 0x50, 0x6c, 0x61, 0x63, 0x65, 0x64, 0x3a, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x05, 0x00, 0x14, 0x00,
      0x00, 0x00, 0x4f, 0x72, 0x64, 0x65, 0x72, 0x3a, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00};
  std::string out;
  b.encode(out);
  EXPECT_EQ(out, std::string(reinterpret_cast<const char*>(expected), sizeof expected));
}

TEST(SegmentBitmapsTest, RoundTripIsByteForByte) {
  std::mt19937_64 rng(42);
  for (uint32_t events : {1u, 10u, 5000u, 60000u}) {
    Model model;
    SegmentBitmaps b = random_bitmaps(rng, events, model);
    std::string first;
    b.encode(first);
    auto decoded = SegmentBitmaps::decode(first, "seg");
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    std::string second;
    decoded->encode(second);
    EXPECT_EQ(first, second) << events;
    EXPECT_EQ(decoded->end(), b.end());
    for (const auto& [type, positions] : model.types) {
      ASSERT_NE(decoded->type(type), nullptr);
      EXPECT_EQ(members(*decoded->type(type)), std::vector<uint32_t>(positions.begin(), positions.end()));
    }
    for (const auto& [category, positions] : model.categories) {
      ASSERT_NE(decoded->category(category), nullptr);
      EXPECT_EQ(members(*decoded->category(category)),
                std::vector<uint32_t>(positions.begin(), positions.end()));
    }
  }
}

TEST(SegmentBitmapsTest, DecodeIgnoresBytesAfterTheEncoding) {
  SegmentBitmaps b;
  b.add("A", "X", 3);
  std::string out;
  b.encode(out);
  size_t length = out.size();
  out += "next section";
  auto decoded = SegmentBitmaps::decode(out, "seg");
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  std::string again;
  decoded->encode(again);
  EXPECT_EQ(again, out.substr(0, length));
}

// A decode of damaged bytes either fails as kCorruption (or
// kUnsupportedVersion when the version field changed) or yields bitmaps
// that are well formed: within `end`, and encoding to bytes that decode to
// the same sets.
// Returns whether the bytes decoded.
bool expect_rejected_or_sound(std::string_view bytes, const std::string& what) {
  auto decoded = SegmentBitmaps::decode(bytes, "seg");
  if (!decoded.ok()) {
    Code code = decoded.status().code();
    EXPECT_TRUE(code == Code::kCorruption || code == Code::kUnsupportedVersion) << what << ": "
                                                                                 << decoded.status().to_string();
    EXPECT_EQ(decoded.status().message().rfind("seg", 0), 0u) << what;
    return false;
  }
  std::string encoded;
  decoded->encode(encoded);
  auto again = SegmentBitmaps::decode(encoded, "again");
  EXPECT_TRUE(again.ok()) << what << ": " << again.status().to_string();
  if (!again.ok()) return true;
  std::string twice;
  again->encode(twice);
  EXPECT_EQ(encoded, twice) << what;
  return true;
}

std::string sample_encoding(uint32_t events, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Model model;
  std::string out;
  random_bitmaps(rng, events, model).encode(out);
  return out;
}

TEST(SegmentBitmapsTest, EveryTruncationIsCorruption) {
  std::string bytes = sample_encoding(3000, 7);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = SegmentBitmaps::decode(std::string_view(bytes).substr(0, n), "seg");
    ASSERT_FALSE(decoded.ok()) << n;
    EXPECT_EQ(decoded.status().code(), Code::kCorruption) << n;
  }
}

// The same truncations, with the length field saying they are whole: the
// entries themselves must be checked.
TEST(SegmentBitmapsTest, EveryTruncationWithAFixedUpLengthIsCorruption) {
  std::string bytes = sample_encoding(1000, 8);
  for (size_t n = 32; n < bytes.size(); ++n) {
    std::string cut = bytes.substr(0, n);
    format::put_u64(cut.data() + 24, n);
    auto decoded = SegmentBitmaps::decode(cut, "seg");
    ASSERT_FALSE(decoded.ok()) << n;  // entries cut short never add up
    EXPECT_EQ(decoded.status().code(), Code::kCorruption) << n;
  }
}

TEST(SegmentBitmapsTest, RandomBitFlipsAreRejectedOrSound) {
  std::mt19937_64 rng(99);
  size_t decoded = 0;
  for (uint32_t events : {20u, 1000u, 20000u}) {
    std::string bytes = sample_encoding(events, events);
    for (int i = 0; i < 1000; ++i) {
      std::string damaged = bytes;
      int flips = 1 + static_cast<int>(rng() % 3);
      for (int f = 0; f < flips; ++f) damaged[rng() % damaged.size()] ^= static_cast<char>(1u << (rng() % 8));
      std::string what = "events " + std::to_string(events) + " try " + std::to_string(i);
      decoded += expect_rejected_or_sound(damaged, what);
    }
  }
  EXPECT_GT(decoded, 0u);  // some flips land in values and give other, well-formed bitmaps
  std::cout << decoded << " of 3000 damaged encodings decoded\n";
}

// Flips inside every byte of a small encoding, each bit in turn.
TEST(SegmentBitmapsTest, EveryBitFlipOfASmallEncodingIsRejectedOrSound) {
  SegmentBitmaps b;
  for (uint32_t p = 0; p < 40; ++p) b.add(p % 3 ? "A" : "B", p % 2 ? "X" : "", p * 3);
  for (uint32_t p = 200; p < 5000; ++p) b.add("Run", "X", p);  // a run container
  std::string bytes;
  b.encode(bytes);
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[at] ^= static_cast<char>(1u << bit);
      (void)expect_rejected_or_sound(damaged, "byte " + std::to_string(at) + " bit " + std::to_string(bit));
    }
  }
}

TEST(SegmentBitmapsTest, GarbageIsRejected) {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string garbage(rng() % 200, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    if (garbage.size() >= 32) {
      format::put_u32(garbage.data(), 1);
      format::put_u64(garbage.data() + 24, garbage.size());
    }
    (void)expect_rejected_or_sound(garbage, "garbage " + std::to_string(i));
  }
}

TEST(SegmentBitmapsTest, RejectsWhatTheEncoderNeverWrites) {
  auto rejected = [](std::string bytes, const std::string& needle) {
    auto d = SegmentBitmaps::decode(bytes, "seg");
    ASSERT_FALSE(d.ok()) << needle;
    EXPECT_EQ(d.status().code(), Code::kCorruption);
    EXPECT_NE(d.status().message().find(needle), std::string::npos) << d.status().to_string();
  };
  SegmentBitmaps b;
  b.add("A", "", 0);
  b.add("B", "", 5);
  std::string good;
  b.encode(good);
  // Entry "A": name_len at 32, bitmap_len at 34, name at 38, bitmap at 39.
  std::string s = good;
  s[38] = 'C';  // names out of order ("C" then "B")
  rejected(s, "increasing order");
  s = good;
  format::put_u16(s.data() + 32, 0);
  rejected(s, "empty name");
  s = good;
  format::put_u64(s.data() + 16, 5);  // end: position 5 is past it
  rejected(s, "past the end");
  s = good;
  s[5] = 1;
  rejected(s, "reserved");
  s = good;
  s[39] ^= 0x7f;  // the bitmap's cookie
  rejected(s, "cookie");
  s = good;
  format::put_u32(s.data() + 8, 3);  // one more type than there are
  rejected(s, "truncated");
  s = good;
  format::put_u32(s.data() + 8, 1);  // one type less: "B" left over
  rejected(s, "bytes after the last entry");

  s = good;
  format::put_u32(s.data(), 2);
  auto d = SegmentBitmaps::decode(s, "seg");
  EXPECT_EQ(d.status().code(), Code::kUnsupportedVersion);
}

// Forward and backward iteration from random positions, against the model.
TEST(CollectTest, MatchesBruteForceOnRandomBitmaps) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 20; ++round) {
    Model model;
    SegmentBitmaps b = random_bitmaps(rng, 1 + static_cast<uint32_t>(rng() % 20000), model);
    std::vector<std::string> types;
    for (const auto& [t, _] : model.types) {
      if (rng() % 2) types.push_back(t);
    }
    std::vector<std::string> categories;
    for (const auto& [c, _] : model.categories) {
      if (rng() % 3 == 0) categories.push_back(c);
    }
    if (types.empty() && categories.empty()) types.push_back(model.types.begin()->first);
    std::set<uint32_t> expected;
    for (const auto& [t, ps] : model.types) {
      bool type_ok = types.empty() || std::count(types.begin(), types.end(), t);
      for (uint32_t p : ps) {
        bool category_ok = categories.empty();
        for (const std::string& c : categories) category_ok |= model.categories[c].count(p) > 0;
        if (type_ok && category_ok) expected.insert(p);
      }
    }
    Roaring scratch;
    const Roaring* matches = b.matching(types, categories, scratch);
    ASSERT_EQ(matches == nullptr, expected.empty());
    if (matches == nullptr) continue;
    std::vector<uint32_t> all(expected.begin(), expected.end());
    uint64_t last = b.end() + 10;
    for (int q = 0; q < 200; ++q) {
      auto from = static_cast<uint32_t>(rng() % last);
      if (q == 0) from = UINT32_MAX;
      uint64_t end = q % 3 == 0 ? UINT64_MAX >> 1 : rng() % last;
      size_t max = q % 4 == 0 ? SIZE_MAX : rng() % 50;
      std::vector<uint32_t> want;
      for (auto it = std::lower_bound(all.begin(), all.end(), from);
           it != all.end() && *it < end && want.size() < max; ++it) {
        want.push_back(*it);
      }
      std::vector<uint32_t> got;
      collect_forward(*matches, from, end, max, got);
      ASSERT_EQ(got, want) << "forward from " << from << " end " << end << " max " << max;

      want.clear();
      for (auto it = std::upper_bound(all.begin(), all.end(), from); it != all.begin() && want.size() < max;) {
        want.push_back(*--it);
      }
      got.clear();
      collect_backward(*matches, from, max, got);
      ASSERT_EQ(got, want) << "backward from " << from << " max " << max;
    }
  }
}

TEST(CollectTest, EdgesOfTheRange) {
  Roaring r;
  r.add(0);
  r.add(65535);
  r.add(65536);
  r.add(UINT32_MAX);
  std::vector<uint32_t> got;
  collect_forward(r, 0, uint64_t{1} << 32, 10, got);
  EXPECT_EQ(got, (std::vector<uint32_t>{0, 65535, 65536, UINT32_MAX}));
  got.clear();
  collect_backward(r, UINT32_MAX, 10, got);
  EXPECT_EQ(got, (std::vector<uint32_t>{UINT32_MAX, 65536, 65535, 0}));
  got.clear();
  collect_backward(r, 65535, 10, got);
  EXPECT_EQ(got, (std::vector<uint32_t>{65535, 0}));
  got.clear();
  collect_forward(r, 1, 65536, 10, got);
  EXPECT_EQ(got, (std::vector<uint32_t>{65535}));
  got.clear();
  collect_backward(Roaring(), 5, 10, got);
  collect_forward(Roaring(), 5, 10, 10, got);
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace cairn::index
