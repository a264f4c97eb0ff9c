// tools/inspect: `cairn dump` and `cairn verify` over real stores.
#include "tools/inspect.h"
#include "format/index_file.h"

#include "test_util.h"

#include <filesystem>
#include <sstream>

namespace cairn::tools {
namespace {

using test::EventSpec;
using test::TempDir;

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options options;
    options.segment_bytes = 64 << 10;
    auto store = test::open_ok(dir_.path(), options);
    events_ = test::make_events(3, "dump");
    events_[0].data = "{\"total\":42}";
    events_[1].data = std::string("\x00\x01\xfe", 3);
    ASSERT_TRUE(store->append("Order-42", ExpectedVersion::no_stream(), test::views(events_)).ok());
    std::vector<EventSpec> big(1);
    big[0].data = std::string(15000, 'b');
    for (int i = 0; i < 10; ++i) {  // several segments
      big[0].id = EventId::random();
      ASSERT_TRUE(store->append("Big", ExpectedVersion::any(), test::views(big)).ok());
    }
    store.reset();
    segments_ = test::segment_files(dir_.path());
    ASSERT_GE(segments_.size(), 3u);
  }

  int dump(const std::string& path, DumpOptions options = {}) {
    out_.str("");
    err_.str("");
    return dump_segment(path, options, out_, err_);
  }
  int verify(const std::string& path, bool json = false) {
    out_.str("");
    err_.str("");
    return verify_path(path, json, out_, err_);
  }

  TempDir dir_;
  std::vector<EventSpec> events_;
  std::vector<std::string> segments_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(InspectTest, DumpShowsHeaderBatchesAndEvents) {
  EXPECT_EQ(dump(segments_[0], DumpOptions{.data = true}), 0);
  std::string text = out_.str();
  EXPECT_NE(text.find("segment 1, first position 0"), std::string::npos) << text;
  EXPECT_NE(text.find("batch at offset 64"), std::string::npos);
  EXPECT_NE(text.find("positions 0..2, stream 'Order-42' from version 0"), std::string::npos);
  EXPECT_NE(text.find("#1 Order-42@1 " + events_[1].type + " id " + events_[1].id.to_hex()), std::string::npos);
  EXPECT_NE(text.find("data: {\"total\":42}"), std::string::npos);
  EXPECT_NE(text.find("data: hex:0001fe"), std::string::npos);
  EXPECT_NE(text.find("footer at offset"), std::string::npos);  // segment 1 is sealed
}

TEST_F(InspectTest, DumpFiltersByStreamTypeAndPositions) {
  DumpOptions o;
  o.stream = "Order-42";
  o.type = events_[2].type;
  EXPECT_EQ(dump(segments_[0], o), 0);
  std::string text = out_.str();
  EXPECT_NE(text.find("#2 Order-42@2"), std::string::npos) << text;
  EXPECT_EQ(text.find("#0 Order-42@0"), std::string::npos);
  EXPECT_EQ(text.find("Big@"), std::string::npos);
  o = DumpOptions{};
  o.from = 1;
  o.to = 3;
  EXPECT_EQ(dump(segments_[0], o), 0);
  text = out_.str();
  EXPECT_EQ(text.find("#0 "), std::string::npos);
  EXPECT_NE(text.find("#1 Order-42@1"), std::string::npos);
  EXPECT_NE(text.find("#3 Big@0"), std::string::npos);
  EXPECT_EQ(text.find("#4 "), std::string::npos);
}

TEST_F(InspectTest, DumpJsonIsOneObjectPerLine) {
  EXPECT_EQ(dump(segments_[0], DumpOptions{.data = true, .json = true}), 0);
  std::istringstream lines(out_.str());
  std::string line;
  int events = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    if (line.find("\"kind\":\"event\"") != std::string::npos) ++events;
  }
  EXPECT_GE(events, 3);
  EXPECT_NE(out_.str().find("\"data\":\"hex:0001fe\""), std::string::npos);
  EXPECT_NE(out_.str().find("\"stream\":\"Order-42\",\"version\":2"), std::string::npos);
}

TEST_F(InspectTest, VerifyPassesOnAHealthyStoreAndOneFile) {
  EXPECT_EQ(verify(dir_.path()), 0);
  EXPECT_NE(out_.str().find(std::to_string(segments_.size()) + " segment(s), 13 events, 0 problem(s)"),
            std::string::npos) << out_.str();
  EXPECT_EQ(verify(segments_[1]), 0);
}

TEST_F(InspectTest, VerifyProgressCountsSegmentsOnTheErrorStream) {
  std::ostringstream out, err;
  EXPECT_EQ(verify_path(dir_.path(), false, out, err, /*progress=*/true), 0);
  EXPECT_NE(err.str().find("segment " + std::to_string(segments_.size()) + " of " +
                           std::to_string(segments_.size())), std::string::npos);
  EXPECT_EQ(out.str().find("verify: segment"), std::string::npos);  // not mixed into the report
}

TEST_F(InspectTest, VerifyReportsCorruptionWithFileAndOffset) {
  test::flip_byte(segments_[0], 64 + 20);
  EXPECT_EQ(verify(dir_.path()), 1);
  EXPECT_NE(out_.str().find(segments_[0] + " at offset 64"), std::string::npos) << out_.str();
  EXPECT_EQ(dump(segments_[0]), 1);
  EXPECT_NE(out_.str().find("PROBLEM: Corruption"), std::string::npos);
}

TEST_F(InspectTest, VerifyReportsAMissingSegment) {
  std::filesystem::remove(segments_[1]);
  EXPECT_GE(verify(dir_.path(), /*json=*/true), 1);
  EXPECT_NE(out_.str().find("segment 2 is missing"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\"kind\":\"summary\""), std::string::npos);
}

TEST_F(InspectTest, VerifyReportsATornTailOfTheLastSegment) {
  std::string last = segments_.back();
  std::string bytes = test::read_bytes(last);
  test::write_bytes(last, bytes + std::string(40, '\x7f'));
  EXPECT_EQ(verify(dir_.path()), 1);
  EXPECT_NE(out_.str().find("torn tail"), std::string::npos) << out_.str();
}

TEST_F(InspectTest, UnreadableInputIsMinusOne) {
  EXPECT_EQ(verify(dir_.sub("nope")), -1);
  EXPECT_NE(err_.str().find("nope"), std::string::npos);
  EXPECT_EQ(dump(dir_.sub("nope.seg")), -1);
}

// Bad input: a clear message and a non-zero result, never a crash or a hang.
TEST_F(InspectTest, BadFilesGiveAMessageNotACrash) {
  std::string good = test::read_bytes(segments_[0]);
  std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"truncated header", good.substr(0, 40)},
      {"truncated in a batch", good.substr(0, 64 + 50)},
      {"zeros", std::string(100000, '\0')},
      {"random", [] {
         std::string r;
         uint32_t x = 12345;
         for (int i = 0; i < 70000; ++i) r.push_back(static_cast<char>((x = x * 1103515245 + 12345) >> 16));
         return r;
       }()},
      {"newer format version", [&] {
         std::string v = good;
         v[8] = 2;
         return v;
       }()},
  };
  for (const auto& [what, bytes] : cases) {
    SCOPED_TRACE(what);
    std::string path = dir_.sub("bad.seg");
    test::write_bytes(path, bytes);
    int d = dump(path);
    EXPECT_GT(d, 0);
    EXPECT_FALSE(out_.str().empty());
    EXPECT_GT(verify(path), 0);
    EXPECT_NE(out_.str().find("PROBLEM"), std::string::npos) << out_.str();
  }
  test::write_bytes(dir_.sub("bad.seg"), std::string(good).replace(8, 1, 1, '\x02'));
  EXPECT_GT(verify(dir_.sub("bad.seg")), 0);
  EXPECT_NE(out_.str().find("UnsupportedVersion"), std::string::npos) << out_.str();
}

TEST(InspectBadInputTest, DirectoryThatIsNotAStore) {
  TempDir dir;
  test::write_bytes(dir.sub("notes.txt"), "hello");
  std::ostringstream out, err;
  EXPECT_EQ(verify_path(dir.path(), false, out, err), 1);
  EXPECT_NE(out.str().find("not a Cairn store"), std::string::npos) << out.str();
}

TEST_F(InspectTest, DumpShowsIndexFilesRecordByRecord) {
  // The clean close left one index file per segment and a directory run
  // over the last (partial) one, whose segments hold only the Big stream.
  std::string last = std::to_string(segments_.size());
  std::string run = dir_.path() + "/" + format::streams_run_file_name(segments_.size(), segments_.size());
  EXPECT_EQ(dump(run), 0) << err_.str();
  std::string text = out_.str();
  EXPECT_EQ(text.rfind("stream-directory-run first_segment=" + last + " last_segment=" + last +
                           " end_position=13 streams=1 ", 0), 0u) << text;
  EXPECT_NE(text.find("stream name=Big slot="), std::string::npos) << text;
  EXPECT_EQ(text.find("Order-42"), std::string::npos) << text;

  // The oldest run starts at segment 1, which holds Order-42's three events.
  std::string oldest;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    auto name = format::parse_streams_run_file_name(e.path().filename().string());
    if (name && name->first_segment == 1) oldest = e.path().string();
  }
  ASSERT_FALSE(oldest.empty());
  EXPECT_EQ(dump(oldest), 0) << err_.str();
  text = out_.str();
  EXPECT_EQ(text.rfind("stream-directory-run first_segment=1 last_segment=", 0), 0u) << text;
  EXPECT_NE(text.find("stream name=Order-42 slot="), std::string::npos) << text;
  EXPECT_NE(text.find("next_version=3 last_position=2 segment_first_versions=1:0\n"), std::string::npos) << text;

  std::string first = dir_.path() + "/00000001.idx";
  EXPECT_EQ(dump(first, DumpOptions{.json = true}), 0) << err_.str();
  text = out_.str();
  EXPECT_EQ(text.rfind("{\"kind\":\"segment-index\",\"sequence\":1,\"first_position\":0,", 0), 0u) << text;
  EXPECT_NE(text.find("{\"kind\":\"batch\",\"ordinal\":0,\"offset\":64,\"position\":0,\"count\":3}"),
            std::string::npos) << text;
  EXPECT_NE(text.find("{\"kind\":\"stream\",\"name\":\"Order-42\",\"first_version\":0,"
                      "\"versions_at_batches\":\"0@0\"}"), std::string::npos) << text;

  // A damaged block is reported with the file and the block's offset.
  test::flip_byte(first, 128 + 5);
  EXPECT_EQ(dump(first), 1);
  EXPECT_NE(out_.str().find(first + " at offset 128: index block checksum mismatch"), std::string::npos) << out_.str();
}

TEST_F(InspectTest, DumpShowsSubscriptionCheckpoints) {
  {
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store->save_subscription_checkpoint("orders", 7).ok());
    ASSERT_TRUE(store->save_subscription_checkpoint("carts", 2).ok());
    ASSERT_TRUE(store->remove_subscription_checkpoint("carts").ok());
  }
  std::string path = dir_.path() + "/SUBSCRIPTIONS";
  EXPECT_EQ(dump(path), 0) << err_.str();
  EXPECT_EQ(out_.str().substr(out_.str().find(" records=")),
            " records=3 live=1 valid_end=122\n"
            "checkpoint offset=40 name=orders cursor=7\n"
            "checkpoint offset=68 name=carts cursor=2\n"
            "removed offset=95 name=carts\n");
  EXPECT_EQ(dump(path, DumpOptions{.json = true}), 0);
  EXPECT_NE(out_.str().find("{\"kind\":\"checkpoint\",\"offset\":40,\"name\":\"orders\",\"cursor\":7}"),
            std::string::npos) << out_.str();
  // A torn last record is a problem with its offset; the records before it show.
  std::string bytes = test::read_bytes(path);
  test::write_bytes(path, bytes.substr(0, bytes.size() - 4));
  EXPECT_EQ(dump(path), 1);
  EXPECT_NE(out_.str().find("checkpoint offset=68 name=carts cursor=2\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("PROBLEM: " + path + " at offset 95: torn tail of 23 bytes"), std::string::npos)
      << out_.str();
}

// The clean-close record (FORMAT.md §13) the SetUp's close wrote: its
// fields, and a damaged one as a problem.
TEST_F(InspectTest, DumpShowsTheCleanCloseRecord) {
  std::string path = dir_.path() + "/CLEAN";
  uint64_t events = 3 + 10;
  EXPECT_EQ(dump(path), 0) << err_.str();
  std::string text = out_.str();
  ASSERT_EQ(text.rfind("clean_close state=valid store_id=", 0), 0u) << text;
  std::string tail = text.substr(text.find(" segment="));
  EXPECT_EQ(tail.substr(0, tail.find(" data_end=")), " segment=" + std::to_string(segments_.size()));
  EXPECT_NE(tail.find(" next_position=" + std::to_string(events) + "\n"), std::string::npos) << text;
  EXPECT_EQ(dump(path, DumpOptions{.json = true}), 0);
  EXPECT_NE(out_.str().find("{\"kind\":\"clean_close\",\"state\":\"valid\",\"store_id\":"), std::string::npos)
      << out_.str();
  std::string good = test::read_bytes(path);
  test::flip_byte(path, 40);
  EXPECT_EQ(dump(path), 1);
  EXPECT_NE(out_.str().find("PROBLEM: " + path + ": header checksum mismatch"), std::string::npos) << out_.str();
  // The first append after an open overwrites it with zeros.
  {
    test::write_bytes(path, good);
    auto store = test::open_ok(dir_.path());
    ASSERT_TRUE(store->append("Order-42", ExpectedVersion::any(), test::views(test::make_events(1))).ok());
    EXPECT_EQ(dump(path), 0);
    EXPECT_EQ(out_.str(), "clean_close state=invalidated\n");
  }
}

}  // namespace
}  // namespace cairn::tools
