// Segments for the index tests: encoded with the real encoders
// (format/format_test_util.h), with a model of what went into them.
#pragma once

#include "format/coding.h"
#include "format/format_test_util.h"
#include "format/frame.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::index::test_util {

using format::test_util::SegmentImage;

struct ModelBatch {
  uint64_t offset = 0;
  uint32_t frame_size = 0;
  uint64_t checksum = 0;
  uint64_t first_position = 0;
  uint32_t count = 0;
  std::string stream;
  uint64_t first_version = 0;
};

// A segment built in memory with the real encoders, with what went into it.
struct Segment {
  uint64_t sequence = 0;
  uint64_t first_position = 0;
  std::unique_ptr<SegmentImage> image;
  std::vector<ModelBatch> batches;
  std::vector<format::BatchView> views;  // point into image's bytes

  uint64_t end_position(size_t prefix) const {
    return prefix == 0 ? first_position : batches[prefix - 1].first_position + batches[prefix - 1].count;
  }
};

using Plan = std::vector<std::pair<std::string, uint32_t>>;  // (stream, event count) per batch

// Encodes `plan` at contiguous positions from `first_position`; each stream's
// versions continue from `next_version[stream]` (updated).
inline Segment BuildSegment(uint64_t sequence, uint64_t first_position, const Plan& plan,
                     std::map<std::string, uint64_t>& next_version) {
  Segment s;
  s.sequence = sequence;
  s.first_position = first_position;
  s.image = std::make_unique<SegmentImage>(first_position, sequence);
  uint64_t position = first_position;
  for (const auto& [stream, count] : plan) {
    uint64_t& v = next_version[stream];
    format::BatchStamp stamp{position, v, position, 1700000000000000000 + static_cast<int64_t>(position)};
    s.image->AddBatchWithStamp(stream, count, stamp);
    ModelBatch b;
    b.first_position = position;
    b.count = count;
    b.stream = stream;
    b.first_version = v;
    s.batches.push_back(b);
    v += count;
    position += count;
  }
  std::string_view bytes = s.image->bytes();
  for (size_t i = 0; i < s.batches.size(); ++i) {
    ModelBatch& b = s.batches[i];
    b.offset = s.image->batch_offsets()[i];
    b.frame_size = static_cast<uint32_t>(s.image->batch_end(i) - b.offset);
    b.checksum = format::get_u64(bytes.data() + b.offset);
    format::Frame f = format::parse_frame(bytes.substr(b.offset));
    EXPECT_EQ(f.status, format::FrameStatus::kOk);
    EXPECT_EQ(f.size, b.frame_size);
    auto view = format::BatchView::decode(f.body, "test");
    EXPECT_TRUE(view.ok()) << view.status().to_string();
    s.views.push_back(*view);
  }
  return s;
}

}  // namespace cairn::index::test_util
