#include "format/batch.h"

#include "format/coding.h"
#include "format/frame.h"

#include <cstring>

namespace cairn::format {
namespace {

void put_stamp(char* body, const BatchStamp& s) {
  put_u64(body + 0, s.first_position);
  put_u64(body + 8, s.first_version);
  put_u64(body + 16, s.durable_position);
  put_u64(body + 24, static_cast<uint64_t>(s.timestamp_ns));
}

}  // namespace

size_t batch_frame_size(std::string_view stream, std::span<const NewEvent> events) {
  size_t n = kFrameHeaderSize + kBatchFixedSize + stream.size();
  for (const NewEvent& e : events) {
    n += kEventFixedSize + e.type.size() + e.data.size() + e.metadata.size();
  }
  return align8(n);
}

size_t encode_batch(std::string& out, std::string_view stream, std::span<const NewEvent> events,
                    const BatchStamp& stamp, bool seal) {
  out.reserve(out.size() + batch_frame_size(stream, events));
  size_t frame = begin_frame(out, FrameType::kEvents);
  size_t body = out.size();
  out.append(kBatchFixedSize, '\0');
  put_stamp(out.data() + body, stamp);
  put_u32(out.data() + body + 32, static_cast<uint32_t>(events.size()));
  put_u16(out.data() + body + 36, static_cast<uint16_t>(stream.size()));
  out.append(stream);
  for (const NewEvent& e : events) {
    out.append(reinterpret_cast<const char*>(e.id.bytes.data()), 16);
    append_u16(out, static_cast<uint16_t>(e.type.size()));
    append_u32(out, static_cast<uint32_t>(e.data.size()));
    append_u32(out, static_cast<uint32_t>(e.metadata.size()));
    out.append(e.type);
    out.append(e.data);
    out.append(e.metadata);
  }
  finish_frame(out, frame, seal);
  return frame;
}

void restamp_batch(char* frame, size_t frame_size, const BatchStamp& stamp) {
  put_stamp(frame + kFrameHeaderSize, stamp);
  seal_frame(frame, frame_size);
}

Result<BatchView> BatchView::decode(std::string_view body, const std::string& where) {
  auto bad = [&](const std::string& what) {
    return Status::corruption(where + ": events batch: " + what);
  };
  if (body.size() < kBatchFixedSize) return bad("body shorter than its fixed part");
  const char* p = body.data();
  BatchView v;
  v.stamp_.first_position = get_u64(p);
  v.stamp_.first_version = get_u64(p + 8);
  v.stamp_.durable_position = get_u64(p + 16);
  v.stamp_.timestamp_ns = static_cast<int64_t>(get_u64(p + 24));
  v.count_ = get_u32(p + 32);
  uint16_t stream_len = get_u16(p + 36);
  if (v.count_ == 0) return bad("zero events");
  if (stream_len == 0 || kBatchFixedSize + stream_len > body.size()) return bad("bad stream length");
  if (get_u16(p + 38) != 0) return bad("non-zero reserved bytes");
  v.stream_ = body.substr(kBatchFixedSize, stream_len);
  v.events_ = body.substr(kBatchFixedSize + stream_len);
  // Walk every event once so later reads can trust the lengths.
  size_t off = 0;
  for (uint32_t i = 0; i < v.count_; ++i) {
    if (v.events_.size() - off < kEventFixedSize) return bad("event " + std::to_string(i) + " truncated");
    const char* e = v.events_.data() + off;
    uint64_t len = uint64_t{get_u16(e + 16)} + get_u32(e + 18) + get_u32(e + 22);
    if (get_u16(e + 16) == 0) return bad("event " + std::to_string(i) + " has an empty type");
    if (len > v.events_.size() - off - kEventFixedSize) return bad("event " + std::to_string(i) + " overruns the batch");
    off += kEventFixedSize + len;
  }
  if (off != v.events_.size()) return bad("trailing bytes after the last event");
  return v;
}

EventView BatchView::event_at(size_t& offset) const {
  const char* e = events_.data() + offset;
  EventView v;
  std::memcpy(v.id.bytes.data(), e, 16);
  uint16_t type_len = get_u16(e + 16);
  uint32_t data_len = get_u32(e + 18);
  uint32_t meta_len = get_u32(e + 22);
  size_t at = offset + kEventFixedSize;
  v.type = events_.substr(at, type_len);
  v.data = events_.substr(at + type_len, data_len);
  v.metadata = events_.substr(at + type_len + data_len, meta_len);
  offset = at + type_len + data_len + meta_len;
  return v;
}

}  // namespace cairn::format
