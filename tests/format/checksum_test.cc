// The checksum is XXH3-64 whatever code computes it: the AVX2 build (chosen
// at run time for long inputs) and streaming over any chunking give the
// portable result, which is pinned to known values.
#include "format/checksum.h"
#include "format/checksum_vector.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace cairn::format {
namespace {

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(ChecksumTest, KnownValues) {
  EXPECT_EQ(checksum("", 0), 0x2D06800538D394C2ull);  // XXH3-64 of nothing, seed 0
  std::string a(1000, 'a');
  EXPECT_EQ(checksum(a), detail::checksum_portable(a.data(), a.size()));
}

TEST(ChecksumTest, EveryLengthMatchesThePortableBuild) {
  std::mt19937_64 rng(7);
  for (size_t n = 0; n < 5000; n += 1 + n / 64) {
    std::string s = random_bytes(rng, n);
    ASSERT_EQ(checksum(s), detail::checksum_portable(s.data(), s.size())) << n << " bytes";
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
      ASSERT_EQ(detail::checksum_avx2(s.data(), s.size()), detail::checksum_portable(s.data(), s.size()))
          << n << " bytes";
    }
#endif
  }
  std::string big = random_bytes(rng, 3 << 20);
  EXPECT_EQ(checksum(big), detail::checksum_portable(big.data(), big.size()));
}

TEST(ChecksumTest, StreamingOverAnyChunkingEqualsOneShot) {
  std::mt19937_64 rng(11);
  std::string data = random_bytes(rng, 1 << 20);
  uint64_t expected = detail::checksum_portable(data.data(), data.size());
  for (int round = 0; round < 20; ++round) {
    StreamingChecksum sum;
    size_t at = 0;
    while (at < data.size()) {
      size_t n = std::min<size_t>(data.size() - at, rng() % 4 == 0 ? rng() % 100 : rng() % 20000);
      sum.update(data.data() + at, n);
      at += n;
    }
    ASSERT_EQ(sum.digest(), expected) << "round " << round;
    sum.reset();
    sum.update(data);
    ASSERT_EQ(sum.digest(), expected);
  }
}

}  // namespace
}  // namespace cairn::format
