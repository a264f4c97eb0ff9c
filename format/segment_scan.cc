#include "format/segment_scan.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/frame.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace cairn::format {
namespace {

// True when a valid frame after `from` proves that the bytes at `from` had
// been made durable before it was written: a batch whose durable_position is
// past `next_position`, or the segment's footer. Frames are 8-byte aligned, so
// the search steps by 8; a candidate must be self-consistent (a batch stamped
// durable no further than its own start, a footer at its own data_end), so
// frame-like bytes inside an event's data do not count. Only torn tails (rare,
// small) and corruption get here.
enum class Vouch : uint8_t { kNo, kYes, kUndecided };

// Bytes the search may hash before it gives up: each candidate is hashed in
// full, so crafted damage could otherwise make an open take quadratic time.
constexpr uint64_t kVouchHashBudget = 1ull << 30;

Vouch later_frame_vouches(std::string_view file, uint64_t from, uint64_t next_position,
                          uint64_t first_position) {
  uint64_t hashed = 0;
  for (uint64_t at = align8(from + 8); at + kFrameHeaderSize <= file.size(); at += 8) {
    uint64_t claimed = align8(kFrameHeaderSize + uint64_t{get_u32(file.data() + at + 8)});
    if (claimed <= file.size() - at && (hashed += claimed) > kVouchHashBudget) return Vouch::kUndecided;
    Frame f = parse_frame(file.substr(at));
    if (f.status != FrameStatus::kOk) continue;
    if (f.type == FrameType::kFooter) {
      auto footer = decode_footer(f.body, "");
      if (footer.ok() && footer->data_end == at && footer->first_position == first_position) return Vouch::kYes;
      continue;
    }
    auto batch = BatchView::decode(f.body, "");
    if (!batch.ok()) continue;
    const BatchStamp& stamp = batch->stamp();
    if (stamp.durable_position <= stamp.first_position && stamp.durable_position > next_position) return Vouch::kYes;
  }
  return Vouch::kNo;
}

// Whether any byte from `at` on is not zero. A prepared segment ends in up to
// its whole size of zeros, so compare in blocks (memcmp is vectorised).
bool nonzero_after(std::string_view file, uint64_t at) {
  static const char kZeros[4096] = {};
  while (at < file.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof kZeros, file.size() - at));
    if (std::memcmp(file.data() + at, kZeros, n) != 0) return true;
    at += n;
  }
  return false;
}

}  // namespace

std::string file_offset(const std::string& path, uint64_t offset) {
  return path + " at offset " + std::to_string(offset);
}

Result<SegmentScan> scan_segment(std::string_view file, const std::string& path,
                                 const ScanOptions& options,
                                 const std::function<Status(const ScannedBatch&)>& on_batch) {
  auto header = decode_segment_header(file, path);
  if (!header.ok()) return header.status();
  SegmentScan scan;
  scan.header = *header;
  StreamingChecksum content;
  uint64_t at = kSegmentHeaderSize;
  if (options.start_offset > at) {
    if (options.start_offset > file.size()) return Status::corruption(file_offset(path, options.start_offset) + ": resume offset past the end of the file");
    at = options.start_offset;
    scan.data_end = at;
    scan.batch_count = options.start_batches;
    scan.event_count = options.start_events;
  }
  uint64_t next_position = scan.header.first_position + scan.event_count;
  // The hash of [64, data_end): streamed, or over the skipped prefix too when
  // the scan resumed (computed only where a footer needs it).
  auto content_digest = [&] {
    return options.start_offset > kSegmentHeaderSize
               ? checksum(file.substr(kSegmentHeaderSize, scan.data_end - kSegmentHeaderSize))
               : content.digest();
  };

  // `message` already names the file and offset.
  auto corrupt_at = [&](const std::string& message) -> Result<SegmentScan> {
    if (!options.stop_at_corruption) return Status::corruption(message);
    scan.torn = true;
    scan.corruption = true;
    scan.torn_reason = message;
    if (options.start_offset <= kSegmentHeaderSize) scan.content_hash = content.digest();
    return scan;
  };
  auto corrupt = [&](uint64_t offset, const std::string& what) {
    return corrupt_at(file_offset(path, offset) + ": " + what);
  };
  // Why the invalid bytes at `offset` are corruption rather than a torn tail
  // (a later frame vouches for them, or the damage is too extensive to judge:
  // never cut what cannot be judged); nullopt for a torn tail.
  auto corruption_reason = [&](uint64_t offset) -> std::optional<std::string> {
    switch (later_frame_vouches(file, offset, next_position, scan.header.first_position)) {
      case Vouch::kYes: return "before the end of the durable data";
      case Vouch::kUndecided: return "followed by too much damage to tell a torn tail from corruption";
      case Vouch::kNo: break;
    }
    return std::nullopt;
  };

  while (true) {
    Frame f = parse_frame(file.substr(at));
    if (f.status == FrameStatus::kEnd) {
      // Zeros, then data: a torn write whose first sectors did not persist,
      // or a zeroed block inside durable data.
      scan.tail_check_skipped = options.is_last && options.clean_data_end == at &&
                                options.clean_next_position == next_position;
      if (options.is_last && !scan.tail_check_skipped && nonzero_after(file, at)) {
        if (auto why = corruption_reason(at)) return corrupt(at, "zeroed frame header " + *why);
        scan.torn = true;
        scan.torn_reason = "zeroed frame header followed by data";
      }
      break;
    }
    if (f.status != FrameStatus::kOk) {
      std::string what = frame_status_name(f.status);
      if (!options.is_last) return corrupt(at, what + " in a sealed segment");
      if (auto why = corruption_reason(at)) {
        return corrupt(at, what + " " + *why);
      }
      scan.torn = true;
      scan.torn_reason = what;
      break;
    }
    if (f.type == FrameType::kFooter) {
      auto footer = decode_footer(f.body, file_offset(path, at));
      if (!footer.ok()) return corrupt_at(footer.status().message());
      const Footer& ft = *footer;
      if (ft.first_position != scan.header.first_position || ft.event_count != scan.event_count ||
          ft.batch_count != scan.batch_count || ft.data_end != at ||
          ft.content_hash != content_digest()) {
        return corrupt(at, "footer does not match the segment's content");
      }
      uint64_t end = at + f.size;
      if (end < file.size() && parse_frame(file.substr(end)).status != FrameStatus::kEnd) {
        return corrupt(end, "bytes after the footer");
      }
      scan.footer = ft;
      break;
    }
    // Named by file and offset only when it fails: building the name for
    // every batch cost more than decoding it.
    auto batch = BatchView::decode(f.body, std::string());
    if (!batch.ok()) return corrupt_at(BatchView::decode(f.body, file_offset(path, at)).status().message());
    if (batch->stamp().first_position != next_position) {
      return corrupt(at, "batch starts at position " + std::to_string(batch->stamp().first_position) +
                             ", expected " + std::to_string(next_position));
    }
    ScannedBatch sb{at, static_cast<uint32_t>(f.size), *batch};
    if (Status s = on_batch(sb); !s.ok()) {
      if (s.code() == Code::kCorruption) return corrupt(at, s.message());
      return s;
    }
    content.update(file.data() + at, f.size);
    next_position += batch->count();
    scan.batch_count++;
    scan.event_count += batch->count();
    at += f.size;
    scan.data_end = at;
  }
  if (!options.is_last && !scan.footer) return corrupt(scan.data_end, "sealed segment has no footer");
  if (scan.footer) scan.content_hash = scan.footer->content_hash;
  else if (options.start_offset <= kSegmentHeaderSize) scan.content_hash = content.digest();
  return scan;
}

}  // namespace cairn::format
