// Events batches (FORMAT.md §3.1): encoding byte for byte, decoding, restamping,
// and every way BatchView::decode rejects a body.
#include "format/batch.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "format_test_util.h"

namespace cairn::format {
namespace {

using test_util::FirstDifference;
using test_util::OwnedEvent;
using test_util::SequentialId;
using test_util::Views;

const BatchStamp kStamp{1000, 7, 990, 1700000000123456789};

std::vector<OwnedEvent> SampleEvents() {
  return {
      {SequentialId(0x10), "Created", "{\"a\":1}", "meta"},
      {SequentialId(0x20), "Empty", "", ""},                                         // empty data and metadata
      {SequentialId(0x30), "Binary", std::string("\0\x01\0\xff\0", 5), std::string("\0m\0", 3)},  // NULs
  };
}

// The frame for `events`, written out by hand from FORMAT.md §3 and §3.1.
std::string ExpectedFrame(std::string_view stream, const std::vector<OwnedEvent>& events,
                          const BatchStamp& s) {
  std::string body;
  append_u64(body, s.first_position);
  append_u64(body, s.first_version);
  append_u64(body, s.durable_position);
  append_u64(body, static_cast<uint64_t>(s.timestamp_ns));
  append_u32(body, static_cast<uint32_t>(events.size()));
  append_u16(body, static_cast<uint16_t>(stream.size()));
  append_u16(body, 0);
  body.append(stream);
  for (const OwnedEvent& e : events) {
    body.append(reinterpret_cast<const char*>(e.id.bytes.data()), 16);
    append_u16(body, static_cast<uint16_t>(e.type.size()));
    append_u32(body, static_cast<uint32_t>(e.data.size()));
    append_u32(body, static_cast<uint32_t>(e.metadata.size()));
    body += e.type + e.data + e.metadata;
  }
  std::string frame(16, '\0');
  put_u32(frame.data() + 8, static_cast<uint32_t>(body.size()));
  frame[12] = 1;
  frame += body;
  while (frame.size() % 8 != 0) frame.push_back('\0');
  put_u64(frame.data(), checksum(frame.data() + 8, frame.size() - 8));
  return frame;
}

std::string Encode(std::string_view stream, const std::vector<OwnedEvent>& events,
                   const BatchStamp& stamp = kStamp) {
  std::string out;
  std::vector<NewEvent> views = Views(events);
  EXPECT_EQ(encode_batch(out, stream, views, stamp), 0u);
  return out;
}

// Decodes the body of an events frame; the frame must be valid.
Result<BatchView> DecodeFrame(std::string_view frame) {
  Frame f = parse_frame(frame);
  EXPECT_EQ(f.status, FrameStatus::kOk);
  EXPECT_EQ(f.type, FrameType::kEvents);
  return BatchView::decode(f.body, "seg at offset 64");
}

std::vector<OwnedEvent> Collect(const BatchView& batch) {
  std::vector<OwnedEvent> out;
  batch.for_each([&](uint32_t i, const EventView& e) {
    EXPECT_EQ(i, out.size());
    out.push_back({e.id, std::string(e.type), std::string(e.data), std::string(e.metadata)});
    return true;
  });
  return out;
}

void ExpectSameEvents(const std::vector<OwnedEvent>& got, const std::vector<OwnedEvent>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].type, want[i].type);
    EXPECT_EQ(got[i].data, want[i].data);
    EXPECT_EQ(got[i].metadata, want[i].metadata);
  }
}

TEST(BatchTest, EncodesTheDocumentedLayoutByteForByte) {
  std::vector<OwnedEvent> events = SampleEvents();
  std::string frame = Encode("Order-42", events);
  std::string expected = ExpectedFrame("Order-42", events, kStamp);
  EXPECT_EQ(FirstDifference(frame, expected), std::string_view::npos);
  EXPECT_EQ(frame, expected);
}

TEST(BatchTest, EncodeAppendsAfterExistingBytes) {
  std::vector<OwnedEvent> events = SampleEvents();
  std::vector<NewEvent> views = Views(events);
  std::string out = "12345678";
  EXPECT_EQ(encode_batch(out, "s", views, kStamp), 8u);
  EXPECT_EQ(out.substr(0, 8), "12345678");
  EXPECT_EQ(out.substr(8), ExpectedFrame("s", events, kStamp));
}

// The store encodes unsealed and the writer seals at restamp: the same bytes
// as encoding sealed with the final stamp.
TEST(BatchTest, UnsealedThenRestampedEqualsSealed) {
  std::vector<OwnedEvent> events = SampleEvents();
  std::vector<NewEvent> views = Views(events);
  std::string unsealed;
  encode_batch(unsealed, "Order-42", views, {}, /*seal=*/false);
  EXPECT_EQ(unsealed.substr(0, 8), std::string(8, '\0')) << "no checksum yet";
  restamp_batch(unsealed.data(), unsealed.size(), kStamp);
  EXPECT_EQ(unsealed, ExpectedFrame("Order-42", events, kStamp));
  EXPECT_EQ(own_frame_body(unsealed), parse_frame(unsealed).body);
}

TEST(BatchTest, RoundTrips) {
  std::vector<OwnedEvent> events = SampleEvents();
  std::string frame = Encode("Order-42", events);
  auto batch = DecodeFrame(frame);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  EXPECT_EQ(batch->stamp().first_position, 1000u);
  EXPECT_EQ(batch->stamp().first_version, 7u);
  EXPECT_EQ(batch->stamp().durable_position, 990u);
  EXPECT_EQ(batch->stamp().timestamp_ns, 1700000000123456789);
  EXPECT_EQ(batch->count(), 3u);
  EXPECT_EQ(batch->stream(), "Order-42");
  EXPECT_EQ(batch->last_position(), 1002u);
  ExpectSameEvents(Collect(*batch), events);
}

TEST(BatchTest, RoundTripsExtremeStampValues) {
  BatchStamp stamp{UINT64_MAX - 1, UINT64_MAX, UINT64_MAX - 5, -1234567890123};
  std::vector<OwnedEvent> events = {{SequentialId(0), "T", "", ""}};
  std::string frame = Encode("s", events, stamp);
  EXPECT_EQ(frame, ExpectedFrame("s", events, stamp));
  auto batch = DecodeFrame(frame);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  EXPECT_EQ(batch->stamp().first_position, UINT64_MAX - 1);
  EXPECT_EQ(batch->stamp().first_version, UINT64_MAX);
  EXPECT_EQ(batch->stamp().durable_position, UINT64_MAX - 5);
  EXPECT_EQ(batch->stamp().timestamp_ns, -1234567890123);
}

TEST(BatchTest, ForEachStopsWhenTheVisitorReturnsFalse) {
  std::string frame = Encode("s", SampleEvents());
  auto batch = DecodeFrame(frame);
  ASSERT_TRUE(batch.ok());
  std::vector<std::string> types;
  batch->for_each([&](uint32_t, const EventView& e) {
    types.emplace_back(e.type);
    return types.size() < 2;
  });
  EXPECT_EQ(types, (std::vector<std::string>{"Created", "Empty"}));
}

TEST(BatchTest, FrameSizeEqualsTheEncodedSize) {
  for (size_t data = 0; data <= 17; ++data) {
    for (size_t stream_len : {1, 5, 1024}) {
      std::string stream(stream_len, 's');
      std::vector<OwnedEvent> events = {{SequentialId(1), "T", std::string(data, 'd'), ""},
                                        {SequentialId(2), "Type", "", std::string(data / 2, 'm')}};
      std::vector<NewEvent> views = Views(events);
      std::string out;
      encode_batch(out, stream, views, kStamp);
      EXPECT_EQ(batch_frame_size(stream, views), out.size()) << data << " data bytes, stream " << stream_len;
      EXPECT_EQ(out.size() % 8, 0u);
    }
  }
}

TEST(BatchTest, RestampChangesOnlyTheStampAndReseals) {
  std::vector<OwnedEvent> events = SampleEvents();
  std::string frame = Encode("Order-42", events, BatchStamp{});
  const std::string original = frame;
  const BatchStamp stamp{42, 3, 40, 1700000000000000099};
  restamp_batch(frame.data(), frame.size(), stamp);

  EXPECT_EQ(frame, ExpectedFrame("Order-42", events, stamp));  // as if encoded with the stamp
  for (size_t i = 0; i < frame.size(); ++i) {
    bool checksum_or_stamp = i < 8 || (i >= 16 && i < 48);
    if (!checksum_or_stamp) {
      EXPECT_EQ(frame[i], original[i]) << "byte " << i << " changed";
    }
  }
  EXPECT_NE(frame.substr(0, 8), original.substr(0, 8));
  auto batch = DecodeFrame(frame);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->stamp().first_position, 42u);
  EXPECT_EQ(batch->stamp().timestamp_ns, 1700000000000000099);
  ExpectSameEvents(Collect(*batch), events);
}

// --- Decode rejects malformed bodies, even when the frame's checksum is right.

// Byte offsets in the body of the frame Encode("Order-42", SampleEvents()).
constexpr size_t kCountAt = 32;
constexpr size_t kStreamLenAt = 36;
constexpr size_t kReservedAt = 38;
constexpr size_t kEvent0At = 40 + 8;
constexpr size_t kEvent0TypeLenAt = kEvent0At + 16;
constexpr size_t kEvent0DataLenAt = kEvent0At + 18;

std::string ValidBody() {
  std::string frame = Encode("Order-42", SampleEvents());
  return std::string(parse_frame(frame).body);
}

// Wraps a (possibly malformed) body in a correctly sealed events frame and
// decodes it: only the body's own checks can reject it.
Status DecodeBody(const std::string& body) {
  std::string frame;
  size_t at = begin_frame(frame, FrameType::kEvents);
  frame += body;
  finish_frame(frame, at);
  Frame f = parse_frame(frame);
  EXPECT_EQ(f.status, FrameStatus::kOk);
  return BatchView::decode(f.body, "dir/00000001-00000000000000000000.seg at offset 64").status();
}

void ExpectRejected(const std::string& body, const std::string& reason) {
  Status s = DecodeBody(body);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "dir/00000001-00000000000000000000.seg at offset 64: events batch: " + reason);
}

TEST(BatchDecodeTest, AcceptsTheValidBody) { EXPECT_TRUE(DecodeBody(ValidBody()).ok()); }

TEST(BatchDecodeTest, RejectsABodyShorterThanTheFixedPart) {
  ExpectRejected(ValidBody().substr(0, 39), "body shorter than its fixed part");
  ExpectRejected("", "body shorter than its fixed part");
}

TEST(BatchDecodeTest, RejectsZeroEvents) {
  std::string body = ValidBody();
  put_u32(body.data() + kCountAt, 0);
  ExpectRejected(body, "zero events");
  ExpectRejected(body.substr(0, 40 + 8), "zero events");  // no event bytes at all
}

TEST(BatchDecodeTest, RejectsAnEmptyStreamName) {
  std::string body = ValidBody();
  put_u16(body.data() + kStreamLenAt, 0);
  ExpectRejected(body, "bad stream length");
}

TEST(BatchDecodeTest, RejectsAStreamNameRunningPastTheBody) {
  std::string body = ValidBody();
  put_u16(body.data() + kStreamLenAt, static_cast<uint16_t>(body.size() - 40 + 1));
  ExpectRejected(body, "bad stream length");
}

TEST(BatchDecodeTest, RejectsNonZeroReservedBytes) {
  for (size_t at : {kReservedAt, kReservedAt + 1}) {
    std::string body = ValidBody();
    body[at] = '\x01';
    ExpectRejected(body, "non-zero reserved bytes");
  }
}

TEST(BatchDecodeTest, RejectsAnEventOverrunningTheBatch) {
  std::string body = ValidBody();
  put_u32(body.data() + kEvent0DataLenAt, get_u32(body.data() + kEvent0DataLenAt) + 1000);
  ExpectRejected(body, "event 0 overruns the batch");
  put_u32(body.data() + kEvent0DataLenAt, UINT32_MAX);  // no wrap-around in the length sum
  ExpectRejected(body, "event 0 overruns the batch");
  // The last event one byte short.
  ExpectRejected(ValidBody().substr(0, ValidBody().size() - 1), "event 2 overruns the batch");
}

TEST(BatchDecodeTest, RejectsMissingEvents) {
  std::string body = ValidBody();
  put_u32(body.data() + kCountAt, 4);
  ExpectRejected(body, "event 3 truncated");
}

TEST(BatchDecodeTest, RejectsTrailingBytes) {
  ExpectRejected(ValidBody() + '\0', "trailing bytes after the last event");
  std::string body = ValidBody();
  put_u32(body.data() + kCountAt, 2);  // the third event becomes trailing bytes
  ExpectRejected(body, "trailing bytes after the last event");
}

TEST(BatchDecodeTest, RejectsAnEmptyType) {
  std::string body = ValidBody();
  put_u16(body.data() + kEvent0TypeLenAt, 0);
  ExpectRejected(body, "event 0 has an empty type");
}

}  // namespace
}  // namespace cairn::format
