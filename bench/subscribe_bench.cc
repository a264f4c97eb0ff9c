#include "subscribe_bench.h"

#include "raw_disk.h"

#include <cairn/store.h>
#include <cairn/subscription.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace cairn::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }


// Bytes the heap has handed out (resident once touched; RSS itself moves in
// pages and keeps what earlier phases freed, so it cannot see small objects).
double heap_bytes() { return static_cast<double>(mallinfo2().uordblks); }

std::unique_ptr<Store> open_store(const std::string& dir, Durability durability) {
  Options o;
  o.durability = durability;
  o.info_log = [](std::string_view) {};
  auto store = Store::open(dir, o);
  if (!store.ok()) {
    std::fprintf(stderr, "cairn-bench: %s\n", store.status().to_string().c_str());
    return nullptr;
  }
  return std::move(*store);
}

struct Event {
  EventId id = EventId::random();
  std::string data;
  std::string metadata = std::string(32, 'm');
  NewEvent view() const { return NewEvent{id, "OrderPlaced", data, metadata}; }
};

// --- latency: append (sync) -> delivered ---

struct LatencyResult {
  double append_p50_us = 0, append_p99_us = 0;        // append() call to its return (durable)
  double end_to_end_p50_us = 0, end_to_end_p99_us = 0;  // append() call to delivery
  double after_ack_p50_us = 0, after_ack_p99_us = 0;  // append's return to delivery (0 when before)
  double delivered_before_ack = 0;                    // share of deliveries before append() returned
  uint64_t appends = 0;
};

bool measure_latency(const SubscribeBench& b, int subscribers, const std::string& dir, LatencyResult& out) {
  auto store = open_store(dir, Durability::kSync);
  if (!store) return false;
  size_t capacity = static_cast<size_t>(b.seconds * 100'000) + 1024;
  std::vector<int64_t> submitted(capacity), acked(capacity);
  std::vector<std::vector<std::pair<uint64_t, int64_t>>> deliveries(subscribers);
  std::atomic<uint64_t> final_end{UINT64_MAX};
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < subscribers; ++i) {
    auto sub = store->subscribe(SubscriptionOptions{});
    if (!sub.ok()) return false;
    subs.push_back(std::move(*sub));
  }
  std::vector<std::thread> readers;
  for (int i = 0; i < subscribers; ++i) {
    readers.emplace_back([&, i] {
      deliveries[i].reserve(capacity);
      while (subs[i]->cursor() < final_end.load()) {
        auto got = subs[i]->next(20ms);
        if (!got.ok()) return;
        int64_t t = now_ns();
        for (const RecordedEvent& e : *got) deliveries[i].emplace_back(e.position, t);
      }
    });
  }
  std::this_thread::sleep_for(100ms);  // every reader waits in next()
  Event ev;
  ev.data.assign(b.event_size, 'd');
  auto stop = Clock::now() + std::chrono::duration<double>(b.seconds);
  uint64_t appended = 0;
  while (Clock::now() < stop && appended < capacity) {
    ev.id = EventId::random();
    NewEvent view = ev.view();
    int64_t t0 = now_ns();
    auto r = store->append("Order-" + std::to_string(appended % 100), ExpectedVersion::any(), {&view, 1});
    int64_t t1 = now_ns();
    if (!r.ok()) {
      std::fprintf(stderr, "cairn-bench: %s\n", r.status().to_string().c_str());
      break;
    }
    submitted[r->first_position] = t0;
    acked[r->first_position] = t1;
    ++appended;
  }
  final_end = store->next_position();
  for (auto& t : readers) t.join();
  std::vector<double> append_us, e2e_us, after_us;
  uint64_t before = 0, total = 0;
  for (uint64_t p = 0; p < appended; ++p) append_us.push_back((acked[p] - submitted[p]) / 1e3);
  for (const auto& d : deliveries) {
    for (auto [p, t] : d) {
      e2e_us.push_back((t - submitted[p]) / 1e3);
      after_us.push_back(std::max<int64_t>(0, t - acked[p]) / 1e3);
      before += t < acked[p];
      ++total;
    }
  }
  if (total != appended * subscribers) {
    std::fprintf(stderr, "cairn-bench: %" PRIu64 " deliveries, expected %" PRIu64 "\n", total,
                 appended * static_cast<uint64_t>(subscribers));
    return false;
  }
  out = {percentile(append_us, 0.50), percentile(append_us, 0.99), percentile(e2e_us, 0.50), percentile(e2e_us, 0.99),
         percentile(after_us, 0.50), percentile(after_us, 0.99), total ? double(before) / double(total) : 0, appended};
  return true;
}

// --- catch-up: a subscription reading a closed store from position 0 ---

bool fill(const std::string& dir, const SubscribeBench& b) {
  auto store = open_store(dir, Durability::kNone);
  if (!store) return false;
  constexpr size_t kBatch = 100;
  std::vector<Event> events(kBatch);
  for (Event& e : events) e.data.assign(b.event_size, 'd');
  std::vector<NewEvent> views(kBatch);
  for (uint64_t written = 0; written < b.catch_up_events; written += kBatch) {
    for (size_t i = 0; i < kBatch; ++i) {
      events[i].id = EventId::random();
      views[i] = events[i].view();
    }
    auto r = store->append("Order-" + std::to_string((written / kBatch) % 10'000), ExpectedVersion::any(), views);
    if (!r.ok()) {
      std::fprintf(stderr, "cairn-bench: %s\n", r.status().to_string().c_str());
      return false;
    }
  }
  return store->close().ok();
}

// Events per second of a subscription pulling the whole store, and of
// read_all pages of the same size over it.
bool measure_catch_up(const std::string& dir, double& subscription_eps, double& read_all_eps) {
  Options o;
  o.read_only = true;
  auto opened = Store::open(dir, o);
  if (!opened.ok()) return false;
  Store& store = **opened;
  uint64_t end = store.next_position();
  constexpr size_t kPage = 4096;
  SubscriptionOptions so;
  so.max_batch = kPage;
  auto sub = store.subscribe(so);
  if (!sub.ok()) return false;
  auto t0 = Clock::now();
  uint64_t seen = 0;
  while ((*sub)->cursor() < end) {
    auto got = (*sub)->next(1s);
    if (!got.ok()) return false;
    seen += got->size();
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  subscription_eps = double(seen) / s;
  t0 = Clock::now();
  uint64_t read = 0;
  for (uint64_t p = 0; p < end;) {
    auto got = store.read_all(p, kPage);
    if (!got.ok() || got->empty()) return false;
    read += got->size();
    p = got->back().position + 1;
  }
  s = std::chrono::duration<double>(Clock::now() - t0).count();
  read_all_eps = double(read) / s;
  return seen == end && read == end;
}

// --- memory per idle subscription ---

bool measure_idle(const std::string& dir, int count, double& bytes_each) {
  auto store = open_store(dir, Durability::kSync);
  if (!store) return false;
  std::vector<std::unique_ptr<Subscription>> subs;
  subs.reserve(count);
  double before = heap_bytes();
  for (int i = 0; i < count; ++i) {
    SubscriptionOptions o;
    o.filter.categories = {"Order"};
    auto sub = store->subscribe(o);
    if (!sub.ok()) return false;
    subs.push_back(std::move(*sub));
  }
  bytes_each = (heap_bytes() - before) / count;
  return true;
}

void print(const SubscribeBench& b, const char* what, const std::string& fields_json, const std::string& text) {
  if (b.json) std::printf("{\"workload\":\"subscribe\",\"backend\":\"cairn\",\"measure\":\"%s\",%s}\n", what,
                          fields_json.c_str());
  std::fprintf(stderr, "%-28s %s\n", what, text.c_str());
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0, double e = 0, double g = 0) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, a, b, c, d, e, g);
  return buf;
}

}  // namespace

int run_subscribe_bench(const SubscribeBench& b) {
  namespace fs = std::filesystem;
  std::fprintf(stderr, "subscribe: medians of %d repetitions; latency runs append synchronously (kSync) for %.1f s\n",
               b.repeat, b.seconds);
  for (int n : b.subscriber_counts) {
    std::vector<LatencyResult> runs;
    for (int r = 0; r < b.repeat; ++r) {
      std::string dir = b.dir + "/latency-" + std::to_string(n) + "-" + std::to_string(r);
      LatencyResult one;
      if (!measure_latency(b, n, dir, one)) return 1;
      runs.push_back(one);
      fs::remove_all(dir);
    }
    auto med = [&](double LatencyResult::*f) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r.*f);
      return median(v);
    };
    LatencyResult m{med(&LatencyResult::append_p50_us),     med(&LatencyResult::append_p99_us),
                    med(&LatencyResult::end_to_end_p50_us), med(&LatencyResult::end_to_end_p99_us),
                    med(&LatencyResult::after_ack_p50_us),  med(&LatencyResult::after_ack_p99_us),
                    med(&LatencyResult::delivered_before_ack), 0};
    std::string what = "latency-" + std::to_string(n) + "-subscribers";
    print(b, what.c_str(),
          "\"subscribers\":" + std::to_string(n) +
              fmt(",\"append_p50_us\":%.1f,\"append_p99_us\":%.1f,\"end_to_end_p50_us\":%.1f,"
                  "\"end_to_end_p99_us\":%.1f,\"after_ack_p50_us\":%.1f,\"after_ack_p99_us\":%.1f",
                  m.append_p50_us, m.append_p99_us, m.end_to_end_p50_us, m.end_to_end_p99_us, m.after_ack_p50_us,
                  m.after_ack_p99_us) +
              fmt(",\"delivered_before_ack\":%.3f", m.delivered_before_ack),
          fmt("append->delivery p50 %.0f us p99 %.0f us (append itself p50 %.0f p99 %.0f); after the append "
              "returned: p50 %.0f us p99 %.0f us",
              m.end_to_end_p50_us, m.end_to_end_p99_us, m.append_p50_us, m.append_p99_us, m.after_ack_p50_us,
              m.after_ack_p99_us) +
              fmt(", %.0f%% delivered before it returned", 100 * m.delivered_before_ack));
  }
  if (b.catch_up_events > 0) {
    std::string dir = b.dir + "/catch-up";
    auto t0 = Clock::now();
    if (!fill(dir, b)) return 1;
    std::fprintf(stderr, "catch-up store: %" PRIu64 " events written in %.1f s\n", b.catch_up_events,
                 std::chrono::duration<double>(Clock::now() - t0).count());
    std::vector<double> sub_eps, all_eps;
    for (int r = 0; r < b.repeat; ++r) {
      double s = 0, a = 0;
      if (!measure_catch_up(dir, s, a)) return 1;
      sub_eps.push_back(s);
      all_eps.push_back(a);
    }
    double s = median(sub_eps), a = median(all_eps);
    print(b, "catch-up",
          "\"events\":" + std::to_string(b.catch_up_events) +
              fmt(",\"subscription_events_per_s\":%.0f,\"read_all_events_per_s\":%.0f,\"ratio\":%.3f", s, a, s / a),
          fmt("subscription from 0: %.0f events/s; read_all pages: %.0f events/s (ratio %.2f)", s, a, s / a) +
              " over " + std::to_string(b.catch_up_events) + " events");
    fs::remove_all(dir);
  }
  std::vector<double> each;
  for (int r = 0; r < b.repeat; ++r) {
    std::string dir = b.dir + "/idle-" + std::to_string(r);
    double bytes = 0;
    if (!measure_idle(dir, b.idle_subscriptions, bytes)) return 1;
    each.push_back(bytes);
    fs::remove_all(dir);
  }
  double m = median(each);
  print(b, "idle-memory", fmt("\"subscriptions\":%.0f,\"bytes_per_subscription\":%.0f", b.idle_subscriptions, m),
        fmt("%.0f bytes of heap per idle subscription (%.0f of them)", m, b.idle_subscriptions));
  return 0;
}

}  // namespace cairn::bench
