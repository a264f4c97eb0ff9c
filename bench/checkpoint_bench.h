// cairn-bench --workload checkpoint: the time of Store::checkpoint (an online
// backup) of a store of a given size, with hard links and with copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn::bench {

struct CheckpointBench {
  std::string dir;           // the store and its copies go under it
  uint64_t store_mib = 1024; // the store's size (segments), written once
  uint64_t segment_mib = 64; // Options::segment_bytes
  size_t event_size = 200;   // data bytes of an event
  int repeat = 3;
  bool json = false;         // one JSON object per measurement on stdout
};

// Writes the store, then per repetition times, each into a fresh target:
// a checkpoint with hard links, one with copies (CheckpointOptions::copy),
// and an incremental one into the copied target after 1 MiB more appends.
// Prints the medians; returns 0, or 1 when a checkpoint failed.
int run_checkpoint_bench(const CheckpointBench& bench);

}  // namespace cairn::bench
