// Histogram: a read-only snapshot of a distribution of uint64_t values (events
// per batch, bytes per batch, fdatasync latency, queue wait), as returned by
// Store::stats(). Plain data: copying one copies a fixed-size array, with no
// allocation and no pointers into the store.
//
// Bucket scheme (log-linear, like HdrHistogram with 5 sub-bucket bits):
//   - values 0..63 each have a bucket of their own (exact);
//   - every power-of-two range [2^k, 2^(k+1)) with k >= 6 is cut into 32
//     equal sub-buckets of width 2^(k-5).
// So bucket i covers [bucket_lower(i), bucket_upper(i)], the buckets tile
// 0..UINT64_MAX without gaps or overlap, and there are 60 * 32 = 1920 of them.
// For a bucket with lower bound L >= 64 the width is at most L / 32, so any
// value reported from inside a bucket is within 1/32 (3.125%) of every value
// the bucket holds; below 64 it is exact.
//
// The index of a value v: shift = max(0, floor(log2 v) - 5), computed as
// 58 - countl_zero(v | 32); index = 32 * shift + (v >> shift). (For v < 64
// the shift is 0 and the index is v itself.)
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace cairn {

namespace engine {
class HistogramRecorder;
}

class Histogram {
 public:
  static constexpr unsigned kSubBucketBits = 5;
  static constexpr size_t kSubBuckets = size_t{1} << kSubBucketBits;                // 32
  static constexpr size_t kBucketCount = (64 - kSubBucketBits + 1) * kSubBuckets;  // 1920
  using Buckets = std::array<uint64_t, kBucketCount>;

  // An empty histogram: count, sum, min, max and every percentile are 0.
  Histogram() = default;

  // Number of values recorded; always the total of buckets().
  uint64_t count() const { return count_; }
  // Total of the values recorded, modulo 2^64 (it wraps; for the metrics
  // here, nanoseconds and bytes, that takes centuries or exabytes).
  uint64_t sum() const { return sum_; }
  // Smallest and largest value recorded; 0 when empty.
  uint64_t min() const { return min_; }
  uint64_t max() const { return max_; }
  // sum() / count(); 0 when empty.
  double mean() const;

  // The value at percentile p (p in [0, 100]; outside is clamped, NaN is 0):
  // the value of rank r = round(p / 100 * count), at least 1, in sorted
  // order. Rank 1 is min() and rank count() is max(), exactly; any other rank
  // is estimated by spreading the values of the bucket holding it evenly over
  // the part of the bucket inside [min(), max()]. The estimate is within the
  // bucket's relative error (< 1/32, exact below 64) of the true value. 0
  // when empty.
  uint64_t percentile(double p) const;

  // One line: "count=5 mean=3.00 p50=3 p99=5 p999=5 max=5".
  std::string to_string() const;

  // Count per bucket, indexed as bucket_index() describes.
  const Buckets& buckets() const { return buckets_; }

  // The bucket scheme (see the top of this file).
  static constexpr size_t bucket_index(uint64_t value) {
    unsigned shift = 58u - static_cast<unsigned>(std::countl_zero(value | 32u));
    return (size_t{shift} << kSubBucketBits) + static_cast<size_t>(value >> shift);
  }
  // Smallest value of bucket i (i < kBucketCount).
  static constexpr uint64_t bucket_lower(size_t i) {
    unsigned shift = bucket_shift(i);
    return static_cast<uint64_t>(i - (size_t{shift} << kSubBucketBits)) << shift;
  }
  // Largest value of bucket i (i < kBucketCount); the last bucket ends at UINT64_MAX.
  static constexpr uint64_t bucket_upper(size_t i) {
    return bucket_lower(i) + ((uint64_t{1} << bucket_shift(i)) - 1);
  }

 private:
  friend class engine::HistogramRecorder;

  // log2 of bucket i's width: 0 for the 64 exact buckets.
  static constexpr unsigned bucket_shift(size_t i) {
    return i < 2 * kSubBuckets ? 0u : static_cast<unsigned>(i >> kSubBucketBits) - 1u;
  }

  // Invariants: count_ is the total of buckets_; when count_ > 0, min_ lies in
  // the first non-empty bucket and max_ in the last; when empty all are 0.
  Buckets buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
};

}  // namespace cairn
