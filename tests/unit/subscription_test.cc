// Subscriptions: catch-up then live without gap or duplicate, filters,
// stream subscriptions, named durable checkpoints, closing, callbacks,
// consumer groups, and many subscribers at once.
#include "engine/power_loss.h"
#include "format/index_file.h"
#include "engine/store_open.h"
#include "tests/test_util.h"

#include <cairn/store.h>
#include <cairn/subscription.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace cairn {
namespace {

using namespace std::chrono_literals;
using test::EventSpec;
using test::TempDir;

// Appends `n` events (batches of `batch`) to `stream`; returns their specs.
std::vector<EventSpec> append_n(Store& store, const std::string& stream, size_t n, size_t batch = 1,
                                const std::string& type = "") {
  std::vector<EventSpec> all;
  for (size_t done = 0; done < n; done += batch) {
    auto specs = test::make_events(std::min(batch, n - done), stream + "-" + std::to_string(done));
    if (!type.empty()) {
      for (auto& s : specs) s.type = type;
    }
    auto r = store.append(stream, ExpectedVersion::any(), test::views(specs));
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    all.insert(all.end(), specs.begin(), specs.end());
  }
  return all;
}

void expect_same(const RecordedEvent& got, const RecordedEvent& want) {
  EXPECT_EQ(got.position, want.position);
  EXPECT_EQ(got.stream, want.stream);
  EXPECT_EQ(got.version, want.version);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.type, want.type);
  EXPECT_EQ(got.data, want.data);
  EXPECT_EQ(got.metadata, want.metadata);
  EXPECT_EQ(got.timestamp_ns, want.timestamp_ns);
}

// Pulls until `count` events arrived (or a 10 s stall).
std::vector<RecordedEvent> pull(Subscription& sub, size_t count) {
  std::vector<RecordedEvent> out;
  auto stall_until = std::chrono::steady_clock::now() + 10s;
  while (out.size() < count && std::chrono::steady_clock::now() < stall_until) {
    auto got = sub.next(100ms);
    if (!got.ok()) {
      ADD_FAILURE() << got.status().to_string();
      break;
    }
    out.insert(out.end(), got->begin(), got->end());
  }
  return out;
}

std::unique_ptr<Subscription> subscribe_ok(Store& store, const SubscriptionOptions& o) {
  auto sub = store.subscribe(o);
  EXPECT_TRUE(sub.ok()) << sub.status().to_string();
  return sub.ok() ? std::move(*sub) : nullptr;
}

TEST(SubscriptionTest, HistoryThenLiveWithoutGapOrDuplicate) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "Order-1", 30, 4);
  append_n(*store, "Order-2", 20, 3);
  SubscriptionOptions o;
  o.max_batch = 7;
  auto sub = subscribe_ok(*store, o);
  auto history = pull(*sub, 50);
  ASSERT_EQ(history.size(), 50u);
  EXPECT_EQ(sub->cursor(), 50u);
  std::thread writer([&] { append_n(*store, "Order-3", 40, 5); });
  auto live = pull(*sub, 40);
  writer.join();
  ASSERT_EQ(live.size(), 40u);
  history.insert(history.end(), live.begin(), live.end());
  auto all = store->read_all(0, 1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), history.size());
  for (size_t i = 0; i < history.size(); ++i) expect_same(history[i], (*all)[i]);
  auto idle = sub->next(20ms);
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->empty());
}

TEST(SubscriptionTest, StartsAtAPositionAndHonoursMaxBatch) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 25, 25);
  SubscriptionOptions o;
  o.from = 10;
  o.max_batch = 4;
  auto sub = subscribe_ok(*store, o);
  auto first = sub->next(1s);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 4u);
  EXPECT_EQ((*first)[0].position, 10u);
  auto rest = pull(*sub, 11);
  ASSERT_EQ(rest.size(), 11u);
  EXPECT_EQ(rest.back().position, 24u);
}

TEST(SubscriptionTest, StreamSubscriptionWaitsForItsStream) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  SubscriptionOptions o;
  o.stream = "Cart-9";
  o.from = 2;
  auto sub = subscribe_ok(*store, o);
  auto nothing = sub->next(10ms);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
  std::vector<EventSpec> mine;
  std::thread writer([&] {
    for (int i = 0; i < 6; ++i) {
      append_n(*store, "Other-" + std::to_string(i), 3, 3);
      auto specs = append_n(*store, "Cart-9", 2, 2);
      mine.insert(mine.end(), specs.begin(), specs.end());
    }
  });
  auto got = pull(*sub, 10);
  writer.join();
  ASSERT_EQ(got.size(), 10u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].stream, "Cart-9");
    EXPECT_EQ(got[i].version, i + 2);
    EXPECT_EQ(got[i].data, mine[i + 2].data);
    EXPECT_EQ(got[i].id, mine[i + 2].id);
  }
  EXPECT_EQ(sub->cursor(), 12u);
}

TEST(SubscriptionTest, StreamSubscriptionFiltersTypes) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  auto specs = append_n(*store, "S-1", 12, 12);  // types Type0, Type1, Type2 in turn
  SubscriptionOptions o;
  o.stream = "S-1";
  o.filter.event_types = {"Type1"};
  o.max_batch = 5;
  auto sub = subscribe_ok(*store, o);
  auto got = pull(*sub, 4);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].type, "Type1");
    EXPECT_EQ(got[i].version, 3 * i + 1);
    EXPECT_EQ(got[i].data, specs[3 * i + 1].data);
  }
  EXPECT_EQ(sub->cursor(), 12u);
}

TEST(SubscriptionTest, FilteredSubscriptionMatchesFilteredRead) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "Order-1", 10, 2, "Placed");
  append_n(*store, "Cart-1", 10, 2, "Placed");
  SubscriptionOptions o;
  o.filter.categories = {"Order"};
  o.filter.event_types = {"Placed", "Shipped"};
  o.max_batch = 3;
  auto sub = subscribe_ok(*store, o);
  std::thread writer([&] {
    append_n(*store, "Order-2", 10, 5, "Shipped");
    append_n(*store, "Order-3", 10, 5, "Ignored");
    append_n(*store, "Cart-2", 10, 5, "Shipped");
    append_n(*store, "Order-4", 5, 5, "Placed");
  });
  auto got = pull(*sub, 25);
  writer.join();
  ReadFilter f = o.filter;
  auto want = store->read_all_filtered(f, 0, 1000);
  ASSERT_TRUE(want.ok());
  ASSERT_EQ(want->size(), 25u);
  ASSERT_EQ(got.size(), 25u);
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], (*want)[i]);
  // Nothing more matches, but the cursor moved past what was searched.
  auto idle = sub->next(10ms);
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->empty());
  EXPECT_EQ(sub->cursor(), store->next_position());
}

// The test: writers append continuously while subscribers start at
// random positions; each sees exactly its start to the end, once, in order.
TEST(SubscriptionTest, ConcurrentWritersAndSubscribersAtRandomStarts) {
  TempDir dir;
  Options options;
  options.segment_bytes = 256 << 10;  // several rolls during the run
  auto store = test::open_ok(dir.path(), options);
  constexpr int kWriters = 4;
  constexpr int kAppendsPerWriter = 150;
  std::atomic<int> writers_done{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int i = 0; i < kAppendsPerWriter; ++i) {
        append_n(*store, "Stream-" + std::to_string(rng() % 20), 1 + rng() % 8, 1 + rng() % 8);
      }
      ++writers_done;
    });
  }
  struct Seen {
    uint64_t start = 0;
    std::vector<RecordedEvent> events;
  };
  constexpr int kSubscribers = 6;
  std::vector<Seen> seen(kSubscribers);
  std::vector<std::thread> readers;
  for (int s = 0; s < kSubscribers; ++s) {
    readers.emplace_back([&, s] {
      std::mt19937 rng(100 + s);
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));
      SubscriptionOptions o;
      o.from = rng() % (store->next_position() + 1);
      o.max_batch = 1 + rng() % 64;
      seen[s].start = o.from;
      auto sub = store->subscribe(o);
      ASSERT_TRUE(sub.ok());
      while (true) {
        bool finished = writers_done.load() == kWriters;
        uint64_t end = store->next_position();
        auto got = (*sub)->next(20ms);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        seen[s].events.insert(seen[s].events.end(), got->begin(), got->end());
        if (finished && (*sub)->cursor() >= end) break;
      }
    });
  }
  for (auto& t : writers) t.join();
  for (auto& t : readers) t.join();
  auto all = store->read_all(0, SIZE_MAX);
  ASSERT_TRUE(all.ok());
  for (const Seen& s : seen) {
    ASSERT_EQ(s.events.size(), all->size() - s.start) << "start " << s.start;
    for (size_t i = 0; i < s.events.size(); ++i) expect_same(s.events[i], (*all)[s.start + i]);
  }
}

TEST(SubscriptionTest, NamedCheckpointResumesAfterRestart) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.path());
    append_n(*store, "Order-1", 40, 8);
    SubscriptionOptions o;
    o.name = "projection";
    o.max_batch = 15;
    auto sub = subscribe_ok(*store, o);
    auto got = sub->next(1s);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 15u);
    ASSERT_TRUE(sub->save_checkpoint().ok());
    got = sub->next(1s);  // delivered but never acknowledged
    ASSERT_EQ(got->size(), 15u);
    ASSERT_TRUE(store->save_subscription_checkpoint("other", 7).ok());
    ASSERT_TRUE(store->save_subscription_checkpoint("other", 9).ok());
  }
  auto store = test::open_ok(dir.path());
  auto saved = store->subscription_checkpoint("projection");
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(*saved, std::optional<uint64_t>(15));
  EXPECT_EQ(*store->subscription_checkpoint("other"), std::optional<uint64_t>(9));
  EXPECT_EQ(*store->subscription_checkpoint("nobody"), std::nullopt);
  SubscriptionOptions o;
  o.name = "projection";
  o.from = 0;  // ignored: the checkpoint wins
  auto sub = subscribe_ok(*store, o);
  auto got = pull(*sub, 25);
  ASSERT_EQ(got.size(), 25u);
  EXPECT_EQ(got.front().position, 15u);
  EXPECT_EQ(got.back().position, 39u);
  ASSERT_TRUE(store->remove_subscription_checkpoint("other").ok());
  EXPECT_EQ(store->remove_subscription_checkpoint("other").code(), Code::kNotFound);
  store.reset();
  store = test::open_ok(dir.path());
  EXPECT_EQ(*store->subscription_checkpoint("other"), std::nullopt);
  EXPECT_EQ(*store->subscription_checkpoint("projection"), std::optional<uint64_t>(15));
}

// A saved cursor never outlives the events it has passed: saving it first
// makes them durable, so after a power loss that reverts everything
// unsynced the log still reaches the cursor, and the events appended later
// are all delivered (none skipped under a cursor past the log's end).
TEST(SubscriptionTest, ASavedCheckpointsEventsSurviveAPowerLoss) {
  TempDir dir;
  Options options;
  options.info_log = [](std::string_view) {};
  options.mapped_writes = false;
  options.prepare_segments = false;
  options.batch_sync_interval_us = 60'000'000;
  { auto store = test::open_ok(dir.path(), options); ASSERT_TRUE(store); }
  engine::PowerLossFileSystem power(engine::posix_file_system());
  auto synced = test::make_events(10, "sync");
  auto unsynced = test::make_events(10, "none");
  {
    auto opened = engine::open_store(power, dir.path(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    std::unique_ptr<Store> store = std::move(*opened);
    ASSERT_TRUE(store->append("a", ExpectedVersion::any(), test::views(synced), Durability::kSync).ok());
    ASSERT_TRUE(store->append("a", ExpectedVersion::any(), test::views(unsynced), Durability::kNone).ok());
    SubscriptionOptions o;
    o.name = "projection";
    auto sub = store->subscribe(o);
    ASSERT_TRUE(sub.ok()) << sub.status().to_string();
    auto got = (*sub)->next(1s);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 20u);
    ASSERT_TRUE((*sub)->save_checkpoint().ok());
    power.cut_power_now();
    (void)store->close();
  }
  ASSERT_TRUE(power.restore_after_power_loss(engine::PowerLossFileSystem::Loss::kRevert, 1).ok());
  auto store = test::open_ok(dir.path(), options);
  ASSERT_TRUE(store);
  ASSERT_EQ(store->next_position(), 20u) << "events the saved cursor had passed were lost";
  EXPECT_EQ(**store->subscription_checkpoint("projection"), 20u);
  auto later = test::make_events(15, "new");
  ASSERT_TRUE(store->append("b", ExpectedVersion::any(), test::views(later)).ok());
  SubscriptionOptions o;
  o.name = "projection";
  auto sub = store->subscribe(o);
  ASSERT_TRUE(sub.ok());
  auto got = (*sub)->next(1s);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), later.size());
  for (size_t i = 0; i < later.size(); ++i) test::expect_event((*got)[i], later[i], "b", i, 20 + i);
}

TEST(SubscriptionTest, CheckpointFileSurvivesATornTailAndReportsCorruption) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.path());
    ASSERT_TRUE(store->save_subscription_checkpoint("a", 1).ok());
    ASSERT_TRUE(store->save_subscription_checkpoint("b", 2).ok());
  }
  std::string path = dir.sub("SUBSCRIPTIONS");
  std::string whole = test::read_bytes(path);
  // A record cut short by a crash: the earlier checkpoints stay.
  test::write_bytes(path, whole.substr(0, whole.size() - 3));
  {
    auto store = test::open_ok(dir.path());
    EXPECT_EQ(*store->subscription_checkpoint("a"), std::optional<uint64_t>(1));
    EXPECT_EQ(*store->subscription_checkpoint("b"), std::nullopt);
    ASSERT_TRUE(store->save_subscription_checkpoint("c", 3).ok());  // cuts the tail first
  }
  {
    auto store = test::open_ok(dir.path());
    EXPECT_EQ(*store->subscription_checkpoint("c"), std::optional<uint64_t>(3));
  }
  // Damage before intact records is corruption, named with its offset.
  std::string bytes = test::read_bytes(path);
  bytes.append(2000, 'x');
  bytes[40 + 12] ^= 0x01;  // the first record's cursor
  test::write_bytes(path, bytes);
  auto reopened = Store::open(dir.path());
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Code::kCorruption);
  EXPECT_NE(reopened.status().message().find("SUBSCRIPTIONS at offset 40"), std::string::npos)
      << reopened.status().to_string();
}

TEST(SubscriptionTest, CheckpointFileOfAnotherStoreIsRefused) {
  TempDir a;
  TempDir b;
  { test::open_ok(a.path())->save_subscription_checkpoint("x", 1).ok(); }
  { test::open_ok(b.path()); }
  std::filesystem::copy_file(a.sub("SUBSCRIPTIONS"), b.sub("SUBSCRIPTIONS"));
  auto opened = Store::open(b.path());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kCorruption);
}

TEST(SubscriptionTest, ClosingTheStoreEndsDelivery) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 3);
  auto sub = subscribe_ok(*store, SubscriptionOptions{});
  ASSERT_EQ(pull(*sub, 3).size(), 3u);
  Status ended;
  std::thread waiter([&] { ended = sub->next().status(); });  // waits for ever
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(store->close().ok());
  waiter.join();
  EXPECT_EQ(ended.code(), Code::kClosed);
  EXPECT_EQ(sub->status().code(), Code::kClosed);
  EXPECT_EQ(store->subscribe(SubscriptionOptions{}).status().code(), Code::kClosed);
  store.reset();  // the subscription outlives its store
  EXPECT_EQ(sub->next(1ms).status().code(), Code::kClosed);
  EXPECT_EQ(sub->save_checkpoint().code(), Code::kInvalidArgument);  // no name
}

TEST(SubscriptionTest, ClosingTheSubscriptionWakesItsReader) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  auto sub = subscribe_ok(*store, SubscriptionOptions{});
  Status ended;
  std::thread waiter([&] { ended = sub->next().status(); });
  std::this_thread::sleep_for(20ms);
  sub->close();
  waiter.join();
  EXPECT_EQ(ended.code(), Code::kClosed);
  append_n(*store, "A-1", 1);  // the store goes on
  EXPECT_EQ(sub->next(1ms).status().code(), Code::kClosed);
}

TEST(SubscriptionTest, CallbackSubscriptionDeliversInOrder) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 20, 4);
  std::mutex mu;
  std::vector<RecordedEvent> got;
  SubscriptionOptions o;
  o.max_batch = 6;
  size_t largest = 0;
  auto sub = store->subscribe(o, [&](std::span<const RecordedEvent> events) {
    std::lock_guard lock(mu);
    largest = std::max(largest, events.size());
    got.insert(got.end(), events.begin(), events.end());
    return Status();
  });
  ASSERT_TRUE(sub.ok());
  append_n(*store, "A-2", 20, 4);
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(mu);
      if (got.size() == 40) break;
    }
    std::this_thread::sleep_for(5ms);
  }
  (*sub)->close();
  auto all = store->read_all(0, 100);
  ASSERT_EQ(got.size(), 40u);
  for (size_t i = 0; i < got.size(); ++i) expect_same(got[i], (*all)[i]);
  EXPECT_LE(largest, 6u);
  EXPECT_EQ((*sub)->status().code(), Code::kClosed);
  EXPECT_EQ((*sub)->next(1ms).status().code(), Code::kInvalidArgument);
}

TEST(SubscriptionTest, AFailingHandlerEndsOnlyItsSubscription) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 5);
  std::atomic<int> calls{0};
  auto throwing = store->subscribe(SubscriptionOptions{}, [&](std::span<const RecordedEvent>) -> Status {
    ++calls;
    throw std::runtime_error("projection bug");
  });
  auto refusing = store->subscribe(SubscriptionOptions{}, [&](std::span<const RecordedEvent>) {
    return Status::invalid_argument("cannot apply");
  });
  ASSERT_TRUE(throwing.ok());
  ASSERT_TRUE(refusing.ok());
  for (int i = 0; i < 1000 && ((*throwing)->status().ok() || (*refusing)->status().ok()); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ((*throwing)->status().code(), Code::kInvalidArgument);
  EXPECT_NE((*throwing)->status().message().find("projection bug"), std::string::npos);
  EXPECT_EQ((*refusing)->status().message(), "cannot apply");
  EXPECT_EQ(calls.load(), 1);
  append_n(*store, "A-1", 5);
  EXPECT_EQ(store->next_position(), 10u);
}

// A handler that unsubscribes by destroying its own Subscription: the
// handler is not called again, and nothing crashes (the thread cannot join
// itself: the subscription ends once the handler returns).
TEST(SubscriptionTest, AHandlerMayDestroyItsOwnSubscription) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 3);
  std::unique_ptr<Subscription> holder;
  std::atomic<bool> ready{false};
  std::atomic<int> calls{0};
  std::promise<void> destroyed;
  auto sub = store->subscribe(SubscriptionOptions{}, [&](std::span<const RecordedEvent>) {
    while (!ready.load()) std::this_thread::yield();
    ++calls;
    holder.reset();
    destroyed.set_value();
    return Status();
  });
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  holder = std::move(*sub);
  ready = true;
  ASSERT_EQ(destroyed.get_future().wait_for(10s), std::future_status::ready);
  append_n(*store, "A-1", 5);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(store->read_all(0, 100)->size(), 8u);
}

// close() from two threads at once while the handler runs: both return once
// it has returned (one joins the thread, the other waits for that).
TEST(SubscriptionTest, CloseFromTwoThreadsAtOnce) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "A-1", 3);
  std::atomic<bool> in_handler{false}, release{false};
  auto sub = store->subscribe(SubscriptionOptions{}, [&](std::span<const RecordedEvent>) {
    in_handler = true;
    while (!release.load()) std::this_thread::sleep_for(1ms);
    return Status();
  });
  ASSERT_TRUE(sub.ok());
  while (!in_handler.load()) std::this_thread::sleep_for(1ms);
  auto a = std::async(std::launch::async, [&] { (*sub)->close(); });
  auto b = std::async(std::launch::async, [&] { (*sub)->close(); });
  EXPECT_EQ(a.wait_for(50ms), std::future_status::timeout) << "close() waits for the handler call";
  release = true;
  ASSERT_EQ(a.wait_for(10s), std::future_status::ready);
  ASSERT_EQ(b.wait_for(10s), std::future_status::ready);
  EXPECT_EQ((*sub)->status().code(), Code::kClosed);
}

// next(timeout) keeps its deadline while it skips batches with nothing for
// it: a consumer-group member that owns none of a long history's streams
// returns (empty) after one batch instead of reading the whole history.
TEST(SubscriptionTest, NextKeepsItsDeadlineWhileSkippingOtherMembersEvents) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  append_n(*store, "Only-1", 2000, 100);
  uint64_t owner = format::stream_hash("Only-1") % 2;
  SubscriptionOptions o;
  o.group_size = 2;
  o.group_member = static_cast<uint32_t>(1 - owner);
  o.max_batch = 16;
  auto sub = subscribe_ok(*store, o);
  auto got = sub->next(0ms);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(sub->cursor(), 16u) << "one batch read, then the deadline";
  for (int i = 0; i < 1000 && sub->cursor() < 2000; ++i) {  // a batch a call: nothing for it
    auto rest = sub->next(0ms);
    ASSERT_TRUE(rest.ok());
    ASSERT_TRUE(rest->empty());
  }
  EXPECT_EQ(sub->cursor(), 2000u);
}

TEST(SubscriptionTest, HundredsOfSubscribersAreWokenByOneCommit) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  constexpr int kSubscribers = 200;
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < kSubscribers; ++i) subs.push_back(subscribe_ok(*store, SubscriptionOptions{}));
  std::atomic<int> delivered{0};
  std::vector<std::thread> threads;
  for (auto& sub : subs) {
    threads.emplace_back([&, s = sub.get()] {
      auto got = s->next(std::chrono::seconds(20));
      if (got.ok() && got->size() == 1 && (*got)[0].stream == "Wake-1") ++delivered;
    });
  }
  std::this_thread::sleep_for(50ms);
  append_n(*store, "Wake-1", 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(delivered.load(), kSubscribers);
}

TEST(SubscriptionTest, ConsumerGroupMembersShareStreams) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  for (int s = 0; s < 30; ++s) append_n(*store, "Order-" + std::to_string(s), 4, 2);
  append_n(*store, "Cart-1", 4, 2);
  constexpr uint32_t kMembers = 3;
  std::map<std::string, uint32_t> owner;
  size_t total = 0;
  for (uint32_t m = 0; m < kMembers; ++m) {
    SubscriptionOptions o;
    o.filter.categories = {"Order"};
    o.group_size = kMembers;
    o.group_member = m;
    o.max_batch = 5;
    auto sub = subscribe_ok(*store, o);
    std::vector<RecordedEvent> got;
    while (true) {
      auto more = sub->next(10ms);
      ASSERT_TRUE(more.ok());
      if (more->empty()) break;
      got.insert(got.end(), more->begin(), more->end());
    }
    for (size_t i = 0; i < got.size(); ++i) {
      if (i > 0) {
        EXPECT_LT(got[i - 1].position, got[i].position);
      }
      auto [it, added] = owner.emplace(got[i].stream, m);
      EXPECT_EQ(it->second, m) << got[i].stream << " went to two members";
    }
    EXPECT_GT(got.size(), 0u);
    total += got.size();
  }
  EXPECT_EQ(total, 120u);
  EXPECT_EQ(owner.size(), 30u);
}

TEST(SubscriptionTest, ASlowSubscriberNeverBlocksWriters) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  SubscriptionOptions o;
  o.max_batch = 100;
  auto sub = subscribe_ok(*store, o);
  append_n(*store, "A-1", 5000, 50);  // nobody reads meanwhile
  EXPECT_EQ(store->next_position(), 5000u);
  auto got = pull(*sub, 5000);
  ASSERT_EQ(got.size(), 5000u);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].position, i);
}

TEST(SubscriptionTest, BadOptionsAreRefused) {
  TempDir dir;
  auto store = test::open_ok(dir.path());
  auto refused = [&](SubscriptionOptions o) { return store->subscribe(o).status().code(); };
  SubscriptionOptions o;
  o.max_batch = 0;
  EXPECT_EQ(refused(o), Code::kInvalidArgument);
  o = {};
  o.stream = "A-1";
  o.filter.categories = {"A"};
  EXPECT_EQ(refused(o), Code::kInvalidArgument);
  o = {};
  o.group_size = 2;
  o.group_member = 2;
  EXPECT_EQ(refused(o), Code::kInvalidArgument);
  o = {};
  o.filter.event_types = {""};
  EXPECT_EQ(refused(o), Code::kInvalidArgument);
  o = {};
  o.name = std::string(2000, 'n');
  EXPECT_EQ(refused(o), Code::kInvalidArgument);
  EXPECT_EQ(store->subscribe(SubscriptionOptions{}, SubscriptionHandler()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store->save_subscription_checkpoint("", 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(store->save_subscription_checkpoint("x", UINT64_MAX).code(), Code::kInvalidArgument);
  o = {};
  o.name = "ahead";
  auto sub = subscribe_ok(*store, o);
  EXPECT_EQ(sub->save_checkpoint(5).code(), Code::kInvalidArgument);  // nothing delivered yet
}

TEST(SubscriptionTest, ReadOnlyStoresDeliverAndRefuseSaves) {
  TempDir dir;
  {
    auto store = test::open_ok(dir.path());
    append_n(*store, "A-1", 5);
    ASSERT_TRUE(store->save_subscription_checkpoint("p", 2).ok());
  }
  Options ro;
  ro.read_only = true;
  auto store = test::open_ok(dir.path(), ro);
  SubscriptionOptions o;
  o.name = "p";
  auto sub = subscribe_ok(*store, o);
  auto got = pull(*sub, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].position, 2u);
  EXPECT_EQ(sub->save_checkpoint().code(), Code::kReadOnly);
}

}  // namespace
}  // namespace cairn
