#include "engine/segment_preparer.h"

#include "engine/thread_name.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace cairn::engine {
SegmentPreparer::SegmentPreparer(FileSystem& fs, std::string dir, uint64_t segment_bytes,
                                 std::function<void(std::string_view)> log, bool load_into_cache)
    : fs_(fs),
      dir_(std::move(dir)),
      segment_bytes_(segment_bytes),
      log_(std::move(log)),
      load_into_cache_(load_into_cache),
      zeros_(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, kZeroChunk))) {
  if (!zeros_) throw std::bad_alloc();
  std::memset(zeros_.get(), 0, kZeroChunk);
}

SegmentPreparer::~SegmentPreparer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (ready_.file) {
    ready_.file.reset();
    (void)fs_.remove(ready_.path);  // best effort: recovery removes it otherwise
  }
}

void SegmentPreparer::request() {
  std::lock_guard lock(mu_);
  if (ready_.file || busy_ || stopping_) return;
  wanted_ = true;
  // The thread starts with the first request, not with the store: an open
  // (and a store that never fills half a segment) does not pay for it.
  if (!thread_.joinable()) thread_ = std::thread([this] {
    name_this_thread("cairn-prepare");
    run();
  });
  cv_.notify_all();
}

SegmentPreparer::Prepared SegmentPreparer::take() {
  std::lock_guard lock(mu_);
  auto now = Clock::now();
  if (last_take_ != Clock::time_point{}) take_interval_ = now - last_take_;
  last_take_ = now;
  return std::exchange(ready_, Prepared{});
}

void SegmentPreparer::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || (!busy_ && !wanted_); });
}

void SegmentPreparer::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || wanted_; });
    if (stopping_) return;
    busy_ = true;
    wanted_ = false;
    std::string path = dir_ + "/next-" + std::to_string(next_number_++) + ".seg.tmp";
    lock.unlock();
    Status s = prepare(path);
    if (!s.ok()) (void)fs_.remove(path);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
    // A failure (ENOSPC, say) is logged; the writer then creates its segments
    // the ordinary way, and its next roll asks again.
    if (!s.ok() && !stopping_ && log_) log_("could not prepare the next segment file: " + s.message());
  }
}

// Zeros with O_DIRECT writes, fdatasync, then reads the file into the page
// cache (File::load_into_cache). The writer's small writes then land in
// cached pages (a buffered write to part of an uncached page reads it
// first), pages the device filled rather than a CPU: on the development VM
// a copy into fresh page cache cost about 2.5 ns a byte, so buffered zeros
// cost as much CPU as the log's own writes (DESIGN.md, "Prepared space").
// A direct write reaches the device before the next starts, so the zeros
// are paced as the appends' fdatasyncs need. Where O_DIRECT is refused, the
// zeros go through the page cache, each 1 MiB written back before the next.
// A log that fills segments faster than twice the time zeroing one took
// (`none` appends, large batches: a good part of the device's bandwidth)
// has no room for zeros that, with their read into the cache, cross the
// device twice per segment: its files get their blocks allocated but not
// written (fallocate; they read as zeros), or, where that is refused, zeros
// through the page cache, which cross it once (DESIGN.md, "Prepared space").
// A tail short of a page is written through the page cache either way. Only
// a complete, synced file is handed out; stopping midway leaves a partial
// file, which is removed.
Status SegmentPreparer::prepare(const std::string& path) {
  auto file = fs_.open(path, OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->truncate(0); !s.ok()) return s;
  const uint64_t aligned_end = segment_bytes_ / kDirectIoAlignment * kDirectIoAlignment;
  const bool outrun_now = outrun();
  if (outrun_now) {
    Status allocated = allocate_only(**file);
    if (!allocated.ok() && allocated.code() != Code::kNotSupported) return allocated;
    if (allocated.ok()) {
      std::lock_guard lock(mu_);
      ready_ = Prepared{std::move(*file), path};
      return Status();
    }
  }
  const auto started = Clock::now();
  uint64_t direct_end = 0;
  if (!direct_refused_ && !outrun_now && write_direct_zeros(path, aligned_end)) direct_end = aligned_end;
  if (Status s = write_zeros(**file, direct_end, segment_bytes_, /*write_back=*/true); !s.ok()) return s;
  if (Status s = (*file)->sync(); !s.ok()) return s;
  for (uint64_t at = 0; load_into_cache_ && at < direct_end; at += kCacheChunk) {
    if (stopping()) return Status::closed("store is closing");
    if (Status s = (*file)->load_into_cache(at, std::min(kCacheChunk, direct_end - at)); !s.ok()) return s;
  }
  std::lock_guard lock(mu_);
  if (!outrun_now) zeroing_time_ = Clock::now() - started;
  ready_ = Prepared{std::move(*file), path};
  return Status();
}

// The blocks reserved and the size set, synced: the writer's fdatasyncs
// then commit the conversion of the extents they wrote, a cost its large
// writes spread.
Status SegmentPreparer::allocate_only(File& file) {
  if (Status s = file.allocate(segment_bytes_); !s.ok()) return s;
  return file.sync();
}

// Any failure of the direct open or writes falls back to buffered zeros,
// for this file and the next ones: a file system may take O_DIRECT at the
// open and refuse the writes (EINVAL). A real I/O error fails the buffered
// zeros as well, and with them the preparation.
bool SegmentPreparer::write_direct_zeros(const std::string& path, uint64_t end) {
  auto direct = fs_.open(path, OpenMode::kReadWriteDirect);
  Status s = direct.ok() ? write_zeros(**direct, 0, end, /*write_back=*/false) : direct.status();
  if (s.ok()) return true;
  if (stopping()) return false;  // the buffered zeros stop too
  direct_refused_ = true;
  if (log_) log_("preparing segments without O_DIRECT from now on: " + s.message());
  return false;
}

// Writes zeros over [from, to) of `file` in kZeroChunk writes, each written
// back before the next when asked (buffered writes).
Status SegmentPreparer::write_zeros(File& file, uint64_t from, uint64_t to, bool write_back) {
  for (uint64_t at = from; at < to; at += kZeroChunk) {
    if (stopping()) return Status::closed("store is closing");
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, to - at));
    if (Status s = file.write_at(at, std::string_view(zeros_.get(), n)); !s.ok()) return s;
    if (!write_back) continue;
    if (Status s = file.write_back(at, n); !s.ok()) return s;
  }
  return Status();
}

bool SegmentPreparer::outruns_zeroing(Clock::duration take_interval, Clock::duration zeroing_time) {
  return take_interval > Clock::duration::zero() && zeroing_time > Clock::duration::zero() &&
         take_interval < 2 * zeroing_time;
}

// Decided afresh for each file, so a log that slows down gets zeros again.
// Not with a direct writer (its files are written whole with O_DIRECT, see
// load_into_cache). Not logged: an ordinary adaptation, nothing to act on.
bool SegmentPreparer::outrun() {
  if (!load_into_cache_) return false;
  std::lock_guard lock(mu_);
  return outruns_zeroing(take_interval_, zeroing_time_);
}

bool SegmentPreparer::stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

}  // namespace cairn::engine
