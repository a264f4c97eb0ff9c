#include "engine/index_slot.h"

namespace cairn::engine {

SegmentIndexSlot::SegmentIndexSlot(Index loaded)
    : first_(loaded->header().first_position), end_(loaded->end_position()), index_(std::move(loaded)) {
  done_.store(true, std::memory_order_release);
}

SegmentIndexSlot::SegmentIndexSlot(uint64_t first_position, uint64_t end_position, Loader load)
    : first_(first_position), end_(end_position), load_(std::move(load)) {}

Result<const index::SegmentIndex*> SegmentIndexSlot::get() const {
  if (!done_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mu_);
    if (!done_.load(std::memory_order_relaxed)) {
      auto loaded = load_();
      if (loaded.ok()) {
        index_ = std::move(loaded->index);
        rebuilt_ = loaded->rebuilt;
      } else {
        error_ = loaded.status();
      }
      load_ = nullptr;
      done_.store(true, std::memory_order_release);
    }
  }
  if (!index_) return error_;
  return index_.get();
}

SegmentIndexSlot::Index SegmentIndexSlot::loaded() const {
  return done_.load(std::memory_order_acquire) ? index_ : nullptr;
}

bool SegmentIndexSlot::sealed() const {
  Index index = loaded();
  return !index || index->header().sealed();
}

bool SegmentIndexSlot::rebuilt() const { return done_.load(std::memory_order_acquire) && rebuilt_; }

}  // namespace cairn::engine
