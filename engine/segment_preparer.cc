#include "engine/segment_preparer.h"

#include "engine/thread_name.h"

#include <algorithm>
#include <string>

namespace cairn::engine {
namespace {

constexpr size_t kZeroChunk = 1u << 20;

}  // namespace

SegmentPreparer::SegmentPreparer(FileSystem& fs, std::string dir, uint64_t segment_bytes,
                                 std::function<void(std::string_view)> log)
    : fs_(fs), dir_(std::move(dir)), segment_bytes_(segment_bytes), log_(std::move(log)) {}

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

// Zeros in 1 MiB writes, each written back before the next (File::write_back:
// 64 MiB of zeros left to one fdatasync reached the device at once, and the
// appends' fdatasyncs queued behind them: p99 38-44 ms instead of 31-37 ms
// for 1,000 x 1 KiB batches), then fdatasync. Only a complete, synced file
// is handed out. Stopping midway leaves a partial file, which is removed.
Status SegmentPreparer::prepare(const std::string& path) {
  auto file = fs_.open(path, OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->truncate(0); !s.ok()) return s;
  std::string zeros(kZeroChunk, '\0');
  for (uint64_t at = 0; at < segment_bytes_; at += kZeroChunk) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::closed("store is closing");
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, segment_bytes_ - at));
    if (Status s = (*file)->write_at(at, std::string_view(zeros.data(), n)); !s.ok()) return s;
    if (Status s = (*file)->write_back(at, n); !s.ok()) return s;
  }
  if (Status s = (*file)->sync(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  ready_ = Prepared{std::move(*file), path};
  return Status();
}

}  // namespace cairn::engine
