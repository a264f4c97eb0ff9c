// The checks an append must pass, as pure functions (no state, no I/O).
#pragma once

#include <cairn/event.h>
#include <cairn/options.h>
#include <cairn/status.h>

#include <cstdint>
#include <span>
#include <string_view>

namespace cairn::engine {

// Argument checks made on the caller's thread before anything is queued:
// stream name and type lengths, event and batch sizes, an empty batch, an id
// repeated inside the batch, a batch that cannot fit in one segment.
Status validate_append(std::string_view stream, std::span<const NewEvent> events,
                       const Options& options);

// The optimistic-concurrency and version-range check against the stream's
// next version (0 when the stream has no events), made by the writer in log
// order. kWrongExpectedVersion carries the actual version.
Status check_expected(std::string_view stream, uint64_t next_version, ExpectedVersion expected,
                      size_t count);

// Bytes a segment needs beyond its header for a batch frame of this size (the
// frame plus room for the footer that seals the segment).
uint64_t segment_bytes_needed(uint64_t frame_size);

}  // namespace cairn::engine
