// Index files (FORMAT.md §10): derived data that spares an open the scan of
// the log. Two kinds share one outer shape:
//
//   +0    128-byte header: magic, version, block size, store id, the kind's
//         fields, the checksum of the block table (+112) and of [0, 120) (+120)
//   +128  body: fixed-size records and byte strings, laid out from the
//         header's counts (each kind's layout below)
//   then  block table: one u64 XXH3-64 per block_size bytes of the body
//
// The block table lets a reader verify a block of the body the first time it
// touches it, so opening a large index costs the same as opening a small one.
//
//   SSSSSSSS.idx  one segment's index: its batches, its streams, its bitmaps
//   STREAMS-FFFFFFFF-LLLLLLLL  a run of the stream directory: for the streams
//                 of segments F..L, each one's version count and last position
//                 after L, and which of those segments hold it
#pragma once

#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr size_t kIndexHeaderSize = 128;
inline constexpr uint32_t kIndexBlockSize = 64 * 1024;
inline constexpr std::string_view kSegmentIndexMagic = "CAIRNIDX";
inline constexpr std::string_view kStreamsMagic = "CAIRNSTR";
// Stream directory runs are named STREAMS-FFFFFFFF-LLLLLLLL: the first and
// last segment sequence they cover, decimal, zero-padded to 8 digits.
inline constexpr std::string_view kStreamsFilePrefix = "STREAMS-";
// What format version 1 called its one directory file; a newer store removes it.
inline constexpr std::string_view kLegacyStreamsFileName = "STREAMS";
// Segment index files are version 1; directory runs are version 2 (version
// 1 was one STREAMS file over every segment).
inline constexpr uint32_t kSegmentIndexVersion = 1;
inline constexpr uint32_t kStreamsVersion = 2;

// Record sizes in the bodies.
inline constexpr size_t kIndexBatchSize = 16;   // u64 offset, u32 relative position, u32 count
inline constexpr size_t kIndexStreamSize = 32;  // see SegmentIndexStream
inline constexpr size_t kIndexListSize = 8;     // u32 version delta, u32 batch ordinal
inline constexpr size_t kStreamsSlotSize = 40;  // see StreamsSlot
inline constexpr size_t kStreamsEntrySize = 16; // u64 sequence, u64 first version

// ---- segment index ----

inline constexpr uint32_t kSegmentIndexSealed = 1;  // flags bit 0: covers the whole sealed segment

struct SegmentIndexHeader {
  StoreId store_id{};
  uint64_t sequence = 0;
  uint64_t first_position = 0;
  uint64_t event_count = 0;          // events covered: positions [first_position, +event_count)
  uint64_t batch_count = 0;
  uint64_t data_end = 0;             // end of the last covered batch frame (the footer's offset when sealed)
  uint64_t last_frame_checksum = 0;  // checksum field of the last covered batch frame (0: none)
  uint32_t flags = 0;
  uint32_t stream_count = 0;
  uint64_t names_size = 0;           // bytes of stream names, before padding
  uint64_t bitmaps_size = 0;         // bytes of the bitmaps section, before padding
  bool sealed() const { return (flags & kSegmentIndexSealed) != 0; }
};

// Body layout, each section starting at a multiple of 8:
//   batches  batch_count x 16   in position order
//   streams  stream_count x 32  sorted by (hash, name)
//   lists    batch_count x 8    each stream's batches, in version order
//   names    names_size, zero-padded to 8
//   bitmaps  bitmaps_size, zero-padded to 8
struct SegmentIndexLayout {
  uint64_t batches = 0, streams = 0, lists = 0, names = 0, bitmaps = 0, body_size = 0;
};
// nullopt-like failure as body_size 0 is impossible: the layout of a header
// whose counts overflow is reported by decode_segment_index_header.
SegmentIndexLayout segment_index_layout(const SegmentIndexHeader& h);

struct IndexBatch {
  uint64_t offset = 0;             // of the batch's frame in the segment file
  uint32_t relative_position = 0;  // first position - the segment's first position
  uint32_t count = 0;
};
struct SegmentIndexStream {
  uint64_t hash = 0;            // stream_hash(name)
  uint64_t first_version = 0;   // the stream's first version in this segment
  uint32_t name_offset = 0;     // into the names section
  uint16_t name_len = 0;
  uint32_t list_start = 0;      // first of its entries in the lists section
  uint32_t list_count = 0;      // its batches in this segment
};
struct IndexListEntry {
  uint32_t version_delta = 0;   // batch's first version - the stream's first_version here
  uint32_t batch = 0;           // ordinal in the batches section
};

// ---- stream directory run (STREAMS-FFFFFFFF-LLLLLLLL) ----

struct StreamsHeader {
  StoreId store_id{};
  uint64_t end_position = 0;   // the run covers its segments' positions below end_position
  uint64_t last_segment = 0;   // it covers segments first_segment..last_segment
  uint64_t first_segment = 0;  // at least 1, at most last_segment
  uint64_t stream_count = 0;
  uint64_t slot_count = 0;     // a power of two, at least 2 x stream_count (at least 1)
  uint64_t entry_count = 0;
  uint64_t names_size = 0;
};

// Body layout: slots (slot_count x 40, open addressing, linear probing from
// hash & (slot_count - 1)), entries (entry_count x 16), names (padded to 8).
struct StreamsLayout {
  uint64_t slots = 0, entries = 0, names = 0, body_size = 0;
};
StreamsLayout streams_layout(const StreamsHeader& h);

struct StreamsSlot {
  uint64_t hash = 0;           // 0: empty slot (a stream whose hash is 0 is stored as 1)
  uint64_t next_version = 0;   // the stream's version count
  uint64_t last_position = 0;  // of its last event
  uint32_t name_offset = 0;
  uint16_t name_len = 0;
  uint32_t entry_start = 0;    // its segments, in order
  uint32_t entry_count = 0;
};
struct StreamsEntry {
  uint64_t sequence = 0;       // a segment holding the stream
  uint64_t first_version = 0;  // the stream's first version in it
};

// ---- shared ----

// The hash of a stream name in index files: XXH3-64, seed 0, never 0.
uint64_t stream_hash(std::string_view name);

// "STREAMS-00000001-00000008" for the run over segments 1 to 8.
std::string streams_run_file_name(uint64_t first_segment, uint64_t last_segment);
struct RunName {
  uint64_t first_segment = 0;
  uint64_t last_segment = 0;
};
// A run's name, exactly as streams_run_file_name writes it (first at least 1
// and at most last); anything else (a .tmp leftover) is nullopt.
std::optional<RunName> parse_streams_run_file_name(std::string_view name);

// Record coding (fixed sizes above; little-endian).
void put_index_batch(char* p, const IndexBatch& b);
IndexBatch get_index_batch(const char* p);
void put_index_stream(char* p, const SegmentIndexStream& s);
SegmentIndexStream get_index_stream(const char* p);
void put_list_entry(char* p, const IndexListEntry& e);
IndexListEntry get_list_entry(const char* p);
void put_streams_slot(char* p, const StreamsSlot& s);
StreamsSlot get_streams_slot(const char* p);
void put_streams_entry(char* p, const StreamsEntry& e);
StreamsEntry get_streams_entry(const char* p);

// A complete index file: the header's 128 bytes (checksums not yet set) and
// the body; appends the block table and fills in both checksums.
std::string seal_index_file(std::string header, std::string_view body);
std::string encode_segment_index_header(const SegmentIndexHeader& h);
std::string encode_streams_header(const StreamsHeader& h);

// A decoded index file whose header and block table were verified; body
// blocks are verified by the reader as it touches them (verify_block).
struct IndexFile {
  std::string_view body;
  std::string_view block_table;
  uint32_t block_size = 0;
  size_t block_count() const { return block_table.size() / 8; }
};
// Errors: kCorruption naming `path` and the offset (size, magic, checksums,
// inconsistent counts), kUnsupportedVersion for another format version.
Result<SegmentIndexHeader> decode_segment_index_header(std::string_view file, const std::string& path,
                                                       IndexFile& out);
Result<StreamsHeader> decode_streams_header(std::string_view file, const std::string& path, IndexFile& out);
// Whether body block `block` matches its checksum.
bool verify_block(const IndexFile& file, size_t block);

}  // namespace cairn::format
