#include "index/segment_index.h"

#include "format/coding.h"
#include "format/segment_scan.h"

#include <algorithm>
#include <cstring>

namespace cairn::index {

SegmentIndexBuilder::SegmentIndexBuilder(const format::StoreId& store_id, uint64_t sequence,
                                         uint64_t first_position, HashFn hash)
    : hash_(hash) {
  header_.store_id = store_id;
  header_.sequence = sequence;
  header_.first_position = first_position;
  header_.data_end = format::kSegmentHeaderSize;
}

void SegmentIndexBuilder::add(uint64_t offset, uint32_t frame_size, uint64_t frame_checksum,
                              const format::BatchView& batch) {
  auto it = key_of_name_.find(batch.stream());
  if (it == key_of_name_.end()) it = key_of_name_.emplace(batch.stream(), key_of_name_.size()).first;
  add(location_of(batch, offset, frame_size, /*segment=*/0, it->second), batch.stream(), frame_checksum);
}

void SegmentIndexBuilder::add(const BatchLocation& batch, std::string_view stream_name, uint64_t frame_checksum) {
  auto ordinal = static_cast<uint32_t>(batches_.size());
  batches_.push_back({batch.offset, static_cast<uint32_t>(batch.first_position - header_.first_position), batch.count});
  if (batch.stream >= stream_of_key_.size()) stream_of_key_.resize(std::max<size_t>(batch.stream + 1, 2 * stream_of_key_.size()));
  uint32_t& slot = stream_of_key_[batch.stream];
  if (slot == 0) {
    streams_.push_back(Stream{std::string(stream_name), batch.first_version, {}});
    slot = static_cast<uint32_t>(streams_.size());
  }
  Stream& stream = streams_[slot - 1];
  stream.list.push_back({static_cast<uint32_t>(batch.first_version - stream.first_version), ordinal});
  header_.event_count += batch.count;
  header_.batch_count++;
  header_.data_end = batch.offset + batch.frame_size;
  header_.last_frame_checksum = frame_checksum;
}

std::string build_segment_index(const format::StoreId& store_id, uint64_t sequence, uint64_t first_position,
                                const SegmentContents& contents, bool sealed) {
  SegmentIndexBuilder builder(store_id, sequence, first_position);
  // Only the last batch's frame checksum is kept (the header's last_frame_checksum).
  for (const BatchLocation& b : contents.batches) builder.add(b, contents.names[b.stream], contents.last_frame_checksum);
  return builder.finish(sealed, contents.bitmaps);
}

std::string SegmentIndexBuilder::finish(bool sealed, std::string_view bitmaps) const {
  format::SegmentIndexHeader h = header_;
  h.flags = sealed ? format::kSegmentIndexSealed : 0;
  h.stream_count = static_cast<uint32_t>(streams_.size());
  h.bitmaps_size = bitmaps.size();
  struct Sorted {
    uint64_t hash;
    const std::string* name;
    const Stream* stream;
  };
  std::vector<Sorted> sorted;
  for (const Stream& stream : streams_) {
    sorted.push_back({hash_(stream.name), &stream.name, &stream});
    h.names_size += stream.name.size();
  }
  std::sort(sorted.begin(), sorted.end(), [](const Sorted& a, const Sorted& b) {
    return a.hash != b.hash ? a.hash < b.hash : *a.name < *b.name;
  });
  format::SegmentIndexLayout l = format::segment_index_layout(h);
  std::string body(l.body_size, '\0');
  for (size_t i = 0; i < batches_.size(); ++i) {
    format::put_index_batch(body.data() + l.batches + i * format::kIndexBatchSize, batches_[i]);
  }
  uint32_t list_at = 0;
  uint32_t name_at = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const Sorted& s = sorted[i];
    format::SegmentIndexStream entry{s.hash, s.stream->first_version, name_at,
                                     static_cast<uint16_t>(s.name->size()), list_at,
                                     static_cast<uint32_t>(s.stream->list.size())};
    format::put_index_stream(body.data() + l.streams + i * format::kIndexStreamSize, entry);
    std::memcpy(body.data() + l.names + name_at, s.name->data(), s.name->size());
    name_at += static_cast<uint32_t>(s.name->size());
    for (const format::IndexListEntry& e : s.stream->list) {
      format::put_list_entry(body.data() + l.lists + uint64_t{list_at++} * format::kIndexListSize, e);
    }
  }
  std::memcpy(body.data() + l.bitmaps, bitmaps.data(), bitmaps.size());
  return format::seal_index_file(format::encode_segment_index_header(h), body);
}

// ---------------------------------------------------------------- reading

Result<std::unique_ptr<SegmentIndex>> SegmentIndex::open(std::string_view file, std::shared_ptr<const void> keep,
                                                         const std::string& path, HashFn hash) {
  format::IndexFile f;
  auto header = format::decode_segment_index_header(file, path, f);
  if (!header.ok()) return header.status();
  return std::unique_ptr<SegmentIndex>(new SegmentIndex(*header, f, std::move(keep), path, hash));
}

Status SegmentIndex::corrupt(uint64_t body_offset, const std::string& what) const {
  return Status::corruption(format::file_offset(path(), format::kIndexHeaderSize + body_offset) + ": " + what);
}

Result<format::IndexBatch> SegmentIndex::batch(uint64_t ordinal) const {
  if (ordinal >= header_.batch_count) return corrupt(layout_.lists, "batch " + std::to_string(ordinal) + " out of range");
  uint64_t at = layout_.batches + ordinal * format::kIndexBatchSize;
  auto bytes = blocks_.get(at, format::kIndexBatchSize);
  if (!bytes.ok()) return bytes.status();
  format::IndexBatch b = format::get_index_batch(bytes->data());
  if (b.count == 0 || uint64_t{b.relative_position} + b.count > header_.event_count ||
      b.offset < format::kSegmentHeaderSize || b.offset >= header_.data_end) {
    return corrupt(at, "batch entry out of range");
  }
  return b;
}

Result<uint64_t> SegmentIndex::find_batch(uint64_t position) const {
  if (position < header_.first_position || position >= end_position()) {
    return corrupt(0, "position " + std::to_string(position) + " is not in this segment index");
  }
  uint64_t rel = position - header_.first_position;
  // The last batch whose relative position is <= rel.
  uint64_t lo = 0;
  uint64_t hi = header_.batch_count;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto b = batch(mid);
    if (!b.ok()) return b.status();
    (b->relative_position <= rel ? lo : hi) = mid;
  }
  auto b = batch(lo);
  if (!b.ok()) return b.status();
  if (rel < b->relative_position || rel >= uint64_t{b->relative_position} + b->count) {
    return corrupt(layout_.batches + lo * format::kIndexBatchSize, "batch table does not cover position " +
                                                                      std::to_string(position));
  }
  return lo;
}

Result<format::SegmentIndexStream> SegmentIndex::stream_at(uint64_t i) const {
  uint64_t at = layout_.streams + i * format::kIndexStreamSize;
  auto bytes = blocks_.get(at, format::kIndexStreamSize);
  if (!bytes.ok()) return bytes.status();
  format::SegmentIndexStream s = format::get_index_stream(bytes->data());
  if (uint64_t{s.name_offset} + s.name_len > header_.names_size || s.name_len == 0 || s.list_count == 0 ||
      uint64_t{s.list_start} + s.list_count > header_.batch_count) {
    return corrupt(at, "stream entry out of range");
  }
  return s;
}

Result<std::string_view> SegmentIndex::stream_name(const format::SegmentIndexStream& s) const {
  return blocks_.get(layout_.names + s.name_offset, s.name_len);
}

namespace {
constexpr int kInterpolatedProbes = 4;
}  // namespace

Result<std::optional<format::SegmentIndexStream>> SegmentIndex::find_stream(std::string_view name) const {
  uint64_t h = hash_(name);
  // The first entry whose hash is >= h, in [lo, hi]. Entries in [lo, hi)
  // have hashes in [lo_hash, hi_hash]. Stream hashes are uniform (XXH3), so
  // the first probes interpolate h's place between the range's ends: a few
  // probes (expected O(log log n)) instead of log2(n) cache misses each
  // lookup. Then bisection, so that skewed hashes (collisions, a test's
  // injected hash) cost at most a few probes more than a binary search.
  uint64_t lo = 0;
  uint64_t hi = header_.stream_count;
  uint64_t lo_hash = 0;
  uint64_t hi_hash = UINT64_MAX;
  for (int probe = 0; lo < hi; ++probe) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (probe < kInterpolatedProbes && hi - lo > 8 && h >= lo_hash && h <= hi_hash) {
      __extension__ typedef unsigned __int128 u128;  // GCC and Clang on 64-bit targets
      u128 span = static_cast<u128>(hi_hash - lo_hash) + 1;
      auto offset = static_cast<uint64_t>(static_cast<u128>(h - lo_hash) * (hi - lo) / span);
      mid = lo + std::min(offset, hi - lo - 1);
    }
    auto s = stream_at(mid);
    if (!s.ok()) return s.status();
    if (s->hash < h) {
      lo = mid + 1;
      lo_hash = s->hash;
    } else {
      hi = mid;
      hi_hash = s->hash;
    }
  }
  // Streams whose names collide on the hash sit side by side.
  for (uint64_t i = lo; i < header_.stream_count; ++i) {
    auto s = stream_at(i);
    if (!s.ok()) return s.status();
    if (s->hash != h) break;
    auto n = stream_name(*s);
    if (!n.ok()) return n.status();
    if (*n == name) return std::optional<format::SegmentIndexStream>(*s);
  }
  return std::optional<format::SegmentIndexStream>();
}

Result<format::IndexListEntry> SegmentIndex::list_entry(uint64_t i) const {
  uint64_t at = layout_.lists + i * format::kIndexListSize;
  auto bytes = blocks_.get(at, format::kIndexListSize);
  if (!bytes.ok()) return bytes.status();
  format::IndexListEntry e = format::get_list_entry(bytes->data());
  if (e.batch >= header_.batch_count) return corrupt(at, "list entry out of range");
  return e;
}

Result<SegmentIndex::VersionHit> SegmentIndex::find_version(const format::SegmentIndexStream& s,
                                                            uint64_t version) const {
  if (version < s.first_version) return corrupt(layout_.streams, "version below the stream's first here");
  uint64_t delta = version - s.first_version;
  uint64_t lo = 0;  // the last list entry whose version delta is <= delta
  uint64_t hi = s.list_count;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    auto e = list_entry(s.list_start + mid);
    if (!e.ok()) return e.status();
    (e->version_delta <= delta ? lo : hi) = mid;
  }
  auto e = list_entry(s.list_start + lo);
  if (!e.ok()) return e.status();
  return VersionHit{e->batch, s.first_version + e->version_delta};
}

Result<SegmentIndex::StreamSpan> SegmentIndex::span(const format::SegmentIndexStream& s) const {
  auto last = list_entry(s.list_start + s.list_count - 1);
  if (!last.ok()) return last.status();
  auto b = batch(last->batch);
  if (!b.ok()) return b.status();
  return StreamSpan{uint64_t{last->version_delta} + b->count,
                    header_.first_position + b->relative_position + b->count - 1};
}

Result<std::string_view> SegmentIndex::bitmaps() const {
  return blocks_.get(layout_.bitmaps, header_.bitmaps_size);
}

Status SegmentIndex::for_each_stream(
    const std::function<Status(std::string_view, const format::SegmentIndexStream&)>& fn) const {
  for (uint64_t i = 0; i < header_.stream_count; ++i) {
    auto s = stream_at(i);
    if (!s.ok()) return s.status();
    auto n = stream_name(*s);
    if (!n.ok()) return n.status();
    if (Status st = fn(*n, *s); !st.ok()) return st;
  }
  return Status();
}

}  // namespace cairn::index
