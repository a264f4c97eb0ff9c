#include "engine/index_checkpoint.h"

#include "engine/info_log.h"
#include "format/batch.h"
#include "format/checksum.h"
#include "format/coding.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"
#include "index/bitmap_index.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace cairn::engine {
namespace {

constexpr std::string_view kIndexSuffix = ".idx";

// The footer frame at the start of `bytes`: kCorruption `missing` when no
// valid footer frame is there, decode_footer's error (naming `where`) when
// its body is malformed.
Result<format::Footer> footer_at(std::string_view bytes, const std::string& where, const std::string& missing) {
  format::Frame f = format::parse_frame(bytes);
  if (f.status != format::FrameStatus::kOk || f.type != format::FrameType::kFooter) {
    return Status::corruption(missing);
  }
  return format::decode_footer(f.body, where);
}

// The index of a sealed segment must end where its footer says the batches end.
Status check_sealed(const index::SegmentIndex& idx, const Segment& segment) {
  const auto& h = idx.header();
  std::string_view file = segment.bytes(0, segment.file_size_at_open());
  if (h.data_end > file.size()) return Status::corruption(idx.path() + ": covers more than its segment holds");
  auto footer = footer_at(file.substr(h.data_end), segment.path(),
                          idx.path() + ": no footer where the index says the segment ends");
  if (!footer.ok()) return footer.status();
  if (footer->first_position != h.first_position || footer->event_count != h.event_count ||
      footer->batch_count != h.batch_count || footer->data_end != h.data_end) {
    return Status::corruption(idx.path() + ": does not match its segment's footer");
  }
  return Status();
}

// The last batch a partial index covers must be in the segment, unchanged.
Status check_partial(const index::SegmentIndex& idx, const Segment& segment) {
  const auto& h = idx.header();
  if (h.batch_count == 0) {
    if (h.data_end != format::kSegmentHeaderSize) return Status::corruption(idx.path() + ": empty but data_end is not 64");
    return Status();
  }
  auto last = idx.batch(h.batch_count - 1);
  if (!last.ok()) return last.status();
  std::string_view file = segment.bytes(0, segment.file_size_at_open());
  if (last->offset >= file.size()) return Status::corruption(idx.path() + ": its last batch is past the segment's end");
  format::Frame f = format::parse_frame(file.substr(last->offset));
  if (f.status != format::FrameStatus::kOk || f.type != format::FrameType::kEvents ||
      format::get_u64(file.data() + last->offset) != h.last_frame_checksum || last->offset + f.size != h.data_end) {
    return Status::corruption(idx.path() + ": its last batch is not in the segment (the log was cut or rewritten)");
  }
  auto batch = format::BatchView::decode(f.body, segment.path());
  if (!batch.ok()) return batch.status();
  if (batch->stamp().first_position + batch->count() != idx.end_position()) {
    return Status::corruption(idx.path() + ": its last batch ends elsewhere in the segment");
  }
  return Status();
}

struct ResumePoint {
  uint64_t offset = 0;   // of the batch starting at the position
  uint64_t batches = 0;  // batches before it in the segment
};

// Where a scan resumes to index a segment from `position` on: a batch of the
// index must start exactly there, and the segment must hold it there.
Result<ResumePoint> resume_point(const index::SegmentIndex& idx, uint64_t position, const Segment& segment) {
  auto ordinal = idx.find_batch(position);
  if (!ordinal.ok()) return ordinal.status();
  auto b = idx.batch(*ordinal);
  if (!b.ok()) return b.status();
  if (idx.header().first_position + b->relative_position != position) {
    return Status::corruption(idx.path() + ": no batch starts at position " + std::to_string(position));
  }
  std::string_view file = segment.bytes(0, segment.file_size_at_open());
  format::Frame f = format::parse_frame(file.substr(std::min<uint64_t>(b->offset, file.size())));
  if (f.status != format::FrameStatus::kOk || f.type != format::FrameType::kEvents) {
    return Status::corruption(idx.path() + ": the batch at position " + std::to_string(position) +
                              " is not where the index says");
  }
  auto batch = format::BatchView::decode(f.body, segment.path());
  if (!batch.ok() || batch->stamp().first_position != position) {
    return Status::corruption(idx.path() + ": the batch at position " + std::to_string(position) +
                              " is not where the index says");
  }
  return ResumePoint{b->offset, *ordinal};
}

// What a deferred slot's loader needs; shared by the slots of one open.
struct DeferredContext {
  FileSystem* fs;
  std::string dir;
  format::StoreId store_id;
  Options options;
};

// The index file of segment `sequence`, mapped and checked against the
// segment's header (the segment is loaded).
Result<std::shared_ptr<const index::SegmentIndex>> open_index(FileSystem& fs, const std::string& idx_path,
                                                               const Segment& segment,
                                                               const format::StoreId& store_id, uint64_t sequence) {
  auto idx_file = map_file(fs, idx_path);
  if (!idx_file.ok()) return idx_file.status();
  auto idx = index::SegmentIndex::open(idx_file->bytes, idx_file->mapping, idx_path);
  if (!idx.ok()) return idx.status();
  const auto& h = (*idx)->header();
  auto header = format::decode_segment_header(segment.bytes(0, segment.file_size_at_open()), segment.path());
  if (!header.ok()) return header.status();
  if (h.store_id != store_id || h.sequence != sequence || h.first_position != header->first_position) {
    return Status::corruption(idx_path + ": indexes another segment");
  }
  return std::shared_ptr<const index::SegmentIndex>(std::move(*idx));
}

// A sealed segment's index made from its batches, in memory: its file was
// missing, damaged or stale. The next index checkpoint writes it anew.
Result<std::shared_ptr<const index::SegmentIndex>> rebuilt_index(const DeferredContext& c, const Segment& segment,
                                                                  uint64_t sequence, const std::string& idx_path) {
  auto built = build_segment_index(segment, segment.file_size_at_open(), c.store_id, sequence,
                                   c.options.category_separator, /*sealed=*/true);
  if (!built.ok()) return built.status();
  if (!built->has_footer) return Status::corruption(segment.path() + ": a segment before the last one has no footer");
  auto bytes = std::make_shared<const std::string>(std::move(built->bytes));
  auto idx = index::SegmentIndex::open(*bytes, bytes, idx_path);
  if (!idx.ok()) return idx.status();
  return std::shared_ptr<const index::SegmentIndex>(std::move(*idx));
}

// Loads a deferred slot: the segment, then its index file, checked against
// the segment's footer and the positions the file names give; an unusable
// file is replaced by an index rebuilt from the segment (never an error of
// its own), a damaged segment is the read's Corruption.
Result<SegmentIndexSlot::Loaded> load_deferred(const DeferredContext& c, Segment& segment, uint64_t sequence,
                                               uint64_t first, uint64_t end) {
  if (Status s = segment.load(); !s.ok()) return s;
  std::string idx_path = c.dir + "/" + segment_index_file_name(sequence);
  auto idx = open_index(*c.fs, idx_path, segment, c.store_id, sequence);
  Status usable = idx.status();
  if (usable.ok() && !(*idx)->header().sealed()) usable = Status::corruption(idx_path + ": partial, but its segment is sealed");
  if (usable.ok()) usable = check_sealed(**idx, segment);
  // Its blocks are verified now, once, so that no read meets a damaged one.
  if (usable.ok() && !(*idx)->verify_all()) usable = Status::corruption(idx_path + ": a block fails its checksum");
  if (usable.ok() && ((*idx)->header().first_position != first || (*idx)->end_position() != end)) {
    usable = Status::corruption(idx_path + ": covers positions other than its segment's");
  }
  bool rebuilt = !usable.ok();
  if (rebuilt) {
    info(c.options, "index file not used (" + usable.message() + "); rebuilding it from " + segment.path());
    idx = rebuilt_index(c, segment, sequence, idx_path);
    if (!idx.ok()) return idx.status();
    if ((*idx)->header().first_position != first || (*idx)->end_position() != end) {
      return Status::corruption(segment.path() + ": holds positions " + std::to_string((*idx)->header().first_position) +
                                " to " + std::to_string((*idx)->end_position()) + ", its name and the next segment's say " +
                                std::to_string(first) + " to " + std::to_string(end));
    }
  }
  segment.set_sealed_end((*idx)->header().data_end + format::kFooterFrameSize);
  return SegmentIndexSlot::Loaded{std::move(*idx), rebuilt};
}

uint64_t named_first_position(const Segment& segment) {
  auto name = format::parse_segment_file_name(segment.file_name());
  return name ? name->first_position : 0;  // recovery listed the segments by their names
}

// The runs an open uses: from segment 1 on, at each step the longest run
// starting at the next segment (shorter ones are what a merge replaced).
std::vector<format::RunName> run_chain(const std::vector<std::string>& names) {
  std::map<uint64_t, uint64_t> longest;  // first segment -> last segment
  for (const std::string& name : names) {
    if (auto run = format::parse_streams_run_file_name(name)) {
      uint64_t& last = longest[run->first_segment];
      last = std::max(last, run->last_segment);
    }
  }
  std::vector<format::RunName> chain;
  for (auto it = longest.find(1); it != longest.end(); it = longest.find(it->second + 1)) {
    chain.push_back({it->first, it->second});
  }
  return chain;
}

// Each run of `chain` mapped and checked against the store and the log: all
// but the newest end where the segment after theirs starts.
Result<std::shared_ptr<const index::StreamDirectory>> open_directory(FileSystem& fs, const std::string& dir,
                                                                     const std::vector<format::RunName>& chain,
                                                                     const format::StoreId& store_id,
                                                                     const std::vector<Segment*>& segments) {
  std::vector<std::shared_ptr<const index::StreamRun>> runs;
  for (const format::RunName& name : chain) {
    std::string path = dir + "/" + format::streams_run_file_name(name.first_segment, name.last_segment);
    auto file = map_file(fs, path);
    if (!file.ok()) return file.status();
    auto run = index::StreamRun::open(file->bytes, file->mapping, path);
    if (!run.ok()) return run.status();
    const format::StreamsHeader& h = (*run)->header();
    if (h.store_id != store_id) return Status::corruption(path + ": belongs to another store");
    if (h.first_segment != name.first_segment || h.last_segment != name.last_segment) {
      return Status::corruption(path + ": its header says it covers segments " + std::to_string(h.first_segment) +
                                " to " + std::to_string(h.last_segment));
    }
    bool newest = &name == &chain.back();
    // All but the newest run are followed by a segment of the log.
    if (h.last_segment + (newest ? 0 : 1) > segments.size()) {
      return Status::corruption(path + ": covers segments up to " + std::to_string(h.last_segment) +
                                ", the log has " + std::to_string(segments.size()));
    }
    if (!newest && h.end_position != named_first_position(*segments[h.last_segment])) {
      return Status::corruption(path + ": ends at position " + std::to_string(h.end_position) + ", segment " +
                                std::to_string(h.last_segment + 1) + " starts at " +
                                std::to_string(named_first_position(*segments[h.last_segment])));
    }
    runs.push_back(std::move(*run));
  }
  return std::make_shared<const index::StreamDirectory>(std::move(runs));
}

Result<LoadedCheckpoint> try_load(FileSystem& fs, const std::string& dir, const std::vector<format::RunName>& chain,
                                  const format::StoreId& store_id, const std::vector<Segment*>& segments,
                                  const Options& options) {
  auto directory = open_directory(fs, dir, chain, store_id, segments);
  if (!directory.ok()) return directory.status();
  const std::string& path = (*directory)->path();
  const uint64_t end_position = (*directory)->end_position();
  LoadedCheckpoint out;
  out.checkpoint.end = end_position;
  // Every segment before the last indexed one is sealed: deferred.
  auto context = std::make_shared<const DeferredContext>(DeferredContext{&fs, dir, store_id, options});
  const uint64_t last = (*directory)->last_segment() - 1;
  for (uint64_t i = 0; i < last; ++i) {
    Segment* segment = segments[i];
    uint64_t first = named_first_position(*segment), end = named_first_position(*segments[i + 1]);
    auto loader = [context, segment, sequence = i + 1, first, end] {
      return load_deferred(*context, *segment, sequence, first, end);
    };
    out.checkpoint.segments.push_back(std::make_shared<const SegmentIndexSlot>(first, end, std::move(loader)));
  }
  Segment& segment = *segments[last];
  if (Status s = segment.load(); !s.ok()) return s;
  std::string idx_path = dir + "/" + segment_index_file_name(last + 1);
  auto idx = open_index(fs, idx_path, segment, store_id, last + 1);
  if (!idx.ok()) return idx.status();
  const auto& h = (*idx)->header();
  if (h.first_position != named_first_position(segment)) return Status::corruption(idx_path + ": indexes another segment");
  // The last index may reach past the directory: a crash after a sealed
  // segment's index replaced its partial one and before its run was written.
  // The checkpoint then ends at the newest run's end, inside that segment.
  bool beyond = (*idx)->end_position() > end_position && h.sealed();
  if ((*idx)->end_position() != end_position && !beyond) {
    return Status::corruption(idx_path + ": ends at position " + std::to_string((*idx)->end_position()) + ", " +
                              path + " at " + std::to_string(end_position));
  }
  Status bound = h.sealed() ? check_sealed(**idx, segment) : check_partial(**idx, segment);
  if (!bound.ok()) return bound;
  if (beyond) {
    auto resume = resume_point(**idx, end_position, segment);
    if (!resume.ok()) return resume.status();
    out.last_partial = true;
    out.resume_offset = resume->offset;
    out.resume_batches = resume->batches;
    out.resume_events = end_position - h.first_position;
  } else if (!h.sealed()) {
    out.last_partial = true;
    out.resume_offset = h.data_end;
    out.resume_batches = h.batch_count;
    out.resume_events = h.event_count;
  }
  out.checkpoint.segments.push_back(std::make_shared<const SegmentIndexSlot>(std::move(*idx)));
  out.checkpoint.directory = std::move(*directory);
  return out;
}

}  // namespace

Result<MappedFile> map_file(FileSystem& fs, const std::string& path) {
  auto file = fs.open(path, OpenMode::kRead);
  if (!file.ok()) return file.status();
  auto size = (*file)->size();
  if (!size.ok()) return size.status();
  if (*size == 0) return MappedFile{nullptr, {}};
  auto mapping = (*file)->map(*size);
  if (!mapping.ok()) return mapping.status();
  return MappedFile{*mapping, std::string_view((*mapping)->data(), *size)};
}

std::string segment_index_file_name(uint64_t sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llu", static_cast<unsigned long long>(sequence));
  return std::string(buf) + std::string(kIndexSuffix);
}

bool is_segment_index_file_name(std::string_view name) {
  return name.size() > kIndexSuffix.size() && name.substr(name.size() - kIndexSuffix.size()) == kIndexSuffix;
}

std::optional<LoadedCheckpoint> load_checkpoint(FileSystem& fs, const std::string& dir,
                                                const std::vector<std::string>& names,
                                                const format::StoreId& store_id,
                                                const std::vector<Segment*>& segments, const Options& options,
                                                std::string& why_not) {
  auto chain = run_chain(names);
  if (chain.empty()) {
    why_not = "no index checkpoint (no stream directory run " + std::string(format::kStreamsFilePrefix) +
              "00000001-*)";
    return std::nullopt;
  }
  auto loaded = try_load(fs, dir, chain, store_id, segments, options);
  if (!loaded.ok()) {
    why_not = "index checkpoint not used: " + loaded.status().message();
    return std::nullopt;
  }
  return std::move(*loaded);
}

// ---------------------------------------------------------------- writing

CheckpointWriter::CheckpointWriter(FileSystem& fs, std::string dir, format::StoreId store_id, char separator,
                                   const Log::Checkpoint* loaded)
    : fs_(fs), dir_(std::move(dir)), store_id_(store_id), separator_(separator) {
  if (!loaded || !loaded->directory) return;
  for (const auto& slot : loaded->segments) {
    if (slot->sealed()) sealed_.push_back(slot);
    else partial_ = slot->loaded();
  }
  directory_ = loaded->directory;
  runs_ = directory_->runs();
  indexed_ = sealed_.size();
  // The newest run covers a partial index, or only part of a sealed one (see try_load).
  last_run_partial_ = partial_ || (!sealed_.empty() && sealed_.back()->end_position() > directory_->end_position());
}

Result<BuiltIndex> build_segment_index(const Segment& segment, uint64_t data_end, const format::StoreId& store_id,
                                       uint64_t sequence, char separator, bool sealed) {
  std::string_view file = segment.bytes(0, data_end);
  auto header = format::decode_segment_header(file, segment.path());
  if (!header.ok()) return header.status();
  index::SegmentIndexBuilder builder(store_id, sequence, header->first_position);
  index::SegmentBitmaps bitmaps(separator);
  format::ScanOptions options{/*is_last=*/true, /*stop_at_corruption=*/false};
  auto scan = format::scan_segment(file, segment.path(), options, [&](const format::ScannedBatch& b) {
    builder.add(b.offset, b.frame_size, format::get_u64(file.data() + b.offset), b.batch);
    index::add_batch(bitmaps, b.batch, header->first_position);
    return Status();
  });
  if (!scan.ok()) return scan.status();
  if (scan->torn) return Status::corruption(format::file_offset(segment.path(), scan->data_end) + ": " + scan->torn_reason);
  std::string encoded;
  bitmaps.encode(encoded);
  return BuiltIndex{builder.finish(sealed, encoded), scan->footer.has_value()};
}

Status check_content_hash(const Segment& segment) {
  uint64_t end = segment.sealed_end();
  if (end < format::kSegmentHeaderSize + format::kFooterFrameSize) {
    return Status::corruption(segment.path() + ": not sealed");
  }
  uint64_t data_end = end - format::kFooterFrameSize;
  std::string where = format::file_offset(segment.path(), data_end);
  auto footer = footer_at(segment.bytes(data_end, format::kFooterFrameSize), where,
                          where + ": no footer where the segment ends");
  if (!footer.ok()) return footer.status();
  uint64_t begin = format::kSegmentHeaderSize;
  // 8 MiB at a time, each unmapped again once hashed (the resident set
  // would otherwise grow by every segment indexed).
  constexpr uint64_t kStep = 8u << 20;
  format::StreamingChecksum hash;
  for (uint64_t at = begin; at < data_end; at += kStep) {
    uint64_t n = std::min(kStep, data_end - at);
    hash.update(segment.bytes(at, n));
    segment.drop_pages(at, n);
  }
  if (footer->data_end != data_end || hash.digest() != footer->content_hash) {
    return Status::corruption(format::file_offset(segment.path(), begin) +
                              ": the batches do not hash to the footer's content hash");
  }
  return Status();
}

Result<std::shared_ptr<const index::SegmentIndex>> CheckpointWriter::index_segment(
    const Segment& segment, uint64_t sequence, uint64_t data_end, bool sealed, const index::SegmentContents* contents) {
  std::string bytes;
  if (contents) {
    auto header = format::decode_segment_header(segment.bytes(0, format::kSegmentHeaderSize), segment.path());
    if (!header.ok()) return header.status();
    bytes = index::build_segment_index(store_id_, sequence, header->first_position, *contents, sealed);
  } else {
    auto built = build_segment_index(segment, data_end, store_id_, sequence, separator_, sealed);
    if (!built.ok()) return built.status();
    bytes = std::move(built->bytes);
  }
  std::string name = segment_index_file_name(sequence);
  auto written = write_and_map(name, std::move(bytes));
  if (!written.ok()) return written.status();
  auto idx = index::SegmentIndex::open(written->bytes, written->mapping, dir_ + "/" + name);
  if (!idx.ok()) return idx.status();
  return std::shared_ptr<const index::SegmentIndex>(std::move(*idx));
}

// Index files a lookup found damaged are written anew from their segments;
// a damaged directory is rebuilt from the segment indexes.
Status CheckpointWriter::repair(const std::vector<const Segment*>& segments, std::vector<size_t>* repaired) {
  for (size_t i = 0; i < sealed_.size(); ++i) {
    if (!needs_rewrite(*sealed_[i])) continue;
    auto idx = index_segment(*segments[i], i + 1, segments[i]->sealed_end(), true);
    if (!idx.ok()) return idx.status();
    sealed_[i] = std::make_shared<const SegmentIndexSlot>(*idx);
    if (repaired) repaired->push_back(i);
  }
  if (directory_ && directory_->damaged()) forget_directory();
  return Status();
}

std::shared_ptr<const index::SegmentIndex> CheckpointWriter::sealed_index(size_t ordinal) const {
  return sealed_[ordinal]->loaded();
}

// Unloaded slots are left alone: their blocks are checked as they are read.
bool CheckpointWriter::needs_rewrite(const SegmentIndexSlot& slot) {
  auto idx = slot.loaded();
  return slot.rebuilt() || (idx && idx->damaged());
}

std::optional<Log::Checkpoint> CheckpointWriter::sealed_checkpoint() const {
  if (!directory_ || sealed_.empty() || last_run_partial_ || directory_->last_segment() != sealed_.size()) {
    return std::nullopt;
  }
  return Log::Checkpoint{directory_, sealed_, sealed_.back()->end_position()};
}

size_t CheckpointWriter::scrub() const {
  size_t damaged = 0;
  for (const auto& slot : sealed_) {
    auto idx = slot->loaded();
    damaged += slot->rebuilt() || (idx && !idx->verify_all()) ? 1 : 0;
  }
  if (directory_) damaged += directory_->verify_all() ? 0 : 1;
  return damaged;
}

void CheckpointWriter::forget_directory() {
  runs_.clear();
  last_run_partial_ = false;
  directory_.reset();
  partial_.reset();
}

Status CheckpointWriter::write(const std::vector<const Segment*>& segments, size_t last, uint64_t data_end,
                               bool sealed, const index::SegmentContents* contents) {
  if (Status s = repair(segments); !s.ok()) return s;
  // Sealed segments before `last` that have no index yet (after a rebuild).
  for (size_t i = indexed_; i < last; ++i) {
    auto idx = index_segment(*segments[i], i + 1, segments[i]->sealed_end(), true);
    if (!idx.ok()) return idx.status();
    sealed_.push_back(std::make_shared<const SegmentIndexSlot>(*idx));
    indexed_ = sealed_.size();
  }
  std::shared_ptr<const index::SegmentIndex> partial;
  if (last >= indexed_) {
    auto idx = index_segment(*segments[last], last + 1, data_end, sealed, contents);
    if (!idx.ok()) return idx.status();
    if (sealed) {
      sealed_.push_back(std::make_shared<const SegmentIndexSlot>(*idx));
      indexed_ = sealed_.size();
    } else {
      partial = *idx;
    }
  }
  if (!partial && sealed_.empty()) return Status();
  Status first = write_runs(partial);
  if (first.code() != Code::kCorruption) return first;
  // Damage met while reading the old files (now marked): once more, from
  // repaired segment indexes alone. (A write that failed is not retried.)
  if (Status s = repair(segments); !s.ok()) return s;
  forget_directory();
  return write_runs(partial);
}

Status CheckpointWriter::write_runs(const std::shared_ptr<const index::SegmentIndex>& partial) {
  auto runs = runs_;
  if (last_run_partial_) runs.pop_back();
  uint64_t covered = runs.empty() ? 0 : runs.back()->last_segment();
  if (covered < sealed_.size()) {
    // The new run absorbs the runs before it until the one before is at
    // least twice its size, so each run is at least twice the next: at most
    // log2(segments) + 1 runs, and an entry is rewritten only when its run
    // grows half as big again. One segment at a time, this is a binary counter.
    uint64_t size = sealed_.size() - covered;
    size_t keep = runs.size();
    while (keep > 0 && runs[keep - 1]->segment_count() < 2 * size) size += runs[--keep]->segment_count();
    index::StreamRunBuilder builder;
    for (size_t i = keep; i < runs.size(); ++i) {
      if (Status s = builder.add_run(*runs[i]); !s.ok()) return s;
    }
    for (size_t i = covered; i < sealed_.size(); ++i) {
      auto idx = sealed_[i]->get();
      if (!idx.ok()) return idx.status();
      if (Status s = builder.add_segment(**idx); !s.ok()) return s;
    }
    auto run = write_run(builder, sealed_.back()->end_position(), sealed_.size() - size + 1, sealed_.size());
    if (!run.ok()) return run.status();
    runs.resize(keep);
    runs.push_back(std::move(*run));
  }
  if (partial) {
    index::StreamRunBuilder builder;
    if (Status s = builder.add_segment(*partial); !s.ok()) return s;
    uint64_t sequence = partial->header().sequence;
    auto run = write_run(builder, partial->end_position(), sequence, sequence);
    if (!run.ok()) return run.status();
    runs.push_back(std::move(*run));
  }
  runs_ = std::move(runs);
  last_run_partial_ = partial != nullptr;
  directory_ = std::make_shared<const index::StreamDirectory>(runs_);
  partial_ = partial;
  remove_stale_runs();
  return Status();
}

Result<std::shared_ptr<const index::StreamRun>> CheckpointWriter::write_run(const index::StreamRunBuilder& builder,
                                                                           uint64_t end_position, uint64_t first,
                                                                           uint64_t last) {
  std::string name = format::streams_run_file_name(first, last);
  auto file = write_and_map(name, builder.finish(store_id_, end_position, first, last));
  if (!file.ok()) return file.status();
  auto run = index::StreamRun::open(file->bytes, file->mapping, dir_ + "/" + name);
  if (!run.ok()) return run.status();
  return std::shared_ptr<const index::StreamRun>(std::move(*run));
}

// After the new run is durable, so a crash leaves either the old runs or
// the new one for an open to choose (run_chain). A file left behind (its
// unlink not yet durable, or failed) is harmless and removed next time.
void CheckpointWriter::remove_stale_runs() {
  auto names = fs_.list(dir_);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    auto run = format::parse_streams_run_file_name(name);
    bool current = run && std::any_of(runs_.begin(), runs_.end(), [&](const auto& r) {
      return r->first_segment() == run->first_segment && r->last_segment() == run->last_segment;
    });
    if ((run && !current) || name == format::kLegacyStreamsFileName) (void)fs_.remove(dir_ + "/" + name);
  }
}

bool CheckpointWriter::covers(size_t last, uint64_t data_end) const {
  if (!directory_ || !partial_ || directory_->damaged() || sealed_.size() != last) return false;
  const format::SegmentIndexHeader& h = partial_->header();
  if (h.sequence != last + 1 || h.data_end != data_end || directory_->last_segment() != last + 1 ||
      directory_->end_position() != partial_->end_position()) {
    return false;
  }
  for (const auto& slot : sealed_) {
    if (needs_rewrite(*slot)) return false;
  }
  return partial_->verify_all();
}

// Readers use the written file's mapping (the page cache), not a copy.
Result<MappedFile> CheckpointWriter::write_and_map(const std::string& name, std::string bytes) {
  if (Status s = write_file_atomically(fs_, dir_, name, bytes, /*replace=*/true); !s.ok()) return s;
  return map_file(fs_, dir_ + "/" + name);
}

}  // namespace cairn::engine
