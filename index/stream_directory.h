// The stream directory (FORMAT.md §10.3): runs over consecutive ranges of
// segments, oldest first, together covering segments 1..last_segment. A
// stream's current version is in the newest run holding it; a version's
// segment in the newest run whose entries for the stream start at or before
// it. The writer keeps at most about log2(segments) runs (a new run absorbs
// the runs before it no larger than it), so a lookup probes that many tables
// and every entry is rewritten about log2(segments) times over the store's
// life, not once per seal.
#pragma once

#include "index/stream_run.h"

#include <cairn/status.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::index {

// A stream as the directory knows it: its slot in the newest run holding it.
struct DirectoryStream {
  format::StreamsSlot slot;
  uint32_t run = 0;  // index into runs()
};

class StreamDirectory {
 public:
  // `runs` must be consecutive: each starts at the segment after the one
  // before it ends, the first at segment 1 (the caller checked that).
  explicit StreamDirectory(std::vector<std::shared_ptr<const StreamRun>> runs) : runs_(std::move(runs)) {}

  const std::vector<std::shared_ptr<const StreamRun>>& runs() const { return runs_; }
  uint64_t end_position() const { return runs_.back()->header().end_position; }
  uint64_t last_segment() const { return runs_.back()->last_segment(); }
  // The newest run's path, for messages about the directory as a whole.
  const std::string& path() const { return runs_.back()->path(); }
  // A lookup met a block that failed its checksum: the runs must be rewritten.
  bool damaged() const;
  // Verifies every block of every run now; false if one is damaged.
  bool verify_all() const;

  Result<std::optional<DirectoryStream>> find(std::string_view name) const;
  // The entry (segment, first version there) of the segment holding
  // `version` of the stream `found` is.
  Result<format::StreamsEntry> segment_of(std::string_view name, const DirectoryStream& found,
                                          uint64_t version) const;

 private:
  std::vector<std::shared_ptr<const StreamRun>> runs_;
};

}  // namespace cairn::index
