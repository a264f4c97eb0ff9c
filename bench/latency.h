// LatencyHistogram: a bounded log-linear histogram that cairn-bench's load
// threads fill (cairn::Histogram is a read-only snapshot the store hands out).
// It uses cairn::Histogram's buckets (values below 64 exact, then 32
// sub-buckets per power of two: within 3.1%), so the difference of two
// StoreStats snapshots can be read with the same percentile code.
#pragma once

#include <cairn/histogram.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace cairn::bench {

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(cairn::Histogram::kBucketCount, 0) {}

  void record(uint64_t value) {
    ++counts_[cairn::Histogram::bucket_index(value)];
    if (count_ == 0 || value < min_) min_ = value;
    max_ = std::max(max_, value);
    ++count_;
  }

  void merge(const LatencyHistogram& other) {
    if (other.count_ == 0) return;
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    count_ += other.count_;
  }

  // What was recorded into a store histogram between two snapshots. Min and
  // max come from the bounds of the first and last non-empty buckets (exact
  // max when `after`'s max falls in the last one).
  static LatencyHistogram difference(const cairn::Histogram& after, const cairn::Histogram& before) {
    LatencyHistogram h;
    for (size_t i = 0; i < h.counts_.size(); ++i) {
      uint64_t n = after.buckets()[i] - before.buckets()[i];
      if (n == 0) continue;
      h.counts_[i] = n;
      if (h.count_ == 0) h.min_ = cairn::Histogram::bucket_lower(i);
      h.max_ = cairn::Histogram::bucket_upper(i);
      h.count_ += n;
    }
    if (h.count_ > 0 && cairn::Histogram::bucket_index(after.max()) == cairn::Histogram::bucket_index(h.max_))
      h.max_ = after.max();
    return h;
  }

  uint64_t count() const { return count_; }
  uint64_t min() const { return min_; }
  uint64_t max() const { return max_; }

  // The value of rank round(p / 100 * count) (at least 1) in sorted order;
  // inside a bucket, values are taken as spread evenly over it. 0 when empty.
  double percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<uint64_t>(std::llround(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<uint64_t>(rank, 1, count_);
    if (rank == count_) return static_cast<double>(max_);
    if (rank == 1) return static_cast<double>(min_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (seen + counts_[i] < rank) {
        seen += counts_[i];
        continue;
      }
      double lo = static_cast<double>(std::max(cairn::Histogram::bucket_lower(i), min_));
      double hi = static_cast<double>(std::min(cairn::Histogram::bucket_upper(i), max_));
      double within = (static_cast<double>(rank - seen) - 0.5) / static_cast<double>(counts_[i]);
      return lo + (hi - lo) * within;
    }
    return static_cast<double>(max_);
  }

 private:
  std::vector<uint64_t> counts_;  // kBucketCount entries: 15 KiB, whatever the run length
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
};

}  // namespace cairn::bench
