// The SIGKILL crash test of the core store.
//
// Each cycle runs cairn-crash-writer (tests/crash/crash_writer.cc) on one
// store directory, reads its ACK lines through a pipe, SIGKILLs it after a
// random delay (sometimes right after READY, sometimes before it), then, since
// a SIGKILL loses no page-cache data, sometimes damages the tail of the active
// segment the way a torn, unsynced write would (garbage or zeros after the
// last frame, the tail cut short, a lost page in the last group commit; never
// touching acknowledged bytes, see damage_tail), then opens the store
// in-process and checks:
//   (a) every acknowledged append (of any cycle so far) is there, at its acked
//       versions and positions, every byte equal to the recomputed event;
//   (b) positions 0 .. next_position-1 are contiguous in read_all, every
//       event recomputes byte for byte and read_stream returns the same
//       events (so nothing was stored that was never appended);
//   (c) every stream's versions are contiguous from 0;
//   (d) every batch is whole: acked appends and unacknowledged ones alike;
//   (e) next_position is past every acked position;
// and that reopening gives the same state again (a cut torn tail stays cut).
// The next cycle's writer reopens the same store, so recovery always runs
// over a store with history; its READY line must report the next_position
// the checker saw. Everything goes through the public API except damage_tail,
// which reads segment offsets with format::scan_segment to damage only bytes
// a crash could have lost.
//
// Environment:
//   CAIRN_CRASH_SEED             seed (default: time-based; printed either way)
//   CAIRN_CRASH_CYCLES           cycles (default: CAIRN_CRASH_DEFAULT_CYCLES, which the
//                                crash_test_long ctest entry sets to 1000; else 25)
//   CAIRN_CRASH_CYCLES_PER_STORE cycles on one store before starting a fresh one
//                                (default: CAIRN_CRASH_DEFAULT_CYCLES_PER_STORE, 40 for
//                                crash_test_long; else 10). Bounds the store's size, and
//                                so the cost of checking it all after every kill.
//   CAIRN_CRASH_DIR              work directory, kept (default: a new one under
//                                $TMPDIR, removed unless the test fails)
#include "crash/crash_check.h"
#include "crash/crash_common.h"
#include "format/clean_record.h"
#include "format/frame.h"
#include "format/segment_header.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <cairn/store.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef CAIRN_CRASH_WRITER
#error "CAIRN_CRASH_WRITER must name the cairn-crash-writer binary"
#endif

namespace cairn::crash {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Running the writer.

struct WriterRun {
  std::vector<std::string> lines;  // complete lines, in order
  std::string partial;             // bytes after the last newline (must be empty)
  bool ready = false;
  int wait_status = 0;
  bool exited_early = false;       // EOF before the kill: the writer died on its own
};

// How a cycle's writer is stopped.
struct KillPlan {
  bool before_ready = false;  // kill `delay` after the start, READY or not
  std::chrono::microseconds delay{0};
};

WriterRun run_writer(const std::string& store_dir, uint64_t seed, const KillPlan& plan,
                     const std::string& stderr_path) {
  WriterRun run;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return run;
  }
  int errfd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (errfd < 0) {
    ADD_FAILURE() << "open " << stderr_path << ": " << std::strerror(errno);
    return run;
  }
  std::string exe = CAIRN_CRASH_WRITER;
  std::string seed_arg = std::to_string(seed);
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    ::dup2(fds[1], 1);
    ::dup2(errfd, 2);
    ::execl(exe.c_str(), exe.c_str(), store_dir.c_str(), seed_arg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  ::close(errfd);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(fds[0]);
    return run;
  }

  std::string buf;
  auto take_lines = [&] {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      run.lines.push_back(buf.substr(0, nl));
      buf.erase(0, nl + 1);
    }
  };
  char chunk[1 << 16];
  std::optional<Clock::time_point> deadline;
  if (plan.before_ready) deadline = start + plan.delay;
  const auto ready_timeout = start + std::chrono::seconds(60);
  bool eof = false;
  while (true) {
    auto now = Clock::now();
    if (deadline && now >= *deadline) break;
    if (!deadline && now >= ready_timeout) {
      ADD_FAILURE() << "the writer printed no READY line within 60 s";
      break;
    }
    auto until = deadline ? *deadline : ready_timeout;
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(until - now);
    timespec ts{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
    pollfd p{fds[0], POLLIN, 0};
    int r = ::ppoll(&p, 1, &ts, nullptr);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    buf.append(chunk, static_cast<size_t>(n));
    size_t before = run.lines.size();
    take_lines();
    if (!run.ready) {
      for (size_t i = before; i < run.lines.size(); ++i) {
        if (run.lines[i].rfind("READY ", 0) == 0) {
          run.ready = true;
          if (!deadline) deadline = Clock::now() + plan.delay;
        }
      }
    }
  }
  run.exited_early = eof;
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
  }
  // The acks the writer wrote before it died count too.
  while (true) {
    ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  take_lines();
  run.partial = buf;
  for (const std::string& l : run.lines) {
    if (l.rfind("READY ", 0) == 0) run.ready = true;
  }
  return run;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---------------------------------------------------------------------------
// Damaging the tail of the active segment after the kill.

enum class TailDamage { kNone, kGarbage, kZeros, kChop, kLostPage };

const char* damage_name(TailDamage d) {
  switch (d) {
    case TailDamage::kNone: return "none";
    case TailDamage::kGarbage: return "garbage appended";
    case TailDamage::kZeros: return "zeros appended";
    case TailDamage::kChop: return "tail chopped";
    case TailDamage::kLostPage: return "page of the last group lost";
  }
  return "?";
}

struct DamageResult {
  TailDamage done = TailDamage::kNone;
  uint64_t bytes = 0;
  std::string file;
  bool into_footer = false;  // the chop cut into a sealed segment's footer
  std::string skipped;       // why the planned damage was not done
};

// The highest-numbered segment file of `dir`, or "".
std::string active_segment(const std::string& dir) {
  std::string best;
  uint64_t best_seq = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (auto parsed = format::parse_segment_file_name(name); parsed && parsed->sequence >= best_seq) {
      best_seq = parsed->sequence;
      best = entry.path().string();
    }
  }
  return best;
}

// Applies `planned` to the active segment, only in ways a crash could produce:
//   garbage/zeros: bytes appended after the last frame (a torn, unsynced
//     write; never after a footer, since nothing is written after a footer);
//   chop: the last bytes cut off, never reaching into the last acknowledged
//     batch (whose bytes, and all before them, were durable), into the
//     segment header (written and synced before the segment got its name), or,
//     in a sealed segment, past the footer (the batches were synced before
//     the footer was written; the footer itself may not have been);
//   lost page: one 4 KiB page of the last group commit (one write, not yet
//     synced, holding no acknowledged append; never in a sealed segment)
//     reverts to what it held before that write (zeros), while the pages after
//     it persisted. The page holds the header of one of the group's frames.
// Segment offsets come from format::scan_segment. None of these when `dir`
// holds a valid clean-close record (FORMAT.md §13): the writer was killed
// before its first write after an open, so nothing could be torn.
DamageResult damage_tail(const std::string& dir, TailDamage planned, uint64_t durable_end,
                         std::mt19937_64& rng) {
  DamageResult out;
  if (planned == TailDamage::kNone) return out;
  std::string clean = dir + "/" + std::string(format::kCleanFileName);
  if (fs::exists(clean) && format::decode_clean_record(read_whole_file(clean), clean).ok()) {
    out.skipped = "a valid clean-close record: nothing written since the clean close";
    return out;
  }
  std::string path = active_segment(dir);
  if (path.empty()) {
    out.skipped = "no segment";
    return out;
  }
  out.file = path;
  std::string bytes = read_whole_file(path);
  struct Located {
    uint64_t offset, size, first_position, count, durable_position;
  };
  std::vector<Located> batches;
  auto scan = format::scan_segment(bytes, path, format::ScanOptions{true, false},
                                   [&](const format::ScannedBatch& b) {
                                     batches.push_back({b.offset, b.frame_size, b.batch.stamp().first_position,
                                                        b.batch.count(), b.batch.stamp().durable_position});
                                     return Status();
                                   });
  if (!scan.ok()) {
    out.skipped = "scan failed (left for the checker): " + scan.status().to_string();
    return out;
  }
  auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  if (planned == TailDamage::kGarbage || planned == TailDamage::kZeros) {
    if (scan->footer) {
      out.skipped = "segment is sealed";
      return out;
    }
    uint64_t n = uniform(1, 4000);
    std::string extra = planned == TailDamage::kZeros ? std::string(n, '\0') : fill(rng(), n);
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f.write(extra.data(), static_cast<std::streamsize>(extra.size()));
    f.close();
    if (!f) {
      ADD_FAILURE() << "appending to " << path << " failed";
      return out;
    }
    out.done = planned;
    out.bytes = n;
    return out;
  }
  // Keep everything up to the end of the batch before durable_end (acknowledged, or made durable by an earlier open).
  uint64_t keep = format::kSegmentHeaderSize;
  if (durable_end > scan->header.first_position) {
    uint64_t last = durable_end - 1;
    bool found = false;
    for (const Located& b : batches) {
      if (b.first_position <= last && last < b.first_position + b.count) {
        keep = b.offset + b.size;
        found = true;
      }
    }
    if (!found) {
      out.skipped = "the last acked position " + std::to_string(last) +
                    " is not in the active segment's batches (left for the checker)";
      return out;
    }
  }
  if (scan->footer) {
    if (planned == TailDamage::kLostPage) {
      out.skipped = "segment is sealed";  // its last group was synced before the footer was written
      return out;
    }
    keep = std::max<uint64_t>(keep, scan->footer->data_end);  // only the footer may be cut
  }
  if (bytes.size() <= keep) {
    out.skipped = "nothing after the last acknowledged batch";
    return out;
  }
  if (planned == TailDamage::kLostPage) {
    if (batches.empty()) {
      out.skipped = "no batch in the active segment";
      return out;
    }
    // The batches of one group commit carry the same durable_position: the
    // first position of the group.
    uint64_t group_position = batches.back().durable_position;
    size_t first = batches.size() - 1;
    while (first > 0 && batches[first - 1].first_position >= group_position) --first;
    uint64_t group_offset = batches[first].offset;
    if (group_offset < keep) {
      out.skipped = "the last group holds an acknowledged append";
      return out;
    }
    const Located& victim = batches[first + uniform(0, batches.size() - 1 - first)];
    constexpr uint64_t kPage = 4096;
    uint64_t from = std::max(victim.offset / kPage * kPage, group_offset);
    uint64_t to = std::min<uint64_t>((victim.offset + format::kFrameHeaderSize + kPage - 1) / kPage * kPage,
                                     bytes.size());
    std::string zeros(to - from, '\0');
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && ::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(from)) ==
                             static_cast<ssize_t>(zeros.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
      ADD_FAILURE() << "zeroing " << path << " at " << from << ": " << std::strerror(errno);
      return out;
    }
    out.done = TailDamage::kLostPage;
    out.bytes = zeros.size();
    return out;
  }
  uint64_t k = uniform(1, std::min<uint64_t>(4000, bytes.size() - keep));
  if (::truncate(path.c_str(), static_cast<off_t>(bytes.size() - k)) != 0) {
    ADD_FAILURE() << "truncate " << path << ": " << std::strerror(errno);
    return out;
  }
  out.done = TailDamage::kChop;
  out.bytes = k;
  out.into_footer = scan->footer.has_value();  // nothing follows a footer: the chop cut into it
  return out;
}

// ---------------------------------------------------------------------------
// Opening the store in-process, with what recovery reports captured.

struct Opened {
  std::unique_ptr<Store> store;
  Status status;
  std::string notes;  // what the store reported while opening, one "cairn: ..." line each
};

Opened open_capturing(const std::string& dir) {
  Opened out;
  Options options = store_options();
  options.info_log = [&out](std::string_view message) {
    out.notes += "cairn: " + std::string(message) + "\n";
  };
  auto r = Store::open(dir, options);
  if (!out.notes.empty()) std::fputs(out.notes.c_str(), stderr);  // keep them in the log
  if (r.ok()) out.store = std::move(*r); else out.status = r.status();
  return out;
}

bool has_torn_tail_note(const std::string& notes) {
  std::istringstream in(notes);
  std::string line;
  while (std::getline(in, line)) {
    // The preparer's notes (how it zeros the next segment) are no damage.
    if (line.rfind("cairn:", 0) == 0 && line.rfind("cairn: preparing segments", 0) != 0) return true;
  }
  return false;
}

// The crash writer's subscription after a kill: its stored checkpoint is at
// least the last save the writer saw return (saves are durable), and not
// past the log's end (it saw only published events). When the test cut off
// the tail, it may be past what is left, and stay there (`stale_past_end`)
// until the writer's log grows past it and it saves again: the writer's
// next cycle may be killed before either. Resumed from there, it delivers
// exactly the rest of the log, in order.
void check_subscription(Store& store, uint64_t saved, bool tail_intact, uint64_t& stale_past_end, Failures& fail) {
  auto stored = store.subscription_checkpoint(kSubscriptionName);
  if (!stored.ok()) return fail.add("subscription_checkpoint: " + stored.status().to_string());
  uint64_t cursor = stored->value_or(0);
  uint64_t end = store.next_position();
  if (cursor < saved) {
    fail.add("subscription checkpoint " + std::to_string(cursor) + " is below the acknowledged save " +
             std::to_string(saved));
  }
  if (tail_intact && cursor > end && cursor != stale_past_end) {
    fail.add("subscription checkpoint " + std::to_string(cursor) + " is past the log's end " + std::to_string(end));
  }
  if (!tail_intact && cursor > end) stale_past_end = cursor;
  if (cursor >= end) return;
  SubscriptionOptions o;
  o.name = kSubscriptionName;
  o.max_batch = 1000;
  auto sub = store.subscribe(o);
  if (!sub.ok()) return fail.add("subscribe: " + sub.status().to_string());
  auto all = store.read_all(cursor, end - cursor);
  if (!all.ok()) return fail.add("read_all: " + all.status().to_string());
  size_t i = 0;
  while ((*sub)->cursor() < end) {
    auto got = (*sub)->next(std::chrono::seconds(5));
    if (!got.ok() || got->empty()) return fail.add("the resumed subscription stopped at " + std::to_string((*sub)->cursor()));
    for (const RecordedEvent& e : *got) {
      if (i >= all->size() || e.position != (*all)[i].position || e.data != (*all)[i].data || e.id != (*all)[i].id) {
        return fail.add("the resumed subscription delivered position " + std::to_string(e.position) +
                        " out of order or with other bytes than read_all");
      }
      ++i;
    }
  }
  if (i != all->size()) fail.add("the resumed subscription delivered " + std::to_string(i) + " of " + std::to_string(all->size()));
}

enum class BackupState { kNone, kIncomplete, kVerified };

// The writer's store checkpoint target after a kill: either marked
// incomplete (killed while copying) and refused by open, or a complete copy
// holding at least the last checkpoint reported done, every event equal to
// the store's at its position.
BackupState check_backup(Store& store, const std::string& target, uint64_t reported, Failures& fail) {
  // A first checkpoint killed before its marker was written leaves no
  // directory, an empty one (killed in the fsync of its parent), or one with
  // only its LOCK file and the marker's temporary file (which a new
  // checkpoint into it accepts).
  auto no_marker_yet = [&] {
    for (const auto& entry : fs::directory_iterator(target)) {
      std::string name = entry.path().filename().string();
      bool temporary = name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
      if (name != format::kLockFileName && !temporary) return false;
    }
    return true;
  };
  if (!fs::exists(target) || no_marker_yet()) {
    if (reported > 0) fail.add("store checkpoint target " + target + " is missing or empty");
    return BackupState::kNone;
  }
  Options ro = store_options();
  ro.read_only = true;
  ro.info_log = [](std::string_view) {};
  auto copy = Store::open(target, ro);
  if (!copy.ok()) {
    if (copy.status().code() == Code::kIncompleteCheckpoint) return BackupState::kIncomplete;
    fail.add("the store checkpoint does not open: " + copy.status().to_string());
    return BackupState::kNone;
  }
  uint64_t end = (*copy)->next_position();
  if (end < reported) {
    fail.add("the store checkpoint holds " + std::to_string(end) + " events, fewer than the " +
             std::to_string(reported) + " of the last one reported done");
  }
  uint64_t common = std::min(end, store.next_position());
  for (uint64_t p = 0; p < common;) {
    auto a = (*copy)->read_all(p, 4096);
    auto b = store.read_all(p, 4096);
    if (!a.ok() || !b.ok() || a->empty() || a->size() > b->size()) {
      fail.add("reading the store checkpoint at " + std::to_string(p) + " failed");
      return BackupState::kNone;
    }
    for (size_t i = 0; i < a->size(); ++i) {
      const RecordedEvent& x = (*a)[i];
      const RecordedEvent& y = (*b)[i];
      if (x.position != y.position || x.stream != y.stream || x.version != y.version || x.id != y.id ||
          x.type != y.type || x.data != y.data || x.metadata != y.metadata) {
        fail.add("the store checkpoint differs from the store at position " + std::to_string(x.position));
        return BackupState::kNone;
      }
    }
    p += a->size();
  }
  return BackupState::kVerified;
}

// ---------------------------------------------------------------------------

TEST(CrashTest, SigkillNeverLosesAcknowledgedAppends) {
  const uint64_t seed = env_u64("CAIRN_CRASH_SEED", static_cast<uint64_t>(
                                                        std::chrono::system_clock::now().time_since_epoch().count()));
  const uint64_t cycles = env_u64("CAIRN_CRASH_CYCLES", env_u64("CAIRN_CRASH_DEFAULT_CYCLES", 25));
  const uint64_t cycles_per_store = std::max<uint64_t>(
      1, env_u64("CAIRN_CRASH_CYCLES_PER_STORE", env_u64("CAIRN_CRASH_DEFAULT_CYCLES_PER_STORE", 10)));
  std::printf("crash test: CAIRN_CRASH_SEED=%llu CAIRN_CRASH_CYCLES=%llu writer=%s\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(cycles), CAIRN_CRASH_WRITER);
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));

  std::string work;
  if (const char* d = std::getenv("CAIRN_CRASH_DIR"); d != nullptr && *d != '\0') {
    work = d;
    fs::create_directories(work);
  } else {
    std::string tmpl = (fs::temp_directory_path() / "cairn-crash-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    work = tmpl;
  }
  std::printf("crash test: work directory %s\n", work.c_str());

  std::mt19937_64 rng(seed);
  auto uniform = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };

  std::vector<Ack> acks;       // the oracle: every append acknowledged on this store
  uint64_t acked_end = 0;      // max acked last_position + 1
  uint64_t expected_ready = 0; // next_position the checker left behind
  uint64_t sub_saved = 0;       // the highest subscription checkpoint the writer reported saved
  uint64_t sub_stored = 0;      // the subscription checkpoint the checker's last open found (0: none)
  uint64_t sub_past_cut = 0;    // a stored checkpoint the test's tail damage left past the log's end
  uint64_t total_sub_saves = 0;
  uint64_t ckpt_reported = 0;     // the highest store checkpoint position the writer reported done
  uint64_t total_ckpts = 0, ckpts_incomplete = 0, ckpts_verified = 0;
  std::string store_dir;
  uint64_t store_number = 0;

  uint64_t total_acks = 0, total_acked_events = 0, verified_events = 0, verified_checks = 0;
  uint64_t torn_cut = 0, damaged = 0, natural_torn = 0, killed_before_ready = 0, bytes_checked = 0;
  std::map<std::string, uint64_t> damage_counts;
  double writer_secs = 0, check_secs = 0;
  auto t0 = Clock::now();

  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    if (cycle % cycles_per_store == 0) {
      if (!store_dir.empty() && !HasFailure()) fs::remove_all(store_dir);
      store_dir = work + "/store-" + std::to_string(store_number++);
      fs::remove_all(store_dir);
      acks.clear();
      acked_end = 0;
      expected_ready = 0;
      sub_saved = 0;
      sub_stored = 0;
      sub_past_cut = 0;
      ckpt_reported = 0;
      fs::remove_all(store_dir + "-checkpoint");
    }
    const std::string ctx = "seed " + std::to_string(seed) + " cycle " + std::to_string(cycle);
    SCOPED_TRACE(ctx);
    const uint64_t writer_seed = mix64(seed ^ mix64(cycle + 0x51ed));

    KillPlan plan;
    uint64_t r = uniform(0, 99);
    if (r < 4) {
      plan.before_ready = true;  // kill while the writer opens (and maybe recovers) the store
      plan.delay = std::chrono::microseconds(uniform(0, 20000));
    } else if (r < 16) {
      plan.delay = std::chrono::microseconds(0);  // right after READY
    } else {
      plan.delay = std::chrono::microseconds(uniform(5000, 300000));
    }
    std::string stderr_path = work + "/writer-" + std::to_string(cycle % 2) + ".stderr";
    auto w0 = Clock::now();
    WriterRun run = run_writer(store_dir, writer_seed, plan, stderr_path);
    writer_secs += std::chrono::duration<double>(Clock::now() - w0).count();
    std::string writer_err = read_whole_file(stderr_path);
    bool killed = WIFSIGNALED(run.wait_status) && WTERMSIG(run.wait_status) == SIGKILL;
    ASSERT_TRUE(killed && !run.exited_early)
        << ctx << ": the writer was not killed by the test but "
        << (WIFEXITED(run.wait_status) ? "exited with status " + std::to_string(WEXITSTATUS(run.wait_status))
                                       : "died of signal " + std::to_string(WTERMSIG(run.wait_status)))
        << "; its stderr:\n" << writer_err;
    EXPECT_TRUE(run.partial.empty()) << ctx << ": torn output line '" << run.partial << "'";
    EXPECT_FALSE(has_torn_tail_note(writer_err))
        << ctx << ": the writer's open found damage after the checker's clean close:\n" << writer_err;
    if (!plan.before_ready) {
      ASSERT_TRUE(run.ready) << ctx << ": no READY; writer stderr:\n" << writer_err;
    } else if (!run.ready) {
      ++killed_before_ready;
    }

    // Parse the output into the oracle.
    uint64_t cycle_acks = 0;
    bool first_line = true;
    for (const std::string& line : run.lines) {
      std::istringstream in(line);
      std::string word;
      in >> word;
      if (word == "READY") {
        unsigned long long n = 0;
        in >> n;
        EXPECT_TRUE(first_line) << ctx << ": READY is not the first line";
        EXPECT_EQ(n, expected_ready) << ctx << ": the writer's open sees a next_position other than the one "
                                        "the checker's last open saw";
      } else if (word == "ACK") {
        std::string stream;
        unsigned long long v = 0, c = 0, p = 0;
        in >> stream >> v >> c >> p;
        int s = stream_number(stream);
        if (!in || s < 0 || c == 0 || c > kMaxBatch) {
          ADD_FAILURE() << ctx << ": bad line '" << line << "'";
          continue;
        }
        acks.push_back(Ack{s, v, static_cast<uint32_t>(c), p, cycle});
        acked_end = std::max<uint64_t>(acked_end, p + c);
        ++cycle_acks;
        total_acked_events += c;
      } else if (word == "SUBSTART") {
        unsigned long long c = 0;
        in >> c;
        EXPECT_EQ(c, sub_stored) << ctx << ": the subscription did not resume at its saved checkpoint";
      } else if (word == "CKPT") {
        unsigned long long p = 0;
        in >> p;
        ckpt_reported = std::max<uint64_t>(ckpt_reported, p);
        ++total_ckpts;
      } else if (word == "SUB") {
        unsigned long long c = 0;
        in >> c;
        EXPECT_GE(c, sub_saved) << ctx << ": the subscription's cursor went back";
        sub_saved = std::max<uint64_t>(sub_saved, c);
        ++total_sub_saves;
      } else {
        ADD_FAILURE() << ctx << ": unexpected line '" << line << "'";
      }
      first_line = false;
    }
    total_acks += cycle_acks;

    // Sometimes damage the tail as a torn, unsynced write would have.
    TailDamage planned = TailDamage::kNone;
    switch (uniform(0, 6)) {
      case 0: case 1: planned = TailDamage::kNone; break;
      case 2: planned = TailDamage::kGarbage; break;
      case 3: planned = TailDamage::kZeros; break;
      case 4: case 5: planned = TailDamage::kChop; break;
      default: planned = TailDamage::kLostPage; break;
    }
    DamageResult dmg;
    // Below expected_ready everything was durable before this cycle (the
    // checker's open synced it and its close indexed it): only what this
    // cycle's writer wrote after that can be torn by a crash.
    if (fs::exists(store_dir)) dmg = damage_tail(store_dir, planned, std::max(acked_end, expected_ready), rng);
    if (dmg.done != TailDamage::kNone) {
      ++damaged;
      ++damage_counts[std::string(damage_name(dmg.done)) + (dmg.into_footer ? " (into a footer)" : "")];
    } else if (planned != TailDamage::kNone) {
      ++damage_counts[std::string("skipped ") + damage_name(planned) + ": " +
                      dmg.skipped.substr(0, dmg.skipped.find(" ("))];
    }

    // Open and check.
    Failures fail(ctx + " (" + std::to_string(cycle_acks) + " acks this cycle, tail damage: " +
                  damage_name(dmg.done) + (dmg.done != TailDamage::kNone ? " " + std::to_string(dmg.bytes) + " bytes" : "") +
                  ", store " + store_dir + ")");
    StoreState first;
    auto c0 = Clock::now();
    {
      Opened o = open_capturing(store_dir);
      if (!o.store) {
        FAIL() << ctx << ": open after the kill failed: " << o.status.to_string() << " (tail damage: "
               << damage_name(dmg.done) << " " << dmg.bytes << " bytes of " << dmg.file << ")";
      }
      if (has_torn_tail_note(o.notes)) {
        ++torn_cut;
        if (dmg.done == TailDamage::kNone) ++natural_torn;
      } else {
        EXPECT_NE(dmg.done, TailDamage::kGarbage) << ctx << ": recovery did not notice " << dmg.bytes
                                                  << " bytes of garbage after the last frame of " << dmg.file;
      }
      EXPECT_TRUE(o.notes.find("read-only") == std::string::npos && o.notes.find("corruption") == std::string::npos)
          << ctx << ": recovery found corruption: " << o.notes;
      first = check_store(*o.store, fail);
      uint64_t verified = check_acks(first, acks, fail);
      verified_events += verified;
      ++verified_checks;
      bytes_checked += first.bytes_checked;
      if (first.next_position < acked_end) {
        fail.add("next_position " + std::to_string(first.next_position) + " < last acked position + 1 = " +
                 std::to_string(acked_end));
      }
      check_subscription(*o.store, sub_saved, dmg.done == TailDamage::kNone, sub_past_cut, fail);
      switch (check_backup(*o.store, store_dir + "-checkpoint", ckpt_reported, fail)) {
        case BackupState::kIncomplete: ++ckpts_incomplete; break;
        case BackupState::kVerified: ++ckpts_verified; break;
        case BackupState::kNone: break;
      }
      EXPECT_TRUE(o.store->close().ok());
    }
    ASSERT_EQ(fail.count(), 0u) << ctx << ": the store failed its checks; the store is kept in " << store_dir;

    // Reopen: the same state, and nothing left to cut.
    {
      Opened o = open_capturing(store_dir);
      ASSERT_TRUE(o.store) << ctx << ": reopen failed: " << o.status.to_string();
      EXPECT_FALSE(has_torn_tail_note(o.notes)) << ctx << ": the second open cut again: " << o.notes;
      Failures fail2(ctx + " (second open)");
      StoreState second = check_store(*o.store, fail2, /*recompute=*/false);
      std::string why;
      EXPECT_TRUE(same_state(first, second, why)) << ctx << ": reopening changed the state: " << why;
      uint64_t acked_events = 0;
      for (const Ack& a : acks) acked_events += a.count;
      EXPECT_EQ(check_acks(second, acks, fail2), acked_events);
      ASSERT_EQ(fail2.count(), 0u);
      expected_ready = second.next_position;
      auto stored = o.store->subscription_checkpoint(kSubscriptionName);
      ASSERT_TRUE(stored.ok()) << stored.status().to_string();
      sub_stored = stored->value_or(0);
      EXPECT_TRUE(o.store->close().ok());
    }
    check_secs += std::chrono::duration<double>(Clock::now() - c0).count();
  }

  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("crash test: seed %llu: %llu cycles in %.1f s on %llu store(s); %llu acks (%llu events) "
              "acknowledged; %llu acked-event checks passed; %.1f MB of event bytes recomputed; "
              "%llu cycles killed before READY; %llu store checks\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(cycles), secs,
              static_cast<unsigned long long>(store_number), static_cast<unsigned long long>(total_acks),
              static_cast<unsigned long long>(total_acked_events), static_cast<unsigned long long>(verified_events),
              static_cast<double>(bytes_checked) / 1e6, static_cast<unsigned long long>(killed_before_ready),
              static_cast<unsigned long long>(verified_checks));
  std::printf("crash test: %llu subscription checkpoint saves acknowledged, each found again after its kill\n",
              static_cast<unsigned long long>(total_sub_saves));
  std::printf("crash test: %llu store checkpoints reported done; after the kills %llu copies opened and matched "
              "the store event by event, %llu were marked incomplete and refused\n",
              static_cast<unsigned long long>(total_ckpts), static_cast<unsigned long long>(ckpts_verified),
              static_cast<unsigned long long>(ckpts_incomplete));
  std::printf("crash test: %.1f s running writers, %.1f s checking\n", writer_secs, check_secs);
  std::printf("crash test: tail damaged in %llu cycles; recovery cut a torn tail in %llu cycles (%llu without "
              "damage by the test)\n",
              static_cast<unsigned long long>(damaged), static_cast<unsigned long long>(torn_cut),
              static_cast<unsigned long long>(natural_torn));
  for (const auto& [what, n] : damage_counts) {
    std::printf("crash test:   %-70s %llu\n", what.c_str(), static_cast<unsigned long long>(n));
  }
  std::fflush(stdout);
  if (!HasFailure() && std::getenv("CAIRN_CRASH_DIR") == nullptr) fs::remove_all(work);
}

}  // namespace
}  // namespace cairn::crash
