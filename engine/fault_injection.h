// FaultInjectingFileSystem: a FileSystem of the I/O seam that forwards to
// another one and fails chosen operations, for tests of the engine's error
// paths (fail-stop after a failed write or fdatasync, ENOSPC).
//
// A fault is armed for the Nth next operation of a kind, counted across all
// files opened through this file system; it fires once. Thread-safe.
//
// Its write queues inject the same faults into either backend: a submission
// with bytes counts one kWrite (when it fires, the write's prefix, if any, is
// written at once and the submission fails), one with sync counts one kSync
// (when it fires, the bytes are written but the submission fails as if the
// fdatasync had). The failure is reported by wait_oldest(), in order.
//
// A failed write may leave a prefix of its bytes in the file (WriteFault):
// short (any number of bytes: the backends retry a short count, so a short
// write matters only when the retry fails, which is what this injects) or
// torn at a 512-byte sector boundary (what a device writing whole sectors
// leaves when it fails midway). For power loss see engine/power_loss.h.
#pragma once

#include "engine/forwarding_file_system.h"
#include "engine/io.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace cairn::engine {

enum class FaultOp : uint8_t { kWrite, kSync };

// How much of a failed write reaches the file.
enum class WriteFault : uint8_t {
  kNothing,  // no byte
  kShort,    // its first `keep` bytes (fewer than all of them)
  kTorn,     // its bytes up to the last 512-byte boundary of the file at or
             // before the write's offset + `keep`: whole sectors only
};

class FaultInjectingFileSystem final : public ForwardingFileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem& base) : ForwardingFileSystem(base) {}

  // The `nth` next operation of kind `op` (1 = the very next) fails with
  // `error` (an errno value such as EIO or ENOSPC) and changes nothing.
  void fail(FaultOp op, uint64_t nth, int error);
  // The `nth` next write fails with `error` after writing the prefix `how`
  // and `keep` choose.
  void fail_write(uint64_t nth, int error, WriteFault how, uint64_t keep);
  // Operations of kind `op` seen so far.
  uint64_t count(FaultOp op) const;
  // Faults that fired so far.
  uint64_t fired() const;

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  // A queue of the base file system's, behind one that injects the faults.
  // It takes only files opened through this file system.
  Result<std::unique_ptr<WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                        std::string* why_fallback) override;

  // Count and fail only operations on files whose path ends with `suffix`
  // (say ".seg": the log, not the index files); empty: every file.
  void only_files_ending_with(std::string suffix) { suffix_ = std::move(suffix); }
  struct Injected {
    int error = 0;  // 0: no fault
    WriteFault how = WriteFault::kNothing;
    uint64_t keep = 0;
  };
  // Called by the files it opened: the fault to inject for this operation.
  Injected next(FaultOp op, const std::string& path);

 private:
  struct Armed {
    uint64_t at = 0;  // operation count at which it fires; 0: not armed
    Injected fault;
  };
  mutable std::mutex mu_;
  uint64_t counts_[2] = {0, 0};
  Armed armed_[2];
  uint64_t fired_ = 0;
  std::string suffix_;  // set before use, read without the lock
};

}  // namespace cairn::engine
