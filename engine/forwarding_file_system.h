// ForwardingFileSystem: a FileSystem that passes every call to another one.
// Wrappers (the fault injector, tests' watchers) derive from it and override
// only the calls they change.
#pragma once

#include "engine/io.h"

namespace cairn::engine {

class ForwardingFileSystem : public FileSystem {
 public:
  explicit ForwardingFileSystem(FileSystem& base) : base_(base) {}

  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override { return base_.open(path, mode); }
  Result<std::vector<std::string>> list(const std::string& dir) override { return base_.list(dir); }
  Status create_dirs(const std::string& dir) override { return base_.create_dirs(dir); }
  Status sync_dir(const std::string& dir) override { return base_.sync_dir(dir); }
  Status rename(const std::string& from, const std::string& to, bool replace) override {
    return base_.rename(from, to, replace);
  }
  Status remove(const std::string& path) override { return base_.remove(path); }
  Status link(const std::string& from, const std::string& to) override { return base_.link(from, to); }
  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override { return base_.lock(path); }
  Result<bool> is_dir(const std::string& path) override { return base_.is_dir(path); }
  Result<std::unique_ptr<WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                        std::string* why_fallback) override {
    return base_.make_write_queue(backend, depth, why_fallback);
  }

 protected:
  FileSystem& base_;
};

}  // namespace cairn::engine
