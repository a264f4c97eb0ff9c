// Options for opening a store. Every field has a sane default.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace cairn {

struct Options {
  // Create the directory and a new store when the path is missing or empty.
  bool create_if_missing = true;
  // Open for reading only: no lock is taken, appends fail with kReadOnly, and
  // a torn tail is ignored rather than cut off.
  bool read_only = false;
  // When open finds corruption (a checksum failure before the torn tail), open
  // the intact prefix read-only instead of failing. Never modifies the files.
  bool open_intact_prefix = false;

  // A segment rolls over when the next batch would not fit. At least 64 KiB.
  uint64_t segment_bytes = 256ull << 20;
  // Largest data + metadata of one event, and largest encoded append batch.
  uint32_t max_event_bytes = 16u << 20;
  uint32_t max_batch_bytes = 64u << 20;
  // Upper bound on the bytes one group commit writes with one write and one
  // fdatasync (a single append larger than this is written alone).
  uint32_t max_group_bytes = 4u << 20;
  // Backpressure: appends (async ones too) wait while this many encoded bytes
  // are queued for the writer, so a slow disk cannot grow memory without bound.
  uint64_t max_queued_bytes = 64ull << 20;
  // Group commit: before starting the next write + fdatasync, the writer waits
  // at most this long (and at most half the last fdatasync's time) for as many
  // appends as the last group held, so that threads acknowledged by one group
  // make the next one instead of waiting a whole fdatasync more. 0: never wait.
  uint32_t max_commit_delay_us = 100;
  // Where the store reports what recovery did (a torn tail cut off, an intact
  // prefix opened). Default (empty): one line on standard error.
  std::function<void(std::string_view message)> info_log;
  // Idempotency window: the ids of the most recent this-many events are
  // remembered (rebuilt from the log on open); a retried append is recognised
  // while its events are inside the window. 0 turns retry detection off.
  uint32_t idempotency_window = 1u << 18;
};

}  // namespace cairn
