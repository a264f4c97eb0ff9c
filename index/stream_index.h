// In-memory indexes over the log, rebuilt from the segments on open:
//   PositionIndex: global position -> the batch holding it (segment, offset)
//   StreamIndex:   stream name -> the position of each of its versions
//   IdWindow:      event id -> position, for the most recent N positions
// No locking here: the engine guards these with its index lock.
#pragma once

#include "format/batch.h"
#include "index/huge_pages.h"

#include <cairn/event.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <span>
#include <vector>

namespace cairn::index {

// Where one batch (one atomic append) lives.
struct BatchLocation {
  uint64_t first_position = 0;
  uint64_t first_version = 0;
  uint64_t offset = 0;      // of the batch's frame in its segment file
  uint32_t frame_size = 0;  // whole frame, padding included
  uint32_t count = 0;       // events
  uint32_t segment = 0;     // ordinal of the segment in the store (0 = oldest open)
  uint32_t stream = 0;      // StreamIndex ordinal
};

// Where `batch` is: its frame at `offset` (`frame_size` bytes) of segment
// `segment`, its stream numbered `stream`.
inline BatchLocation location_of(const format::BatchView& batch, uint64_t offset, uint32_t frame_size,
                                 uint32_t segment, uint32_t stream) {
  return BatchLocation{batch.stamp().first_position, batch.stamp().first_version, offset, frame_size,
                       batch.count(), segment, stream};
}

class PositionIndex {
 public:
  // Batches must be added in position order, without gaps.
  void add(const BatchLocation& batch);
  // The ordinal of the batch holding `position`, or nullopt outside the batches.
  std::optional<size_t> find(uint64_t position) const;
  const BatchLocation& batch(size_t ordinal) const {
    size_t i = head_ + ordinal;
    return chunks_[first_chunk_ + (i >> kChunkBits)][i & kChunkMask];
  }
  size_t batch_count() const { return count_; }
  // One past the last indexed position (0 when empty).
  uint64_t end_position() const;
  // Forgets the batches that end at or below `position` (a batch boundary).
  void drop_below(uint64_t position);

 private:
  // Batches live in chunks that never move: adding never copies the ones
  // before (a vector's doubling copied them all, tens of milliseconds into
  // fresh memory at a million batches), and dropping frees whole chunks
  // from the front. find() looks up the chunk in chunk_first_ (small, and
  // contiguous), then the batch inside it.
  static constexpr unsigned kChunkBits = 10;
  static constexpr size_t kChunkMask = (size_t{1} << kChunkBits) - 1;
  std::vector<std::unique_ptr<BatchLocation[]>> chunks_;  // those before first_chunk_ are freed
  std::vector<uint64_t> chunk_first_;  // chunk_first_[c]: the first position of chunks_[c]'s slot 0
  size_t first_chunk_ = 0;
  size_t head_ = 0;  // the first batch's slot in chunks_[first_chunk_]
  size_t count_ = 0;
};

class StreamIndex {
 public:
  struct Stream {
    std::string name;
    uint64_t base_version = 0;        // versions below it are in the index files, not here
    std::vector<uint64_t> positions;  // positions[v - base_version] = global position of version v
  };

  // The hash find() and prefetch() look a name up by: an appender computes
  // it on its own thread, so that the writer's lookups need not.
  static uint64_t hash(std::string_view name);
  std::optional<uint32_t> find(std::string_view name) const { return find(name, hash(name)); }
  std::optional<uint32_t> find(std::string_view name, uint64_t name_hash) const;
  // Prefetches the table slot find() reads first (the table outgrows the
  // caches with many streams; the writer prefetches a few appends ahead).
  void prefetch(uint64_t name_hash) const;
  // A new stream's versions continue from `base_version`. Never moves the
  // streams already added (a reference from stream() stays valid).
  uint32_t add(std::string_view name, uint64_t base_version);
  const Stream& stream(uint32_t ordinal) const { return chunks_[ordinal >> kChunkBits][ordinal & kChunkMask]; }
  size_t stream_count() const { return count_; }
  // Versions next_version(ordinal) .. +count-1 at positions first_position .. +count-1.
  void add_events(uint32_t ordinal, uint64_t first_position, uint32_t count);
  // Forgets every position below `position`; versions move into base_version.
  // Visits only the streams holding positions, not every stream.
  void drop_below(uint64_t position);
  // The same a little at a time, so that no one call visits every stream
  // holding positions: begin_drop() names the position (finishing a drop
  // still under way first), and each drop_some() trims the next `streams`
  // streams holding positions, returning true once every stream is done.
  // Meanwhile streams not yet trimmed keep their positions below it: the
  // caller keeps what those positions point to until then.
  void begin_drop(uint64_t position);
  bool drop_some(size_t streams);
  bool dropping() const { return dropping_; }
  uint64_t next_version(uint32_t ordinal) const {
    const Stream& s = stream(ordinal);
    return s.base_version + s.positions.size();
  }

 private:
  // Open addressing, linear probing, at most half full: a lookup costs one
  // slot (prefetchable from the name's hash) and the Stream it names, whose
  // name is compared only when the 64-bit hashes agree.
  struct Slot {
    uint64_t hash = 0;
    uint32_t ordinal_plus_1 = 0;  // 0: empty
  };
  struct Table {
    ZeroedArray<Slot> slots;
    size_t mask = 0;
  };
  // Growth never stops an add for long: a table that would be over half
  // full is replaced by one twice its size (zero pages, see ZeroedArray),
  // first faulted in a huge page per add (next_: on a VM with free-page
  // reporting a fresh huge page costs about 5 ms, and the moves below land
  // at random, so the first adds after a swap would each fault in several),
  // then swapped in; the old one is kept unchanged beside it, and each add
  // moves the next kMovedPerAdd of its slots into the new one. Until every slot is moved,
  // lookups look in both. Moving a table of S slots (S / 2 names) takes
  // S / kMovedPerAdd adds, after which the new table (2 S slots) holds
  // S / 2 + S / kMovedPerAdd names, well short of half full: a growth
  // always ends before the next one is due. (The old table is unmapped
  // when emptied, under the index lock: about 0.3 ms for 128 MiB of huge
  // pages, a few ms on small pages.)
  static constexpr size_t kMovedPerAdd = 8;
  static_assert(kMovedPerAdd >= 2, "a growth must end before the next is due");
  static constexpr unsigned kChunkBits = 10;  // streams live in chunks of 1024, which never move
  static constexpr size_t kChunkMask = (size_t{1} << kChunkBits) - 1;
  void fault_in_next();
  std::optional<uint32_t> find_in(const Table& table, uint64_t h, std::string_view name) const;
  static void insert(Table& table, uint64_t h, uint32_t ordinal);
  Stream& mutable_stream(uint32_t ordinal) { return chunks_[ordinal >> kChunkBits][ordinal & kChunkMask]; }
  void grow();
  void move_some();

  Table table_;
  Table next_;           // before a growth: the table to come, being faulted in (names go to table_ meanwhile)
  size_t faulted_ = 0;   // next_'s slots below this are faulted in
  Table old_;            // while growing: the table before, unchanged
  size_t moved_ = 0;     // old_'s slots below this are in table_ too
  std::vector<std::unique_ptr<Stream[]>> chunks_;
  size_t count_ = 0;
  // The streams whose positions are not empty, each once. During a drop:
  // [0, drop_kept_) trimmed and still holding positions, [drop_next_, end)
  // not trimmed yet (add_events appends there), the rest free.
  std::vector<uint32_t> with_positions_;
  bool dropping_ = false;
  uint64_t drop_position_ = 0;
  size_t drop_next_ = 0;
  size_t drop_kept_ = 0;
};

// Event ids of the last `capacity` positions (0: none). Nil ids are not
// remembered. A ring of the ids (16 bytes a position) and an
// open-addressing table (linear probing, at most a quarter full) of 8-byte
// slots: a 32-bit tag from the id's hash (which also picks the home slot)
// and the position's low 32 bits (the window spans fewer than 2^32
// positions, so they name it). Eight slots share a cache line and clusters
// stay short, so a probe, and the backward shift of an erase, rarely leave
// the home slot's line. The tag spares probes a look at the ring.
// Both are made at their full size at the first add, as zero pages
// (ZeroedArray): nothing is ever copied or rehashed, so no add waits for a
// growth (the table used to double, rehashing every id: 22 ms at the
// default capacity, 299 ms at 4 M). The ring's memory is touched as
// positions arrive; the table's at random, so nearly all of it soon after
// the first adds (8 MiB at the default 262,144 positions). Adding and
// finding allocate nothing after the first add.
class IdWindow {
 public:
  explicit IdWindow(uint32_t capacity);
  // Positions must be added in increasing order, each once.
  void add(const EventId& id, uint64_t position);
  // add() for ids[i] at first_position + i, each in turn, with the table
  // slots of a few ids ahead prefetched: the table outgrows the caches, and
  // a batch's ids are known together.
  void add_run(std::span<const EventId> ids, uint64_t first_position);
  // Prefetches what find(id) will read.
  void prefetch(const EventId& id) const;
  // Prefetches what add(id, position) will read: find's slot, and that of
  // the id leaving the window to make room.
  void prefetch_add(const EventId& id, uint64_t position) const;
  // How many ids ahead of the one in hand a run of lookups prefetches.
  static constexpr size_t kPrefetchAhead = 8;
  // The position of `id` if it is inside the window.
  std::optional<uint64_t> find(const EventId& id) const;
  uint32_t capacity() const { return capacity_; }

 private:
  struct Slot {
    uint32_t tag = 0;  // 0: empty
    uint32_t position = 0;  // low 32 bits
  };
  static uint32_t tag_of(const EventId& id);
  size_t home(uint32_t tag) const { return static_cast<size_t>((uint64_t{tag} * 0x9E3779B97F4A7C15ull) >> shift_); }
  // The position whose low 32 bits are `low`, at or before the newest added.
  uint64_t position_of(uint32_t low) const { return newest_ - static_cast<uint32_t>(static_cast<uint32_t>(newest_) - low); }
  const EventId& id_at(uint64_t position) const { return ring_[position % capacity_]; }
  std::optional<size_t> slot_of(const EventId& id, uint32_t tag) const;
  void insert(uint32_t tag, uint32_t position);
  void erase(uint64_t position);  // the slot of `position`, whose id is still in the ring
  void allocate();

  uint32_t capacity_;
  ZeroedArray<EventId> ring_;  // ring_[p % capacity] = id at p
  ZeroedArray<Slot> table_;
  size_t mask_ = 0;            // table_.size() - 1 (a power of two)
  unsigned shift_ = 63;        // 64 - log2(table_.size()) once the table has slots
  uint64_t newest_ = 0;        // the last position added
};

}  // namespace cairn::index
