// Scanning whole segment images (FORMAT.md §6): end of data, sealed segments,
// torn tails and corruption, and the scan options.
#include "format/segment_scan.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "format_test_util.h"

namespace cairn::format {
namespace {

using test_util::SegmentImage;

const std::string kPath = "/data/store/00000001-00000000000000000100.seg";

struct Seen {
  uint64_t offset;
  uint32_t frame_size;
  uint64_t first_position;
  uint32_t count;
  friend bool operator==(const Seen&, const Seen&) = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{offset " << s.offset << ", size " << s.frame_size << ", position " << s.first_position
            << ", count " << s.count << "}";
}

Result<SegmentScan> Scan(std::string_view file, bool is_last, std::vector<Seen>* seen = nullptr,
                         bool stop_at_corruption = false) {
  return scan_segment(file, kPath, ScanOptions{is_last, stop_at_corruption}, [&](const ScannedBatch& b) {
    if (seen) seen->push_back({b.offset, b.frame_size, b.batch.stamp().first_position, b.batch.count()});
    return Status();
  });
}

// The batches of `image` up to (not including) batch `n`, as the scan reports them.
std::vector<Seen> FirstBatches(const SegmentImage& image, size_t n) {
  std::vector<Seen> out;
  uint64_t position = image.header().first_position;
  for (size_t i = 0; i < n; ++i) {
    uint64_t at = image.batch_offsets()[i];
    auto batch = BatchView::decode(parse_frame(std::string_view(image.bytes()).substr(at)).body, "");
    EXPECT_TRUE(batch.ok());
    out.push_back({at, static_cast<uint32_t>(image.batch_end(i) - at), position, batch->count()});
    position += batch->count();
  }
  return out;
}

uint64_t ContentHash(std::string_view file, uint64_t data_end) {
  return checksum(file.substr(kSegmentHeaderSize, data_end - kSegmentHeaderSize));
}

void ExpectCorruptionAt(const Result<SegmentScan>& scan, uint64_t offset, const std::string& what) {
  ASSERT_FALSE(scan.ok()) << "expected corruption at offset " << offset;
  EXPECT_EQ(scan.status().code(), Code::kCorruption) << scan.status().to_string();
  EXPECT_EQ(scan.status().message(), file_offset(kPath, offset) + ": " + what);
}

// For errors from the body decoders, whose own messages also name the place:
// the message starts with the file and offset and contains `reason`.
void ExpectCorruptionMentioning(const Result<SegmentScan>& scan, uint64_t offset, const std::string& reason) {
  ASSERT_FALSE(scan.ok()) << "expected corruption at offset " << offset;
  EXPECT_EQ(scan.status().code(), Code::kCorruption) << scan.status().to_string();
  const std::string message = scan.status().message();  // status() returns a copy
  std::string prefix = file_offset(kPath, offset) + ": ";
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << message;
  EXPECT_NE(message.find(reason), std::string::npos) << message;
}

// Three batches in three group commits: each batch's durable_position is the
// position after the previous batch. Positions 100..102, 103..104, 105..108.
SegmentImage ThreeGroups() {
  SegmentImage image(100);
  image.AddBatch("Order-1", 3, 100);
  image.AddBatch("Order-2", 2, 103);
  image.AddBatch("Order-1", 4, 105);
  return image;
}

// --- Clean segments.

TEST(SegmentScanTest, EmptyActiveSegment) {
  SegmentImage image(100);
  std::vector<Seen> seen;
  auto scan = Scan(image.bytes(), /*is_last=*/true, &seen);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_EQ(scan->header.first_position, 100u);
  EXPECT_EQ(scan->header.sequence, 1u);
  EXPECT_EQ(scan->data_end, 64u);
  EXPECT_EQ(scan->batch_count, 0u);
  EXPECT_EQ(scan->event_count, 0u);
  EXPECT_EQ(scan->content_hash, checksum("", 0));
  EXPECT_FALSE(scan->footer.has_value());
  EXPECT_FALSE(scan->torn);
  EXPECT_TRUE(seen.empty());
}

TEST(SegmentScanTest, EmptySealedSegment) {
  SegmentImage image(100);
  uint64_t footer_at = image.Seal();
  EXPECT_EQ(footer_at, 64u);
  for (bool is_last : {false, true}) {
    auto scan = Scan(image.bytes(), is_last);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    ASSERT_TRUE(scan->footer.has_value());
    EXPECT_EQ(*scan->footer, (Footer{100, 0, 0, 64, checksum("", 0)}));
    EXPECT_EQ(scan->data_end, 64u);
  }
}

TEST(SegmentScanTest, SeveralBatches) {
  SegmentImage image = ThreeGroups();
  std::vector<Seen> seen;
  auto scan = Scan(image.bytes(), /*is_last=*/true, &seen);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_EQ(seen, FirstBatches(image, 3));
  EXPECT_EQ(seen[1].first_position, 103u);
  EXPECT_EQ(seen[2].first_position, 105u);
  EXPECT_EQ(scan->data_end, image.bytes().size());
  EXPECT_EQ(scan->batch_count, 3u);
  EXPECT_EQ(scan->event_count, 9u);
  EXPECT_EQ(scan->content_hash, ContentHash(image.bytes(), image.bytes().size()));
  EXPECT_FALSE(scan->footer.has_value());
  EXPECT_FALSE(scan->torn);
}

// A clean close's record (FORMAT.md §13) that names where the scan ends, at
// that position, spares it reading what follows (here not zeros, so that the
// skip shows); any other end or position and the tail is checked as usual.
TEST(SegmentScanTest, ACleanCloseRecordSkipsTheTailCheckOnlyWhereItSaysTheLogEnds) {
  SegmentImage image = ThreeGroups();
  std::string file = image.bytes() + std::string(4096, '\0') + "not zeros";
  uint64_t end = image.data_end(), position = 109;  // ThreeGroups: 9 events from position 100
  auto scan_with = [&](uint64_t clean_end, uint64_t clean_position, bool is_last = true) {
    ScanOptions options{is_last, false};
    options.clean_data_end = clean_end;
    options.clean_next_position = clean_position;
    return scan_segment(file, kPath, options, [](const ScannedBatch&) { return Status(); });
  };
  auto trusted = scan_with(end, position);
  ASSERT_TRUE(trusted.ok()) << trusted.status().to_string();
  ASSERT_EQ(trusted->event_count, 9u);
  EXPECT_TRUE(trusted->tail_check_skipped);
  EXPECT_FALSE(trusted->torn);
  EXPECT_EQ(trusted->data_end, end);
  for (auto [clean_end, clean_position] : {std::pair<uint64_t, uint64_t>{0, 0}, {end + 8, position},
                                           {end - 8, position}, {end, position + 1}}) {
    auto checked = scan_with(clean_end, clean_position);
    ASSERT_TRUE(checked.ok()) << checked.status().to_string();
    EXPECT_FALSE(checked->tail_check_skipped) << clean_end << " " << clean_position;
    EXPECT_TRUE(checked->torn) << clean_end << " " << clean_position;
    EXPECT_EQ(checked->torn_reason, "zeroed frame header followed by data");
  }
}

TEST(SegmentScanTest, ZeroBytesAfterTheLastBatchAreTheEndOfData) {
  SegmentImage image = ThreeGroups();
  for (size_t zeros : {1, 15, 16, 100}) {
    std::string file = image.bytes() + std::string(zeros, '\0');
    auto scan = Scan(file, /*is_last=*/true);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    EXPECT_EQ(scan->data_end, image.data_end());
    EXPECT_EQ(scan->batch_count, 3u);
    EXPECT_FALSE(scan->torn) << zeros << " zero bytes";
  }
}

TEST(SegmentScanTest, SealedWithFooter) {
  SegmentImage image = ThreeGroups();
  image.Seal();
  for (bool is_last : {false, true}) {
    std::vector<Seen> seen;
    auto scan = Scan(image.bytes(), is_last, &seen);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    ASSERT_TRUE(scan->footer.has_value());
    EXPECT_EQ(*scan->footer, image.MatchingFooter());
    EXPECT_EQ(scan->footer->data_end, image.data_end());
    EXPECT_EQ(scan->data_end, image.data_end());
    EXPECT_EQ(scan->content_hash, scan->footer->content_hash);
    EXPECT_EQ(scan->event_count, 9u);
    EXPECT_EQ(seen, FirstBatches(image, 3));
    EXPECT_FALSE(scan->torn);
  }
}

TEST(SegmentScanTest, ZeroBytesAfterTheFooterAreAccepted) {
  SegmentImage image = ThreeGroups();
  image.Seal();
  auto scan = Scan(image.bytes() + std::string(32, '\0'), /*is_last=*/false);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_TRUE(scan->footer.has_value());
}

// --- Sealed segments must end with a matching footer.

TEST(SegmentScanTest, FooterMismatchIsCorruptionAtTheFooter) {
  SegmentImage base = ThreeGroups();
  const Footer good = base.MatchingFooter();
  std::vector<Footer> bad(5, good);
  bad[0].first_position++;
  bad[1].event_count++;
  bad[2].batch_count--;
  bad[3].data_end += 8;
  bad[4].content_hash ^= 1;
  for (size_t i = 0; i < bad.size(); ++i) {
    for (bool is_last : {false, true}) {
      SCOPED_TRACE("field " + std::to_string(i) + (is_last ? ", last segment" : ", sealed segment"));
      SegmentImage image = base;
      uint64_t footer_at = image.Seal(bad[i]);
      ExpectCorruptionAt(Scan(image.bytes(), is_last), footer_at, "footer does not match the segment's content");
    }
  }
}

TEST(SegmentScanTest, FooterBodyOfTheWrongSizeIsCorruption) {
  SegmentImage image = ThreeGroups();
  uint64_t footer_at = image.bytes().size();
  size_t frame = begin_frame(image.bytes(), FrameType::kFooter);
  image.bytes().append(48, '\0');
  finish_frame(image.bytes(), frame);
  ExpectCorruptionMentioning(Scan(image.bytes(), false), footer_at, "footer body is 48 bytes, expected 40");
}

TEST(SegmentScanTest, BytesAfterTheFooterAreCorruption) {
  SegmentImage image = ThreeGroups();
  image.Seal();
  const uint64_t end = image.bytes().size();
  std::string with_frame = image.bytes();
  encode_batch(with_frame, "Order-3", std::vector<NewEvent>{{test_util::SequentialId(1), "T", "", ""}},
               BatchStamp{109, 0, 109, 0});
  for (bool is_last : {false, true}) {
    ExpectCorruptionAt(Scan(with_frame, is_last), end, "bytes after the footer");
    ExpectCorruptionAt(Scan(image.bytes() + "abc", is_last), end, "bytes after the footer");
  }
}

TEST(SegmentScanTest, SealedSegmentWithoutFooterIsCorruption) {
  SegmentImage image = ThreeGroups();
  ExpectCorruptionAt(Scan(image.bytes(), /*is_last=*/false), image.data_end(), "sealed segment has no footer");
  SegmentImage empty(100);
  ExpectCorruptionAt(Scan(empty.bytes(), /*is_last=*/false), 64, "sealed segment has no footer");
}

TEST(SegmentScanTest, InvalidFrameInASealedSegmentIsCorruption) {
  SegmentImage image = ThreeGroups();
  image.Seal();
  const uint64_t last = image.batch_offsets()[2];
  std::string flipped = image.bytes();
  flipped[last + 40] ^= 0x04;
  ExpectCorruptionAt(Scan(flipped, false), last, "checksum mismatch in a sealed segment");
  std::string cut = image.bytes().substr(0, image.data_end() - 1);
  ExpectCorruptionAt(Scan(cut, false), last, "truncated frame in a sealed segment");
}

// --- Positions must continue.

TEST(SegmentScanTest, PositionGapIsCorruption) {
  SegmentImage image(100);
  image.AddBatch("a", 2, 100);
  uint64_t second = image.AddBatchWithStamp("b", 1, BatchStamp{103, 0, 102, 0});  // expected 102
  for (bool is_last : {false, true}) {
    ExpectCorruptionAt(Scan(image.bytes(), is_last), second, "batch starts at position 103, expected 102");
  }
}

TEST(SegmentScanTest, PositionOverlapIsCorruption) {
  SegmentImage image(100);
  image.AddBatch("a", 2, 100);
  uint64_t second = image.AddBatchWithStamp("b", 1, BatchStamp{101, 0, 100, 0});
  ExpectCorruptionAt(Scan(image.bytes(), true), second, "batch starts at position 101, expected 102");
}

TEST(SegmentScanTest, FirstBatchMustStartAtTheHeadersPosition) {
  SegmentImage image(100);
  image.AddBatchWithStamp("a", 1, BatchStamp{0, 0, 0, 0});
  ExpectCorruptionAt(Scan(image.bytes(), true), 64, "batch starts at position 0, expected 100");
}

TEST(SegmentScanTest, UndecodableBatchBodyIsCorruption) {
  SegmentImage image(100);
  image.AddBatch("a", 1, 100);
  std::string file = image.bytes();
  put_u32(file.data() + 64 + 16 + 32, 0);  // event_count 0, checksum resealed below
  seal_frame(file.data() + 64, file.size() - 64);
  ExpectCorruptionMentioning(Scan(file, true), 64, "events batch: zero events");
}

// --- Torn tails in the last segment.

TEST(SegmentScanTest, TruncationAtEveryOffsetInsideTheLastBatchIsATornTail) {
  SegmentImage image = ThreeGroups();
  const uint64_t start = image.batch_offsets()[2];
  const uint64_t end = image.data_end();
  const std::vector<Seen> intact = FirstBatches(image, 2);
  for (uint64_t cut = start; cut < end; ++cut) {
    SCOPED_TRACE("file cut at " + std::to_string(cut));
    std::string_view file = std::string_view(image.bytes()).substr(0, cut);
    std::vector<Seen> seen;
    auto scan = Scan(file, /*is_last=*/true, &seen);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    // Fewer than 16 bytes left, all zero, is a clean end of data (FORMAT.md §3).
    bool clean_end = file.substr(start).find_first_not_of('\0') == std::string_view::npos;
    EXPECT_EQ(scan->torn, !clean_end);
    EXPECT_EQ(scan->torn_reason, clean_end ? "" : "truncated frame");
    EXPECT_EQ(scan->data_end, start);
    EXPECT_EQ(scan->batch_count, 2u);
    EXPECT_EQ(scan->event_count, 5u);
    EXPECT_EQ(scan->content_hash, ContentHash(file, start));
    EXPECT_FALSE(scan->footer.has_value());
    EXPECT_EQ(seen, intact);
  }
}

TEST(SegmentScanTest, FlippedByteInsideTheLastBatchIsATornTail) {
  SegmentImage image = ThreeGroups();
  const uint64_t start = image.batch_offsets()[2];
  const std::vector<Seen> intact = FirstBatches(image, 2);
  for (uint64_t at = start; at < image.data_end(); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at) + " flipped");
    std::string file = image.bytes();
    file[at] ^= 0x10;
    std::vector<Seen> seen;
    auto scan = Scan(file, /*is_last=*/true, &seen);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    EXPECT_TRUE(scan->torn);
    EXPECT_FALSE(scan->torn_reason.empty());
    EXPECT_EQ(scan->data_end, start);
    EXPECT_EQ(scan->batch_count, 2u);
    EXPECT_EQ(seen, intact);
  }
}

TEST(SegmentScanTest, FlippedByteInADurableBatchIsCorruptionAtItsOffset) {
  // Batch 1 (positions 103..104) is vouched for by batch 2, whose
  // durable_position 105 says everything below 105 was durable.
  SegmentImage image = ThreeGroups();
  const uint64_t start = image.batch_offsets()[1];
  for (uint64_t at = start; at < image.batch_end(1); ++at) {
    SCOPED_TRACE("byte " + std::to_string(at) + " flipped");
    std::string file = image.bytes();
    file[at] ^= 0x10;
    auto scan = Scan(file, /*is_last=*/true);
    ASSERT_FALSE(scan.ok());
    EXPECT_EQ(scan.status().code(), Code::kCorruption);
    // The message names the file and the exact offset of the damaged frame.
    std::string prefix = kPath + " at offset " + std::to_string(start) + ": ";
    EXPECT_EQ(scan.status().message().substr(0, prefix.size()), prefix) << scan.status().message();
    EXPECT_NE(scan.status().message().find("before the end of the durable data"), std::string::npos);
  }
}

TEST(SegmentScanTest, FlippedByteInTheFirstBatchWithAVouchingLaterBatch) {
  SegmentImage image = ThreeGroups();
  std::string file = image.bytes();
  file[64 + 60] ^= 0x01;  // a byte of batch 0's stream name
  ExpectCorruptionAt(Scan(file, true), 64, "checksum mismatch before the end of the durable data");
}

TEST(SegmentScanTest, AFooterVouchesForTheBatchesBeforeIt) {
  SegmentImage image(100);
  image.AddBatch("a", 1, 100);
  image.AddBatch("a", 1, 100);  // same group: would not vouch for batch 0
  image.Seal();
  std::string file = image.bytes();
  file[64 + 20] ^= 0x01;
  ExpectCorruptionAt(Scan(file, true), 64, "checksum mismatch before the end of the durable data");
}

TEST(SegmentScanTest, FlippedByteInAnEarlierBatchOfTheLastGroupIsATornTail) {
  // Batches 1 and 2 were written by one group commit: both carry
  // durable_position 103, which does not vouch for position 103.
  SegmentImage image(100);
  image.AddBatch("Order-1", 3, 100);
  image.AddBatch("Order-2", 2, 103);
  image.AddBatch("Order-1", 4, 103);
  const uint64_t start = image.batch_offsets()[1];
  for (uint64_t at : {start, start + 8, start + 16, start + 50, image.batch_end(1) - 1}) {
    SCOPED_TRACE("byte " + std::to_string(at) + " flipped");
    std::string file = image.bytes();
    file[at] ^= 0x01;
    std::vector<Seen> seen;
    auto scan = Scan(file, /*is_last=*/true, &seen);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    EXPECT_TRUE(scan->torn);
    EXPECT_EQ(scan->data_end, start);
    EXPECT_EQ(scan->batch_count, 1u);
    EXPECT_EQ(seen, FirstBatches(image, 1));
  }
}

TEST(SegmentScanTest, GarbageAfterTheLastBatchIsATornTail) {
  SegmentImage image = ThreeGroups();
  for (std::string garbage : {std::string("\x01", 1), std::string(16, '\xff'), std::string(100, 'x')}) {
    auto scan = Scan(image.bytes() + garbage, /*is_last=*/true);
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    EXPECT_TRUE(scan->torn);
    EXPECT_EQ(scan->data_end, image.data_end());
    EXPECT_EQ(scan->batch_count, 3u);
  }
}

// --- An all-zero frame header inside the data (see the report on
// segment_scan.cc): scan_segment stops at it without looking further, so
// durable batches after a zeroed block are dropped silently, and stale frames
// left after it are not cut off. Disabled until segment_scan.cc applies the
// vouching check to an end-of-data marker that is followed by data.

TEST(SegmentScanTest, ZeroedFrameInsideTheDurableDataIsCorruption) {
  SegmentImage image = ThreeGroups();  // batch 2 vouches for batch 1
  std::string file = image.bytes();
  const uint64_t start = image.batch_offsets()[1];
  std::fill(file.begin() + start, file.begin() + start + 16, '\0');  // a lost 16 bytes
  auto scan = Scan(file, /*is_last=*/true);
  ASSERT_FALSE(scan.ok()) << "data_end " << scan->data_end << ", torn " << scan->torn;
  EXPECT_EQ(scan.status().code(), Code::kCorruption);
  std::string prefix = file_offset(kPath, start) + ": ";
  EXPECT_EQ(scan.status().message().substr(0, prefix.size()), prefix);
}

TEST(SegmentScanTest, ZeroedFrameFollowedByDataIsATornTail) {
  SegmentImage image(100);
  image.AddBatch("a", 1, 100);
  image.AddBatch("b", 1, 100);  // same group: nothing vouches for batch 0
  std::string file = image.bytes();
  std::fill(file.begin() + 64, file.begin() + 64 + 16, '\0');
  auto scan = Scan(file, /*is_last=*/true);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_EQ(scan->data_end, 64u);
  EXPECT_TRUE(scan->torn);  // so that recovery cuts the stale batch 1 off
}

// --- Options and the caller's check.

TEST(SegmentScanTest, StopAtCorruptionReturnsTheIntactPrefix) {
  SegmentImage image = ThreeGroups();
  const uint64_t start = image.batch_offsets()[1];
  std::string file = image.bytes();
  file[start + 70] ^= 0x01;
  ASSERT_FALSE(Scan(file, true).ok());

  std::vector<Seen> seen;
  auto scan = Scan(file, /*is_last=*/true, &seen, /*stop_at_corruption=*/true);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_TRUE(scan->torn);
  EXPECT_TRUE(scan->corruption);
  EXPECT_EQ(scan->torn_reason, file_offset(kPath, start) + ": checksum mismatch before the end of the durable data");
  EXPECT_EQ(scan->data_end, start);
  EXPECT_EQ(scan->batch_count, 1u);
  EXPECT_EQ(scan->event_count, 3u);
  EXPECT_EQ(scan->content_hash, ContentHash(file, start));
  EXPECT_EQ(seen, FirstBatches(image, 1));
}

TEST(SegmentScanTest, StopAtCorruptionInASealedSegment) {
  SegmentImage image = ThreeGroups();
  image.Seal();
  const uint64_t start = image.batch_offsets()[2];
  std::string file = image.bytes();
  file[start + 70] ^= 0x01;
  auto scan = Scan(file, /*is_last=*/false, nullptr, /*stop_at_corruption=*/true);
  ASSERT_TRUE(scan.ok()) << scan.status().to_string();
  EXPECT_TRUE(scan->torn);
  EXPECT_TRUE(scan->corruption);
  EXPECT_EQ(scan->torn_reason, file_offset(kPath, start) + ": checksum mismatch in a sealed segment");
  EXPECT_EQ(scan->data_end, start);
  EXPECT_EQ(scan->batch_count, 2u);
  EXPECT_FALSE(scan->footer.has_value());
}

TEST(SegmentScanTest, AnErrorFromOnBatchStopsTheScan) {
  SegmentImage image = ThreeGroups();
  int calls = 0;
  auto scan = scan_segment(image.bytes(), kPath, ScanOptions{true, false}, [&](const ScannedBatch&) {
    return ++calls == 2 ? Status::not_found("no such stream") : Status();
  });
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(scan.status().code(), Code::kNotFound);
  EXPECT_EQ(scan.status().message(), "no such stream");
}

TEST(SegmentScanTest, ACorruptionFromOnBatchIsReportedAtTheBatch) {
  SegmentImage image = ThreeGroups();
  auto scan = scan_segment(image.bytes(), kPath, ScanOptions{true, false}, [&](const ScannedBatch& b) {
    return b.batch.stamp().first_position == 103 ? Status::corruption("version gap") : Status();
  });
  ExpectCorruptionAt(scan, image.batch_offsets()[1], "version gap");
}

TEST(SegmentScanTest, HeaderErrorsAreReturnedAsTheyAre) {
  SegmentImage image = ThreeGroups();
  std::string bad_magic = image.bytes();
  bad_magic[0] = 'X';
  auto scan = Scan(bad_magic, true);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), Code::kCorruption);
  EXPECT_EQ(scan.status().message(), kPath + ": bad magic at offset 0 (expected CAIRNSEG)");

  std::string v2 = image.bytes();
  put_u32(v2.data() + 8, 2);
  scan = Scan(v2, true);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), Code::kUnsupportedVersion);

  scan = Scan(std::string_view(image.bytes()).substr(0, 63), true);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), Code::kCorruption);
}

TEST(SegmentScanTest, FileOffsetNamesAPlaceInAFile) {
  EXPECT_EQ(file_offset("/a/b.seg", 4096), "/a/b.seg at offset 4096");
}

}  // namespace
}  // namespace cairn::format
