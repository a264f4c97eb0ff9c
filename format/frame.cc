#include "format/frame.h"

#include "format/checksum.h"
#include "format/coding.h"

namespace cairn::format {

const char* frame_status_name(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk: return "ok";
    case FrameStatus::kEnd: return "end of data";
    case FrameStatus::kTruncated: return "truncated frame";
    case FrameStatus::kBadHeader: return "bad frame header";
    case FrameStatus::kBadChecksum: return "checksum mismatch";
  }
  return "unknown";
}

Frame parse_frame(std::string_view bytes) {
  Frame f;
  if (bytes.size() < kFrameHeaderSize) {
    bool zeros = bytes.find_first_not_of('\0') == std::string_view::npos;
    f.status = zeros ? FrameStatus::kEnd : FrameStatus::kTruncated;
    return f;
  }
  const char* p = bytes.data();
  uint64_t sum = get_u64(p);
  uint32_t body_len = get_u32(p + 8);
  auto type = static_cast<uint8_t>(p[12]);
  if (sum == 0 && body_len == 0 && get_u64(p + 8) == 0) {
    f.status = FrameStatus::kEnd;
    return f;
  }
  if ((type != 1 && type != 2) || p[13] != 0 || p[14] != 0 || p[15] != 0) {
    f.status = FrameStatus::kBadHeader;
    return f;
  }
  uint64_t size = align8(kFrameHeaderSize + uint64_t{body_len});
  if (size > bytes.size()) {
    f.status = FrameStatus::kTruncated;
    return f;
  }
  if (checksum(p + 8, size - 8) != sum) {
    f.status = FrameStatus::kBadChecksum;
    return f;
  }
  f.status = FrameStatus::kOk;
  f.type = static_cast<FrameType>(type);
  f.body = bytes.substr(kFrameHeaderSize, body_len);
  f.size = size;
  return f;
}

size_t begin_frame(std::string& out, FrameType type) {
  size_t offset = out.size();
  out.append(kFrameHeaderSize, '\0');
  out[offset + 12] = static_cast<char>(type);
  return offset;
}

void finish_frame(std::string& out, size_t frame_offset, bool seal) {
  size_t body_len = out.size() - frame_offset - kFrameHeaderSize;
  out.append(align8(out.size() - frame_offset) - (out.size() - frame_offset), '\0');
  put_u32(out.data() + frame_offset + 8, static_cast<uint32_t>(body_len));
  if (seal) seal_frame(out.data() + frame_offset, out.size() - frame_offset);
}

void seal_frame(char* frame, size_t size) { put_u64(frame, checksum(frame + 8, size - 8)); }

std::string_view own_frame_body(std::string_view frame) {
  return frame.substr(kFrameHeaderSize, get_u32(frame.data() + 8));
}

}  // namespace cairn::format
