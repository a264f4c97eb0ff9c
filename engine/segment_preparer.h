// SegmentPreparer: keeps the next segment file ready before the writer needs
// it, off the commit path. A prepared file is `dir/next-N.seg.tmp`, written
// full of zeros to the segment size and fdatasynced, so that appends into it
// are overwrites of allocated, written blocks: their fdatasync then has no
// file size or extent metadata to commit (on ext4 about 1.6 times faster
// than appends that grow the file, see DESIGN.md). The zeros are written
// with O_DIRECT where the file system takes it, and the file is then read
// into the page cache (unless the writer writes direct), so that the
// writer's small writes find their pages cached; elsewhere they go through
// the page cache.
//
// The writer asks for a file once its first active segment is half full and
// again right after each roll, takes it at the roll and gives it its header
// and name (Segment::create_from_prepared). Small stores never pay for a
// spare file. A store that closes, crashes or fails to prepare leaves at
// most one `next-N.seg.tmp`, which recovery removes (it is no segment yet).
#pragma once

#include "engine/io.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace cairn::engine {

class SegmentPreparer {
 public:
  struct Prepared {
    std::unique_ptr<File> file;
    std::string path;  // rename it to its segment name
  };

  // Prepares on a thread of its own, started by the first request().
  // `load_into_cache`: read each file into the page cache once zeroed (not
  // worth it when the writer writes direct: its writes drop those pages).
  SegmentPreparer(FileSystem& fs, std::string dir, uint64_t segment_bytes,
                  std::function<void(std::string_view)> log, bool load_into_cache = true);
  ~SegmentPreparer();  // stops, then removes an unused prepared file

  // Starts preparing a file unless one is ready or being prepared.
  void request();
  // The prepared file, if one is ready (file == nullptr otherwise: the caller
  // creates its segment the ordinary way rather than wait). The time between
  // takes is how fast the log fills segments (see prepare()).
  Prepared take();
  using Clock = std::chrono::steady_clock;
  // Whether a log that takes a file every `take_interval` outruns zero-filled
  // preparation, which took `zeroing_time` last (either unknown: no).
  static bool outruns_zeroing(Clock::duration take_interval, Clock::duration zeroing_time);
  // Waits until the file being prepared is ready or preparing failed (tests).
  void wait_idle();

 private:
  static constexpr uint64_t kZeroChunk = 1u << 20;
  static constexpr uint64_t kCacheChunk = 8u << 20;  // read into the cache between stop checks
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };

  void run();
  Status prepare(const std::string& path);
  Status write_zeros(File& file, uint64_t from, uint64_t to, bool write_back);
  // Zeros [0, end) of `path` with O_DIRECT; false (and direct_refused_) on failure.
  bool write_direct_zeros(const std::string& path, uint64_t end);
  bool outrun();
  Status allocate_only(File& file);
  bool stopping();

  FileSystem& fs_;
  const std::string dir_;
  const uint64_t segment_bytes_;
  const std::function<void(std::string_view)> log_;
  const bool load_into_cache_;
  bool direct_refused_ = false;  // the preparer thread's: a direct write failed once
  std::mutex mu_;
  std::condition_variable cv_;
  Prepared ready_;               // guarded by mu_
  Clock::time_point last_take_{};      // guarded by mu_
  Clock::duration take_interval_{};    // guarded by mu_: between the last two takes
  Clock::duration zeroing_time_{};     // guarded by mu_: the last zero-filled preparation
  uint64_t next_number_ = 0;     // guarded by mu_
  bool wanted_ = false;          // guarded by mu_: prepare another file
  bool stopping_ = false;        // guarded by mu_
  bool busy_ = false;            // guarded by mu_: preparing now
  std::thread thread_;           // started under mu_ by the first request()
  const std::unique_ptr<char, Free> zeros_;  // kZeroChunk zeros, page-aligned (direct writes)
};

}  // namespace cairn::engine
