// Names the calling thread (as `top -H`, `perf` and debuggers show it).
// Linux keeps at most 15 bytes of a name.
#pragma once

#include <pthread.h>

namespace cairn::engine {

inline void name_this_thread(const char* name) { (void)pthread_setname_np(pthread_self(), name); }

}  // namespace cairn::engine
