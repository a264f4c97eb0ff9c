// Store checkpoints: a consistent copy of a store, taken while it is in use
// (Store::checkpoint). The copy holds exactly positions [0, position) of the
// store it came from, as of one acknowledged position, and is itself a store:
// restoring is opening it (Store::open on the copy's directory).
#pragma once

#include <cstdint>

namespace cairn {

struct CheckpointOptions {
  // Copy every file, even where a hard link would do (a backup onto the same
  // file system that must not share blocks with the store, or a benchmark).
  bool copy = false;
};

// What a checkpoint did. Files already in the target and identical to what
// the checkpoint would put there (an earlier checkpoint's sealed segments and
// index files) are kept; everything else is linked or copied.
struct CheckpointResult {
  uint64_t position = 0;      // the copy holds positions [0, position): its event count
  uint64_t segments = 0;      // segment files in the copy
  uint64_t files_linked = 0;  // hard links to the store's immutable files
  uint64_t bytes_linked = 0;
  uint64_t files_copied = 0;  // copies: the active segment's prefix, mutable files, or no links possible
  uint64_t bytes_copied = 0;
  uint64_t files_kept = 0;    // already in the target from an earlier checkpoint, unchanged
  uint64_t bytes_kept = 0;
  uint64_t files_removed = 0; // in the target from an earlier checkpoint, no longer in the store
};

}  // namespace cairn
