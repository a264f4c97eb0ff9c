#include "index/stream_index.h"

#include "format/checksum.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cairn::index {

void PositionIndex::add(const BatchLocation& batch) {
  size_t i = head_ + count_;
  size_t chunk = first_chunk_ + (i >> kChunkBits);
  if (chunk == chunks_.size()) {
    chunks_.push_back(std::make_unique<BatchLocation[]>(kChunkMask + 1));
    chunk_first_.push_back(batch.first_position);
  }
  chunks_[chunk][i & kChunkMask] = batch;
  ++count_;
}

std::optional<size_t> PositionIndex::find(uint64_t position) const {
  if (count_ == 0 || position < batch(0).first_position || position >= end_position()) return std::nullopt;
  // The last chunk, then the last batch in it, starting at or before `position`.
  auto chunk = static_cast<size_t>(
      std::upper_bound(chunk_first_.begin() + static_cast<std::ptrdiff_t>(first_chunk_), chunk_first_.end(), position) -
      chunk_first_.begin() - 1);
  const BatchLocation* slots = chunks_[chunk].get();
  size_t lo = chunk == first_chunk_ ? head_ : 0;
  size_t n = std::min(kChunkMask + 1, head_ + count_ - ((chunk - first_chunk_) << kChunkBits)) - lo;
  while (n > 1) {
    size_t half = n / 2;
    if (slots[lo + half].first_position <= position) lo += half;
    n -= half;
  }
  return ((chunk - first_chunk_) << kChunkBits) + lo - head_;
}

uint64_t PositionIndex::end_position() const {
  if (count_ == 0) return 0;
  const BatchLocation& last = batch(count_ - 1);
  return last.first_position + last.count;
}

void PositionIndex::drop_below(uint64_t position) {
  // The first batch that ends above `position`.
  size_t lo = 0;
  size_t hi = count_;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (batch(mid).first_position + batch(mid).count > position) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  head_ += lo;
  count_ -= lo;
  for (; head_ > kChunkMask; head_ -= kChunkMask + 1) chunks_[first_chunk_++].reset();
  if (count_ == 0) {
    chunks_.clear();
    chunk_first_.clear();
    first_chunk_ = 0;
    head_ = 0;
  } else if (first_chunk_ * 2 > chunks_.size()) {  // the freed slots: a few pointers each
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(first_chunk_));
    chunk_first_.erase(chunk_first_.begin(), chunk_first_.begin() + static_cast<std::ptrdiff_t>(first_chunk_));
    first_chunk_ = 0;
  }
}

void StreamIndex::drop_below(uint64_t position) {
  begin_drop(position);
  drop_some(SIZE_MAX);
}

void StreamIndex::begin_drop(uint64_t position) {
  if (dropping_) drop_some(SIZE_MAX);
  dropping_ = true;
  drop_position_ = position;
  drop_next_ = 0;
  drop_kept_ = 0;
}

bool StreamIndex::drop_some(size_t streams) {
  if (!dropping_) return true;
  size_t end = drop_next_ + std::min(streams, with_positions_.size() - drop_next_);
  for (; drop_next_ < end; ++drop_next_) {
    uint32_t ordinal = with_positions_[drop_next_];
    Stream& s = mutable_stream(ordinal);
    auto it = std::lower_bound(s.positions.begin(), s.positions.end(), drop_position_);
    s.base_version += static_cast<uint64_t>(it - s.positions.begin());
    s.positions.erase(s.positions.begin(), it);
    if (!s.positions.empty()) with_positions_[drop_kept_++] = ordinal;
  }
  if (drop_next_ < with_positions_.size()) return false;
  with_positions_.resize(drop_kept_);
  dropping_ = false;
  return true;
}

uint64_t StreamIndex::hash(std::string_view name) { return format::checksum(name); }

std::optional<uint32_t> StreamIndex::find_in(const Table& table, uint64_t h, std::string_view name) const {
  if (table.slots.empty()) return std::nullopt;
  for (size_t i = h & table.mask; table.slots[i].ordinal_plus_1 != 0; i = (i + 1) & table.mask) {
    uint32_t ordinal = table.slots[i].ordinal_plus_1 - 1;
    if (table.slots[i].hash == h && stream(ordinal).name == name) return ordinal;
  }
  return std::nullopt;
}

// While growing, most names are still found in the old table alone.
std::optional<uint32_t> StreamIndex::find(std::string_view name, uint64_t h) const {
  if (auto found = find_in(old_, h, name)) return found;
  return find_in(table_, h, name);
}

void StreamIndex::prefetch(uint64_t h) const {
  if (!old_.slots.empty()) __builtin_prefetch(&old_.slots[h & old_.mask]);
  if (!table_.slots.empty()) __builtin_prefetch(&table_.slots[h & table_.mask]);
}

// Names are never removed.
// What can throw (bad_alloc) comes first, before anything changes.
uint32_t StreamIndex::add(std::string_view name, uint64_t base_version) {
  auto ordinal = static_cast<uint32_t>(count_);
  if (next_.slots.empty() && (count_ + 1) * 2 > table_.slots.size()) grow();
  if ((ordinal & kChunkMask) == 0) chunks_.push_back(std::make_unique<Stream[]>(kChunkMask + 1));
  Stream& s = mutable_stream(ordinal);
  s.name = name;
  s.base_version = base_version;
  insert(table_, hash(name), ordinal);
  ++count_;
  fault_in_next();
  move_some();
  return ordinal;
}

void StreamIndex::grow() {
  while (!old_.slots.empty()) move_some();  // never the case (see kMovedPerAdd)
  size_t size = std::max<size_t>(64, table_.slots.size() * 2);
  next_ = Table{ZeroedArray<Slot>(size), size - 1};
  faulted_ = 0;
  fault_in_next();  // a table of one huge page or less takes over at once (the first one too)
}

// One huge page of the next table per add; once all are in, it takes over.
void StreamIndex::fault_in_next() {
  if (next_.slots.empty()) return;
  constexpr size_t kSlotsPerPage = kHugePage / sizeof(Slot);
  if (faulted_ < next_.slots.size()) {
    next_.slots.fault_in(faulted_, std::min(kSlotsPerPage, next_.slots.size() - faulted_));
    faulted_ += kSlotsPerPage;
  }
  if (faulted_ < next_.slots.size()) return;
  old_ = std::move(table_);
  table_ = std::move(next_);
  next_ = Table{};
  moved_ = 0;
}

void StreamIndex::move_some() {
  if (old_.slots.empty()) return;
  size_t end = std::min(old_.slots.size(), moved_ + kMovedPerAdd);
  for (; moved_ < end; ++moved_) {
    const Slot& s = old_.slots[moved_];
    if (s.ordinal_plus_1 != 0) insert(table_, s.hash, s.ordinal_plus_1 - 1);
  }
  if (moved_ == old_.slots.size()) old_ = Table{};
}

void StreamIndex::insert(Table& table, uint64_t h, uint32_t ordinal) {
  size_t i = h & table.mask;
  while (table.slots[i].ordinal_plus_1 != 0) i = (i + 1) & table.mask;
  table.slots[i] = Slot{h, ordinal + 1};
}

void StreamIndex::add_events(uint32_t ordinal, uint64_t first_position, uint32_t count) {
  if (count == 0) return;
  auto& positions = mutable_stream(ordinal).positions;
  if (positions.empty()) with_positions_.push_back(ordinal);
  for (uint32_t i = 0; i < count; ++i) positions.push_back(first_position + i);
}

IdWindow::IdWindow(uint32_t capacity) : capacity_(capacity) {}

uint32_t IdWindow::tag_of(const EventId& id) {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, id.bytes.data(), 8);
  std::memcpy(&b, id.bytes.data() + 8, 8);
  uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  auto tag = static_cast<uint32_t>((h ^ (h >> 31)) >> 32);
  return tag != 0 ? tag : 1;
}

void IdWindow::add(const EventId& id, uint64_t position) {
  if (capacity_ == 0) return;
  if (ring_.empty()) allocate();
  EventId& slot = ring_[position % capacity_];
  if (position >= capacity_ && !slot.is_nil()) erase(position - capacity_);
  slot = id;
  newest_ = position;
  if (id.is_nil()) return;
  uint32_t tag = tag_of(id);
  if (auto i = slot_of(id, tag)) {  // an id seen again: it now means its latest position
    table_[*i].position = static_cast<uint32_t>(position);
    return;
  }
  insert(tag, static_cast<uint32_t>(position));
}

// A table of at most capacity ids, a quarter full at most: the smallest
// power of two slots at least four times the capacity.
void IdWindow::allocate() {
  size_t size = std::bit_ceil(std::max<size_t>(64, size_t{capacity_} * 4));
  ZeroedArray<EventId> ring(capacity_);
  ZeroedArray<Slot> table(size);  // both made before either is kept: all or nothing
  ring_ = std::move(ring);
  table_ = std::move(table);
  mask_ = size - 1;
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
}

void IdWindow::prefetch(const EventId& id) const {
  if (!table_.empty()) __builtin_prefetch(&table_[home(tag_of(id))]);
}

void IdWindow::prefetch_add(const EventId& id, uint64_t position) const {
  if (table_.empty()) return;  // made with the ring, at full size (allocate())
  prefetch(id);
  if (position >= capacity_) prefetch(id_at(position - capacity_));
}

// The first kPrefetchAhead ids are prefetched too: in the batches of a few
// events that are common, they are most of the run.
void IdWindow::add_run(std::span<const EventId> ids, uint64_t first_position) {
  for (size_t i = 0; i < std::min(kPrefetchAhead, ids.size()); ++i) prefetch_add(ids[i], first_position + i);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i + kPrefetchAhead < ids.size()) prefetch_add(ids[i + kPrefetchAhead], first_position + i + kPrefetchAhead);
    add(ids[i], first_position + i);
  }
}

std::optional<uint64_t> IdWindow::find(const EventId& id) const {
  if (id.is_nil()) return std::nullopt;
  auto i = slot_of(id, tag_of(id));
  if (!i) return std::nullopt;
  return position_of(table_[*i].position);
}

std::optional<size_t> IdWindow::slot_of(const EventId& id, uint32_t tag) const {
  if (table_.empty()) return std::nullopt;
  for (size_t i = home(tag); table_[i].tag != 0; i = (i + 1) & mask_) {
    if (table_[i].tag == tag && id_at(position_of(table_[i].position)) == id) return i;
  }
  return std::nullopt;
}

void IdWindow::insert(uint32_t tag, uint32_t position) {
  size_t i = home(tag);
  while (table_[i].tag != 0) i = (i + 1) & mask_;
  table_[i] = Slot{tag, position};
}

// Backward-shift deletion: entries after the hole that could live in it move
// back, so every entry stays reachable from its home slot without tombstones.
void IdWindow::erase(uint64_t position) {
  uint32_t tag = tag_of(id_at(position));
  auto low = static_cast<uint32_t>(position);
  size_t i = home(tag);
  while (table_[i].tag != tag || table_[i].position != low) {
    if (table_[i].tag == 0) return;  // not there: its id came again later
    i = (i + 1) & mask_;
  }
  for (size_t j = (i + 1) & mask_; table_[j].tag != 0; j = (j + 1) & mask_) {
    size_t k = home(table_[j].tag);
    bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);  // k cyclically in (i, j]
    if (stays) continue;
    table_[i] = table_[j];
    i = j;
  }
  table_[i] = Slot{};
}

}  // namespace cairn::index
