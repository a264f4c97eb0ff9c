// Raw disk limits: what one write + fdatasync and sequential writes cost on
// the disk behind a directory, with plain syscalls and no engine code. Shared
// by cairn-disk-bench (the full matrix of write modes) and cairn-bench (the
// two limits it compares every run with, measured before each repetition).
//
// Every helper here dies (perror + exit 1) on a failed syscall: a benchmark
// that cannot write its scratch files has nothing to report.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace cairn::bench {

using Clock = std::chrono::steady_clock;

inline constexpr size_t kPage = 4096;
inline constexpr size_t kMiB = size_t{1} << 20;

[[noreturn]] void die(const std::string& what);
[[noreturn]] void die_errno(const std::string& what, int err);

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
inline double us_since(Clock::time_point t0) { return seconds_since(t0) * 1e6; }
inline size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
inline size_t round_down(size_t n, size_t to) { return n / to * to; }

// ---- timed operations --------------------------------------------------------

struct Sample {
  double seconds = 0;
  std::vector<double> lat_us;  // one per completed durable operation
};

struct Stats {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double mb_per_s = 0;  // ops * size / seconds, in 10^6 bytes
};

// Nearest-rank percentile, p in [0, 1].
double percentile(std::vector<double> v, double p);
inline double median(std::vector<double> v) { return percentile(std::move(v), 0.50); }
Stats summarize(const Sample& s, size_t size);

// Runs op(i) for i in [0, ops), timing each call.
template <class Op>
Sample timed_loop(int ops, Op op) {
  Sample s;
  s.lat_us.reserve(ops);
  auto start = Clock::now();
  for (int i = 0; i < ops; ++i) {
    auto t0 = Clock::now();
    op(static_cast<size_t>(i));
    s.lat_us.push_back(us_since(t0));
  }
  s.seconds = seconds_since(start);
  return s;
}

// ---- files -----------------------------------------------------------------------

int open_file(const std::string& path, int flags);
void write_all(int fd, const void* data, size_t n, size_t off);
void sync_data(int fd);

// How a scratch file is made ready for its writes before timing starts.
enum class Prep {
  kGrow,    // empty: every write extends the file
  kFalloc,  // fallocate(0)d: unwritten extents
  kZeroed,  // written full of zeros through the page cache
  kDirectZeroed,  // written full of zeros with O_DIRECT: on disk, not in the page cache
                  // (Cairn's preparer then reads its files into the cache)
};

// `size` bytes of kPage-aligned memory (for O_DIRECT), each set to `fill`.
using AlignedBuffer = std::unique_ptr<char, decltype(&std::free)>;
AlignedBuffer aligned_buffer(size_t size, char fill);

// Creates `path` ready for `bytes` of writes; everything, the inode included,
// is durable when it returns.
void prepare(const std::string& path, Prep prep, size_t bytes);

// A prepared file `dir/name` opened with `flags`; the destructor removes it
// and settles the removal (syncfs) so that it does not leak into the next
// measurement.
class ScratchFile {
 public:
  ScratchFile(const std::string& dir, const std::string& name, Prep prep, size_t bytes, int flags);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  int fd() const { return fd_; }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

// `ops` rounds of pwrite(rec) at the next offset + fdatasync.
Sample fdatasync_loop(int fd, const std::string& rec, int ops);

// ---- the two limits cairn-bench compares with ------------------------------------

struct RawLimits {
  size_t record_bytes = 0;
  // One pwrite of record_bytes + fdatasync, inside a pre-zeroed file.
  double fdatasync_p50_us = 0;
  double fdatasync_p99_us = 0;
  double fdatasync_ops_per_s = 0;
  // Sequential 1 MiB pwrites, each followed by fdatasync, into a pre-zeroed
  // file, in Cairn's write mode for large group commits: buffered, or
  // O_DIRECT from aligned memory when `direct` (Options::direct_io).
  double write_mb_per_s = 0;
  bool direct = false;
};

// Measures both in `dir` (scratch files, removed afterwards).
RawLimits measure_raw_limits(const std::string& dir, size_t record_bytes, bool direct = false, int ops = 1000,
                             size_t bandwidth_bytes = 256 * kMiB);

// The mean of two measurements of the same limits, taken before and after a
// run: the disk's fdatasync p50 moves by 10-30 % within minutes on a shared
// machine, and a ratio to the mean of both sides is less biased by that drift
// than a ratio to either side alone.
RawLimits averaged(const RawLimits& before, const RawLimits& after);

// ---- the machine -------------------------------------------------------------------

struct Machine {
  std::string kernel, fs_type, device, fua, write_cache;
  unsigned cpus = 0;
};

// Kernel, file system and block device behind `dir`.
Machine probe(const std::string& dir);

}  // namespace cairn::bench
