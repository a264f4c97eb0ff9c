// The index checkpoint on disk (FORMAT.md §10): stream directory runs
// (STREAMS-FFFFFFFF-LLLLLLLL) covering positions [0, end) and an SSSSSSSS.idx
// file for each segment holding them, the last one possibly covering only a
// prefix of its segment.
//
// Loading trusts nothing it cannot check cheaply: identity, sequences, first
// positions and counts against the segment headers, and each index against
// its segment's footer (sealed) or last covered frame (partial). The open
// checks the runs and the last index so; a mismatch there makes the
// checkpoint unusable and the open scans the log instead. The indexes of the
// sealed segments before are checked when first loaded, and one that fails
// is rebuilt from its segment: index files are derived data, never a reason
// to refuse an open or a read.
#pragma once

#include "engine/io.h"
#include "engine/log.h"
#include "engine/segment.h"
#include "format/segment_header.h"

#include <cairn/options.h>

#include <cairn/status.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cairn::engine {

std::string segment_index_file_name(uint64_t sequence);

// A whole file, mapped read-only (empty: no mapping).
struct MappedFile {
  std::shared_ptr<Mapping> mapping;
  std::string_view bytes;
};
Result<MappedFile> map_file(FileSystem& fs, const std::string& path);
bool is_segment_index_file_name(std::string_view name);

struct LoadedCheckpoint {
  Log::Checkpoint checkpoint;
  // The last indexed segment's index covers only its first batches: the scan
  // resumes there.
  bool last_partial = false;
  uint64_t resume_offset = 0;
  uint64_t resume_batches = 0;
  uint64_t resume_events = 0;
};

// `segments[i]` is the segment with sequence i + 1. Returns nullopt
// with `why_not` set when there is no usable checkpoint.
// The index of every segment before the last indexed one is loaded on first
// use (SegmentIndexSlot), with its segment (Segment::deferred): checked
// against the segment's footer and the positions the file names give, and
// rebuilt from the segment (with an info line) when its file is unusable.
std::optional<LoadedCheckpoint> load_checkpoint(FileSystem& fs, const std::string& dir,
                                                const std::vector<std::string>& names,
                                                const format::StoreId& store_id,
                                                const std::vector<Segment*>& segments, const Options& options,
                                                std::string& why_not);

// A segment index made from the batches of `segment` below `data_end`
// (marked sealed when `sealed`); has_footer says whether a footer follows them.
struct BuiltIndex {
  std::string bytes;
  bool has_footer = false;
};
Result<BuiltIndex> build_segment_index(const Segment& segment, uint64_t data_end, const format::StoreId& store_id,
                                       uint64_t sequence, char separator, bool sealed);

// Whether sealed `segment`'s batch bytes hash to its footer's content hash
// (kCorruption naming the file and offset otherwise).
Status check_content_hash(const Segment& segment);

// Writing checkpoints: index files for segments as they are sealed (and for
// the active segment's prefix at close), then a stream directory run over them.
class CheckpointWriter {
 public:
  // `loaded` is what the open found (nothing: the next checkpoint indexes every segment).
  // `separator` makes the category bitmaps (Options::category_separator).
  CheckpointWriter(FileSystem& fs, std::string dir, format::StoreId store_id, char separator,
                   const Log::Checkpoint* loaded);
  // Indexes segment `last` (its batches below `data_end`, which is its
  // sealed_end when `sealed`) and every earlier segment not yet indexed,
  // then a directory run covering them. Segments must stay unchanged below
  // data_end. `contents`, when given, is what the in-memory indexes hold of
  // segment `last`'s batches (Log::segment_contents): its index is made
  // from them instead of reading the segment.
  Status write(const std::vector<const Segment*>& segments, size_t last, uint64_t data_end, bool sealed,
               const index::SegmentContents* contents = nullptr);
  // Verifies every block of the index files the open loaded (which it
  // checked only in part); the next write() rewrites those found damaged.
  // Returns how many files are damaged.
  size_t scrub() const;
  // Writes anew, from their segments, the sealed segments' index files found
  // damaged (by scrub() or a lookup), adding their ordinals to `repaired`; a
  // damaged directory is rebuilt by the next write().
  Status repair(const std::vector<const Segment*>& segments, std::vector<size_t>* repaired = nullptr);
  std::shared_ptr<const index::SegmentIndex> sealed_index(size_t ordinal) const;
  // The checkpoint of the sealed segments' index files, when the last
  // write() covered exactly them (nullopt after a partial write).
  std::optional<Log::Checkpoint> sealed_checkpoint() const;
  // Segments whose index files this writer knows are whole and current.
  size_t indexed() const { return indexed_; }
  // Whether the files on disk already are what write(segments, last,
  // data_end, false) would write: an undamaged directory over every sealed
  // index and an undamaged index of segment `last` up to data_end (a store
  // closed again with nothing appended).
  bool covers(size_t last, uint64_t data_end) const;

 private:
  Result<std::shared_ptr<const index::SegmentIndex>> index_segment(const Segment& segment, uint64_t sequence,
                                                                  uint64_t data_end, bool sealed,
                                                                  const index::SegmentContents* contents = nullptr);
  void forget_directory();
  // A loaded index rebuilt in memory or found damaged: its file is written anew.
  static bool needs_rewrite(const SegmentIndexSlot& slot);
  // New runs over the sealed indexes the runs do not cover yet (one run,
  // absorbing the runs before it smaller than twice its size) and over `partial`.
  Status write_runs(const std::shared_ptr<const index::SegmentIndex>& partial);
  Result<std::shared_ptr<const index::StreamRun>> write_run(const index::StreamRunBuilder& builder,
                                                            uint64_t end_position, uint64_t first, uint64_t last);
  // Run files no longer in runs_ (merged, replaced, or a version 1 STREAMS).
  void remove_stale_runs();
  Result<MappedFile> write_and_map(const std::string& name, std::string bytes);
  FileSystem& fs_;
  std::string dir_;
  format::StoreId store_id_;
  char separator_;
  // Sealed segments with index files, in order.
  SegmentIndexSlots sealed_;
  // The stream directory's runs, oldest first, and the directory over them
  // (null when there are none). The newest run may cover only a prefix of its
  // one segment (written at a clean close, or left by a crash after the
  // segment's sealed index and before its run): it is replaced first.
  std::vector<std::shared_ptr<const index::StreamRun>> runs_;
  bool last_run_partial_ = false;
  std::shared_ptr<const index::StreamDirectory> directory_;
  size_t indexed_ = 0;             // == sealed_.size()
  std::shared_ptr<const index::SegmentIndex> partial_;  // the unsealed segment's, when the newest run covers it
};

}  // namespace cairn::engine
