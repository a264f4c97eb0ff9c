// Segment file names (FORMAT.md §1.1): "<sequence:8>-<first position:20>.seg".
#include "format/segment_name.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace cairn::format {
namespace {

TEST(SegmentNameTest, FormatsZeroPaddedDecimal) {
  EXPECT_EQ(segment_file_name({1, 0}), "00000001-00000000000000000000.seg");
  EXPECT_EQ(segment_file_name({42, 1234567}), "00000042-00000000000001234567.seg");
  EXPECT_EQ(segment_file_name({99999999, UINT64_MAX}), "99999999-18446744073709551615.seg");
  // Sequences past 8 digits take the digits they need.
  EXPECT_EQ(segment_file_name({123456789, 5}), "123456789-00000000000000000005.seg");
}

TEST(SegmentNameTest, RoundTrips) {
  for (SegmentName n : {SegmentName{1, 0}, SegmentName{2, 1000}, SegmentName{99999999, UINT64_MAX},
                        SegmentName{123456789, 42}, SegmentName{UINT64_MAX, 7}}) {
    std::string name = segment_file_name(n);
    auto parsed = parse_segment_file_name(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(parsed->sequence, n.sequence) << name;
    EXPECT_EQ(parsed->first_position, n.first_position) << name;
  }
}

TEST(SegmentNameTest, SortingNamesSortsSegments) {
  std::vector<std::string> names;
  uint64_t position = 0;
  for (uint64_t seq : {1ull, 2ull, 9ull, 10ull, 11ull, 99ull, 100ull, 12345678ull, 99999999ull}) {
    names.push_back(segment_file_name({seq, position}));
    position = position * 10 + 977;  // positions grow with the sequence, across digit counts
  }
  std::vector<std::string> shuffled = names;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  std::sort(shuffled.begin(), shuffled.end());
  EXPECT_EQ(shuffled, names);
}

TEST(SegmentNameTest, RejectsOtherNames) {
  for (const char* name : {
           "",
           "STORE",
           "LOCK",
           "STORE.tmp",
           "00000001-00000000000000000000.seg.tmp",  // an unfinished segment
           "00000001-00000000000000000000.SEG",
           "00000001-00000000000000000000.sig",
           "00000001-00000000000000000000",
           "0000001-00000000000000000000.seg",     // 7-digit sequence
           "000000001-00000000000000000000.seg",   // a leading zero past 8 digits
           "0100000000-00000000000000000000.seg",  // sequence 10^8, zero-padded
           "00000001-0000000000000000000.seg",     // 19-digit position
           "00000001-000000000000000000000.seg",   // 21-digit position
           "00000001_00000000000000000000.seg",
           "00000001+00000000000000000000.seg",
           "0000000a-00000000000000000000.seg",
           "-0000001-00000000000000000000.seg",
           " 0000001-00000000000000000000.seg",
           "00000001-0000000000000000000x.seg",
           "00000001--0000000000000000000.seg",
           "00000001-18446744073709551616.seg",     // position 2^64
           "00000001-99999999999999999999.seg",
           "18446744073709551616-00000000000000000000.seg",  // sequence 2^64
           "dir/00000001-00000000000000000000.seg",
       }) {
    EXPECT_FALSE(parse_segment_file_name(name).has_value()) << '"' << name << '"';
  }
}

TEST(SegmentNameTest, StoreAndLockFileNames) {
  EXPECT_EQ(kStoreFileName, "STORE");
  EXPECT_EQ(kLockFileName, "LOCK");
}

}  // namespace
}  // namespace cairn::format
