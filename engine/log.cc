#include "engine/log.h"

#include "format/frame.h"
#include "format/segment_scan.h"

#include <algorithm>
#include <mutex>

namespace cairn::engine {

uint32_t Log::add_segment(std::unique_ptr<Segment> segment) {
  std::unique_lock lock(mu_);
  segments_.push_back(std::move(segment));
  return static_cast<uint32_t>(segments_.size() - 1);
}

Status Log::index_batch(uint32_t segment, uint64_t offset, uint32_t frame_size,
                        const format::BatchView& batch, std::optional<uint32_t> known_stream) {
  std::unique_lock lock(mu_);
  uint32_t stream = known_stream ? *known_stream : streams_.find_or_add(batch.stream());
  uint64_t expected = streams_.next_version(stream);
  if (batch.stamp().first_version != expected) {
    return Status::corruption("stream '" + std::string(batch.stream()) + "' continues at version " +
                              std::to_string(batch.stamp().first_version) + ", expected " +
                              std::to_string(expected));
  }
  index::BatchLocation loc;
  loc.first_position = batch.stamp().first_position;
  loc.first_version = batch.stamp().first_version;
  loc.offset = offset;
  loc.frame_size = frame_size;
  loc.count = batch.count();
  loc.segment = segment;
  loc.stream = stream;
  positions_.add(loc);
  streams_.add_events(stream, loc.first_position, loc.count);
  batch.for_each([&](uint32_t i, const format::EventView& e) {
    ids_.add(e.id, loc.first_position + i);
    return true;
  });
  return Status();
}

uint64_t Log::indexed_end_position() const {
  return positions_.end_position();
}

std::optional<Log::IdHit> Log::find_id(const EventId& id) const {
  auto position = ids_.find(id);
  if (!position) return std::nullopt;
  const index::BatchLocation& b = positions_.batch(*positions_.find(*position));
  return IdHit{*position, b.stream, b.first_version + (*position - b.first_position)};
}

std::optional<uint32_t> Log::find_stream(std::string_view stream) const {
  return streams_.find(stream);
}

std::optional<uint64_t> Log::stream_version(std::string_view stream) const {
  uint64_t end = published();
  std::shared_lock lock(mu_);
  auto ordinal = streams_.find(stream);
  if (!ordinal) return std::nullopt;
  const auto& positions = streams_.stream(*ordinal).positions;
  auto visible = static_cast<uint64_t>(std::lower_bound(positions.begin(), positions.end(), end) -
                                       positions.begin());
  if (visible == 0) return std::nullopt;
  return visible - 1;
}

Log::Run Log::run_at(size_t batch_ordinal, uint64_t position, uint32_t count) const {
  const index::BatchLocation& b = positions_.batch(batch_ordinal);
  auto first = static_cast<uint32_t>(position - b.first_position);
  return Run{b, segments_[b.segment].get(), first, std::min(count, b.count - first)};
}

Result<std::vector<RecordedEvent>> Log::read_stream(std::string_view stream, uint64_t from_version,
                                                    size_t max_count, Direction direction) const {
  uint64_t end = published();
  std::vector<Run> runs;
  {
    std::shared_lock lock(mu_);
    auto ordinal = streams_.find(stream);
    if (!ordinal) return Status::not_found("stream '" + std::string(stream) + "' has no events");
    const auto& positions = streams_.stream(*ordinal).positions;
    auto visible = static_cast<uint64_t>(
        std::lower_bound(positions.begin(), positions.end(), end) - positions.begin());
    if (visible == 0) return Status::not_found("stream '" + std::string(stream) + "' has no events");
    // The versions [lo, hi) to return, in ascending order.
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (direction == Direction::kForward) {
      lo = std::min(from_version, visible);
      hi = lo + std::min<uint64_t>(max_count, visible - lo);
    } else {
      hi = std::min(from_version, visible - 1) + 1;
      lo = hi - std::min<uint64_t>(max_count, hi);
    }
    for (uint64_t v = lo; v < hi;) {
      size_t batch = *positions_.find(positions[v]);
      Run run = run_at(batch, positions[v], static_cast<uint32_t>(std::min<uint64_t>(hi - v, UINT32_MAX)));
      runs.push_back(run);
      v += run.count;
    }
  }
  std::vector<RecordedEvent> out;
  if (Status s = copy_runs(runs, direction, out); !s.ok()) return s;
  return out;
}

Result<std::vector<RecordedEvent>> Log::read_all(uint64_t from_position, size_t max_count,
                                                 Direction direction) const {
  uint64_t end = published();
  std::vector<Run> runs;
  if (end > 0) {
    uint64_t lo = 0;
    uint64_t hi = 0;
    if (direction == Direction::kForward) {
      lo = std::min(from_position, end);
      hi = lo + std::min<uint64_t>(max_count, end - lo);
    } else {
      hi = std::min(from_position, end - 1) + 1;
      lo = hi - std::min<uint64_t>(max_count, hi);
    }
    std::shared_lock lock(mu_);
    for (uint64_t p = lo; p < hi;) {
      Run run = run_at(*positions_.find(p), p, static_cast<uint32_t>(std::min<uint64_t>(hi - p, UINT32_MAX)));
      runs.push_back(run);
      p += run.count;
    }
  }
  std::vector<RecordedEvent> out;
  if (Status s = copy_runs(runs, direction, out); !s.ok()) return s;
  return out;
}

Status Log::copy_runs(const std::vector<Run>& runs, Direction direction,
                      std::vector<RecordedEvent>& out) const {
  size_t total = 0;
  for (const Run& r : runs) total += r.count;
  out.reserve(total);
  for (const Run& r : runs) {
    std::string where = format::file_offset(r.segment->path(), r.batch.offset);
    format::Frame frame = format::parse_frame(r.segment->bytes(r.batch.offset, r.batch.frame_size));
    if (frame.status != format::FrameStatus::kOk || frame.type != format::FrameType::kEvents) {
      return Status::corruption(where + ": " + format::frame_status_name(frame.status) + " on read");
    }
    auto batch = format::BatchView::decode(frame.body, where);
    if (!batch.ok()) return batch.status();
    uint32_t end = r.first + r.count;
    batch->for_each([&](uint32_t i, const format::EventView& e) {
      if (i < r.first) return true;
      if (i >= end) return false;
      RecordedEvent& ev = out.emplace_back();
      ev.stream = batch->stream();
      ev.version = r.batch.first_version + i;
      ev.position = r.batch.first_position + i;
      ev.id = e.id;
      ev.type = e.type;
      ev.data = e.data;
      ev.metadata = e.metadata;
      ev.timestamp_ns = batch->stamp().timestamp_ns;
      return true;
    });
  }
  if (direction == Direction::kBackward) std::reverse(out.begin(), out.end());
  return Status();
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
