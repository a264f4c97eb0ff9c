// tools: cairn checkpoint DIR TARGET (an online backup), and cairn verify on
// the copy it makes.
#include "tools/checkpoint_command.h"
#include "tools/inspect.h"

#include "format/segment_name.h"
#include "test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace cairn::tools {
namespace {

using test::TempDir;

class CheckpointCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.segment_bytes = 64u << 10;
    store_ = test::open_ok(dir_.sub("store"), o);
    for (int i = 0; i < 120; ++i) {
      auto events = test::make_events(4, "c" + std::to_string(i));
      for (auto& e : events) e.data += std::string(300, 'x');
      ASSERT_TRUE(store_->append("Order-" + std::to_string(i % 5), ExpectedVersion::any(), test::views(events)).ok());
    }
  }

  int run(const std::string& target, CheckpointCommandOptions o) {
    std::ostringstream out, err;
    int r = checkpoint_command(dir_.sub("store"), target, o, out, err);
    out_ = out.str();
    err_ = err.str();
    return r;
  }

  int verify(const std::string& dir) {
    std::ostringstream out, err;
    int r = verify_path(dir, false, out, err, false);
    verify_out_ = out.str();
    return r;
  }

  void expect_same_events(const std::string& copy) {
    auto opened = test::open_ok(copy);
    ASSERT_NE(opened, nullptr);
    ASSERT_EQ(opened->next_position(), store_->next_position());
    auto want = store_->read_all(0, 1000);
    auto got = opened->read_all(0, 1000);
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_EQ(*got, *want);
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;  // open for writing while the command runs
  std::string out_, err_, verify_out_;
};

TEST_F(CheckpointCommandTest, CopyPassesVerifyAndHoldsTheSameEvents) {
  ASSERT_EQ(run(dir_.sub("copy"), {}), 0) << err_;
  EXPECT_NE(out_.find("checkpoint at position 480"), std::string::npos) << out_;
  EXPECT_EQ(verify(dir_.sub("copy")), 0) << verify_out_;
  EXPECT_NE(verify_out_.find("480 events, 0 problem(s)"), std::string::npos) << verify_out_;
  expect_same_events(dir_.sub("copy"));
}

TEST_F(CheckpointCommandTest, JsonAndCopyFlag) {
  ASSERT_TRUE(store_->close().ok());  // no index file written between the two runs
  CheckpointCommandOptions o;
  o.copy = true;
  o.json = true;
  ASSERT_EQ(run(dir_.sub("copy"), o), 0) << err_;
  EXPECT_NE(out_.find("\"position\":480,"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"files_linked\":0,"), std::string::npos) << out_;
  EXPECT_EQ(verify(dir_.sub("copy")), 0) << verify_out_;
  // Again: the sealed segments are kept, only the active prefix copied.
  ASSERT_EQ(run(dir_.sub("copy"), o), 0) << err_;
  EXPECT_NE(out_.find("\"files_copied\":1,"), std::string::npos) << out_;
  expect_same_events(dir_.sub("copy"));
}

TEST_F(CheckpointCommandTest, ErrorsAreTyped) {
  EXPECT_EQ(run(dir_.sub("store/inside"), {}), -1);
  EXPECT_NE(err_.find("InvalidArgument"), std::string::npos) << err_;
  EXPECT_EQ(run(dir_.sub("copy"), {}), 0) << err_;
  std::filesystem::remove(dir_.sub("copy/STORE"));
  test::write_bytes(dir_.sub("copy/") + std::string(format::kCheckpointMarkerName), "");
  EXPECT_GT(verify(dir_.sub("copy")), 0);
  EXPECT_NE(verify_out_.find("incomplete checkpoint"), std::string::npos) << verify_out_;
  std::ostringstream out, err;
  EXPECT_EQ(checkpoint_command(dir_.sub("copy"), dir_.sub("copy2"), {}, out, err), -1);
  EXPECT_NE(err.str().find("IncompleteCheckpoint"), std::string::npos) << err.str();
}

TEST_F(CheckpointCommandTest, CommandLine) {
  std::string cli = CAIRN_CLI;
  auto status = [](const std::string& command) {
    int r = std::system(command.c_str());
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
  };
  std::string quiet = " > /dev/null 2>&1";
  EXPECT_EQ(status(cli + " checkpoint " + dir_.sub("store") + " " + dir_.sub("copy") + " --json" + quiet), 0);
  EXPECT_EQ(status(cli + " verify " + dir_.sub("copy") + quiet), 0);
  EXPECT_EQ(status(cli + " checkpoint " + dir_.sub("store") + " " + dir_.sub("store/x") + quiet), 2);
  EXPECT_EQ(status(cli + " checkpoint " + dir_.sub("store") + quiet), 2);
  expect_same_events(dir_.sub("copy"));
}

}  // namespace
}  // namespace cairn::tools
