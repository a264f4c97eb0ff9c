#include "format/snapshot_record.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <cstdio>
#include <cstring>
#include <optional>

namespace cairn::format {
namespace {

constexpr uint8_t kKindSnapshot = 1;
constexpr uint8_t kKindPrune = 2;
// Bytes hashed per read when a payload is checked.
constexpr size_t kPayloadChunk = 4u << 20;
// Bytes read per step when looking for a valid record after a damaged one.
constexpr size_t kSearchChunk = 1u << 20;

bool all_zero(std::string_view bytes) { return bytes.find_first_not_of('\0') == std::string_view::npos; }

Status bad_record(const std::string& file, uint64_t offset, const std::string& what) {
  return Status::corruption(file_offset(file, offset) + ": snapshot record: " + what);
}

// Reads exactly n bytes at offset, or fewer at the end of the file.
Result<std::string> read_some(const ReadAt& read, uint64_t offset, size_t n) {
  std::string buf(n, '\0');
  auto got = read(offset, buf.data(), n);
  if (!got.ok()) return got.status();
  buf.resize(*got);
  return buf;
}

// The valid record header at `at`, a kCorruption saying why there is none,
// or another error of `read`. A record running past `file_size` is invalid.
Result<SnapshotRecord> read_record(const ReadAt& read, uint64_t at, uint64_t file_size, const std::string& file) {
  auto fixed = read_some(read, at, kSnapshotRecordFixedSize);
  if (!fixed.ok()) return fixed.status();
  if (fixed->size() < kSnapshotRecordFixedSize) {
    return bad_record(file, at, "truncated header (" + std::to_string(fixed->size()) + " bytes)");
  }
  if (all_zero(*fixed)) return bad_record(file, at, "zeroed header");
  uint64_t size = snapshot_record_header_size(*fixed);
  std::string header = std::move(*fixed);
  if (size > header.size()) {
    auto names = read_some(read, at + header.size(), size - header.size());
    if (!names.ok()) return names.status();
    header += *names;
    if (header.size() < size) return bad_record(file, at, "header runs past the end of the file");
  }
  auto record = decode_snapshot_record_header(header, at, file);
  if (!record.ok()) return record.status();
  if (record->size() > file_size - at) {
    return bad_record(file, at, "runs past the end of the file (" + std::to_string(record->size()) + " bytes)");
  }
  return record;
}

// Whether the record's payload hashes to its payload_checksum.
Result<bool> payload_matches(const ReadAt& read, const SnapshotRecord& r) {
  StreamingChecksum sum;
  std::string buf(std::min<uint64_t>(r.payload_len, kPayloadChunk), '\0');
  uint64_t at = r.offset + r.header_size();
  for (uint64_t left = r.payload_len; left > 0;) {
    size_t n = std::min<uint64_t>(left, buf.size());
    auto got = read(at, buf.data(), n);
    if (!got.ok()) return got.status();
    if (*got != n) return false;
    sum.update(buf.data(), n);
    at += n;
    left -= n;
  }
  return sum.digest() == r.payload_checksum;
}

// The offset of the first valid record header after `at`, if any: proof
// that the damaged record at `at` had been made durable (every record is
// synced before the next one is written). Candidates are 8-aligned offsets
// holding the record magic and their own offset, so a record's image inside
// some payload vouches only where it was written at exactly that place.
Result<std::optional<uint64_t>> find_later_record(const ReadAt& read, uint64_t at, uint64_t file_size,
                                                  const std::string& file) {
  for (uint64_t base = at + 8; base + kSnapshotRecordFixedSize <= file_size; base += kSearchChunk) {
    auto chunk = read_some(read, base, kSearchChunk + kSnapshotRecordFixedSize);
    if (!chunk.ok()) return chunk.status();
    for (size_t i = 0; i < kSearchChunk && i + kSnapshotRecordFixedSize <= chunk->size(); i += 8) {
      const char* p = chunk->data() + i;
      if (std::memcmp(p + 8, kSnapshotRecordMagic.data(), 4) != 0 || get_u64(p + 24) != base + i) continue;
      auto record = read_record(read, base + i, file_size, file);
      if (record.ok()) return std::optional<uint64_t>(base + i);
      if (record.status().code() != Code::kCorruption) return record.status();
    }
  }
  return std::optional<uint64_t>();
}

// An invalid record at `at`: a torn tail of the newest file, or corruption.
Status judge_damage(const ReadAt& read, uint64_t at, uint64_t file_size, const std::string& file,
                    const Status& damage, const SnapshotScanOptions& options, SnapshotFileScan& scan) {
  if (!options.is_last) return Status::corruption(damage.message() + " (in a file that is not the newest)");
  auto later = find_later_record(read, at, file_size, file);
  if (!later.ok()) return later.status();
  if (*later) {
    return Status::corruption(damage.message() + ", before the valid record at offset " + std::to_string(**later));
  }
  scan.torn = true;
  scan.torn_reason = damage.message();
  scan.data_end = at;
  return Status();
}

void hand_out(const SnapshotRecord& r, bool bad_payload, const std::string& file, SnapshotFileScan& scan,
              const std::function<void(const SnapshotRecord&)>& on_record) {
  on_record(r);
  if (bad_payload) scan.bad_payloads.push_back(file_offset(file, r.offset) + ": snapshot payload checksum mismatch");
}

}  // namespace

std::string snapshot_file_name(uint64_t sequence) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08llu.snap", static_cast<unsigned long long>(sequence));
  return buf;
}

std::optional<uint64_t> parse_snapshot_file_name(std::string_view f) {
  constexpr std::string_view kSuffix = ".snap";
  if (f.size() < 8 + kSuffix.size() || f.substr(f.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  auto seq = parse_decimal(f.substr(0, f.size() - kSuffix.size()));
  if (!seq || snapshot_file_name(*seq) != f) return std::nullopt;  // one name per file
  return seq;
}

std::string encode_snapshot_file_header(const SnapshotFileHeader& h) {
  std::string out(kSnapshotFileHeaderSize, '\0');
  std::memcpy(out.data(), kSnapshotFileMagic.data(), 8);
  put_u32(out.data() + 8, kFormatVersion);
  put_u32(out.data() + 12, kSnapshotFileHeaderSize);
  put_u64(out.data() + 16, h.sequence);
  // [24, 32) reserved, zero.
  std::memcpy(out.data() + 32, h.store_id.data(), 16);
  put_u64(out.data() + 48, static_cast<uint64_t>(h.created_ns));
  seal_file_header(out);
  return out;
}

Result<SnapshotFileHeader> decode_snapshot_file_header(std::string_view bytes, const std::string& file) {
  if (Status s = check_file_header(bytes, kSnapshotFileMagic, kSnapshotFileHeaderSize, file); !s.ok()) return s;
  if (get_u32(bytes.data() + 12) != kSnapshotFileHeaderSize) {
    return Status::corruption(file + ": bad header size at offset 12");
  }
  SnapshotFileHeader h;
  h.sequence = get_u64(bytes.data() + 16);
  std::memcpy(h.store_id.data(), bytes.data() + 32, 16);
  h.created_ns = static_cast<int64_t>(get_u64(bytes.data() + 48));
  return h;
}

uint64_t SnapshotRecord::size() const { return align8(header_size() + payload_len); }

bool SnapshotRecord::drops(uint64_t snapshot_version, uint64_t snapshot_id) const {
  return snapshot_version < floor_version || (snapshot_version == floor_version && snapshot_id < floor_id);
}

uint64_t padding_after(const SnapshotRecord& r) { return r.size() - r.header_size() - r.payload_len; }

std::string encode_snapshot_record_header(const SnapshotRecord& r) {
  std::string out(kSnapshotRecordFixedSize, '\0');
  char* p = out.data();
  std::memcpy(p + 8, kSnapshotRecordMagic.data(), 4);
  p[12] = static_cast<char>(r.kind);
  put_u16(p + 14, static_cast<uint16_t>(r.stream.size()));
  put_u16(p + 16, static_cast<uint16_t>(r.schema.size()));
  put_u64(p + 24, r.offset);
  put_u64(p + 32, r.id);
  put_u64(p + 40, r.version);
  put_u64(p + 48, r.floor_version);
  put_u64(p + 56, r.floor_id);
  put_u64(p + 64, static_cast<uint64_t>(r.created_ns));
  put_u64(p + 72, r.payload_len);
  put_u64(p + 80, r.payload_checksum);
  out += r.stream;
  out += r.schema;
  put_u64(out.data(), checksum(out.data() + 8, out.size() - 8));
  return out;
}

uint64_t snapshot_record_header_size(std::string_view fixed) {
  return kSnapshotRecordFixedSize + get_u16(fixed.data() + 14) + get_u16(fixed.data() + 16);
}

Result<SnapshotRecord> decode_snapshot_record_header(std::string_view bytes, uint64_t offset,
                                                     const std::string& file) {
  if (bytes.size() < kSnapshotRecordFixedSize) return bad_record(file, offset, "truncated header");
  const char* p = bytes.data();
  if (std::memcmp(p + 8, kSnapshotRecordMagic.data(), 4) != 0) return bad_record(file, offset, "bad magic");
  uint64_t size = snapshot_record_header_size(bytes);
  if (bytes.size() < size) return bad_record(file, offset, "truncated header");
  if (get_u64(p) != checksum(p + 8, size - 8)) return bad_record(file, offset, "header checksum mismatch");
  auto kind = static_cast<uint8_t>(p[12]);
  if (kind != kKindSnapshot && kind != kKindPrune) {
    return bad_record(file, offset, "unknown kind " + std::to_string(kind));
  }
  if (p[13] != 0 || !all_zero(bytes.substr(18, 6))) return bad_record(file, offset, "reserved bytes are not zero");
  SnapshotRecord r;
  r.kind = static_cast<SnapshotRecordKind>(kind);
  size_t stream_len = get_u16(p + 14);
  size_t schema_len = get_u16(p + 16);
  r.offset = get_u64(p + 24);
  r.id = get_u64(p + 32);
  r.version = get_u64(p + 40);
  r.floor_version = get_u64(p + 48);
  r.floor_id = get_u64(p + 56);
  r.created_ns = static_cast<int64_t>(get_u64(p + 64));
  r.payload_len = get_u64(p + 72);
  r.payload_checksum = get_u64(p + 80);
  r.stream.assign(p + kSnapshotRecordFixedSize, stream_len);
  r.schema.assign(p + kSnapshotRecordFixedSize + stream_len, schema_len);
  if (r.offset != offset) return bad_record(file, offset, "says it is at offset " + std::to_string(r.offset));
  if (stream_len == 0) return bad_record(file, offset, "empty stream name");
  bool prune = r.kind == SnapshotRecordKind::kPrune;
  if (!prune && schema_len == 0) return bad_record(file, offset, "empty schema");
  if (prune && (schema_len != 0 || r.version != 0 || r.payload_len != 0)) {
    return bad_record(file, offset, "a prune record with a schema, version or payload");
  }
  if (r.payload_len > (uint64_t{1} << 62)) return bad_record(file, offset, "payload length out of range");
  return r;
}

Result<SnapshotFileScan> scan_snapshot_file(const ReadAt& read, uint64_t file_size, const std::string& file,
                                            const SnapshotScanOptions& options,
                                            const std::function<void(const SnapshotRecord&)>& on_record) {
  SnapshotFileScan scan;
  auto header_bytes = read_some(read, 0, kSnapshotFileHeaderSize);
  if (!header_bytes.ok()) return header_bytes.status();
  auto header = decode_snapshot_file_header(*header_bytes, file);
  if (!header.ok()) return header.status();
  scan.header = *header;
  // The last valid record is held back until it is known not to be a torn
  // tail: in the newest file, a record that ends the file is the one a
  // crash may have torn, so its payload is checked before it is handed out.
  std::optional<SnapshotRecord> held;
  bool held_bad = false;  // held's payload failed its checksum
  for (uint64_t at = kSnapshotFileHeaderSize; at < file_size;) {
    auto record = read_record(read, at, file_size, file);
    if (!record.ok()) {
      if (record.status().code() != Code::kCorruption) return record.status();
      if (Status s = judge_damage(read, at, file_size, file, record.status(), options, scan); !s.ok()) return s;
      break;
    }
    if (held) hand_out(*held, held_bad, file, scan, on_record);
    held = std::move(*record);
    held_bad = false;
    if (options.verify_payloads) {
      auto ok = payload_matches(read, *held);
      if (!ok.ok()) return ok.status();
      held_bad = !*ok;
    }
    at += held->size();
    scan.data_end = at;
  }
  if (!held) return scan;
  bool ends_file = !scan.torn && options.is_last;
  if (ends_file && !options.verify_payloads) {
    auto ok = payload_matches(read, *held);
    if (!ok.ok()) return ok.status();
    held_bad = !*ok;
  }
  if (held_bad && ends_file) {
    scan.torn = true;
    scan.torn_reason = file_offset(file, held->offset) + ": snapshot record: payload checksum mismatch";
    scan.data_end = held->offset;
    return scan;
  }
  hand_out(*held, held_bad, file, scan, on_record);
  return scan;
}

}  // namespace cairn::format
