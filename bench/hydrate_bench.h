// cairn-bench --workload hydrate: rebuilding one aggregate from a snapshot and
// the few events after it (Snapshots::hydrate) against replaying every event
// of its stream, and the cost of saving the snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn::bench {

struct HydrateBench {
  std::string dir;              // the store goes under it
  uint64_t events = 10'000;     // the aggregate's events
  uint64_t tail = 10;           // events after the snapshot
  size_t event_size = 200;      // data bytes of an event
  size_t snapshot_bytes = 4096; // the aggregate's state, as saved
  int repeat = 3;
  bool json = false;            // one JSON object per measurement on stdout
};

// Writes the aggregate's stream (interleaved with as many events of other
// streams), saves its state as of `tail` events before the end, then per
// repetition times both ways of rebuilding it (warm page cache), checking
// that they agree. Prints the medians and their ratio; returns 0, or 1 on
// an error.
int run_hydrate_bench(const HydrateBench& bench);

}  // namespace cairn::bench
