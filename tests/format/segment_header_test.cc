// Segment headers and the STORE file (FORMAT.md §2, §5): layout byte for
// byte, round trip, and every rejection.
#include "format/segment_header.h"

#include "format/checksum.h"
#include "format/coding.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "format_test_util.h"

namespace cairn::format {
namespace {

using test_util::SequentialId;

const std::string kSegFile = "/data/store/00000007-00000000000000001000.seg";
const std::string kStoreFile = "/data/store/STORE";

SegmentHeader SampleHeader() {
  return SegmentHeader{7, 1000, SequentialId(0x40).bytes, 1700000000000000000};
}

StoreIdentity SampleIdentity() { return StoreIdentity{SequentialId(0x80).bytes, 1690000000000000000}; }

// Rewrites the checksum at offset 56 after a deliberate change.
void Reseal(std::string& bytes) { put_u64(bytes.data() + 56, checksum(bytes.data(), 56)); }

// --- Segment header.

TEST(SegmentHeaderTest, EncodesTheDocumentedLayoutByteForByte) {
  SegmentHeader h = SampleHeader();
  std::string expected = "CAIRNSEG";
  append_u32(expected, 1);   // format version
  append_u32(expected, 64);  // header size
  append_u64(expected, 7);
  append_u64(expected, 1000);
  expected.append(reinterpret_cast<const char*>(h.store_id.data()), 16);
  append_u64(expected, 1700000000000000000);
  append_u64(expected, checksum(expected.data(), 56));
  EXPECT_EQ(encode_segment_header(h), expected);
}

TEST(SegmentHeaderTest, RoundTrips) {
  for (const SegmentHeader& h : {SampleHeader(), SegmentHeader{},
                                 SegmentHeader{UINT64_MAX, UINT64_MAX, SequentialId(0xf0).bytes, -5}}) {
    std::string bytes = encode_segment_header(h);
    ASSERT_EQ(bytes.size(), 64u);
    auto decoded = decode_segment_header(bytes, kSegFile);
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(decoded->sequence, h.sequence);
    EXPECT_EQ(decoded->first_position, h.first_position);
    EXPECT_EQ(decoded->store_id, h.store_id);
    EXPECT_EQ(decoded->created_ns, h.created_ns);
  }
}

TEST(SegmentHeaderTest, DecodesTheStartOfALongerFile) {
  std::string bytes = encode_segment_header(SampleHeader()) + std::string(100, '\x7f');
  auto decoded = decode_segment_header(bytes, kSegFile);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->sequence, 7u);
}

TEST(SegmentHeaderTest, RejectsBadMagic) {
  for (size_t i = 0; i < 8; ++i) {
    std::string bytes = encode_segment_header(SampleHeader());
    bytes[i] = static_cast<char>(bytes[i] ^ 0x20);
    Reseal(bytes);
    auto h = decode_segment_header(bytes, kSegFile);
    ASSERT_FALSE(h.ok()) << "byte " << i;
    EXPECT_EQ(h.status().code(), Code::kCorruption);
    EXPECT_EQ(h.status().message(), kSegFile + ": bad magic at offset 0 (expected CAIRNSEG)");
  }
}

TEST(SegmentHeaderTest, RejectsAStoreFileAsASegmentHeader) {
  auto h = decode_segment_header(encode_store_file(SampleIdentity()), kSegFile);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kCorruption);
}

TEST(SegmentHeaderTest, RejectsAFlipInAnyCheckedByte) {
  const std::string good = encode_segment_header(SampleHeader());
  for (size_t i = 12; i < 64; ++i) {  // header size, fields, the checksum itself
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x01);
    auto h = decode_segment_header(bytes, kSegFile);
    ASSERT_FALSE(h.ok()) << "byte " << i;
    EXPECT_EQ(h.status().code(), Code::kCorruption) << "byte " << i;
    EXPECT_EQ(h.status().message(), kSegFile + ": header checksum mismatch at offset 56") << "byte " << i;
  }
}

TEST(SegmentHeaderTest, RejectsABadHeaderSizeEvenWithAGoodChecksum) {
  std::string bytes = encode_segment_header(SampleHeader());
  put_u32(bytes.data() + 12, 72);
  Reseal(bytes);
  auto h = decode_segment_header(bytes, kSegFile);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kCorruption);
  EXPECT_EQ(h.status().message(), kSegFile + ": bad header size at offset 12");
}

TEST(SegmentHeaderTest, RejectsOtherVersionsAsUnsupported) {
  for (uint32_t version : {0u, 2u, 0x100u, UINT32_MAX}) {
    for (bool reseal : {true, false}) {  // the version is checked before the checksum
      std::string bytes = encode_segment_header(SampleHeader());
      put_u32(bytes.data() + 8, version);
      if (reseal) Reseal(bytes);
      auto h = decode_segment_header(bytes, kSegFile);
      ASSERT_FALSE(h.ok());
      EXPECT_EQ(h.status().code(), Code::kUnsupportedVersion) << version;
      EXPECT_EQ(h.status().message(), kSegFile + ": format version " + std::to_string(version) +
                                          " (this build reads version 1)");
    }
  }
}

TEST(SegmentHeaderTest, RejectsATruncatedHeader) {
  const std::string good = encode_segment_header(SampleHeader());
  for (size_t n = 0; n < 64; ++n) {
    auto h = decode_segment_header(good.substr(0, n), kSegFile);
    ASSERT_FALSE(h.ok()) << n << " bytes";
    EXPECT_EQ(h.status().code(), Code::kCorruption);
    EXPECT_EQ(h.status().message(),
              kSegFile + ": header truncated: " + std::to_string(n) + " of 64 bytes at offset 0");
  }
}

// --- The STORE file.

TEST(StoreFileTest, EncodesTheDocumentedLayoutByteForByte) {
  StoreIdentity id = SampleIdentity();
  std::string expected = "CAIRNSTO";
  append_u32(expected, 1);  // format version
  append_u32(expected, 0);  // reserved
  expected.append(reinterpret_cast<const char*>(id.store_id.data()), 16);
  append_u64(expected, 1690000000000000000);
  expected.append(16, '\0');  // reserved
  append_u64(expected, checksum(expected.data(), 56));
  EXPECT_EQ(encode_store_file(id), expected);
}

TEST(StoreFileTest, RoundTrips) {
  for (const StoreIdentity& id : {SampleIdentity(), StoreIdentity{}, StoreIdentity{SequentialId(1).bytes, -1}}) {
    auto decoded = decode_store_file(encode_store_file(id), kStoreFile);
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(decoded->store_id, id.store_id);
    EXPECT_EQ(decoded->created_ns, id.created_ns);
  }
}

TEST(StoreFileTest, RejectsBadMagic) {
  for (std::string bytes : {encode_segment_header(SampleHeader()), std::string(64, '\0')}) {
    auto id = decode_store_file(bytes, kStoreFile);
    ASSERT_FALSE(id.ok());
    EXPECT_EQ(id.status().code(), Code::kCorruption);
    EXPECT_EQ(id.status().message(), kStoreFile + ": bad magic at offset 0 (expected CAIRNSTO)");
  }
}

TEST(StoreFileTest, RejectsAFlipInAnyByteAfterTheVersion) {
  const std::string good = encode_store_file(SampleIdentity());
  for (size_t i = 12; i < 64; ++i) {  // reserved bytes included
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ 0x80);
    auto id = decode_store_file(bytes, kStoreFile);
    ASSERT_FALSE(id.ok()) << "byte " << i;
    EXPECT_EQ(id.status().code(), Code::kCorruption);
    EXPECT_EQ(id.status().message(), kStoreFile + ": header checksum mismatch at offset 56");
  }
}

TEST(StoreFileTest, RejectsOtherVersionsAsUnsupported) {
  std::string bytes = encode_store_file(SampleIdentity());
  put_u32(bytes.data() + 8, 2);
  Reseal(bytes);
  auto id = decode_store_file(bytes, kStoreFile);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Code::kUnsupportedVersion);
  EXPECT_EQ(id.status().message(), kStoreFile + ": format version 2 (this build reads version 1)");
}

TEST(StoreFileTest, RejectsATruncatedFile) {
  const std::string good = encode_store_file(SampleIdentity());
  for (size_t n = 0; n < 64; ++n) {
    auto id = decode_store_file(good.substr(0, n), kStoreFile);
    ASSERT_FALSE(id.ok()) << n << " bytes";
    EXPECT_EQ(id.status().code(), Code::kCorruption);
    EXPECT_NE(id.status().message().find(kStoreFile + ": "), std::string::npos);
  }
}

}  // namespace
}  // namespace cairn::format
