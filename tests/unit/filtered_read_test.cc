// Store::read_all_filtered and read_category: the type and category bitmaps
// against a brute-force filter of read_all, over several segments, forward
// and backward, before and after a reopen.
#include "test_util.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

namespace cairn {
namespace {

using test::small_segments;
using test::TempDir;

std::string category_of(const std::string& stream) {
  size_t at = stream.find('-');
  return at == std::string::npos ? "" : stream.substr(0, at);
}

bool matches(const ReadFilter& f, const RecordedEvent& e) {
  auto in = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  return (f.event_types.empty() || in(f.event_types, e.type)) &&
         (f.categories.empty() || in(f.categories, category_of(e.stream)));
}

// read_all_filtered by brute force over every event of the store.
std::vector<RecordedEvent> brute_force(const std::vector<RecordedEvent>& all, const ReadFilter& f, uint64_t from,
                                       size_t max_count, Direction direction) {
  std::vector<RecordedEvent> out;
  if (direction == Direction::kForward) {
    for (const RecordedEvent& e : all) {
      if (out.size() == max_count) break;
      if (e.position >= from && matches(f, e)) out.push_back(e);
    }
  } else {
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
      if (out.size() == max_count) break;
      if (it->position <= from && matches(f, *it)) out.push_back(*it);
    }
  }
  return out;
}

const std::vector<std::string> kTypes = {"Placed", "Paid", "Shipped", "Rare"};
const std::vector<std::string> kStreams = {"Order-1", "Order-2", "Order-3", "User-1", "User-2",
                                           "Cart-x-y", "loose", "-leading"};

// Appends `batches` random batches (1 to 5 events, types mostly common, a
// few Rare) to random streams.
void fill(Store& store, std::mt19937_64& rng, int batches) {
  for (int b = 0; b < batches; ++b) {
    std::vector<test::EventSpec> specs(1 + rng() % 5);
    for (test::EventSpec& s : specs) {
      s.type = rng() % 50 == 0 ? "Rare" : kTypes[rng() % 3];
      s.data = std::string(rng() % 300, static_cast<char>('a' + rng() % 26)) + std::string(1, '\0');
      s.metadata = rng() % 2 ? "" : "meta-" + std::to_string(b);
    }
    auto r = store.append(kStreams[rng() % kStreams.size()], ExpectedVersion::any(), test::views(specs));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
  }
}

ReadFilter random_filter(std::mt19937_64& rng) {
  ReadFilter f;
  for (const std::string& t : kTypes) {
    if (rng() % 3 == 0) f.event_types.push_back(t);
  }
  const std::vector<std::string> categories = {"Order", "User", "Cart", "Nope"};
  for (const std::string& c : categories) {
    if (rng() % 3 == 0) f.categories.push_back(c);
  }
  if (rng() % 8 == 0) f.event_types.push_back("NeverWritten");
  if (f.event_types.empty() && f.categories.empty()) f.event_types.push_back(kTypes[rng() % kTypes.size()]);
  return f;
}

std::string describe(const ReadFilter& f, uint64_t from, size_t max, Direction d) {
  std::string s = "types";
  for (const auto& t : f.event_types) s += " " + t;
  s += " categories";
  for (const auto& c : f.categories) s += " " + c;
  return s + " from " + std::to_string(from) + " max " + std::to_string(max) +
         (d == Direction::kForward ? " forward" : " backward");
}

// Random filtered reads, each compared event by event with the brute force.
void check_random_reads(const Store& store, std::mt19937_64& rng, int reads) {
  auto all = store.read_all(0, SIZE_MAX);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  uint64_t end = store.next_position();
  ASSERT_EQ(all->size(), end);
  for (int i = 0; i < reads; ++i) {
    ReadFilter f = random_filter(rng);
    Direction d = rng() % 2 ? Direction::kForward : Direction::kBackward;
    uint64_t from = rng() % (end + 20);
    if (i % 10 == 0) from = d == Direction::kForward ? 0 : kEnd;
    size_t max = i % 7 == 0 ? SIZE_MAX : rng() % 60;
    auto got = store.read_all_filtered(f, from, max, d);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    auto want = brute_force(*all, f, from, max, d);
    ASSERT_EQ(got->size(), want.size()) << describe(f, from, max, d);
    for (size_t k = 0; k < want.size(); ++k) {
      ASSERT_EQ((*got)[k], want[k]) << describe(f, from, max, d) << " event " << k;
    }
  }
}

TEST(FilteredReadTest, MatchesABruteForceFilterOfReadAllAcrossSegmentsAndReopen) {
  TempDir dir;
  std::mt19937_64 rng(2024);
  {
    auto store = test::open_ok(dir.path(), small_segments());
    ASSERT_NE(store, nullptr);
    fill(*store, rng, 1500);
    ASSERT_GE(store->stats().segments, 4u);
    check_random_reads(*store, rng, 400);
    ASSERT_TRUE(store->close().ok());
  }
  auto store = test::open_ok(dir.path(), small_segments());
  ASSERT_NE(store, nullptr);
  check_random_reads(*store, rng, 400);
  fill(*store, rng, 300);  // the reopened store's active segment
  check_random_reads(*store, rng, 400);
}

TEST(FilteredReadTest, ReadOnlyOpenReadsTheSame) {
  TempDir dir;
  std::mt19937_64 rng(7);
  {
    auto store = test::open_ok(dir.path(), small_segments());
    fill(*store, rng, 600);
  }
  Options o = small_segments();
  o.read_only = true;
  auto store = test::open_ok(dir.path(), o);
  ASSERT_NE(store, nullptr);
  check_random_reads(*store, rng, 200);
}

TEST(FilteredReadTest, CategoryReadsAreOneStreamInGlobalOrder) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  std::mt19937_64 rng(11);
  fill(*store, rng, 800);
  auto all = store->read_all(0, SIZE_MAX);
  ASSERT_TRUE(all.ok());
  for (const std::string category : {"Order", "User", "Cart", "loose", "Nope"}) {
    ReadFilter f{{}, {category}};
    for (Direction d : {Direction::kForward, Direction::kBackward}) {
      uint64_t from = d == Direction::kForward ? 0 : kEnd;
      auto got = store->read_category(category, from, SIZE_MAX, d);
      ASSERT_TRUE(got.ok()) << got.status().to_string();
      EXPECT_EQ(*got, brute_force(*all, f, from, SIZE_MAX, d)) << category;
    }
    // Paging through the category 7 events at a time gives the same events.
    std::vector<RecordedEvent> paged;
    for (uint64_t next = 0;;) {
      auto page = store->read_category(category, next, 7);
      ASSERT_TRUE(page.ok());
      if (page->empty()) break;
      paged.insert(paged.end(), page->begin(), page->end());
      next = page->back().position + 1;
    }
    EXPECT_EQ(paged, brute_force(*all, f, 0, SIZE_MAX, Direction::kForward)) << category;
  }
  // A stream without the separator, or starting with it, is in no category.
  auto loose = store->read_category("loose", 0, SIZE_MAX);
  ASSERT_TRUE(loose.ok());
  EXPECT_TRUE(loose->empty());
}

TEST(FilteredReadTest, CombinedTypeAndCategory) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  std::vector<test::EventSpec> order(3);
  order[0].type = "Placed";
  order[1].type = "Paid";
  order[2].type = "Placed";
  std::vector<test::EventSpec> user(2);
  user[0].type = "Placed";
  user[1].type = "Registered";
  ASSERT_TRUE(store->append("Order-1", ExpectedVersion::no_stream(), test::views(order)).ok());  // 0..2
  ASSERT_TRUE(store->append("User-1", ExpectedVersion::no_stream(), test::views(user)).ok());    // 3..4
  for (test::EventSpec& e : order) e.id = EventId::random();
  ASSERT_TRUE(store->append("Order-2", ExpectedVersion::no_stream(), test::views(order)).ok());  // 5..7
  auto positions = [&](const ReadFilter& f, uint64_t from, size_t max, Direction d) {
    auto r = store->read_all_filtered(f, from, max, d);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    std::vector<uint64_t> out;
    if (r.ok()) {
      for (const RecordedEvent& e : *r) out.push_back(e.position);
    }
    return out;
  };
  using P = std::vector<uint64_t>;
  EXPECT_EQ(positions({{"Placed"}, {"Order"}}, 0, 100, Direction::kForward), (P{0, 2, 5, 7}));
  EXPECT_EQ(positions({{"Placed", "Registered"}, {"User"}}, 0, 100, Direction::kForward), (P{3, 4}));
  EXPECT_EQ(positions({{"Placed"}, {"Order", "User"}}, kEnd, 3, Direction::kBackward), (P{7, 5, 3}));
  EXPECT_EQ(positions({{"Paid"}, {}}, 2, 100, Direction::kForward), (P{6}));
  EXPECT_EQ(positions({{"Paid"}, {}}, 5, 100, Direction::kBackward), (P{1}));
  EXPECT_EQ(positions({{"Placed"}, {}}, 100, 100, Direction::kForward), P{});
  EXPECT_EQ(positions({{"Placed"}, {}}, 0, 0, Direction::kForward), P{});
  EXPECT_EQ(positions({{"Unknown"}, {}}, 0, 100, Direction::kForward), P{});
  EXPECT_EQ(positions({{"Placed"}, {"Unknown"}}, 0, 100, Direction::kForward), P{});
}

// Options::category_separator decides the categories; a store reopened with
// another separator reads the categories that separator gives.
TEST(FilteredReadTest, CategorySeparatorIsAnOption) {
  TempDir dir;
  Options slash = small_segments();
  slash.category_separator = '/';
  auto streams_of = [](const Result<std::vector<RecordedEvent>>& r) {
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    std::vector<std::string> out;
    if (r.ok()) {
      for (const RecordedEvent& e : *r) out.push_back(e.stream);
    }
    return out;
  };
  using S = std::vector<std::string>;
  {
    auto store = test::open_ok(dir.path(), slash);
    ASSERT_NE(store, nullptr);
    std::mt19937_64 rng(5);
    for (const char* stream : {"orders/1", "Order-1", "orders/2", "orders-3"}) {
      auto events = test::make_events(1);
      ASSERT_TRUE(store->append(stream, ExpectedVersion::any(), test::views(events)).ok());
    }
    fill(*store, rng, 600);  // roll a few segments past them
    EXPECT_EQ(streams_of(store->read_category("orders", 0, 10)), (S{"orders/1", "orders/2"}));
    EXPECT_EQ(streams_of(store->read_category("Order", 0, 10)), S{});
  }
  {
    auto store = test::open_ok(dir.path(), slash);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(streams_of(store->read_category("orders", 0, 10)), (S{"orders/1", "orders/2"}));
  }
  auto store = test::open_ok(dir.path(), small_segments());  // back to '-'
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(streams_of(store->read_category("orders", 0, 10)), S{"orders-3"});
  EXPECT_EQ(streams_of(store->read_category("Order", 0, 1)), S{"Order-1"});
}

TEST(FilteredReadTest, EmptyFiltersAreInvalidArguments) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  auto empty = store->read_all_filtered({}, 0, 10);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->read_all_filtered({{""}, {}}, 0, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->read_all_filtered({{"A"}, {""}}, 0, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->read_category("", 0, 10).status().code(), Code::kInvalidArgument);
  // A valid filter on an empty store reads nothing.
  auto none = store->read_all_filtered({{"A"}, {}}, kEnd, 10, Direction::kBackward);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// Readers racing an appender see only published events, in order, all
// matching, and never an error.
TEST(FilteredReadTest, ConcurrentReadersSeeConsistentPrefixes) {
  TempDir dir;
  auto store = test::open_ok(dir.path(), small_segments());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    std::mt19937_64 rng(3);
    fill(*store, rng, 800);
    done = true;
  });
  ReadFilter f{{"Placed", "Rare"}, {"Order"}};
  int reads = 0;
  while (!done || reads == 0) {
    auto r = store->read_all_filtered(f, kEnd, 50, Direction::kBackward);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    for (size_t i = 0; i < r->size(); ++i) {
      EXPECT_TRUE(matches(f, (*r)[i]));
      if (i > 0) {
        EXPECT_LT((*r)[i].position, (*r)[i - 1].position);
      }
    }
    for (const RecordedEvent& e : *r) EXPECT_LT(e.position, store->next_position());
    ++reads;
  }
  writer.join();
  std::mt19937_64 rng(4);
  check_random_reads(*store, rng, 100);
}

}  // namespace
}  // namespace cairn
