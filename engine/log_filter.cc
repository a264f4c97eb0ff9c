// The Log's secondary indexes (type and category bitmaps per segment) and
// the filtered reads over them.
//
// A filtered read costs O(matches), not O(store size): it starts at the
// segment holding the position, asks each segment's bitmaps for the
// matching positions from there (Roaring iterators jump straight to them),
// and copies out one run per batch that holds matches. Segments without a
// match cost one bitmap lookup each.
#include "engine/log.h"

#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <algorithm>
#include <mutex>

namespace cairn::engine {
namespace {

Status check_filter(const ReadFilter& filter) {
  if (filter.event_types.empty() && filter.categories.empty()) {
    return Status::invalid_argument("a filtered read needs at least one event type or category");
  }
  for (const std::string& type : filter.event_types) {
    if (type.empty()) return Status::invalid_argument("an event type in the read filter is empty");
  }
  for (const std::string& category : filter.categories) {
    if (category.empty()) return Status::invalid_argument("a category in the read filter is empty");
  }
  return Status();
}

// Keeps the events (ascending, a superset of `positions`) whose position is
// in `positions` (ascending).
void keep_positions(const std::vector<uint64_t>& positions, std::vector<RecordedEvent>& events) {
  size_t kept = 0;
  size_t next = 0;
  for (RecordedEvent& e : events) {
    if (next < positions.size() && positions[next] == e.position) {
      if (&events[kept] != &e) events[kept] = std::move(e);
      ++kept;
      ++next;
    }
  }
  events.resize(kept);
}

// Whether `e` matches `filter`: the bitmaps are derived data, so what they
// return is checked against the events read.
bool matches(const ReadFilter& filter, const RecordedEvent& e, char separator) {
  auto in = [](const std::vector<std::string>& names, std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  return (filter.event_types.empty() || in(filter.event_types, e.type)) &&
         (filter.categories.empty() || in(filter.categories, index::category_of(e.stream, separator)));
}

uint32_t clamp32(uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); }

// Appends to `out` (until it holds `max_count`) the members of one
// segment's `matches` in [from, end), as global positions; `first` is the
// segment's first position.
void add_forward(const Roaring& matches, uint64_t first, uint64_t from, uint64_t end, size_t max_count,
                 std::vector<uint64_t>& out) {
  std::vector<uint32_t> found;
  uint32_t relative_from = from > first ? clamp32(from - first) : 0;
  index::collect_forward(matches, relative_from, end - first, max_count - out.size(), found);
  for (uint32_t r : found) out.push_back(first + r);
}

// The same backward: members at most `last`, in decreasing order.
void add_backward(const Roaring& matches, uint64_t first, uint64_t last, size_t max_count,
                  std::vector<uint64_t>& out) {
  if (first > last) return;
  std::vector<uint32_t> found;
  index::collect_backward(matches, clamp32(last - first), max_count - out.size(), found);
  for (uint32_t r : found) out.push_back(first + r);
}

}  // namespace

Log::SegmentBitmapsAt Log::new_segment_bitmaps(const Segment& segment) const {
  // Every segment file is named after its first position (recovery checks
  // the name against the header; the writer names what it creates).
  auto name = format::parse_segment_file_name(segment.file_name());
  return SegmentBitmapsAt{name ? name->first_position : 0, index::SegmentBitmaps(category_separator_)};
}

Status Log::index_bitmaps(uint32_t segment, const format::BatchView& batch) {
  SegmentBitmapsAt& at = bitmaps_[segment];
  uint64_t first = batch.stamp().first_position;
  // Relative positions are 32 bits: Options::segment_bytes keeps a segment
  // below 2^32 events.
  if (first < at.first_position || first - at.first_position + batch.count() > (uint64_t{1} << 32)) {
    return Status::corruption(segments_[segment]->path() + ": batch at position " + std::to_string(first) +
                              " is outside the 2^32 positions from the segment's first, " +
                              std::to_string(at.first_position));
  }
  // The segment's indexed part, when not loaded yet. `source` is read here
  // without bitmaps_load_mu_: index_batch holds the index lock exclusively,
  // and readers change `source` only under it shared.
  if (at.source) {
    if (Status s = load_bitmaps(segment); !s.ok()) return s;
  }
  // A segment index may already hold this batch (one written past the
  // stream directory's end by a crashed store: recovery scans it again).
  if (first - at.first_position < at.bitmaps.end()) return Status();
  index::add_batch(at.bitmaps, batch, at.first_position);
  return Status();
}

void Log::set_bitmaps_source(uint32_t segment, std::shared_ptr<const SegmentIndexSlot> source) {
  std::unique_lock lock(mu_);
  bitmaps_[segment].source = std::move(source);
}

// A segment index's bitmaps, decoded on first use; when they cannot be used
// (damaged, another separator), rebuilt from the segment's batches.
Status Log::load_bitmaps(size_t segment) const {
  std::lock_guard lock(bitmaps_load_mu_);
  SegmentBitmapsAt& at = bitmaps_[segment];
  if (!at.source) return Status();
  auto loaded = at.source->get();
  if (!loaded.ok()) return loaded.status();
  const index::SegmentIndex& idx = **loaded;
  auto bytes = idx.bitmaps();
  auto decoded = bytes.ok() ? index::SegmentBitmaps::decode(*bytes, idx.path()) : Result<index::SegmentBitmaps>(bytes.status());
  if (decoded.ok() && decoded->category_separator() == category_separator_) {
    at.bitmaps = std::move(*decoded);
    at.source.reset();
    return Status();
  }
  index::SegmentBitmaps rebuilt(category_separator_);
  const Segment& seg = *segments_[segment];
  auto scan = format::scan_segment(seg.bytes(0, idx.header().data_end), seg.path(), format::ScanOptions{true, false},
                                   [&](const format::ScannedBatch& b) {
                                     index::add_batch(rebuilt, b.batch, at.first_position);
                                     return Status();
                                   });
  if (!scan.ok()) return scan.status();
  at.bitmaps = std::move(rebuilt);
  at.source.reset();
  return Status();
}

Status Log::set_segment_bitmaps(uint32_t segment, index::SegmentBitmaps bitmaps) {
  std::unique_lock lock(mu_);
  if (bitmaps.category_separator() != category_separator_) {
    return Status::invalid_argument(segments_[segment]->path() + ": its bitmaps' categories were made with the " +
                                    "separator '" + std::string(1, bitmaps.category_separator()) + "', not '" +
                                    std::string(1, category_separator_) + "'");
  }
  bitmaps_[segment].bitmaps = std::move(bitmaps);
  return Status();
}

Result<std::vector<uint64_t>> Log::matching_positions(const ReadFilter& filter, uint64_t from_position,
                                                      size_t max_count, Direction direction, uint64_t end) const {
  std::vector<uint64_t> out;
  if (end == 0 || max_count == 0 || bitmaps_.empty()) return out;
  Roaring scratch;
  Status load;
  auto matches_in = [&](size_t s) -> const Roaring* {
    if (Status st = load_bitmaps(s); !st.ok()) {
      if (load.ok()) load = st;
      return nullptr;
    }
    return bitmaps_[s].bitmaps.matching(filter.event_types, filter.categories, scratch);
  };
  if (direction == Direction::kForward) {
    if (from_position >= end) return out;
    for (size_t s = segment_holding(from_position); s < bitmaps_.size() && out.size() < max_count; ++s) {
      uint64_t first = bitmaps_[s].first_position;
      if (first >= end) break;
      const Roaring* matches = matches_in(s);
      if (matches != nullptr) add_forward(*matches, first, from_position, end, max_count, out);
    }
    if (!load.ok()) return load;
    return out;
  }
  uint64_t last = std::min(from_position, end - 1);
  for (size_t s = segment_holding(last) + 1; s-- > 0 && out.size() < max_count;) {
    const Roaring* matches = matches_in(s);
    if (matches != nullptr) add_backward(*matches, bitmaps_[s].first_position, last, max_count, out);
  }
  if (!load.ok()) return load;
  std::reverse(out.begin(), out.end());
  return out;
}

size_t Log::segment_holding(uint64_t position) const {
  auto it = std::upper_bound(bitmaps_.begin(), bitmaps_.end(), position,
                             [](uint64_t p, const SegmentBitmapsAt& b) { return p < b.first_position; });
  return static_cast<size_t>(std::max<ptrdiff_t>(it - bitmaps_.begin() - 1, 0));
}

// One run per batch holding matches, from its first match to its last: the
// batch is verified once, and the events between matches (which the
// verification reads anyway) are copied and then dropped.
Result<std::vector<Log::Run>> Log::runs_of(const std::vector<uint64_t>& positions) const {
  std::vector<Run> runs;
  for (size_t i = 0; i < positions.size();) {
    auto run = run_at_position(positions[i], UINT64_MAX);  // to the end of its batch
    if (!run.ok()) return run.status();
    uint64_t batch_end = positions[i] + run->count;
    size_t j = i + 1;
    while (j < positions.size() && positions[j] < batch_end) ++j;
    run->count = static_cast<uint32_t>(positions[j - 1] - positions[i] + 1);
    runs.push_back(*run);
    i = j;
  }
  return runs;
}

Result<std::vector<RecordedEvent>> Log::read_all_filtered(const ReadFilter& filter, uint64_t from_position,
                                                          size_t max_count, Direction direction) const {
  return read_filtered(filter, from_position, max_count, direction, published());
}

Result<std::vector<RecordedEvent>> Log::read_filtered_below(const ReadFilter& filter, uint64_t from_position,
                                                            size_t max_count, uint64_t end) const {
  return read_filtered(filter, from_position, max_count, Direction::kForward, std::min(end, published()));
}

Result<std::vector<RecordedEvent>> Log::read_filtered(const ReadFilter& filter, uint64_t from_position,
                                                      size_t max_count, Direction direction, uint64_t end) const {
  if (Status s = check_filter(filter); !s.ok()) return s;
  std::vector<uint64_t> positions;
  std::vector<Run> runs;
  {
    std::shared_lock lock(mu_);
    auto matching = matching_positions(filter, from_position, max_count, direction, end);
    if (!matching.ok()) return matching.status();
    positions = std::move(*matching);
    auto found = runs_of(positions);
    if (!found.ok()) return found.status();
    runs = std::move(*found);
  }
  std::vector<RecordedEvent> out;
  if (Status s = copy_runs(runs, Direction::kForward, out); !s.ok()) return s;
  keep_positions(positions, out);
  if (out.size() != positions.size()) {
    return Status::corruption("a filtered read found " + std::to_string(out.size()) + " of the " +
                              std::to_string(positions.size()) + " positions its index names");
  }
  for (const RecordedEvent& e : out) {
    if (!matches(filter, e, category_separator_)) {
      return Status::corruption("the type and category index places position " + std::to_string(e.position) +
                                " (stream '" + e.stream + "', type '" + e.type +
                                "') in a filter it does not match");
    }
  }
  if (direction == Direction::kBackward) std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace cairn::engine
