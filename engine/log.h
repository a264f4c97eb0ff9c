// Log: the segments of a store and the indexes over them, shared by the
// writer (the only mutator) and any number of readers.
//
// Two parts answer lookups: the index checkpoint (mapped index files covering
// positions [0, checkpoint end), FORMAT.md §10) and in-memory indexes of the
// batches after it (replayed from the log on open, then added by the writer).
//
// Invariants:
//   - segments_[i] holds positions [first_position(i), first_position(i+1)),
//     and has sequence i + 1.
//   - The in-memory indexes hold every batch from the checkpoint's end on;
//     a stream's in-memory versions continue its checkpointed ones. After
//     an adoption they may also hold batches below the end until every
//     stream is trimmed (continue_drop): an untrimmed stream's positions
//     still point at them, and lookups below the end go to the files.
//   - The indexes may run ahead of published(): the writer indexes a batch
//     before it is durable. Readers see only positions below published(),
//     which advances (release) after each fdatasync, in log order.
//   - mu_ guards segments_ and the indexes: exclusive for the writer's
//     changes, shared for readers and for the writer's own lookups from
//     other threads. Segments are never removed while the Log lives.
#pragma once

#include "engine/commit_signal.h"
#include "engine/index_slot.h"
#include "engine/rw_lock.h"
#include "engine/segment.h"
#include "format/batch.h"
#include "index/bitmap_index.h"
#include "index/segment_index.h"
#include "index/stream_directory.h"
#include "index/stream_index.h"

#include <cairn/event.h>
#include <cairn/function_ref.h>
#include <cairn/status.h>

#include <atomic>
#include <memory>
#include <optional>
#include <mutex>
#include <span>
#include <shared_mutex>
#include <string>
#include <vector>

namespace cairn::engine {

class Log {
 public:
  explicit Log(uint32_t idempotency_window, char category_separator = '-')
      : ids_(idempotency_window), category_separator_(category_separator) {}

  // Index files covering positions [0, end): a stream directory and the index
  // of every segment holding those positions (by segment ordinal), each
  // loaded when first used.
  struct Checkpoint {
    std::shared_ptr<const index::StreamDirectory> directory;
    SegmentIndexSlots segments;
    uint64_t end = 0;
  };

  // --- the writer's side (recovery and the writer thread) ---
  // Once, at open, after the checkpoint's segments are added and before any
  // index_batch.
  void set_checkpoint(Checkpoint checkpoint);
  uint64_t checkpoint_end() const { return checkpoint_.end; }
  // A newer checkpoint the indexer wrote (any thread); the writer's side
  // adopts it (at a roll): lookups below its end move to its files, and the
  // in-memory indexes let go of the batches it covers over the next batches
  // indexed (continue_drop).
  void offer_checkpoint(Checkpoint checkpoint);
  void adopt_offered_checkpoint();
  // Lets go of the checkpoint the last adoption replaced (the indexer's
  // thread, so that the writer's roll does not unmap its files).
  void release_retired();
  // Swaps in a rewritten index of a checkpointed segment (any thread).
  void replace_segment_index(uint32_t segment, std::shared_ptr<const index::SegmentIndex> index);
  // Appends a segment; returns its ordinal.
  uint32_t add_segment(std::unique_ptr<Segment> segment);
  // Indexes a batch stored at `offset` of segment `segment`. Returns
  // kCorruption when its first version does not continue its stream.
  // `stream`, when known, is the batch's stream's ordinal (saves a lookup);
  // `ids`, when known, its events' ids in order (saves decoding them).
  Status index_batch(uint32_t segment, uint64_t offset, uint32_t frame_size,
                     const format::BatchView& batch, std::optional<uint32_t> stream = std::nullopt,
                     std::span<const EventId> ids = {});
  // Makes positions below `next_position` visible to readers, and wakes
  // subscriptions waiting for them.
  void publish(uint64_t next_position) { commits_->publish(next_position); }
  // Shared with subscriptions, which may outlive the Log.
  std::shared_ptr<CommitSignal> commit_signal() const { return commits_; }

  // Lookups the writer makes before appending (they include unpublished
  // batches). The writer's thread only: they take no lock, since nobody else
  // changes the indexes and readers only read them.
  uint64_t indexed_next_version(uint32_t stream) const { return streams_.next_version(stream); }
  uint64_t indexed_end_position() const;
  // Fills the idempotency window with the ids of the last positions. Once,
  // before the writer's first lookup: an open does not read them.
  Status load_id_window();
  bool id_window_loaded() const { return ids_loaded_; }
  struct IdHit {
    uint64_t position;
    std::string stream;
    uint64_t version;
  };
  Result<std::optional<IdHit>> find_id(const EventId& id) const;
  // Brings what find_id(id) reads first into the cache (a batch's ids are
  // looked up one after another, each a likely cache miss).
  void prefetch_id(const EventId& id) const;
  // Prefetches what indexing a batch of the stream whose name hashes to
  // `stream_hash` (index::StreamIndex::hash) with `ids` at
  // `first_position` will read first (the writer's, a few appends ahead).
  void prefetch_append(uint64_t stream_hash, std::span<const EventId> ids, uint64_t first_position) const;
  // The in-memory ordinal of `stream`, added (continuing its checkpointed
  // versions) when only the checkpoint knows it; nullopt for a new stream.
  // `stream_hash` is index::StreamIndex::hash(stream).
  Result<std::optional<uint32_t>> find_stream(std::string_view stream, uint64_t stream_hash);
  // Whether a lookup in the index checkpoint's stream directory has failed.
  bool directory_failed() const { return directory_failed_.load(std::memory_order_acquire); }
  // The writer's side holds the index lock while one lives, across several
  // appends' lookups and index_batch calls (which then take it no more):
  // one exclusive lock and unlock per run of appends instead of per batch.
  // Readers wait that long. Never held across I/O or a segment roll: the
  // lookups that may read the disk let it go meanwhile (HoldPause).
  class WriterHold {
   public:
    explicit WriterHold(Log& log) : log_(log) {
      log_.mu_.lock();
      log_.writer_holds_ = true;
    }
    ~WriterHold() {
      log_.writer_holds_ = false;
      log_.mu_.unlock();
    }
    WriterHold(const WriterHold&) = delete;
    WriterHold& operator=(const WriterHold&) = delete;

   private:
    Log& log_;
  };
  // A segment's type and category bitmaps (log_filter.cc): to encode when
  // it is sealed (the writer's thread only), and to install ones decoded
  // from its index file before any of its batches is indexed here. Bitmaps
  // built with another category separator are refused (kInvalidArgument).
  const index::SegmentBitmaps& segment_bitmaps(uint32_t segment) const { return bitmaps_[segment].bitmaps; }
  Status set_segment_bitmaps(uint32_t segment, index::SegmentBitmaps bitmaps);
  // The bitmaps of `segment` are in `source` (decoded when first needed).
  void set_bitmaps_source(uint32_t segment, std::shared_ptr<const SegmentIndexSlot> source);

  // What the in-memory indexes hold of segment `segment`'s batches below
  // `data_end`, for its index file without reading the segment again (the
  // indexer's, any thread; the lock is held a chunk of batches at a time).
  // nullopt when they do not hold exactly those batches (the first ones are
  // in the checkpoint, say) or the segment's bitmaps cover other positions.
  std::optional<index::SegmentContents> segment_contents(uint32_t segment, uint64_t data_end) const;

  // --- readers (any thread) ---
  uint64_t published() const { return commits_->published(); }
  std::optional<uint64_t> stream_version(std::string_view stream) const;
  Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, uint64_t from_version,
                                                 size_t max_count, Direction direction) const;
  Result<std::vector<RecordedEvent>> read_all(uint64_t from_position, size_t max_count,
                                              Direction direction) const;
  // The same events handed to `visit` in place (Store::scan_all); no lock
  // is held while it runs. read_stream and read_all are these plus a copy.
  using Visitor = FunctionRef<bool(const EventView&)>;
  Status scan_stream(std::string_view stream, uint64_t from_version, size_t max_count, Direction direction,
                     Visitor visit) const;
  Status scan_all(uint64_t from_position, size_t max_count, Direction direction, Visitor visit) const;
  // read_all's events that match `filter` (log_filter.cc).
  Result<std::vector<RecordedEvent>> read_all_filtered(const ReadFilter& filter, uint64_t from_position,
                                                       size_t max_count, Direction direction) const;
  // The same, forward, among positions [from_position, end) (end at most
  // published()): a subscription knows where its search stopped.
  Result<std::vector<RecordedEvent>> read_filtered_below(const ReadFilter& filter, uint64_t from_position,
                                                         size_t max_count, uint64_t end) const;
  size_t segment_count() const;
  size_t memory_batch_count() const;
  // The segments, oldest first (they stay alive as long as the Log).
  std::vector<const Segment*> segments() const;
  // Where the batch ending at position `end` (0 < end <= published(), a
  // batch boundary, as every published position is) ends: its segment's
  // ordinal and the offset after its frame. For store checkpoints.
  struct BatchEnd {
    uint32_t segment = 0;
    uint64_t offset = 0;
  };
  Result<BatchEnd> batch_end(uint64_t end) const;
  // Segment `segment`'s sealed_end (0 while active), loading its index when
  // the segment is a deferred one (Segment::deferred) not read yet.
  Result<uint64_t> sealed_end(uint32_t segment) const;
  size_t stream_count() const;

 private:
  // A run of events [first, first+count) inside one batch, to copy out.
  struct Run {
    index::BatchLocation batch;  // frame_size 0: read from the frame header
    const Segment* segment;
    uint64_t data_end;           // the frame lies below it (bounds what the index says)
    uint32_t first;              // index of the first event inside the batch
    uint32_t count;
    uint64_t ordinal = 0;        // the batch's ordinal in its index (checkpoint segment or memory)
    bool checkpointed = false;   // found in the index checkpoint (else in memory)
  };
  Status copy_runs(const std::vector<Run>& runs, Direction direction,
                   std::vector<RecordedEvent>& out) const;
  // Positions or versions [lo, hi) to read, ascending whatever the direction.
  struct Range {
    uint64_t lo = 0;
    uint64_t hi = 0;
  };
  static Range range_of(uint64_t from, size_t max_count, Direction direction, uint64_t end);
  Range all_range(uint64_t from_position, size_t max_count, Direction direction) const;
  Result<Range> stream_range(std::string_view stream, uint64_t from_version, size_t max_count,
                             Direction direction) const;
  // Visits `range` of `stream`'s versions (nullopt: of all positions) a
  // chunk at a time: its runs are resolved under mu_, then visited without it.
  // The visit_ functions are templates (defined in log.cc) so that the
  // reads' copying visitor is inlined.
  template <typename Visit>
  Status visit_range(std::optional<std::string_view> stream, Range range, Direction direction,
                     const Visit& visit) const;
  // Appends the runs of [from, to) to `runs` until they hold at least
  // `limit` events; returns where they stop. Callers hold mu_.
  Result<uint64_t> runs_of(std::optional<std::string_view> stream, uint64_t from, uint64_t to, uint64_t limit,
                           std::vector<Run>& runs) const;
  Result<uint64_t> position_runs(uint64_t from, uint64_t to, uint64_t limit, std::vector<Run>& runs) const;
  Result<uint64_t> stream_runs(std::string_view stream, uint64_t from, uint64_t to, uint64_t limit,
                               std::vector<Run>& runs) const;
  // The runs of the chunk ending at range.hi; returns its start.
  Result<uint64_t> backward_chunk(std::optional<std::string_view> stream, Range range,
                                  std::vector<Run>& runs) const;
  // Visits the events of `runs` (ascending) in `direction`; false once `visit` said stop.
  template <typename Visit>
  Result<bool> visit_runs(const std::vector<Run>& runs, Direction direction, const Visit& visit,
                          std::vector<format::EventView>& scratch) const;
  template <typename Visit>
  Result<bool> visit_run(const Run& run, Direction direction, const Visit& visit,
                         std::vector<format::EventView>& scratch) const;
  // The batch holding `run`, its checksum verified and its positions checked
  // against the index.
  Result<format::BatchView> verified_batch(const Run& run) const;
  // The run of at most `count` events from `position` (below the indexed
  // end), from the in-memory index or the checkpoint. Callers hold mu_.
  Result<Run> run_at_position(uint64_t position, uint64_t count) const;
  Run run_at(size_t batch_ordinal, uint64_t position, uint32_t count) const;
  // The run from `position`, the position after `previous` ends: the next
  // batch of the same index when it holds it, without a search.
  Result<Run> run_after(const Run& previous, uint64_t position, uint64_t count) const;
  Result<Run> checkpoint_run(uint32_t segment, uint64_t batch, uint64_t position, uint64_t count) const;
  // The index of checkpointed segment `segment`, loaded if need be.
  Result<const index::SegmentIndex*> checkpoint_index(size_t segment) const;
  // The run of `stream` from `version` (a checkpointed version).
  Result<Run> checkpoint_stream_run(std::string_view stream, const index::DirectoryStream& found, uint64_t version,
                                    uint64_t count) const;
  Result<std::optional<index::DirectoryStream>> checkpointed_stream(std::string_view stream) const;
  // checkpointed_stream() for the writer's side, with its hold let go.
  Result<std::optional<index::DirectoryStream>> checkpointed_stream_unheld(std::string_view stream);
  // Versions of `stream` readers may see (those below published()).
  Result<uint64_t> visible_versions(std::string_view stream, std::optional<index::DirectoryStream>& slot) const;
  Result<uint32_t> ordinal_for(std::string_view stream);
  Result<std::optional<uint64_t>> checkpointed_next_version(std::string_view stream);
  // The type and category bitmaps of one segment, relative to its first
  // position (the one in its file name).
  // An indexed segment's bitmaps stay in its index file (`source`) until a
  // filtered read or an append needs them (load_bitmaps, bitmaps_load_mu_).
  struct SegmentBitmapsAt {
    uint64_t first_position = 0;
    index::SegmentBitmaps bitmaps;
    std::shared_ptr<const SegmentIndexSlot> source;
  };
  Status load_bitmaps(size_t segment) const;
  // Secondary indexes and filtered reads (log_filter.cc). Callers hold mu_.
  SegmentBitmapsAt new_segment_bitmaps(const Segment& segment) const;
  Status index_bitmaps(uint32_t segment, const format::BatchView& batch);
  // Matching positions below `end`, ascending, and the runs holding them.
  Result<std::vector<RecordedEvent>> read_filtered(const ReadFilter& filter, uint64_t from_position, size_t max_count,
                                                   Direction direction, uint64_t end) const;
  Result<std::vector<uint64_t>> matching_positions(const ReadFilter& filter, uint64_t from_position,
                                           size_t max_count, Direction direction, uint64_t end) const;
  size_t segment_holding(uint64_t position) const;  // the last segment starting at or before it
  Result<std::vector<Run>> runs_of(const std::vector<uint64_t>& positions) const;

  mutable RwLock mu_;
  mutable bool writer_holds_ = false;  // a WriterHold has mu_; the writer's side only
  // Lets a WriterHold's lock go (for the writer's side only) while a lookup
  // may read the disk: the checkpoint's stream runs, a checkpointed batch,
  // the id window's first load. Readers do not wait for those.
  class HoldPause {
   public:
    explicit HoldPause(const Log& log) : log_(log), held_(log.writer_holds_) {
      if (!held_) return;
      log_.writer_holds_ = false;
      log_.mu_.unlock();
    }
    ~HoldPause() {
      if (!held_) return;
      log_.mu_.lock();
      log_.writer_holds_ = true;
    }
    HoldPause(const HoldPause&) = delete;
    HoldPause& operator=(const HoldPause&) = delete;

   private:
    const Log& log_;  // mu_ and writer_holds_ are mutable
    const bool held_;
  };
  // Streams trimmed per indexed batch while a checkpoint's drop is under way.
  static constexpr size_t kDropStreamsPerBatch = 16;
  void continue_drop(size_t streams);
  // The lock of the writer's side: none while it holds mu_ (WriterHold).
  std::unique_lock<RwLock> writer_lock() {
    return writer_holds_ ? std::unique_lock<RwLock>() : std::unique_lock<RwLock>(mu_);
  }
  std::vector<std::unique_ptr<Segment>> segments_;
  index::PositionIndex positions_;
  index::StreamIndex streams_;
  index::IdWindow ids_;
  bool ids_loaded_ = false;  // the writer's thread (or recovery) only
  std::vector<EventId> id_scratch_;  // index_batch's ids, the writer's thread (or recovery) only
  Checkpoint checkpoint_;    // set at open, advanced by the writer's side
  std::mutex offered_mu_;
  std::optional<Checkpoint> offered_;
  std::optional<Checkpoint> retired_;  // guarded by offered_mu_: replaced, for release_retired()
  char category_separator_;
  mutable std::vector<SegmentBitmapsAt> bitmaps_;
  // A lookup in the index checkpoint's stream directory failed (a damaged
  // run block): recovery then opens again without the checkpoint.
  mutable std::atomic<bool> directory_failed_{false};
  mutable std::mutex bitmaps_load_mu_;  // bitmaps_[i] indexes segments_[i]
  std::shared_ptr<CommitSignal> commits_ = std::make_shared<CommitSignal>();
};

}  // namespace cairn::engine
