// The CLEAN file codec (FORMAT.md §13): the worked example byte for byte,
// checked against the encoder and against the document's table, and what
// decoding makes of damage.
#include "format/clean_record.h"
#include "format/coding.h"
#include "format_test_util.h"

#include <gtest/gtest.h>

#include <string>

#ifndef CAIRN_FORMAT_MD
#error "CAIRN_FORMAT_MD must name format/FORMAT.md"
#endif

namespace cairn::format {
namespace {

CleanRecord example() {
  CleanRecord r;
  for (size_t i = 0; i < r.store_id.size(); ++i) r.store_id[i] = static_cast<uint8_t>(0xa0 + i);
  r.segment_sequence = 3;
  r.data_end = 0x1d8;
  r.next_position = 42;
  return r;
}

std::string hex(std::string_view bytes, const char* separator = "") {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += separator;
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

constexpr const char* kExampleHex =
    "434149524e434c4e" "01000000" "00000000" "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
    "0300000000000000" "d801000000000000" "2a00000000000000" "92fa956abb3a9171";

TEST(CleanRecordTest, WorkedExampleBytes) {
  std::string bytes = encode_clean_record(example());
  ASSERT_EQ(bytes.size(), kCleanFileSize);
  EXPECT_EQ(hex(bytes), kExampleHex);
  EXPECT_EQ(get_u64(bytes.data() + 56), checksum(bytes.data(), 56));
}

// The document's table shows the same checksum bytes as the encoder writes.
TEST(CleanRecordTest, FormatMdShowsTheEncodersChecksum) {
  std::string doc = test_util::ReadFile(CAIRN_FORMAT_MD);
  std::string bytes = encode_clean_record(example());
  std::string row = "| 0x38-0x3f | checksum | `" + hex(bytes.substr(56), " ") + "` |";
  EXPECT_NE(doc.find("## 13. The clean-close record"), std::string::npos);
  EXPECT_NE(doc.find(row), std::string::npos) << "FORMAT.md §13 should have the row " << row;
}

TEST(CleanRecordTest, RoundTrips) {
  auto decoded = decode_clean_record(encode_clean_record(example()), "CLEAN");
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, example());
}

TEST(CleanRecordTest, DamageIsCorruptionNamingTheFile) {
  std::string good = encode_clean_record(example());
  for (size_t i = 0; i < good.size(); ++i) {
    if (i >= 8 && i < 12) continue;  // the version: UnsupportedVersion, below
    std::string bad = good;
    bad[i] ^= 0x10;
    auto decoded = decode_clean_record(bad, "dir/CLEAN");
    ASSERT_FALSE(decoded.ok()) << "byte " << i;
    EXPECT_EQ(decoded.status().code(), Code::kCorruption) << "byte " << i;
    EXPECT_NE(decoded.status().message().find("dir/CLEAN"), std::string::npos);
  }
  std::string newer = good;
  put_u32(newer.data() + 8, 2);
  EXPECT_EQ(decode_clean_record(newer, "CLEAN").status().code(), Code::kUnsupportedVersion);
}

TEST(CleanRecordTest, TruncatedOrLongerIsCorruption) {
  std::string good = encode_clean_record(example());
  for (size_t n : {size_t{0}, size_t{8}, size_t{56}, size_t{63}}) {
    EXPECT_EQ(decode_clean_record(good.substr(0, n), "CLEAN").status().code(), Code::kCorruption) << n;
  }
  EXPECT_EQ(decode_clean_record(good + std::string(8, '\0'), "CLEAN").status().code(), Code::kCorruption);
}

TEST(CleanRecordTest, NonZeroReservedBytesAreCorruptionEvenWithTheChecksumRecomputed) {
  std::string bad = encode_clean_record(example());
  bad[13] = 1;
  seal_file_header(bad);
  EXPECT_EQ(decode_clean_record(bad, "CLEAN").status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace cairn::format
