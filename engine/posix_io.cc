// pwrite/fdatasync backend of the I/O seam.
#include "engine/io.h"
#include "engine/write_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <mutex>

namespace cairn::engine {
namespace {

Status errno_status(const std::string& what, const std::string& path, int err) {
  std::string msg = path + ": " + what + ": " + std::strerror(err);
  if (err == ENOENT) return Status::not_found(msg);
  return Status::io_error(msg);
}

class PosixMapping final : public Mapping {
 public:
  PosixMapping(void* addr, uint64_t size) : addr_(addr), size_(size) {}
  ~PosixMapping() override {
    if (size_ > 0) munmap(addr_, size_);
  }
  const char* data() const override { return static_cast<const char*>(addr_); }
  uint64_t size() const override { return size_; }
  void drop_pages(uint64_t offset, uint64_t length) const override {
    uint64_t begin = offset / kPageSize * kPageSize;  // whole pages inside the range only
    uint64_t end = (offset + length) / kPageSize * kPageSize;
    if (end > begin) (void)::madvise(static_cast<char*>(addr_) + begin, end - begin, MADV_DONTNEED);
  }

 private:
  static constexpr uint64_t kPageSize = 4096;
  void* addr_;
  uint64_t size_;
};

class PosixWritableMapping final : public WritableMapping {
 public:
  PosixWritableMapping(void* addr, uint64_t size) : addr_(addr), size_(size) {}
  ~PosixWritableMapping() override { munmap(addr_, size_); }
  char* data() override { return static_cast<char*>(addr_); }
  uint64_t size() const override { return size_; }
  // MADV_DONTNEED on a shared file mapping drops only the page table
  // entries (their dirty bits pass to the pages): one TLB flush for the
  // range, where cleaning each still-mapped page for writeback costs one.
  void release(uint64_t offset, uint64_t length) override {
    (void)::madvise(static_cast<char*>(addr_) + offset, length, MADV_DONTNEED);
  }
  // MADV_POPULATE_WRITE (Linux 5.14): the write faults of the whole range in
  // one call. Refused by an older kernel: the stores fault as before.
  void prefault(uint64_t offset, uint64_t length) override {
#ifdef MADV_POPULATE_WRITE
    (void)::madvise(static_cast<char*>(addr_) + offset, length, MADV_POPULATE_WRITE);
#else
    (void)offset;
    (void)length;
#endif
  }

 private:
  void* addr_;
  uint64_t size_;
};

// `write_fd` is `fd` or, for OpenMode::kReadWriteDirect, a second descriptor
// of the file opened with O_DIRECT that only writes use.
class PosixFile final : public File {
 public:
  PosixFile(int fd, int write_fd, std::string path) : fd_(fd), write_fd_(write_fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (helper_fd_ >= 0) ::close(helper_fd_);
    if (write_fd_ != fd_) ::close(write_fd_);
    ::close(fd_);
  }

  Status write_at(uint64_t offset, std::span<const std::string_view> parts) override {
    std::vector<iovec> iov;
    iov.reserve(parts.size());
    for (std::string_view p : parts) {
      if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
    }
    size_t next = 0;  // first iovec not yet fully written
    while (next < iov.size()) {
      int count = static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
      ssize_t n = ::pwritev(write_fd_, iov.data() + next, count, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_status("write at offset " + std::to_string(offset), path_, errno);
      }
      offset += static_cast<uint64_t>(n);
      auto left = static_cast<size_t>(n);
      while (next < iov.size() && left >= iov[next].iov_len) left -= iov[next++].iov_len;
      if (left > 0) {  // short write inside an iovec: continue after it
        iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + left;
        iov[next].iov_len -= left;
      }
    }
    return Status();
  }

  Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status("read at offset " + std::to_string(offset + done), path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync", path_, errno);
    return Status();
  }

  Status write_back(uint64_t offset, uint64_t length) override {
    constexpr unsigned kWriteAndWait =
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    auto fd = helper_fd();
    if (!fd.ok()) return fd.status();
    if (::sync_file_range(*fd, static_cast<off_t>(offset), static_cast<off_t>(length), kWriteAndWait) != 0) {
      return errno_status("write back at offset " + std::to_string(offset), path_, errno);
    }
    return Status();
  }

  Status drop_from_cache() override {
    if (int err = ::posix_fadvise(fd_, 0, 0, POSIX_FADV_DONTNEED); err != 0) {
      return errno_status("fadvise DONTNEED", path_, err);
    }
    return Status();
  }

  Status sync_apart() override {
    auto fd = helper_fd();
    if (!fd.ok()) return fd.status();
    if (::fdatasync(*fd) != 0) return errno_status("fdatasync", path_, errno);
    return Status();
  }

  Status allocate(uint64_t length) override {
    int err = 0;
    do err = ::fallocate(fd_, 0, 0, static_cast<off_t>(length)) == 0 ? 0 : errno;
    while (err == EINTR);
    if (err == EOPNOTSUPP || err == ENOSYS) return Status::not_supported(path_ + ": fallocate: " + std::strerror(err));
    if (err != 0) return errno_status("fallocate", path_, err);
    return Status();
  }

  // Through a descriptor of its own, so that POSIX_FADV_RANDOM (no
  // readahead) does not stay on the file's; opened through /proc/self/fd,
  // so that it is this file whatever became of its name.
  Status load_into_cache(uint64_t offset, uint64_t length) override {
    std::string self = "/proc/self/fd/" + std::to_string(fd_);
    int fd = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("open to read into the cache", path_, errno);
    Status status;
    if (int err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM); err != 0) status = errno_status("fadvise", path_, err);
    // A chunk at a time: POSIX_FADV_WILLNEED sends its read (the device
    // fills the pages; nothing is copied to this process), then reading its
    // last byte waits for (at least the end of) that read, which paces the
    // reads at about one chunk in flight.
    constexpr uint64_t kChunk = 1u << 20;
    struct stat st {};
    if (status.ok() && ::fstat(fd, &st) != 0) status = errno_status("fstat", path_, errno);
    uint64_t end = std::min(offset + length, static_cast<uint64_t>(st.st_size));
    for (uint64_t at = offset; status.ok() && at < end; at += kChunk) {
      uint64_t n = std::min(kChunk, end - at);
      // Advice: where it is not taken, the read below still loads a page.
      (void)::posix_fadvise(fd, static_cast<off_t>(at), static_cast<off_t>(n), POSIX_FADV_WILLNEED);
      char last = 0;
      ssize_t got = -1;
      do got = ::pread(fd, &last, 1, static_cast<off_t>(at + n - 1));
      while (got < 0 && errno == EINTR);
      if (got < 0) status = errno_status("read at offset " + std::to_string(at + n - 1), path_, errno);
      if (got == 0) break;  // the file was cut meanwhile
    }
    ::close(fd);
    return status;
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return errno_status("truncate to " + std::to_string(size), path_, errno);
    }
    return Status();
  }

  Result<uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_status("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::shared_ptr<Mapping>> map(uint64_t length) const override {
    if (length == 0) return std::shared_ptr<Mapping>(std::make_shared<PosixMapping>(nullptr, 0));
    void* addr = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_, 0);
    if (addr == MAP_FAILED) return errno_status("mmap", path_, errno);
    return std::shared_ptr<Mapping>(std::make_shared<PosixMapping>(addr, length));
  }

  Result<std::unique_ptr<WritableMapping>> map_writable(uint64_t length) override {
    if (write_fd_ != fd_) return Status::not_supported(path_ + ": written with O_DIRECT, not mapped");
    if (length == 0) return Status::invalid_argument(path_ + ": empty writable mapping");
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (addr == MAP_FAILED) return errno_status("mmap for writing", path_, errno);
    return std::unique_ptr<WritableMapping>(std::make_unique<PosixWritableMapping>(addr, length));
  }

  const std::string& path() const override { return path_; }
  int native_handle() const override { return write_fd_; }
  uint64_t write_alignment() const override { return write_fd_ != fd_ ? kDirectIoAlignment : 1; }

 private:
  // Linux reports a failed writeback once to each open file description
  // that syncs or waits after it (errseq). The helpers' write-backs and
  // syncs (WriteBehind, ZeroAhead, the preparer) go through a description
  // of their own, opened on first use through /proc/self/fd (this file,
  // whatever became of its name), so that an error they meet is still
  // reported to the writer's own fdatasync, which fails the store.
  Result<int> helper_fd() {
    std::lock_guard lock(helper_mu_);
    if (helper_fd_ >= 0) return helper_fd_;
    std::string self = "/proc/self/fd/" + std::to_string(fd_);
    int fd = ::open(self.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno_status("open a second descriptor", path_, errno);
    helper_fd_ = fd;
    return helper_fd_;
  }

  int fd_;
  int write_fd_;
  std::string path_;
  std::mutex helper_mu_;
  int helper_fd_ = -1;  // guarded by helper_mu_
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreate: flags |= O_RDWR | O_CREAT; break;
      case OpenMode::kReadWriteDirect: flags |= O_RDWR; break;
    }
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno_status("open", path, errno);
    int write_fd = fd;
    if (mode == OpenMode::kReadWriteDirect) {
      write_fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
      if (write_fd < 0) {
        int err = errno;
        ::close(fd);
        if (err == EINVAL) return Status::not_supported(path + ": open with O_DIRECT: " + std::strerror(err));
        return errno_status("open with O_DIRECT", path, err);
      }
    }
    return std::unique_ptr<File>(std::make_unique<PosixFile>(fd, write_fd, path));
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errno_status("list directory", dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    return names;
  }

  Status create_dirs(const std::string& dir) override {
    for (size_t i = 1; i <= dir.size(); ++i) {
      if (i < dir.size() && dir[i] != '/') continue;
      std::string prefix = dir.substr(0, i);
      if (::mkdir(prefix.c_str(), 0755) != 0) {
        if (errno == EEXIST) continue;
        return errno_status("create directory", prefix, errno);
      }
      size_t slash = prefix.find_last_of('/');
      std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : prefix.substr(0, slash);
      if (Status s = sync_dir(parent); !s.ok()) return s;
    }
    return Status();
  }

  Status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status("fsync directory", dir, err);
    return Status();
  }

  Status rename(const std::string& from, const std::string& to, bool replace) override {
    int rc = replace ? ::rename(from.c_str(), to.c_str())
                     : ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
    if (rc != 0) return errno_status("rename to " + to, from, errno);
    return Status();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status("remove", path, errno);
    return Status();
  }

  Status link(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) == 0) return Status();
    int err = errno;
    if (err == EXDEV || err == EPERM || err == EOPNOTSUPP || err == EMLINK) {
      return Status::not_supported(from + ": hard link to " + to + ": " + std::strerror(err));
    }
    return errno_status("hard link to " + to, from, err);
  }

  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open lock file", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status::locked(path + ": locked: another process (or Store) has this store open for writing");
      }
      return errno_status("flock", path, err);
    }
    return std::unique_ptr<FileLock>(std::make_unique<PosixLock>(fd));
  }

  Result<bool> is_dir(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_status("stat", path, errno);
    return S_ISDIR(st.st_mode);
  }

  Result<std::unique_ptr<WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                        std::string* why_fallback) override {
    if (Status s = check_queue_depth(depth); !s.ok()) return s;
    if (backend == IoBackend::kPwrite) return make_pwrite_queue(depth);
    auto uring = make_uring_queue(depth);
    if (uring.ok() || backend == IoBackend::kIoUring) return uring;
    if (why_fallback != nullptr) *why_fallback = "io_uring unavailable, using pwrite: " + uring.status().message();
    return make_pwrite_queue(depth);
  }
};

}  // namespace

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

Result<std::string> read_file(FileSystem& fs, const std::string& path) {
  auto file = fs.open(path, OpenMode::kRead);
  if (!file.ok()) return file.status();
  auto size = (*file)->size();
  if (!size.ok()) return size.status();
  std::string bytes(*size, '\0');
  auto n = (*file)->read_at(0, bytes.data(), bytes.size());
  if (!n.ok()) return n.status();
  bytes.resize(*n);
  return bytes;
}

Status write_file_atomically(FileSystem& fs, const std::string& dir, const std::string& name,
                             std::string_view bytes, bool replace) {
  std::string tmp = dir + "/" + name + ".tmp";
  {
    auto file = fs.open(tmp, OpenMode::kCreate);
    if (!file.ok()) return file.status();
    if (Status s = (*file)->truncate(0); !s.ok()) return s;
    if (Status s = (*file)->write_at(0, bytes); !s.ok()) return s;
    if (Status s = (*file)->sync(); !s.ok()) return s;
  }
  if (Status s = fs.rename(tmp, dir + "/" + name, replace); !s.ok()) return s;
  return fs.sync_dir(dir);
}

}  // namespace cairn::engine
