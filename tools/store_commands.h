// The `cairn` subcommands that read a store through the public API, opened
// read-only (no lock: they work while a writer process holds the store).
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

namespace cairn {
struct RecordedEvent;
}

namespace cairn::tools {

// One event as the read commands print it: a text line, or a JSON object.
void print_event(const RecordedEvent& e, bool json, std::ostream& out);

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

struct AppendOptions {
  std::string type;
  std::string expected = "any";  // any | no-stream | exists | N
  bool batch = false;            // all lines as one atomic append
  bool json = false;
};

// Appends one event per line of `in` (the line is the event's data): each
// line its own append (the first checked against `expected`, each next one
// against the version the previous produced) or, with batch, one append.
// Prints what each append assigned. Returns 0, 3 on a version conflict (the
// actual version on `err`), -1 on any other error.
int append_command(const std::string& dir, const std::string& stream, const AppendOptions& options,
                   std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace cairn::tools
