// The CLEAN file (format/FORMAT.md §13): written by a clean close, after
// everything else is durable, to say where the last segment's frames end and
// that only zeros follow them. An open that finds it matching the log skips
// the check of the zeros; the first append after an open overwrites it with
// zeros (and syncs that) before it writes.
#pragma once

#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr std::string_view kCleanFileName = "CLEAN";
inline constexpr std::string_view kCleanMagic = "CAIRNCLN";
inline constexpr size_t kCleanFileSize = 64;

struct CleanRecord {
  StoreId store_id{};
  uint64_t segment_sequence = 0;  // the last segment at the close
  uint64_t data_end = 0;          // where its frames end; only zeros follow
  uint64_t next_position = 0;     // the store's next position at the close
  bool operator==(const CleanRecord&) const = default;
};

// 64 bytes.
std::string encode_clean_record(const CleanRecord& record);
// What the first append after an open writes over the record: 64 zeros.
bool is_invalidated_clean_record(std::string_view bytes);
// Errors: kCorruption naming `file` (not 64 bytes, bad magic, bad checksum,
// reserved bytes not zero), kUnsupportedVersion.
Result<CleanRecord> decode_clean_record(std::string_view bytes, const std::string& file);

}  // namespace cairn::format
