// The checker shared by the crash tests (tests/crash/crash_test.cc, SIGKILL;
// tests/crash/power_loss_test.cc, simulated power loss): reads a store the
// crash writer's workload wrote (crash_common.h) through the public API and
// checks it against the oracle of acknowledged appends.
//   check_store: positions 0 .. next_position-1 contiguous in read_all, every
//     event recomputed byte for byte (so nothing that was never appended),
//     every stream's versions contiguous from 0, every batch whole, and
//     read_stream (the stream index), read_category and type-filtered reads
//     (the bitmaps) returning the same events as read_all;
//   check_acks: every acknowledged append at its versions and positions;
//   same_state: two opens saw the same log.
#pragma once

#include "crash/crash_common.h"

#include <cairn/store.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace cairn::crash {

inline uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  unsigned long long x = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0') {
    ADD_FAILURE() << name << "=" << v << " is not a number; using " << fallback;
    return fallback;
  }
  return x;
}

// Collects failures of one check with their context; stops reporting after a
// few dozen so that one broken invariant does not print a million lines.
class Failures {
 public:
  explicit Failures(std::string context) : context_(std::move(context)) {}
  void add(const std::string& what) {
    if (++count_ <= 40) ADD_FAILURE() << context_ << ": " << what;
  }
  size_t count() const { return count_; }

 private:
  std::string context_;
  size_t count_ = 0;
};

struct Ack {
  int stream = 0;
  uint64_t first_version = 0;
  uint32_t count = 0;
  uint64_t first_position = 0;
  uint64_t cycle = 0;
};

struct EventRec {
  int stream = -1;
  uint64_t version = 0;
  Shape shape;
  int64_t timestamp_ns = 0;
};

struct StoreState {
  uint64_t next_position = 0;
  std::vector<EventRec> events;                    // by position
  std::vector<std::vector<uint64_t>> positions;    // [stream][version] -> position
  uint64_t bytes_checked = 0;
};

// Compares `e` with the event recomputed from its stream, version and the
// shape in its type. Returns "" when every byte is equal.
inline std::string check_bytes(const RecordedEvent& e, Shape& shape) {
  if (!parse_type(e.type, shape)) return "type '" + e.type.substr(0, 80) + "' is not a crash-writer type";
  Content want = content_for(e.stream, e.version, shape);
  auto diff = [](const std::string& what, const std::string& got, const std::string& exp) -> std::string {
    if (got == exp) return "";
    size_t i = 0;
    while (i < got.size() && i < exp.size() && got[i] == exp[i]) ++i;
    return what + " differs: " + std::to_string(got.size()) + " bytes stored, " + std::to_string(exp.size()) +
           " expected, first difference at byte " + std::to_string(i);
  };
  if (e.id != want.id) return "id " + e.id.to_hex() + " != expected " + want.id.to_hex();
  if (auto d = diff("type", e.type, want.type); !d.empty()) return d + " ('" + e.type + "' vs '" + want.type + "')";
  if (auto d = diff("data", e.data, want.data); !d.empty()) return d;
  if (auto d = diff("metadata", e.metadata, want.metadata); !d.empty()) return d;
  return "";
}

inline std::string describe(const RecordedEvent& e) {
  return "event at position " + std::to_string(e.position) + " (stream '" + e.stream.substr(0, 40) + "' version " +
         std::to_string(e.version) + ")";
}

// The filtered reads (the category and type bitmaps) agree with read_all:
// every stream is of category "s", so read_category("s") is read_all; and a
// type filter for the type of a few events (unique to each event) finds
// exactly that event.
inline void check_filtered_reads(const Store& store, const StoreState& st, Failures& fail) {
  constexpr size_t kChunk = 4096;
  uint64_t p = 0;
  while (p < st.next_position) {
    auto r = store.read_category("s", p, kChunk);
    if (!r.ok() || r->empty()) {
      fail.add("read_category(s, " + std::to_string(p) + ") " +
               (r.ok() ? "returned nothing" : "failed: " + r.status().to_string()) + " below next_position " +
               std::to_string(st.next_position));
      return;
    }
    for (const RecordedEvent& e : *r) {
      if (e.position != p) {
        fail.add("read_category(s): expected position " + std::to_string(p) + ", got " + describe(e));
        return;
      }
      ++p;
    }
  }
  for (uint64_t i = 0; i < 8 && i < st.events.size(); ++i) {
    uint64_t position = mix64(i + st.next_position) % st.events.size();
    const EventRec& rec = st.events[position];
    ReadFilter filter;
    filter.event_types.push_back(type_for(stream_name(rec.stream), rec.version, rec.shape));
    auto r = store.read_all_filtered(filter, 0, 16);
    if (!r.ok() || r->size() != 1 || (*r)[0].position != position) {
      fail.add("read_all_filtered(type of position " + std::to_string(position) + ") " +
               (r.ok() ? "returned " + std::to_string(r->size()) + " events" : "failed: " + r.status().to_string()));
    }
  }
}

// Checks (b), (c) and (d) over the whole store and returns what it holds.
// `recompute` = false (used for the second open, whose state is then compared
// with the fully checked first one) skips recomputing the bytes, the
// read_stream pass and the filtered reads.
inline StoreState check_store(const Store& store, Failures& fail, bool recompute = true) {
  StoreState st;
  st.next_position = store.next_position();
  st.positions.resize(kStreams);
  constexpr size_t kChunk = 4096;

  // Pass 1: read_all, contiguous positions, per-stream contiguous versions,
  // bytes, whole batches.
  struct OpenBatch {
    int stream = -1;
    uint64_t first_version = 0;
    uint64_t first_position = 0;
    Shape shape;
    int64_t timestamp_ns = 0;
  };
  OpenBatch batch;       // the batch being read, when in_batch
  bool in_batch = false;
  uint64_t p = 0;
  while (p < st.next_position) {
    auto r = store.read_all(p, kChunk);
    if (!r.ok()) {
      fail.add("read_all(" + std::to_string(p) + ") failed: " + r.status().to_string());
      return st;
    }
    if (r->empty()) {
      fail.add("read_all(" + std::to_string(p) + ") returned nothing below next_position " +
               std::to_string(st.next_position));
      return st;
    }
    for (const RecordedEvent& e : *r) {
      if (e.position != p) {
        fail.add("read_all: expected position " + std::to_string(p) + ", got " + describe(e));
        return st;
      }
      EventRec rec;
      rec.stream = stream_number(e.stream);
      rec.version = e.version;
      rec.timestamp_ns = e.timestamp_ns;
      if (rec.stream < 0) {
        fail.add(describe(e) + ": no crash-writer stream has this name");
        return st;
      }
      auto& versions = st.positions[rec.stream];
      if (e.version != versions.size()) {
        fail.add(describe(e) + ": stream versions not contiguous, expected version " +
                 std::to_string(versions.size()));
      }
      versions.push_back(p);
      if (!recompute) {
        if (!parse_type(e.type, rec.shape)) fail.add(describe(e) + ": type '" + e.type.substr(0, 80) + "'");
      } else if (std::string bad = check_bytes(e, rec.shape); !bad.empty()) {
        fail.add(describe(e) + ": " + bad);
      }
      st.bytes_checked += e.data.size() + e.metadata.size() + e.type.size() + 16;
      // Whole batches: index 0 opens one, the next count-1 positions continue it.
      if (in_batch) {
        const OpenBatch& b = batch;
        uint32_t i = static_cast<uint32_t>(p - b.first_position);
        if (rec.stream != b.stream || rec.shape.index != i || rec.shape.count != b.shape.count ||
            rec.shape.size != b.shape.size || e.version != b.first_version + i ||
            e.timestamp_ns != b.timestamp_ns) {
          fail.add(describe(e) + ": breaks the batch of " + std::to_string(b.shape.count) +
                   " events of stream s-" + std::to_string(b.stream) + " from position " +
                   std::to_string(b.first_position) + " (it is event " + std::to_string(rec.shape.index) +
                   " of " + std::to_string(rec.shape.count) + "): a partial batch");
          in_batch = false;
        }
      } else if (rec.shape.index != 0) {
        fail.add(describe(e) + " is event " + std::to_string(rec.shape.index) + " of a batch of " +
                 std::to_string(rec.shape.count) + " whose first events are missing");
      } else {
        batch = OpenBatch{rec.stream, e.version, p, rec.shape, e.timestamp_ns};
        in_batch = true;
      }
      if (in_batch && rec.shape.index + 1 == batch.shape.count) in_batch = false;
      st.events.push_back(rec);
      ++p;
    }
  }
  if (in_batch) {
    fail.add("the log ends inside a batch: stream s-" + std::to_string(batch.stream) + " from position " +
             std::to_string(batch.first_position) + " has " + std::to_string(p - batch.first_position) +
             " of its " + std::to_string(batch.shape.count) + " events (a partial batch)");
  }
  if (auto r = store.read_all(st.next_position, 10); !r.ok() || !r->empty()) {
    fail.add("read_all past next_position " + std::to_string(st.next_position) + " returned " +
             (r.ok() ? std::to_string(r->size()) + " events" : r.status().to_string()));
  }

  // Pass 2: read_stream returns the same events, at the same positions.
  for (int s = 0; s < kStreams && recompute; ++s) {
    std::string name = stream_name(s);
    const auto& versions = st.positions[s];
    auto sv = store.stream_version(name);
    std::optional<uint64_t> want_sv;
    if (!versions.empty()) want_sv = versions.size() - 1;
    if (sv != want_sv) {
      fail.add("stream_version(" + name + ") = " + (sv ? std::to_string(*sv) : "none") + ", read_all has " +
               std::to_string(versions.size()) + " events");
    }
    if (versions.empty()) {
      auto r = store.read_stream(name, 0, 10);
      if (r.ok() || r.status().code() != Code::kNotFound) {
        fail.add("read_stream(" + name + ") of a stream read_all never saw: " +
                 (r.ok() ? std::to_string(r->size()) + " events" : r.status().to_string()));
      }
      continue;
    }
    uint64_t v = 0;
    while (v < versions.size()) {
      auto r = store.read_stream(name, v, kChunk);
      if (!r.ok() || r->empty()) {
        fail.add("read_stream(" + name + ", " + std::to_string(v) + ") " +
                 (r.ok() ? "returned nothing" : "failed: " + r.status().to_string()) + "; read_all has " +
                 std::to_string(versions.size()) + " events");
        break;
      }
      for (const RecordedEvent& e : *r) {
        if (v >= versions.size()) {
          fail.add("read_stream(" + name + ") returns " + describe(e) + " past the " +
                   std::to_string(versions.size()) + " events read_all has");
          break;
        }
        const EventRec& rec = st.events[versions[v]];
        Shape shape;
        if (e.stream != name || e.version != v || e.position != versions[v] || e.timestamp_ns != rec.timestamp_ns) {
          fail.add("read_stream(" + name + ") version " + std::to_string(v) + " returned " + describe(e) +
                   ", read_all has it at position " + std::to_string(versions[v]));
        } else if (std::string bad = check_bytes(e, shape); !bad.empty() || !(shape == rec.shape)) {
          fail.add("read_stream: " + describe(e) + ": " + (bad.empty() ? "shape differs from read_all" : bad));
        }
        ++v;
      }
    }
  }
  if (recompute && st.events.size() == st.next_position) check_filtered_reads(store, st, fail);
  return st;
}

// Checks (a), (d) and (e) for the acknowledged appends.
inline uint64_t check_acks(const StoreState& st, const std::vector<Ack>& acks, Failures& fail) {
  uint64_t verified = 0;
  for (const Ack& a : acks) {
    std::string what = "ACK s-" + std::to_string(a.stream) + " " + std::to_string(a.first_version) + " " +
                       std::to_string(a.count) + " " + std::to_string(a.first_position) + " (cycle " +
                       std::to_string(a.cycle) + ")";
    if (a.first_position + a.count > st.next_position) {
      fail.add(what + ": next_position is " + std::to_string(st.next_position) + ", the acked append ends at " +
               std::to_string(a.first_position + a.count));
      continue;
    }
    const auto& versions = st.positions[a.stream];
    bool ok = true;
    for (uint32_t i = 0; i < a.count && ok; ++i) {
      uint64_t v = a.first_version + i;
      uint64_t pos = a.first_position + i;
      if (v >= versions.size() || versions[v] != pos) {
        fail.add(what + ": stream version " + std::to_string(v) + " is " +
                 (v >= versions.size() ? std::string("missing (the stream has ") + std::to_string(versions.size()) +
                                             " events)"
                                       : "at position " + std::to_string(versions[v])) +
                 ", acked at position " + std::to_string(pos));
        ok = false;
        break;
      }
      const EventRec& rec = st.events[pos];
      if (rec.stream != a.stream || rec.version != v || rec.shape.index != i || rec.shape.count != a.count) {
        fail.add(what + ": position " + std::to_string(pos) + " holds s-" + std::to_string(rec.stream) +
                 " version " + std::to_string(rec.version) + ", event " + std::to_string(rec.shape.index) + " of " +
                 std::to_string(rec.shape.count));
        ok = false;
      }
    }
    if (ok) verified += a.count;
  }
  return verified;
}

inline bool same_state(const StoreState& a, const StoreState& b, std::string& why) {
  if (a.next_position != b.next_position) {
    why = "next_position " + std::to_string(a.next_position) + " then " + std::to_string(b.next_position);
    return false;
  }
  for (size_t p = 0; p < a.events.size() && p < b.events.size(); ++p) {
    const EventRec& x = a.events[p];
    const EventRec& y = b.events[p];
    if (x.stream != y.stream || x.version != y.version || !(x.shape == y.shape) || x.timestamp_ns != y.timestamp_ns) {
      why = "position " + std::to_string(p) + " differs";
      return false;
    }
  }
  if (a.events.size() != b.events.size()) {
    why = "event counts differ";
    return false;
  }
  return true;
}

}  // namespace cairn::crash
