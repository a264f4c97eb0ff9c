// Opening a Store over any FileSystem of the I/O seam (Store::open uses the
// pwrite backend; tests pass a fault-injecting one).
#pragma once

#include "engine/io.h"

#include <cairn/store.h>

#include <memory>
#include <string>

namespace cairn::engine {

// `fs` must outlive the store.
Result<std::unique_ptr<Store>> open_store(FileSystem& fs, const std::string& dir, const Options& options);

}  // namespace cairn::engine
