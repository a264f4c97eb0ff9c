// engine/append_request: the pool that recycles finished append requests.
#include "engine/append_request.h"

#include "format/batch.h"
#include "format/frame.h"
#include "test_util.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

namespace cairn::engine {
namespace {

using Batch = std::vector<std::unique_ptr<AppendRequest>>;

// A request filled as an append fills it, with a callback holding `token`.
std::unique_ptr<AppendRequest> filled(RequestPool& pool, const std::shared_ptr<int>& token, size_t frame_bytes) {
  auto r = pool.take();
  r->stream = "Order-42";
  r->expected = ExpectedVersion::exactly(7);
  r->ids.push_back(EventId::random());
  r->frame.reserve(frame_bytes);
  NewEvent event{r->ids.back(), "Placed", std::string_view("data"), {}};
  format::encode_batch(r->frame, r->stream, std::span(&event, 1), {}, /*seal=*/false);
  r->batch = format::BatchView::decode(format::own_frame_body(r->frame), "test").value();
  r->frame.resize(std::max(frame_bytes, r->frame.size()), 'f');
  r->durability = Durability::kNone;
  r->done = [token](Result<AppendResult>) {};
  r->result = AppendResult{};
  return r;
}

void expect_cleared(const AppendRequest& r) {
  EXPECT_EQ(r.stream, "");
  EXPECT_EQ(r.expected.kind(), ExpectedVersion::Kind::kAny);
  EXPECT_EQ(r.frame, "");
  EXPECT_TRUE(r.ids.empty());
  EXPECT_EQ(r.batch.count(), 0u);
  EXPECT_EQ(r.durability, Durability::kSync);
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.waiter, nullptr);
  EXPECT_EQ(r.result.status().code(), Code::kClosed);
}

// A given-back request comes back cleared, with its frame's capacity kept;
// its callback (and what the callback holds) is released by give().
TEST(RequestPoolTest, GivesBackClearedRequestsAndReleasesTheirCallbacks) {
  RequestPool pool;
  auto token = std::make_shared<int>(1);
  Batch finished;
  finished.push_back(filled(pool, token, 1000));
  AppendRequest* first = finished.back().get();
  EXPECT_EQ(token.use_count(), 2);
  pool.give(finished);
  EXPECT_TRUE(finished.empty());
  EXPECT_EQ(token.use_count(), 1) << "the callback is destroyed when the request is given back";
  auto again = pool.take();
  EXPECT_EQ(again.get(), first) << "recycled";
  expect_cleared(*again);
  EXPECT_GE(again->frame.capacity(), 1000u);
  auto fresh = pool.take();
  EXPECT_NE(fresh.get(), first);
  expect_cleared(*fresh);
}

// Requests whose buffers grew past kMaxRequestBytes are freed, and the pool
// keeps at most kMaxKept requests and kMaxKeptBytes of buffers.
TEST(RequestPoolTest, KeepsNeitherHugeFramesNorMoreThanItsLimit) {
  RequestPool pool;
  auto token = std::make_shared<int>(1);
  Batch finished;
  finished.push_back(filled(pool, token, RequestPool::kMaxRequestBytes + 1));
  pool.give(finished);
  EXPECT_EQ(token.use_count(), 1);
  auto r = pool.take();
  EXPECT_EQ(r->frame.capacity(), std::string().capacity()) << "a new request: the huge one was not kept";

  for (size_t i = 0; i < RequestPool::kMaxKept + 10; ++i) finished.push_back(filled(pool, token, 100));
  pool.give(finished);
  EXPECT_EQ(token.use_count(), 1);
  Batch held;
  for (size_t i = 0; i < RequestPool::kMaxKept + 1; ++i) held.push_back(pool.take());
  // The first kMaxKept are the kept ones (each one cleared); the next is new.
  for (size_t i = 0; i < RequestPool::kMaxKept; ++i) ASSERT_GE(held[i]->frame.capacity(), 100u) << i;
  EXPECT_EQ(held.back()->frame.capacity(), std::string().capacity());
  held.clear();

  // Requests of 60 KiB: kMaxKeptBytes holds fewer than kMaxKept of them.
  const size_t big = 60u << 10;
  for (size_t i = 0; i < 400; ++i) finished.push_back(filled(pool, token, big));
  size_t each = RequestPool::buffer_bytes(*finished.front());
  pool.give(finished);
  size_t kept = 0;
  for (auto r = pool.take(); r->frame.capacity() >= big; r = pool.take()) ++kept;
  EXPECT_EQ(kept, RequestPool::kMaxKeptBytes / each);
  EXPECT_LT(kept, 400u);
}

// Appenders take while the completer gives back (run under TSan too).
TEST(RequestPoolTest, TakeAndGiveFromManyThreads) {
  RequestPool pool;
  auto token = std::make_shared<int>(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        Batch finished;
        for (int i = 0; i < 20; ++i) {
          finished.push_back(filled(pool, token, 100));
          expect_cleared(*pool.take());  // a taken request is always cleared
        }
        pool.give(finished);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(token.use_count(), 1);
}

}  // namespace
}  // namespace cairn::engine
