// SegmentIndexSlot: one segment's index in the index checkpoint, loaded at
// open (the last indexed segment, which the open checks) or on first use
// (the sealed segments before it), so that an open reads no file per segment.
//
// Positions [first_position, end_position) are known without loading: the
// segment file names give them. A failed load is kept and returned by every
// later get(); a load that had to rebuild the index from its segment (its
// file missing, damaged or stale) reports rebuilt() so that the file is
// written anew.
#pragma once

#include "index/segment_index.h"

#include <cairn/status.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

namespace cairn::engine {

class SegmentIndexSlot {
 public:
  using Index = std::shared_ptr<const index::SegmentIndex>;
  struct Loaded {
    Index index;
    bool rebuilt = false;  // from the segment, not from its file
  };
  using Loader = std::function<Result<Loaded>()>;

  explicit SegmentIndexSlot(Index loaded);
  SegmentIndexSlot(uint64_t first_position, uint64_t end_position, Loader load);

  uint64_t first_position() const { return first_; }
  uint64_t end_position() const { return end_; }
  // Deferred slots hold sealed segments only; a loaded one says.
  bool sealed() const;
  // The index, loaded by the first call (any thread).
  Result<const index::SegmentIndex*> get() const;
  // The index when it is loaded, else null: scrubs and repairs leave
  // unloaded files alone (their blocks are checked when they are read).
  Index loaded() const;
  bool rebuilt() const;

 private:
  const uint64_t first_;
  const uint64_t end_;
  mutable std::mutex mu_;
  mutable Loader load_;          // guarded by mu_; dropped once run
  mutable Index index_;          // written under mu_ before done_ (release)
  mutable Status error_;
  mutable bool rebuilt_ = false;
  mutable std::atomic<bool> done_{false};
};

using SegmentIndexSlots = std::vector<std::shared_ptr<const SegmentIndexSlot>>;

}  // namespace cairn::engine
