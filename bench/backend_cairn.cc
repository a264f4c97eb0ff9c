// The Cairn backend of cairn-bench: the Backend operations over Cairn's public
// API, as an application would call it (one Store, append with an expected
// version, append_async for the in-flight workloads, the visitor reads
// scan_stream and scan_all, read_all_filtered).
#include "backend_cairn.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace cairn::bench {
namespace {

cairn::ExpectedVersion to_expected(int64_t expected_version) {
  if (expected_version == -2) return cairn::ExpectedVersion::any();
  if (expected_version == -1) return cairn::ExpectedVersion::no_stream();
  return cairn::ExpectedVersion::exactly(static_cast<uint64_t>(expected_version));
}

cairn::Durability to_durability(Durability d) {
  switch (d) {
    case Durability::kSync: return cairn::Durability::kSync;
    case Durability::kBatch: return cairn::Durability::kBatch;
    case Durability::kNone: return cairn::Durability::kNone;
  }
  return cairn::Durability::kSync;
}

// Views of `events` as Cairn's NewEvents, in a buffer reused by the thread.
std::span<const cairn::NewEvent> as_new_events(const std::vector<BenchEvent>& events) {
  thread_local std::vector<cairn::NewEvent> out;
  out.resize(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const BenchEvent& e = events[i];
    std::memcpy(out[i].id.bytes.data(), e.id.data(), std::min(e.id.size(), out[i].id.bytes.size()));
    out[i].type = e.type;
    out[i].data = e.data;
    out[i].metadata = e.metadata;
  }
  return out;
}

void to_read_events(std::vector<cairn::RecordedEvent>&& in, std::vector<ReadEvent>* out) {
  out->clear();
  out->reserve(in.size());
  for (cairn::RecordedEvent& e : in) {
    ReadEvent r;
    r.version = e.version;
    r.position = e.position;
    r.id.assign(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    r.type = std::move(e.type);
    r.data = std::move(e.data);
    r.metadata = std::move(e.metadata);
    out->push_back(std::move(r));
  }
}

// Copies a visited event into the harness's ReadEvent, as the peers copy
// theirs out of their own views.
void to_read_event(const cairn::EventView& e, ReadEvent* r) {
  r->version = e.version;
  r->position = e.position;
  r->id.assign(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
  r->type.assign(e.type);
  r->data.assign(e.data);
  r->metadata.assign(e.metadata);
}

// A Cairn subscription: woken by commits, no polling.
class SubscriptionTail final : public Tail {
 public:
  explicit SubscriptionTail(std::unique_ptr<cairn::Subscription> sub) : sub_(std::move(sub)) {}
  bool next(std::chrono::milliseconds wait, std::vector<ReadEvent>* out, std::string* error) override {
    auto got = sub_->next(wait);
    if (!got.ok()) {
      *error = got.status().to_string();
      return false;
    }
    to_read_events(std::move(*got), out);
    return true;
  }

 private:
  std::unique_ptr<cairn::Subscription> sub_;
};

class CairnBackend final : public Backend {
 public:
  CairnBackend(std::unique_ptr<cairn::Store> store, uint64_t segment_bytes, bool prepared_segments)
      : store_(std::move(store)), segment_bytes_(segment_bytes), prepared_segments_(prepared_segments) {}

  std::string name() const override { return "cairn"; }

  bool append(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
              std::string* error) override {
    auto r = store_->append(stream, to_expected(expected_version), as_new_events(events));
    if (r.ok()) return true;
    *error = r.status().to_string();
    return false;
  }

  void append_async(std::string_view stream, int64_t expected_version, const std::vector<BenchEvent>& events,
                    AppendSink* sink, uint64_t tag) override {
    store_->append_async(stream, to_expected(expected_version), as_new_events(events),
                         [sink, tag](cairn::Result<cairn::AppendResult> r) {
                           sink->done(tag, r.ok(), r.ok() ? std::string() : r.status().to_string());
                         });
  }

  bool read_stream(std::string_view stream, uint64_t from_version, size_t max_count, std::vector<ReadEvent>* out,
                   std::string* error) override {
    out->clear();
    cairn::Status s = store_->scan_stream(stream, from_version, max_count, cairn::Direction::kForward,
                                          [out](const cairn::EventView& e) {
                                            to_read_event(e, &out->emplace_back());
                                            return true;
                                          });
    return finish_read(s, out, error);
  }

  bool read_all(uint64_t from_position, size_t max_count, std::vector<ReadEvent>* out, std::string* error) override {
    out->clear();
    cairn::Status s = store_->scan_all(from_position, max_count, cairn::Direction::kForward,
                                       [out](const cairn::EventView& e) {
                                         to_read_event(e, &out->emplace_back());
                                         return true;
                                       });
    return finish_read(s, out, error);
  }

  bool read_all_filtered(std::string_view event_type, uint64_t from_position, size_t max_count,
                         std::vector<ReadEvent>* out, std::string* error) override {
    cairn::ReadFilter filter;
    filter.event_types.emplace_back(event_type);
    auto r = store_->read_all_filtered(filter, from_position, max_count);
    if (!r.ok()) {
      *error = r.status().to_string();
      return false;
    }
    to_read_events(std::move(*r), out);
    return true;
  }

  bool indexed_filter() const override { return true; }

  std::unique_ptr<Tail> tail(uint64_t from_position, size_t max_count) override;

  void close() override {
    if (!store_) return;
    (void)store_->close();
    store_.reset();
  }

  cairn::Store* store() { return store_.get(); }
  uint64_t segment_bytes() const { return segment_bytes_; }
  bool prepared_segments() const { return prepared_segments_; }

 private:
  // A missing stream reads as empty, as with the peers; on an error `out` is cleared.
  static bool finish_read(const cairn::Status& s, std::vector<ReadEvent>* out, std::string* error) {
    if (s.ok() || s.code() == cairn::Code::kNotFound) return true;
    out->clear();
    *error = s.to_string();
    return false;
  }

  std::unique_ptr<cairn::Store> store_;
  uint64_t segment_bytes_;
  bool prepared_segments_;
};

// ---- steady state ------------------------------------------------------------

// Whether the newest segment file (names sort by sequence) has the full
// segment size, i.e. was zero-filled ahead rather than grown by appends.
bool newest_segment_prepared(const std::string& dir, uint64_t segment_bytes) {
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto& p = entry.path();
    if (p.extension() == ".seg" && (newest.empty() || p.filename() > newest.filename())) newest = p;
  }
  std::error_code ec;
  return !newest.empty() && std::filesystem::file_size(newest, ec) == segment_bytes && !ec;
}

// About 1 MiB of events, and at most an eighth of a segment.
std::vector<cairn::NewEvent> filler_batch(const std::string& data, const std::string& metadata,
                                          uint64_t segment_bytes) {
  size_t per_event = data.size() + metadata.size() + 96;
  size_t bytes = static_cast<size_t>(std::min<uint64_t>(1u << 20, segment_bytes / 8));
  size_t count = std::clamp<size_t>(bytes / per_event, 1, 4096);
  return std::vector<cairn::NewEvent>(count, cairn::NewEvent{{}, "Warmup", data, metadata});
}

}  // namespace

std::unique_ptr<Tail> CairnBackend::tail(uint64_t from_position, size_t max_count) {
  cairn::SubscriptionOptions o;
  o.from = from_position;
  o.max_batch = max_count;
  auto sub = store_->subscribe(o);
  if (!sub.ok()) return nullptr;
  return std::make_unique<SubscriptionTail>(std::move(*sub));
}

std::unique_ptr<Backend> open_cairn(const BackendOptions& options, const CairnTuning& tuning, std::string* error) {
  cairn::Options o;
  o.durability = to_durability(options.durability);
  o.segment_bytes = tuning.segment_bytes;
  o.io_backend = tuning.io_backend;
  o.max_writes_in_flight = tuning.max_writes_in_flight;
  o.prepare_segments = tuning.prepare_segments;
  o.read_only = tuning.read_only;
  o.direct_io = tuning.direct_io;
  o.mapped_writes = tuning.mapped_writes;
  o.cached_sealed_segments = tuning.cached_sealed_segments;
  auto opened = cairn::Store::open(options.dir, o);
  if (!opened.ok()) {
    *error = "cairn: open " + options.dir + ": " + opened.status().to_string();
    return nullptr;
  }
  return std::make_unique<CairnBackend>(std::move(*opened), tuning.segment_bytes, tuning.prepare_segments);
}

std::unique_ptr<Backend> open_cairn(const BackendOptions& options, std::string* error) {
  return open_cairn(options, CairnTuning{}, error);
}

cairn::Store* cairn_store(Backend& backend) {
  auto* cairn = dynamic_cast<CairnBackend*>(&backend);
  return cairn != nullptr ? cairn->store() : nullptr;
}

bool warm_past_first_roll(Backend& backend, size_t event_size, uint64_t* filled_bytes, std::string* error) {
  auto* cairn = dynamic_cast<CairnBackend*>(&backend);
  if (cairn == nullptr || cairn->store() == nullptr) {
    *error = "not an open cairn backend";
    return false;
  }
  cairn::Store& store = *cairn->store();
  const uint64_t segment = cairn->segment_bytes();
  const std::string data(event_size, 'w'), metadata(32, 'm');
  std::vector<cairn::NewEvent> batch = filler_batch(data, metadata, segment);
  const uint64_t start_bytes = store.stats().bytes_written;
  uint64_t segments = store.stats().segments, segment_start = start_bytes;
  auto pause = std::chrono::milliseconds(200 + segment / 300'000);  // zero-filling at >= 300 MB/s
  bool paused = false;
  for (int rolls = 0, k = 0; rolls < 4; ++k) {
    for (auto& e : batch) e.id = cairn::EventId::random();
    auto r = store.append("Warmup-" + std::to_string(k % 16), cairn::ExpectedVersion::any(), batch,
                          cairn::Durability::kNone);
    if (!r.ok()) {
      *error = "warm-up append: " + r.status().to_string();
      return false;
    }
    cairn::StoreStats st = store.stats();
    *filled_bytes = st.bytes_written - start_bytes;
    if (st.segments > segments) {
      segments = st.segments;
      segment_start = st.bytes_written;
      ++rolls;
      // Without prepared segments, one roll is the steady state.
      if (!cairn->prepared_segments() || newest_segment_prepared(store.path(), segment)) return true;
      paused = false;
      pause *= 2;
    } else if (!paused && st.bytes_written - segment_start > segment / 2 + (1u << 20)) {
      std::this_thread::sleep_for(pause);  // the next segment is being zero-filled
      paused = true;
    }
  }
  *error = "no segment prepared ahead after 4 roll-overs";
  return false;
}

}  // namespace cairn::bench
