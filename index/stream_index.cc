#include "index/stream_index.h"

#include <algorithm>
#include <cstring>

namespace cairn::index {

void PositionIndex::add(const BatchLocation& batch) { batches_.push_back(batch); }

std::optional<size_t> PositionIndex::find(uint64_t position) const {
  if (position >= end_position()) return std::nullopt;
  auto it = std::upper_bound(
      batches_.begin(), batches_.end(), position,
      [](uint64_t p, const BatchLocation& b) { return p < b.first_position; });
  return static_cast<size_t>(it - batches_.begin()) - 1;
}

uint64_t PositionIndex::end_position() const {
  if (batches_.empty()) return 0;
  return batches_.back().first_position + batches_.back().count;
}

std::optional<uint32_t> StreamIndex::find(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

uint32_t StreamIndex::find_or_add(std::string_view name) {
  if (auto found = find(name)) return *found;
  auto ordinal = static_cast<uint32_t>(streams_.size());
  streams_.push_back(Stream{std::string(name), {}});
  by_name_.emplace(std::string(name), ordinal);
  return ordinal;
}

void StreamIndex::add_events(uint32_t ordinal, uint64_t first_position, uint32_t count) {
  auto& positions = streams_[ordinal].positions;
  for (uint32_t i = 0; i < count; ++i) positions.push_back(first_position + i);
}

IdWindow::IdWindow(uint32_t capacity) : capacity_(capacity) {}

uint64_t IdWindow::key(const EventId& id) {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, id.bytes.data(), 8);
  std::memcpy(&b, id.bytes.data() + 8, 8);
  return a ^ (b * 0x9E3779B97F4A7C15ull);
}

void IdWindow::add(const EventId& id, uint64_t position) {
  if (capacity_ == 0) return;
  if (ring_.size() < capacity_) ring_.resize(std::min<uint64_t>(capacity_, position + 1));
  EventId& slot = ring_[position % capacity_];
  if (!slot.is_nil() && position >= capacity_) {
    auto it = by_key_.find(key(slot));
    if (it != by_key_.end() && it->second == position - capacity_) by_key_.erase(it);
  }
  slot = id;
  if (!id.is_nil()) by_key_[key(id)] = position;
}

std::optional<uint64_t> IdWindow::find(const EventId& id) const {
  if (id.is_nil()) return std::nullopt;
  auto it = by_key_.find(key(id));
  if (it == by_key_.end()) return std::nullopt;
  if (ring_[it->second % capacity_] != id) return std::nullopt;  // a different id, same key
  return it->second;
}

}  // namespace cairn::index
