#include "tools/tail.h"

#include "format/frame.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"
#include "tools/store_commands.h"

#include <cairn/store.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

namespace cairn::tools {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_from(const std::string& path, uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(static_cast<std::streamoff>(offset));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The path of segment `sequence`, when it exists.
std::optional<std::string> segment_path(const std::string& dir, uint64_t sequence) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = format::parse_segment_file_name(e.path().filename().string());
    if (name && name->sequence == sequence) return e.path().string();
  }
  return std::nullopt;
}

// Follows one segment file from `offset`, printing events at `next` and
// after. Returns true when the segment was sealed (move to the next one).
struct Follower {
  std::string path;
  uint64_t sequence = 0;
  uint64_t offset = format::kSegmentHeaderSize;
  uint64_t next = 0;  // the next position to print

  bool poll(bool json, std::ostream& out) {
    auto bytes = read_from(path, offset);
    if (!bytes) return false;
    std::string_view rest = *bytes;
    while (true) {
      format::Frame f = format::parse_frame(rest);
      if (f.status != format::FrameStatus::kOk) return false;  // not written (completely) yet
      if (f.type == format::FrameType::kFooter) return true;
      auto batch = format::BatchView::decode(f.body, format::file_offset(path, offset));
      if (!batch.ok()) return false;
      batch->for_each([&](uint32_t i, const format::EventView& e) {
        uint64_t position = batch->stamp().first_position + i;
        if (position < next) return true;
        RecordedEvent ev{std::string(batch->stream()), batch->stamp().first_version + i, position, e.id,
                         std::string(e.type), std::string(e.data), std::string(e.metadata),
                         batch->stamp().timestamp_ns};
        print_event(ev, json, out);
        next = position + 1;
        return true;
      });
      offset += f.size;
      rest.remove_prefix(f.size);
    }
  }
};

}  // namespace

int tail_command(const std::string& dir, const TailOptions& o, std::ostream& out, std::ostream& err,
                 const std::function<bool()>& keep_going) {
  // Start in the segment holding `from`: the last one starting at or before it.
  std::optional<format::SegmentName> start;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    auto name = format::parse_segment_file_name(e.path().filename().string());
    if (name && name->first_position <= o.from && (!start || name->sequence > start->sequence)) start = name;
  }
  if (ec || !start) {
    err << "cairn: " << dir << ": not a Cairn store with segment files\n";
    return -1;
  }
  Follower follower{*segment_path(dir, start->sequence), start->sequence, format::kSegmentHeaderSize, o.from};
  while (keep_going()) {
    if (follower.poll(o.json, out)) {
      // Sealed: the next segment holds what follows.
      std::optional<std::string> path;
      while (!(path = segment_path(dir, follower.sequence + 1)) && keep_going()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
      }
      if (!path) break;
      follower = Follower{*path, follower.sequence + 1, format::kSegmentHeaderSize, follower.next};
      continue;
    }
    out.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
  }
  return 0;
}

}  // namespace cairn::tools
