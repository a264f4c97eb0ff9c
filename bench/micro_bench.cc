// Micro-benchmarks of Cairn's CPU paths with Google Benchmark: checksums,
// batch encoding and decoding, frame parsing, segment scanning, index
// lookups, the type bitmaps, and the public read paths over a store whose
// segments are in the page cache. No I/O in the measured loops: these are the
// costs the write and read paths add on top of the disk. Stable figures: run under `valgrind --tool=callgrind` to count
// instructions on a noisy machine (read_all_pass and scan_all_pass are one
// pass over the store each: --toggle-collect='*read_all_pass*').
#include "format/batch.h"
#include "format/checksum.h"
#include "format/frame.h"
#include "format/segment_header.h"
#include "format/segment_scan.h"
#include "index/bitmap_index.h"
#include "index/stream_index.h"

#include <cairn/store.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace cairn;

std::vector<NewEvent> events_of(size_t count, const std::string& data) {
  std::vector<NewEvent> events;
  for (size_t i = 0; i < count; ++i) events.push_back(NewEvent{EventId::random(), "OrderPlaced", data, "{}"});
  return events;
}

void BM_Checksum(benchmark::State& state) {
  std::string bytes(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(format::checksum(bytes));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(64)->Arg(280)->Arg(4096)->Arg(1 << 20);

// Encoding one append of N 200-byte events, as an appender does on its own thread.
void BM_EncodeBatch(benchmark::State& state) {
  std::string data(200, 'd');
  auto events = events_of(static_cast<size_t>(state.range(0)), data);
  std::string out;
  for (auto _ : state) {
    out.clear();
    format::encode_batch(out, "Order-42", events, {});
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_EncodeBatch)->Arg(1)->Arg(10)->Arg(100);

// What the leader adds per batch: restamp (positions, versions) and reseal.
void BM_RestampBatch(benchmark::State& state) {
  std::string data(200, 'd');
  auto events = events_of(static_cast<size_t>(state.range(0)), data);
  std::string frame;
  format::encode_batch(frame, "Order-42", events, {});
  uint64_t position = 0;
  for (auto _ : state) {
    format::restamp_batch(frame.data(), frame.size(), {position++, 7, position, 1});
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_RestampBatch)->Arg(1)->Arg(10)->Arg(100);

// What a reader pays per batch: parse the frame (checksum) and decode.
void BM_ParseAndDecodeBatch(benchmark::State& state) {
  std::string data(200, 'd');
  auto events = events_of(static_cast<size_t>(state.range(0)), data);
  std::string frame;
  format::encode_batch(frame, "Order-42", events, {});
  for (auto _ : state) {
    format::Frame f = format::parse_frame(frame);
    auto batch = format::BatchView::decode(f.body, "bench");
    size_t bytes = 0;
    batch->for_each([&](uint32_t, const format::EventView& e) {
      bytes += e.data.size();
      return true;
    });
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ParseAndDecodeBatch)->Arg(1)->Arg(10)->Arg(100);

// Recovery's cost per event: scanning a segment image of 10,000 batches.
void BM_ScanSegment(benchmark::State& state) {
  std::string data(200, 'd');
  format::SegmentHeader header{1, 0, {}, 0};
  std::string file = format::encode_segment_header(header);
  auto events = events_of(static_cast<size_t>(state.range(0)), data);
  uint64_t position = 0;
  for (int b = 0; b < 10000; ++b) {
    format::encode_batch(file, "s-" + std::to_string(b % 100), events, {position, 0, position, 1});
    position += events.size();
  }
  for (auto _ : state) {
    auto scan = format::scan_segment(file, "bench.seg", {true, false},
                                     [](const format::ScannedBatch&) { return Status(); });
    benchmark::DoNotOptimize(scan->event_count);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(position));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(file.size()));
}
BENCHMARK(BM_ScanSegment)->Arg(1)->Arg(10);

void BM_PositionIndexFind(benchmark::State& state) {
  index::PositionIndex positions;
  const uint64_t batches = static_cast<uint64_t>(state.range(0));
  for (uint64_t b = 0; b < batches; ++b) positions.add({b * 3, 0, b * 100, 100, 3, 0, 0});
  uint64_t p = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(positions.find(p));
    p = (p + 7919) % (batches * 3);
  }
}
BENCHMARK(BM_PositionIndexFind)->Arg(1000)->Arg(1000000);

// Adding state.range(0) new streams, one at a time, to an empty StreamIndex:
// the rate, and the slowest single add (max_add_us): a table growth that
// rehashes every stream at once shows up there, not in the rate.
void BM_StreamIndexAdd(benchmark::State& state) {
  const auto count = static_cast<size_t>(state.range(0));
  std::vector<std::string> names(count);
  for (size_t i = 0; i < count; ++i) names[i] = "Order-" + std::to_string(i);
  double max_add_us = 0;
  for (auto _ : state) {
    index::StreamIndex streams;
    for (const std::string& name : names) {
      auto start = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(streams.add(name, 0));
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      max_add_us = std::max(max_add_us, us);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * count));
  state.counters["max_add_us"] = max_add_us;
}
BENCHMARK(BM_StreamIndexAdd)->Arg(1 << 16)->Arg(1 << 21)->Unit(benchmark::kMillisecond);

// The same for a window of state.range(0) positions filling up from empty.
void BM_IdWindowFill(benchmark::State& state) {
  const auto capacity = static_cast<uint32_t>(state.range(0));
  std::vector<EventId> ids(capacity);
  for (auto& id : ids) id = EventId::random();
  double max_add_us = 0;
  for (auto _ : state) {
    index::IdWindow window(capacity);
    for (uint32_t p = 0; p < capacity; ++p) {
      auto start = std::chrono::steady_clock::now();
      window.add(ids[p], p);
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
      max_add_us = std::max(max_add_us, us);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * capacity));
  state.counters["max_add_us"] = max_add_us;
}
BENCHMARK(BM_IdWindowFill)->Arg(1 << 18)->Arg(1 << 22)->Unit(benchmark::kMillisecond);

void BM_IdWindowAddAndFind(benchmark::State& state) {
  index::IdWindow window(1u << 18);
  std::vector<EventId> ids(1u << 16);
  for (auto& id : ids) id = EventId::random();
  uint64_t position = 0;
  for (auto _ : state) {
    const EventId& id = ids[position % ids.size()];
    benchmark::DoNotOptimize(window.find(id));
    window.add(id, position++);
  }
}
BENCHMARK(BM_IdWindowAddAndFind);

// A full window taking batches of state.range(0) new ids: one at a time
// (Arg 0: add()) or as a run (Arg 1: add_run(), prefetching).
void BM_IdWindowBatch(benchmark::State& state) {
  constexpr uint32_t kCapacity = 1u << 18;
  const size_t batch = 1000;
  index::IdWindow window(kCapacity);
  std::vector<EventId> ids(kCapacity * 2);
  for (auto& id : ids) id = EventId::random();
  uint64_t position = 0;
  for (; position < kCapacity; ++position) window.add(ids[position], position);
  for (auto _ : state) {
    std::span<const EventId> run(&ids[position % (ids.size() - batch)], batch);
    if (state.range(0) == 1) {
      window.add_run(run, position);
    } else {
      for (size_t i = 0; i < batch; ++i) window.add(run[i], position + i);
    }
    position += batch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
}
BENCHMARK(BM_IdWindowBatch)->Arg(0)->Arg(1);

// A segment of 1 M events where one type is every 100th event (1 %): how
// fast a filtered read finds the next N matches from a random position.
index::SegmentBitmaps one_percent_type() {
  index::SegmentBitmaps bitmaps;
  for (uint32_t p = 0; p < 1'000'000; ++p) bitmaps.add(p % 100 == 0 ? "Rare" : "Common", "Order", p);
  return bitmaps;
}

void BM_BitmapCollectForward(benchmark::State& state) {
  index::SegmentBitmaps bitmaps = one_percent_type();
  const Roaring& rare = *bitmaps.type("Rare");
  auto n = static_cast<size_t>(state.range(0));
  std::vector<uint32_t> found;
  uint32_t from = 0;
  for (auto _ : state) {
    found.clear();
    index::collect_forward(rare, from, bitmaps.end(), n, found);
    benchmark::DoNotOptimize(found.data());
    from = (from + 7919) % 990'000;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BitmapCollectForward)->Arg(1)->Arg(100)->Arg(10000);

void BM_BitmapCollectBackward(benchmark::State& state) {
  index::SegmentBitmaps bitmaps = one_percent_type();
  const Roaring& rare = *bitmaps.type("Rare");
  auto n = static_cast<size_t>(state.range(0));
  std::vector<uint32_t> found;
  uint32_t from = 999'999;
  for (auto _ : state) {
    found.clear();
    index::collect_backward(rare, from, n, found);
    benchmark::DoNotOptimize(found.data());
    from = 10'000 + (from + 7919) % 990'000;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_BitmapCollectBackward)->Arg(1)->Arg(100)->Arg(10000);

// What the writer adds per event to keep the bitmaps (two map lookups and
// two appends to a bitmap).
void BM_BitmapAdd(benchmark::State& state) {
  index::SegmentBitmaps bitmaps;
  uint32_t p = 0;
  for (auto _ : state) {
    bitmaps.add(p % 100 == 0 ? "Rare" : "Common", "Order", p);
    ++p;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BitmapAdd);

// A store of 100,000 events (200 B data, 32 B metadata, batches of 10) in a
// temporary directory, written once, removed at exit.
class ReadStore {
 public:
  static constexpr uint64_t kEvents = 100'000;
  ReadStore() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-micro-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    Options options;
    options.durability = Durability::kNone;
    store_ = std::move(Store::open(dir_, options)).value();
    std::string data(200, 'd');
    for (uint64_t b = 0; b < kEvents / 10; ++b) {
      auto events = events_of(10, data);
      if (!store_->append("Order-" + std::to_string(b % 1000), ExpectedVersion::any(), events).ok()) std::abort();
    }
  }
  ~ReadStore() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  const Store& store() const { return *store_; }

 private:
  std::string dir_;
  std::unique_ptr<Store> store_;
};

const Store& read_store() {
  static ReadStore store;
  return store.store();
}

// One pass in pages of 4096 events, as cairn-bench read-all reads: read_all
// copies every event into a RecordedEvent...
__attribute__((noinline)) uint64_t read_all_pass(const Store& store) {
  uint64_t bytes = 0;
  for (uint64_t p = 0; p < ReadStore::kEvents;) {
    auto page = store.read_all(p, 4096);
    if (!page.ok() || page->empty()) std::abort();
    for (const RecordedEvent& e : *page) bytes += e.data.size() + e.metadata.size();
    p += page->size();
  }
  return bytes;
}

// ...scan_all hands the visitor views of the mapped segment.
__attribute__((noinline)) uint64_t scan_all_pass(const Store& store) {
  uint64_t bytes = 0;
  uint64_t events = 0;
  for (uint64_t p = 0; p < ReadStore::kEvents; p += 4096) {
    Status s = store.scan_all(p, 4096, Direction::kForward, [&](const EventView& e) {
      bytes += e.data.size() + e.metadata.size();
      ++events;
      return true;
    });
    if (!s.ok()) std::abort();
  }
  if (events != ReadStore::kEvents) std::abort();
  return bytes;
}

void BM_StoreReadAll(benchmark::State& state) {
  const Store& store = read_store();
  for (auto _ : state) benchmark::DoNotOptimize(read_all_pass(store));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ReadStore::kEvents));
}
BENCHMARK(BM_StoreReadAll)->Unit(benchmark::kMillisecond);

void BM_StoreScanAll(benchmark::State& state) {
  const Store& store = read_store();
  for (auto _ : state) benchmark::DoNotOptimize(scan_all_pass(store));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ReadStore::kEvents));
}
BENCHMARK(BM_StoreScanAll)->Unit(benchmark::kMillisecond);

// The visitor's call, through the FunctionRef the scans take and through a
// std::function: one indirect call each.
template <typename Visitor>
__attribute__((noinline)) uint64_t visit_many(Visitor visit, const EventView& e, int n) {
  uint64_t kept = 0;
  for (int i = 0; i < n; ++i) kept += visit(e) ? 1 : 0;
  return kept;
}

template <typename Visitor>
void BM_VisitorCall(benchmark::State& state) {
  EventView view;
  view.data = "payload";
  uint64_t bytes = 0;
  auto count = [&bytes](const EventView& e) {
    bytes += e.data.size();
    return true;
  };
  for (auto _ : state) benchmark::DoNotOptimize(visit_many<Visitor>(count, view, 1000));
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 1000);
}
BENCHMARK(BM_VisitorCall<FunctionRef<bool(const EventView&)>>);
BENCHMARK(BM_VisitorCall<std::function<bool(const EventView&)>>);

}  // namespace

BENCHMARK_MAIN();
