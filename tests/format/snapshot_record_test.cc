// The snapshot log's bytes (format/FORMAT.md §11): file names, the file
// header, record headers byte for byte, every rejection, the scan's torn
// tail and corruption rules, and the worked example of §11.7 read from
// FORMAT.md itself, so that the document and the encoder agree.
#include "format/snapshot_record.h"

#include "format/checksum.h"
#include "format/coding.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "format_test_util.h"

#ifndef CAIRN_FORMAT_MD
#error "CAIRN_FORMAT_MD must name format/FORMAT.md"
#endif

namespace cairn::format {
namespace {

using test_util::FirstDifference;
using test_util::SequentialId;

const std::string kFile = "/data/store/snapshots/00000001.snap";
constexpr int64_t kCreatedNs = 1700000000000000000;

SnapshotFileHeader SampleFileHeader() { return SnapshotFileHeader{1, SequentialId(0).bytes, kCreatedNs}; }

SnapshotRecord SampleRecord(std::string_view payload, uint64_t offset = kSnapshotFileHeaderSize) {
  SnapshotRecord r;
  r.stream = "Order-42";
  r.schema = "v1";
  r.offset = offset;
  r.id = 1;
  r.version = 9;
  r.created_ns = kCreatedNs + 1;
  r.payload_len = payload.size();
  r.payload_checksum = checksum(payload);
  return r;
}

// A whole record: header, payload, padding.
std::string EncodeRecord(const SnapshotRecord& r, std::string_view payload) {
  return encode_snapshot_record_header(r) + std::string(payload) + std::string(padding_after(r), '\0');
}

// A snapshot file image built with the real encoders.
class FileImage {
 public:
  FileImage() : bytes_(encode_snapshot_file_header(SampleFileHeader())) {}
  // Appends a snapshot record of `payload` for `stream`; returns its offset.
  uint64_t Add(std::string_view stream, uint64_t version, std::string_view payload) {
    SnapshotRecord r = SampleRecord(payload, bytes_.size());
    r.stream = stream;
    r.version = version;
    r.id = ++ids_;
    bytes_ += EncodeRecord(r, payload);
    return r.offset;
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
  uint64_t ids_ = 0;
};

ReadAt ReaderOf(const std::string& bytes) {
  return [&bytes](uint64_t offset, char* buf, size_t n) -> Result<size_t> {
    if (offset >= bytes.size()) return size_t{0};
    size_t got = std::min<uint64_t>(n, bytes.size() - offset);
    std::memcpy(buf, bytes.data() + offset, got);
    return got;
  };
}

struct Scanned {
  Result<SnapshotFileScan> scan = Status::io_error("not scanned");
  std::vector<SnapshotRecord> records;
};

Scanned Scan(const std::string& bytes, bool is_last, bool verify_payloads = false) {
  Scanned out;
  out.scan = scan_snapshot_file(ReaderOf(bytes), bytes.size(), kFile, {is_last, verify_payloads},
                                [&](const SnapshotRecord& r) { out.records.push_back(r); });
  return out;
}

// Rewrites a record's header checksum after a deliberate change.
void ResealRecord(std::string& bytes, uint64_t offset) {
  uint64_t size = snapshot_record_header_size(std::string_view(bytes).substr(offset));
  put_u64(bytes.data() + offset, checksum(bytes.data() + offset + 8, size - 8));
}

// --- names and the file header ---

TEST(SnapshotFileNameTest, RoundTripsAndRejectsOtherNames) {
  EXPECT_EQ(snapshot_file_name(1), "00000001.snap");
  EXPECT_EQ(snapshot_file_name(123456789), "123456789.snap");
  EXPECT_EQ(parse_snapshot_file_name("00000007.snap"), 7u);
  EXPECT_EQ(parse_snapshot_file_name("123456789.snap"), 123456789u);
  for (std::string_view bad : {"7.snap", "0000007.snap", "00000007.snap.tmp", "0000000a.snap", "00000007.seg",
                               "000000007.snap", ".snap"}) {
    EXPECT_FALSE(parse_snapshot_file_name(bad)) << bad;
  }
}

TEST(SnapshotFileHeaderTest, EncodesTheDocumentedLayoutByteForByte) {
  std::string expected = "CAIRNSNP";
  append_u32(expected, 1);
  append_u32(expected, 64);
  append_u64(expected, 1);
  append_u64(expected, 0);
  for (int i = 0; i < 16; ++i) expected.push_back(static_cast<char>(i));
  append_u64(expected, static_cast<uint64_t>(kCreatedNs));
  append_u64(expected, checksum(expected.data(), 56));
  EXPECT_EQ(encode_snapshot_file_header(SampleFileHeader()), expected);
  auto decoded = decode_snapshot_file_header(expected, kFile);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->sequence, 1u);
  EXPECT_EQ(decoded->store_id, SequentialId(0).bytes);
  EXPECT_EQ(decoded->created_ns, kCreatedNs);
}

TEST(SnapshotFileHeaderTest, RejectsDamage) {
  std::string good = encode_snapshot_file_header(SampleFileHeader());
  EXPECT_EQ(decode_snapshot_file_header(good.substr(0, 63), kFile).status().code(), Code::kCorruption);
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_EQ(decode_snapshot_file_header(magic, kFile).status().code(), Code::kCorruption);
  std::string version = good;
  put_u32(version.data() + 8, 2);
  EXPECT_EQ(decode_snapshot_file_header(version, kFile).status().code(), Code::kUnsupportedVersion);
  std::string flipped = good;
  flipped[20] ^= 1;
  auto s = decode_snapshot_file_header(flipped, kFile).status();
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(kFile), std::string::npos) << s.message();
  std::string size = good;
  put_u32(size.data() + 12, 72);
  put_u64(size.data() + 56, checksum(size.data(), 56));
  EXPECT_EQ(decode_snapshot_file_header(size, kFile).status().code(), Code::kCorruption);
}

// --- record headers ---

TEST(SnapshotRecordTest, EncodesTheDocumentedLayoutByteForByte) {
  SnapshotRecord r = SampleRecord("{\"total\":42}");
  r.floor_version = 7;
  r.floor_id = 3;
  std::string expected(8, '\0');
  expected += "SNAP";
  expected.push_back(1);  // kind
  expected.push_back(0);
  append_u16(expected, 8);
  append_u16(expected, 2);
  expected.append(6, '\0');
  append_u64(expected, 64);
  append_u64(expected, 1);
  append_u64(expected, 9);
  append_u64(expected, 7);
  append_u64(expected, 3);
  append_u64(expected, static_cast<uint64_t>(kCreatedNs + 1));
  append_u64(expected, 12);
  append_u64(expected, checksum("{\"total\":42}"));
  expected += "Order-42v1";
  put_u64(expected.data(), checksum(expected.data() + 8, expected.size() - 8));
  std::string encoded = encode_snapshot_record_header(r);
  EXPECT_EQ(FirstDifference(encoded, expected), std::string::npos);
  EXPECT_EQ(r.header_size(), 98u);
  EXPECT_EQ(r.size(), 112u);  // align8(98 + 12)
  EXPECT_EQ(padding_after(r), 2u);
  EXPECT_EQ(snapshot_record_header_size(encoded), 98u);

  auto decoded = decode_snapshot_record_header(encoded, 64, kFile);
  ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->kind, SnapshotRecordKind::kSnapshot);
  EXPECT_EQ(decoded->stream, "Order-42");
  EXPECT_EQ(decoded->schema, "v1");
  EXPECT_EQ(decoded->offset, 64u);
  EXPECT_EQ(decoded->id, 1u);
  EXPECT_EQ(decoded->version, 9u);
  EXPECT_EQ(decoded->floor_version, 7u);
  EXPECT_EQ(decoded->floor_id, 3u);
  EXPECT_EQ(decoded->created_ns, kCreatedNs + 1);
  EXPECT_EQ(decoded->payload_len, 12u);
  EXPECT_EQ(decoded->payload_checksum, checksum("{\"total\":42}"));
}

TEST(SnapshotRecordTest, FloorDropsWhatIsOrderedBeforeIt) {
  SnapshotRecord r;
  r.floor_version = 10;
  r.floor_id = 5;
  EXPECT_TRUE(r.drops(9, 100));
  EXPECT_TRUE(r.drops(10, 4));
  EXPECT_FALSE(r.drops(10, 5));
  EXPECT_FALSE(r.drops(11, 1));
  SnapshotRecord none;  // (0, 0): drops nothing
  EXPECT_FALSE(none.drops(0, 1));
}

// Every rejection, each at the record's offset and naming the file.
TEST(SnapshotRecordTest, RejectsDamagedHeaders) {
  const std::string good = encode_snapshot_record_header(SampleRecord("xyz"));
  auto expect_bad = [&](std::string bytes, bool reseal, const std::string& why) {
    if (reseal) put_u64(bytes.data(), checksum(bytes.data() + 8, bytes.size() - 8));
    auto s = decode_snapshot_record_header(bytes, 64, kFile).status();
    EXPECT_EQ(s.code(), Code::kCorruption) << why;
    EXPECT_NE(s.message().find(kFile + " at offset 64: snapshot record: " + why), std::string::npos) << s.message();
  };
  std::string b = good;
  b[9] = 'X';
  expect_bad(b, false, "bad magic");
  b = good;
  b[40] ^= 1;
  expect_bad(b, false, "header checksum mismatch");
  b = good;
  b[12] = 3;
  expect_bad(b, true, "unknown kind 3");
  b = good;
  b[20] = 1;
  expect_bad(b, true, "reserved bytes are not zero");
  b = good;
  put_u64(b.data() + 24, 72);
  expect_bad(b, true, "says it is at offset 72");
  b = good;
  put_u64(b.data() + 72, uint64_t{1} << 63);
  expect_bad(b, true, "payload length out of range");
  expect_bad(good.substr(0, 90), false, "truncated header");

  SnapshotRecord empty_schema = SampleRecord("xyz");
  empty_schema.schema.clear();
  expect_bad(encode_snapshot_record_header(empty_schema), false, "empty schema");
  SnapshotRecord prune = SampleRecord("");
  prune.kind = SnapshotRecordKind::kPrune;
  prune.schema.clear();
  prune.version = 0;
  EXPECT_TRUE(decode_snapshot_record_header(encode_snapshot_record_header(prune), 64, kFile).ok());
  prune.payload_len = 1;
  expect_bad(encode_snapshot_record_header(prune), false, "a prune record with a schema, version or payload");
}

// --- scanning files ---

TEST(SnapshotScanTest, HandsOutEveryRecordInOrder) {
  FileImage f;
  f.Add("a", 1, "one");
  f.Add("b", 2, std::string(100, 'x'));
  f.Add("a", 3, "");
  for (bool is_last : {false, true}) {
    Scanned s = Scan(f.bytes(), is_last);
    ASSERT_TRUE(s.scan.ok()) << s.scan.status().to_string();
    EXPECT_FALSE(s.scan->torn);
    EXPECT_EQ(s.scan->data_end, f.bytes().size());
    ASSERT_EQ(s.records.size(), 3u);
    EXPECT_EQ(s.records[1].stream, "b");
    EXPECT_EQ(s.records[1].payload_len, 100u);
    EXPECT_EQ(s.records[2].version, 3u);
  }
}

TEST(SnapshotScanTest, AnEmptyFileHasNoRecords) {
  FileImage f;
  Scanned s = Scan(f.bytes(), true);
  ASSERT_TRUE(s.scan.ok());
  EXPECT_EQ(s.scan->data_end, 64u);
  EXPECT_TRUE(s.records.empty());
}

// A crash during the newest file's last write: whatever shape the tail has,
// it is cut at the end of the last whole record, which is kept.
TEST(SnapshotScanTest, CutsATornTailOfTheNewestFile) {
  FileImage f;
  f.Add("a", 1, "first");
  uint64_t second = f.Add("a", 2, std::string(5000, 's'));
  const std::string whole = f.bytes();
  std::vector<std::pair<std::string, std::string>> tails = {
      {"truncated payload", whole.substr(0, whole.size() - 100)},
      {"truncated header", whole.substr(0, second + 40)},
      {"zeroed payload", whole.substr(0, second + 200) + std::string(whole.size() - second - 200, '\0')},
      {"zeros after the last record", whole.substr(0, second) + std::string(4096, '\0')},
      {"garbage", whole.substr(0, second) + std::string(300, '\x5a')},
  };
  for (const auto& [what, bytes] : tails) {
    Scanned s = Scan(bytes, true);
    ASSERT_TRUE(s.scan.ok()) << what << ": " << s.scan.status().to_string();
    EXPECT_TRUE(s.scan->torn) << what;
    EXPECT_EQ(s.scan->data_end, second) << what;
    ASSERT_EQ(s.records.size(), 1u) << what;
    EXPECT_EQ(s.records[0].version, 1u);
  }
}

TEST(SnapshotScanTest, TheNewestRecordsPayloadIsCheckedAtOpen) {
  FileImage f;
  f.Add("a", 1, "first");
  uint64_t second = f.Add("a", 2, "second");
  f.bytes()[second + 91 + 1] ^= 1;  // inside the payload; the header (88 + 1 + 2 bytes) is intact
  Scanned s = Scan(f.bytes(), true);
  ASSERT_TRUE(s.scan.ok());
  EXPECT_TRUE(s.scan->torn);
  EXPECT_EQ(s.scan->data_end, second);
  EXPECT_NE(s.scan->torn_reason.find("payload checksum mismatch"), std::string::npos);
  EXPECT_EQ(s.records.size(), 1u);
}

// A damaged record followed by a valid one had been synced: corruption, at
// its offset, never cut.
TEST(SnapshotScanTest, DamageBeforeAValidRecordIsCorruption) {
  FileImage f;
  uint64_t first = f.Add("a", 1, std::string(3000, 'p'));
  uint64_t second = f.Add("a", 2, "after");
  f.bytes()[first + 30] ^= 0x10;
  for (bool is_last : {true, false}) {
    Scanned s = Scan(f.bytes(), is_last);
    ASSERT_FALSE(s.scan.ok());
    EXPECT_EQ(s.scan.status().code(), Code::kCorruption);
    EXPECT_NE(s.scan.status().message().find(kFile + " at offset " + std::to_string(first)), std::string::npos)
        << s.scan.status().message();
    if (is_last) {
      EXPECT_NE(s.scan.status().message().find("valid record at offset " + std::to_string(second)),
                std::string::npos);
    }
  }
}

// A record's image inside a payload vouches only at the offset it names.
TEST(SnapshotScanTest, ARecordImageInsideAPayloadDoesNotVouch) {
  FileImage inner;
  inner.Add("a", 1, "x");
  std::string image = inner.bytes().substr(64);  // a valid record claiming offset 64
  FileImage f;
  f.Add("a", 1, "first");
  uint64_t second = f.Add("a", 2, std::string(64, 'q') + image + std::string(64, 'q'));
  std::string torn = f.bytes().substr(0, f.bytes().size() - 8);
  Scanned s = Scan(torn, true);
  ASSERT_TRUE(s.scan.ok()) << s.scan.status().to_string();
  EXPECT_TRUE(s.scan->torn);
  EXPECT_EQ(s.scan->data_end, second);
}

TEST(SnapshotScanTest, AnyDamageInAnOlderFileIsCorruption) {
  FileImage f;
  f.Add("a", 1, "first");
  uint64_t second = f.Add("a", 2, "second");
  Scanned s = Scan(f.bytes().substr(0, f.bytes().size() - 3), false);
  ASSERT_FALSE(s.scan.ok());
  EXPECT_EQ(s.scan.status().code(), Code::kCorruption);
  EXPECT_NE(s.scan.status().message().find("at offset " + std::to_string(second)), std::string::npos);
  EXPECT_NE(s.scan.status().message().find("not the newest"), std::string::npos);
}

TEST(SnapshotScanTest, VerifyPayloadsReportsEachBadPayloadAndGoesOn) {
  FileImage f;
  uint64_t first = f.Add("a", 1, "first");
  f.Add("a", 2, "second");
  f.bytes()[first + 91 + 2] ^= 1;  // the header of stream "a", schema "v1" is 88 + 1 + 2 bytes
  Scanned s = Scan(f.bytes(), true, /*verify_payloads=*/true);
  ASSERT_TRUE(s.scan.ok()) << s.scan.status().to_string();
  EXPECT_FALSE(s.scan->torn);
  EXPECT_EQ(s.records.size(), 2u);
  ASSERT_EQ(s.scan->bad_payloads.size(), 1u);
  EXPECT_NE(s.scan->bad_payloads[0].find("at offset " + std::to_string(first)), std::string::npos);
}

TEST(SnapshotScanTest, ReportsARecordWhoseHeaderFailsAtTheFileHeader) {
  FileImage f;
  f.Add("a", 1, "first");
  std::string bad = f.bytes();
  bad[3] = 'x';
  Scanned s = Scan(bad, true);
  EXPECT_EQ(s.scan.status().code(), Code::kCorruption);
  EXPECT_TRUE(s.records.empty());
}

// A record rewritten with a bad kind but a correct checksum (a bug, not a
// torn write) in the middle is corruption too.
TEST(SnapshotScanTest, AResealedBadRecordBeforeAValidOneIsCorruption) {
  FileImage f;
  uint64_t first = f.Add("a", 1, "first");
  f.Add("a", 2, "second");
  f.bytes()[first + 12] = 9;
  ResealRecord(f.bytes(), first);
  Scanned s = Scan(f.bytes(), true);
  EXPECT_EQ(s.scan.status().code(), Code::kCorruption);
  EXPECT_NE(s.scan.status().message().find("unknown kind 9"), std::string::npos);
}

// --- FORMAT.md §11.7, the worked example ---

// The bytes of the ```text block after "<!-- snapshot-example -->".
std::string DocumentedExample() {
  std::string doc = test_util::ReadFile(CAIRN_FORMAT_MD);
  size_t at = doc.find("<!-- snapshot-example -->");
  EXPECT_NE(at, std::string::npos) << "FORMAT.md has no snapshot example";
  if (at == std::string::npos) return "";
  at = doc.find("```text\n", at) + 8;
  size_t end = doc.find("```", at);
  std::string bytes;
  std::string_view block(doc.data() + at, end - at);
  while (!block.empty()) {
    size_t nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    uint64_t offset = 0;
    std::string line_bytes;
    EXPECT_TRUE(test_util::ParseHexLine(line, offset, line_bytes)) << line;
    EXPECT_EQ(offset, bytes.size()) << line;
    bytes += line_bytes;
    block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
  }
  return bytes;
}

TEST(SnapshotGoldenTest, TheDocumentedExampleIsWhatTheEncoderWrites) {
  const std::string payload = "{\"total\":42}";
  std::string file = encode_snapshot_file_header(SampleFileHeader()) + EncodeRecord(SampleRecord(payload), payload);
  ASSERT_EQ(file.size(), 176u);
  std::string documented = DocumentedExample();
  size_t diff = FirstDifference(file, documented);
  EXPECT_EQ(diff, std::string::npos) << "FORMAT.md §11.7 and the encoder differ at offset " << diff;
  if (diff != std::string::npos) {
    // Print the encoder's bytes in the document's form, for updating it.
    for (size_t i = 0; i < file.size(); i += 16) {
      char line[80];
      int n = std::snprintf(line, sizeof line, "%08zx:", i);
      for (size_t j = i; j < std::min(file.size(), i + 16); ++j) {
        n += std::snprintf(line + n, sizeof line - n, " %02x", static_cast<unsigned char>(file[j]));
      }
      std::printf("%s\n", line);
    }
  }
  Scanned s = Scan(documented, true);
  ASSERT_TRUE(s.scan.ok()) << s.scan.status().to_string();
  ASSERT_EQ(s.records.size(), 1u);
  EXPECT_EQ(s.records[0].stream, "Order-42");
  EXPECT_EQ(s.records[0].version, 9u);
}

}  // namespace
}  // namespace cairn::format
