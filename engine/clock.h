// Wall-clock time as stored in Cairn's files: UNIX epoch nanoseconds.
#pragma once

#include <chrono>
#include <cstdint>

namespace cairn::engine {

inline int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace cairn::engine
