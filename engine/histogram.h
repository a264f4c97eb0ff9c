// HistogramRecorder: the concurrent side of cairn::Histogram. Any number of
// threads call record(); anyone may take a snapshot() at any time.
//
// record() costs one relaxed fetch_add on the value's bucket, one on the sum,
// and a relaxed load each of min and max. Bucket and sum updates are
// wait-free. Min/max are lock-free: only a value that is a new extreme does a
// compare-exchange, and it retries only while other threads keep setting
// newer extremes (in steady state no value is one, so it is two loads).
// There is no count of its own: a snapshot's count is the total of its
// buckets.
//
// snapshot() is not atomic across buckets: a snapshot taken while records run
// may include a record's bucket but not yet its sum or min/max, or the
// reverse. It is always self-consistent (see Histogram's invariants: min and
// max are clamped into the first and last non-empty buckets), and exact once
// the recording threads have finished (joined, or otherwise synchronized).
#pragma once

#include <cairn/histogram.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

namespace cairn::engine {

class HistogramRecorder {
 public:
  HistogramRecorder() = default;
  HistogramRecorder(const HistogramRecorder&) = delete;
  HistogramRecorder& operator=(const HistogramRecorder&) = delete;

  void record(uint64_t value) {
    buckets_[Histogram::bucket_index(value)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
    lower_min(value);
    raise_max(value);
  }

  Histogram snapshot() const;

  // Back to empty. Records racing with reset() may be kept in part (say, the
  // bucket but not the sum); snapshots stay self-consistent regardless.
  void reset();

 private:
  void lower_min(uint64_t value) {
    uint64_t current = min_.load(std::memory_order_relaxed);
    while (value < current &&
           !min_.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
    }
  }
  void raise_max(uint64_t value) {
    uint64_t current = max_.load(std::memory_order_relaxed);
    while (value > current &&
           !max_.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
    }
  }

  std::array<std::atomic<uint64_t>, Histogram::kBucketCount> buckets_{};
  std::atomic<uint64_t> sum_{0};
  // Empty: min_ above every value, max_ below or equal to every value.
  std::atomic<uint64_t> min_{std::numeric_limits<uint64_t>::max()};
  std::atomic<uint64_t> max_{0};
};

}  // namespace cairn::engine
