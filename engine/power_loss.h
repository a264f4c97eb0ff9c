// PowerLossFileSystem: a FileSystem of the I/O seam, for tests, that knows
// what a power loss would keep and can make it happen.
//
// It forwards to a base file system and remembers, per file, what the last
// successful fdatasync made durable, and per directory, which entries the
// last directory fsync made durable:
//   - before a write lands, the old bytes of every 512-byte sector it touches
//     below the synced size are saved (once per sector between two syncs);
//   - a sync that succeeds forgets the sectors saved before it started and
//     makes the file's size at its start the synced size;
//   - creating, renaming and removing entries is journaled per directory
//     until that directory is synced (a removed or replaced file's durable
//     bytes are kept in the journal).
//
// cut_power_after(n): the nth next mutating operation (a write, a sync, a
// truncate, a create, a rename, a remove, a directory sync, counted across
// all files and both write-queue backends) and everything after it fail with
// EIO and change nothing; a submission completing after the cut reports EIO
// too, so nothing is acknowledged once the power is gone. The caller then
// closes the store (its further I/O fails) and calls restore_after_power_loss(),
// which turns the files on disk into what the power loss left:
//   kRevert  every unsynced sector goes back to its synced bytes, every file
//            to its synced size;
//   kSubset  each unsynced sector independently keeps its new bytes or goes
//            back; a file that grew keeps a random number of its new sectors,
//            each of them holding its new bytes or zeros (holes);
//   kPrefix  a torn write: the unsynced sectors in file order keep their new
//            bytes up to a random point, the rest go back.
// In every mode the directory changes since the last directory sync are
// undone (created or linked files vanish, renames go back, removed or replaced files
// return with their durable bytes).
//
// Simplifications: directories made by create_dirs are durable at once (its
// contract syncs them); a rename across directories is journaled in the
// target's directory only. Thread-safe.
#pragma once

#include "engine/io.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cairn::engine {

class PowerLossFileSystem final : public FileSystem {
 public:
  enum class Loss : uint8_t { kRevert, kSubset, kPrefix };
  static constexpr uint64_t kSector = 512;

  explicit PowerLossFileSystem(FileSystem& base) : base_(base) {}

  // The power fails at the `nth` next mutating operation (1 = the very next).
  void cut_power_after(uint64_t nth);
  void cut_power_now();
  bool power_is_off() const;
  // Mutating operations seen so far.
  uint64_t operations() const;

  // Leaves on disk what survived the power loss (`seed` picks the sectors
  // in kSubset and kPrefix), then forgets everything: the power is back
  // and every file is as durable as it is. Call it only once nothing uses
  // the files (the store is closed).
  Status restore_after_power_loss(Loss loss, uint64_t seed);

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  Result<std::vector<std::string>> list(const std::string& dir) override { return base_.list(dir); }
  Status create_dirs(const std::string& dir) override;
  Status sync_dir(const std::string& dir) override;
  Status rename(const std::string& from, const std::string& to, bool replace) override;
  Status remove(const std::string& path) override;
  Status link(const std::string& from, const std::string& to) override;
  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override { return base_.lock(path); }
  Result<bool> is_dir(const std::string& path) override { return base_.is_dir(path); }
  Result<std::unique_ptr<WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                        std::string* why_fallback) override;

  // What a file remembers; shared by its open handles. Guarded by mu_.
  struct Node {
    uint64_t synced_size = 0;
    uint64_t epoch = 0;  // bumped when a sync starts
    struct Saved {
      std::string bytes;   // the sector's durable bytes (shorter at the synced end)
      uint64_t epoch = 0;  // when it was saved
    };
    std::map<uint64_t, Saved> saved;  // by sector number
  };
  // A sync on its way: what it will have made durable once it succeeds.
  struct SyncTicket {
    uint64_t epoch = 0;  // sectors saved before it are covered
    uint64_t size = 0;   // the file's size when it started
  };
  // Called by its files and queues (each counts one operation). `pending_end`:
  // the end of a write submitted with the sync and not yet done.
  Status before_write(Node& node, File& base, uint64_t offset, uint64_t length);
  Result<SyncTicket> before_sync(Node& node, File& base, uint64_t pending_end);
  Status after_sync(Node& node, const SyncTicket& ticket, const std::string& path);
  Status before_truncate(Node& node, File& base, uint64_t size);

 private:
  struct DirOp {
    enum Kind : uint8_t { kCreate, kRename, kRemove } kind;
    std::string from;       // kRename: the old path
    std::string path;       // the created, removed or renamed-to path
    bool had_old = false;   // a file was replaced or removed: `old` holds its durable bytes
    std::string old;
  };
  // Under mu_:
  Status count_operation(const std::string& what);  // fails once the power is off
  std::shared_ptr<Node> node_for(const std::string& path, File& base);
  Result<std::string> durable_bytes(const std::string& path);
  Status save_sectors(Node& node, File& base, uint64_t from, uint64_t to);
  // restore_after_power_loss, in steps:
  Status revert_file(const std::string& path, const Node& node, Loss loss, uint64_t seed);
  Status undo(const DirOp& op);

  FileSystem& base_;
  mutable std::mutex mu_;
  uint64_t operations_ = 0;
  uint64_t cut_at_ = 0;  // 0: not armed
  bool off_ = false;
  std::map<std::string, std::shared_ptr<Node>> nodes_;    // by current path
  std::map<std::string, std::vector<DirOp>> journal_;     // by directory, oldest first
};

}  // namespace cairn::engine
