#include "engine/append_check.h"

#include "format/batch.h"
#include "format/coding.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_header.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace cairn::engine {
namespace {

std::string describe(std::optional<uint64_t> version) {
  return version ? "version " + std::to_string(*version) : "no stream";
}

// An id as two words, for a cheap total order (any order finds duplicates).
std::pair<uint64_t, uint64_t> words(const EventId& id) {
  std::pair<uint64_t, uint64_t> w;
  std::memcpy(&w.first, id.bytes.data(), 8);
  std::memcpy(&w.second, id.bytes.data() + 8, 8);
  return w;
}

}  // namespace

uint64_t segment_bytes_needed(uint64_t frame_size) {
  return frame_size + format::kFooterFrameSize;
}

Status validate_append(std::string_view stream, std::span<const NewEvent> events,
                       const Options& options) {
  if (stream.empty()) return Status::invalid_argument("stream name is empty");
  if (stream.size() > kMaxStreamNameBytes) {
    return Status::invalid_argument("stream name is " + std::to_string(stream.size()) +
                                    " bytes, over the limit of " + std::to_string(kMaxStreamNameBytes));
  }
  if (events.empty()) return Status::invalid_argument("append to '" + std::string(stream) + "' has no events");
  if (events.size() > UINT32_MAX) return Status::invalid_argument("too many events in one append");
  for (size_t i = 0; i < events.size(); ++i) {
    const NewEvent& e = events[i];
    auto which = [&] { return "event " + std::to_string(i) + " of the append to '" + std::string(stream) + "'"; };
    if (e.type.empty()) return Status::invalid_argument(which() + " has an empty type");
    if (e.type.size() > kMaxTypeBytes) {
      return Status::invalid_argument(which() + " has a type of " + std::to_string(e.type.size()) +
                                      " bytes, over the limit of " + std::to_string(kMaxTypeBytes));
    }
    uint64_t payload = uint64_t{e.data.size()} + e.metadata.size();
    if (payload > options.max_event_bytes) {
      return Status::invalid_argument(which() + " has " + std::to_string(payload) +
                                      " bytes of data and metadata, over max_event_bytes " +
                                      std::to_string(options.max_event_bytes));
    }
  }
  uint64_t frame = format::batch_frame_size(stream, events);
  if (frame > options.max_batch_bytes) {
    return Status::invalid_argument("append to '" + std::string(stream) + "' encodes to " +
                                    std::to_string(frame) + " bytes, over max_batch_bytes " +
                                    std::to_string(options.max_batch_bytes));
  }
  if (format::kSegmentHeaderSize + segment_bytes_needed(frame) > options.segment_bytes) {
    return Status::invalid_argument("append to '" + std::string(stream) + "' encodes to " +
                                    std::to_string(frame) + " bytes and cannot fit in a segment of " +
                                    std::to_string(options.segment_bytes) + " bytes");
  }
  if (events.size() > 1) {
    std::vector<EventId> ids;
    ids.reserve(events.size());
    for (const NewEvent& e : events) {
      if (!e.id.is_nil()) ids.push_back(e.id);
    }
    std::sort(ids.begin(), ids.end(), [](const EventId& a, const EventId& b) { return words(a) < words(b); });
    auto dup = std::adjacent_find(ids.begin(), ids.end());
    if (dup != ids.end()) {
      return Status::invalid_argument("event id " + dup->to_hex() + " appears twice in the append to '" +
                                      std::string(stream) + "'");
    }
  }
  return Status();
}

Status check_expected(std::string_view stream, uint64_t next_version, ExpectedVersion expected,
                      size_t count) {
  std::optional<uint64_t> actual;
  if (next_version > 0) actual = next_version - 1;
  bool ok = true;
  switch (expected.kind()) {
    case ExpectedVersion::Kind::kAny: break;
    case ExpectedVersion::Kind::kNoStream: ok = !actual; break;
    case ExpectedVersion::Kind::kStreamExists: ok = actual.has_value(); break;
    case ExpectedVersion::Kind::kExact: ok = actual && *actual == expected.version(); break;
  }
  if (!ok) {
    return Status::wrong_expected_version("stream '" + std::string(stream) + "': expected " +
                                              expected.to_string() + ", actual " + describe(actual),
                                          actual);
  }
  if (next_version + (count - 1) > kMaxStreamVersion) {
    return Status::invalid_argument("stream '" + std::string(stream) + "': appending " +
                                    std::to_string(count) + " events after " + describe(actual) +
                                    " would pass the highest version " +
                                    std::to_string(kMaxStreamVersion));
  }
  return Status();
}

}  // namespace cairn::engine
