// `cairn dump` of snapshot files (FORMAT.md §11), over format/ only: the
// header, every record (--data: the payload too), then the problems found,
// each with the file and byte offset: a record that fails (corruption, or a
// torn tail: a lone file is read as the newest of its log) and every payload
// that fails its checksum.
#include "tools/inspect.h"

#include "format/segment_scan.h"
#include "format/snapshot_record.h"
#include "tools/text.h"

#include <cairn/event.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::tools {
namespace {

void print_file_header(const format::SnapshotFileHeader& h, const std::string& path, const DumpOptions& o,
                       std::ostream& out) {
  Line(out, o.json, "snapshot-file")
      .text("file", path).num("sequence", h.sequence).text("store_id", hex_id(h.store_id)).num("created_ns", h.created_ns);
}

void print_record(const format::SnapshotRecord& r, std::string_view bytes, const DumpOptions& o, std::ostream& out) {
  bool prune = r.kind == format::SnapshotRecordKind::kPrune;
  if (!o.stream.empty() && r.stream != o.stream) return;
  Line line(out, o.json, prune ? "prune" : "snapshot");
  line.num("offset", r.offset).num("size", r.size()).num("id", r.id).text("stream", r.stream);
  if (!prune) line.num("version", r.version).text("schema", r.schema).num("data_bytes", r.payload_len);
  line.num("floor_version", r.floor_version).num("floor_id", r.floor_id).num("created_ns", r.created_ns);
  if (o.data && !prune) {
    std::string_view payload = bytes.substr(r.offset + r.header_size(), r.payload_len);
    line.text("data", valid_utf8(payload) ? std::string(payload) : "base64:" + base64(payload));
  }
}

// Reads through a stream: snapshot files may be far larger than memory wants.
format::ReadAt file_reader(std::ifstream& in) {
  return [&in](uint64_t offset, char* buf, size_t n) -> Result<size_t> {
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(buf, static_cast<std::streamsize>(n));
    return static_cast<size_t>(in.gcount());
  };
}

// Sequences of the snapshot files in `dir`, ascending.
std::vector<uint64_t> snapshot_sequences(const std::filesystem::path& dir) {
  std::vector<uint64_t> sequences;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (auto s = format::parse_snapshot_file_name(e.path().filename().string())) sequences.push_back(*s);
  }
  std::sort(sequences.begin(), sequences.end());
  return sequences;
}

}  // namespace

void verify_snapshots(const std::string& store_dir, std::vector<std::string>& problems) {
  const std::filesystem::path dir = std::filesystem::path(store_dir) / std::string(format::kSnapshotDirName);
  std::vector<uint64_t> sequences = snapshot_sequences(dir);
  for (size_t i = 0; i < sequences.size(); ++i) {
    std::string file = (dir / format::snapshot_file_name(sequences[i])).string();
    if (i > 0 && sequences[i] != sequences[i - 1] + 1) {
      problems.push_back(file + ": snapshot file " + std::to_string(sequences[i - 1] + 1) + " is missing before it");
    }
    std::ifstream in(file, std::ios::binary);
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(file, ec);
    if (!in || ec) {
      problems.push_back(file + ": cannot read the file");
      continue;
    }
    bool is_last = i + 1 == sequences.size();
    auto scan = format::scan_snapshot_file(file_reader(in), size, file, {is_last, true},
                                           [](const format::SnapshotRecord&) {});
    if (!scan.ok()) {
      problems.push_back(scan.status().message());
      continue;
    }
    problems.insert(problems.end(), scan->bad_payloads.begin(), scan->bad_payloads.end());
    if (scan->header.sequence != sequences[i]) problems.push_back(file + ": header does not match the file name");
    if (scan->torn) problems.push_back(scan->torn_reason + " (a torn tail; the next read-write open cuts it off)");
  }
}

bool is_snapshot_file(std::string_view bytes) { return bytes.substr(0, 8) == format::kSnapshotFileMagic; }

int dump_snapshots(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out) {
  format::ReadAt read = [bytes](uint64_t offset, char* buf, size_t n) -> Result<size_t> {
    if (offset >= bytes.size()) return size_t{0};
    size_t got = std::min<uint64_t>(n, bytes.size() - offset);
    std::memcpy(buf, bytes.data() + offset, got);
    return got;
  };
  std::vector<std::string> problems;
  if (auto h = format::decode_snapshot_file_header(bytes, path); h.ok()) print_file_header(*h, path, options, out);
  auto scan = format::scan_snapshot_file(read, bytes.size(), path, {.is_last = true, .verify_payloads = true},
                                         [&](const format::SnapshotRecord& r) { print_record(r, bytes, options, out); });
  if (!scan.ok()) {
    problems.push_back(scan.status().message());
  } else {
    problems = scan->bad_payloads;
    if (scan->torn) problems.push_back(scan->torn_reason + " (a torn tail: " +
                                       std::to_string(bytes.size() - scan->data_end) + " bytes from offset " +
                                       std::to_string(scan->data_end) + ")");
  }
  for (const std::string& p : problems) print_problem(p, options.json, out);
  return static_cast<int>(problems.size());
}

}  // namespace cairn::tools
