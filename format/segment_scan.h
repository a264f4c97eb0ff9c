// Scanning a whole segment file's bytes: every frame checked, positions
// followed, the end of the data found, and a torn tail told apart from
// corruption (FORMAT.md §6). Pure bytes: used by recovery, verify and dump.
#pragma once

#include "format/batch.h"
#include "format/footer.h"
#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::format {

struct ScannedBatch {
  uint64_t offset = 0;      // of the frame in the file
  uint32_t frame_size = 0;
  BatchView batch;
};

struct SegmentScan {
  SegmentHeader header;
  uint64_t data_end = kSegmentHeaderSize;  // end of the last good batch frame
  uint64_t batch_count = 0;
  uint64_t event_count = 0;
  uint64_t content_hash = 0;               // XXH3-64 of [64, data_end) (0 if resumed and not sealed)
  std::optional<Footer> footer;            // set when the segment is sealed
  // A torn tail: bytes from data_end that are not a complete, valid frame and
  // that no later durable frame vouches for. Only the active (last) segment
  // may have one; `torn_reason` says what was found at data_end.
  bool torn = false;
  std::string torn_reason;
  // With ScanOptions::stop_at_corruption: the scan stopped at corruption
  // (torn_reason says where and what); data_end ends the intact prefix.
  bool corruption = false;
  // The scan ended where ScanOptions::clean_data_end says, and did not check
  // that only zeros follow (a clean close's record vouches for them).
  bool tail_check_skipped = false;
};

struct ScanOptions {
  // The last segment of a store may end in a torn tail and need not be sealed.
  bool is_last = false;
  // Stop at the first corruption and report what came before it, with
  // SegmentScan::corruption set (to open the intact prefix).
  bool stop_at_corruption = false;
  // Resume where an index checkpoint ends instead of at the first frame: the
  // offset of the next frame, and the batches and events before it (which
  // the scan trusts and does not read, except to check a footer's hash).
  uint64_t start_offset = 0;  // 0: the first frame
  uint64_t start_batches = 0;
  uint64_t start_events = 0;
  // A clean close's record (FORMAT.md §13): the last segment's frames end at
  // clean_data_end, at position clean_next_position, and only zeros follow.
  // When the scan ends there, it does not read the zeros (up to a whole
  // segment) to check them. 0: no record.
  uint64_t clean_data_end = 0;
  uint64_t clean_next_position = 0;
};

// Scans `file` (the whole file's bytes). `on_batch` sees each valid batch in
// order and may reject it (its Status is returned). Errors: the header's, or
// kCorruption naming `path` and the byte offset.
Result<SegmentScan> scan_segment(std::string_view file, const std::string& path,
                                 const ScanOptions& options,
                                 const std::function<Status(const ScannedBatch&)>& on_batch);

// "path at offset N": how Cairn names a place in a file.
std::string file_offset(const std::string& path, uint64_t offset);

}  // namespace cairn::format
