// Events batch: the body of a type-1 frame, one atomic append (FORMAT.md §3.1).
//
//   +0  u64 first_position    global position of the first event
//   +8  u64 first_version     stream version of the first event
//   +16 u64 durable_position  every position below it was durable when this
//                             batch was written (tells a torn tail from corruption)
//   +24 i64 timestamp_ns      commit time, UNIX epoch nanoseconds
//   +32 u32 event_count       >= 1
//   +36 u16 stream_len        >= 1
//   +38 u16 zero
//   +40 stream name bytes
//   then event_count events, each:
//     +0 u8[16] id, +16 u16 type_len, +18 u32 data_len, +22 u32 metadata_len,
//     +26 type, data, metadata bytes
#pragma once

#include <cairn/event.h>
#include <cairn/status.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr size_t kBatchFixedSize = 40;
inline constexpr size_t kEventFixedSize = 26;

struct BatchStamp {
  uint64_t first_position = 0;
  uint64_t first_version = 0;
  uint64_t durable_position = 0;
  int64_t timestamp_ns = 0;
};

// Size of the whole frame (header, body, padding) that encode_batch appends.
size_t batch_frame_size(std::string_view stream, std::span<const NewEvent> events);

// Appends a complete events frame to `out`, stamped and checksummed (with
// seal = false the checksum is left zero for restamp_batch to write: the
// writer restamps every batch); returns the frame's offset in `out`. The
// caller validated sizes against the limits.
size_t encode_batch(std::string& out, std::string_view stream, std::span<const NewEvent> events,
                    const BatchStamp& stamp, bool seal = true);

// Rewrites the stamp of an encoded events frame of `frame_size` bytes and
// reseals its checksum (the writer stamps batches encoded by appenders).
void restamp_batch(char* frame, size_t frame_size, const BatchStamp& stamp);

struct EventView {
  EventId id;
  std::string_view type;
  std::string_view data;
  std::string_view metadata;
};

// A decoded events body; views point into the decoded bytes.
class BatchView {
 public:
  // Validates the whole body: every length in range, the events filling it
  // exactly. Errors are kCorruption with `where` (file and offset) prefixed.
  static Result<BatchView> decode(std::string_view body, const std::string& where);

  const BatchStamp& stamp() const { return stamp_; }
  // The view of the same bytes after restamp_batch(..., stamp) rewrote them.
  BatchView restamped(const BatchStamp& stamp) const {
    BatchView v = *this;
    v.stamp_ = stamp;
    return v;
  }
  uint32_t count() const { return count_; }
  std::string_view stream() const { return stream_; }
  uint64_t last_position() const { return stamp_.first_position + count_ - 1; }

  // Visits the events in order; stops early when fn returns false.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    size_t off = 0;
    for (uint32_t i = 0; i < count_; ++i) {
      EventView e = event_at(off);
      if (!fn(i, e)) return;
    }
  }

 private:
  EventView event_at(size_t& offset) const;  // advances offset past the event
  BatchStamp stamp_;
  uint32_t count_ = 0;
  std::string_view stream_;
  std::string_view events_;
};

}  // namespace cairn::format
