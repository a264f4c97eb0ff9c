// cairn-disk-bench: the raw write + durability costs Cairn's write path chooses
// between, measured on the disk behind --dir. No engine code: plain syscalls
// and io_uring. The modes run interleaved within each round (the order rotates
// from round to round) and each row reports its median round, so the ratios
// between rows hold on a noisy shared machine.
//
//   cairn-disk-bench [--dir D] [--ops N] [--rounds R] [--json] [--only NAME,NAME]
//
// Each measurement is N operations in a fresh file, prepared before timing:
//   grow                 pwrite at EOF + fdatasync (the file grows)
//   falloc               pwrite into fallocate(0)d space (unwritten extents) + fdatasync
//   zeroed               pwrite into a zero-filled, synced file + fdatasync
//   zeroed-rwf-dsync     pwritev2(RWF_DSYNC) into a zero-filled file
//   direct-zeroed        O_DIRECT write of the 4 KiB block(s) holding the record + fdatasync
//   direct-dsync         the same with O_DIRECT|O_DSYNC and no fdatasync
//   uring-linked-zeroed  io_uring WRITE linked to FSYNC(DATASYNC), one submit, both CQEs
//   pipelined-zeroed     io_uring, `depth` linked write+fsync pairs kept in flight
//   pipelined-threads    `depth` threads each doing pwrite + fdatasync on the same file
//   group-commit         `depth` threads each appending one record and waiting for it
//                        to be durable; a leader thread writes everything queued with one
//                        pwrite + fdatasync (waiting up to 100 us for all `depth`), then
//                        wakes them: the ceiling of any group commit of synchronous
//                        appenders on this machine, with no encoding, index or checksum
//                        (200 B only; "x W/zeroed" = ops/s / (depth x zeroed ops/s))
//   bw-buffered          256 MiB as 1 MiB writes + fdatasync each, buffered
//   bw-direct            the same with O_DIRECT
//   bw-sustained         1 GiB as 1 MiB writes + fdatasync each, into a run of 64 MiB
//                        files that a second thread prepares one file ahead of the
//                        writer, which waits when the next is not ready, as Cairn's
//                        segment preparer does: zeros written with O_DIRECT (1 MiB
//                        writes), fdatasync, then read into the page cache without
//                        readahead. No encoding, index or checksum. Each byte reaches
//                        the device twice, where bw-buffered rewrites 256 MiB already
//                        cached ("x bw-buffered" = MB/s ratio)
//   bw-sustained-zeroed  the same with buffered zeros, each 1 MiB written back before
//                        the next (how Cairn's preparer zeroed before it used O_DIRECT):
//                        a copy into new page cache for every byte
//   bw-sustained-falloc  the same into fallocated files (unwritten extents: each
//                        fdatasync commits their conversion)
//   bw-sustained-direct, bw-sustained-falloc-direct  O_DIRECT writes into files with
//                        O_DIRECT zeros (not read into the cache) or fallocated
// Record sizes are 200 B, 4 KiB, 64 KiB and 1 MiB; N (default 2000) applies up
// to 4 KiB and shrinks for the bigger sizes. D defaults to a fresh directory
// under the current one, removed afterwards. With --json the table goes to
// stderr and JSON to stdout. File preparation, the fdatasync loop and the
// machine probe live in raw_disk.{h,cc}, shared with cairn-bench.
#include <fcntl.h>
#include <liburing.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "raw_disk.h"

namespace {

using namespace cairn::bench;  // NOLINT: the raw-disk helpers shared with cairn-bench
namespace fs = std::filesystem;

constexpr size_t kSizes[] = {200, 4096, 64 * 1024, kMiB};
constexpr size_t kBandwidthBytes = 256 * kMiB;

// ---- small helpers -------------------------------------------------------

std::string size_name(size_t size) {
  if (size >= kMiB && size % kMiB == 0) return std::to_string(size / kMiB) + "MiB";
  if (size >= 1024 && size % 1024 == 0) return std::to_string(size / 1024) + "KiB";
  return std::to_string(size) + "B";
}

// ---- configuration ---------------------------------------------------------

struct Config {
  std::string dir;
  bool own_dir = true;
  int ops = 2000;
  int rounds = 3;
  bool json = false;
  std::set<std::string> only;
};

// ---- modes -----------------------------------------------------------------

enum class Kind {
  kFdatasync,
  kRwfDsync,
  kDirect,
  kDirectDsync,
  kUringLinked,
  kUringPipelined,
  kThreads,
  kGroupCommit,
  kSustained,
  kSustainedDirect
};

struct Mode {
  const char* name;
  Prep prep;
  Kind kind;
  std::vector<int> depths = {1};
  bool bandwidth = false;
};

const std::vector<Mode>& modes() {
  static const std::vector<Mode> all = {
      {"grow", Prep::kGrow, Kind::kFdatasync},
      {"falloc", Prep::kFalloc, Kind::kFdatasync},
      {"zeroed", Prep::kZeroed, Kind::kFdatasync},
      {"zeroed-rwf-dsync", Prep::kZeroed, Kind::kRwfDsync},
      {"direct-zeroed", Prep::kZeroed, Kind::kDirect},
      {"direct-dsync", Prep::kZeroed, Kind::kDirectDsync},
      {"uring-linked-zeroed", Prep::kZeroed, Kind::kUringLinked},
      {"pipelined-zeroed", Prep::kZeroed, Kind::kUringPipelined, {1, 2, 4}},
      {"pipelined-threads", Prep::kZeroed, Kind::kThreads, {2, 4}},
      {"group-commit", Prep::kZeroed, Kind::kGroupCommit, {1, 4, 16}},
      {"bw-buffered", Prep::kZeroed, Kind::kFdatasync, {1}, true},
      {"bw-direct", Prep::kZeroed, Kind::kDirect, {1}, true},
      {"bw-sustained", Prep::kDirectZeroed, Kind::kSustained, {1}, true},
      {"bw-sustained-zeroed", Prep::kZeroed, Kind::kSustained, {1}, true},
      {"bw-sustained-falloc", Prep::kFalloc, Kind::kSustained, {1}, true},
      {"bw-sustained-direct", Prep::kDirectZeroed, Kind::kSustainedDirect, {1}, true},
      {"bw-sustained-falloc-direct", Prep::kFalloc, Kind::kSustainedDirect, {1}, true},
  };
  return all;
}

int open_flags(Kind kind) {
  int flags = O_RDWR | O_CLOEXEC;
  if (kind == Kind::kDirect || kind == Kind::kDirectDsync) flags |= O_DIRECT;
  if (kind == Kind::kDirectDsync) flags |= O_DSYNC;
  return flags;
}

// ---- results ---------------------------------------------------------------

struct Case {
  const Mode* mode;
  int depth;
  size_t size;
  int ops;
  std::vector<Stats> rounds;

  std::string label() const {
    std::string name = mode->name;
    if (mode->depths.size() > 1 || mode->depths[0] != 1) name += " d=" + std::to_string(depth);
    return name;
  }
  Stats median() const {
    std::vector<Stats> sorted = rounds;
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.ops_per_s < b.ops_per_s; });
    return sorted[sorted.size() / 2];
  }
};

// ---- synchronous writers ---------------------------------------------------

void write_dsync(int fd, const std::string& rec, size_t off) {
  iovec iov{const_cast<char*>(rec.data()), rec.size()};
  if (::pwritev2(fd, &iov, 1, static_cast<off_t>(off), RWF_DSYNC) != static_cast<ssize_t>(rec.size())) die("pwritev2");
}

// An O_DIRECT log writer: appends records, writing each time the 4 KiB blocks
// that hold the new record and keeping the last partial block in memory, so a
// small record rewrites the same block until it fills.
class TailWriter {
 public:
  TailWriter(int fd, size_t max_record) : fd_(fd), cap_(round_up(max_record, kPage) + kPage) {
    buf_ = static_cast<char*>(std::aligned_alloc(kPage, cap_));
    if (!buf_) die("aligned_alloc");
    std::memset(buf_, 0, cap_);
  }
  ~TailWriter() { std::free(buf_); }
  TailWriter(const TailWriter&) = delete;
  TailWriter& operator=(const TailWriter&) = delete;

  void append(const std::string& rec) {
    size_t used = end_ - start_;
    std::memcpy(buf_ + used, rec.data(), rec.size());
    end_ += rec.size();
    size_t len = round_up(end_ - start_, kPage);
    std::memset(buf_ + (end_ - start_), 0, len - (end_ - start_));
    write_all(fd_, buf_, len, start_);
    size_t keep_from = round_down(end_, kPage);
    std::memmove(buf_, buf_ + (keep_from - start_), end_ - keep_from);
    start_ = keep_from;
  }

 private:
  int fd_;
  size_t cap_;
  char* buf_ = nullptr;
  size_t start_ = 0;  // file offset of buf_[0], block aligned
  size_t end_ = 0;    // file offset just past the last record
};

// ---- io_uring writers ------------------------------------------------------

struct Ring {
  io_uring ring{};
  explicit Ring(unsigned entries) {
    int err = io_uring_queue_init(entries, &ring, 0);
    if (err < 0) die_errno("io_uring_queue_init", -err);
  }
  ~Ring() { io_uring_queue_exit(&ring); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
};

// Queues a WRITE of `rec` at `off` linked to a FSYNC(DATASYNC); the CQEs carry
// user_data 2*slot (write) and 2*slot+1 (fsync).
void queue_pair(io_uring* ring, int fd, const std::string& rec, size_t off, unsigned slot) {
  io_uring_sqe* w = io_uring_get_sqe(ring);
  io_uring_sqe* f = io_uring_get_sqe(ring);
  if (!w || !f) die_errno("io_uring_get_sqe", EBUSY);
  io_uring_prep_write(w, fd, rec.data(), static_cast<unsigned>(rec.size()), off);
  w->flags |= IOSQE_IO_LINK;
  io_uring_sqe_set_data64(w, 2 * slot);
  io_uring_prep_fsync(f, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(f, 2 * slot + 1);
}

// Waits for one CQE; returns its user_data, dying on a failed or short op.
uint64_t reap(io_uring* ring, size_t write_size) {
  io_uring_cqe* cqe = nullptr;
  int err = io_uring_wait_cqe(ring, &cqe);
  if (err < 0) die_errno("io_uring_wait_cqe", -err);
  uint64_t tag = cqe->user_data;
  int res = cqe->res;
  io_uring_cqe_seen(ring, cqe);
  if (res < 0) die_errno(tag % 2 ? "uring fsync" : "uring write", -res);
  if (tag % 2 == 0 && static_cast<size_t>(res) != write_size) die_errno("uring short write", EIO);
  return tag;
}

Sample run_uring_linked(int fd, const std::string& rec, int ops) {
  Ring r(2);
  return timed_loop(ops, [&](size_t i) {
    queue_pair(&r.ring, fd, rec, i * rec.size(), 0);
    int n = io_uring_submit_and_wait(&r.ring, 2);
    if (n < 0) die_errno("io_uring_submit_and_wait", -n);
    reap(&r.ring, rec.size());
    reap(&r.ring, rec.size());
  });
}

// Keeps `depth` write+fsync pairs in flight, replacing each as its fsync
// completes; latency is submit to fsync completion.
Sample run_uring_pipelined(int fd, const std::string& rec, int ops, int depth) {
  Ring r(2 * depth);
  std::vector<Clock::time_point> started(depth);
  Sample s;
  s.lat_us.reserve(ops);
  int issued = 0;
  auto issue = [&](unsigned slot) {
    queue_pair(&r.ring, fd, rec, static_cast<size_t>(issued++) * rec.size(), slot);
    started[slot] = Clock::now();
    int n = io_uring_submit(&r.ring);
    if (n < 0) die_errno("io_uring_submit", -n);
  };
  auto start = Clock::now();
  for (int slot = 0; slot < depth && issued < ops; ++slot) issue(slot);
  while (static_cast<int>(s.lat_us.size()) < ops) {
    uint64_t tag = reap(&r.ring, rec.size());
    if (tag % 2 == 0) continue;
    unsigned slot = static_cast<unsigned>(tag / 2);
    s.lat_us.push_back(us_since(started[slot]));
    if (issued < ops) issue(slot);
  }
  s.seconds = seconds_since(start);
  return s;
}

// `depth` threads taking the next record offset in turn, each doing its own
// pwrite + fdatasync on the shared file.
Sample run_threads(int fd, const std::string& rec, int ops, int depth) {
  std::atomic<int> next{0};
  std::vector<std::vector<double>> lat(depth);
  auto worker = [&](int t) {
    for (int i; (i = next.fetch_add(1)) < ops;) {
      auto t0 = Clock::now();
      write_all(fd, rec.data(), rec.size(), static_cast<size_t>(i) * rec.size());
      sync_data(fd);
      lat[t].push_back(us_since(t0));
    }
  };
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < depth; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  Sample s;
  s.seconds = seconds_since(start);
  for (auto& l : lat) s.lat_us.insert(s.lat_us.end(), l.begin(), l.end());
  return s;
}

// `depth` appender threads and one leader: each appender queues a record and
// sleeps until the leader's next pwrite + fdatasync covers it. The leader
// waits (up to 100 us) for every appender to queue, as group commits do, so
// that the appenders woken by one commit make the next one together.
Sample run_group_commit(int fd, const std::string& rec, int ops, int depth) {
  std::mutex mu;
  std::condition_variable queued_cv, durable_cv;
  int queued = 0, taken = 0;
  uint64_t durable_upto = 0, queued_total = 0;  // appends, counted from 1
  bool stop = false;
  std::vector<std::vector<double>> lat(depth);
  auto appender = [&](int t) {
    std::unique_lock lock(mu);
    while (!stop && taken < ops) {
      auto t0 = Clock::now();
      uint64_t mine = ++queued_total;
      ++queued;
      if (queued == depth) queued_cv.notify_one();
      durable_cv.wait(lock, [&] { return stop || durable_upto >= mine; });
      if (durable_upto >= mine) lat[t].push_back(us_since(t0));
    }
  };
  std::string group;
  size_t off = 0;
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < depth; ++t) pool.emplace_back(appender, t);
  while (true) {
    uint64_t upto = 0;
    int n = 0;
    {
      std::unique_lock lock(mu);
      if (taken >= ops) break;
      queued_cv.wait_for(lock, std::chrono::microseconds(100), [&] { return queued >= depth; });
      if (queued == 0) continue;
      n = std::min(queued, ops - taken);  // the file holds `ops` records
      queued -= n;
      taken += n;
      upto = queued_total - queued;
    }
    group.clear();
    for (int i = 0; i < n; ++i) group += rec;
    write_all(fd, group.data(), group.size(), off);
    sync_data(fd);
    off += group.size();
    std::lock_guard lock(mu);
    durable_upto = upto;
    durable_cv.notify_all();
  }
  {
    std::lock_guard lock(mu);
    stop = true;
    durable_cv.notify_all();
  }
  for (auto& th : pool) th.join();
  Sample s;
  s.seconds = seconds_since(start);
  for (auto& l : lat) s.lat_us.insert(s.lat_us.end(), l.begin(), l.end());
  return s;
}

// ---- sustained bandwidth -----------------------------------------------------

constexpr size_t kSegmentBytes = 64 * kMiB;
constexpr size_t kSustainedBytes = 1024 * kMiB;

// Reads `path` into the page cache in 1 MiB reads, without readahead.
void load_into_cache(const std::string& path) {
  int fd = open_file(path, O_RDONLY | O_CLOEXEC);
  if (::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM) != 0) die("posix_fadvise");
  std::vector<char> buffer(kMiB);
  for (size_t off = 0; off < kSegmentBytes; off += kMiB) {
    if (::pread(fd, buffer.data(), kMiB, static_cast<off_t>(off)) != static_cast<ssize_t>(kMiB)) die("pread");
  }
  ::close(fd);
}

// Prepares `path` for a writer opening it with `flags` (see the modes above).
int prepare_segment(const std::string& path, Prep prep, int flags) {
  if (prep == Prep::kFalloc || prep == Prep::kDirectZeroed) {
    prepare(path, prep, kSegmentBytes);
    if (prep == Prep::kDirectZeroed && !(flags & O_DIRECT)) load_into_cache(path);
    return open_file(path, flags);
  }
  int fd = open_file(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC);
  std::vector<char> zeros(kMiB, 0);
  for (size_t off = 0; off < kSegmentBytes; off += kMiB) {
    write_all(fd, zeros.data(), kMiB, off);
    if (::sync_file_range(fd, static_cast<off_t>(off), kMiB,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
      die("sync_file_range");
    }
  }
  sync_data(fd);
  return fd;  // no mode writes these with O_DIRECT
}

// 1 MiB writes + fdatasync through segments prepared one ahead by a thread.
// The first segment is prepared before timing (as in Cairn's steady state).
Sample run_sustained(const std::string& dir, int ops, Prep prep, bool direct) {
  const int flags = O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0);
  auto path = [&](size_t n) { return dir + "/sustained-" + std::to_string(n) + ".dat"; };
  const size_t per_segment = kSegmentBytes / kMiB;
  const size_t segments = (static_cast<size_t>(ops) + per_segment - 1) / per_segment;
  std::mutex mu;
  std::condition_variable ready_cv;
  std::vector<int> ready;  // prepared, in order
  int fd = prepare_segment(path(0), prep, flags);
  std::thread preparer([&] {
    for (size_t n = 1; n < segments; ++n) {
      int next = prepare_segment(path(n), prep, flags);
      std::lock_guard lock(mu);
      ready.push_back(next);
      ready_cv.notify_all();
    }
  });
  AlignedBuffer rec = aligned_buffer(kMiB, 'r');
  size_t taken = 0;
  Sample s = timed_loop(ops, [&](size_t i) {
    size_t at = i % per_segment;
    if (i > 0 && at == 0) {
      ::close(fd);
      std::unique_lock lock(mu);
      ready_cv.wait(lock, [&] { return ready.size() > taken; });
      fd = ready[taken++];
    }
    write_all(fd, rec.get(), kMiB, at * kMiB);
    sync_data(fd);
  });
  preparer.join();
  ::close(fd);
  for (size_t n = taken + 1; n < ready.size(); ++n) ::close(ready[n]);
  for (size_t n = 0; n < segments; ++n) ::unlink(path(n).c_str());
  return s;
}

// ---- one measurement -------------------------------------------------------

Sample run_loop(const Case& c, int fd) {
  std::string rec(c.size, 'r');
  switch (c.mode->kind) {
    case Kind::kFdatasync:
      return fdatasync_loop(fd, rec, c.ops);
    case Kind::kRwfDsync:
      return timed_loop(c.ops, [&](size_t i) { write_dsync(fd, rec, i * rec.size()); });
    case Kind::kDirect:
    case Kind::kDirectDsync: {
      TailWriter w(fd, rec.size());
      bool sync = c.mode->kind == Kind::kDirect;
      return timed_loop(c.ops, [&](size_t) {
        w.append(rec);
        if (sync) sync_data(fd);
      });
    }
    case Kind::kUringLinked:
      return run_uring_linked(fd, rec, c.ops);
    case Kind::kUringPipelined:
      return run_uring_pipelined(fd, rec, c.ops, c.depth);
    case Kind::kThreads:
      return run_threads(fd, rec, c.ops, c.depth);
    case Kind::kGroupCommit:
      return run_group_commit(fd, rec, c.ops, c.depth);
    case Kind::kSustained:
    case Kind::kSustainedDirect:
      break;  // measure() runs it: it writes files of its own
  }
  return {};
}

Stats measure(const Case& c, const std::string& dir) {
  if (c.mode->kind == Kind::kSustained || c.mode->kind == Kind::kSustainedDirect) {
    return summarize(run_sustained(dir, c.ops, c.mode->prep, c.mode->kind == Kind::kSustainedDirect), c.size);
  }
  ScratchFile file(dir, "disk-bench.dat", c.mode->prep, round_up(c.ops * c.size, kPage) + kPage,
                   open_flags(c.mode->kind));
  return summarize(run_loop(c, file.fd()), c.size);
}

// ---- the plan: groups of cases that run interleaved ------------------------

int ops_for(size_t size, int ops) {
  if (size <= kPage) return ops;
  int scaled = static_cast<int>(static_cast<size_t>(ops) * 16384 / size);  // 64 KiB: N/4, 1 MiB: N/64
  return std::min(ops, std::max(scaled, 64));
}

bool selected(const Config& cfg, const Mode& m) { return cfg.only.empty() || cfg.only.count(m.name); }

std::vector<std::vector<Case>> plan(const Config& cfg) {
  std::vector<std::vector<Case>> groups;
  for (size_t size : kSizes) {
    std::vector<Case> group;
    for (const Mode& m : modes()) {
      if (m.bandwidth || !selected(cfg, m) || (m.kind == Kind::kGroupCommit && size != kSizes[0])) continue;
      for (int d : m.depths) group.push_back(Case{&m, d, size, ops_for(size, cfg.ops), {}});
    }
    if (!group.empty()) groups.push_back(group);
  }
  std::vector<Case> bandwidth;
  for (const Mode& m : modes())
    if (m.bandwidth && selected(cfg, m)) {
      size_t bytes = m.kind == Kind::kSustained ? kSustainedBytes : kBandwidthBytes;
      bandwidth.push_back(Case{&m, 1, kMiB, int(bytes / kMiB), {}});
    }
  if (!bandwidth.empty()) groups.push_back(bandwidth);
  return groups;
}

void run_rounds(std::vector<std::vector<Case>>& groups, const Config& cfg) {
  for (int r = 0; r < cfg.rounds; ++r) {
    std::fprintf(stderr, "round %d/%d ...\n", r + 1, cfg.rounds);
    for (auto& group : groups) {
      for (size_t k = 0; k < group.size(); ++k) {
        Case& c = group[(k + r) % group.size()];
        c.rounds.push_back(measure(c, cfg.dir));
      }
    }
  }
}

// ---- output ----------------------------------------------------------------

// The sustained bandwidth against rewriting cached zeros (cairn-bench's raw limit).
void print_sustained_ratio(FILE* out, const std::vector<Case>& group) {
  auto find = [&](Kind kind) {
    return std::find_if(group.begin(), group.end(), [&](const Case& c) { return c.mode->kind == kind; });
  };
  auto sustained = find(Kind::kSustained), buffered = find(Kind::kFdatasync);
  if (sustained == group.end() || buffered == group.end()) return;
  std::fprintf(out, "%-24s x bw-buffered %.2f\n", sustained->label().c_str(),
               sustained->median().mb_per_s / buffered->median().mb_per_s);
}

// Each group-commit row against `depth` independent appends at the zeroed rate.
void print_group_commit_ratios(FILE* out, const std::vector<Case>& group) {
  auto zeroed = std::find_if(group.begin(), group.end(), [](const Case& c) { return c.mode->prep == Prep::kZeroed &&
                                                                                   c.mode->kind == Kind::kFdatasync; });
  if (zeroed == group.end()) return;
  for (const Case& c : group) {
    if (c.mode->kind != Kind::kGroupCommit) continue;
    std::fprintf(out, "%-24s x W/zeroed %.2f\n", c.label().c_str(),
                 c.median().ops_per_s / (c.depth * zeroed->median().ops_per_s));
  }
}

void print_table(FILE* out, const Machine& m, const std::vector<std::vector<Case>>& groups, const Config& cfg) {
  std::fprintf(out, "kernel %s | fs %s | device %s | queue/fua %s | queue/write_cache %s\n", m.kernel.c_str(),
               m.fs_type.c_str(), m.device.c_str(), m.fua.c_str(), m.write_cache.c_str());
  std::fprintf(out, "dir %s | rounds %d (median round shown; ops/s range = min..max over rounds)\n", cfg.dir.c_str(),
               cfg.rounds);
  std::fprintf(out, "\n%-24s %6s %5s %9s %9s %9s %8s  %s\n", "mode", "size", "ops", "ops/s", "p50 us", "p99 us", "MB/s",
               "ops/s range");
  for (const auto& group : groups) {
    for (const Case& c : group) {
      Stats s = c.median();
      auto [lo, hi] = std::minmax_element(c.rounds.begin(), c.rounds.end(),
                                          [](auto& a, auto& b) { return a.ops_per_s < b.ops_per_s; });
      std::fprintf(out, "%-24s %6s %5d %9.0f %9.1f %9.1f %8.1f  %.0f..%.0f\n", c.label().c_str(),
                   size_name(c.size).c_str(), c.ops, s.ops_per_s, s.p50_us, s.p99_us, s.mb_per_s, lo->ops_per_s,
                   hi->ops_per_s);
    }
    print_group_commit_ratios(out, group);
    print_sustained_ratio(out, group);
    std::fprintf(out, "\n");
  }
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    out += ch;
  }
  return out + "\"";
}

void print_json(FILE* out, const Machine& m, const std::vector<std::vector<Case>>& groups, const Config& cfg) {
  std::ostringstream js;
  js << "{\"kernel\":" << quoted(m.kernel) << ",\"fs\":" << quoted(m.fs_type) << ",\"device\":" << quoted(m.device)
     << ",\"fua\":" << quoted(m.fua) << ",\"write_cache\":" << quoted(m.write_cache) << ",\"rounds\":" << cfg.rounds
     << ",\"results\":[";
  const char* sep = "";
  for (const auto& group : groups) {
    for (const Case& c : group) {
      Stats s = c.median();
      js << sep << "\n {\"mode\":" << quoted(c.mode->name) << ",\"depth\":" << c.depth << ",\"size\":" << c.size
         << ",\"ops\":" << c.ops << ",\"ops_per_s\":" << s.ops_per_s << ",\"p50_us\":" << s.p50_us
         << ",\"p99_us\":" << s.p99_us << ",\"mb_per_s\":" << s.mb_per_s << ",\"ops_per_s_rounds\":[";
      for (size_t i = 0; i < c.rounds.size(); ++i) js << (i ? "," : "") << c.rounds[i].ops_per_s;
      js << "]}";
      sep = ",";
    }
  }
  js << "\n]}\n";
  std::fputs(js.str().c_str(), out);
}

// ---- arguments and cleanup -------------------------------------------------

std::string g_own_dir;  // removed at exit, also on failure
void remove_own_dir() {
  std::error_code ec;
  if (!g_own_dir.empty()) fs::remove_all(g_own_dir, ec);
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--dir D] [--ops N] [--rounds R] [--json] [--only NAME,NAME]\nmodes:", argv0);
  for (const Mode& m : modes()) std::fprintf(stderr, " %s", m.name);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

std::set<std::string> split_names(const std::string& list, const char* argv0) {
  std::set<std::string> names;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    bool known = std::any_of(modes().begin(), modes().end(), [&](const Mode& m) { return name == m.name; });
    if (!known) {
      std::fprintf(stderr, "unknown mode '%s'\n", name.c_str());
      usage(argv0);
    }
    names.insert(name);
  }
  return names;
}

Config parse_args(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    bool has_value = i + 1 < argc;
    if (flag == "--json") {
      cfg.json = true;
    } else if (flag == "--dir" && has_value) {
      cfg.dir = argv[++i];
      cfg.own_dir = false;
    } else if (flag == "--ops" && has_value) {
      cfg.ops = std::atoi(argv[++i]);
    } else if (flag == "--rounds" && has_value) {
      cfg.rounds = std::atoi(argv[++i]);
    } else if (flag == "--only" && has_value) {
      cfg.only = split_names(argv[++i], argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  if (cfg.ops < 1 || cfg.rounds < 1) usage(argv[0]);
  return cfg;
}

void make_dir(Config& cfg) {
  if (!cfg.own_dir) {
    fs::create_directories(cfg.dir);
    return;
  }
  std::string templ = (fs::current_path() / "cairn-disk-bench-XXXXXX").string();
  if (!::mkdtemp(templ.data())) die("mkdtemp");
  cfg.dir = g_own_dir = templ;
  std::atexit(remove_own_dir);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg = parse_args(argc, argv);
  make_dir(cfg);
  Machine machine = probe(cfg.dir);
  auto groups = plan(cfg);
  run_rounds(groups, cfg);
  print_table(cfg.json ? stderr : stdout, machine, groups, cfg);
  if (cfg.json) print_json(stdout, machine, groups, cfg);
  return 0;
}
