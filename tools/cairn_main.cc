// cairn: offline inspection of Cairn segment files and stores.
//
// Exit codes: 0 ok, 1 problems found (or the stream does not exist), 2 usage
// or unreadable input, 3 a version conflict (append). Only `append` writes
// to a store (and `checkpoint` to its target); every other command opens
// stores read-only, without the writer's lock, so a writer process may hold
// them meanwhile.
#include "tools/checkpoint_command.h"
#include "tools/inspect.h"
#include "tools/store_commands.h"
#include "tools/tail.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: cairn <command> [arguments]\n"
    "  cairn dump FILE [--data] [--json] [--stream S] [--type T] [--from P] [--to P]\n"
    "        a segment file: header, batches, events (only those matching the filters;\n"
    "        positions --from..--to inclusive); --data shows data and metadata\n"
    "        (text when printable, else hex:...); also an index file (.idx, STREAMS-*),\n"
    "        SUBSCRIPTIONS, a snapshot file or CLEAN (the clean-close record)\n"
    "  cairn verify DIR|FILE [--json]            check every checksum, footer, name and position;\n"
    "                                            each problem with file and byte offset\n"
    "  cairn read DIR STREAM [--backward] [--from VERSION] [--max N] [--json]\n"
    "  cairn read-all DIR [--backward] [--from POSITION] [--max N] [--type T] [--json]\n"
    "  cairn stat DIR [--json]                   segments, events, streams, top streams and types\n"
    "  cairn tail DIR [--from POSITION] [--json]  print from POSITION, then follow new events\n"
    "  cairn append DIR STREAM --type T [--expected any|no-stream|exists|N] [--batch] [--json]\n"
    "        one event per line of standard input (the line is its data); each line its own\n"
    "        append, or all lines as one atomic batch; a version conflict exits 3\n"
    "  cairn checkpoint DIR TARGET [--copy] [--json]  online backup: a copy of the store as of one\n"
    "        position (hard links for sealed segments, --copy: copies); TARGET must be missing,\n"
    "        empty or an earlier checkpoint of DIR (then only what changed is copied); restore\n"
    "        by opening TARGET as the store\n"
    "  cairn help\n"
    "--json prints one JSON object per line; event fields: position, stream, version, type, id,\n"
    "timestamp, data, metadata (bytes that are not UTF-8 as data_base64 / metadata_base64).\n"
    "exit codes: 0 ok, 1 problems found or no such stream, 2 usage or unreadable input,\n"
    "3 wrong expected version (append). Only append writes to a store (checkpoint writes TARGET).\n";

int usage(const std::string& why) {
  if (!why.empty()) std::cerr << "cairn: " << why << "\n";
  std::cerr << kUsage;
  return 2;
}

int exit_code(int result) { return result < 0 ? 2 : result > 0 ? 1 : 0; }

std::optional<uint64_t> number(const std::string& s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --from, --max, --type
  std::map<std::string, bool> flags;          // --json, --data, --backward
};

// Parses `args` allowing only the named flags and valued options.
std::optional<Args> parse(const std::vector<std::string>& args, const std::vector<std::string>& flags,
                          const std::vector<std::string>& valued, std::string& why) {
  Args out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      out.positional.push_back(a);
    } else if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      out.flags[a] = true;
    } else if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
      if (i + 1 == args.size()) {
        why = a + " needs a value";
        return std::nullopt;
      }
      out.values[a] = args[++i];
    } else {
      why = "unknown option " + a;
      return std::nullopt;
    }
  }
  return out;
}

int read_command(const std::string& command, const std::vector<std::string>& rest) {
  std::string why;
  std::vector<std::string> valued = {"--from", "--max"};
  if (command == "read-all") valued.push_back("--type");
  auto args = parse(rest, {"--json", "--backward"}, valued, why);
  if (!args) return usage(why);
  size_t wanted = command == "read" ? 2 : 1;
  if (args->positional.size() != wanted) return usage(command + ": wrong number of arguments");
  cairn::tools::ReadOptions o;
  o.json = args->flags.count("--json") > 0;
  o.backward = args->flags.count("--backward") > 0;
  if (auto it = args->values.find("--from"); it != args->values.end()) {
    auto v = number(it->second);
    if (!v) return usage("--from takes a number, not '" + it->second + "'");
    o.has_from = true;
    o.from = *v;
  }
  if (auto it = args->values.find("--max"); it != args->values.end()) {
    auto v = number(it->second);
    if (!v) return usage("--max takes a number, not '" + it->second + "'");
    o.max = *v;
  }
  if (auto it = args->values.find("--type"); it != args->values.end()) o.type = it->second;
  const std::string& dir = args->positional[0];
  if (command == "read") {
    return exit_code(cairn::tools::read_stream_command(dir, args->positional[1], o, std::cout, std::cerr));
  }
  return exit_code(cairn::tools::read_all_command(dir, o, std::cout, std::cerr));
}

int append_main(const std::vector<std::string>& rest) {
  std::string why;
  auto args = parse(rest, {"--batch", "--json"}, {"--type", "--expected"}, why);
  if (!args) return usage(why);
  if (args->positional.size() != 2) return usage("append: wrong number of arguments");
  cairn::tools::AppendOptions o;
  auto type = args->values.find("--type");
  if (type == args->values.end() || type->second.empty()) return usage("append needs --type");
  o.type = type->second;
  if (auto it = args->values.find("--expected"); it != args->values.end()) o.expected = it->second;
  o.batch = args->flags.count("--batch") > 0;
  o.json = args->flags.count("--json") > 0;
  int r = cairn::tools::append_command(args->positional[0], args->positional[1], o, std::cin, std::cout, std::cerr);
  return r == 3 ? 3 : exit_code(r);
}

int checkpoint_main(const std::vector<std::string>& rest) {
  std::string why;
  auto args = parse(rest, {"--copy", "--json"}, {}, why);
  if (!args) return usage(why);
  if (args->positional.size() != 2) return usage("checkpoint takes a store directory and a target directory");
  cairn::tools::CheckpointCommandOptions o;
  o.copy = args->flags.count("--copy") > 0;
  o.json = args->flags.count("--json") > 0;
  return exit_code(cairn::tools::checkpoint_command(args->positional[0], args->positional[1], o, std::cout, std::cerr));
}

int tail_main(const std::vector<std::string>& rest) {
  std::string why;
  auto args = parse(rest, {"--json"}, {"--from"}, why);
  if (!args) return usage(why);
  if (args->positional.size() != 1) return usage("tail takes exactly one directory");
  cairn::tools::TailOptions o;
  o.json = args->flags.count("--json") > 0;
  if (auto it = args->values.find("--from"); it != args->values.end()) {
    auto v = number(it->second);
    if (!v) return usage("--from takes a number, not '" + it->second + "'");
    o.from = *v;
  }
  return exit_code(cairn::tools::tail_command(args->positional[0], o, std::cout, std::cerr, [] { return true; }));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no command");
  std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  bool wants_help = std::find(args.begin(), args.end(), "--help") != args.end();
  if (command == "help" || command == "--help" || command == "-h" || wants_help) {
    std::cout << kUsage;
    return 0;
  }
  if (command == "read" || command == "read-all") return read_command(command, rest);
  if (command == "append") return append_main(rest);
  if (command == "tail") return tail_main(rest);
  if (command == "checkpoint") return checkpoint_main(rest);
  std::string why;
  std::vector<std::string> flags = {"--json"};
  std::vector<std::string> valued;
  if (command == "dump") {
    flags.push_back("--data");
    valued = {"--stream", "--type", "--from", "--to"};
  }
  auto parsed = parse(rest, flags, valued, why);
  if (!parsed) return usage(why);
  if (parsed->positional.size() != 1) return usage(command + " takes exactly one path");
  const std::string& path = parsed->positional[0];
  bool json = parsed->flags.count("--json") > 0;
  if (command == "dump") {
    cairn::tools::DumpOptions options;
    options.data = parsed->flags.count("--data") > 0;
    options.json = json;
    for (const auto& [name, value] : parsed->values) {
      if (name == "--stream") options.stream = value;
      if (name == "--type") options.type = value;
      if (name == "--from" || name == "--to") {
        auto v = number(value);
        if (!v) return usage(name + " takes a number, not '" + value + "'");
        (name == "--from" ? options.from : options.to) = *v;
      }
    }
    return exit_code(cairn::tools::dump_segment(path, options, std::cout, std::cerr));
  }
  if (command == "verify") {
    bool progress = ::isatty(STDERR_FILENO) != 0;
    return exit_code(cairn::tools::verify_path(path, json, std::cout, std::cerr, progress));
  }
  if (command == "stat") return exit_code(cairn::tools::stat_command(path, json, std::cout, std::cerr));
  return usage("unknown command " + command);
}
