// Segment footer: the body of a type-2 frame, written once when a segment is
// sealed; nothing follows it (FORMAT.md §4).
//
//   +0  u64 first_position  as in the header
//   +8  u64 event_count     events in the segment (may be 0)
//   +16 u64 batch_count
//   +24 u64 data_end        offset of the footer frame = end of the batches
//   +32 u64 content_hash    XXH3-64 of bytes [64, data_end): every batch frame
#pragma once

#include "format/coding.h"
#include "format/frame.h"

#include <cairn/status.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr size_t kFooterBodySize = 40;
// The whole footer frame: header, body, padding (a sealed segment's last bytes).
inline constexpr uint64_t kFooterFrameSize = align8(kFrameHeaderSize + kFooterBodySize);

struct Footer {
  uint64_t first_position = 0;
  uint64_t event_count = 0;
  uint64_t batch_count = 0;
  uint64_t data_end = 0;
  uint64_t content_hash = 0;
  friend bool operator==(const Footer&, const Footer&) = default;
};

// Appends a complete footer frame to `out`.
void encode_footer(std::string& out, const Footer& footer);
Result<Footer> decode_footer(std::string_view body, const std::string& where);

}  // namespace cairn::format
