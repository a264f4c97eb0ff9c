#include "tools/store_commands.h"

#include "tools/text.h"

#include <cairn/store.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <memory>
#include <vector>

namespace cairn::tools {
namespace {

std::unique_ptr<Store> open_read_only(const std::string& dir, std::ostream& err) {
  Options options;
  options.read_only = true;
  options.create_if_missing = false;
  options.info_log = [&err](std::string_view note) { err << "cairn: " << note << "\n"; };
  auto store = Store::open(dir, options);
  if (!store.ok()) {
    err << "cairn: " << store.status().to_string() << "\n";
    return nullptr;
  }
  return std::move(store).value();
}

// Text for a terminal: printable UTF-8 as it is, anything else as base64.
std::string shown(std::string_view bytes) {
  bool text = valid_utf8(bytes) && std::none_of(bytes.begin(), bytes.end(), [](char c) {
                return static_cast<unsigned char>(c) < 0x20 && c != '\t';
              });
  return text ? std::string(bytes) : "base64:" + base64(bytes);
}

}  // namespace

void print_event(const RecordedEvent& e, bool json, std::ostream& out) {
  if (json) {
    out << "{\"position\":" << e.position << ",\"stream\":" << json_string(e.stream) << ",\"version\":" << e.version
        << ",\"type\":" << json_string(e.type) << ",\"id\":\"" << e.id.to_hex() << "\",\"timestamp\":" << e.timestamp_ns
        << "," << json_bytes_field("data", e.data) << "," << json_bytes_field("metadata", e.metadata) << "}\n";
    return;
  }
  out << "#" << e.position << " " << e.stream << "@" << e.version << " " << e.type << " " << e.id.to_hex() << " "
      << e.timestamp_ns << " " << shown(e.data);
  if (!e.metadata.empty()) out << " metadata " << shown(e.metadata);
  out << "\n";
}

namespace {

// Pages through a read in either direction from o.from (or the start or end),
// printing up to o.max events of type o.type (any when empty). `fetch(from,
// count)` reads one page; `key` gives an event's version or position, which
// the pages advance by.
template <typename Fetch, typename Key>
Status print_pages(const ReadOptions& o, Fetch fetch, Key key, std::ostream& out) {
  uint64_t next = o.has_from ? o.from : (o.backward ? kEnd : 0);
  uint64_t left = o.max;
  while (left > 0) {
    Result<std::vector<RecordedEvent>> page = fetch(next, 4096);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const RecordedEvent& e : *page) {
      if (left == 0) break;
      if (!o.type.empty() && e.type != o.type) continue;
      print_event(e, o.json, out);
      --left;
    }
    uint64_t last = key(page->back());
    if (o.backward && last == 0) break;
    next = o.backward ? last - 1 : last + 1;
  }
  return Status();
}

}  // namespace

int read_stream_command(const std::string& dir, const std::string& stream, const ReadOptions& o,
                        std::ostream& out, std::ostream& err) {
  auto store = open_read_only(dir, err);
  if (!store) return -1;
  Direction direction = o.backward ? Direction::kBackward : Direction::kForward;
  Status s = print_pages(
      o, [&](uint64_t from, size_t count) { return store->read_stream(stream, from, count, direction); },
      [](const RecordedEvent& e) { return e.version; }, out);
  if (s.code() == Code::kNotFound) {
    err << "cairn: " << dir << ": " << s.message() << "\n";
    return 1;
  }
  if (!s.ok()) {
    err << "cairn: " << s.to_string() << "\n";
    return -1;
  }
  return 0;
}

int read_all_command(const std::string& dir, const ReadOptions& o, std::ostream& out, std::ostream& err) {
  auto store = open_read_only(dir, err);
  if (!store) return -1;
  Direction direction = o.backward ? Direction::kBackward : Direction::kForward;
  Status s = print_pages(
      o, [&](uint64_t from, size_t count) { return store->read_all(from, count, direction); },
      [](const RecordedEvent& e) { return e.position; }, out);
  if (!s.ok()) {
    err << "cairn: " << s.to_string() << "\n";
    return -1;
  }
  return 0;
}

int stat_command(const std::string& dir, bool json, std::ostream& out, std::ostream& err) {
  auto store = open_read_only(dir, err);
  if (!store) return -1;
  std::map<std::string, uint64_t> by_stream;
  std::map<std::string, uint64_t> by_type;
  uint64_t bytes = 0;
  for (uint64_t next = 0;;) {
    auto page = store->read_all(next, 4096);
    if (!page.ok()) {
      err << "cairn: " << page.status().to_string() << "\n";
      return -1;
    }
    if (page->empty()) break;
    for (const RecordedEvent& e : *page) {
      by_stream[e.stream]++;
      by_type[e.type]++;
      bytes += e.data.size() + e.metadata.size();
    }
    next = page->back().position + 1;
  }
  auto top = [](const std::map<std::string, uint64_t>& counts) {
    std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
    if (v.size() > 5) v.resize(5);
    return v;
  };
  StoreStats stats = store->stats();
  uint64_t events = store->next_position();
  uint64_t file_bytes = 0;  // of the segment files
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".seg") file_bytes += e.file_size(ec);
  }
  // Until the persistent index exists, every open rebuilds it from the log.
  constexpr const char* kIndexState = "in memory, rebuilt from the segments on open";
  if (json) {
    auto list = [](const std::vector<std::pair<std::string, uint64_t>>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) s += ',';
        s += "{\"name\":";
        s += json_string(v[i].first);
        s += ",\"events\":";
        s += std::to_string(v[i].second);
        s += '}';
      }
      s += ']';
      return s;
    };
    out << "{\"path\":" << json_string(dir) << ",\"segments\":" << stats.segments
        << ",\"segment_bytes\":" << file_bytes << ",\"index\":" << json_string(kIndexState)
        << ",\"events\":" << events
        << ",\"streams\":" << by_stream.size() << ",\"payload_bytes\":" << bytes
        << ",\"first_position\":" << (events ? "0" : "null") << ",\"last_position\":"
        << (events ? std::to_string(events - 1) : "null") << ",\"top_streams\":" << list(top(by_stream))
        << ",\"top_types\":" << list(top(by_type)) << "}\n";
    return 0;
  }
  out << dir << ": " << stats.segments << " segment(s) of " << file_bytes << " bytes, " << events
      << " events in " << by_stream.size() << " streams, " << bytes << " bytes of data and metadata\n";
  out << "index: " << kIndexState << "\n";
  if (events > 0) out << "positions 0.." << events - 1 << "\n";
  out << "top streams:";
  for (const auto& [name, n] : top(by_stream)) out << " " << name << " (" << n << ")";
  out << "\ntop types:";
  for (const auto& [name, n] : top(by_type)) out << " " << name << " (" << n << ")";
  out << "\n";
  return 0;
}

namespace {

std::optional<ExpectedVersion> parse_expected(const std::string& s) {
  if (s == "any") return ExpectedVersion::any();
  if (s == "no-stream") return ExpectedVersion::no_stream();
  if (s == "exists") return ExpectedVersion::stream_exists();
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19) return std::nullopt;
  return ExpectedVersion::exactly(std::stoull(s));
}

void print_appended(const AppendResult& r, bool json, std::ostream& out) {
  if (json) {
    out << "{\"first_version\":" << r.first_version << ",\"first_position\":" << r.first_position
        << ",\"count\":" << r.count << ",\"deduplicated\":" << (r.deduplicated ? "true" : "false") << "}\n";
    return;
  }
  out << "versions " << r.first_version << ".." << r.last_version() << " at positions " << r.first_position
      << ".." << r.last_position() << "\n";
}

}  // namespace

int append_command(const std::string& dir, const std::string& stream, const AppendOptions& o,
                   std::istream& in, std::ostream& out, std::ostream& err) {
  auto expected = parse_expected(o.expected);
  if (!expected) {
    err << "cairn: --expected takes any, no-stream, exists or a version, not '" << o.expected << "'\n";
    return -1;
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) {
    err << "cairn: no lines on standard input: nothing to append\n";
    return -1;
  }
  Options options;  // append creates the store when the directory is missing or empty
  options.info_log = [&err](std::string_view note) { err << "cairn: " << note << "\n"; };
  auto opened = Store::open(dir, options);
  if (!opened.ok()) {
    err << "cairn: " << opened.status().to_string() << "\n";
    return -1;
  }
  Store& store = **opened;
  std::vector<NewEvent> events;
  for (const std::string& line : lines) events.push_back(NewEvent{EventId::random(), o.type, line, ""});
  size_t per_append = o.batch ? events.size() : 1;
  for (size_t i = 0; i < events.size(); i += per_append) {
    auto r = store.append(stream, *expected, std::span(events).subspan(i, per_append));
    if (!r.ok()) {
      err << "cairn: " << r.status().to_string() << "\n";
      if (r.status().code() != Code::kWrongExpectedVersion) return -1;
      auto actual = r.status().actual_version();
      err << "actual version: " << (actual ? std::to_string(*actual) : "none (no stream)") << "\n";
      return 3;
    }
    print_appended(*r, o.json, out);
    expected = ExpectedVersion::exactly(r->last_version());
  }
  return 0;
}

}  // namespace cairn::tools
