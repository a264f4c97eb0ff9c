// Opening a store directory: identity, lock, segments checked in order, the
// indexes rebuilt, a torn tail cut off, an active segment ready for the writer.
#pragma once

#include "engine/io.h"
#include "engine/log.h"
#include "engine/writer.h"
#include "format/segment_header.h"

#include <cairn/options.h>
#include <cairn/status.h>

#include <memory>
#include <string>
#include <vector>

namespace cairn::engine {

struct Recovered {
  format::StoreIdentity identity;
  std::unique_ptr<FileLock> lock;  // null when read-only
  std::unique_ptr<Log> log;
  ActiveSegment active;            // the segment to continue (writable opens only)
  bool read_only = false;          // read_only asked, or an intact prefix opened
  std::vector<std::string> notes;  // what recovery did (torn tail cut, ...)
  Log::Checkpoint checkpoint;      // the index checkpoint the open used (none: empty)
  uint64_t scanned_batches = 0;    // batches read from the log
  uint64_t deferred_segments = 0;  // sealed segments not opened (Segment::deferred)
  // A valid clean-close record of this store is on disk (matching the log
  // or not): a writable store invalidates it, durably, before it writes to
  // a segment (engine/clean_close.h).
  bool clean_record_found = false;
  // The clean close's record matched the log, so the zeros after the last
  // segment's frames were not read (FORMAT.md §13).
  bool tail_check_skipped = false;
};

Result<Recovered> recover(FileSystem& fs, const std::string& dir, const Options& options);

}  // namespace cairn::engine
