// Segment file header and the store identity file (format/FORMAT.md §2, §5).
#pragma once

#include <cairn/status.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kStoreFileSize = 64;
inline constexpr std::string_view kSegmentMagic = "CAIRNSEG";
inline constexpr std::string_view kStoreMagic = "CAIRNSTO";

using StoreId = std::array<uint8_t, 16>;

struct SegmentHeader {
  uint64_t sequence = 0;        // 1 for the first segment, +1 for each next one
  uint64_t first_position = 0;  // global position of the segment's first event
  StoreId store_id{};           // equal in every file of one store
  int64_t created_ns = 0;
};

// The frame every 64-byte file header shares (segment, STORE, snapshot
// file): magic at 0, u32 format version at 8, XXH3-64 of [0, 56) at 56.
// check_file_header checks, in order: at least `size` bytes, the magic, the
// version (kUnsupportedVersion), the checksum; each error names `file`.
Status check_file_header(std::string_view bytes, std::string_view magic, size_t size,
                         const std::string& file);
// Writes the checksum of `header`'s bytes [0, 56) at 56.
void seal_file_header(std::string& header);

// 64 bytes.
std::string encode_segment_header(const SegmentHeader& header);
// `bytes` is the file's start; `file` names it in errors. Errors:
// kCorruption (too short, bad magic, bad checksum), kUnsupportedVersion.
Result<SegmentHeader> decode_segment_header(std::string_view bytes, const std::string& file);

struct StoreIdentity {
  StoreId store_id{};
  int64_t created_ns = 0;
};

// The STORE file: 64 bytes marking a directory as a Cairn store.
std::string encode_store_file(const StoreIdentity& identity);
Result<StoreIdentity> decode_store_file(std::string_view bytes, const std::string& file);

}  // namespace cairn::format
