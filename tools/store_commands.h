// The `cairn` subcommands that read a store through the public API, opened
// read-only (no lock: they work while a writer process holds the store).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace cairn::tools {

struct ReadOptions {
  bool backward = false;
  bool has_from = false;
  uint64_t from = 0;         // version (read) or position (read-all)
  uint64_t max = UINT64_MAX;
  std::string type;          // read-all: only events of this type
  bool json = false;         // one JSON object per event and line
};

// Each returns 0 when done, 1 when the stream does not exist, -1 on an error
// (printed to `err`, naming the file).
int read_stream_command(const std::string& dir, const std::string& stream, const ReadOptions& options,
                        std::ostream& out, std::ostream& err);
int read_all_command(const std::string& dir, const ReadOptions& options, std::ostream& out, std::ostream& err);
// Segments, events, streams, positions, and the top streams and types by count.
int stat_command(const std::string& dir, bool json, std::ostream& out, std::ostream& err);

}  // namespace cairn::tools
