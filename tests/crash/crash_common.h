// Shared by the crash writer (tests/crash/crash_writer.cc) and its checker
// (tests/crash/crash_test.cc): the store options, the stream names, and the
// deterministic content of every event.
//
// Every byte of an event is a function of (stream, version) and of the
// append's shape, which the event carries in its type:
//
//   type = "crash.<size>.<index>.<count>.<16 hex digits>"
//
// <size> is the append's random size class (0 .. 65536), <index> the event's
// place in its batch, <count> the batch's event count, and the hex digits a
// hash of (stream, version). The checker parses the shape from the type,
// recomputes the whole event from (stream, version, shape) and compares every
// byte; the shape also lets it check that every batch is whole.
#pragma once

#include <cairn/event.h>
#include <cairn/options.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace cairn::crash {

inline constexpr int kStreams = 200;
inline constexpr int kThreads = 4;
inline constexpr uint32_t kMaxBatch = 20;
inline constexpr uint32_t kBigSize = 64u << 10;  // the occasional 64 KiB event

// Small segments so that runs roll segments often (rolls are crash windows too).
inline Options store_options() {
  Options o;
  o.segment_bytes = 1u << 20;
  return o;
}

inline std::string stream_name(int n) { return "s-" + std::to_string(n); }

// The crash writer's named subscription (its checkpoint lives in SUBSCRIPTIONS).
inline constexpr char kSubscriptionName[] = "crash-follower";

// The stream number of "s-<n>", or -1.
inline int stream_number(std::string_view name) {
  if (name.size() < 3 || name.substr(0, 2) != "s-") return -1;
  int n = -1;
  auto [p, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), n);
  if (ec != std::errc() || p != name.data() + name.size() || n < 0 || n >= kStreams) return -1;
  if (stream_name(n) != name) return -1;  // no leading zeros or signs
  return n;
}

inline uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t hash_bytes(std::string_view s) {  // FNV-1a, then mixed
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return mix64(h);
}

// A hash of (stream, version, salt).
inline uint64_t key(std::string_view stream, uint64_t version, uint64_t salt) {
  return mix64(hash_bytes(stream) ^ mix64(version * 0x2545f4914f6cdd1dull + salt));
}

// The per-append parameters an event carries in its type.
struct Shape {
  uint32_t size = 0;   // size class: 0 .. kBigSize
  uint32_t index = 0;  // place in the batch
  uint32_t count = 1;  // events in the batch, 1 .. kMaxBatch
  friend bool operator==(const Shape&, const Shape&) = default;
};

inline std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

inline std::string type_for(std::string_view stream, uint64_t version, const Shape& s) {
  return "crash." + std::to_string(s.size) + "." + std::to_string(s.index) + "." +
         std::to_string(s.count) + "." + hex16(key(stream, version, 1));
}

// Parses the shape out of a type made by type_for (the hash is not checked
// here: the caller compares the whole recomputed type).
inline bool parse_type(std::string_view type, Shape& out) {
  if (type.substr(0, 6) != "crash.") return false;
  std::string_view rest = type.substr(6);
  uint32_t fields[3];
  for (uint32_t& f : fields) {
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), f);
    if (ec != std::errc() || p == rest.data() + rest.size() || *p != '.') return false;
    rest.remove_prefix(static_cast<size_t>(p - rest.data()) + 1);
  }
  out = Shape{fields[0], fields[1], fields[2]};
  return out.size <= kBigSize && out.count >= 1 && out.count <= kMaxBatch && out.index < out.count;
}

// `n` pseudo-random bytes from `seed` (every byte value, zeros included).
inline std::string fill(uint64_t seed, size_t n) {
  std::string out(n, '\0');
  uint64_t x = seed | 1;
  for (size_t i = 0; i < n; i += 8) {
    x = mix64(x);
    std::memcpy(out.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return out;
}

inline size_t data_size(std::string_view stream, uint64_t version, const Shape& s) {
  if (s.size == kBigSize && s.index == 0) return kBigSize;
  if (s.size == 0) return 0;
  return key(stream, version, 2) % (uint64_t{s.size} + 1);
}

inline std::string data_for(std::string_view stream, uint64_t version, const Shape& s) {
  return fill(key(stream, version, 3), data_size(stream, version, s));
}

inline std::string metadata_for(std::string_view stream, uint64_t version, const Shape& s) {
  uint64_t k = key(stream, version, 4);
  size_t n = s.size == 0 ? 0 : k % 257;  // 0 .. 256 bytes, often empty
  if (k % 5 == 0) n = 0;
  return fill(key(stream, version, 5), n);
}

inline EventId id_for(std::string_view stream, uint64_t version) {
  EventId id;
  uint64_t a = key(stream, version, 6);
  uint64_t b = key(stream, version, 7);
  std::memcpy(id.bytes.data(), &a, 8);
  std::memcpy(id.bytes.data() + 8, &b, 8);
  id.bytes[0] |= 1;  // never nil
  return id;
}

// An event's owned bytes.
struct Content {
  EventId id;
  std::string type;
  std::string data;
  std::string metadata;
};

inline Content content_for(std::string_view stream, uint64_t version, const Shape& s) {
  return Content{id_for(stream, version), type_for(stream, version, s), data_for(stream, version, s),
                 metadata_for(stream, version, s)};
}

}  // namespace cairn::crash
