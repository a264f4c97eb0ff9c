// Segment: one segment file of the log, its header, and a read-only mapping.
//
// Lifecycle: created (header written and synced, then renamed into place) ->
// active (batches appended at data_end) -> sealed (footer written; never
// written again). Readers use the mapping for bytes below the published
// position only; the writer alone appends.
//
// A sealed segment that the index checkpoint covers is opened deferred: the
// open only knows its path, and the first load() opens, maps and checks it.
// bytes() and file_size_at_open() need a loaded segment.
#pragma once

#include "engine/io.h"
#include "format/footer.h"
#include "format/segment_header.h"

#include <atomic>
#include <functional>
#include <mutex>
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
  // A sealed segment opened read-only by its first load(), which then runs
  // `check` on its header bytes (the file's first kSegmentHeaderSize bytes,
  // or fewer when the file is shorter).
  using HeaderCheck = std::function<Status(std::string_view header_bytes)>;
  static std::unique_ptr<Segment> deferred(FileSystem& fs, std::string path, HeaderCheck check);
  // Opens and maps a deferred segment once (any thread); its error is kept.
  // A no-op for the others.
  Status load() const;

  const std::string& path() const { return path_; }
  std::string_view file_name() const;
  // Mapped bytes [0, size): callers stay below what was written or verified.
  std::string_view bytes(uint64_t offset, uint64_t size) const {
    return {data_.load(std::memory_order_acquire) + offset, size};
  }
  // Mapping::drop_pages for this segment's mapping (a loaded segment).
  void drop_pages(uint64_t offset, uint64_t length) const { mapping_->drop_pages(offset, length); }
  uint64_t file_size_at_open() const { return file_size_at_open_; }
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
      : path_(file->path()), file_(std::move(file)), mapping_(std::move(mapping)), file_size_at_open_(file_size) {
    data_.store(mapping_->data(), std::memory_order_release);
  }
  struct Loader {
    FileSystem* fs = nullptr;
    HeaderCheck check;
  };
  Segment(std::string path, Loader loader) : path_(std::move(path)), loader_(std::make_unique<Loader>(std::move(loader))) {}
  Status map_deferred() const;

  std::string path_;
  std::unique_ptr<File> file_;
  // Set at creation, or by the first load() of a deferred segment (under
  // load_mu_, before data_ is published).
  mutable std::shared_ptr<Mapping> mapping_;
  mutable uint64_t file_size_at_open_ = 0;
  mutable std::atomic<const char*> data_{nullptr};
  std::unique_ptr<Loader> loader_;  // deferred segments only
  mutable std::mutex load_mu_;
  mutable std::optional<Status> load_status_;
  std::atomic<uint64_t> sealed_end_{0};
};

}  // namespace cairn::engine
