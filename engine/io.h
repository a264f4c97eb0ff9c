// The I/O seam: every file operation of the engine goes through FileSystem
// and File, so tests can swap in a fault-injecting implementation and the
// io_uring backend can replace the pwrite one.
#pragma once

#include <cairn/options.h>
#include <cairn/status.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::engine {

// A read-only memory mapping of a file. Bytes past the file's end must not be
// touched (SIGBUS); the engine reads only what it has written or verified.
class Mapping {
 public:
  virtual ~Mapping() = default;
  virtual const char* data() const = 0;
  virtual uint64_t size() const = 0;  // bytes mapped (may exceed the file)
  // Unmaps the pages of [offset, offset + length) from this process (they
  // stay in the page cache; the next read maps them again): a whole pass
  // over a segment then leaves no resident set behind. The default keeps them.
  virtual void drop_pages(uint64_t offset, uint64_t length) const {
    (void)offset;
    (void)length;
  }
};

// A writable shared mapping of a file's first size() bytes: stores into it
// are writes to the file's page cache, as write_at()'s are (sync() makes
// them durable). The file must reach past every byte stored (SIGBUS), and a
// page the kernel cannot read back (EIO) is a SIGBUS too.
class WritableMapping {
 public:
  virtual ~WritableMapping() = default;
  virtual char* data() = 0;
  virtual uint64_t size() const = 0;
  // Nothing is stored into [offset, offset + length) again: its pages are
  // unmapped (their bytes stay in the page cache, dirty until written back),
  // so writing them back has no writable mapping to clean. The default
  // keeps them mapped.
  virtual void release(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
  }
  // [offset, offset + length) is about to be stored into: its pages are
  // faulted in now, writable (and so dirty, their bytes unchanged), so that
  // the stores themselves take no page faults. The default does nothing.
  virtual void prefault(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
  }
};

class File {
 public:
  virtual ~File() = default;
  // Writes every byte of `parts`, in order, starting at `offset`; retries
  // short writes and EINTR. Any failure is kIOError naming the file.
  virtual Status write_at(uint64_t offset, std::span<const std::string_view> parts) = 0;
  Status write_at(uint64_t offset, std::string_view bytes) {
    return write_at(offset, std::span<const std::string_view>(&bytes, 1));
  }
  // Reads up to n bytes; returns how many were read (fewer only at EOF).
  virtual Result<size_t> read_at(uint64_t offset, char* buf, size_t n) const = 0;
  // fdatasync: file data (and the size, when it changed) are durable.
  virtual Status sync() = 0;
  // sync() for a helper thread: an error it meets is still reported to the
  // next sync() (on Linux each open file description hears of a failed
  // writeback once, so the posix file syncs through one of its own, as
  // write_back() does). The default is sync().
  virtual Status sync_apart() { return sync(); }
  // Writes [offset, offset + length) back to the device and waits for it,
  // with no device flush: nothing is made durable (sync() still must). It
  // paces a large background write, which would otherwise pile up in the
  // page cache and reach the device all at once, ahead of the appends'
  // fdatasyncs. An error it meets is still reported to the next sync()
  // (see sync_apart()). The default does nothing.
  virtual Status write_back(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
    return Status();
  }
  // Asks the kernel to drop this file's clean, unmapped pages from the page
  // cache (the bytes stay on disk; the next read reads them back). The
  // default does nothing.
  virtual Status drop_from_cache() { return Status(); }
  // Brings [offset, offset + length) of this file into the page cache and
  // returns no bytes. The posix file has the kernel read it 1 MiB at a time
  // (no copy to this process, and no readahead, which would send the device
  // reads of many megabytes at once, ahead of the appends' writes); the
  // default reads through read_at(), readahead and all.
  virtual Status load_into_cache(uint64_t offset, uint64_t length) {
    std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(length, 1u << 20)));
    for (uint64_t at = offset, end = offset + length; at < end;) {
      auto got = read_at(at, buffer.data(), static_cast<size_t>(std::min<uint64_t>(buffer.size(), end - at)));
      if (!got.ok()) return got.status();
      if (*got == 0) break;
      at += *got;
    }
    return Status();
  }
  // Reserves the blocks of [0, length) without writing them (fallocate: they
  // read as zeros, and the size becomes at least length). kNotSupported
  // where the file system or the wrapper cannot; the default.
  virtual Status allocate(uint64_t length) {
    (void)length;
    return Status::not_supported(path() + ": no fallocate");
  }
  virtual Status truncate(uint64_t size) = 0;
  virtual Result<uint64_t> size() const = 0;
  virtual Result<std::shared_ptr<Mapping>> map(uint64_t length) const = 0;
  // Maps [0, length) for writing. Wrappers that must see every write (fault
  // injection, power loss) keep this default: kNotSupported.
  virtual Result<std::unique_ptr<WritableMapping>> map_writable(uint64_t length) {
    (void)length;
    return Status::not_supported(path() + ": no writable mapping");
  }
  virtual const std::string& path() const = 0;
  // The descriptor behind this file, for backends that issue their own
  // system calls on it (io_uring); -1 when there is none.
  virtual int native_handle() const { return -1; }
  // What write_at()'s offsets and lengths must be multiples of: 1, or
  // kDirectIoAlignment for OpenMode::kReadWriteDirect.
  virtual uint64_t write_alignment() const { return 1; }
};

// WriteQueue: the pipelined write path. Each submission writes bytes into a
// file and, when asked, then makes that file's data durable (fdatasync), so
// that the writer can fill and write the next group while earlier groups'
// fdatasyncs are in flight.
//
// Contract:
//  - submit() and the wait_*() calls may run on two different threads (one
//    submitting, one completing); each of them on one thread at a time.
//  - Submissions complete in submission order: wait_oldest() reports the
//    oldest pending one. A backend may finish them out of order underneath
//    and holds later ones back.
//  - A completed submission with sync = true guarantees every byte it wrote,
//    and every byte any earlier submission to the same file wrote, is durable.
//    With sync = false it guarantees only that the write reached the file
//    (the page cache).
//  - The bytes of `parts` and the File must stay valid until the submission
//    completes.
//  - Short writes, EINTR and EAGAIN are retried inside the backend. Any other
//    failure is the submission's Status (kIOError naming the file, the offset
//    and the errno text); later submissions still complete on their own.
class WriteQueue {
 public:
  virtual ~WriteQueue() = default;
  // Starts the write (an empty `parts` with sync = true is a sync alone).
  // An error here means nothing was started for this submission.
  virtual Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts,
                        bool sync) = 0;
  // Blocks until the oldest pending submission is complete and returns its
  // outcome. Must not be called with nothing pending.
  virtual Status wait_oldest() = 0;
  // Submitted and not yet returned by wait_oldest().
  virtual size_t pending() const = 0;
  // "io_uring" or "pwrite".
  virtual const char* name() const = 0;
};

// An exclusive advisory lock, released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode : uint8_t {
  kRead,
  kReadWrite,
  kCreate,  // read-write, created if missing
  // Read-write, and write_at() bypasses the page cache (O_DIRECT): its
  // offset, every part's address and length must be multiples of
  // kDirectIoAlignment. Reads, sync, size, truncate and map go through the
  // page cache as usual (the kernel keeps both views coherent). kNotSupported
  // when the file system refuses O_DIRECT (tmpfs, say).
  kReadWriteDirect,
};

// What direct writes are aligned to: the page size, a multiple of every
// logical block size in use.
inline constexpr uint64_t kDirectIoAlignment = 4096;

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  // Names in `dir` (no "." or ".."); kNotFound when dir is missing.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  // Creates `dir` and missing parents, each made durable in its parent.
  virtual Status create_dirs(const std::string& dir) = 0;
  // fsync of a directory: entries created or renamed in it are durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // With replace = false, an existing `to` is an error (kIOError, EEXIST)
  // rather than silently replaced.
  virtual Status rename(const std::string& from, const std::string& to, bool replace = true) = 0;
  virtual Status remove(const std::string& path) = 0;
  // Makes `to` another name (a hard link) of the file `from`; an existing
  // `to` is an error. kNotSupported when this file system cannot link them
  // (EXDEV: another file system; EPERM, EOPNOTSUPP, EMLINK): copy instead.
  virtual Status link(const std::string& from, const std::string& to) = 0;
  // kLocked when another holder has it.
  virtual Result<std::unique_ptr<FileLock>> lock(const std::string& path) = 0;
  // kNotFound, or whether `path` is a directory.
  virtual Result<bool> is_dir(const std::string& path) = 0;
  // A write queue over files opened by this file system, holding at most
  // `depth` submissions in flight. kAuto picks io_uring when the kernel
  // allows it and pwrite otherwise; kIoUring fails with kNotSupported
  // when io_uring is unavailable. `why_fallback` receives the
  // reason when kAuto fell back to pwrite.
  virtual Result<std::unique_ptr<WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                                std::string* why_fallback) = 0;
};

// The process-wide pwrite/fdatasync backend.
FileSystem& posix_file_system();

// Reads the whole file (small files only).
Result<std::string> read_file(FileSystem& fs, const std::string& path);
// Writes `bytes` to `dir/name` durably and atomically: a temporary file,
// synced, renamed to `name` (over an existing one only if `replace`),
// directory synced.
Status write_file_atomically(FileSystem& fs, const std::string& dir, const std::string& name,
                             std::string_view bytes, bool replace = true);

}  // namespace cairn::engine
