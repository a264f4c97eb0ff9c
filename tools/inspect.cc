#include "tools/inspect.h"

#include "tools/text.h"

#include "format/frame.h"
#include "format/segment_header.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace cairn::tools {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 15];
  }
  return out;
}

// Payload as shown by --data: text when printable, else "hex:<digits>".
std::string payload(std::string_view s) { return printable(s) ? std::string(s) : "hex:" + hex(s); }

void print_header(const format::SegmentHeader& h, const std::string& path, const DumpOptions& o,
                  std::ostream& out) {
  std::string store = hex_id(h.store_id);
  if (o.json) {
    out << "{\"kind\":\"header\",\"file\":" << json_string(path) << ",\"sequence\":" << h.sequence
        << ",\"first_position\":" << h.first_position << ",\"store_id\":\"" << store
        << "\",\"created_ns\":" << h.created_ns << "}\n";
    return;
  }
  out << path << ": segment " << h.sequence << ", first position " << h.first_position << ", store "
      << store << ", created " << h.created_ns << " ns\n";
}

bool selected(const format::BatchView& batch, uint32_t i, std::string_view type, const DumpOptions& o) {
  uint64_t position = batch.stamp().first_position + i;
  return (o.stream.empty() || batch.stream() == o.stream) && (o.type.empty() || type == o.type) &&
         position >= o.from && position <= o.to;
}

void print_batch(const format::ScannedBatch& b, const DumpOptions& o, std::ostream& out) {
  const format::BatchStamp& st = b.batch.stamp();
  bool any = false;
  b.batch.for_each([&](uint32_t i, const format::EventView& e) {
    any = selected(b.batch, i, e.type, o);
    return !any;
  });
  if (!any) return;
  if (o.json) {
    out << "{\"kind\":\"batch\",\"offset\":" << b.offset << ",\"size\":" << b.frame_size
        << ",\"first_position\":" << st.first_position << ",\"count\":" << b.batch.count()
        << ",\"stream\":" << json_string(b.batch.stream()) << ",\"first_version\":" << st.first_version
        << ",\"durable_position\":" << st.durable_position << ",\"timestamp_ns\":" << st.timestamp_ns
        << ",\"checksum\":\"ok\"}\n";
  } else {
    out << "batch at offset " << b.offset << " (" << b.frame_size << " bytes, checksum ok): positions "
        << st.first_position << ".." << b.batch.last_position() << ", stream '" << b.batch.stream()
        << "' from version " << st.first_version << ", durable below " << st.durable_position
        << ", timestamp " << st.timestamp_ns << "\n";
  }
  b.batch.for_each([&](uint32_t i, const format::EventView& e) {
    if (!selected(b.batch, i, e.type, o)) return true;
    uint64_t position = st.first_position + i;
    uint64_t version = st.first_version + i;
    if (o.json) {
      out << "{\"kind\":\"event\",\"position\":" << position << ",\"stream\":" << json_string(b.batch.stream())
          << ",\"version\":" << version << ",\"type\":" << json_string(e.type) << ",\"id\":\""
          << e.id.to_hex() << "\",\"timestamp_ns\":" << st.timestamp_ns << ",\"data_bytes\":" << e.data.size()
          << ",\"metadata_bytes\":" << e.metadata.size();
      if (o.data) out << ",\"data\":" << json_string(payload(e.data)) << ",\"metadata\":" << json_string(payload(e.metadata));
      out << "}\n";
      return true;
    }
    out << "  #" << position << " " << b.batch.stream() << "@" << version << " " << e.type << " id "
        << e.id.to_hex() << " data " << e.data.size() << " B, metadata " << e.metadata.size() << " B\n";
    if (o.data) {
      out << "    data: " << payload(e.data) << "\n";
      if (!e.metadata.empty()) out << "    metadata: " << payload(e.metadata) << "\n";
    }
    return true;
  });
}


// Scans one segment; a torn tail or corruption is reported as a problem,
// never as an error that hides what came before it.
struct SegmentReport {
  std::optional<format::SegmentScan> scan;
  std::vector<std::string> problems;
};

SegmentReport scan_file(std::string_view bytes, const std::string& path, bool is_last,
                        const std::function<void(const format::ScannedBatch&)>& on_batch) {
  SegmentReport report;
  format::ScanOptions options{is_last, /*stop_at_corruption=*/true};
  auto scan = format::scan_segment(bytes, path, options, [&](const format::ScannedBatch& b) {
    if (on_batch) on_batch(b);
    return Status();
  });
  if (!scan.ok()) {
    report.problems.push_back(scan.status().to_string());
    return report;
  }
  if (scan->corruption) {
    report.problems.push_back("Corruption: " + scan->torn_reason);
  } else if (scan->torn) {
    report.problems.push_back(format::file_offset(path, scan->data_end) + ": torn tail (" +
                              scan->torn_reason + ") of " + std::to_string(bytes.size() - scan->data_end) +
                              " bytes");
  }
  report.scan = std::move(*scan);
  return report;
}

}  // namespace

void print_problem(const std::string& what, bool json, std::ostream& out) {
  if (json) {
    out << "{\"kind\":\"problem\",\"message\":" << json_string(what) << "}\n";
  } else {
    out << "PROBLEM: " << what << "\n";
  }
}

int dump_segment(const std::string& path, const DumpOptions& options, std::ostream& out, std::ostream& err) {
  auto bytes = read_whole(path);
  if (!bytes) {
    err << "cairn dump: " << path << ": cannot read the file\n";
    return -1;
  }
  return dump_bytes(path, *bytes, options, out);
}

int dump_bytes(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out) {
  if (is_index_file(bytes)) return dump_index(path, bytes, options, out);
  if (is_subscriptions_file(bytes)) return dump_subscriptions(path, bytes, options, out);
  if (is_snapshot_file(bytes)) return dump_snapshots(path, bytes, options, out);
  if (is_clean_file(path, bytes)) return dump_clean(path, bytes, options, out);
  auto header = format::decode_segment_header(bytes, path);
  if (header.ok()) print_header(*header, path, options, out);
  // A lone file may be a store's active segment: a torn tail is reported, not fatal.
  SegmentReport report = scan_file(bytes, path, /*is_last=*/true,
                                   [&](const format::ScannedBatch& b) { print_batch(b, options, out); });
  if (report.scan && report.scan->footer) {
    const format::Footer& f = *report.scan->footer;
    if (options.json) {
      out << "{\"kind\":\"footer\",\"offset\":" << f.data_end << ",\"events\":" << f.event_count
          << ",\"batches\":" << f.batch_count << ",\"content_hash\":\"" << std::hex << f.content_hash << std::dec
          << "\"}\n";
    } else {
      out << "footer at offset " << f.data_end << ": sealed, " << f.event_count << " events in " << f.batch_count
          << " batches, content hash " << std::hex << f.content_hash << std::dec << " (matches)\n";
    }
  }
  for (const std::string& p : report.problems) print_problem(p, options.json, out);
  return static_cast<int>(report.problems.size());
}

int verify_path(const std::string& path, bool json, std::ostream& out, std::ostream& err, bool progress) {
  std::error_code ec;
  std::vector<std::string> files;
  bool is_dir = fs::is_directory(path, ec);
  if (is_dir) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (format::parse_segment_file_name(e.path().filename().string())) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
      return format::parse_segment_file_name(fs::path(a).filename().string())->sequence <
             format::parse_segment_file_name(fs::path(b).filename().string())->sequence;
    });
  } else if (fs::exists(path, ec)) {
    files.push_back(path);
  }
  if (ec || (!is_dir && files.empty())) {
    err << "cairn verify: " << path << ": cannot read\n";
    return -1;
  }
  std::vector<std::string> problems;
  if (is_dir) {
    std::string store_file = (fs::path(path) / std::string(format::kStoreFileName)).string();
    auto identity = read_whole(store_file);
    if (!identity) {
      problems.push_back(path + ": not a Cairn store (no " + std::string(format::kStoreFileName) + " file)");
    } else if (auto id = format::decode_store_file(*identity, store_file); !id.ok()) {
      problems.push_back(id.status().to_string());
    }
    if (fs::exists(fs::path(path) / std::string(format::kCheckpointMarkerName), ec)) {
      problems.push_back(path + ": incomplete checkpoint (" + std::string(format::kCheckpointMarkerName) +
                         " is present): a Store::checkpoint into it did not finish");
    }
    verify_snapshots(path, problems);
  }
  uint64_t events = 0;
  std::optional<format::SegmentName> previous;
  bool end_known = false;  // not after a damaged segment
  uint64_t previous_end = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& file = files[i];
    if (progress) err << "\rverify: segment " << (i + 1) << " of " << files.size() << std::flush;
    auto name = format::parse_segment_file_name(fs::path(file).filename().string());
    auto bytes = read_whole(file);
    if (!bytes) {
      problems.push_back(file + ": cannot read the file");
      continue;
    }
    if (is_dir && previous && name->sequence != previous->sequence + 1) {
      problems.push_back(file + ": segment " + std::to_string(previous->sequence + 1) + " is missing before it");
    }
    if (is_dir && end_known && name->first_position != previous_end) {
      problems.push_back(file + ": starts at position " + std::to_string(name->first_position) +
                         ", but the previous segment ends at " + std::to_string(previous_end));
    }
    bool is_last = !is_dir || i + 1 == files.size();
    SegmentReport report = scan_file(*bytes, file, is_last, nullptr);
    problems.insert(problems.end(), report.problems.begin(), report.problems.end());
    if (report.scan) {
      if (name && (report.scan->header.sequence != name->sequence ||
                   report.scan->header.first_position != name->first_position)) {
        problems.push_back(format::file_offset(file, 16) + ": header does not match the file name");
      }
      events += report.scan->event_count;
      previous_end = report.scan->header.first_position + report.scan->event_count;
    }
    end_known = report.scan.has_value() && report.problems.empty();
    previous = name;
  }
  if (progress) err << "\r" << std::string(40, ' ') << "\r" << std::flush;
  for (const std::string& p : problems) print_problem(p, json, out);
  if (json) {
    out << "{\"kind\":\"summary\",\"path\":" << json_string(path) << ",\"segments\":" << files.size()
        << ",\"events\":" << events << ",\"problems\":" << problems.size() << "}\n";
  } else {
    out << path << ": " << files.size() << " segment(s), " << events << " events, " << problems.size()
        << " problem(s)\n";
  }
  return static_cast<int>(problems.size());
}

}  // namespace cairn::tools
