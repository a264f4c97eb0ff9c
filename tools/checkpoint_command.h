// `cairn checkpoint DIR TARGET`: an online backup of the store in DIR into
// TARGET (Store::checkpoint), for scripts and cron jobs.
#pragma once

#include <ostream>
#include <string>

namespace cairn::tools {

struct CheckpointCommandOptions {
  bool copy = false;  // copy every file instead of hard-linking immutable ones
  bool json = false;  // one JSON object instead of a line of text
};

// Opens DIR read-only (no lock: it works while a writer process holds the
// store; the copy then holds what the store held when it was opened), takes
// the checkpoint and prints its position and what was linked, copied, kept
// and removed. Returns 0, or -1 on an error (printed to `err`).
int checkpoint_command(const std::string& dir, const std::string& target, const CheckpointCommandOptions& options,
                       std::ostream& out, std::ostream& err);

}  // namespace cairn::tools
