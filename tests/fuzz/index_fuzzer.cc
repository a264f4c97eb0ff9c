// libFuzzer target over the index file readers: any bytes, as a segment index
// (SSSSSSSS.idx) or a stream directory run (STREAMS-FFFFFFFF-LLLLLLLL), must
// open or give a clean error, and every lookup on what opens, alone or as a
// stream directory of one or two runs, must answer or give a clean error:
// never a crash, a hang or an out-of-bounds read (run under ASan and UBSan).
#include "index/bitmap_index.h"
#include "index/segment_index.h"
#include "index/stream_directory.h"
#include "index/stream_run.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace cairn;

// Lookups are capped so that a crafted file with huge counts cannot turn one
// input into minutes of work.
constexpr uint64_t kMaxLookups = 512;

// Calls f(0), f(step), f(2 step), ... below `count`, without the sum
// wrapping around when a crafted count is near 2^64.
template <class F>
void for_steps(uint64_t count, uint64_t step, F f) {
  for (uint64_t v = 0; v < count;) {
    f(v);
    if (count - v <= step) break;
    v += step;
  }
}

void exercise(const index::SegmentIndex& idx) {
  const auto& h = idx.header();
  uint64_t step = std::max<uint64_t>(1, h.event_count / kMaxLookups);
  for (uint64_t p = h.first_position; p < idx.end_position() && p >= h.first_position; p += step) {
    auto b = idx.find_batch(p);
    if (b.ok()) (void)idx.batch(*b);
  }
  uint64_t streams = 0;
  (void)idx.for_each_stream([&](std::string_view name, const format::SegmentIndexStream& s) {
    if (++streams > kMaxLookups) return Status::corruption("enough");
    (void)idx.find_stream(name);
    auto span = idx.span(s);
    if (span.ok()) {
      uint64_t vstep = std::max<uint64_t>(1, span->version_count / 16);
      for_steps(span->version_count, vstep, [&](uint64_t v) { (void)idx.find_version(s, s.first_version + v); });
    }
    return Status();
  });
  (void)idx.find_stream("no-such-stream");
  if (auto bytes = idx.bitmaps(); bytes.ok()) (void)index::SegmentBitmaps::decode(*bytes, idx.path());
}

void exercise(const index::StreamRun& run) {
  uint64_t streams = 0;
  (void)run.for_each_stream([&](std::string_view name, const format::StreamsSlot& slot) {
    if (++streams > kMaxLookups) return Status::corruption("enough");
    (void)run.find(name);
    uint64_t vstep = std::max<uint64_t>(1, slot.next_version / 16);
    for_steps(slot.next_version, vstep, [&](uint64_t v) { (void)run.segment_of(slot, v); });
    return Status();
  });
  (void)run.find("no-such-stream");
}

// The streams of the newest run, looked up through the directory.
void exercise(const index::StreamDirectory& dir) {
  uint64_t streams = 0;
  (void)dir.runs().back()->for_each_stream([&](std::string_view name, const format::StreamsSlot& slot) {
    if (++streams > kMaxLookups) return Status::corruption("enough");
    auto found = dir.find(name);
    if (!found.ok() || !*found) return Status();
    uint64_t vstep = std::max<uint64_t>(1, slot.next_version / 16);
    for_steps(slot.next_version, vstep, [&](uint64_t v) { (void)dir.segment_of(name, **found, v); });
    return Status();
  });
  (void)dir.find("no-such-stream");
  (void)dir.verify_all();
}

// `run` alone as a directory, then under a copy of it made by the builder as
// the older run. A run the builder could read must give a copy that opens.
void exercise_directories(std::string_view file, const std::string& path) {
  auto opened = index::StreamRun::open(file, nullptr, path);
  if (!opened.ok()) return;
  std::shared_ptr<const index::StreamRun> run = std::move(*opened);
  exercise(*run);
  exercise(index::StreamDirectory({run}));
  index::StreamRunBuilder builder;
  if (!builder.add_run(*run).ok()) return;
  const format::StreamsHeader& h = run->header();
  std::string copy = builder.finish(h.store_id, h.end_position, h.first_segment, h.last_segment);
  auto older = index::StreamRun::open(copy, nullptr, "copy");
  if (!older.ok()) __builtin_trap();
  exercise(index::StreamDirectory({std::shared_ptr<const index::StreamRun>(std::move(*older)), run}));
}

// Random bytes almost never pass the checksums, so the readers' record
// checks would go untested. These build a well-sealed file around the input:
// counts from its first bytes (kept small), the rest as the body.
uint64_t small(std::string_view bytes, size_t at, uint64_t limit) {
  uint64_t v = 0;
  for (size_t i = 0; i < 4 && at + i < bytes.size(); ++i) v |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
  return v % (limit + 1);
}

std::string body_of(std::string_view bytes, uint64_t size) {
  std::string body(bytes.size() > 32 ? bytes.substr(32) : std::string_view());
  body.resize(size, '\0');
  return body;
}

std::string sealed_segment_index(std::string_view bytes) {
  format::SegmentIndexHeader h;
  h.sequence = 1;
  h.first_position = small(bytes, 0, 1000);
  h.batch_count = small(bytes, 4, 300);
  h.event_count = h.batch_count + small(bytes, 8, 1000);
  h.stream_count = static_cast<uint32_t>(std::min<uint64_t>(h.batch_count, small(bytes, 12, 100)));
  h.names_size = small(bytes, 16, 2000);
  h.bitmaps_size = small(bytes, 20, 2000);
  h.data_end = 64 + small(bytes, 24, 1u << 20);
  h.flags = small(bytes, 28, 1);
  return format::seal_index_file(format::encode_segment_index_header(h),
                                 body_of(bytes, format::segment_index_layout(h).body_size));
}

std::string sealed_streams(std::string_view bytes) {
  format::StreamsHeader h;
  h.end_position = small(bytes, 0, 100000);
  h.first_segment = 1 + small(bytes, 4, 20);
  h.last_segment = h.first_segment + small(bytes, 24, 20);
  h.stream_count = small(bytes, 8, 100);
  h.slot_count = std::max<uint64_t>(1, uint64_t{1} << small(bytes, 12, 9));
  h.slot_count = std::max(h.slot_count, std::bit_ceil(std::max<uint64_t>(1, 2 * h.stream_count)));
  h.entry_count = h.stream_count + small(bytes, 16, 200);
  h.names_size = small(bytes, 20, 2000);
  return format::seal_index_file(format::encode_streams_header(h), body_of(bytes, format::streams_layout(h).body_size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto idx = index::SegmentIndex::open(bytes, nullptr, "fuzz.idx"); idx.ok()) exercise(**idx);
  exercise_directories(bytes, "STREAMS-00000001-00000001");
  (void)index::SegmentBitmaps::decode(bytes, "fuzz bitmaps");
  std::string idx_file = sealed_segment_index(bytes);
  if (auto idx = index::SegmentIndex::open(idx_file, nullptr, "sealed.idx"); idx.ok()) exercise(**idx);
  exercise_directories(sealed_streams(bytes), "STREAMS-00000001-00000002");
  return 0;
}
