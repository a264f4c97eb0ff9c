// The snapshot log (FORMAT.md §11): aggregate snapshots, kept apart from the
// events in `snapshots/SSSSSSSS.snap` files inside the store directory.
//
// A snapshot file is a 64-byte header (the shape of a segment header, magic
// CAIRNSNP) and then records, back to back, each starting at a multiple of 8:
//
//   +0  u64 header_checksum  XXH3-64 of [8, 88 + stream_len + schema_len)
//   +8  u32 magic            "SNAP"
//   +12 u8  kind             1 = snapshot, 2 = prune
//   +13 u8  reserved         zero
//   +14 u16 stream_len
//   +16 u16 schema_len       (0 for a prune)
//   +18 u8[6] reserved       zero
//   +24 u64 offset           of this record in its file
//   +32 u64 id               store-wide, increasing with each record written
//   +40 u64 version          the stream version the snapshot is of (0 for a prune)
//   +48 u64 floor_version    before this record takes effect, the stream's
//   +56 u64 floor_id         snapshots ordered before (floor_version, floor_id) are dropped
//   +64 i64 created_ns
//   +72 u64 payload_len
//   +80 u64 payload_checksum XXH3-64 of the payload
//   +88 stream, schema, payload, then zero padding to a multiple of 8
//
// The header checksum lets an open read every record's header and skip its
// payload; the payload has its own checksum, checked when it is loaded.
// Pure bytes: the scan reads through a callback and does no I/O itself.
#pragma once

#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::format {

inline constexpr std::string_view kSnapshotDirName = "snapshots";
inline constexpr std::string_view kSnapshotFileMagic = "CAIRNSNP";
inline constexpr size_t kSnapshotFileHeaderSize = 64;
inline constexpr std::string_view kSnapshotRecordMagic = "SNAP";
inline constexpr size_t kSnapshotRecordFixedSize = 88;

// "SSSSSSSS.snap": the file's sequence, decimal, zero-padded to 8 digits.
std::string snapshot_file_name(uint64_t sequence);
// nullopt when `file_name` is not a snapshot file name.
std::optional<uint64_t> parse_snapshot_file_name(std::string_view file_name);

struct SnapshotFileHeader {
  uint64_t sequence = 0;  // from 1; the files of a store have consecutive sequences
  StoreId store_id{};
  int64_t created_ns = 0;
};

std::string encode_snapshot_file_header(const SnapshotFileHeader& header);
// Errors: kCorruption (too short, bad magic, checksum, header size),
// kUnsupportedVersion; messages start with `file`.
Result<SnapshotFileHeader> decode_snapshot_file_header(std::string_view bytes, const std::string& file);

enum class SnapshotRecordKind : uint8_t { kSnapshot = 1, kPrune = 2 };

// A record's header; the payload follows it in the file.
struct SnapshotRecord {
  SnapshotRecordKind kind = SnapshotRecordKind::kSnapshot;
  std::string stream;
  std::string schema;
  uint64_t offset = 0;
  uint64_t id = 0;
  uint64_t version = 0;
  uint64_t floor_version = 0;
  uint64_t floor_id = 0;
  int64_t created_ns = 0;
  uint64_t payload_len = 0;
  uint64_t payload_checksum = 0;

  // The fixed part and the names.
  uint64_t header_size() const { return kSnapshotRecordFixedSize + stream.size() + schema.size(); }
  // Header, payload and padding: where the next record starts.
  uint64_t size() const;
  // Whether the record drops a snapshot of its stream with this version and id.
  bool drops(uint64_t snapshot_version, uint64_t snapshot_id) const;
};

// The header bytes of `record` (its payload_checksum already set). A record
// is these bytes, the payload, then padding_after(record) zero bytes.
std::string encode_snapshot_record_header(const SnapshotRecord& record);
uint64_t padding_after(const SnapshotRecord& record);

// The header's whole size from its first kSnapshotRecordFixedSize bytes.
uint64_t snapshot_record_header_size(std::string_view fixed);
// Decodes the header at the start of `bytes` (at least its header_size()
// bytes), found at `offset` of `file`. Errors: kCorruption naming the file
// and offset (bad magic or checksum, unknown kind, reserved bytes, empty
// names, an offset field that is not `offset`, a size that overflows).
Result<SnapshotRecord> decode_snapshot_record_header(std::string_view bytes, uint64_t offset,
                                                     const std::string& file);

// Reads up to n bytes at offset into buf; fewer only at the end of the file.
using ReadAt = std::function<Result<size_t>(uint64_t offset, char* buf, size_t n)>;

struct SnapshotScanOptions {
  // The newest file may end in a torn tail (a record whose save was never
  // acknowledged); in any other file, every invalid record is corruption.
  bool is_last = false;
  // Check every payload's checksum too (a dump); otherwise only the last
  // record's in the newest file, the one a crash may have torn.
  bool verify_payloads = false;
};

struct SnapshotFileScan {
  SnapshotFileHeader header;
  uint64_t data_end = kSnapshotFileHeaderSize;  // end of the last valid record
  bool torn = false;         // bytes from data_end on are a torn tail (is_last only)
  std::string torn_reason;
  std::vector<std::string> bad_payloads;  // verify_payloads: "file at offset N: ..."
};

// Scans the snapshot file `file` of `file_size` bytes (FORMAT.md §11.4):
// `on_record` sees each valid record in order. Errors: the header's, an I/O
// error of `read`, or kCorruption naming the file and byte offset.
Result<SnapshotFileScan> scan_snapshot_file(const ReadAt& read, uint64_t file_size, const std::string& file,
                                            const SnapshotScanOptions& options,
                                            const std::function<void(const SnapshotRecord&)>& on_record);

}  // namespace cairn::format
