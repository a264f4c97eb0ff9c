// The one checksum of Cairn's files: XXH3-64 (xxHash 0.8, seed 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cairn::format {

uint64_t checksum(const void* data, size_t size);
inline uint64_t checksum(std::string_view bytes) { return checksum(bytes.data(), bytes.size()); }

// Streaming form, for hashes over a whole segment's content.
class StreamingChecksum {
 public:
  StreamingChecksum();
  ~StreamingChecksum();
  StreamingChecksum(const StreamingChecksum&) = delete;
  StreamingChecksum& operator=(const StreamingChecksum&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
  uint64_t digest() const;
  void reset();

 private:
  void* state_;  // XXH3_state_t, kept opaque so xxhash.h stays out of headers
};

}  // namespace cairn::format
