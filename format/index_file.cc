#include "format/index_file.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/segment_name.h"

#include <cstdio>
#include <cstring>

namespace cairn::format {
namespace {

constexpr size_t kTableChecksumAt = 112;
constexpr size_t kHeaderChecksumAt = 120;

std::string new_header(std::string_view magic, uint32_t version, const StoreId& store_id) {
  std::string h(kIndexHeaderSize, '\0');
  std::memcpy(h.data(), magic.data(), 8);
  put_u32(h.data() + 8, version);
  put_u32(h.data() + 12, kIndexBlockSize);
  std::memcpy(h.data() + 16, store_id.data(), 16);
  return h;
}

// Every count is bounded by the file's size before it is multiplied, so a
// crafted header cannot overflow a layout computation.
bool counts_fit(std::string_view file, std::initializer_list<uint64_t> counts) {
  for (uint64_t c : counts) {
    if (c > file.size()) return false;
  }
  return true;
}

// The checks both kinds share, up to the kind's fields; on success `out`
// holds the body and block table for a body of `body_size` bytes.
Status check_outer(std::string_view file, const std::string& path, std::string_view magic, uint32_t expected) {
  if (file.size() < kIndexHeaderSize) {
    return Status::corruption(path + ": index header truncated: " + std::to_string(file.size()) + " of " +
                              std::to_string(kIndexHeaderSize) + " bytes at offset 0");
  }
  if (file.substr(0, 8) != magic) {
    return Status::corruption(path + ": bad magic at offset 0 (expected " + std::string(magic) + ")");
  }
  uint32_t version = get_u32(file.data() + 8);
  if (version != expected) {
    return Status::unsupported_version(path + ": index format version " + std::to_string(version) +
                                       " (this build reads version " + std::to_string(expected) + ")");
  }
  if (get_u64(file.data() + kHeaderChecksumAt) != checksum(file.data(), kHeaderChecksumAt)) {
    return Status::corruption(path + ": header checksum mismatch at offset " + std::to_string(kHeaderChecksumAt));
  }
  uint32_t block = get_u32(file.data() + 12);
  if (block < 4096 || block > (1u << 24) || (block & (block - 1)) != 0) {
    return Status::corruption(path + ": bad block size " + std::to_string(block) + " at offset 12");
  }
  return Status();
}

Status locate_body(std::string_view file, const std::string& path, uint64_t body_size, IndexFile& out) {
  out.block_size = get_u32(file.data() + 12);
  uint64_t blocks = (body_size + out.block_size - 1) / out.block_size;
  uint64_t expected = kIndexHeaderSize + body_size + blocks * 8;
  if (body_size > file.size() || file.size() != expected) {
    return Status::corruption(path + ": file is " + std::to_string(file.size()) + " bytes, its header describes " +
                              std::to_string(expected) + " (truncated or overwritten) at offset 0");
  }
  out.body = file.substr(kIndexHeaderSize, body_size);
  out.block_table = file.substr(kIndexHeaderSize + body_size);
  if (get_u64(file.data() + kTableChecksumAt) != checksum(out.block_table)) {
    return Status::corruption(path + ": block table checksum mismatch at offset " +
                              std::to_string(kIndexHeaderSize + body_size));
  }
  return Status();
}

}  // namespace

uint64_t stream_hash(std::string_view name) {
  uint64_t h = checksum(name);
  return h == 0 ? 1 : h;
}

SegmentIndexLayout segment_index_layout(const SegmentIndexHeader& h) {
  SegmentIndexLayout l;
  l.batches = 0;
  l.streams = l.batches + h.batch_count * kIndexBatchSize;
  l.lists = l.streams + uint64_t{h.stream_count} * kIndexStreamSize;
  l.names = l.lists + h.batch_count * kIndexListSize;
  l.bitmaps = l.names + align8(h.names_size);
  l.body_size = l.bitmaps + align8(h.bitmaps_size);
  return l;
}

StreamsLayout streams_layout(const StreamsHeader& h) {
  StreamsLayout l;
  l.slots = 0;
  l.entries = h.slot_count * kStreamsSlotSize;
  l.names = l.entries + h.entry_count * kStreamsEntrySize;
  l.body_size = l.names + align8(h.names_size);
  return l;
}

void put_index_batch(char* p, const IndexBatch& b) {
  put_u64(p, b.offset);
  put_u32(p + 8, b.relative_position);
  put_u32(p + 12, b.count);
}
IndexBatch get_index_batch(const char* p) { return {get_u64(p), get_u32(p + 8), get_u32(p + 12)}; }

void put_index_stream(char* p, const SegmentIndexStream& s) {
  put_u64(p, s.hash);
  put_u64(p + 8, s.first_version);
  put_u32(p + 16, s.name_offset);
  put_u16(p + 20, s.name_len);
  put_u16(p + 22, 0);
  put_u32(p + 24, s.list_start);
  put_u32(p + 28, s.list_count);
}
SegmentIndexStream get_index_stream(const char* p) {
  return {get_u64(p), get_u64(p + 8), get_u32(p + 16), get_u16(p + 20), get_u32(p + 24), get_u32(p + 28)};
}

void put_list_entry(char* p, const IndexListEntry& e) {
  put_u32(p, e.version_delta);
  put_u32(p + 4, e.batch);
}
IndexListEntry get_list_entry(const char* p) { return {get_u32(p), get_u32(p + 4)}; }

void put_streams_slot(char* p, const StreamsSlot& s) {
  put_u64(p, s.hash);
  put_u64(p + 8, s.next_version);
  put_u64(p + 16, s.last_position);
  put_u32(p + 24, s.name_offset);
  put_u16(p + 28, s.name_len);
  put_u16(p + 30, 0);
  put_u32(p + 32, s.entry_start);
  put_u32(p + 36, s.entry_count);
}
StreamsSlot get_streams_slot(const char* p) {
  return {get_u64(p), get_u64(p + 8), get_u64(p + 16), get_u32(p + 24), get_u16(p + 28), get_u32(p + 32),
          get_u32(p + 36)};
}

void put_streams_entry(char* p, const StreamsEntry& e) {
  put_u64(p, e.sequence);
  put_u64(p + 8, e.first_version);
}
StreamsEntry get_streams_entry(const char* p) { return {get_u64(p), get_u64(p + 8)}; }

std::string seal_index_file(std::string header, std::string_view body) {
  std::string out = std::move(header);
  out.append(body);
  std::string table;
  for (size_t at = 0; at < body.size(); at += kIndexBlockSize) {
    append_u64(table, checksum(body.substr(at, kIndexBlockSize)));
  }
  out.append(table);
  put_u64(out.data() + kTableChecksumAt, checksum(table));
  put_u64(out.data() + kHeaderChecksumAt, checksum(out.data(), kHeaderChecksumAt));
  return out;
}

std::string encode_segment_index_header(const SegmentIndexHeader& h) {
  std::string out = new_header(kSegmentIndexMagic, kSegmentIndexVersion, h.store_id);
  char* p = out.data();
  put_u64(p + 32, h.sequence);
  put_u64(p + 40, h.first_position);
  put_u64(p + 48, h.event_count);
  put_u64(p + 56, h.batch_count);
  put_u64(p + 64, h.data_end);
  put_u64(p + 72, h.last_frame_checksum);
  put_u32(p + 80, h.flags);
  put_u32(p + 84, h.stream_count);
  put_u64(p + 88, h.names_size);
  put_u64(p + 96, h.bitmaps_size);
  return out;
}

std::string encode_streams_header(const StreamsHeader& h) {
  std::string out = new_header(kStreamsMagic, kStreamsVersion, h.store_id);
  char* p = out.data();
  put_u64(p + 32, h.end_position);
  put_u64(p + 40, h.last_segment);
  put_u64(p + 48, h.stream_count);
  put_u64(p + 56, h.slot_count);
  put_u64(p + 64, h.entry_count);
  put_u64(p + 72, h.names_size);
  put_u64(p + 80, h.first_segment);
  return out;
}

Result<SegmentIndexHeader> decode_segment_index_header(std::string_view file, const std::string& path,
                                                       IndexFile& out) {
  if (Status s = check_outer(file, path, kSegmentIndexMagic, kSegmentIndexVersion); !s.ok()) return s;
  const char* p = file.data();
  SegmentIndexHeader h;
  std::memcpy(h.store_id.data(), p + 16, 16);
  h.sequence = get_u64(p + 32);
  h.first_position = get_u64(p + 40);
  h.event_count = get_u64(p + 48);
  h.batch_count = get_u64(p + 56);
  h.data_end = get_u64(p + 64);
  h.last_frame_checksum = get_u64(p + 72);
  h.flags = get_u32(p + 80);
  h.stream_count = get_u32(p + 84);
  h.names_size = get_u64(p + 88);
  h.bitmaps_size = get_u64(p + 96);
  if (!counts_fit(file, {h.batch_count, h.stream_count, h.names_size, h.bitmaps_size}) ||
      h.event_count < h.batch_count || h.stream_count > h.batch_count || (h.flags & ~kSegmentIndexSealed) != 0 ||
      get_u64(p + 104) != 0) {
    return Status::corruption(path + ": inconsistent index header at offset 32");
  }
  if (Status s = locate_body(file, path, segment_index_layout(h).body_size, out); !s.ok()) return s;
  return h;
}

Result<StreamsHeader> decode_streams_header(std::string_view file, const std::string& path, IndexFile& out) {
  if (Status s = check_outer(file, path, kStreamsMagic, kStreamsVersion); !s.ok()) return s;
  const char* p = file.data();
  StreamsHeader h;
  std::memcpy(h.store_id.data(), p + 16, 16);
  h.end_position = get_u64(p + 32);
  h.last_segment = get_u64(p + 40);
  h.stream_count = get_u64(p + 48);
  h.slot_count = get_u64(p + 56);
  h.entry_count = get_u64(p + 64);
  h.names_size = get_u64(p + 72);
  h.first_segment = get_u64(p + 80);
  bool reserved_zero = get_u64(p + 88) == 0 && get_u64(p + 96) == 0 && get_u64(p + 104) == 0;
  if (!counts_fit(file, {h.stream_count, h.slot_count, h.entry_count, h.names_size}) || !reserved_zero ||
      h.first_segment == 0 || h.first_segment > h.last_segment ||
      h.slot_count == 0 || (h.slot_count & (h.slot_count - 1)) != 0 || h.slot_count < 2 * h.stream_count ||
      h.entry_count < h.stream_count) {
    return Status::corruption(path + ": inconsistent index header at offset 32");
  }
  if (Status s = locate_body(file, path, streams_layout(h).body_size, out); !s.ok()) return s;
  return h;
}

std::string streams_run_file_name(uint64_t first_segment, uint64_t last_segment) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llu-%08llu", static_cast<unsigned long long>(first_segment),
                static_cast<unsigned long long>(last_segment));
  return std::string(kStreamsFilePrefix) + buf;
}

std::optional<RunName> parse_streams_run_file_name(std::string_view name) {
  if (!name.starts_with(kStreamsFilePrefix)) return std::nullopt;
  name.remove_prefix(kStreamsFilePrefix.size());
  size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parse_decimal(name.substr(0, dash));
  auto last = parse_decimal(name.substr(dash + 1));
  // Exactly as written: the round trip refuses other paddings and empty numbers.
  if (!first || !last || *first == 0 || *first > *last ||
      streams_run_file_name(*first, *last) != std::string(kStreamsFilePrefix) + std::string(name)) {
    return std::nullopt;
  }
  return RunName{*first, *last};
}

bool verify_block(const IndexFile& file, size_t block) {
  std::string_view bytes = file.body.substr(block * file.block_size, file.block_size);
  return get_u64(file.block_table.data() + block * 8) == checksum(bytes);
}

}  // namespace cairn::format
