// Definitions of the public value types (Status, EventId, ExpectedVersion):
// they live in the format/ leaf so that it links alone (dump tool, fuzzers).
#include <cairn/event.h>
#include <cairn/status.h>

#include <random>

namespace cairn {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kWrongExpectedVersion: return "WrongExpectedVersion";
    case Code::kDuplicateEvent: return "DuplicateEvent";
    case Code::kNotFound: return "NotFound";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kLocked: return "Locked";
    case Code::kNotAStore: return "NotAStore";
    case Code::kUnsupportedVersion: return "UnsupportedVersion";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kClosed: return "Closed";
    case Code::kNotSupported: return "NotSupported";
    case Code::kIncompleteCheckpoint: return "IncompleteCheckpoint";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

EventId EventId::random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  EventId id;
  uint64_t a = rng();
  uint64_t b = rng();
  for (int i = 0; i < 8; ++i) {
    id.bytes[i] = static_cast<uint8_t>(a >> (8 * i));
    id.bytes[8 + i] = static_cast<uint8_t>(b >> (8 * i));
  }
  return id;
}

std::string EventId::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(32);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

bool EventId::is_nil() const {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

std::string ExpectedVersion::to_string() const {
  switch (kind_) {
    case Kind::kAny: return "any";
    case Kind::kNoStream: return "no stream";
    case Kind::kStreamExists: return "stream exists";
    case Kind::kExact: return "version " + std::to_string(version_);
  }
  return "unknown";
}

}  // namespace cairn
