// engine/append_check: argument validation and the expected-version rules,
// including the version ceiling no real stream can reach in a test.
#include "engine/append_check.h"

#include "format/batch.h"
#include "format/segment_header.h"

#include <gtest/gtest.h>

namespace cairn::engine {
namespace {

TEST(CheckExpectedTest, EachKindAgainstNewAndExistingStreams) {
  struct Case {
    ExpectedVersion expected;
    uint64_t next_version;
    bool ok;
  };
  std::vector<Case> cases = {
      {ExpectedVersion::any(), 0, true},           {ExpectedVersion::any(), 5, true},
      {ExpectedVersion::no_stream(), 0, true},     {ExpectedVersion::no_stream(), 1, false},
      {ExpectedVersion::stream_exists(), 0, false}, {ExpectedVersion::stream_exists(), 1, true},
      {ExpectedVersion::exactly(0), 0, false},     {ExpectedVersion::exactly(0), 1, true},
      {ExpectedVersion::exactly(4), 5, true},      {ExpectedVersion::exactly(5), 5, false},
  };
  for (const Case& c : cases) {
    Status s = check_expected("s", c.next_version, c.expected, 1);
    EXPECT_EQ(s.ok(), c.ok) << c.expected.to_string() << " at next " << c.next_version;
    if (!c.ok) {
      EXPECT_EQ(s.code(), Code::kWrongExpectedVersion);
      std::optional<uint64_t> actual;
      if (c.next_version > 0) actual = c.next_version - 1;
      EXPECT_EQ(s.actual_version(), actual);
    }
  }
}

TEST(CheckExpectedTest, VersionOverflowIsRejected) {
  EXPECT_TRUE(check_expected("s", kMaxStreamVersion, ExpectedVersion::any(), 1).ok());
  Status s = check_expected("s", kMaxStreamVersion, ExpectedVersion::any(), 2);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("highest version"), std::string::npos);
  EXPECT_EQ(check_expected("s", kMaxStreamVersion + 1, ExpectedVersion::any(), 1).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(check_expected("s", kMaxStreamVersion - 9, ExpectedVersion::exactly(kMaxStreamVersion - 10), 11).code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(check_expected("s", kMaxStreamVersion - 9, ExpectedVersion::exactly(kMaxStreamVersion - 10), 10).ok());
}

TEST(ValidateAppendTest, NamesWhatIsWrong) {
  Options options;
  NewEvent ok{EventId::random(), "T", "data", ""};
  auto check = [&](std::string_view stream, std::vector<NewEvent> events) {
    return validate_append(stream, events, options);
  };
  EXPECT_TRUE(check("s", {ok}).ok());
  EXPECT_NE(check("", {ok}).message().find("stream name is empty"), std::string::npos);
  EXPECT_NE(check("s", {}).message().find("no events"), std::string::npos);
  NewEvent no_type = ok;
  no_type.type = "";
  EXPECT_NE(check("s", {ok, no_type}).message().find("event 1"), std::string::npos);
  NewEvent nil1{EventId{}, "T", "", ""};
  EXPECT_TRUE(check("s", {nil1, nil1}).ok());  // nil ids may repeat
}

TEST(ValidateAppendTest, BatchMustFitOneSegment) {
  Options options;
  options.segment_bytes = 64 << 10;
  std::string data(64 << 10, 'x');
  NewEvent big{EventId::random(), "T", data, ""};
  Status s = validate_append("s", std::vector<NewEvent>{big}, options);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  // The largest batch that fits exactly is accepted.
  size_t fixed = format::batch_frame_size("s", std::vector<NewEvent>{NewEvent{big.id, "T", "", ""}});
  uint64_t room = options.segment_bytes - format::kSegmentHeaderSize - segment_bytes_needed(0);
  std::string fits((room - fixed) & ~size_t{7}, 'x');
  NewEvent fitting{EventId::random(), "T", fits, ""};
  EXPECT_TRUE(validate_append("s", std::vector<NewEvent>{fitting}, options).ok());
}

}  // namespace
}  // namespace cairn::engine
