// The AVX2 build of the checksum (format/checksum_avx2.cc), for
// format/checksum.cc and its test only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::format::detail {

#if defined(__x86_64__)
uint64_t checksum_avx2(const void* data, size_t size);
// Continues an XXH3_state_t made by format/checksum.cc (the state's layout
// does not depend on the vector width).
void checksum_update_avx2(void* state, const void* data, size_t size);
#endif

// XXH3-64 with the portable (SSE2 or scalar) code, whatever the CPU.
uint64_t checksum_portable(const void* data, size_t size);

}  // namespace cairn::format::detail
