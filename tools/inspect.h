// Offline inspection of segment files and store directories, over format/
// only (the real decoder, no engine): what `cairn dump` and `cairn verify` do.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::tools {

struct DumpOptions {
  bool data = false;  // show data and metadata (text when printable, else hex)
  bool json = false;  // one JSON object per line
  // Filters: only events of this stream / type, at positions [from, to].
  std::string stream;
  std::string type;
  uint64_t from = 0;
  uint64_t to = UINT64_MAX;
};

// Prints the header of the segment file at `path`, then every batch and its
// events (for an index file, FORMAT.md §10: its header and records). Problems found on the way (a torn tail, corruption) are printed too.
// Returns the number of problems; -1 when the file cannot be read.
int dump_segment(const std::string& path, const DumpOptions& options, std::ostream& out,
                 std::ostream& err);
// The same over a file's bytes (`path` only names it in messages): segment,
// index, SUBSCRIPTIONS, CLEAN or snapshot file, told apart by their magic.
int dump_bytes(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out);

// Index files (inspect_index.cc): whether `bytes` start like one, and its
// dump (header, records, blocks failing their checksums as problems).
bool is_index_file(std::string_view bytes);
int dump_index(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out);
// The SUBSCRIPTIONS file (inspect_subscriptions.cc, FORMAT.md §12).
bool is_subscriptions_file(std::string_view bytes);
int dump_subscriptions(const std::string& path, std::string_view bytes, const DumpOptions& options,
                       std::ostream& out);
// The clean-close record (inspect_clean.cc, FORMAT.md §13).
bool is_clean_file(const std::string& path, std::string_view bytes);
int dump_clean(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out);
// Snapshot files (inspect_snapshots.cc, FORMAT.md §11): header, records,
// and problems (a damaged record, a torn tail, a payload failing its checksum).
bool is_snapshot_file(std::string_view bytes);
int dump_snapshots(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out);
// Adds the problems of the snapshot log of the store in `store_dir` (none
// when it has no `snapshots/`): a missing file, a bad header, a damaged
// record, a payload failing its checksum, a torn tail of the newest file.
void verify_snapshots(const std::string& store_dir, std::vector<std::string>& problems);
// A problem line (text or JSON), shared by the dumps.
void print_problem(const std::string& what, bool json, std::ostream& out);

// Checks a segment file, or every segment of a store directory (names,
// headers, checksums, footers, position continuity across segments). Prints
// each problem with file and byte offset, then a summary. Returns the number
// of problems; -1 when `path` cannot be read. With `progress`, a line on
// `err` ("segment i of n") is rewritten as the check goes (for a terminal).
int verify_path(const std::string& path, bool json, std::ostream& out, std::ostream& err,
                bool progress = false);

}  // namespace cairn::tools
