// cairn-bench run as a script runs it: the flags and the --json fields that
// bench/README.md and issue 8 promise, and a clear refusal of bad flags.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "test_util.h"

namespace cairn::bench {
namespace {

struct Ran {
  int status = -1;
  std::string out;  // standard output; standard error goes to `err`
  std::string err;
};

std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

// `args` are trusted test text; paths in them are quoted by the caller.
Ran run(const std::string& args, const test::TempDir& dir) {
  std::string err_path = dir.sub("stderr.txt");
  std::string command = shell_quoted(CAIRN_BENCH) + " " + args + " 2>" + shell_quoted(err_path);
  Ran r;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, p)) > 0;) r.out.append(buffer, n);
  int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = test::read_bytes(err_path);
  return r;
}

// The number after `key` ("\"p50\":") in `json`, searched from the first
// `within` ("\"latency_us\":{") if given; NaN when absent.
double number(const std::string& json, const std::string& key, const std::string& within = "") {
  size_t from = within.empty() ? 0 : json.find(within);
  if (from == std::string::npos) return std::nan("");
  size_t at = json.find(key, from);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(json.c_str() + at + key.size(), nullptr);
}

bool has(const std::string& json, const std::string& text) { return json.find(text) != std::string::npos; }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

TEST(CairnBenchTest, AsyncAppendsPrintOneJsonObjectWithTheDocumentedFields) {
  test::TempDir dir;
  Ran r = run("--workload append-durable --writers 2 --inflight 8 --events 4000 --repeat 1 --json --segment-mib 1 "
              "--dir " + shell_quoted(dir.sub("run")),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_FALSE(r.out.empty()) << r.err;
  ASSERT_EQ(r.out.front(), '{') << r.out;
  ASSERT_EQ(r.out.find('\n'), r.out.size() - 1) << "one object, one line: " << r.out;
  for (const char* text : {"\"workload\":\"append-durable\"", "\"backend\":\"cairn\"", "\"durability\":\"sync\"",
                           "\"writers\":2,", "\"event_size\":200,", "\"batch\":1,", "\"inflight\":8,",
                           "\"events\":4000,", "\"conflicts\":0,"}) {
    EXPECT_TRUE(has(r.out, text)) << text << " missing from " << r.out;
  }
  EXPECT_GT(number(r.out, "\"seconds\":"), 0);
  EXPECT_GT(number(r.out, "\"events_per_s\":"), 0);
  EXPECT_GT(number(r.out, "\"mb_per_s\":"), 0);
  double p50 = number(r.out, "\"p50\":", "\"latency_us\":{"), p90 = number(r.out, "\"p90\":", "\"latency_us\":{");
  double p99 = number(r.out, "\"p99\":", "\"latency_us\":{"), p999 = number(r.out, "\"p999\":", "\"latency_us\":{");
  double max = number(r.out, "\"max\":", "\"latency_us\":{");
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, p999);
  EXPECT_LE(p999, max);
  EXPECT_GT(number(r.out, "\"fdatasync_p50_us\":", "\"raw\":{"), 0);
  EXPECT_GT(number(r.out, "\"write_mb_per_s\":", "\"raw\":{"), 0);
  // CPU per event times events per second is the CPUs busy: more than none,
  // not more than the machine has (with slack for the two windows' edges).
  double busy = number(r.out, "\"cpu_us_per_event\":") * number(r.out, "\"events_per_s\":") / 1e6;
  EXPECT_GT(busy, 0);
  EXPECT_LE(busy, 1.5 * number(r.out, "\"cpus\":")) << r.out;
  EXPECT_GT(number(r.out, "\"rss_mb\":"), 0);
  // The table goes to standard error, with the durability, event size and disk.
  EXPECT_TRUE(has(r.err, "durability sync")) << r.err;
  EXPECT_TRUE(has(r.err, "event 200 B data")) << r.err;
  EXPECT_TRUE(has(r.err, "disk: dir ")) << r.err;
}

TEST(CairnBenchTest, OpenReportsBothOpenTimes) {
  test::TempDir dir;
  Ran r = run("--workload open --events 20000 --repeat 1 --json --segment-mib 1 --dir " + shell_quoted(dir.sub("run")), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has(r.out, "\"workload\":\"open\"")) << r.out;
  EXPECT_GT(number(r.out, "\"open_ms\":"), 0) << r.out;
  EXPECT_GT(number(r.out, "\"empty_open_ms\":"), 0) << r.out;
}

TEST(CairnBenchTest, BadFlagsAreRefusedByName) {
  test::TempDir dir;
  struct Case {
    const char* args;
    const char* named;
  };
  // The usage text that follows names every flag: the first line must.
  for (const Case& c : {Case{"--durability maybe", "--durability"}, Case{"--pipeline 0", "--pipeline"},
                        Case{"--writers x", "--writers"}, Case{"--workload nap", "--workload"},
                        Case{"--no-such-flag 1", "--no-such-flag"}}) {
    Ran r = run(std::string(c.args) + " --dir " + shell_quoted(dir.sub("run")), dir);
    EXPECT_EQ(r.status, 2) << c.args;
    EXPECT_TRUE(has(first_line(r.err), c.named)) << c.args << ": " << first_line(r.err);
    EXPECT_TRUE(r.out.empty()) << c.args << ": " << r.out;
  }
}

}  // namespace
}  // namespace cairn::bench
