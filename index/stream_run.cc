#include "index/stream_run.h"

#include "format/segment_scan.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace cairn::index {
namespace {

// 0 marks an empty slot, so an (injected) hash of 0 is stored as 1.
uint64_t slot_hash(HashFn hash, std::string_view name) {
  uint64_t h = hash(name);
  return h == 0 ? 1 : h;
}

}  // namespace

Result<std::unique_ptr<StreamRun>> StreamRun::open(std::string_view file, std::shared_ptr<const void> keep,
                                                   const std::string& path, HashFn hash) {
  format::IndexFile f;
  auto header = format::decode_streams_header(file, path, f);
  if (!header.ok()) return header.status();
  return std::unique_ptr<StreamRun>(new StreamRun(*header, f, std::move(keep), path, hash));
}

Status StreamRun::corrupt(uint64_t body_offset, const std::string& what) const {
  return Status::corruption(format::file_offset(path(), format::kIndexHeaderSize + body_offset) + ": " + what);
}

Result<format::StreamsSlot> StreamRun::slot_at(uint64_t i) const {
  uint64_t at = layout_.slots + i * format::kStreamsSlotSize;
  auto bytes = blocks_.get(at, format::kStreamsSlotSize);
  if (!bytes.ok()) return bytes.status();
  format::StreamsSlot s = format::get_streams_slot(bytes->data());
  if (s.hash != 0 && (uint64_t{s.name_offset} + s.name_len > header_.names_size || s.name_len == 0 ||
                      s.entry_count == 0 || uint64_t{s.entry_start} + s.entry_count > header_.entry_count ||
                      s.next_version == 0)) {
    return corrupt(at, "stream slot out of range");
  }
  return s;
}

Result<std::string_view> StreamRun::name_of(const format::StreamsSlot& s) const {
  return blocks_.get(layout_.names + s.name_offset, s.name_len);
}

Result<std::optional<format::StreamsSlot>> StreamRun::find(std::string_view name) const {
  uint64_t h = slot_hash(hash_, name);
  uint64_t mask = header_.slot_count - 1;
  // At most half the slots are used, so the probe meets an empty one.
  for (uint64_t i = h & mask, probes = 0; probes < header_.slot_count; i = (i + 1) & mask, ++probes) {
    auto s = slot_at(i);
    if (!s.ok()) return s.status();
    if (s->hash == 0) break;
    if (s->hash != h) continue;
    auto n = name_of(*s);
    if (!n.ok()) return n.status();
    if (*n == name) return std::optional<format::StreamsSlot>(*s);
  }
  return std::optional<format::StreamsSlot>();
}

Result<format::StreamsEntry> StreamRun::entry(uint64_t i) const {
  uint64_t at = layout_.entries + i * format::kStreamsEntrySize;
  auto bytes = blocks_.get(at, format::kStreamsEntrySize);
  if (!bytes.ok()) return bytes.status();
  format::StreamsEntry e = format::get_streams_entry(bytes->data());
  if (e.sequence < header_.first_segment || e.sequence > header_.last_segment) {
    return corrupt(at, "entry names a segment outside the run");
  }
  return e;
}

Result<format::StreamsEntry> StreamRun::segment_of(const format::StreamsSlot& slot, uint64_t version) const {
  uint64_t lo = 0;  // the last entry whose first version is <= version
  uint64_t hi = slot.entry_count;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto e = entry(slot.entry_start + mid);
    if (!e.ok()) return e.status();
    (e->first_version <= version ? lo : hi) = mid;
  }
  return entry(slot.entry_start + lo);
}

Status StreamRun::for_each_stream(
    const std::function<Status(std::string_view, const format::StreamsSlot&)>& fn) const {
  for (uint64_t i = 0; i < header_.slot_count; ++i) {
    auto s = slot_at(i);
    if (!s.ok()) return s.status();
    if (s->hash == 0) continue;
    auto n = name_of(*s);
    if (!n.ok()) return n.status();
    if (Status st = fn(*n, *s); !st.ok()) return st;
  }
  return Status();
}

// ---------------------------------------------------------------- building

StreamRunBuilder::Stream& StreamRunBuilder::stream(std::string_view name) {
  auto it = streams_.find(name);
  if (it == streams_.end()) it = streams_.emplace(std::string(name), Stream{}).first;
  return it->second;
}

Status StreamRunBuilder::add_run(const StreamRun& run) {
  return run.for_each_stream([&](std::string_view name, const format::StreamsSlot& slot) {
    Stream& s = stream(name);
    s.next_version = slot.next_version;
    s.last_position = slot.last_position;
    for (uint64_t i = 0; i < slot.entry_count; ++i) {
      auto e = run.entry(slot.entry_start + i);
      if (!e.ok()) return e.status();
      if (!s.entries.empty() && s.entries.back().sequence == e->sequence) s.entries.pop_back();
      s.entries.push_back(*e);
    }
    return Status();
  });
}

Status StreamRunBuilder::add_segment(const SegmentIndex& segment) {
  uint64_t sequence = segment.header().sequence;
  return segment.for_each_stream([&](std::string_view name, const format::SegmentIndexStream& entry) {
    auto span = segment.span(entry);
    if (!span.ok()) return span.status();
    Stream& s = stream(name);
    if (!s.entries.empty() && s.entries.back().sequence == sequence) s.entries.pop_back();
    s.entries.push_back({sequence, entry.first_version});
    s.next_version = entry.first_version + span->version_count;
    s.last_position = span->last_position;
    return Status();
  });
}

std::string StreamRunBuilder::finish(const format::StoreId& store_id, uint64_t end_position,
                                     uint64_t first_segment, uint64_t last_segment) const {
  format::StreamsHeader h;
  h.store_id = store_id;
  h.end_position = end_position;
  h.first_segment = first_segment;
  h.last_segment = last_segment;
  h.stream_count = streams_.size();
  h.slot_count = std::bit_ceil(std::max<uint64_t>(1, 2 * h.stream_count));
  for (const auto& [name, s] : streams_) {
    h.entry_count += s.entries.size();
    h.names_size += name.size();
  }
  format::StreamsLayout l = format::streams_layout(h);
  std::string body(l.body_size, '\0');
  uint64_t mask = h.slot_count - 1;
  uint32_t entry_at = 0;
  uint32_t name_at = 0;
  // In name order, so that the same streams make the same bytes however
  // they were added (a merged run equals the run built from scratch).
  std::vector<const std::pair<const std::string, Stream>*> sorted;
  sorted.reserve(streams_.size());
  for (const auto& stream : streams_) sorted.push_back(&stream);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* stream : sorted) {
    const auto& [name, s] = *stream;
    uint64_t hash = slot_hash(hash_, name);
    uint64_t i = hash & mask;
    while (format::get_streams_slot(body.data() + l.slots + i * format::kStreamsSlotSize).hash != 0) i = (i + 1) & mask;
    format::StreamsSlot slot{hash, s.next_version, s.last_position, name_at, static_cast<uint16_t>(name.size()),
                             entry_at, static_cast<uint32_t>(s.entries.size())};
    format::put_streams_slot(body.data() + l.slots + i * format::kStreamsSlotSize, slot);
    std::memcpy(body.data() + l.names + name_at, name.data(), name.size());
    name_at += static_cast<uint32_t>(name.size());
    for (const format::StreamsEntry& e : s.entries) {
      format::put_streams_entry(body.data() + l.entries + uint64_t{entry_at++} * format::kStreamsEntrySize, e);
    }
  }
  return format::seal_index_file(format::encode_streams_header(h), body);
}

}  // namespace cairn::index
