// `cairn dump` of snapshot files (tools/inspect_snapshots.cc) over a real
// store's snapshot log: header, records, and problems with their offsets.
#include "tools/inspect.h"

#include "test_util.h"

#include <sstream>

namespace cairn::tools {
namespace {

class InspectSnapshotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.info_log = [](std::string_view) {};
    options.snapshots_to_keep = 2;
    auto store = test::open_ok(dir_.path(), options);
    ASSERT_TRUE(store->append("Order-42", ExpectedVersion::any(), test::views(test::make_events(5))).ok());
    for (uint64_t v = 0; v < 3; ++v) {
      ASSERT_TRUE(store->snapshots().save("Order-42", v, "Order/v1", "state " + std::to_string(v)).ok());
    }
    ASSERT_TRUE(store->snapshots().prune("Order-42", 1).ok());
    store.reset();
    file_ = dir_.sub("snapshots/00000001.snap");
  }

  int dump(DumpOptions options = {}) {
    out_.str("");
    err_.str("");
    return dump_segment(file_, options, out_, err_);
  }

  test::TempDir dir_;
  std::string file_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(InspectSnapshotsTest, ShowsTheHeaderAndEveryRecord) {
  EXPECT_EQ(dump(DumpOptions{.data = true}), 0) << out_.str();
  std::string text = out_.str();
  EXPECT_NE(text.find("snapshot-file file=" + file_ + " sequence=1"), std::string::npos) << text;
  EXPECT_NE(text.find("snapshot offset=64 size=112 id=1 stream=Order-42 version=0 schema=Order/v1 data_bytes=7"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("data=state 2"), std::string::npos) << text;
  // The third save's floor keeps two; the prune keeps one (floor: the third).
  EXPECT_NE(text.find("version=2 schema=Order/v1 data_bytes=7 floor_version=1 floor_id=2"), std::string::npos);
  EXPECT_NE(text.find("prune offset=400 size=96 id=4 stream=Order-42 floor_version=2 floor_id=3"), std::string::npos)
      << text;
}

TEST_F(InspectSnapshotsTest, JsonIsOneObjectPerLine) {
  EXPECT_EQ(dump(DumpOptions{.json = true}), 0);
  std::istringstream lines(out_.str());
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
  }
  EXPECT_EQ(n, 5);  // the header, three snapshots, one prune
}

TEST_F(InspectSnapshotsTest, ReportsProblemsWithOffsets) {
  test::flip_byte(file_, 176 + 88 + 8 + 8 + 2);  // the second snapshot's payload
  EXPECT_EQ(dump(), 1);
  EXPECT_NE(out_.str().find("PROBLEM: " + file_ + " at offset 176: snapshot payload checksum mismatch"),
            std::string::npos)
      << out_.str();

  test::flip_byte(file_, 64 + 40);  // the first record's header
  EXPECT_EQ(dump(), 1);
  EXPECT_NE(out_.str().find("PROBLEM: " + file_ + " at offset 64: snapshot record: header checksum mismatch"),
            std::string::npos)
      << out_.str();

  std::string bytes = test::read_bytes(file_);
  test::flip_byte(file_, 64 + 40);  // undo both
  test::flip_byte(file_, 176 + 88 + 8 + 8 + 2);
  test::write_bytes(file_, test::read_bytes(file_).substr(0, bytes.size() - 50));
  EXPECT_EQ(dump(), 1);
  EXPECT_NE(out_.str().find("torn tail"), std::string::npos) << out_.str();
}

TEST_F(InspectSnapshotsTest, VerifyChecksTheSnapshotLog) {
  EXPECT_EQ(verify_path(dir_.path(), false, out_, err_), 0) << out_.str();
  test::flip_byte(file_, 176 + 88 + 8 + 8 + 2);  // the second snapshot's payload
  out_.str("");
  EXPECT_EQ(verify_path(dir_.path(), false, out_, err_), 1);
  EXPECT_NE(out_.str().find(file_ + " at offset 176: snapshot payload checksum mismatch"), std::string::npos)
      << out_.str();
}

}  // namespace
}  // namespace cairn::tools
