// Segment: one segment file of the log, its header, and a read-only mapping.
//
// Lifecycle: created (header written and synced, then renamed into place) ->
// active (batches appended at data_end) -> sealed (footer written; never
// written again). Readers use the mapping for bytes below the published
// position only; the writer alone appends.
#pragma once

#include "engine/io.h"
#include "format/footer.h"
#include "format/segment_header.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::engine {

class Segment {
 public:
  // Creates `dir/name` durably with `header` and nothing else: written to a
  // temporary name, synced, renamed, directory synced. `map_bytes` is the
  // mapping's size (the segment's maximum size).
  static Result<std::unique_ptr<Segment>> create(FileSystem& fs, const std::string& dir,
                                                 const std::string& name,
                                                 const format::SegmentHeader& header,
                                                 uint64_t map_bytes);
  // Makes the prepared (zero-filled, synced) file at `prepared_path` segment
  // `name`: header written and synced, renamed, directory synced. The file
  // keeps its size; the zeros past the data read as the end of the log.
  static Result<std::unique_ptr<Segment>> create_from_prepared(
      FileSystem& fs, const std::string& dir, const std::string& name,
      const format::SegmentHeader& header, uint64_t map_bytes, File& prepared,
      const std::string& prepared_path);
  // Opens an existing file for reading (and writing unless read_only) and maps
  // max(file size, map_bytes) bytes. The header is decoded by the caller.
  static Result<std::unique_ptr<Segment>> open(FileSystem& fs, const std::string& path,
                                               bool read_only, uint64_t map_bytes);

  const std::string& path() const { return path_; }
  std::string_view file_name() const;
  // Mapped bytes [0, size): callers stay below what was written or verified.
  std::string_view bytes(uint64_t offset, uint64_t size) const {
    return {mapping_->data() + offset, size};
  }
  uint64_t file_size_at_open() const { return file_size_at_open_; }
  uint64_t mapped_size() const { return mapping_->size(); }
  // The open file: present until close_file(). Only the writer uses it.
  File& file() { return *file_; }
  // Sealed segments keep only their mapping (which outlives the descriptor),
  // so a store with thousands of segments does not hold thousands of files open.
  void close_file() { file_.reset(); }
  // A sealed segment's end: the end of its footer frame (0 while active).
  uint64_t sealed_end() const { return sealed_end_.load(std::memory_order_acquire); }
  void set_sealed_end(uint64_t end) { sealed_end_.store(end, std::memory_order_release); }

 private:
  Segment(std::unique_ptr<File> file, std::shared_ptr<Mapping> mapping, uint64_t file_size)
      : path_(file->path()), file_(std::move(file)), mapping_(std::move(mapping)), file_size_at_open_(file_size) {}
  std::string path_;
  std::unique_ptr<File> file_;
  std::shared_ptr<Mapping> mapping_;
  uint64_t file_size_at_open_;
  std::atomic<uint64_t> sealed_end_{0};
};

}  // namespace cairn::engine
