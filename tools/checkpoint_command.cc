#include "tools/checkpoint_command.h"

#include "tools/text.h"

#include <cairn/store.h>

#include <chrono>

namespace cairn::tools {
namespace {

void print_result(const std::string& dir, const std::string& target, const CheckpointResult& r, double ms,
                  bool json, std::ostream& out) {
  if (json) {
    out << "{\"store\":" << json_string(dir) << ",\"target\":" << json_string(target) << ",\"position\":" << r.position
        << ",\"segments\":" << r.segments << ",\"files_linked\":" << r.files_linked
        << ",\"bytes_linked\":" << r.bytes_linked << ",\"files_copied\":" << r.files_copied
        << ",\"bytes_copied\":" << r.bytes_copied << ",\"files_kept\":" << r.files_kept
        << ",\"bytes_kept\":" << r.bytes_kept << ",\"files_removed\":" << r.files_removed << ",\"ms\":" << ms
        << "}\n";
    return;
  }
  out << dir << " -> " << target << ": checkpoint at position " << r.position << " (" << r.segments
      << " segments): linked " << r.files_linked << " files (" << r.bytes_linked << " bytes), copied "
      << r.files_copied << " (" << r.bytes_copied << " bytes), kept " << r.files_kept << " (" << r.bytes_kept
      << " bytes), removed " << r.files_removed << ", " << ms << " ms\n";
}

}  // namespace

int checkpoint_command(const std::string& dir, const std::string& target, const CheckpointCommandOptions& options,
                       std::ostream& out, std::ostream& err) {
  Options open_options;
  open_options.read_only = true;
  open_options.create_if_missing = false;
  open_options.info_log = [&err](std::string_view note) { err << "cairn: " << note << "\n"; };
  auto start = std::chrono::steady_clock::now();
  auto store = Store::open(dir, open_options);
  if (!store.ok()) {
    err << "cairn checkpoint: " << store.status().to_string() << "\n";
    return -1;
  }
  CheckpointOptions checkpoint_options;
  checkpoint_options.copy = options.copy;
  auto result = (*store)->checkpoint(target, checkpoint_options);
  if (!result.ok()) {
    err << "cairn checkpoint: " << result.status().to_string() << "\n";
    return -1;
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  print_result(dir, target, *result, ms, options.json, out);
  return 0;
}

}  // namespace cairn::tools
