// Events as the application writes them (NewEvent) and reads them back
// (RecordedEvent), and the optimistic-concurrency expectation of an append.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

// A 16-byte event id chosen by the application (typically a UUID). Ids make
// retried appends idempotent; see Store::append.
struct EventId {
  std::array<uint8_t, 16> bytes{};

  // 16 random bytes from a per-thread generator seeded by the OS.
  static EventId random();
  // 32 lowercase hex digits.
  std::string to_hex() const;
  bool is_nil() const;
  friend bool operator==(const EventId&, const EventId&) = default;
};

// An event to append. The views must stay valid until the append returns (for
// append_async: until the call returns; the bytes are copied before that).
struct NewEvent {
  EventId id;
  std::string_view type;      // non-empty, at most kMaxTypeBytes
  std::string_view data;      // opaque
  std::string_view metadata;  // opaque
};

// An event as stored. Reads return copies: a RecordedEvent owns its bytes and
// stays valid independently of the store.
struct RecordedEvent {
  std::string stream;
  uint64_t version = 0;      // 0 for the stream's first event, contiguous per stream
  uint64_t position = 0;     // 0 for the store's first event, contiguous over all streams
  EventId id;
  std::string type;
  std::string data;
  std::string metadata;
  int64_t timestamp_ns = 0;  // wall clock (UNIX epoch) when the writer committed it

  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

// An event as stored, seen in place by a visitor read (Store::scan_all,
// Store::scan_stream): the views point into the store's memory and are valid
// only while the visitor that received the EventView runs.
struct EventView {
  std::string_view stream;
  uint64_t version = 0;
  uint64_t position = 0;
  EventId id;
  std::string_view type;
  std::string_view data;
  std::string_view metadata;
  int64_t timestamp_ns = 0;

  // A copy that owns its bytes.
  RecordedEvent to_event() const {
    return RecordedEvent{std::string(stream), version, position, id, std::string(type),
                         std::string(data), std::string(metadata), timestamp_ns};
  }
};

// What an append expects of the stream before it writes.
class ExpectedVersion {
 public:
  enum class Kind : uint8_t { kAny, kNoStream, kStreamExists, kExact };

  static ExpectedVersion any() { return ExpectedVersion(Kind::kAny, 0); }
  static ExpectedVersion no_stream() { return ExpectedVersion(Kind::kNoStream, 0); }
  static ExpectedVersion stream_exists() { return ExpectedVersion(Kind::kStreamExists, 0); }
  // The stream's last event has exactly this version.
  static ExpectedVersion exactly(uint64_t version) { return ExpectedVersion(Kind::kExact, version); }

  Kind kind() const { return kind_; }
  uint64_t version() const { return version_; }  // meaningful for kExact only
  std::string to_string() const;

 private:
  ExpectedVersion(Kind kind, uint64_t version) : kind_(kind), version_(version) {}
  Kind kind_;
  uint64_t version_;
};

// What a successful append assigned: versions first_version..first_version+count-1
// and positions first_position..first_position+count-1.
struct AppendResult {
  uint64_t first_version = 0;
  uint64_t first_position = 0;
  uint32_t count = 0;
  bool deduplicated = false;  // true: a retry of an earlier append; nothing was written

  uint64_t last_version() const { return first_version + count - 1; }
  uint64_t last_position() const { return first_position + count - 1; }
};

enum class Direction : uint8_t { kForward, kBackward };

// Which events a filtered read (Store::read_all_filtered) returns: those
// whose type is one of `event_types` (when any are given) and whose
// stream's category is one of `categories` (when any are given). A
// stream's category is its name before the first
// Options::category_separator ("Order-42" is in "Order"); a stream without
// the separator is in no category. At least one list must be non-empty.
struct ReadFilter {
  std::vector<std::string> event_types;
  std::vector<std::string> categories;
};

// Limits, checked on every append (errors are kInvalidArgument).
inline constexpr size_t kMaxStreamNameBytes = 1024;
inline constexpr size_t kMaxTypeBytes = 255;
// The highest version a stream can reach.
inline constexpr uint64_t kMaxStreamVersion = (uint64_t{1} << 62) - 1;

}  // namespace cairn
