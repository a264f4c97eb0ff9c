#include "format/segment_name.h"

#include <cstdio>

namespace cairn::format {

std::optional<uint64_t> parse_decimal(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::string segment_file_name(const SegmentName& n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%08llu-%020llu.seg", static_cast<unsigned long long>(n.sequence),
                static_cast<unsigned long long>(n.first_position));
  return buf;
}

std::optional<SegmentName> parse_segment_file_name(std::string_view f) {
  // 8+ digits, '-', 20 digits, ".seg"
  if (f.size() < 8 + 1 + 20 + 4 || f.substr(f.size() - 4) != ".seg") return std::nullopt;
  size_t dash = f.size() - 4 - 20 - 1;
  if (f[dash] != '-') return std::nullopt;
  auto seq = parse_decimal(f.substr(0, dash));
  auto pos = parse_decimal(f.substr(dash + 1, 20));
  if (!seq || !pos) return std::nullopt;
  // One name per segment: the sequence has no leading zero beyond its 8 digits.
  if (dash > 8 && f[0] == '0') return std::nullopt;
  return SegmentName{*seq, *pos};
}

}  // namespace cairn::format
