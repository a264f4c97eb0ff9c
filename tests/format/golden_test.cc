// The worked example of format/FORMAT.md §9, checked against the encoders
// byte for byte and decoded field by field, so the document and the code
// cannot drift apart. Every ```hex block in FORMAT.md belongs to the example.
#include "format/batch.h"
#include "format/checksum.h"
#include "format/coding.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_header.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "format_test_util.h"

#ifndef CAIRN_FORMAT_MD
#error "CAIRN_FORMAT_MD must name format/FORMAT.md"
#endif

namespace cairn::format {
namespace {

using test_util::FirstDifference;
using test_util::OwnedEvent;
using test_util::ParseHexLine;
using test_util::ReadFile;
using test_util::SequentialId;
using test_util::Views;

constexpr int64_t kCreatedNs = 1700000000000000000;
constexpr int64_t kTimestampNs = 1700000000000000001;
constexpr size_t kBatchAt = 64;
constexpr size_t kBatchSize = 152;
constexpr size_t kFooterAt = kBatchAt + kBatchSize;
constexpr size_t kFileSize = kFooterAt + 56;

// The bytes of every ```hex block of `doc`, in order. Each line's offset must
// continue where the previous line ended, and only a block's last line may
// hold fewer than 16 bytes. Problems are reported as test failures.
std::string ParseHexBlocks(const std::string& doc) {
  std::string out;
  std::istringstream in(doc);
  std::string line;
  int line_no = 0;
  bool in_block = false;
  bool short_line_seen = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (!in_block) {
      in_block = line == "```hex";
      short_line_seen = false;
      continue;
    }
    if (line == "```") {
      in_block = false;
      continue;
    }
    uint64_t offset = 0;
    std::string bytes;
    if (!ParseHexLine(line, offset, bytes)) {
      ADD_FAILURE() << "FORMAT.md line " << line_no << ": not an 'OFFSET: xx xx ...' line: " << line;
      continue;
    }
    if (offset != out.size()) {
      ADD_FAILURE() << "FORMAT.md line " << line_no << ": offset " << offset << ", expected " << out.size();
    }
    if (short_line_seen) ADD_FAILURE() << "FORMAT.md line " << line_no << ": follows a short line";
    short_line_seen = bytes.size() < 16;
    out += bytes;
  }
  EXPECT_FALSE(in_block) << "FORMAT.md: unterminated ```hex block";
  return out;
}

std::vector<OwnedEvent> ExampleEvents() {
  return {{SequentialId(0x10), "OrderPlaced", "{\"total\":42}", ""},
          {SequentialId(0x20), "OrderPaid", "{}", "m"}};
}

SegmentHeader ExampleHeader() {
  SegmentHeader h{1, 0, {}, kCreatedNs};
  for (int i = 0; i < 16; ++i) h.store_id[i] = static_cast<uint8_t>(i);
  return h;
}

// The example built with the encoders.
std::string EncodeExample() {
  std::string file = encode_segment_header(ExampleHeader());
  std::vector<OwnedEvent> events = ExampleEvents();
  std::vector<NewEvent> views = Views(events);
  size_t at = encode_batch(file, "Order-42", views, BatchStamp{0, 0, 0, kTimestampNs});
  uint64_t content_hash = checksum(std::string_view(file).substr(at));
  encode_footer(file, Footer{0, 2, 1, file.size(), content_hash});
  return file;
}

std::string Hex64(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

class GoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    doc_ = new std::string(ReadFile(CAIRN_FORMAT_MD));
    bytes_ = new std::string(ParseHexBlocks(*doc_));
  }
  static void TearDownTestSuite() {
    delete doc_;
    delete bytes_;
  }
  void SetUp() override {
    ASSERT_FALSE(doc_->empty()) << "cannot read " << CAIRN_FORMAT_MD;
    ASSERT_EQ(bytes_->size(), kFileSize) << "the worked example's hex blocks";
  }
  static std::string_view doc_bytes() { return *bytes_; }
  static const std::string& doc() { return *doc_; }

 private:
  static std::string* doc_;
  static std::string* bytes_;
};
std::string* GoldenTest::doc_ = nullptr;
std::string* GoldenTest::bytes_ = nullptr;

TEST_F(GoldenTest, DocumentMatchesTheEncodersByteForByte) {
  std::string encoded = EncodeExample();
  size_t diff = FirstDifference(doc_bytes(), encoded);
  if (diff != std::string_view::npos) {
    auto byte_at = [](std::string_view s, size_t i) {
      return i < s.size() ? Hex64(static_cast<unsigned char>(s[i])).substr(16) : std::string("(none)");
    };
    ADD_FAILURE() << "FORMAT.md and the encoders differ first at offset " << diff << " (0x" << std::hex
                  << diff << std::dec << "): document "
                  << byte_at(doc_bytes(), diff) << ", encoder " << byte_at(encoded, diff)
                  << " (sizes " << doc_bytes().size() << " and " << encoded.size() << ")";
  }
}

TEST_F(GoldenTest, DecodesTheSegmentHeader) {
  auto h = decode_segment_header(doc_bytes(), "FORMAT.md");
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ(doc_bytes().substr(0, 8), "CAIRNSEG");
  EXPECT_EQ(get_u32(doc_bytes().data() + 8), 1u);
  EXPECT_EQ(get_u32(doc_bytes().data() + 12), 64u);
  EXPECT_EQ(h->sequence, 1u);
  EXPECT_EQ(h->first_position, 0u);
  EXPECT_EQ(h->store_id, ExampleHeader().store_id);
  EXPECT_EQ(h->created_ns, kCreatedNs);
  EXPECT_EQ(get_u64(doc_bytes().data() + 56), checksum(doc_bytes().substr(0, 56)));
}

TEST_F(GoldenTest, DecodesTheEventsBatch) {
  Frame f = parse_frame(doc_bytes().substr(kBatchAt));
  ASSERT_EQ(f.status, FrameStatus::kOk);
  EXPECT_EQ(f.type, FrameType::kEvents);
  EXPECT_EQ(f.size, kBatchSize);
  EXPECT_EQ(f.body.size(), 135u);
  EXPECT_EQ(doc_bytes()[kBatchAt + 16 + 135], '\0');  // the padding byte

  auto batch = BatchView::decode(f.body, "FORMAT.md at offset 64");
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  EXPECT_EQ(batch->stamp().first_position, 0u);
  EXPECT_EQ(batch->stamp().first_version, 0u);
  EXPECT_EQ(batch->stamp().durable_position, 0u);
  EXPECT_EQ(batch->stamp().timestamp_ns, kTimestampNs);
  EXPECT_EQ(batch->count(), 2u);
  EXPECT_EQ(batch->stream(), "Order-42");
  EXPECT_EQ(batch->last_position(), 1u);

  std::vector<OwnedEvent> want = ExampleEvents();
  uint32_t seen = 0;
  batch->for_each([&](uint32_t i, const EventView& e) {
    EXPECT_EQ(e.id, want[i].id) << "event " << i;
    EXPECT_EQ(e.type, want[i].type) << "event " << i;
    EXPECT_EQ(e.data, want[i].data) << "event " << i;
    EXPECT_EQ(e.metadata, want[i].metadata) << "event " << i;
    ++seen;
    return true;
  });
  EXPECT_EQ(seen, 2u);
}

TEST_F(GoldenTest, DecodesTheFooter) {
  Frame f = parse_frame(doc_bytes().substr(kFooterAt));
  ASSERT_EQ(f.status, FrameStatus::kOk);
  EXPECT_EQ(f.type, FrameType::kFooter);
  EXPECT_EQ(f.size, 56u);
  auto footer = decode_footer(f.body, "FORMAT.md at offset 216");
  ASSERT_TRUE(footer.ok()) << footer.status().to_string();
  EXPECT_EQ(footer->first_position, 0u);
  EXPECT_EQ(footer->event_count, 2u);
  EXPECT_EQ(footer->batch_count, 1u);
  EXPECT_EQ(footer->data_end, kFooterAt);
  EXPECT_EQ(footer->content_hash, checksum(doc_bytes().substr(kBatchAt, kBatchSize)));
  EXPECT_EQ(parse_frame(doc_bytes().substr(kFileSize)).status, FrameStatus::kEnd);
}

TEST_F(GoldenTest, ScansAsASealedSegmentAndAsTheLastOne) {
  for (bool is_last : {false, true}) {
    std::vector<std::pair<uint64_t, uint32_t>> batches;
    auto scan = scan_segment(doc_bytes(), "FORMAT.md", ScanOptions{is_last, false},
                             [&](const ScannedBatch& b) {
                               batches.emplace_back(b.offset, b.frame_size);
                               return Status();
                             });
    ASSERT_TRUE(scan.ok()) << scan.status().to_string();
    EXPECT_EQ(batches, (std::vector<std::pair<uint64_t, uint32_t>>{{kBatchAt, kBatchSize}}));
    EXPECT_EQ(scan->data_end, kFooterAt);
    EXPECT_EQ(scan->batch_count, 1u);
    EXPECT_EQ(scan->event_count, 2u);
    EXPECT_FALSE(scan->torn);
    ASSERT_TRUE(scan->footer.has_value());
    EXPECT_EQ(scan->footer->content_hash, scan->content_hash);
  }
}

// The annotation tables quote the checksums; they must be the real ones.
TEST_F(GoldenTest, AnnotatedChecksumsAreTheRealOnes) {
  std::string_view b = doc_bytes();
  for (uint64_t sum : {checksum(b.substr(0, 56)), checksum(b.substr(kBatchAt + 8, kBatchSize - 8)),
                       checksum(b.substr(kFooterAt + 8, 48)), checksum(b.substr(kBatchAt, kBatchSize))}) {
    EXPECT_NE(doc().find(Hex64(sum)), std::string::npos) << Hex64(sum) << " is not quoted in FORMAT.md";
  }
}

TEST_F(GoldenTest, NamesTheExampleFile) {
  std::string name = segment_file_name({1, 0});
  EXPECT_EQ(name, "00000001-00000000000000000000.seg");
  EXPECT_NE(doc().find("`" + name + "`"), std::string::npos);
}

TEST_F(GoldenTest, QuotesTheChecksumTestVectors) {
  EXPECT_NE(doc().find(Hex64(checksum("", 0))), std::string::npos);
  EXPECT_NE(doc().find(Hex64(checksum("abc", 3))), std::string::npos);
}

}  // namespace
}  // namespace cairn::format
