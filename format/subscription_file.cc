#include "format/subscription_file.h"

#include "format/checksum.h"
#include "format/coding.h"
#include "format/segment_scan.h"

#include <cstring>

namespace cairn::format {
namespace {

constexpr char kMagic[] = "CAIRNSUB";
constexpr size_t kHeaderChecksumOffset = 32;
constexpr size_t kBodyFixedBytes = 10;  // u64 cursor, u16 name length

}  // namespace

std::string encode_subscriptions_header(const StoreId& store_id) {
  std::string out(kSubscriptionsHeaderSize, '\0');
  std::memcpy(out.data(), kMagic, 8);
  put_u32(out.data() + 8, kSubscriptionsVersion);
  std::memcpy(out.data() + 16, store_id.data(), store_id.size());
  put_u64(out.data() + kHeaderChecksumOffset, checksum(out.data(), kHeaderChecksumOffset));
  return out;
}

Result<StoreId> decode_subscriptions_header(std::string_view bytes, const std::string& file) {
  if (bytes.size() < kSubscriptionsHeaderSize) {
    return Status::corruption(file + ": header truncated: " + std::to_string(bytes.size()) + " of " +
                              std::to_string(kSubscriptionsHeaderSize) + " bytes at offset 0");
  }
  if (bytes.substr(0, 8) != std::string_view(kMagic, 8)) {
    return Status::corruption(file + ": bad magic at offset 0 (expected " + kMagic + ")");
  }
  uint32_t version = get_u32(bytes.data() + 8);
  if (version != kSubscriptionsVersion) {
    return Status::unsupported_version(file + ": format version " + std::to_string(version) +
                                       " (this build reads version " + std::to_string(kSubscriptionsVersion) + ")");
  }
  if (get_u64(bytes.data() + kHeaderChecksumOffset) != checksum(bytes.data(), kHeaderChecksumOffset)) {
    return Status::corruption(file_offset(file, kHeaderChecksumOffset) + ": header checksum mismatch");
  }
  StoreId id{};
  std::memcpy(id.data(), bytes.data() + 16, id.size());
  return id;
}

std::string encode_subscription_record(std::string_view name, uint64_t cursor) {
  std::string out(kSubscriptionRecordHeaderSize + kBodyFixedBytes + name.size(), '\0');
  char* body = out.data() + kSubscriptionRecordHeaderSize;
  put_u64(body, cursor);
  put_u16(body + 8, static_cast<uint16_t>(name.size()));
  std::memcpy(body + kBodyFixedBytes, name.data(), name.size());
  size_t body_size = out.size() - kSubscriptionRecordHeaderSize;
  put_u32(out.data(), static_cast<uint32_t>(body_size));
  put_u64(out.data() + 4, checksum(body, body_size));
  return out;
}

namespace {

// Why the record at the start of `rest` is not whole and intact ("" when it is).
std::string record_problem(std::string_view rest) {
  if (rest.size() < kSubscriptionRecordHeaderSize) return "record header truncated";
  uint32_t body_size = get_u32(rest.data());
  if (body_size < kBodyFixedBytes + 1 || body_size > kBodyFixedBytes + kMaxSubscriptionNameBytes) {
    return "record length " + std::to_string(body_size) + " is impossible";
  }
  if (rest.size() - kSubscriptionRecordHeaderSize < body_size) return "record truncated";
  const char* body = rest.data() + kSubscriptionRecordHeaderSize;
  if (get_u64(rest.data() + 4) != checksum(body, body_size)) return "record checksum mismatch";
  if (kBodyFixedBytes + get_u16(body + 8) != body_size) return "record name length disagrees with its length";
  return "";
}

// Whether the bad record at the start of `rest` was not the file's last
// write, which a crash cannot explain: whole, intact records follow one
// another from some offset after its start to the very end. A record cut
// short (its length reaches past the end) is the last write, torn, whatever
// its bytes hold (a name may hold a record's bytes).
bool intact_records_follow(std::string_view rest) {
  if (rest.size() >= kSubscriptionRecordHeaderSize) {
    uint32_t body_size = get_u32(rest.data());
    bool plausible = body_size >= kBodyFixedBytes + 1 && body_size <= kBodyFixedBytes + kMaxSubscriptionNameBytes;
    if (plausible && kSubscriptionRecordHeaderSize + uint64_t{body_size} > rest.size()) return false;
  }
  for (size_t k = 1; k + kSubscriptionRecordHeaderSize <= rest.size(); ++k) {
    size_t at = k;
    while (at < rest.size() && record_problem(rest.substr(at)).empty()) {
      at += kSubscriptionRecordHeaderSize + get_u32(rest.data() + at);
    }
    if (at == rest.size() && at > k) return true;
  }
  return false;
}

}  // namespace

Result<SubscriptionsContent> decode_subscriptions(std::string_view bytes, const std::string& file) {
  auto id = decode_subscriptions_header(bytes, file);
  if (!id.ok()) return id.status();
  SubscriptionsContent out;
  out.store_id = *id;
  uint64_t offset = kSubscriptionsHeaderSize;
  while (offset < bytes.size()) {
    std::string_view rest = bytes.substr(offset);
    if (std::string problem = record_problem(rest); !problem.empty()) {
      // Records are appended one write at a time, each synced before the
      // next: only the last write, at most one record long, can be cut or
      // garbled by a crash. More bytes than that after a bad record, or
      // intact records after it, mean the damage is elsewhere.
      if (rest.size() <= kSubscriptionRecordHeaderSize + kBodyFixedBytes + kMaxSubscriptionNameBytes &&
          !intact_records_follow(rest)) {
        out.torn_tail = true;
        break;
      }
      return Status::corruption(file_offset(file, offset) + ": " + problem);
    }
    const char* body = rest.data() + kSubscriptionRecordHeaderSize;
    uint32_t body_size = get_u32(rest.data());
    std::string_view name(body + kBodyFixedBytes, body_size - kBodyFixedBytes);
    uint64_t cursor = get_u64(body);
    if (cursor == kRemovedCursor) {
      out.cursors.erase(std::string(name));
    } else {
      out.cursors.insert_or_assign(std::string(name), cursor);
    }
    ++out.records;
    offset += kSubscriptionRecordHeaderSize + body_size;
  }
  out.valid_end = offset;
  return out;
}

}  // namespace cairn::format
