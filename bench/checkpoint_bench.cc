#include "checkpoint_bench.h"

#include "raw_disk.h"

#include <cairn/store.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cairn::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBatch = 100;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Appends batches of kBatch events (durability none: the size is what
// matters) until `bytes` of events were written.
bool append_bytes(Store& store, uint64_t bytes, size_t event_size, uint64_t* batches) {
  std::string data(event_size, 'x');
  std::vector<NewEvent> events(kBatch);
  for (auto& e : events) e = NewEvent{EventId{}, "OrderPlaced", data, "{}"};
  const uint64_t batch_bytes = kBatch * (event_size + 40);
  for (uint64_t written = 0; written < bytes; written += batch_bytes) {
    auto r = store.append("Order-" + std::to_string(*batches % 1000), ExpectedVersion::any(), events,
                          Durability::kNone);
    if (!r.ok()) {
      std::fprintf(stderr, "cairn-bench: append: %s\n", r.status().to_string().c_str());
      return false;
    }
    ++*batches;
  }
  return true;
}

struct Measured {
  double ms = 0;
  CheckpointResult result;
};

bool checkpoint(Store& store, const std::string& target, bool copy, Measured* out) {
  CheckpointOptions options;
  options.copy = copy;
  auto t0 = Clock::now();
  auto r = store.checkpoint(target, options);
  out->ms = ms_since(t0);
  if (!r.ok()) {
    std::fprintf(stderr, "cairn-bench: checkpoint into %s: %s\n", target.c_str(), r.status().to_string().c_str());
    return false;
  }
  out->result = *r;
  return true;
}


void report(const CheckpointBench& b, const char* name, const std::vector<Measured>& runs) {
  std::vector<double> ms;
  for (const Measured& m : runs) ms.push_back(m.ms);
  const CheckpointResult& r = runs.back().result;
  const double med = median(ms);
  const double mb = static_cast<double>(r.bytes_copied) / 1e6;
  const double mb_per_s = med > 0 ? mb / (med / 1e3) : 0;
  std::fprintf(b.json ? stderr : stdout,
               "%-12s %10.1f ms (min %.1f, max %.1f)  position %" PRIu64 ", %" PRIu64 " segments: linked %" PRIu64
               " files (%.1f MB), copied %" PRIu64 " (%.1f MB, %.0f MB/s), kept %" PRIu64 " (%.1f MB)\n",
               name, med, *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
               r.position, r.segments, r.files_linked, static_cast<double>(r.bytes_linked) / 1e6, r.files_copied, mb,
               mb_per_s, r.files_kept, static_cast<double>(r.bytes_kept) / 1e6);
  if (b.json) {
    std::printf("{\"workload\":\"checkpoint\",\"kind\":\"%s\",\"store_mib\":%" PRIu64 ",\"segment_mib\":%" PRIu64
                ",\"repeat\":%zu,\"median_ms\":%.3f,\"position\":%" PRIu64 ",\"segments\":%" PRIu64
                ",\"files_linked\":%" PRIu64 ",\"bytes_linked\":%" PRIu64 ",\"files_copied\":%" PRIu64
                ",\"bytes_copied\":%" PRIu64 ",\"files_kept\":%" PRIu64 ",\"bytes_kept\":%" PRIu64 "}\n",
                name, b.store_mib, b.segment_mib, runs.size(), med, r.position, r.segments, r.files_linked,
                r.bytes_linked, r.files_copied, r.bytes_copied, r.files_kept, r.bytes_kept);
  }
}

}  // namespace

int run_checkpoint_bench(const CheckpointBench& b) {
  const std::string store_dir = b.dir + "/store";
  Options options;
  options.segment_bytes = b.segment_mib << 20;
  auto opened = Store::open(store_dir, options);
  if (!opened.ok()) {
    std::fprintf(stderr, "cairn-bench: open %s: %s\n", store_dir.c_str(), opened.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(opened).value();
  uint64_t batches = 0;
  auto t0 = Clock::now();
  if (!append_bytes(*store, b.store_mib << 20, b.event_size, &batches)) return 1;
  // Closed and reopened, as a store in use would be: its data synced (the
  // first checkpoint's fsync would otherwise flush the whole store on
  // ext4), and its index files written.
  store.reset();
  opened = Store::open(store_dir, options);
  if (!opened.ok()) return 1;
  store = std::move(opened).value();
  std::fprintf(stderr, "checkpoint: wrote %" PRIu64 " MiB (%" PRIu64 " events, %" PRIu64 " segments) in %.1f s\n",
               b.store_mib, store->next_position(), store->stats().segments, ms_since(t0) / 1e3);
  std::vector<Measured> linked, copied, incremental;
  for (int rep = 0; rep < b.repeat; ++rep) {
    const std::string link_target = b.dir + "/linked-" + std::to_string(rep);
    const std::string copy_target = b.dir + "/copied-" + std::to_string(rep);
    Measured l, c, i;
    if (!checkpoint(*store, link_target, false, &l)) return 1;
    if (!checkpoint(*store, copy_target, true, &c)) return 1;
    if (!append_bytes(*store, 1 << 20, b.event_size, &batches)) return 1;
    if (!checkpoint(*store, copy_target, true, &i)) return 1;
    linked.push_back(l);
    copied.push_back(c);
    incremental.push_back(i);
    std::error_code ec;
    fs::remove_all(link_target, ec);
    fs::remove_all(copy_target, ec);
  }
  report(b, "hard links", linked);
  report(b, "copies", copied);
  report(b, "incremental", incremental);
  return 0;
}

}  // namespace cairn::bench
