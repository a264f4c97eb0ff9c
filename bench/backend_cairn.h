// The Cairn backend of cairn-bench, over the public API only, and the
// Cairn-only knobs and figures that the generic Backend interface has no
// place for (segment size, I/O backend, pipeline depth, StoreStats).
#pragma once

#include <cairn/options.h>
#include <cairn/store.h>

#include <cstdint>
#include <memory>
#include <string>

#include "backend.h"

namespace cairn::bench {

struct CairnTuning {
  uint64_t segment_bytes = 64ull << 20;                     // Options::segment_bytes
  cairn::IoBackend io_backend = cairn::IoBackend::kAuto;    // Options::io_backend
  uint32_t max_writes_in_flight = cairn::Options{}.max_writes_in_flight;
  bool prepare_segments = true;                             // Options::prepare_segments
  bool read_only = false;                                   // Options::read_only
  bool direct_io = false;                                   // Options::direct_io
  bool mapped_writes = true;                                // Options::mapped_writes
  uint32_t cached_sealed_segments = 16;                      // Options::cached_sealed_segments
};

std::unique_ptr<Backend> open_cairn(const BackendOptions& options, const CairnTuning& tuning, std::string* error);
// With the default tuning (what open_backend("cairn") uses).
std::unique_ptr<Backend> open_cairn(const BackendOptions& options, std::string* error);

// The store behind a backend made by open_cairn; nullptr for any other backend
// (or after close()).
cairn::Store* cairn_store(Backend& backend);

// Cairn's steady state for appends. A fresh store's first segment was not
// prepared ahead (zero-filled), so its fdatasyncs also commit file-size and
// extent metadata; the engine prepares the next segment once the active one
// is half full. This appends filler events (durability none, streams
// `Warmup-<k>`, not counted anywhere) until the store has rolled over into a
// segment that was prepared ahead, pausing at each half-full segment so the
// preparer can finish. `filled_bytes` gets the bytes written. False with
// `error` set when an append failed or no prepared segment came in 4 rolls.
bool warm_past_first_roll(Backend& backend, size_t event_size, uint64_t* filled_bytes, std::string* error);

}  // namespace cairn::bench
