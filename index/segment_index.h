// The index of one segment (an SSSSSSSS.idx file, FORMAT.md §10.2): where
// each batch is, which streams the segment holds and where each of their
// versions is, and the segment's type and category bitmaps.
//
// SegmentIndexBuilder makes the file from the segment's batches in order;
// SegmentIndex reads a mapped file, verifying each body block on first use.
#pragma once

#include "format/batch.h"
#include "format/index_file.h"
#include "index/stream_index.h"
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

// The stream-name hash of index files; tests inject colliding ones.
using HashFn = uint64_t (*)(std::string_view);

// Builders' maps by stream name, looked up with a string_view (no copy of
// the name unless it is new).
struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename T>
using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;

// What an index file is made of, as the in-memory indexes know it (no need
// to read the segment again): its batches in log order, each `stream` a
// key into `names`, the encoded bitmaps section, and the last frame's
// checksum field.
struct SegmentContents {
  std::vector<BatchLocation> batches;
  std::vector<std::string> names;
  std::string bitmaps;
  uint64_t last_frame_checksum = 0;
};

class SegmentIndexBuilder {
 public:
  SegmentIndexBuilder(const format::StoreId& store_id, uint64_t sequence, uint64_t first_position,
                      HashFn hash = format::stream_hash);
  // Batches in log order: the frame's offset, size and checksum field. The
  // two add()s are not mixed in one builder (their stream keys differ).
  void add(uint64_t offset, uint32_t frame_size, uint64_t frame_checksum, const format::BatchView& batch);
  // A batch whose stream the caller keys: `batch.stream` (a small integer,
  // the same for every batch of one stream) names `stream_name`.
  void add(const BatchLocation& batch, std::string_view stream_name, uint64_t frame_checksum);
  uint64_t batch_count() const { return batches_.size(); }
  // The file's bytes; `sealed` when the batches are the whole sealed
  // segment; `bitmaps` is the encoded bitmaps section.
  std::string finish(bool sealed, std::string_view bitmaps) const;

 private:
  struct Stream {
    std::string name;
    uint64_t first_version = 0;
    std::vector<format::IndexListEntry> list;
  };
  format::SegmentIndexHeader header_;
  HashFn hash_;
  std::vector<format::IndexBatch> batches_;
  // finish() orders them by hash and name.
  std::vector<Stream> streams_;
  std::vector<uint32_t> stream_of_key_;  // key -> streams_ index + 1 (0: not yet seen)
  NameMap<uint32_t> key_of_name_;        // the first add()'s keys
};

// The index file of a segment from what the in-memory indexes hold of it.
std::string build_segment_index(const format::StoreId& store_id, uint64_t sequence, uint64_t first_position,
                                const SegmentContents& contents, bool sealed);

class SegmentIndex {
 public:
  // `file` stays mapped while `keep` lives. Checks the header and block table
  // only; body blocks are checked as they are read.
  static Result<std::unique_ptr<SegmentIndex>> open(std::string_view file, std::shared_ptr<const void> keep,
                                                    const std::string& path, HashFn hash = format::stream_hash);

  const format::SegmentIndexHeader& header() const { return header_; }
  const std::string& path() const { return blocks_.path(); }
  // A lookup met a block that failed its checksum: the file must be rewritten.
  bool damaged() const { return blocks_.damaged(); }
  // Verifies every block now (a background scrub); false if one is damaged.
  bool verify_all() const { return blocks_.verify_all(); }
  uint64_t end_position() const { return header_.first_position + header_.event_count; }

  Result<format::IndexBatch> batch(uint64_t ordinal) const;
  // The ordinal of the batch holding `position` (inside the covered range).
  Result<uint64_t> find_batch(uint64_t position) const;
  Result<std::optional<format::SegmentIndexStream>> find_stream(std::string_view name) const;
  // The batch of `stream` holding `version` (one of its versions here).
  struct VersionHit {
    uint64_t batch = 0;
    uint64_t first_version = 0;  // of that batch
  };
  Result<VersionHit> find_version(const format::SegmentIndexStream& stream, uint64_t version) const;
  // Versions of `stream` in this segment, and the position of its last one.
  struct StreamSpan {
    uint64_t version_count = 0;
    uint64_t last_position = 0;
  };
  Result<StreamSpan> span(const format::SegmentIndexStream& stream) const;
  Result<std::string_view> stream_name(const format::SegmentIndexStream& stream) const;
  Result<std::string_view> bitmaps() const;
  // Every stream, in file order.
  Status for_each_stream(const std::function<Status(std::string_view name, const format::SegmentIndexStream&)>& fn) const;

 private:
  SegmentIndex(format::SegmentIndexHeader h, format::IndexFile file, std::shared_ptr<const void> keep,
               const std::string& path, HashFn hash)
      : header_(h), layout_(format::segment_index_layout(h)), blocks_(file, path), keep_(std::move(keep)), hash_(hash) {}
  Result<format::SegmentIndexStream> stream_at(uint64_t i) const;
  Result<format::IndexListEntry> list_entry(uint64_t i) const;
  Status corrupt(uint64_t body_offset, const std::string& what) const;

  format::SegmentIndexHeader header_;
  format::SegmentIndexLayout layout_;
  VerifiedBlocks blocks_;
  std::shared_ptr<const void> keep_;
  HashFn hash_;
};

}  // namespace cairn::index
