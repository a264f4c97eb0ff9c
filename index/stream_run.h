// One run of the stream directory (a STREAMS-FFFFFFFF-LLLLLLLL file, FORMAT.md
// §10.3): for every stream with events in segments F..L, its version count
// and the position of its last event as of the run's end, and which of those
// segments hold it, each with the stream's first version there. A mapped
// open-addressing table: finding a stream is O(1) expected, the segment of a
// version O(log segments of the stream); nothing is loaded into memory on open.
#pragma once

#include "format/index_file.h"
#include "index/segment_index.h"
#include "index/verified_blocks.h"

#include <cairn/status.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cairn::index {

class StreamRun {
 public:
  static Result<std::unique_ptr<StreamRun>> open(std::string_view file, std::shared_ptr<const void> keep,
                                                 const std::string& path, HashFn hash = format::stream_hash);
  const format::StreamsHeader& header() const { return header_; }
  uint64_t first_segment() const { return header_.first_segment; }
  uint64_t last_segment() const { return header_.last_segment; }
  uint64_t segment_count() const { return header_.last_segment - header_.first_segment + 1; }
  const std::string& path() const { return blocks_.path(); }
  // A lookup met a block that failed its checksum: the file must be rewritten.
  bool damaged() const { return blocks_.damaged(); }
  // Verifies every block now (a background scrub); false if one is damaged.
  bool verify_all() const { return blocks_.verify_all(); }

  Result<std::optional<format::StreamsSlot>> find(std::string_view name) const;
  // The entry (segment, first version there) of `slot`'s segment holding `version`.
  Result<format::StreamsEntry> segment_of(const format::StreamsSlot& slot, uint64_t version) const;
  Result<format::StreamsEntry> entry(uint64_t i) const;
  // Every stream with its entries.
  Status for_each_stream(const std::function<Status(std::string_view name, const format::StreamsSlot&)>& fn) const;

 private:
  StreamRun(format::StreamsHeader h, format::IndexFile file, std::shared_ptr<const void> keep, const std::string& path,
            HashFn hash)
      : header_(h), layout_(format::streams_layout(h)), blocks_(file, path), keep_(std::move(keep)), hash_(hash) {}
  Result<format::StreamsSlot> slot_at(uint64_t i) const;
  Result<std::string_view> name_of(const format::StreamsSlot& s) const;
  Status corrupt(uint64_t body_offset, const std::string& what) const;

  format::StreamsHeader header_;
  format::StreamsLayout layout_;
  VerifiedBlocks blocks_;
  std::shared_ptr<const void> keep_;
  HashFn hash_;
};

// Makes a run file: from consecutive runs and segment indexes, added oldest
// first (a segment's entries replace any an earlier addition has for the
// same segment: a segment indexed in part at a clean close, then whole).
class StreamRunBuilder {
 public:
  explicit StreamRunBuilder(HashFn hash = format::stream_hash) : hash_(hash) {}
  Status add_run(const StreamRun& run);
  Status add_segment(const SegmentIndex& segment);
  std::string finish(const format::StoreId& store_id, uint64_t end_position, uint64_t first_segment,
                     uint64_t last_segment) const;
  size_t stream_count() const { return streams_.size(); }

 private:
  struct Stream {
    uint64_t next_version = 0;
    uint64_t last_position = 0;
    std::vector<format::StreamsEntry> entries;
  };
  Stream& stream(std::string_view name);
  HashFn hash_;
  NameMap<Stream> streams_;
};

}  // namespace cairn::index
