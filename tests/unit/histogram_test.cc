// cairn::Histogram and engine::HistogramRecorder: the bucket scheme, exact
// totals, percentile accuracy, extremes, concurrency, the one-line summary.
#include "engine/histogram.h"

#include <cairn/histogram.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace cairn::engine {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// The scheme as the header documents it, checked at compile time.
static_assert(Histogram::kBucketCount == 1920);
static_assert(Histogram::bucket_index(0) == 0);
static_assert(Histogram::bucket_index(63) == 63);
static_assert(Histogram::bucket_index(64) == 64);
static_assert(Histogram::bucket_index(kMax) == Histogram::kBucketCount - 1);
static_assert(Histogram::bucket_upper(Histogram::kBucketCount - 1) == kMax);

// Every percentile estimate must be within this of the true value t.
bool within_error(uint64_t estimate, uint64_t t) {
  uint64_t diff = estimate > t ? estimate - t : t - estimate;
  if (t < 64) return diff == 0;
  return static_cast<double>(diff) <= static_cast<double>(t) / 32.0;
}

Histogram record_all(const std::vector<uint64_t>& values) {
  HistogramRecorder recorder;
  for (uint64_t v : values) recorder.record(v);
  return recorder.snapshot();
}

TEST(HistogramBucketsTest, BucketsTileTheWholeRangeInOrder) {
  EXPECT_EQ(Histogram::bucket_lower(0), 0u);
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) {
    uint64_t lower = Histogram::bucket_lower(i);
    uint64_t upper = Histogram::bucket_upper(i);
    ASSERT_LE(lower, upper) << i;
    ASSERT_EQ(Histogram::bucket_index(lower), i);
    ASSERT_EQ(Histogram::bucket_index(upper), i);
    if (i + 1 < Histogram::kBucketCount) {
      ASSERT_EQ(Histogram::bucket_lower(i + 1), upper + 1) << i;
    }
  }
  EXPECT_EQ(Histogram::bucket_upper(Histogram::kBucketCount - 1), kMax);
}

TEST(HistogramBucketsTest, WidthIsOneBelow64AndAtMostOne32ndOfTheLowerBoundAbove) {
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) {
    uint64_t lower = Histogram::bucket_lower(i);
    uint64_t width_minus_one = Histogram::bucket_upper(i) - lower;
    if (i < 64) {
      ASSERT_EQ(lower, i);
      ASSERT_EQ(width_minus_one, 0u);
    } else {
      ASSERT_LT(width_minus_one, lower / 32) << i;  // width <= lower / 32
    }
  }
}

TEST(HistogramBucketsTest, PowersOfTwoAndTheirNeighboursLandInARangeHoldingThem) {
  std::vector<uint64_t> values = {0, 1, kMax, kMax - 1};
  for (unsigned k = 0; k < 64; ++k) {
    uint64_t p = uint64_t{1} << k;
    values.insert(values.end(), {p - 1, p, p + 1});
  }
  for (uint64_t v : values) {
    size_t i = Histogram::bucket_index(v);
    ASSERT_LT(i, Histogram::kBucketCount) << v;
    EXPECT_LE(Histogram::bucket_lower(i), v) << v;
    EXPECT_GE(Histogram::bucket_upper(i), v) << v;
  }
}

TEST(HistogramBucketsTest, KnownIndexesAndRanges) {
  // 64..127: width 2; 128..255: width 4; the last bucket: [63 << 58, 2^64 - 1].
  EXPECT_EQ(Histogram::bucket_index(65), 64u);
  EXPECT_EQ(Histogram::bucket_index(66), 65u);
  EXPECT_EQ(Histogram::bucket_index(127), 95u);
  EXPECT_EQ(Histogram::bucket_index(128), 96u);
  EXPECT_EQ(Histogram::bucket_lower(96), 128u);
  EXPECT_EQ(Histogram::bucket_upper(96), 131u);
  EXPECT_EQ(Histogram::bucket_index(uint64_t{1} << 63), 1888u);
  EXPECT_EQ(Histogram::bucket_lower(1919), uint64_t{63} << 58);
}

TEST(HistogramTest, EmptyIsAllZero) {
  HistogramRecorder recorder;
  for (const Histogram& h : {Histogram(), recorder.snapshot()}) {
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.sum(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
    EXPECT_EQ(h.percentile(0), 0u);
    EXPECT_EQ(h.percentile(50), 0u);
    EXPECT_EQ(h.percentile(100), 0u);
    for (uint64_t n : h.buckets()) ASSERT_EQ(n, 0u);
    EXPECT_EQ(h.to_string(), "count=0 mean=0.00 p50=0 p99=0 p999=0 max=0");
  }
}

TEST(HistogramTest, SingleValueIsEveryPercentile) {
  Histogram h = record_all({1000});
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.sum(), 1000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_EQ(h.mean(), 1000.0);
  for (double p : {0.0, 1.0, 50.0, 99.0, 99.9, 100.0}) EXPECT_EQ(h.percentile(p), 1000u) << p;
  EXPECT_EQ(h.buckets()[Histogram::bucket_index(1000)], 1u);
  EXPECT_EQ(h.to_string(), "count=1 mean=1000.00 p50=1000 p99=1000 p999=1000 max=1000");
}

TEST(HistogramTest, ExactCountSumMinMax) {
  Histogram h = record_all({7, 3, 1'000'000, 3, 65, 12'345'678'901});
  EXPECT_EQ(h.count(), 6u);
  EXPECT_EQ(h.sum(), 7u + 3 + 1'000'000 + 3 + 65 + 12'345'678'901);
  EXPECT_EQ(h.min(), 3u);
  EXPECT_EQ(h.max(), 12'345'678'901u);
  EXPECT_EQ(h.buckets()[3], 2u);
  EXPECT_EQ(h.buckets()[7], 1u);
  EXPECT_EQ(h.buckets()[Histogram::bucket_index(65)], 1u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  std::vector<uint64_t> values;
  for (uint64_t v = 1; v <= 60; ++v) values.push_back(v);
  Histogram h = record_all(values);
  // Rank round(p / 100 * 60), at least 1; below 64 the value is the rank.
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_EQ(h.percentile(10), 6u);
  EXPECT_EQ(h.percentile(50), 30u);
  EXPECT_EQ(h.percentile(99), 59u);
  EXPECT_EQ(h.percentile(100), 60u);
  EXPECT_EQ(h.to_string(), "count=60 mean=30.50 p50=30 p99=59 p999=60 max=60");
}

TEST(HistogramTest, EndsAreExactAndAnInteriorValueIsItsBucketsMidpoint) {
  Histogram h = record_all({1000, 5000, 9000});
  EXPECT_EQ(h.percentile(0), 1000u);    // rank 1: min
  EXPECT_EQ(h.percentile(100), 9000u);  // rank 3: max
  // Rank 2 is alone in bucket [4992, 5119]: 4992 + round(0.5 * 127) = 5056,
  // 56 from the truth, within 5000 / 32.
  EXPECT_EQ(Histogram::bucket_lower(Histogram::bucket_index(5000)), 4992u);
  EXPECT_EQ(Histogram::bucket_upper(Histogram::bucket_index(5000)), 5119u);
  EXPECT_EQ(h.percentile(50), 5056u);
  EXPECT_TRUE(within_error(h.percentile(50), 5000));
}

TEST(HistogramTest, UniformOneToHundredThousandWithinRelativeError) {
  HistogramRecorder recorder;
  for (uint64_t v = 1; v <= 100'000; ++v) recorder.record(v);
  Histogram h = recorder.snapshot();
  EXPECT_EQ(h.count(), 100'000u);
  EXPECT_EQ(h.sum(), 5'000'050'000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100'000u);
  EXPECT_EQ(h.mean(), 50'000.5);
  for (int tenths = 0; tenths <= 1000; ++tenths) {
    double p = tenths / 10.0;
    uint64_t truth = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(p * 1000)));
    uint64_t estimate = h.percentile(p);
    ASSERT_TRUE(within_error(estimate, truth)) << "p" << p << " " << estimate << " vs " << truth;
    // Each bucket's part inside [min, max] holds each of its values once, so
    // spreading them evenly is exact.
    ASSERT_EQ(estimate, truth) << "p" << p;
  }
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_EQ(h.percentile(50), 50'000u);
  EXPECT_EQ(h.percentile(100), 100'000u);
  // The top bucket, [98304, 100351], is cut at max = 100000 and interpolates
  // over [98304, 100000] only.
  EXPECT_EQ(h.percentile(99), 99'000u);
  EXPECT_EQ(h.percentile(99.9), 99'900u);
  EXPECT_EQ(h.to_string(), "count=100000 mean=50000.50 p50=50000 p99=99000 p999=99900 max=100000");
}

TEST(HistogramTest, LargeSpreadValuesWithinRelativeError) {
  std::vector<uint64_t> values;
  for (uint64_t j = 0; j < 1000; ++j) values.push_back((uint64_t{1} << 40) + j * (uint64_t{1} << 33));
  Histogram h = record_all(values);
  for (int p = 0; p <= 100; ++p) {
    uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(p * 10.0)));
    uint64_t truth = values[rank - 1];
    ASSERT_TRUE(within_error(h.percentile(p), truth)) << "p" << p;
  }
}

TEST(HistogramTest, PercentileIsMonotoneAndClampedToMinMax) {
  std::vector<uint64_t> values;
  for (uint64_t v = 1; v < 5000; v = v * 3 / 2 + 1) values.push_back(v);  // skewed
  for (int i = 0; i < 50; ++i) values.push_back(77);
  Histogram h = record_all(values);
  uint64_t previous = 0;
  for (int tenths = 0; tenths <= 1000; ++tenths) {
    uint64_t value = h.percentile(tenths / 10.0);
    ASSERT_GE(value, previous) << tenths;
    ASSERT_GE(value, h.min());
    ASSERT_LE(value, h.max());
    previous = value;
  }
}

TEST(HistogramTest, PercentileArgumentOutsideTheRange) {
  Histogram h = record_all({10, 20, 30});
  EXPECT_EQ(h.percentile(-5), 10u);
  EXPECT_EQ(h.percentile(150), 30u);
  EXPECT_EQ(h.percentile(std::nan("")), 10u);
}

TEST(HistogramTest, ExtremeValues) {
  Histogram h = record_all({0, 1, kMax});
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.sum(), 0u);  // 0 + 1 + (2^64 - 1) wraps to 0, as documented
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), kMax);
  EXPECT_EQ(h.percentile(0), 0u);
  EXPECT_EQ(h.percentile(50), 1u);
  EXPECT_EQ(h.percentile(100), kMax);
  EXPECT_EQ(h.buckets()[0], 1u);
  EXPECT_EQ(h.buckets()[1], 1u);
  EXPECT_EQ(h.buckets()[Histogram::kBucketCount - 1], 1u);

  // Many values in the last bucket: interpolation there must not overflow.
  HistogramRecorder top;
  for (uint64_t j = 0; j < 64; ++j) top.record(kMax - j * (uint64_t{1} << 52));
  Histogram t = top.snapshot();
  EXPECT_EQ(t.max(), kMax);
  for (int p = 0; p <= 100; ++p) {
    uint64_t value = t.percentile(p);
    ASSERT_GE(value, Histogram::bucket_lower(Histogram::kBucketCount - 1)) << p;
    ASSERT_GE(value, t.min()) << p;
  }
  EXPECT_EQ(t.percentile(100), kMax);

  Histogram only_max = record_all({kMax, kMax});
  EXPECT_EQ(only_max.sum(), kMax - 1);  // wraps
  EXPECT_EQ(only_max.percentile(50), kMax);
  EXPECT_EQ(only_max.to_string(),
            "count=2 mean=9223372036854775808.00 p50=18446744073709551615 "
            "p99=18446744073709551615 p999=18446744073709551615 max=18446744073709551615");
}

TEST(HistogramTest, SnapshotIsAnIndependentCopy) {
  HistogramRecorder recorder;
  recorder.record(5);
  Histogram before = recorder.snapshot();
  recorder.record(500);
  Histogram copy = before;
  EXPECT_EQ(copy.count(), 1u);
  EXPECT_EQ(copy.max(), 5u);
  EXPECT_EQ(recorder.snapshot().count(), 2u);
}

TEST(HistogramTest, ResetEmpties) {
  HistogramRecorder recorder;
  recorder.record(100);
  recorder.record(3);
  recorder.reset();
  Histogram h = recorder.snapshot();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sum(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  recorder.record(42);
  h = recorder.snapshot();
  EXPECT_EQ(h.min(), 42u);
  EXPECT_EQ(h.max(), 42u);
  EXPECT_EQ(h.sum(), 42u);
}

TEST(HistogramRecorderTest, FourThreadsOfAMillionRecordsHaveExactTotals) {
  constexpr uint64_t kThreads = 4;
  constexpr uint64_t kPerThread = 1'000'000;
  HistogramRecorder recorder;
  std::atomic<bool> done{false};

  // A reader snapshots while the writers run: every snapshot is self-consistent.
  std::thread reader([&] {
    uint64_t last_count = 0;
    while (!done.load()) {
      Histogram h = recorder.snapshot();
      uint64_t total = 0;
      for (uint64_t n : h.buckets()) total += n;
      EXPECT_EQ(total, h.count());
      EXPECT_GE(h.count(), last_count);
      if (h.count() > 0) {
        EXPECT_LE(h.min(), h.max());
        EXPECT_LE(h.percentile(100), h.max());
      }
      last_count = h.count();
    }
  });
  std::vector<std::thread> writers;
  for (uint64_t t = 0; t < kThreads; ++t) {
    writers.emplace_back([&recorder, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) recorder.record(i * kThreads + t);
    });
  }
  for (std::thread& w : writers) w.join();
  done.store(true);
  reader.join();

  // Together the writers recorded each of 0 .. 4M - 1 once.
  constexpr uint64_t n = kThreads * kPerThread;
  Histogram h = recorder.snapshot();
  EXPECT_EQ(h.count(), n);
  EXPECT_EQ(h.sum(), n * (n - 1) / 2);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), n - 1);
  Histogram::Buckets expected{};
  for (uint64_t v = 0; v < n; ++v) ++expected[Histogram::bucket_index(v)];
  EXPECT_EQ(h.buckets(), expected);
}

}  // namespace
}  // namespace cairn::engine
