// A FileSystem that forwards every call to the posix backend: tests derive
// from it and override the calls they watch, delay or refuse.
#pragma once

#include "engine/io.h"

namespace cairn::test {

class ForwardingFileSystem : public engine::FileSystem {
 public:
  Result<std::unique_ptr<engine::File>> open(const std::string& path, engine::OpenMode mode) override {
    return base_.open(path, mode);
  }
  Result<std::vector<std::string>> list(const std::string& dir) override { return base_.list(dir); }
  Status create_dirs(const std::string& dir) override { return base_.create_dirs(dir); }
  Status sync_dir(const std::string& dir) override { return base_.sync_dir(dir); }
  Status rename(const std::string& from, const std::string& to, bool replace) override {
    return base_.rename(from, to, replace);
  }
  Status remove(const std::string& path) override { return base_.remove(path); }
  Status link(const std::string& from, const std::string& to) override { return base_.link(from, to); }
  Result<std::unique_ptr<engine::FileLock>> lock(const std::string& path) override { return base_.lock(path); }
  Result<bool> is_dir(const std::string& path) override { return base_.is_dir(path); }
  Result<std::unique_ptr<engine::WriteQueue>> make_write_queue(IoBackend backend, unsigned depth,
                                                               std::string* why_fallback) override {
    return base_.make_write_queue(backend, depth, why_fallback);
  }

 protected:
  engine::FileSystem& base_ = engine::posix_file_system();
};

}  // namespace cairn::test
