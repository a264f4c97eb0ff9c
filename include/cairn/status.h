// Status and Result<T>: how every Cairn call reports success or failure.
//
// No exception crosses the public API. A Status is either ok() or carries a
// Code and a message naming what was wrong (for corruption: the file and the
// byte offset). Result<T> holds a value or a non-ok Status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace cairn {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,       // bad input from the caller; nothing was written
  kWrongExpectedVersion,  // optimistic concurrency check failed; see actual_version()
  kDuplicateEvent,        // an event id was seen before but the batch is not a retry of it
  kNotFound,
  kCorruption,            // stored bytes fail a check; message names file and offset
  kIOError,
  kLocked,                // another process holds the store open for writing
  kNotAStore,             // the directory holds files but is not a Cairn store
  kUnsupportedVersion,    // a file was written by an unknown format version
  kReadOnly,              // the store was opened read-only, or went read-only after an I/O error
  kClosed,                // the store is closed
  kNotSupported,          // asked for something this machine cannot do (e.g. io_uring)
  kIncompleteCheckpoint,  // the directory holds a Store::checkpoint that did not finish
};

// Name of a code, e.g. "WrongExpectedVersion".
const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status duplicate_event(std::string msg) { return {Code::kDuplicateEvent, std::move(msg)}; }
  static Status not_found(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status io_error(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status locked(std::string msg) { return {Code::kLocked, std::move(msg)}; }
  static Status not_a_store(std::string msg) { return {Code::kNotAStore, std::move(msg)}; }
  static Status unsupported_version(std::string msg) { return {Code::kUnsupportedVersion, std::move(msg)}; }
  static Status read_only(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  static Status closed(std::string msg) { return {Code::kClosed, std::move(msg)}; }
  static Status not_supported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status incomplete_checkpoint(std::string msg) { return {Code::kIncompleteCheckpoint, std::move(msg)}; }
  // actual: the stream's current version, or nullopt when the stream does not exist.
  static Status wrong_expected_version(std::string msg, std::optional<uint64_t> actual) {
    Status s(Code::kWrongExpectedVersion, std::move(msg));
    s.actual_version_ = actual;
    return s;
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Set only for kWrongExpectedVersion: the stream's version when the check ran
  // (nullopt: the stream had no events).
  std::optional<uint64_t> actual_version() const { return actual_version_; }
  // "Code: message", or "OK".
  std::string to_string() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
  std::optional<uint64_t> actual_version_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}    // NOLINT: must not be ok()

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace cairn
