// `cairn dump SUBSCRIPTIONS` (FORMAT.md §12), over format/ only: the header,
// every record in file order, and a torn tail or damage as a problem.
#include "tools/inspect.h"

#include "format/coding.h"
#include "format/segment_scan.h"
#include "format/subscription_file.h"
#include "tools/text.h"

#include <string>
#include <string_view>

namespace cairn::tools {

bool is_subscriptions_file(std::string_view bytes) { return bytes.substr(0, 8) == "CAIRNSUB"; }

int dump_subscriptions(const std::string& path, std::string_view bytes, const DumpOptions& options,
                       std::ostream& out) {
  auto content = format::decode_subscriptions(bytes, path);
  if (!content.ok()) {
    print_problem(content.status().message(), options.json, out);
    return 1;
  }
  Line(out, options.json, "subscriptions")
      .text("store_id", hex_id(content->store_id)).num("records", content->records)
      .num("live", content->cursors.size()).num("valid_end", content->valid_end);
  // Every record in file order (the decoder checked each one).
  for (uint64_t at = format::kSubscriptionsHeaderSize; at < content->valid_end;) {
    const char* record = bytes.data() + at;
    uint32_t body_size = format::get_u32(record);
    const char* body = record + format::kSubscriptionRecordHeaderSize;
    std::string_view name(body + 10, format::get_u16(body + 8));
    uint64_t cursor = format::get_u64(body);
    Line line(out, options.json, cursor == format::kRemovedCursor ? "removed" : "checkpoint");
    line.num("offset", at).text("name", name);
    if (cursor != format::kRemovedCursor) line.num("cursor", cursor);
    at += format::kSubscriptionRecordHeaderSize + body_size;
  }
  if (!content->torn_tail) return 0;
  print_problem(format::file_offset(path, content->valid_end) + ": torn tail of " +
                    std::to_string(bytes.size() - content->valid_end) + " bytes (cut off by the next save)",
                options.json, out);
  return 1;
}

}  // namespace cairn::tools
