// tools/store_commands and tools/text: cairn read, read-all, stat.
#include "tools/store_commands.h"
#include "tools/text.h"

#include "test_util.h"

#include <sstream>

namespace cairn::tools {
namespace {

using test::EventSpec;
using test::TempDir;

TEST(TextTest, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(TextTest, Utf8Validation) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_EQ(json_string("a\"b\\c\n\xc3\xa9"), "\"a\\\"b\\\\c\\u000a\xc3\xa9\"");
  EXPECT_EQ(json_bytes_field("data", std::string("\x00\xff", 2)), "\"data_base64\":\"AP8=\"");
}

class StoreCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = test::open_ok(dir_.path());
    order_ = test::make_events(4, "o");
    order_[0].data = "{\"total\":42}";
    order_[1].data = std::string("\x00\xff", 2);
    order_[2].type = "OrderPaid";
    ASSERT_TRUE(store->append("Order-1", ExpectedVersion::no_stream(), test::views(order_)).ok());
    auto other = test::make_events(2, "x");
    other[1].type = "OrderPaid";
    ASSERT_TRUE(store->append("Order-2", ExpectedVersion::no_stream(), test::views(other)).ok());
  }

  std::string run_read(const std::string& stream, ReadOptions o, int expected = 0) {
    std::ostringstream out, err;
    EXPECT_EQ(read_stream_command(dir_.path(), stream, o, out, err), expected) << err.str();
    err_ = err.str();
    return out.str();
  }

  TempDir dir_;
  std::vector<EventSpec> order_;
  std::string err_;
};

TEST_F(StoreCommandsTest, ReadPrintsTheStreamAsTextAndJson) {
  std::string text = run_read("Order-1", {});
  EXPECT_NE(text.find("#0 Order-1@0 " + order_[0].type + " " + order_[0].id.to_hex()), std::string::npos) << text;
  EXPECT_NE(text.find("{\"total\":42}"), std::string::npos);
  EXPECT_NE(text.find("base64:AP8="), std::string::npos);
  ReadOptions json;
  json.json = true;
  std::string lines = run_read("Order-1", json);
  EXPECT_NE(lines.find("\"position\":1,\"stream\":\"Order-1\",\"version\":1"), std::string::npos) << lines;
  EXPECT_NE(lines.find("\"data_base64\":\"AP8=\""), std::string::npos);
  EXPECT_NE(lines.find("\"data\":\"{\\\"total\\\":42}\""), std::string::npos);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 4);
}

TEST_F(StoreCommandsTest, ReadBackwardFromAndMax) {
  ReadOptions o;
  o.backward = true;
  o.max = 2;
  std::string text = run_read("Order-1", o);
  EXPECT_LT(text.find("Order-1@3"), text.find("Order-1@2"));
  EXPECT_EQ(text.find("Order-1@1"), std::string::npos);
  o = ReadOptions{};
  o.has_from = true;
  o.from = 2;
  text = run_read("Order-1", o);
  EXPECT_EQ(text.find("Order-1@1 "), std::string::npos);
  EXPECT_NE(text.find("Order-1@3"), std::string::npos);
}

TEST_F(StoreCommandsTest, MissingStreamIsOneAndMissingStoreIsMinusOne) {
  run_read("Nope", {}, 1);
  EXPECT_NE(err_.find("Nope"), std::string::npos);
  std::ostringstream out, err;
  EXPECT_EQ(read_all_command(dir_.sub("missing"), {}, out, err), -1);
  EXPECT_NE(err.str().find(dir_.sub("missing")), std::string::npos);
}

TEST_F(StoreCommandsTest, ReadAllInOrderFilteredByType) {
  std::ostringstream out, err;
  ReadOptions o;
  o.type = "OrderPaid";
  ASSERT_EQ(read_all_command(dir_.path(), o, out, err), 0);
  std::string text = out.str();
  EXPECT_NE(text.find("#2 Order-1@2 OrderPaid"), std::string::npos) << text;
  EXPECT_NE(text.find("#5 Order-2@1 OrderPaid"), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST_F(StoreCommandsTest, StatCountsEventsStreamsAndTypes) {
  std::ostringstream out, err;
  ASSERT_EQ(stat_command(dir_.path(), /*json=*/true, out, err), 0);
  std::string s = out.str();
  EXPECT_NE(s.find("\"events\":6"), std::string::npos) << s;
  uint64_t file_bytes = std::filesystem::file_size(test::segment_files(dir_.path()).at(0));
  EXPECT_NE(s.find("\"segment_bytes\":" + std::to_string(file_bytes)), std::string::npos);
  EXPECT_NE(s.find("\"index\":\"in memory"), std::string::npos);
  EXPECT_NE(s.find("\"streams\":2"), std::string::npos);
  EXPECT_NE(s.find("\"last_position\":5"), std::string::npos);
  EXPECT_NE(s.find("\"top_streams\":[{\"name\":\"Order-1\",\"events\":4}"), std::string::npos);
  EXPECT_NE(s.find("{\"name\":\"OrderPaid\",\"events\":2}"), std::string::npos);
}

TEST_F(StoreCommandsTest, WorksWhileAWriterHoldsTheStore) {
  auto writer = test::open_ok(dir_.path());
  auto more = test::make_events(1, "live");
  ASSERT_TRUE(writer->append("Order-3", ExpectedVersion::any(), test::views(more)).ok());
  std::string text = run_read("Order-3", {});
  EXPECT_NE(text.find(more[0].id.to_hex()), std::string::npos);
  // The writer still writes: the tool took no lock.
  ASSERT_TRUE(writer->append("Order-3", ExpectedVersion::exactly(0), test::views(test::make_events(1))).ok());
}

}  // namespace
}  // namespace cairn::tools
