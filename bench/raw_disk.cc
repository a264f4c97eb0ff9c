#include "raw_disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>

namespace cairn::bench {

namespace fs = std::filesystem;

// ---- errors and statistics ---------------------------------------------------

void die(const std::string& what) {
  std::perror(what.c_str());
  std::exit(1);
}

void die_errno(const std::string& what, int err) {
  errno = err;
  die(what);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * v.size()));  // nearest rank
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

Stats summarize(const Sample& s, size_t size) {
  double ops = static_cast<double>(s.lat_us.size());
  return Stats{ops / s.seconds, percentile(s.lat_us, 0.50), percentile(s.lat_us, 0.99), ops * size / s.seconds / 1e6};
}

// ---- files -----------------------------------------------------------------------

int open_file(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) die("open " + path);
  return fd;
}

void write_all(int fd, const void* data, size_t n, size_t off) {
  ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(off));
  if (w != static_cast<ssize_t>(n)) die("pwrite");
}

void sync_data(int fd) {
  if (::fdatasync(fd) != 0) die("fdatasync");
}

namespace {

void fill_zeros(int fd, size_t bytes) {
  std::vector<char> zeros(kMiB, 0);
  for (size_t off = 0; off < bytes; off += zeros.size()) write_all(fd, zeros.data(), std::min(zeros.size(), bytes - off), off);
}

// Whole pages: a last partial page is written whole and cut back by prepare().
void fill_zeros_direct(const std::string& path, size_t bytes) {
  int fd = open_file(path, O_RDWR | O_DIRECT | O_CLOEXEC);
  AlignedBuffer zeros = aligned_buffer(kMiB, '\0');
  for (size_t off = 0; off < bytes; off += kMiB) write_all(fd, zeros.get(), round_up(std::min(kMiB, bytes - off), kPage), off);
  ::close(fd);
}

}  // namespace

AlignedBuffer aligned_buffer(size_t size, char fill) {
  AlignedBuffer buffer(static_cast<char*>(std::aligned_alloc(kPage, round_up(size, kPage))), &std::free);
  if (!buffer) die("aligned_alloc");
  std::memset(buffer.get(), fill, size);
  return buffer;
}

void prepare(const std::string& path, Prep prep, size_t bytes) {
  int fd = open_file(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC);
  if (prep == Prep::kFalloc && ::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0) die("fallocate");
  if (prep == Prep::kZeroed) fill_zeros(fd, bytes);
  if (prep == Prep::kDirectZeroed) {
    fill_zeros_direct(path, bytes);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) die("ftruncate");
  }
  if (::fsync(fd) != 0) die("fsync");
  ::close(fd);
}

ScratchFile::ScratchFile(const std::string& dir, const std::string& name, Prep prep, size_t bytes, int flags)
    : dir_(dir), path_(dir + "/" + name) {
  prepare(path_, prep, bytes);
  fd_ = open_file(path_, flags);
}

ScratchFile::~ScratchFile() {
  ::close(fd_);
  ::unlink(path_.c_str());
  int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::syncfs(dir_fd);
    ::close(dir_fd);
  }
}

Sample fdatasync_loop(int fd, const std::string& rec, int ops) {
  return timed_loop(ops, [&](size_t i) {
    write_all(fd, rec.data(), rec.size(), i * rec.size());
    sync_data(fd);
  });
}

// ---- the two limits cairn-bench compares with ------------------------------------

namespace {

Stats measure_fdatasync(const std::string& dir, size_t size, int ops) {
  ScratchFile file(dir, "raw-limits.dat", Prep::kZeroed, round_up(ops * size, kPage) + kPage, O_RDWR | O_CLOEXEC);
  return summarize(fdatasync_loop(file.fd(), std::string(size, 'r'), ops), size);
}

// The same with O_DIRECT writes of `size` (a multiple of kPage) from aligned memory.
Stats measure_direct_fdatasync(const std::string& dir, size_t size, int ops) {
  ScratchFile file(dir, "raw-limits.dat", Prep::kZeroed, ops * size + kPage, O_RDWR | O_DIRECT | O_CLOEXEC);
  AlignedBuffer buf = aligned_buffer(size, 'r');
  return summarize(timed_loop(ops,
                              [&](size_t i) {
                                write_all(file.fd(), buf.get(), size, i * size);
                                sync_data(file.fd());
                              }),
                   size);
}

}  // namespace

RawLimits measure_raw_limits(const std::string& dir, size_t record_bytes, bool direct, int ops, size_t bandwidth_bytes) {
  RawLimits raw;
  raw.record_bytes = record_bytes;
  Stats small = measure_fdatasync(dir, record_bytes, ops);
  raw.fdatasync_p50_us = small.p50_us;
  raw.fdatasync_p99_us = small.p99_us;
  raw.fdatasync_ops_per_s = small.ops_per_s;
  int rounds = static_cast<int>(bandwidth_bytes / kMiB);
  raw.direct = direct;
  raw.write_mb_per_s = (direct ? measure_direct_fdatasync(dir, kMiB, rounds) : measure_fdatasync(dir, kMiB, rounds)).mb_per_s;
  return raw;
}

RawLimits averaged(const RawLimits& before, const RawLimits& after) {
  auto mean = [](double a, double b) { return (a + b) / 2; };
  RawLimits raw = before;
  raw.fdatasync_p50_us = mean(before.fdatasync_p50_us, after.fdatasync_p50_us);
  raw.fdatasync_p99_us = mean(before.fdatasync_p99_us, after.fdatasync_p99_us);
  raw.fdatasync_ops_per_s = mean(before.fdatasync_ops_per_s, after.fdatasync_ops_per_s);
  raw.write_mb_per_s = mean(before.write_mb_per_s, after.write_mb_per_s);
  return raw;
}

// ---- the machine -------------------------------------------------------------------

namespace {

std::string read_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "?";
  return line;
}

std::string fs_name(long magic) {
  switch (static_cast<unsigned long>(magic)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0xF2F52010: return "f2fs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(magic));
  return hex;
}

// The whole-disk sysfs node for the device holding `dir` (the parent of a
// partition), or empty when there is none (overlay, network, ...).
fs::path block_device(const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) return {};
  fs::path link = "/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  std::error_code ec;
  fs::path node = fs::canonical(link, ec);
  if (ec) return {};
  if (fs::exists(node / "partition")) node = node.parent_path();
  return node;
}

}  // namespace

Machine probe(const std::string& dir) {
  Machine m;
  utsname u{};
  m.kernel = ::uname(&u) == 0 ? u.release : "?";
  struct statfs sf{};
  m.fs_type = ::statfs(dir.c_str(), &sf) == 0 ? fs_name(static_cast<long>(sf.f_type)) : "?";
  fs::path dev = block_device(dir);
  m.device = dev.empty() ? "?" : dev.filename().string();
  m.fua = dev.empty() ? "?" : read_line(dev / "queue/fua");
  m.write_cache = dev.empty() ? "?" : read_line(dev / "queue/write_cache");
  m.cpus = std::thread::hardware_concurrency();
  return m;
}

}  // namespace cairn::bench
