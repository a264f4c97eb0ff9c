// cairn: offline inspection of Cairn segment files and stores.
//
//   cairn dump FILE [--data] [--json]   header, batches and events of one segment file
//   cairn verify DIR|FILE [--json]       every check, each problem with file and offset
//
// Exit codes: 0 ok, 1 problems found, 2 usage or unreadable input.
// Never modifies anything.
#include "tools/inspect.h"

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: cairn <command> [arguments]\n"
    "  cairn dump FILE [--data] [--json]   print a segment file: header, batches, events\n"
    "        --data  show data and metadata (text when printable, else hex:...)\n"
    "        --json  one JSON object per line\n"
    "  cairn verify DIR|FILE [--json]       check a store directory or one segment file\n"
    "  cairn help                           this text\n"
    "exit codes: 0 ok, 1 problems found, 2 usage or unreadable input\n";

int usage(const std::string& why) {
  if (!why.empty()) std::cerr << "cairn: " << why << "\n";
  std::cerr << kUsage;
  return 2;
}

int exit_code(int problems) { return problems < 0 ? 2 : problems > 0 ? 1 : 0; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no command");
  std::string command = args[0];
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return 0;
  }
  std::vector<std::string> positional;
  cairn::tools::DumpOptions options;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--data") {
      options.data = true;
    } else if (args[i] == "--json") {
      options.json = true;
    } else if (args[i].rfind("--", 0) == 0) {
      return usage("unknown option " + args[i]);
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 1) return usage(command + " takes exactly one path");
  if (command == "dump") {
    return exit_code(cairn::tools::dump_segment(positional[0], options, std::cout, std::cerr));
  }
  if (command == "verify") {
    if (options.data) return usage("verify has no --data");
    return exit_code(cairn::tools::verify_path(positional[0], options.json, std::cout, std::cerr));
  }
  return usage("unknown command " + command);
}
