#include "engine/segment_preparer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace cairn::engine {
namespace {

constexpr size_t kZeroChunk = 1u << 20;
constexpr uint64_t kDirectAlign = 4096;

}  // namespace

SegmentPreparer::SegmentPreparer(FileSystem& fs, std::string dir, uint64_t segment_bytes,
                                 std::function<void(std::string_view)> log)
    : fs_(fs), dir_(std::move(dir)), segment_bytes_(segment_bytes), log_(std::move(log)) {
  thread_ = std::thread([this] { run(); });
}

SegmentPreparer::~SegmentPreparer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
  if (ready_.file) {
    ready_.file.reset();
    (void)fs_.remove(ready_.path);  // best effort: recovery removes it otherwise
  }
}

void SegmentPreparer::request() {
  std::lock_guard lock(mu_);
  if (ready_.file || busy_) return;
  wanted_ = true;
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

// Zeros in 1 MiB writes, then fdatasync. The zeros go around the page cache
// (O_DIRECT, where the file system has it): copying them into the cache would
// cost as much CPU as the data the writer copies in, and flushing them would
// compete with its fdatasyncs. The file is then reopened for ordinary writes.
// Only a complete, synced file is handed out. Stopping midway leaves a
// partial file, which is removed.
Status SegmentPreparer::prepare(const std::string& path) {
  auto direct = fs_.open(path, OpenMode::kCreateDirect);
  bool is_direct = direct.ok();
  auto file = is_direct ? std::move(direct) : fs_.open(path, OpenMode::kCreate);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->truncate(0); !s.ok()) return s;
  // Direct writes are 4 KiB multiples: a size between two is rounded up (the
  // zeros past segment_bytes are never written over).
  uint64_t size = is_direct ? (segment_bytes_ + kDirectAlign - 1) / kDirectAlign * kDirectAlign : segment_bytes_;
  std::unique_ptr<char, decltype(&std::free)> zeros(
      static_cast<char*>(std::aligned_alloc(kDirectAlign, kZeroChunk)), &std::free);
  std::memset(zeros.get(), 0, kZeroChunk);
  for (uint64_t at = 0; at < size; at += kZeroChunk) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::closed("store is closing");
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, size - at));
    if (Status s = (*file)->write_at(at, std::string_view(zeros.get(), n)); !s.ok()) return s;
  }
  if (Status s = (*file)->sync(); !s.ok()) return s;
  if (is_direct) {
    file = fs_.open(path, OpenMode::kReadWrite);
    if (!file.ok()) return file.status();
  }
  std::lock_guard lock(mu_);
  ready_ = Prepared{std::move(*file), path};
  return Status();
}

}  // namespace cairn::engine
