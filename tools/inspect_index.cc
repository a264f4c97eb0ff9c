// `cairn dump` of index files (FORMAT.md §10), over format/ only: the header,
// then every record, then any block that fails its checksum.
#include "tools/inspect.h"

#include "format/coding.h"
#include "format/index_file.h"
#include "format/segment_scan.h"
#include "tools/text.h"

#include <string>
#include <string_view>

namespace cairn::tools {
namespace {

std::string_view name_in(const format::IndexFile& f, uint64_t names_at, uint64_t names_size, uint32_t offset,
                         uint16_t len) {
  if (uint64_t{offset} + len > names_size) return "<name out of range>";
  return f.body.substr(names_at + offset, len);
}

void dump_segment_index(const format::SegmentIndexHeader& h, const format::IndexFile& f, const DumpOptions& o,
                        std::ostream& out) {
  Line(out, o.json, "segment-index")
      .num("sequence", h.sequence).num("first_position", h.first_position).num("events", h.event_count)
      .num("batches", h.batch_count).num("data_end", h.data_end).num("sealed", h.sealed() ? 1 : 0)
      .num("streams", h.stream_count).num("bitmaps_bytes", h.bitmaps_size);
  format::SegmentIndexLayout l = format::segment_index_layout(h);
  for (uint64_t i = 0; i < h.batch_count; ++i) {
    format::IndexBatch b = format::get_index_batch(f.body.data() + l.batches + i * format::kIndexBatchSize);
    Line(out, o.json, "batch").num("ordinal", i).num("offset", b.offset)
        .num("position", h.first_position + b.relative_position).num("count", b.count);
  }
  for (uint64_t i = 0; i < h.stream_count; ++i) {
    format::SegmentIndexStream s = format::get_index_stream(f.body.data() + l.streams + i * format::kIndexStreamSize);
    std::string batches;
    for (uint64_t k = 0; k < s.list_count && uint64_t{s.list_start} + k < h.batch_count; ++k) {
      format::IndexListEntry e =
          format::get_list_entry(f.body.data() + l.lists + (s.list_start + k) * format::kIndexListSize);
      batches += (k ? "," : "") + std::to_string(s.first_version + e.version_delta) + "@" + std::to_string(e.batch);
    }
    Line(out, o.json, "stream").text("name", name_in(f, l.names, h.names_size, s.name_offset, s.name_len))
        .num("first_version", s.first_version).text("versions_at_batches", batches);
  }
}

void dump_streams(const format::StreamsHeader& h, const format::IndexFile& f, const DumpOptions& o,
                  std::ostream& out) {
  Line(out, o.json, "stream-directory-run")
      .num("first_segment", h.first_segment).num("last_segment", h.last_segment)
      .num("end_position", h.end_position).num("streams", h.stream_count).num("slots", h.slot_count);
  format::StreamsLayout l = format::streams_layout(h);
  for (uint64_t i = 0; i < h.slot_count; ++i) {
    format::StreamsSlot s = format::get_streams_slot(f.body.data() + l.slots + i * format::kStreamsSlotSize);
    if (s.hash == 0) continue;
    std::string segments;
    for (uint64_t k = 0; k < s.entry_count && uint64_t{s.entry_start} + k < h.entry_count; ++k) {
      format::StreamsEntry e =
          format::get_streams_entry(f.body.data() + l.entries + (s.entry_start + k) * format::kStreamsEntrySize);
      segments += (k ? "," : "") + std::to_string(e.sequence) + ":" + std::to_string(e.first_version);
    }
    Line(out, o.json, "stream").text("name", name_in(f, l.names, h.names_size, s.name_offset, s.name_len))
        .num("slot", i).num("next_version", s.next_version).num("last_position", s.last_position)
        .text("segment_first_versions", segments);
  }
}

}  // namespace

bool is_index_file(std::string_view bytes) {
  return bytes.substr(0, 8) == format::kSegmentIndexMagic || bytes.substr(0, 8) == format::kStreamsMagic;
}

int dump_index(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out) {
  format::IndexFile f;
  std::vector<std::string> problems;
  // Records are printed only from a file whose every block checks out.
  auto blocks_good = [&] {
    for (size_t b = 0; b < f.block_count(); ++b) {
      if (format::verify_block(f, b)) continue;
      problems.push_back(format::file_offset(path, format::kIndexHeaderSize + b * f.block_size) +
                         ": index block checksum mismatch");
    }
    return problems.empty();
  };
  if (bytes.substr(0, 8) == format::kSegmentIndexMagic) {
    auto h = format::decode_segment_index_header(bytes, path, f);
    if (!h.ok()) problems.push_back(h.status().message());
    else if (blocks_good()) dump_segment_index(*h, f, options, out);
  } else {
    auto h = format::decode_streams_header(bytes, path, f);
    if (!h.ok()) problems.push_back(h.status().message());
    else if (blocks_good()) dump_streams(*h, f, options, out);
  }
  for (const std::string& p : problems) print_problem(p, options.json, out);
  return static_cast<int>(problems.size());
}

}  // namespace cairn::tools
