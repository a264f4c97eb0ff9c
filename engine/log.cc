#include "engine/log.h"

#include "format/coding.h"
#include "format/frame.h"
#include "format/segment_scan.h"

#include <algorithm>
#include <cstdint>
#include <mutex>

namespace cairn::engine {
namespace {

// The frame at `offset` (its size read from its header when `frame_size` is
// 0), or nullopt when it would reach past `data_end`.
std::optional<std::string_view> frame_bytes(const Segment& segment, uint64_t offset, uint64_t frame_size,
                                            uint64_t data_end) {
  if (offset + format::kFrameHeaderSize > data_end) return std::nullopt;
  if (frame_size == 0) {
    std::string_view header = segment.bytes(offset, format::kFrameHeaderSize);
    frame_size = format::align8(format::kFrameHeaderSize + uint64_t{format::get_u32(header.data() + 8)});
  }
  if (frame_size > data_end - offset) return std::nullopt;
  return segment.bytes(offset, frame_size);
}

// The events batch whose frame starts at `offset` (see frame_bytes), its
// checksum verified; `frame_size` is set to the frame's size.
Result<format::BatchView> read_batch(const Segment& segment, uint64_t offset, uint64_t& frame_size,
                                     uint64_t data_end) {
  // Named only on failure: building the name costs more than reading a small batch.
  auto where = [&] { return format::file_offset(segment.path(), offset); };
  auto bytes = frame_bytes(segment, offset, frame_size, data_end);
  if (!bytes) return Status::corruption(where() + ": the index points outside the segment's data");
  format::Frame frame = format::parse_frame(*bytes);
  if (frame.status != format::FrameStatus::kOk || frame.type != format::FrameType::kEvents) {
    return Status::corruption(where() + ": " + format::frame_status_name(frame.status) + " on read");
  }
  frame_size = frame.size;
  static const std::string kUnnamed;
  auto batch = format::BatchView::decode(frame.body, kUnnamed);
  if (!batch.ok()) return format::BatchView::decode(frame.body, where());  // the same failure, with its place
  return batch;
}

// A visitor that copies each event into `out`.
struct CopyTo {
  std::vector<RecordedEvent>& out;
  bool operator()(const EventView& e) const {
    out.push_back(e.to_event());
    return true;
  }
};

uint32_t clamp32(uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); }

// The events of a scan's runs are resolved this many at a time (plus the
// rest of the last batch).
constexpr uint64_t kChunkEvents = 4096;

}  // namespace

uint32_t Log::add_segment(std::unique_ptr<Segment> segment) {
  std::unique_lock lock(mu_);
  segments_.push_back(std::move(segment));
  bitmaps_.push_back(new_segment_bitmaps(*segments_.back()));
  return static_cast<uint32_t>(segments_.size() - 1);
}

void Log::set_checkpoint(Checkpoint checkpoint) {
  std::unique_lock lock(mu_);
  checkpoint_ = std::move(checkpoint);
}

void Log::offer_checkpoint(Checkpoint checkpoint) {
  std::lock_guard lock(offered_mu_);
  offered_ = std::move(checkpoint);
}

void Log::adopt_offered_checkpoint() {
  std::optional<Checkpoint> offered;
  {
    std::lock_guard lock(offered_mu_);
    offered.swap(offered_);
  }
  if (!offered || offered->end <= checkpoint_.end) return;
  std::unique_lock lock(mu_);
  continue_drop(SIZE_MAX);  // the last adoption's, if still under way
  std::swap(checkpoint_, *offered);
  streams_.begin_drop(checkpoint_.end);
  lock.unlock();
  // The checkpoint before goes to the indexer to let go of: unmapping its
  // files took up to 39 ms with millions of streams, a stall of the roll.
  {
    std::lock_guard retire(offered_mu_);
    std::swap(retired_, offered);
  }
  // `offered` now holds one the indexer has not released yet (it is far
  // behind), or nothing: let go of here.
}

void Log::release_retired() {
  std::optional<Checkpoint> retired;
  {
    std::lock_guard lock(offered_mu_);
    retired.swap(retired_);
  }
}  // unmapped here, outside offered_mu_

// The streams' positions below the checkpoint are dropped a few streams an
// indexed batch (a store with millions of streams would otherwise stop its
// writer and its readers for tens of milliseconds at each roll); the
// batches they point to stay in the position index until every stream is
// done. Under the writer's lock.
void Log::continue_drop(size_t streams) {
  if (streams_.dropping() && streams_.drop_some(streams)) positions_.drop_below(checkpoint_.end);
}

void Log::replace_segment_index(uint32_t segment, std::shared_ptr<const index::SegmentIndex> index) {
  std::unique_lock lock(mu_);
  // Lookups through segment indexes all hold mu_ (the writer's lock-free
  // ones use only the directory).
  if (segment < checkpoint_.segments.size() &&
      checkpoint_.segments[segment]->end_position() == index->end_position()) {
    checkpoint_.segments[segment] = std::make_shared<const SegmentIndexSlot>(std::move(index));
  }
  std::lock_guard load(bitmaps_load_mu_);
  if (bitmaps_[segment].source) bitmaps_[segment].source = checkpoint_.segments[segment];
}

Result<std::optional<index::DirectoryStream>> Log::checkpointed_stream(std::string_view stream) const {
  if (!checkpoint_.directory) return std::optional<index::DirectoryStream>();
  auto found = checkpoint_.directory->find(stream);
  if (!found.ok()) directory_failed_.store(true, std::memory_order_release);
  return found;
}

// The writer's side: the checkpoint's stream runs may be read from disk, so
// a WriterHold lets the lock go meanwhile.
Result<std::optional<index::DirectoryStream>> Log::checkpointed_stream_unheld(std::string_view stream) {
  HoldPause pause(*this);
  return checkpointed_stream(stream);
}

// The writer's side: the version after `stream`'s last one in the index
// checkpoint (nullopt: the checkpoint has none of it). A damaged block of
// the stream directory fails only the reads that need it, not appends: the
// version then comes from the covered segments' own indexes, newest first
// (one lookup per segment, only while the directory cannot answer).
Result<std::optional<uint64_t>> Log::checkpointed_next_version(std::string_view stream) {
  auto slot = checkpointed_stream_unheld(stream);
  if (slot.ok()) return *slot ? std::optional<uint64_t>((*slot)->slot.next_version) : std::nullopt;
  if (slot.status().code() != Code::kCorruption) return slot.status();
  HoldPause pause(*this);
  for (size_t s = checkpoint_.segments.size(); s-- > 0;) {
    auto idx = checkpoint_index(s);
    if (!idx.ok()) return slot.status();  // nothing else to answer from
    auto hit = (*idx)->find_stream(stream);
    if (!hit.ok()) return slot.status();
    if (!*hit) continue;
    auto span = (*idx)->span(**hit);
    if (!span.ok()) return slot.status();
    return std::optional<uint64_t>((*hit)->first_version + span->version_count);
  }
  return std::optional<uint64_t>();
}

// The writer's thread (or recovery): adds under the lock, since readers look
// streams up concurrently.
Result<uint32_t> Log::ordinal_for(std::string_view stream) {
  if (auto found = streams_.find(stream)) return *found;
  auto next = checkpointed_next_version(stream);
  if (!next.ok()) return next.status();
  auto lock = writer_lock();
  return streams_.add(stream, next->value_or(0));
}

Status Log::index_batch(uint32_t segment, uint64_t offset, uint32_t frame_size,
                        const format::BatchView& batch, std::optional<uint32_t> known_stream,
                        std::span<const EventId> known_ids) {
  uint32_t stream = 0;
  if (known_stream) {
    stream = *known_stream;
  } else {
    auto ordinal = ordinal_for(batch.stream());
    if (!ordinal.ok()) return ordinal.status();
    stream = *ordinal;
  }
  auto lock = writer_lock();
  uint64_t expected = streams_.next_version(stream);
  if (batch.stamp().first_version != expected) {
    return Status::corruption("stream '" + std::string(batch.stream()) + "' continues at version " +
                              std::to_string(batch.stamp().first_version) + ", expected " +
                              std::to_string(expected));
  }
  if (Status s = index_bitmaps(segment, batch); !s.ok()) return s;
  index::BatchLocation loc = index::location_of(batch, offset, frame_size, segment, stream);
  positions_.add(loc);
  streams_.add_events(stream, loc.first_position, loc.count);
  continue_drop(kDropStreamsPerBatch);
  if (!ids_loaded_) return Status();
  if (known_ids.size() == batch.count()) {
    ids_.add_run(known_ids, loc.first_position);
    return Status();
  }
  id_scratch_.clear();
  batch.for_each([&](uint32_t, const format::EventView& e) {
    id_scratch_.push_back(e.id);
    return true;
  });
  ids_.add_run(id_scratch_, loc.first_position);
  return Status();
}

uint64_t Log::indexed_end_position() const {
  return std::max(checkpoint_.end, positions_.end_position());
}

// Reads the frames themselves, not the index files (derived data that a
// damaged block would make unusable): for the checkpointed part, from the
// batch the index names (or the segment's start) to the index's data_end.
Status Log::load_id_window() {
  uint64_t end = indexed_end_position();
  uint64_t lo = end > ids_.capacity() ? end - ids_.capacity() : 0;
  HoldPause pause(*this);
  // A failed load left part of the window: start it again.
  ids_ = index::IdWindow(ids_.capacity());
  std::shared_lock lock(mu_);
  auto add_ids = [&](const format::BatchView& batch) {
    batch.for_each([&](uint32_t i, const format::EventView& e) {
      if (batch.stamp().first_position + i >= lo) ids_.add(e.id, batch.stamp().first_position + i);
      return true;
    });
  };
  for (size_t s = 0; s < checkpoint_.segments.size(); ++s) {
    if (checkpoint_.segments[s]->end_position() <= lo) continue;
    auto loaded = checkpoint_index(s);
    if (!loaded.ok()) return loaded.status();
    const index::SegmentIndex& idx = **loaded;
    uint64_t offset = format::kSegmentHeaderSize;
    if (idx.header().first_position < lo) {
      auto ordinal = idx.find_batch(lo);
      auto b = ordinal.ok() ? idx.batch(*ordinal) : Result<format::IndexBatch>(ordinal.status());
      if (b.ok()) offset = b->offset;  // else walk the segment from its start
    }
    while (offset < idx.header().data_end) {
      uint64_t size = 0;
      auto batch = read_batch(*segments_[s], offset, size, idx.header().data_end);
      if (!batch.ok()) return batch.status();
      add_ids(*batch);
      offset += size;
    }
  }
  for (uint64_t p = std::max(lo, checkpoint_.end); p < end;) {
    const index::BatchLocation& b = positions_.batch(*positions_.find(p));
    uint64_t size = b.frame_size;
    auto batch = read_batch(*segments_[b.segment], b.offset, size, b.offset + b.frame_size);
    if (!batch.ok()) return batch.status();
    add_ids(*batch);
    p = b.first_position + b.count;
  }
  ids_loaded_ = true;
  return Status();
}

void Log::prefetch_id(const EventId& id) const { ids_.prefetch(id); }

void Log::prefetch_append(uint64_t stream_hash, std::span<const EventId> ids, uint64_t first_position) const {
  streams_.prefetch(stream_hash);
  for (size_t i = 0; i < std::min(ids.size(), index::IdWindow::kPrefetchAhead); ++i) {
    ids_.prefetch_add(ids[i], first_position + i);
  }
}

Result<std::optional<Log::IdHit>> Log::find_id(const EventId& id) const {
  auto position = ids_.find(id);
  if (!position) return std::optional<IdHit>();
  if (auto batch = positions_.find(*position)) {
    const index::BatchLocation& b = positions_.batch(*batch);
    return std::optional<IdHit>(
        IdHit{*position, streams_.stream(b.stream).name, b.first_version + (*position - b.first_position)});
  }
  HoldPause pause(*this);  // a checkpointed batch: may read the disk
  std::shared_lock lock(mu_);
  auto run = run_at_position(*position, 1);
  if (!run.ok()) return run.status();
  std::vector<RecordedEvent> events;
  if (Status s = copy_runs({*run}, Direction::kForward, events); !s.ok()) return s;
  return std::optional<IdHit>(IdHit{*position, events[0].stream, events[0].version});
}

Result<std::optional<uint32_t>> Log::find_stream(std::string_view stream, uint64_t stream_hash) {
  if (auto found = streams_.find(stream, stream_hash)) return std::optional<uint32_t>(*found);
  auto next = checkpointed_next_version(stream);
  if (!next.ok()) return next.status();
  if (!*next) return std::optional<uint32_t>();
  auto lock = writer_lock();
  return std::optional<uint32_t>(streams_.add(stream, **next));
}

Result<uint64_t> Log::visible_versions(std::string_view stream, std::optional<index::DirectoryStream>& slot) const {
  uint64_t end = published();
  if (auto ordinal = streams_.find(stream)) {
    const index::StreamIndex::Stream& s = streams_.stream(*ordinal);
    auto visible = static_cast<uint64_t>(std::lower_bound(s.positions.begin(), s.positions.end(), end) -
                                         s.positions.begin());
    if (s.base_version > 0) {
      auto found = checkpointed_stream(stream);
      if (!found.ok()) return found.status();
      slot = *found;
    }
    return s.base_version + visible;
  }
  auto found = checkpointed_stream(stream);
  if (!found.ok()) return found.status();
  slot = *found;
  return slot ? slot->slot.next_version : 0;
}

std::optional<uint64_t> Log::stream_version(std::string_view stream) const {
  std::shared_lock lock(mu_);
  std::optional<index::DirectoryStream> slot;
  auto visible = visible_versions(stream, slot);
  if (!visible.ok() || *visible == 0) return std::nullopt;
  return *visible - 1;
}

Log::Run Log::run_at(size_t batch_ordinal, uint64_t position, uint32_t count) const {
  const index::BatchLocation& b = positions_.batch(batch_ordinal);
  auto first = static_cast<uint32_t>(position - b.first_position);
  return Run{b, segments_[b.segment].get(), b.offset + b.frame_size, first, std::min(count, b.count - first),
             batch_ordinal, false};
}

Result<const index::SegmentIndex*> Log::checkpoint_index(size_t segment) const {
  return checkpoint_.segments[segment]->get();  // loads the segment too (recovery's loader)
}

Result<Log::Run> Log::checkpoint_run(uint32_t segment, uint64_t batch, uint64_t position, uint64_t count) const {
  auto loaded = checkpoint_index(segment);
  if (!loaded.ok()) return loaded.status();
  const index::SegmentIndex& idx = **loaded;
  auto b = idx.batch(batch);
  if (!b.ok()) return b.status();
  index::BatchLocation loc;
  loc.first_position = idx.header().first_position + b->relative_position;
  loc.offset = b->offset;
  loc.count = b->count;
  loc.segment = segment;
  if (position < loc.first_position || position >= loc.first_position + loc.count) {
    return Status::corruption(idx.path() + ": batch " + std::to_string(batch) + " does not hold position " +
                              std::to_string(position));
  }
  auto first = static_cast<uint32_t>(position - loc.first_position);
  auto n = static_cast<uint32_t>(std::min<uint64_t>(count, loc.count - first));
  return Run{loc, segments_[segment].get(), idx.header().data_end, first, n, batch, true};
}

Result<Log::Run> Log::run_after(const Run& previous, uint64_t position, uint64_t count) const {
  uint64_t next = previous.ordinal + 1;
  if (previous.checkpointed && position < checkpoint_.end) {
    auto idx = checkpoint_index(previous.batch.segment);  // loaded: it made `previous`
    if (idx.ok() && next < (*idx)->header().batch_count) {
      return checkpoint_run(previous.batch.segment, next, position, count);
    }
  }
  if (!previous.checkpointed && position >= checkpoint_.end && next < positions_.batch_count() &&
      positions_.batch(next).first_position == position) {
    return run_at(next, position, static_cast<uint32_t>(std::min<uint64_t>(count, UINT32_MAX)));
  }
  return run_at_position(position, count);
}

Result<Log::Run> Log::run_at_position(uint64_t position, uint64_t count) const {
  auto capped = static_cast<uint32_t>(std::min<uint64_t>(count, UINT32_MAX));
  if (position >= checkpoint_.end) return run_at(*positions_.find(position), position, capped);
  const auto& segs = checkpoint_.segments;
  // The last checkpointed segment starting at or before `position`.
  auto it = std::upper_bound(segs.begin(), segs.end(), position, [](uint64_t p, const auto& s) {
    return p < s->first_position();
  });
  auto segment = static_cast<uint32_t>(it - segs.begin() - 1);
  auto idx = checkpoint_index(segment);
  if (!idx.ok()) return idx.status();
  auto batch = (*idx)->find_batch(position);
  if (!batch.ok()) return batch.status();
  return checkpoint_run(segment, *batch, position, capped);
}

Result<Log::Run> Log::checkpoint_stream_run(std::string_view stream, const index::DirectoryStream& found,
                                            uint64_t version, uint64_t count) const {
  auto entry = checkpoint_.directory->segment_of(stream, found, version);
  if (!entry.ok()) return entry.status();
  uint64_t ordinal = entry->sequence - 1;
  if (ordinal >= checkpoint_.segments.size()) {
    return Status::corruption(checkpoint_.directory->path() + ": stream '" + std::string(stream) +
                              "' names segment " + std::to_string(entry->sequence) + ", which is not indexed");
  }
  auto loaded = checkpoint_index(ordinal);
  if (!loaded.ok()) return loaded.status();
  const index::SegmentIndex& idx = **loaded;
  auto s = idx.find_stream(stream);
  if (!s.ok()) return s.status();
  if (!*s) {
    return Status::corruption(idx.path() + ": stream '" + std::string(stream) +
                              "' is missing, though the stream directory places it here");
  }
  auto hit = idx.find_version(**s, version);
  if (!hit.ok()) return hit.status();
  auto b = idx.batch(hit->batch);
  if (!b.ok()) return b.status();
  uint64_t position = idx.header().first_position + b->relative_position + (version - hit->first_version);
  return checkpoint_run(static_cast<uint32_t>(ordinal), hit->batch, position, count);
}

template <typename Visit>
Result<bool> Log::visit_run(const Run& r, Direction direction, const Visit& visit,
                            std::vector<format::EventView>& scratch) const {
  auto batch = verified_batch(r);
  if (!batch.ok()) return batch.status();
  EventView view;
  view.stream = batch->stream();
  view.timestamp_ns = batch->stamp().timestamp_ns;
  auto visit_event = [&](uint32_t i, const format::EventView& e) {
    view.version = batch->stamp().first_version + i;
    view.position = r.batch.first_position + i;
    view.id = e.id;
    view.type = e.type;
    view.data = e.data;
    view.metadata = e.metadata;
    return visit(view);
  };
  uint32_t end = r.first + r.count;
  bool more = true;
  if (direction == Direction::kForward) {
    batch->for_each([&](uint32_t i, const format::EventView& e) {
      if (i < r.first) return true;
      if (i >= end) return false;
      more = visit_event(i, e);
      return more;
    });
    return more;
  }
  // Events can only be found front to back (their sizes vary).
  scratch.clear();
  batch->for_each([&](uint32_t i, const format::EventView& e) {
    if (i >= r.first) scratch.push_back(e);
    return i + 1 < end;
  });
  for (uint32_t k = r.count; k-- > 0 && more;) more = visit_event(r.first + k, scratch[k]);
  return more;
}

template <typename Visit>
Result<bool> Log::visit_runs(const std::vector<Run>& runs, Direction direction, const Visit& visit,
                             std::vector<format::EventView>& scratch) const {
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = direction == Direction::kForward ? runs[i] : runs[runs.size() - 1 - i];
    auto more = visit_run(run, direction, visit, scratch);
    if (!more.ok() || !*more) return more;
  }
  return true;
}

// Chunks keep the lock's hold short and the runs' memory bounded; the lock
// is never held while a visitor runs, so visitors may call the store.
template <typename Visit>
Status Log::visit_range(std::optional<std::string_view> stream, Range range, Direction direction,
                        const Visit& visit) const {
  std::vector<Run> runs;
  std::vector<format::EventView> scratch;
  while (range.lo < range.hi) {
    runs.clear();
    {
      std::shared_lock lock(mu_);
      if (direction == Direction::kForward) {
        auto next = runs_of(stream, range.lo, range.hi, kChunkEvents, runs);
        if (!next.ok()) return next.status();
        range.lo = *next;
      } else {
        auto start = backward_chunk(stream, range, runs);
        if (!start.ok()) return start.status();
        range.hi = *start;
      }
    }
    auto more = visit_runs(runs, direction, visit, scratch);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  return Status();
}

Log::Range Log::range_of(uint64_t from, size_t max_count, Direction direction, uint64_t end) {
  if (end == 0) return Range{};
  if (direction == Direction::kForward) {
    uint64_t lo = std::min(from, end);
    return Range{lo, lo + std::min<uint64_t>(max_count, end - lo)};
  }
  uint64_t hi = std::min(from, end - 1) + 1;
  return Range{hi - std::min<uint64_t>(max_count, hi), hi};
}

Log::Range Log::all_range(uint64_t from_position, size_t max_count, Direction direction) const {
  return range_of(from_position, max_count, direction, published());
}

Result<Log::Range> Log::stream_range(std::string_view stream, uint64_t from_version, size_t max_count,
                                     Direction direction) const {
  std::shared_lock lock(mu_);
  std::optional<index::DirectoryStream> slot;
  auto visible = visible_versions(stream, slot);
  if (!visible.ok()) return visible.status();
  if (*visible == 0) return Status::not_found("stream '" + std::string(stream) + "' has no events");
  return range_of(from_version, max_count, direction, *visible);
}

Result<std::vector<RecordedEvent>> Log::read_stream(std::string_view stream, uint64_t from_version,
                                                    size_t max_count, Direction direction) const {
  auto range = stream_range(stream, from_version, max_count, direction);
  if (!range.ok()) return range.status();
  std::vector<RecordedEvent> out;
  out.reserve(range->hi - range->lo);
  if (Status s = visit_range(stream, *range, direction, CopyTo{out}); !s.ok()) return s;
  return out;
}

Result<std::vector<RecordedEvent>> Log::read_all(uint64_t from_position, size_t max_count,
                                                 Direction direction) const {
  Range range = all_range(from_position, max_count, direction);
  std::vector<RecordedEvent> out;
  out.reserve(range.hi - range.lo);
  if (Status s = visit_range(std::nullopt, range, direction, CopyTo{out}); !s.ok()) return s;
  return out;
}

Status Log::scan_stream(std::string_view stream, uint64_t from_version, size_t max_count, Direction direction,
                        Visitor visit) const {
  auto range = stream_range(stream, from_version, max_count, direction);
  if (!range.ok()) return range.status();
  return visit_range(stream, *range, direction, visit);
}

Status Log::scan_all(uint64_t from_position, size_t max_count, Direction direction, Visitor visit) const {
  return visit_range(std::nullopt, all_range(from_position, max_count, direction), direction, visit);
}


// About kChunkEvents events, from the first event of a batch (or range.lo)
// so that no batch is read twice.
Result<uint64_t> Log::backward_chunk(std::optional<std::string_view> stream, Range range,
                                     std::vector<Run>& runs) const {
  uint64_t start = range.hi - std::min(range.hi - range.lo, kChunkEvents);
  if (start > range.lo) {
    auto found = runs_of(stream, start, start + 1, 1, runs);
    if (!found.ok()) return found.status();
    start -= std::min<uint64_t>(runs.back().first, start - range.lo);
    runs.clear();
  }
  auto end = runs_of(stream, start, range.hi, UINT64_MAX, runs);
  if (!end.ok()) return end.status();
  return start;
}

Result<uint64_t> Log::runs_of(std::optional<std::string_view> stream, uint64_t from, uint64_t to, uint64_t limit,
                              std::vector<Run>& runs) const {
  if (stream) return stream_runs(*stream, from, to, limit, runs);
  return position_runs(from, to, limit, runs);
}

// Each chunk starts with a search: the writer may have adopted an index
// checkpoint since the last one, or finished trimming for one, which
// renumbers the in-memory batches.
Result<uint64_t> Log::position_runs(uint64_t from, uint64_t to, uint64_t limit, std::vector<Run>& runs) const {
  size_t first_run = runs.size();
  uint64_t p = from;
  while (p < to && p - from < limit) {
    auto run = runs.size() == first_run ? run_at_position(p, to - p) : run_after(runs.back(), p, to - p);
    if (!run.ok()) return run.status();
    runs.push_back(*run);
    p += run->count;
  }
  return p;
}

// Versions below the stream's in-memory base are in the index checkpoint;
// both move when the writer adopts a newer one (the base when it trims the
// stream, a few batches later), so each chunk asks again.
Result<uint64_t> Log::stream_runs(std::string_view stream, uint64_t from, uint64_t to, uint64_t limit,
                                  std::vector<Run>& runs) const {
  std::optional<index::DirectoryStream> slot;
  auto visible = visible_versions(stream, slot);
  if (!visible.ok()) return visible.status();
  auto ordinal = streams_.find(stream);
  uint64_t base = ordinal ? streams_.stream(*ordinal).base_version : *visible;
  uint64_t v = from;
  while (v < to && v - from < limit) {
    if (v >= base) {
      uint64_t position = streams_.stream(*ordinal).positions[v - base];
      runs.push_back(run_at(*positions_.find(position), position, clamp32(to - v)));
    } else if (!slot) {
      return Status::corruption((checkpoint_.directory ? checkpoint_.directory->path() : "the index checkpoint") +
                                ": stream '" + std::string(stream) + "' is missing");
    } else {
      auto run = checkpoint_stream_run(stream, *slot, v, std::min(to, base) - v);
      if (!run.ok()) return run.status();
      runs.push_back(*run);
    }
    v += runs.back().count;
  }
  return v;
}


Result<format::BatchView> Log::verified_batch(const Run& r) const {
  uint64_t size = r.batch.frame_size;
  auto batch = read_batch(*r.segment, r.batch.offset, size, r.data_end);
  if (!batch.ok()) return batch.status();
  // The index is derived data: what it says is checked against the log.
  if (batch->stamp().first_position != r.batch.first_position || batch->count() != r.batch.count) {
    return Status::corruption(format::file_offset(r.segment->path(), r.batch.offset) +
                              ": the index expects positions " + std::to_string(r.batch.first_position) + " to " +
                              std::to_string(r.batch.first_position + r.batch.count - 1) + " here, the batch holds " +
                              std::to_string(batch->stamp().first_position) + " to " +
                              std::to_string(batch->last_position()));
  }
  return batch;
}


Status Log::copy_runs(const std::vector<Run>& runs, Direction direction,
                      std::vector<RecordedEvent>& out) const {
  std::vector<format::EventView> scratch;
  return visit_runs(runs, direction, CopyTo{out}, scratch).status();
}

std::vector<const Segment*> Log::segments() const {
  std::shared_lock lock(mu_);
  std::vector<const Segment*> out;
  for (const auto& s : segments_) out.push_back(s.get());
  return out;
}

Result<Log::BatchEnd> Log::batch_end(uint64_t end) const {
  std::shared_lock lock(mu_);
  auto run = run_at_position(end - 1, 1);
  if (!run.ok()) return run.status();
  const index::BatchLocation& b = run->batch;
  if (b.first_position + b.count != end) {
    return Status::invalid_argument("position " + std::to_string(end) + " is not the end of a batch");
  }
  uint64_t size = b.frame_size;
  if (size == 0) {  // a batch of the index checkpoint: its frame says how long it is
    format::Frame frame = format::parse_frame(run->segment->bytes(b.offset, run->data_end - b.offset));
    if (frame.status != format::FrameStatus::kOk) {
      return Status::corruption(format::file_offset(run->segment->path(), b.offset) + ": " +
                                format::frame_status_name(frame.status) + " where the index has a batch");
    }
    size = frame.size;
  }
  return BatchEnd{b.segment, b.offset + size};
}

Result<uint64_t> Log::sealed_end(uint32_t segment) const {
  std::shared_lock lock(mu_);
  const Segment& s = *segments_[segment];
  // A deferred segment's slot loader sets its sealed end after loading the
  // segment: wait for the slot (another thread may be loading it), not for
  // the segment alone.
  if (s.sealed_end() == 0 && segment < checkpoint_.segments.size()) {
    auto idx = checkpoint_index(segment);
    if (!idx.ok()) return idx.status();
  }
  return s.sealed_end();
}

namespace {
// Batches copied per hold of the index lock: short holds, so the writer
// (which takes it exclusively for every batch) waits at most microseconds.
constexpr size_t kContentsChunk = 4096;
}  // namespace

std::optional<index::SegmentContents> Log::segment_contents(uint32_t segment, uint64_t data_end) const {
  index::SegmentContents out;
  std::vector<uint32_t> key_of;  // store stream ordinal -> key + 1
  uint64_t first_position = 0;
  size_t streams = 0;
  {
    std::shared_lock lock(mu_);
    if (segment >= segments_.size()) return std::nullopt;
    std::lock_guard load(bitmaps_load_mu_);
    if (bitmaps_[segment].source) return std::nullopt;
    first_position = bitmaps_[segment].first_position;
    streams = streams_.stream_count();
  }
  // Made outside the lock: with millions of streams it is megabytes of
  // fresh memory, slow to fault in, and the writer waits for the lock.
  key_of.assign(streams, 0);
  uint64_t position = first_position;
  uint64_t offset = format::kSegmentHeaderSize;
  while (offset < data_end) {
    std::shared_lock lock(mu_);
    // Found again each chunk: the drop after an adoption renumbers the batches.
    std::optional<size_t> at = positions_.find(position);
    if (!at) return std::nullopt;
    size_t end = std::min(positions_.batch_count(), *at + kContentsChunk);
    for (size_t i = *at; i < end && offset < data_end; ++i) {
      index::BatchLocation b = positions_.batch(i);
      if (b.segment != segment || b.offset != offset || b.first_position != position) return std::nullopt;
      if (b.stream >= key_of.size()) key_of.resize(std::max<size_t>(b.stream + 1, 2 * key_of.size()));
      if (key_of[b.stream] == 0) {
        out.names.push_back(streams_.stream(b.stream).name);
        key_of[b.stream] = static_cast<uint32_t>(out.names.size());
      }
      b.stream = key_of[b.stream] - 1;
      out.batches.push_back(b);
      offset += b.frame_size;
      position += b.count;
    }
  }
  if (offset != data_end) return std::nullopt;
  std::shared_lock lock(mu_);
  const index::SegmentBitmaps& bitmaps = bitmaps_[segment].bitmaps;
  if (bitmaps.end() != position - first_position) return std::nullopt;
  bitmaps.encode(out.bitmaps);
  if (!out.batches.empty()) {
    out.last_frame_checksum = format::get_u64(segments_[segment]->bytes(out.batches.back().offset, 8).data());
  }
  return out;
}

size_t Log::memory_batch_count() const {
  std::shared_lock lock(mu_);
  return positions_.batch_count();
}

size_t Log::segment_count() const {
  std::shared_lock lock(mu_);
  return segments_.size();
}

size_t Log::stream_count() const {
  std::shared_lock lock(mu_);
  return streams_.stream_count();
}

}  // namespace cairn::engine
