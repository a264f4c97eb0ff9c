// cairn::Histogram (the public snapshot) and engine::HistogramRecorder.
#include "engine/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace cairn {
namespace {

// The 1-based rank of percentile p among count > 0 values, in [1, count].
uint64_t rank_at(double p, uint64_t count) {
  if (!(p > 0)) p = 0;  // also NaN
  if (p > 100) p = 100;
  double rank = std::round(p / 100.0 * static_cast<double>(count));
  if (rank < 1) return 1;
  if (rank >= static_cast<double>(count)) return count;
  return static_cast<uint64_t>(rank);
}

// The k-th (1-based) of `in_bucket` values spread evenly over [lo, hi].
// Always inside [lo, hi].
uint64_t interpolate(uint64_t lo, uint64_t hi, uint64_t k, uint64_t in_bucket) {
  uint64_t width = hi - lo;
  if (width == 0) return lo;
  double fraction = (static_cast<double>(k) - 0.5) / static_cast<double>(in_bucket);
  double offset = std::round(fraction * static_cast<double>(width));
  // Doubles round widths near 2^58 up; never step past hi.
  if (offset >= static_cast<double>(width)) return hi;
  return lo + static_cast<uint64_t>(offset);
}

}  // namespace

double Histogram::mean() const {
  if (count_ == 0) return 0;
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  uint64_t rank = rank_at(p, count_);
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  // count_ is the total of buckets_, so the walk stops before the end.
  uint64_t before = 0;
  size_t i = 0;
  while (before + buckets_[i] < rank) before += buckets_[i++];
  // Only the part of the bucket inside [min_, max_] can hold values; by the
  // invariants on min_ and max_ that part is never empty.
  uint64_t lo = std::max(bucket_lower(i), min_);
  uint64_t hi = std::min(bucket_upper(i), max_);
  return interpolate(lo, hi, rank - before, buckets_[i]);
}

std::string Histogram::to_string() const {
  char mean_text[64];
  std::snprintf(mean_text, sizeof mean_text, "%.2f", mean());
  return "count=" + std::to_string(count_) + " mean=" + mean_text +
         " p50=" + std::to_string(percentile(50)) + " p99=" + std::to_string(percentile(99)) +
         " p999=" + std::to_string(percentile(99.9)) + " max=" + std::to_string(max_);
}

namespace engine {

Histogram HistogramRecorder::snapshot() const {
  Histogram h;
  size_t first = Histogram::kBucketCount;
  size_t last = 0;
  for (size_t i = 0; i < Histogram::kBucketCount; ++i) {
    uint64_t n = buckets_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    h.buckets_[i] = n;
    h.count_ += n;
    first = std::min(first, i);
    last = i;
  }
  if (h.count_ == 0) return h;
  h.sum_ = sum_.load(std::memory_order_relaxed);
  // Racing records may have counted a bucket before moving min/max (or the
  // reverse); clamping keeps the snapshot's invariants. When quiescent, min_
  // and max_ already lie in these buckets and are unchanged.
  h.min_ = std::clamp(min_.load(std::memory_order_relaxed), Histogram::bucket_lower(first),
                      Histogram::bucket_upper(first));
  h.max_ = std::clamp(max_.load(std::memory_order_relaxed), Histogram::bucket_lower(last),
                      Histogram::bucket_upper(last));
  return h;
}

void HistogramRecorder::reset() {
  for (std::atomic<uint64_t>& bucket : buckets_) bucket.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  min_.store(std::numeric_limits<uint64_t>::max(), std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

}  // namespace engine
}  // namespace cairn
