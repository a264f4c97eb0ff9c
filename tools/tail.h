// `cairn tail`: print a store's events from a position, then follow new ones
// as another process appends them (like tail -f). It reads segment files with
// format/ (no lock, no open of the store): frames whose checksum holds, from
// the segment holding the start position on, moving to the next segment
// when a footer seals one. It may show a batch a writer has written but not
// yet made durable.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

namespace cairn::tools {

struct TailOptions {
  uint64_t from = 0;
  bool json = false;
  uint32_t poll_ms = 50;  // how often to look for new frames
};

// Runs until `keep_going` returns false (checked between polls). Returns 0,
// or -1 on an error (printed to `err`).
int tail_command(const std::string& dir, const TailOptions& options, std::ostream& out, std::ostream& err,
                 const std::function<bool()>& keep_going);

}  // namespace cairn::tools
