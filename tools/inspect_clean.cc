// `cairn dump CLEAN` (FORMAT.md §13), over format/ only: the clean-close
// record's fields, or why it cannot be used.
#include "tools/inspect.h"

#include "format/clean_record.h"
#include "tools/text.h"

#include <string>
#include <string_view>

namespace cairn::tools {

bool is_clean_file(const std::string& path, std::string_view bytes) {
  std::string_view name(path);
  name = name.substr(name.rfind('/') == std::string_view::npos ? 0 : name.rfind('/') + 1);
  return bytes.substr(0, 8) == format::kCleanMagic || name == format::kCleanFileName;
}

int dump_clean(const std::string& path, std::string_view bytes, const DumpOptions& options, std::ostream& out) {
  if (format::is_invalidated_clean_record(bytes)) {
    // What the first append after an open leaves: not a problem.
    Line(out, options.json, "clean_close").text("state", "invalidated");
    return 0;
  }
  auto record = format::decode_clean_record(bytes, path);
  if (!record.ok()) {
    print_problem(record.status().message() + " (an open ignores it and checks the log's tail)", options.json, out);
    return 1;
  }
  Line(out, options.json, "clean_close")
      .text("state", "valid")
      .text("store_id", hex_id(record->store_id))
      .num("segment", record->segment_sequence)
      .num("data_end", record->data_end)
      .num("next_position", record->next_position);
  return 0;
}

}  // namespace cairn::tools
