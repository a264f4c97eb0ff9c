// The public Store API: appends, optimistic concurrency, idempotency, reads,
// bad input, and concurrency.
#include "test_util.h"

#include <atomic>
#include <future>
#include <thread>

namespace cairn {
namespace {

using test::EventSpec;
using test::TempDir;

// The conformance suite, over both write paths.
class StoreTest : public ::testing::TestWithParam<test::WritePath> {
 protected:
  Options options() const {
    Options o;
    GetParam().apply(o);
    return o;
  }
  void SetUp() override { store_ = test::open_ok(dir_.path(), options()); }
  Result<AppendResult> append(const std::string& stream, ExpectedVersion expected,
                              const std::vector<EventSpec>& events) {
    auto v = test::views(events);
    return store_->append(stream, expected, v);
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AppendAssignsVersionsAndPositionsAndReadsBackByteForByte) {
  auto a = test::make_events(3, "a");
  auto b = test::make_events(2, "b");
  auto ra = append("Order-1", ExpectedVersion::no_stream(), a);
  ASSERT_TRUE(ra.ok()) << ra.status().to_string();
  EXPECT_EQ(ra->first_version, 0u);
  EXPECT_EQ(ra->first_position, 0u);
  EXPECT_EQ(ra->count, 3u);
  EXPECT_FALSE(ra->deduplicated);
  auto rb = append("Order-2", ExpectedVersion::any(), b);
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->first_version, 0u);
  EXPECT_EQ(rb->first_position, 3u);

  auto events = store_->read_stream("Order-1", 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) test::expect_event((*events)[i], a[i], "Order-1", i, i);
  auto all = store_->read_all(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  test::expect_event((*all)[4], b[1], "Order-2", 1, 4);
  EXPECT_EQ(store_->next_position(), 5u);
  EXPECT_EQ(store_->stream_version("Order-1"), std::optional<uint64_t>(2));
  EXPECT_EQ(store_->stream_version("Order-3"), std::nullopt);
  EXPECT_GT((*all)[0].timestamp_ns, 0);
}

TEST_P(StoreTest, ExpectedVersionKinds) {
  auto e = test::make_events(1);
  EXPECT_EQ(append("s", ExpectedVersion::stream_exists(), e).status().code(), Code::kWrongExpectedVersion);
  EXPECT_EQ(append("s", ExpectedVersion::exactly(0), e).status().code(), Code::kWrongExpectedVersion);
  ASSERT_TRUE(append("s", ExpectedVersion::no_stream(), test::make_events(2)).ok());
  auto again = append("s", ExpectedVersion::no_stream(), test::make_events(1));
  EXPECT_EQ(again.status().code(), Code::kWrongExpectedVersion);
  EXPECT_EQ(again.status().actual_version(), std::optional<uint64_t>(1));
  EXPECT_NE(again.status().message().find("'s'"), std::string::npos) << again.status().message();
  auto stale = append("s", ExpectedVersion::exactly(0), test::make_events(1));
  EXPECT_EQ(stale.status().code(), Code::kWrongExpectedVersion);
  EXPECT_EQ(stale.status().actual_version(), std::optional<uint64_t>(1));
  EXPECT_TRUE(append("s", ExpectedVersion::exactly(1), test::make_events(1)).ok());
  EXPECT_TRUE(append("s", ExpectedVersion::stream_exists(), test::make_events(1)).ok());
  EXPECT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  auto missing = append("t", ExpectedVersion::exactly(5), e);
  EXPECT_EQ(missing.status().actual_version(), std::nullopt);
  EXPECT_EQ(store_->stream_version("s"), std::optional<uint64_t>(4));
  EXPECT_EQ(store_->next_position(), 5u);  // failed appends wrote nothing
}

TEST_P(StoreTest, RetryWithSameIdsIsIdempotentWhateverTheExpectedVersion) {
  auto batch = test::make_events(3);
  auto first = append("s", ExpectedVersion::no_stream(), batch);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(append("other", ExpectedVersion::any(), test::make_events(2)).ok());
  for (auto expected : {ExpectedVersion::no_stream(), ExpectedVersion::any(),
                        ExpectedVersion::exactly(7), ExpectedVersion::stream_exists()}) {
    auto retry = append("s", expected, batch);
    ASSERT_TRUE(retry.ok()) << expected.to_string() << ": " << retry.status().to_string();
    EXPECT_TRUE(retry->deduplicated);
    EXPECT_EQ(retry->first_version, 0u);
    EXPECT_EQ(retry->first_position, 0u);
    EXPECT_EQ(retry->count, 3u);
  }
  EXPECT_EQ(store_->next_position(), 5u);
  EXPECT_EQ(store_->stats().deduplicated, 4u);
}

TEST_P(StoreTest, PartialRetryIsADuplicateEventError) {
  auto batch = test::make_events(3);
  ASSERT_TRUE(append("s", ExpectedVersion::any(), batch).ok());
  std::vector<EventSpec> mixed = {batch[0], EventSpec{}, batch[2]};
  auto r = append("s", ExpectedVersion::any(), mixed);
  EXPECT_EQ(r.status().code(), Code::kDuplicateEvent);
  EXPECT_NE(r.status().message().find(batch[0].id.to_hex()), std::string::npos);
  std::vector<EventSpec> later = {EventSpec{}, batch[1]};
  r = append("s", ExpectedVersion::any(), later);
  EXPECT_EQ(r.status().code(), Code::kDuplicateEvent);
  EXPECT_NE(r.status().message().find(batch[1].id.to_hex()), std::string::npos);
  // The same ids in another stream are not a retry either.
  r = append("elsewhere", ExpectedVersion::any(), batch);
  EXPECT_EQ(r.status().code(), Code::kDuplicateEvent);
  EXPECT_EQ(store_->next_position(), 3u);
}

TEST_P(StoreTest, RetryIsRecognisedAfterReopen) {
  auto batch = test::make_events(2);
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  ASSERT_TRUE(append("s", ExpectedVersion::any(), batch).ok());
  store_.reset();
  store_ = test::open_ok(dir_.path(), options());
  auto retry = append("s", ExpectedVersion::any(), batch);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_version, 1u);
  EXPECT_EQ(retry->first_position, 1u);
  EXPECT_EQ(store_->next_position(), 3u);
}

TEST_P(StoreTest, RetryOutsideTheWindowIsNotRecognised) {
  store_.reset();
  Options options = this->options();
  options.idempotency_window = 4;
  store_ = test::open_ok(dir_.path(), options);
  auto batch = test::make_events(2);
  ASSERT_TRUE(append("s", ExpectedVersion::any(), batch).ok());
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(2)).ok());
  // Still inside the window of 4 positions.
  EXPECT_TRUE(append("s", ExpectedVersion::any(), batch)->deduplicated);
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  // Position 0 has left the window but position 1 has not: half a retry is
  // never taken for new events.
  EXPECT_EQ(append("s", ExpectedVersion::any(), batch).status().code(), Code::kDuplicateEvent);
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  // Both have left the window: the ids are new again.
  auto late = append("s", ExpectedVersion::any(), batch);
  ASSERT_TRUE(late.ok()) << late.status().to_string();
  EXPECT_FALSE(late->deduplicated);
  EXPECT_EQ(late->first_position, 6u);
}

TEST_P(StoreTest, NilIdsAreNeverDeduplicated) {
  std::vector<EventSpec> nil(2);
  nil[0].id = EventId{};
  nil[1].id = EventId{};
  ASSERT_TRUE(append("s", ExpectedVersion::any(), nil).ok());
  auto again = append("s", ExpectedVersion::any(), nil);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deduplicated);
  EXPECT_EQ(store_->next_position(), 4u);
}

TEST_P(StoreTest, RetryInsideTheSameGroupCommitIsRecognised) {
  auto batch = test::make_events(2);
  auto views = test::views(batch);
  std::vector<std::future<Result<AppendResult>>> futures;
  for (int i = 0; i < 20; ++i) futures.push_back(store_->append_async("s", ExpectedVersion::any(), views));
  int written = 0;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->first_position, 0u);
    written += r->deduplicated ? 0 : 1;
  }
  EXPECT_EQ(written, 1);
  EXPECT_EQ(store_->next_position(), 2u);
}

TEST_P(StoreTest, BadInputIsATypedErrorAndWritesNothing) {
  auto one = test::make_events(1);
  auto code = [&](const std::string& stream, const std::vector<EventSpec>& events) {
    return append(stream, ExpectedVersion::any(), events).status().code();
  };
  EXPECT_EQ(code("", one), Code::kInvalidArgument);
  EXPECT_EQ(code(std::string(kMaxStreamNameBytes + 1, 'x'), one), Code::kInvalidArgument);
  EXPECT_TRUE(append(std::string(kMaxStreamNameBytes, 'x'), ExpectedVersion::any(), one).ok());
  EXPECT_EQ(code("s", {}), Code::kInvalidArgument);
  std::vector<EventSpec> bad(1);
  bad[0].type = "";
  EXPECT_EQ(code("s", bad), Code::kInvalidArgument);
  bad[0].type = std::string(kMaxTypeBytes + 1, 't');
  EXPECT_EQ(code("s", bad), Code::kInvalidArgument);
  std::vector<EventSpec> twins(2);
  twins[1].id = twins[0].id;
  auto r = append("s", ExpectedVersion::any(), twins);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(twins[0].id.to_hex()), std::string::npos);
  EXPECT_EQ(store_->next_position(), 1u);
}

TEST(StoreLimitsTest, OversizedEventsAndBatchesAreRejected) {
  TempDir dir;
  Options options;
  options.max_event_bytes = 1000;
  options.max_batch_bytes = 4000;
  options.segment_bytes = 64 << 10;
  auto store = test::open_ok(dir.path(), options);
  std::vector<EventSpec> big(1);
  big[0].data = std::string(900, 'd');
  big[0].metadata = std::string(101, 'm');
  auto r = store->append("s", ExpectedVersion::any(), test::views(big));
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("max_event_bytes"), std::string::npos) << r.status().message();
  big[0].metadata.clear();
  EXPECT_TRUE(store->append("s", ExpectedVersion::any(), test::views(big)).ok());
  std::vector<EventSpec> many(5);
  for (auto& e : many) e.data = std::string(900, 'd');
  r = store->append("s", ExpectedVersion::any(), test::views(many));
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("max_batch_bytes"), std::string::npos);
  EXPECT_EQ(store->next_position(), 1u);
}

TEST(StoreLimitsTest, BatchLargerThanASegmentIsRejected) {
  TempDir dir;
  Options options;
  options.segment_bytes = 64 << 10;
  auto store = test::open_ok(dir.path(), options);
  std::vector<EventSpec> big(1);
  big[0].data = std::string(70 << 10, 'x');
  auto r = store->append("s", ExpectedVersion::any(), test::views(big));
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("segment"), std::string::npos);
}

TEST(StoreOptionsTest, TinySegmentSizeIsRejected) {
  TempDir dir;
  Options options;
  options.segment_bytes = 4096;
  EXPECT_EQ(Store::open(dir.path(), options).status().code(), Code::kInvalidArgument);
}

TEST_P(StoreTest, ReadStreamForwardBackwardAndBounds) {
  std::vector<EventSpec> events = test::make_events(10);
  for (size_t i = 0; i < 10; i += 2) {
    ASSERT_TRUE(append("s", ExpectedVersion::any(), {events[i], events[i + 1]}).ok());
    ASSERT_TRUE(append("noise", ExpectedVersion::any(), test::make_events(1)).ok());
  }
  auto fwd = store_->read_stream("s", 3, 4);
  ASSERT_TRUE(fwd.ok());
  ASSERT_EQ(fwd->size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ((*fwd)[i].version, 3 + i);
  test::expect_event((*fwd)[0], events[3], "s", 3, 4);  // versions 2,3 were positions 3,4
  auto back = store_->read_stream("s", 5, 3, Direction::kBackward);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].version, 5u);
  EXPECT_EQ((*back)[2].version, 3u);
  test::expect_event((*back)[1], events[4], "s", 4, 6);
  auto from_end = store_->read_stream("s", kEnd, 2, Direction::kBackward);
  ASSERT_EQ(from_end->size(), 2u);
  EXPECT_EQ((*from_end)[0].version, 9u);
  EXPECT_TRUE(store_->read_stream("s", 10, 5)->empty());
  EXPECT_EQ(store_->read_stream("s", 0, 0)->size(), 0u);
  EXPECT_EQ(store_->read_stream("s", 8, 100)->size(), 2u);
  EXPECT_EQ(store_->read_stream("s", 1, 100, Direction::kBackward)->size(), 2u);
  EXPECT_EQ(store_->read_stream("missing", 0, 1).status().code(), Code::kNotFound);
}

TEST_P(StoreTest, ReadAllForwardBackward) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append("s" + std::to_string(i), ExpectedVersion::any(), test::make_events(3)).ok());
  auto page = store_->read_all(4, 5);
  ASSERT_EQ(page->size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ((*page)[i].position, 4 + i);
  EXPECT_EQ((*page)[0].stream, "s1");
  EXPECT_EQ((*page)[0].version, 1u);
  auto back = store_->read_all(kEnd, 4, Direction::kBackward);
  ASSERT_EQ(back->size(), 4u);
  EXPECT_EQ((*back)[0].position, 14u);
  EXPECT_EQ((*back)[3].position, 11u);
  EXPECT_TRUE(store_->read_all(15, 10)->empty());
  EXPECT_EQ(store_->read_all(2, 100, Direction::kBackward)->size(), 3u);
  TempDir empty_dir;
  auto empty = test::open_ok(empty_dir.path());
  EXPECT_TRUE(empty->read_all(0, 10)->empty());
  EXPECT_TRUE(empty->read_all(kEnd, 10, Direction::kBackward)->empty());
}

TEST_P(StoreTest, AsyncAppendWithCallbackAndFuture) {
  auto events = test::make_events(2);
  auto views = test::views(events);
  std::promise<Result<AppendResult>> got;
  store_->append_async("s", ExpectedVersion::no_stream(), views,
                       [&](Result<AppendResult> r) { got.set_value(std::move(r)); });
  auto r = got.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->count, 2u);
  auto f = store_->append_async("s", ExpectedVersion::exactly(1), views);
  auto retry = f.get();
  EXPECT_TRUE(retry.ok() && retry->deduplicated);
}

TEST_P(StoreTest, AsyncAppendCopiesItsInputBeforeReturning) {
  std::future<Result<AppendResult>> f;
  EventId id = EventId::random();
  {
    std::string data = "payload";
    std::string type = "T";
    NewEvent e{id, type, data, ""};
    f = store_->append_async("s", ExpectedVersion::any(), std::span<const NewEvent>(&e, 1));
    data.assign(data.size(), '#');
    type = "X";
  }
  ASSERT_TRUE(f.get().ok());
  auto read = store_->read_stream("s", 0, 1);
  EXPECT_EQ((*read)[0].data, "payload");
  EXPECT_EQ((*read)[0].type, "T");
}

TEST_P(StoreTest, ThrowingCallbackDoesNotStopTheWriter) {
  auto events = test::make_events(1);
  auto views = test::views(events);
  std::atomic<bool> ran{false};
  store_->append_async("s", ExpectedVersion::any(), views, [&](Result<AppendResult>) {
    ran = true;
    throw std::runtime_error("callback failure");
  });
  auto next = append("s", ExpectedVersion::any(), test::make_events(1));
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(ran);
  EXPECT_EQ(next->first_version, 1u);
}

TEST_P(StoreTest, AppendFromACallbackIsRefused) {
  auto events = test::make_events(1);
  auto views = test::views(events);
  std::promise<Status> inner;
  store_->append_async("s", ExpectedVersion::any(), views, [&](Result<AppendResult>) {
    auto more = test::make_events(1);
    inner.set_value(append("s", ExpectedVersion::any(), more).status());
  });
  Status s = inner.get_future().get();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
}

TEST_P(StoreTest, AppendAfterCloseIsClosed) {
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  EXPECT_TRUE(store_->close().ok());
  EXPECT_TRUE(store_->close().ok());
  EXPECT_EQ(append("s", ExpectedVersion::any(), test::make_events(1)).status().code(), Code::kClosed);
  EXPECT_EQ(store_->read_stream("s", 0, 10)->size(), 1u);  // reads still work
}

TEST_P(StoreTest, ConcurrentExactAppendsToOneStreamHaveOneWinnerPerRound) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<int> winners{0};
    std::atomic<int> losers{0};
    std::vector<std::thread> threads;
    std::optional<uint64_t> current = store_->stream_version("race");
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        auto expected = current ? ExpectedVersion::exactly(*current) : ExpectedVersion::no_stream();
        auto r = append("race", expected, test::make_events(1));
        if (r.ok()) {
          winners++;
        } else if (r.status().code() == Code::kWrongExpectedVersion) {
          losers++;
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    ASSERT_EQ(losers.load(), kThreads - 1);
  }
  EXPECT_EQ(store_->stream_version("race"), std::optional<uint64_t>(kRounds - 1));
}

TEST_P(StoreTest, ManyThreadsAppendAndReadConcurrently) {
  constexpr int kThreads = 8;
  constexpr int kAppends = 200;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    uint64_t seen = 0;
    while (!stop) {
      auto page = store_->read_all(seen, 1000);
      ASSERT_TRUE(page.ok());
      for (const auto& e : *page) ASSERT_EQ(e.position, seen++);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      std::string stream = "w" + std::to_string(t);
      for (int i = 0; i < kAppends; ++i) {
        auto events = test::make_events(1 + i % 3, stream + "-" + std::to_string(i));
        auto r = append(stream, ExpectedVersion::any(), events);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        auto back = store_->read_stream(stream, r->first_version, events.size());
        ASSERT_TRUE(back.ok());
        ASSERT_EQ(back->size(), events.size());
        for (size_t k = 0; k < events.size(); ++k) {
          test::expect_event((*back)[k], events[k], stream, r->first_version + k, r->first_position + k);
        }
      }
    });
  }
  for (auto& th : writers) th.join();
  stop = true;
  reader.join();
  StoreStats stats = store_->stats();
  EXPECT_EQ(stats.appends, uint64_t{kThreads} * kAppends);
  EXPECT_LE(stats.group_commits, stats.appends);
}

TEST_P(StoreTest, SyncAndAsyncAppendersTogetherKeepEveryStreamWhole) {
  constexpr int kSync = 4;
  constexpr int kAsync = 2;
  constexpr int kAppends = 150;
  std::vector<std::vector<std::vector<EventSpec>>> written(kSync + kAsync);
  std::vector<std::thread> threads;
  for (int t = 0; t < kSync + kAsync; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "mixed-" + std::to_string(t);
      std::vector<std::future<Result<AppendResult>>> pending;
      for (int i = 0; i < kAppends; ++i) {
        written[t].push_back(test::make_events(1 + i % 4, stream + "/" + std::to_string(i)));
      }
      for (int i = 0; i < kAppends; ++i) {
        auto views = test::views(written[t][i]);
        if (t < kSync) {
          ASSERT_TRUE(store_->append(stream, ExpectedVersion::any(), views).ok());
        } else {
          pending.push_back(store_->append_async(stream, ExpectedVersion::any(), views));
        }
      }
      for (auto& f : pending) ASSERT_TRUE(f.get().ok());
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kSync + kAsync; ++t) {
    std::string stream = "mixed-" + std::to_string(t);
    auto events = store_->read_stream(stream, 0, SIZE_MAX);
    ASSERT_TRUE(events.ok());
    size_t k = 0;
    for (const auto& batch : written[t]) {
      for (const auto& spec : batch) {
        ASSERT_LT(k, events->size());
        EXPECT_EQ((*events)[k].version, k);
        EXPECT_EQ((*events)[k].id, spec.id);
        EXPECT_EQ((*events)[k].data, spec.data);
        ++k;
      }
    }
    EXPECT_EQ(k, events->size());
  }
  auto all = store_->read_all(0, SIZE_MAX);
  for (uint64_t p = 0; p < all->size(); ++p) ASSERT_EQ((*all)[p].position, p);
}

TEST_P(StoreTest, CloseWhileAppendingFinishesOrRefusesEveryAppend) {
  std::atomic<int> ok{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::string stream = "c" + std::to_string(t);
      while (!stop) {
        auto events = test::make_events(1);
        Result<AppendResult> r = t % 2 ? store_->append(stream, ExpectedVersion::any(), test::views(events))
                                       : store_->append_async(stream, ExpectedVersion::any(), test::views(events)).get();
        if (r.ok()) {
          ok++;
        } else {
          ASSERT_EQ(r.status().code(), Code::kClosed) << r.status().to_string();
          return;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(store_->close().ok());
  stop = true;
  for (auto& th : threads) th.join();
  uint64_t acknowledged = static_cast<uint64_t>(ok.load());
  store_.reset();
  store_ = test::open_ok(dir_.path(), options());
  EXPECT_EQ(store_->next_position(), acknowledged);
}

TEST_P(StoreTest, BusyReadersDoNotStarveAppends) {
  // With a reader-preferring lock, 8 threads looping on stream_version() held
  // one append back for tens of seconds; this test then runs into its timeout.
  ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&] {
      while (!stop) ASSERT_TRUE(store_->stream_version("s").has_value());
    });
  }
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(append("s", ExpectedVersion::any(), test::make_events(1)).ok());
  stop = true;
  for (auto& th : readers) th.join();
  EXPECT_EQ(store_->stream_version("s"), std::optional<uint64_t>(100));
}

TEST(StoreBackpressureTest, AsyncAppendsBeyondTheQueueLimitWaitAndAllLand) {
  TempDir dir;
  Options options;
  options.max_queued_bytes = 2048;  // a few batches
  auto store = test::open_ok(dir.path(), options);
  std::vector<std::vector<EventSpec>> batches;
  for (int i = 0; i < 300; ++i) batches.push_back(test::make_events(2, std::to_string(i)));
  std::vector<std::future<Result<AppendResult>>> futures;
  for (const auto& b : batches) futures.push_back(store->append_async("q", ExpectedVersion::any(), test::views(b)));
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->first_version, 2 * i);
  }
  auto events = store->read_stream("q", 0, SIZE_MAX);
  ASSERT_EQ(events->size(), 600u);
  EXPECT_EQ((*events)[599].data, batches[299][1].data);
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST(StoreResourcesTest, SealedSegmentsHoldNoFileDescriptor) {
  TempDir dir;
  Options options;
  options.segment_bytes = 64 << 10;
  {
    auto store = test::open_ok(dir.path(), options);
    std::vector<EventSpec> big(1);
    big[0].data = std::string(20000, 'b');
    for (int i = 0; i < 40; ++i) {
      big[0].id = EventId::random();
      ASSERT_TRUE(store->append("s", ExpectedVersion::any(), test::views(big)).ok());
    }
  }
  ASSERT_GE(test::segment_files(dir.path()).size(), 10u);
  size_t before = open_descriptors();
  auto store = test::open_ok(dir.path(), options);
  EXPECT_LE(open_descriptors(), before + 3);  // LOCK, the active segment, slack
  EXPECT_EQ(store->read_all(0, SIZE_MAX)->size(), 40u);
}

// Groups of hundreds of async appends are admitted a few dozen per hold of
// the index lock (Log::WriterHold), across segment rolls (64 KiB segments)
// and with retries inside them, while a reader pages through the log; then
// a reopen, whose first append loads the id window and finds a checkpointed
// stream under such a hold.
TEST_P(StoreTest, LongAsyncGroupsAcrossRollsWithRetriesAndAReader) {
  TempDir dir;
  Options o = options();
  o.segment_bytes = 64 << 10;
  constexpr int kAppends = 3000;
  constexpr int kStreams = 7;
  std::vector<std::vector<EventSpec>> appends(kAppends);
  std::vector<std::string> stream_of(kAppends);
  {
    auto store = test::open_ok(dir.path(), o);
    ASSERT_NE(store, nullptr);
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      uint64_t seen = 0;
      while (!stop) {
        auto page = store->read_all(seen, 500);
        ASSERT_TRUE(page.ok()) << page.status().to_string();
        for (const auto& e : *page) ASSERT_EQ(e.position, seen++);
      }
    });
    std::vector<std::future<Result<AppendResult>>> results;
    std::vector<int> retry_of(kAppends, -1);
    for (int i = 0; i < kAppends; ++i) {
      if (i % 10 == 9) {  // a retry of an append a few before, maybe in the same group
        retry_of[i] = i - 1 - i % 7;
        appends[i] = appends[retry_of[i]];
        stream_of[i] = stream_of[retry_of[i]];
      } else {
        appends[i] = test::make_events(1 + i % 2, "g" + std::to_string(i));
        for (auto& e : appends[i]) e.data.resize(180, 'x');
        stream_of[i] = "Long-" + std::to_string(i % kStreams);
      }
      results.push_back(store->append_async(stream_of[i], ExpectedVersion::any(), test::views(appends[i])));
    }
    std::vector<AppendResult> got(kAppends);
    for (int i = 0; i < kAppends; ++i) {
      auto r = results[i].get();
      ASSERT_TRUE(r.ok()) << i << ": " << r.status().to_string();
      got[i] = *r;
      EXPECT_EQ(r->deduplicated, retry_of[i] >= 0) << i;
      if (retry_of[i] >= 0) {
        EXPECT_EQ(r->first_position, got[retry_of[i]].first_position) << i;
        EXPECT_EQ(r->first_version, got[retry_of[i]].first_version) << i;
      }
    }
    stop = true;
    reader.join();
    EXPECT_GE(test::segment_files(dir.path()).size(), 8u);
    // Groups longer than two holds (the writer admits 32 requests per hold,
    // each of one or two events).
    EXPECT_GT(store->stats().group_events.max(), 96u);
  }
  auto store = test::open_ok(dir.path(), o);
  ASSERT_NE(store, nullptr);
  std::vector<size_t> next(kStreams, 0);
  for (int i = 0; i < kAppends; ++i) {
    if (i % 10 == 9) continue;
    int s = i % kStreams;
    auto back = store->read_stream(stream_of[i], next[s], appends[i].size());
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->size(), appends[i].size());
    for (size_t k = 0; k < appends[i].size(); ++k) {
      EXPECT_EQ((*back)[k].id, appends[i][k].id);
      EXPECT_EQ((*back)[k].data, appends[i][k].data);
      EXPECT_EQ((*back)[k].version, next[s] + k);
    }
    next[s] += appends[i].size();
  }
  // A retry of the first append, from the oldest segment, and an exact append
  // to a stream the reopened store knows from its checkpoint.
  auto retry = store->append(stream_of[0], ExpectedVersion::any(), test::views(appends[0]));
  ASSERT_TRUE(retry.ok()) << retry.status().to_string();
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->first_position, 0u);
  auto more = test::make_events(1, "after");
  auto r = store->append(stream_of[0], ExpectedVersion::exactly(next[0] - 1), test::views(more));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->first_version, next[0]);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, test::write_paths(), test::write_path_name);

}  // namespace
}  // namespace cairn
