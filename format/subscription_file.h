// The SUBSCRIPTIONS file: named subscription checkpoints, as an append-only
// list of small checksummed records (FORMAT.md §12). The last record of a
// name holds its checkpoint. Bytes only: the engine does the I/O.
#pragma once

#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace cairn::format {

inline constexpr char kSubscriptionsFileName[] = "SUBSCRIPTIONS";
inline constexpr uint32_t kSubscriptionsVersion = 1;
inline constexpr size_t kSubscriptionsHeaderSize = 40;
// Record framing: u32 body length, u64 checksum of the body.
inline constexpr size_t kSubscriptionRecordHeaderSize = 12;
inline constexpr size_t kMaxSubscriptionNameBytes = 1024;

std::string encode_subscriptions_header(const StoreId& store_id);
// Checks magic, version and checksum; returns the store id.
Result<StoreId> decode_subscriptions_header(std::string_view bytes, const std::string& file);

// A record with this cursor removes its name's checkpoint.
inline constexpr uint64_t kRemovedCursor = UINT64_MAX;

// One record: `name`'s checkpoint is `cursor`.
std::string encode_subscription_record(std::string_view name, uint64_t cursor);

struct SubscriptionsContent {
  StoreId store_id{};
  std::map<std::string, uint64_t, std::less<>> cursors;  // the last record of each name, unless removed
  uint64_t records = 0;
  uint64_t valid_end = 0;  // bytes of the header and the whole records
  bool torn_tail = false;  // bytes after valid_end: a record cut by a crash
};

// Decodes a whole file. A bad last record (one that reaches the end of the
// file) is a torn tail: valid_end stops before it. A bad record with bytes
// after it is kCorruption naming `file` and its offset.
Result<SubscriptionsContent> decode_subscriptions(std::string_view bytes, const std::string& file);

}  // namespace cairn::format
