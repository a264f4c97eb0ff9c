// XXH3 compiled for AVX2 (CMake builds this file with -mavx2, on x86-64
// only; format/checksum.cc calls it only when the CPU has AVX2). The same
// hash as the portable build, about twice as fast over long inputs.
#include "format/checksum_vector.h"

#define XXH_INLINE_ALL
#if defined(__AVX2__)  // not in builds that compile format/ without -mavx2 (the fuzzers): the portable code then
#define XXH_VECTOR XXH_AVX2
#endif
#include <xxhash.h>

namespace cairn::format::detail {

uint64_t checksum_avx2(const void* data, size_t size) { return XXH3_64bits(data, size); }

void checksum_update_avx2(void* state, const void* data, size_t size) {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state), data, size);
}

}  // namespace cairn::format::detail
