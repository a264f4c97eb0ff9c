// The SUBSCRIPTIONS file codec (FORMAT.md §12): the worked example byte for
// byte, and what decoding makes of torn tails and damage.
#include "format/checksum.h"
#include "format/coding.h"
#include "format/subscription_file.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn::format {
namespace {

StoreId example_id() {
  StoreId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xa0 + i);
  return id;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// FORMAT.md §12's worked example.
TEST(SubscriptionFileTest, WorkedExampleBytes) {
  std::string header = encode_subscriptions_header(example_id());
  EXPECT_EQ(hex(header),
            "434149524e535542" "01000000" "00000000" "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf" "1c0b918171cd1499");
  std::string record = encode_subscription_record("p", 15);
  EXPECT_EQ(hex(record), "0b000000" "f8c667f03c31a6af" "0f00000000000000" "0100" "70");
  EXPECT_EQ(get_u64(record.data() + 4), checksum(record.data() + 12, 11));
}

TEST(SubscriptionFileTest, LastRecordOfANameWinsAndRemovalForgets) {
  std::string file = encode_subscriptions_header(example_id());
  file += encode_subscription_record("orders", 10);
  file += encode_subscription_record("carts", 3);
  file += encode_subscription_record("orders", 12);
  file += encode_subscription_record("carts", kRemovedCursor);
  auto content = decode_subscriptions(file, "SUBSCRIPTIONS");
  ASSERT_TRUE(content.ok()) << content.status().to_string();
  EXPECT_EQ(content->store_id, example_id());
  EXPECT_EQ(content->records, 4u);
  EXPECT_EQ(content->valid_end, file.size());
  EXPECT_FALSE(content->torn_tail);
  ASSERT_EQ(content->cursors.size(), 1u);
  EXPECT_EQ(content->cursors.at("orders"), 12u);
}

TEST(SubscriptionFileTest, ATornLastRecordIsCutOff) {
  std::string file = encode_subscriptions_header(example_id()) + encode_subscription_record("a", 1);
  size_t whole = file.size();
  std::string last = encode_subscription_record("b", 2);
  for (size_t cut = 1; cut < last.size(); ++cut) {
    auto content = decode_subscriptions(file + last.substr(0, cut), "S");
    ASSERT_TRUE(content.ok()) << cut << ": " << content.status().to_string();
    EXPECT_TRUE(content->torn_tail);
    EXPECT_EQ(content->valid_end, whole);
    EXPECT_EQ(content->cursors.size(), 1u);
  }
  std::string garbled = last;
  garbled[14] ^= 1;  // whole, but its checksum fails: the last write, garbled
  auto content = decode_subscriptions(file + garbled, "S");
  ASSERT_TRUE(content.ok());
  EXPECT_TRUE(content->torn_tail);
  EXPECT_EQ(content->valid_end, whole);
}

TEST(SubscriptionFileTest, DamageBeforeMoreRecordsIsCorruptionAtItsOffset) {
  std::string file = encode_subscriptions_header(example_id()) + encode_subscription_record("a", 1);
  for (int i = 0; i < 100; ++i) file += encode_subscription_record("name-" + std::to_string(i), i);
  file[40 + 12] ^= 1;  // the first record's cursor
  auto content = decode_subscriptions(file, "dir/SUBSCRIPTIONS");
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.status().code(), Code::kCorruption);
  EXPECT_EQ(content.status().message(), "dir/SUBSCRIPTIONS at offset 40: record checksum mismatch");
}

// A damaged record followed by fewer bytes than one maximal record, but by
// whole, intact records: it was not the last write, so a crash cannot
// explain it (those records were dropped silently until session 15).
TEST(SubscriptionFileTest, DamageBeforeAFewIntactRecordsIsCorruptionToo) {
  std::string file = encode_subscriptions_header(example_id());
  size_t x_at = file.size();
  file += encode_subscription_record("x", 100);
  file += encode_subscription_record("y", 200);
  file += encode_subscription_record("z", 300);
  for (size_t byte = x_at; byte < x_at + encode_subscription_record("x", 100).size(); ++byte) {
    std::string damaged = file;
    damaged[byte] ^= 0x10;
    auto content = decode_subscriptions(damaged, "S");
    ASSERT_FALSE(content.ok()) << "byte " << byte << ": y and z dropped as a torn tail";
    EXPECT_EQ(content.status().code(), Code::kCorruption);
    EXPECT_EQ(content.status().message().rfind("S at offset " + std::to_string(x_at) + ": ", 0), 0u)
        << content.status().message();
  }
}

// A torn last record whose name holds the bytes of a whole record: the
// embedded record does not reach the end of the file, so the tail is still
// torn, not corruption.
TEST(SubscriptionFileTest, ATornRecordHoldingARecordIsStillATornTail) {
  std::string file = encode_subscriptions_header(example_id()) + encode_subscription_record("a", 1);
  size_t whole = file.size();
  std::string inner = encode_subscription_record("inner", 7);
  std::string last = encode_subscription_record(inner + "tail", 2);
  for (size_t cut = 1; cut < last.size(); ++cut) {
    auto content = decode_subscriptions(file + last.substr(0, cut), "S");
    ASSERT_TRUE(content.ok()) << cut << ": " << content.status().to_string();
    EXPECT_TRUE(content->torn_tail) << cut;
    EXPECT_EQ(content->valid_end, whole) << cut;
  }
}

TEST(SubscriptionFileTest, BadHeadersAreTyped) {
  std::string header = encode_subscriptions_header(example_id());
  EXPECT_EQ(decode_subscriptions(header.substr(0, 39), "S").status().code(), Code::kCorruption);
  std::string bad_magic = header;
  bad_magic[0] = 'X';
  EXPECT_EQ(decode_subscriptions(bad_magic, "S").status().code(), Code::kCorruption);
  std::string future = header;
  put_u32(future.data() + 8, 2);
  EXPECT_EQ(decode_subscriptions(future, "S").status().code(), Code::kUnsupportedVersion);
  std::string flipped = header;
  flipped[20] ^= 1;
  auto r = decode_subscriptions(flipped, "S");
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), "S at offset 32: header checksum mismatch");
}

}  // namespace
}  // namespace cairn::format
