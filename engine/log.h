// Log: the segments of a store and the in-memory indexes over them, shared by
// the writer (the only mutator) and any number of readers.
//
// Invariants:
//   - segments_[i] holds positions [first_position(i), first_position(i+1)).
//   - The indexes may run ahead of published(): the writer indexes a batch
//     before it is durable. Readers see only positions below published(),
//     which advances (release) after each fdatasync, in log order.
//   - mu_ guards segments_ and the indexes: exclusive for the writer's
//     changes, shared for readers and for the writer's own lookups from
//     other threads. Segments are never removed while the Log lives.
#pragma once

#include "engine/rw_lock.h"
#include "engine/segment.h"
#include "format/batch.h"
#include "index/stream_index.h"

#include <cairn/event.h>
#include <cairn/status.h>

#include <atomic>
#include <memory>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace cairn::engine {

class Log {
 public:
  explicit Log(uint32_t idempotency_window) : ids_(idempotency_window) {}

  // --- the writer's side (recovery and the writer thread) ---
  // Appends a segment; returns its ordinal.
  uint32_t add_segment(std::unique_ptr<Segment> segment);
  // Indexes a batch stored at `offset` of segment `segment`. Returns
  // kCorruption when its first version does not continue its stream.
  // `stream`, when known, is the batch's stream's ordinal (saves a lookup).
  Status index_batch(uint32_t segment, uint64_t offset, uint32_t frame_size,
                     const format::BatchView& batch, std::optional<uint32_t> stream = std::nullopt);
  // Makes positions below `next_position` visible to readers.
  void publish(uint64_t next_position) { published_.store(next_position, std::memory_order_release); }

  // Lookups the writer makes before appending (they include unpublished
  // batches). The writer's thread only: they take no lock, since nobody else
  // changes the indexes and readers only read them.
  uint64_t indexed_next_version(uint32_t stream) const { return streams_.next_version(stream); }
  uint64_t indexed_end_position() const;
  struct IdHit {
    uint64_t position;
    uint32_t stream;
    uint64_t version;
  };
  std::optional<IdHit> find_id(const EventId& id) const;
  std::optional<uint32_t> find_stream(std::string_view stream) const;

  // --- readers (any thread) ---
  uint64_t published() const { return published_.load(std::memory_order_acquire); }
  std::optional<uint64_t> stream_version(std::string_view stream) const;
  Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, uint64_t from_version,
                                                 size_t max_count, Direction direction) const;
  Result<std::vector<RecordedEvent>> read_all(uint64_t from_position, size_t max_count,
                                              Direction direction) const;
  size_t segment_count() const;
  size_t stream_count() const;

 private:
  // A run of events [first, first+count) inside one batch, to copy out.
  struct Run {
    index::BatchLocation batch;
    const Segment* segment;
    uint32_t first;  // index of the first event inside the batch
    uint32_t count;
  };
  Status copy_runs(const std::vector<Run>& runs, Direction direction,
                   std::vector<RecordedEvent>& out) const;
  Run run_at(size_t batch_ordinal, uint64_t position, uint32_t count) const;

  mutable RwLock mu_;
  std::vector<std::unique_ptr<Segment>> segments_;
  index::PositionIndex positions_;
  index::StreamIndex streams_;
  index::IdWindow ids_;
  std::atomic<uint64_t> published_{0};
};

}  // namespace cairn::engine
