// Segment footers (FORMAT.md §4): layout byte for byte, round trip, size check.
#include "format/footer.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn::format {
namespace {

const Footer kFooter{1000, 25, 4, 4096, 0x0123456789abcdef};

// The footer frame written out by hand from FORMAT.md §3 and §4.
std::string ExpectedFrame(const Footer& f) {
  std::string frame(16, '\0');
  put_u32(frame.data() + 8, 40);
  frame[12] = 2;
  for (uint64_t v : {f.first_position, f.event_count, f.batch_count, f.data_end, f.content_hash}) {
    append_u64(frame, v);
  }
  put_u64(frame.data(), checksum(frame.data() + 8, frame.size() - 8));
  return frame;
}

TEST(FooterTest, EncodesTheDocumentedLayoutByteForByte) {
  std::string out;
  encode_footer(out, kFooter);
  EXPECT_EQ(out.size(), 56u);
  EXPECT_EQ(out, ExpectedFrame(kFooter));
}

TEST(FooterTest, EncodeAppendsAfterExistingBytes) {
  std::string out = "01234567";
  encode_footer(out, kFooter);
  EXPECT_EQ(out.substr(0, 8), "01234567");
  EXPECT_EQ(out.substr(8), ExpectedFrame(kFooter));
}

TEST(FooterTest, RoundTrips) {
  for (const Footer& footer : {kFooter, Footer{}, Footer{UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 2,
                                                          UINT64_MAX - 3, UINT64_MAX - 4}}) {
    std::string out;
    encode_footer(out, footer);
    Frame f = parse_frame(out);
    ASSERT_EQ(f.status, FrameStatus::kOk);
    EXPECT_EQ(f.type, FrameType::kFooter);
    EXPECT_EQ(f.size, 56u);
    auto decoded = decode_footer(f.body, "seg at offset 100");
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(*decoded, footer);
  }
}

TEST(FooterTest, DecodesEachFieldFromItsOffset) {
  std::string body(40, '\0');
  for (int i = 0; i < 5; ++i) put_u64(body.data() + 8 * i, 0x1111111111111111ull * (i + 1));
  auto f = decode_footer(body, "seg");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->first_position, 0x1111111111111111ull);
  EXPECT_EQ(f->event_count, 0x2222222222222222ull);
  EXPECT_EQ(f->batch_count, 0x3333333333333333ull);
  EXPECT_EQ(f->data_end, 0x4444444444444444ull);
  EXPECT_EQ(f->content_hash, 0x5555555555555555ull);
}

TEST(FooterTest, RejectsABodyOfAnotherSize) {
  for (size_t size : {0, 8, 39, 41, 48}) {
    auto f = decode_footer(std::string(size, '\0'), "dir/seg at offset 216");
    ASSERT_FALSE(f.ok()) << size << " bytes";
    EXPECT_EQ(f.status().code(), Code::kCorruption);
    EXPECT_EQ(f.status().message(),
              "dir/seg at offset 216: footer body is " + std::to_string(size) + " bytes, expected 40");
  }
}

}  // namespace
}  // namespace cairn::format
