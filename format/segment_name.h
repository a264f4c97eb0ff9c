// Segment file names: "<sequence:8 digits>-<first_position:20 digits>.seg",
// e.g. 00000001-00000000000000000000.seg. Sorting names sorts segments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::format {

struct SegmentName {
  uint64_t sequence = 0;
  uint64_t first_position = 0;
};

std::string segment_file_name(const SegmentName& name);
// nullopt when `file_name` is not a segment name.
std::optional<SegmentName> parse_segment_file_name(std::string_view file_name);
// The value of a string of ASCII digits (empty: 0); nullopt for any other
// byte or a value past 2^64 - 1.
std::optional<uint64_t> parse_decimal(std::string_view digits);

inline constexpr std::string_view kStoreFileName = "STORE";
inline constexpr std::string_view kLockFileName = "LOCK";
// Present while a Store::checkpoint writes into a directory (written and
// synced first, removed last): a store that holds it is refused on open.
inline constexpr std::string_view kCheckpointMarkerName = "CHECKPOINT-INCOMPLETE";

}  // namespace cairn::format
