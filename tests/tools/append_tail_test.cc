// tools: cairn append (stdin lines to events) and cairn tail (follow).
#include "tools/store_commands.h"
#include "tools/tail.h"

#include "test_util.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

namespace cairn::tools {
namespace {

using test::TempDir;

int append(const std::string& dir, const std::string& lines, AppendOptions o, std::string* out_text = nullptr,
           std::string* err_text = nullptr) {
  std::istringstream in(lines);
  std::ostringstream out, err;
  int r = append_command(dir, "s", o, in, out, err);
  if (out_text) *out_text = out.str();
  if (err_text) *err_text = err.str();
  return r;
}

TEST(AppendCommandTest, EachLineIsAnAppendOrAllAreOneBatch) {
  TempDir dir;
  AppendOptions o;
  o.type = "Line";
  std::string out;
  ASSERT_EQ(append(dir.path(), "one\ntwo\n", o, &out), 0);
  EXPECT_EQ(out, "versions 0..0 at positions 0..0\nversions 1..1 at positions 1..1\n");
  o.batch = true;
  o.expected = "1";
  ASSERT_EQ(append(dir.path(), "three\nfour\nfive\n", o, &out), 0);
  EXPECT_EQ(out, "versions 2..4 at positions 2..4\n");
  auto store = test::open_ok(dir.path());
  auto events = store->read_stream("s", 0, 10);
  ASSERT_EQ(events->size(), 5u);
  EXPECT_EQ((*events)[3].data, "four");
  EXPECT_EQ((*events)[3].type, "Line");
}

TEST(AppendCommandTest, ConflictExitsThreeWithTheActualVersion) {
  TempDir dir;
  AppendOptions o;
  o.type = "T";
  ASSERT_EQ(append(dir.path(), "a\n", o), 0);
  o.expected = "no-stream";
  std::string err;
  EXPECT_EQ(append(dir.path(), "b\n", o, nullptr, &err), 3);
  EXPECT_NE(err.find("actual version: 0"), std::string::npos) << err;
  o.expected = "7x";
  EXPECT_EQ(append(dir.path(), "b\n", o, nullptr, &err), -1);
  EXPECT_NE(err.find("--expected"), std::string::npos);
  o.expected = "any";
  EXPECT_EQ(append(dir.path(), "", o, nullptr, &err), -1);
  EXPECT_NE(err.find("nothing to append"), std::string::npos);
}

// A stream buffer one thread writes to while another reads it (recursive:
// stringbuf's xsputn calls overflow).
class SharedOut : public std::stringbuf {
 public:
  std::string text() {
    std::lock_guard lock(mu_);
    return str();
  }

 protected:
  int sync() override { return 0; }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mu_);
    return std::stringbuf::xsputn(s, n);
  }
  int overflow(int c) override {
    std::lock_guard lock(mu_);
    return std::stringbuf::overflow(c);
  }

 private:
  std::recursive_mutex mu_;
};

// Runs tail_command on a thread, calls `meanwhile`, waits (20 s at most) until
// the output satisfies `done`, stops tail and returns its output.
std::string tail_until(const std::string& dir, const TailOptions& o, const std::function<void()>& meanwhile,
                       const std::function<bool(const std::string&)>& done) {
  SharedOut buffer;
  std::ostream out(&buffer);
  std::ostringstream err;
  std::atomic<bool> running{true};
  std::thread tail([&] { EXPECT_EQ(tail_command(dir, o, out, err, [&] { return running.load(); }), 0); });
  meanwhile();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done(buffer.text()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  running = false;
  tail.join();
  EXPECT_EQ(err.str(), "");
  return buffer.text();
}

TEST(TailCommandTest, FollowsAppendsAcrossSegmentRolls) {
  TempDir dir;
  Options options;
  options.segment_bytes = 64 << 10;
  auto store = test::open_ok(dir.path(), options);
  std::vector<test::EventSpec> big(1);
  big[0].data = std::string(9000, 'x');
  auto add = [&](int n) {
    for (int i = 0; i < n; ++i) {
      big[0].id = EventId::random();
      ASSERT_TRUE(store->append("t", ExpectedVersion::any(), test::views(big)).ok());
    }
  };
  add(3);  // history
  TailOptions o;
  o.from = 1;
  o.json = true;
  o.poll_ms = 5;
  const long expected_lines = 32;  // positions 1..32
  std::string text = tail_until(
      dir.path(), o, [&] { add(30); },  // rolls several 64 KiB segments while tail follows
      [&](const std::string& t) { return std::count(t.begin(), t.end(), '\n') >= expected_lines; });
  std::istringstream lines(text);
  std::string line;
  uint64_t position = 1;
  while (std::getline(lines, line)) {
    ASSERT_EQ(line.rfind("{\"position\":" + std::to_string(position) + ",", 0), 0u) << line.substr(0, 60);
    ++position;
  }
  EXPECT_EQ(position, 33u);
  EXPECT_GE(test::segment_files(dir.path()).size(), 4u);
}

TEST(TailCommandTest, FollowsAWriterInAnotherProcess) {
  TempDir dir;
  test::open_ok(dir.path()).reset();  // an empty store
  TailOptions o;
  o.poll_ms = 5;
  test::write_bytes(dir.sub("lines"), "first line\nsecond line\n");
  std::string text = tail_until(
      dir.path(), o,
      [&] {
        // `cairn append` in a child process holds the store open for writing.
        std::string command = std::string(CAIRN_CLI) + " append " + dir.path() + " from-child --type Line < " +
                              dir.sub("lines") + " > /dev/null";
        ASSERT_EQ(std::system(command.c_str()), 0);
      },
      [](const std::string& t) { return t.find("second line") != std::string::npos; });
  EXPECT_NE(text.find("#0 from-child@0 Line"), std::string::npos) << text;
  EXPECT_NE(text.find("#1 from-child@1 Line"), std::string::npos);
  EXPECT_NE(text.find("second line"), std::string::npos);
}

TEST(TailCommandTest, NotAStoreIsAnError) {
  TempDir dir;
  std::ostringstream out, err;
  EXPECT_EQ(tail_command(dir.path(), {}, out, err, [] { return true; }), -1);
  EXPECT_NE(err.str().find(dir.path()), std::string::npos);
}

}  // namespace
}  // namespace cairn::tools
