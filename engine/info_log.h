// Where the store reports what it did on its own (a torn tail cut off, a
// fallback to pwrite): Options::info_log, or one line on standard error.
#pragma once

#include <cairn/options.h>

#include <cstdio>
#include <string>
#include <string_view>

namespace cairn::engine {

inline void info(const Options& options, std::string_view message) {
  if (options.info_log) {
    options.info_log(message);
  } else {
    std::fprintf(stderr, "cairn: %.*s\n", static_cast<int>(message.size()), message.data());
  }
}

}  // namespace cairn::engine
