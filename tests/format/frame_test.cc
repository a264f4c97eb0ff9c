// Frames (FORMAT.md §3): layout, end of data, and every way parse_frame
// rejects bytes.
#include "format/frame.h"

#include "format/checksum.h"
#include "format/coding.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace cairn::format {
namespace {

// A frame built with the frame API, appended to `out`.
std::string MakeFrame(FrameType type, std::string_view body, std::string out = "") {
  size_t at = begin_frame(out, type);
  out.append(body);
  finish_frame(out, at);
  return out;
}

// The same frame written out by hand from the layout in FORMAT.md §3.
std::string ExpectedFrame(uint8_t type, std::string_view body) {
  std::string f(16, '\0');
  put_u32(f.data() + 8, static_cast<uint32_t>(body.size()));
  f[12] = static_cast<char>(type);
  f.append(body);
  while (f.size() % 8 != 0) f.push_back('\0');
  put_u64(f.data(), checksum(f.data() + 8, f.size() - 8));
  return f;
}

std::string Body(size_t n) {
  std::string body;
  for (size_t i = 0; i < n; ++i) body.push_back(static_cast<char>('a' + i % 26));
  return body;
}

TEST(FrameTest, EncodesTheDocumentedLayoutForEveryPaddingLength) {
  for (size_t len = 0; len <= 17; ++len) {
    SCOPED_TRACE("body length " + std::to_string(len));
    std::string body = Body(len);
    std::string frame = MakeFrame(FrameType::kEvents, body);
    EXPECT_EQ(frame, ExpectedFrame(1, body));
    EXPECT_EQ(frame.size(), align8(16 + len));
    EXPECT_EQ(MakeFrame(FrameType::kFooter, body), ExpectedFrame(2, body));
  }
}

TEST(FrameTest, RoundTrips) {
  for (size_t len : {0, 1, 7, 8, 9, 100}) {
    SCOPED_TRACE("body length " + std::to_string(len));
    std::string body = Body(len);
    std::string frame = MakeFrame(FrameType::kFooter, body);
    Frame f = parse_frame(frame);
    ASSERT_EQ(f.status, FrameStatus::kOk);
    EXPECT_EQ(f.type, FrameType::kFooter);
    EXPECT_EQ(f.body, body);
    EXPECT_EQ(f.body.data(), frame.data() + 16);  // a view into the bytes, not a copy
    EXPECT_EQ(f.size, frame.size());
  }
}

TEST(FrameTest, BeginFrameAppendsAfterExistingBytesAndReturnsTheOffset) {
  std::string out = "prefix!!";
  size_t at = begin_frame(out, FrameType::kEvents);
  EXPECT_EQ(at, 8u);
  out.append("xyz");
  finish_frame(out, at);
  EXPECT_EQ(out.substr(0, 8), "prefix!!");
  EXPECT_EQ(out.substr(8), ExpectedFrame(1, "xyz"));
}

TEST(FrameTest, ParsesFramesOneAfterAnother) {
  std::string bytes = MakeFrame(FrameType::kEvents, "first");
  bytes = MakeFrame(FrameType::kFooter, "the second one", bytes);
  Frame a = parse_frame(bytes);
  ASSERT_EQ(a.status, FrameStatus::kOk);
  EXPECT_EQ(a.body, "first");
  Frame b = parse_frame(std::string_view(bytes).substr(a.size));
  ASSERT_EQ(b.status, FrameStatus::kOk);
  EXPECT_EQ(b.type, FrameType::kFooter);
  EXPECT_EQ(b.body, "the second one");
  EXPECT_EQ(a.size + b.size, bytes.size());
  EXPECT_EQ(parse_frame(std::string_view(bytes).substr(a.size + b.size)).status, FrameStatus::kEnd);
}

TEST(FrameTest, EndOfDataOnAnAllZeroHeader) {
  EXPECT_EQ(parse_frame(std::string(16, '\0')).status, FrameStatus::kEnd);
  // Whatever follows an all-zero header is not looked at.
  std::string bytes(16, '\0');
  bytes += MakeFrame(FrameType::kEvents, "after");
  EXPECT_EQ(parse_frame(bytes).status, FrameStatus::kEnd);
}

TEST(FrameTest, EndOfDataOnFewerThan16ZeroBytes) {
  for (size_t n = 0; n < 16; ++n) {
    EXPECT_EQ(parse_frame(std::string(n, '\0')).status, FrameStatus::kEnd) << n << " zero bytes";
  }
}

TEST(FrameTest, TruncatedHeaderWithANonZeroByte) {
  for (size_t n = 1; n < 16; ++n) {
    for (size_t i = 0; i < n; ++i) {
      std::string bytes(n, '\0');
      bytes[i] = '\x01';
      EXPECT_EQ(parse_frame(bytes).status, FrameStatus::kTruncated) << n << " bytes, non-zero at " << i;
    }
  }
}

TEST(FrameTest, TruncatedAtEveryLengthShorterThanTheFrame) {
  std::string frame = MakeFrame(FrameType::kEvents, Body(21));  // 40 bytes
  ASSERT_EQ(frame.size(), 40u);
  for (size_t n = 1; n < frame.size(); ++n) {
    std::string_view prefix = std::string_view(frame).substr(0, n);
    bool all_zero = prefix.find_first_not_of('\0') == std::string_view::npos;
    FrameStatus expected = n < 16 && all_zero ? FrameStatus::kEnd : FrameStatus::kTruncated;
    EXPECT_EQ(parse_frame(prefix).status, expected) << "first " << n << " bytes";
  }
}

TEST(FrameTest, TruncatedWhenBodyLengthIsHuge) {
  std::string frame = MakeFrame(FrameType::kEvents, "abc");
  put_u32(frame.data() + 8, UINT32_MAX);
  EXPECT_EQ(parse_frame(frame).status, FrameStatus::kTruncated);
}

TEST(FrameTest, BadHeaderOnUnknownType) {
  for (int type : {0, 3, 4, 0x81, 0xff}) {
    std::string frame = MakeFrame(FrameType::kEvents, "body");
    frame[12] = static_cast<char>(type);
    seal_frame(frame.data(), frame.size());  // a correct checksum: the type alone is wrong
    EXPECT_EQ(parse_frame(frame).status, FrameStatus::kBadHeader) << "type " << type;
  }
}

TEST(FrameTest, BadHeaderOnNonZeroReservedByte) {
  for (int at : {13, 14, 15}) {
    for (int value : {0x01, 0x80, 0xff}) {
      std::string frame = MakeFrame(FrameType::kFooter, "body");
      frame[at] = static_cast<char>(value);
      seal_frame(frame.data(), frame.size());
      EXPECT_EQ(parse_frame(frame).status, FrameStatus::kBadHeader)
          << "byte " << at << " = " << value;
    }
  }
}

// Every single-bit flip of every byte of a small frame is caught, with the
// outcome FORMAT.md §3 gives for that byte.
TEST(FrameTest, EverySingleBitFlipIsDetected) {
  const std::string body = "abc";  // frame of 24 bytes: 16 + 3 + 5 padding
  const std::string frame = MakeFrame(FrameType::kEvents, body);
  ASSERT_EQ(frame.size(), 24u);
  const std::string trailer(64, '\0');  // room for a larger body_len to fit
  for (size_t i = 0; i < frame.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bytes = frame + trailer;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      FrameStatus expected = FrameStatus::kBadChecksum;
      if (i >= 12 && i < 16) {
        expected = FrameStatus::kBadHeader;  // type (no single flip turns 1 into 2) or reserved
      } else if (i >= 8 && i < 12) {
        uint64_t size = align8(16 + uint64_t{get_u32(bytes.data() + 8)});
        if (size > bytes.size()) expected = FrameStatus::kTruncated;
      }
      EXPECT_EQ(parse_frame(bytes).status, expected) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(FrameTest, ChecksumCoversTheFrameFromByte8ThroughThePadding) {
  std::string frame = MakeFrame(FrameType::kEvents, "abc");
  ASSERT_EQ(frame.size(), 24u);
  EXPECT_EQ(get_u64(frame.data()), checksum(frame.data() + 8, 16));
  EXPECT_NE(get_u64(frame.data()), checksum(frame.data() + 8, 11));  // not just header + body
  for (size_t pad = 19; pad < 24; ++pad) {
    std::string bytes = frame;
    bytes[pad] = '\x01';
    EXPECT_EQ(parse_frame(bytes).status, FrameStatus::kBadChecksum) << "padding byte " << pad;
    // Resealed, the frame is valid again: readers check padding only through the checksum.
    seal_frame(bytes.data(), bytes.size());
    Frame f = parse_frame(bytes);
    EXPECT_EQ(f.status, FrameStatus::kOk);
    EXPECT_EQ(f.body, "abc");
  }
}

TEST(FrameTest, SealFrameRestoresTheChecksum) {
  std::string frame = MakeFrame(FrameType::kEvents, "hello, frame");
  std::string damaged = frame;
  damaged[0] = static_cast<char>(damaged[0] ^ 0x5a);
  ASSERT_EQ(parse_frame(damaged).status, FrameStatus::kBadChecksum);
  seal_frame(damaged.data(), damaged.size());
  EXPECT_EQ(damaged, frame);
}

TEST(FrameTest, StatusNames) {
  EXPECT_STREQ(frame_status_name(FrameStatus::kOk), "ok");
  EXPECT_STREQ(frame_status_name(FrameStatus::kEnd), "end of data");
  EXPECT_STREQ(frame_status_name(FrameStatus::kTruncated), "truncated frame");
  EXPECT_STREQ(frame_status_name(FrameStatus::kBadHeader), "bad frame header");
  EXPECT_STREQ(frame_status_name(FrameStatus::kBadChecksum), "checksum mismatch");
}

}  // namespace
}  // namespace cairn::format
