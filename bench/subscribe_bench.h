// cairn-bench --workload subscribe: the numbers of subscriptions (issue 5).
//   - Latency from a durable append to its delivery, with 1 and with 100
//     subscribers waiting (each on its own thread, pulling with next()).
//   - Catch-up throughput: a subscription from position 0 reading a closed
//     store of --events events, against read_all pages over the same store
//     in the same run.
//   - Memory per idle subscription.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cairn::bench {

struct SubscribeBench {
  std::string dir;                                // stores go under it
  double seconds = 5;                             // the latency run's appends
  std::vector<int> subscriber_counts = {1, 100};  // latency runs
  uint64_t catch_up_events = 10'000'000;          // 0: no catch-up run
  size_t event_size = 200;                        // data bytes of an event
  int idle_subscriptions = 10'000;
  int repeat = 3;
  bool json = false;  // one JSON object per measurement on stdout
};

// Prints each measurement (medians over `repeat`); returns 0, or 1 on an error.
int run_subscribe_bench(const SubscribeBench& bench);

}  // namespace cairn::bench
