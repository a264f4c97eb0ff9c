// Small helpers shared by the format/ unit tests: events that own their bytes,
// and segment file images built in memory with the real encoders.
#pragma once

#include "format/batch.h"
#include "format/checksum.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_header.h"

#include <cairn/event.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::format::test_util {

// The 16 bytes first, first + 1, ..., first + 15.
inline EventId SequentialId(uint8_t first) {
  EventId id;
  for (int i = 0; i < 16; ++i) id.bytes[i] = static_cast<uint8_t>(first + i);
  return id;
}

// An event that owns its bytes; view() points into them.
struct OwnedEvent {
  EventId id;
  std::string type;
  std::string data;
  std::string metadata;
  NewEvent view() const { return NewEvent{id, type, data, metadata}; }
};

inline std::vector<NewEvent> Views(const std::vector<OwnedEvent>& events) {
  std::vector<NewEvent> views;
  for (const OwnedEvent& e : events) views.push_back(e.view());
  return views;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Parses one line "OOOOOOOO: xx xx ..." (1 to 16 lowercase hex bytes) into
// its offset and bytes; false when the line has any other shape.
inline bool ParseHexLine(std::string_view line, uint64_t& offset, std::string& bytes) {
  if (line.size() < 12 || line[8] != ':') return false;
  offset = 0;
  for (size_t i = 0; i < 8; ++i) {
    int d = HexDigit(line[i]);
    if (d < 0) return false;
    offset = offset * 16 + static_cast<uint64_t>(d);
  }
  std::string_view rest = line.substr(9);
  if (rest.size() % 3 != 0 || rest.size() / 3 > 16) return false;
  bytes.clear();
  for (size_t i = 0; i < rest.size(); i += 3) {
    int hi = HexDigit(rest[i + 1]), lo = HexDigit(rest[i + 2]);
    if (rest[i] != ' ' || hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// Offset of the first byte where `a` and `b` differ (the shorter size when one
// is a prefix of the other); npos when they are equal.
inline size_t FirstDifference(std::string_view a, std::string_view b) {
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] != b[i]) return i;
  }
  return a.size() == b.size() ? std::string_view::npos : std::min(a.size(), b.size());
}

// A segment file image in memory: a header, then batches appended one by one
// at contiguous positions, optionally sealed with a matching footer.
class SegmentImage {
 public:
  explicit SegmentImage(uint64_t first_position = 0, uint64_t sequence = 1)
      : next_position_(first_position) {
    header_.sequence = sequence;
    header_.first_position = first_position;
    header_.store_id = SequentialId(0xa0).bytes;
    header_.created_ns = 1700000000000000000;
    bytes_ = encode_segment_header(header_);
  }

  // Appends a batch of `count` events for `stream` at the next position,
  // stamped with `durable_position`; returns the frame's offset.
  uint64_t AddBatch(std::string_view stream, uint32_t count, uint64_t durable_position) {
    BatchStamp stamp{next_position_, versions_[std::string(stream)], durable_position,
                     1700000000000000000 + static_cast<int64_t>(next_position_)};
    return AddBatchWithStamp(stream, count, stamp);
  }

  // Appends a batch with exactly this stamp; the next batch continues after it.
  uint64_t AddBatchWithStamp(std::string_view stream, uint32_t count, const BatchStamp& stamp) {
    std::vector<OwnedEvent> events;
    for (uint32_t i = 0; i < count; ++i) {
      uint64_t position = stamp.first_position + i;
      events.push_back(OwnedEvent{SequentialId(static_cast<uint8_t>(position * 16)),
                                  "Type" + std::to_string(i % 3),
                                  std::string("data\0", 5) + std::to_string(position),
                                  i % 2 == 0 ? "" : "meta"});
    }
    std::vector<NewEvent> views = Views(events);
    uint64_t offset = encode_batch(bytes_, stream, views, stamp);
    batch_offsets_.push_back(offset);
    next_position_ = stamp.first_position + count;
    versions_[std::string(stream)] = stamp.first_version + count;
    event_count_ += count;
    data_end_ = bytes_.size();
    return offset;
  }

  // The footer that seals the batches added so far.
  Footer MatchingFooter() const {
    uint64_t hash = checksum(std::string_view(bytes_).substr(kSegmentHeaderSize, data_end_ - kSegmentHeaderSize));
    return Footer{header_.first_position, event_count_, batch_offsets_.size(), data_end_, hash};
  }

  // Appends `footer` (by default the matching one); returns its offset.
  uint64_t Seal() { return Seal(MatchingFooter()); }
  uint64_t Seal(const Footer& footer) {
    uint64_t offset = bytes_.size();
    encode_footer(bytes_, footer);
    return offset;
  }

  const SegmentHeader& header() const { return header_; }
  std::string& bytes() { return bytes_; }
  const std::string& bytes() const { return bytes_; }
  uint64_t next_position() const { return next_position_; }
  uint64_t event_count() const { return event_count_; }
  uint64_t data_end() const { return data_end_; }  // end of the last batch frame
  const std::vector<uint64_t>& batch_offsets() const { return batch_offsets_; }
  // End of batch i's frame.
  uint64_t batch_end(size_t i) const {
    return i + 1 < batch_offsets_.size() ? batch_offsets_[i + 1] : data_end_;
  }

 private:
  SegmentHeader header_;
  std::string bytes_;
  uint64_t next_position_;
  uint64_t event_count_ = 0;
  uint64_t data_end_ = kSegmentHeaderSize;
  std::vector<uint64_t> batch_offsets_;
  std::map<std::string, uint64_t> versions_;
};

}  // namespace cairn::format::test_util
