// Frame: the unit every record in a segment is wrapped in (FORMAT.md §3).
//
//   +0  u64 checksum   XXH3-64 of bytes [8, size) of the frame
//   +8  u32 body_len
//   +12 u8  type       1 = events batch, 2 = segment footer
//   +13 u8[3] zero
//   +16 body, then zero padding up to a multiple of 8 bytes
//
// An all-zero frame header marks the end of the written data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr size_t kFrameHeaderSize = 16;

enum class FrameType : uint8_t { kEvents = 1, kFooter = 2 };

enum class FrameStatus : uint8_t {
  kOk,
  kEnd,          // an all-zero frame header, or no bytes left: the data ends here
  kTruncated,    // the frame runs past the bytes available
  kBadHeader,    // unknown type or non-zero reserved bytes
  kBadChecksum,
};

const char* frame_status_name(FrameStatus status);

struct Frame {
  FrameStatus status = FrameStatus::kEnd;
  FrameType type = FrameType::kEvents;
  std::string_view body;
  size_t size = 0;  // whole frame including header and padding
};

// Parses the frame at the start of `bytes` (the rest of the segment's data).
Frame parse_frame(std::string_view bytes);

// Appends a frame header for `type` to `out`; returns the frame's offset.
// The caller appends the body, then calls finish_frame.
size_t begin_frame(std::string& out, FrameType type);
// Sets body_len, pads to 8 bytes and writes the checksum (with seal = false
// leaves it zero, for a caller that seals the frame later with seal_frame).
void finish_frame(std::string& out, size_t frame_offset, bool seal = true);
// Recomputes the checksum of a complete frame of `size` bytes at `frame`.
void seal_frame(char* frame, size_t size);
// The body of a complete frame that finish_frame built in this process,
// without checks (its bytes never left memory).
std::string_view own_frame_body(std::string_view frame);

}  // namespace cairn::format
