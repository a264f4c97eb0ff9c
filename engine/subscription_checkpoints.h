// SubscriptionCheckpoints: the named subscription checkpoints of a store,
// kept in its SUBSCRIPTIONS file (FORMAT.md §12) and in memory.
//
// A save appends one small record and fdatasyncs it: a checkpoint costs one
// write and one sync, never an event. The file is rewritten (atomically,
// through a temporary file) when dead records outweigh live ones.
// Thread-safe.
#pragma once

#include "engine/io.h"
#include "format/segment_header.h"

#include <cairn/status.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::engine {

class SubscriptionCheckpoints {
 public:
  // Loads `dir`/SUBSCRIPTIONS (none when missing). A torn tail is ignored,
  // and cut off by the first save. A file of another store is kCorruption.
  static Result<std::unique_ptr<SubscriptionCheckpoints>> open(FileSystem& fs, std::string dir,
                                                               const format::StoreId& store_id, bool writable);

  std::optional<uint64_t> get(std::string_view name) const;
  std::map<std::string, uint64_t, std::less<>> all() const;
  // Durable when it returns. After a failed write or sync every later save
  // fails too (the file's tail is unknown until the store is reopened).
  Status save(std::string_view name, uint64_t cursor);
  Status remove(std::string_view name);

 private:
  SubscriptionCheckpoints(FileSystem& fs, std::string dir, const format::StoreId& store_id, bool writable)
      : fs_(fs), dir_(std::move(dir)), store_id_(store_id), writable_(writable) {}
  Status append(std::string_view name, uint64_t cursor);  // under mu_
  Status open_for_append();                               // under mu_
  Status rewrite_if_mostly_dead();                        // under mu_
  Status rewrite();                                       // under mu_
  std::string path() const;

  FileSystem& fs_;
  const std::string dir_;
  const format::StoreId store_id_;
  const bool writable_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> cursors_;
  std::unique_ptr<File> file_;  // open once the first save needs it
  uint64_t end_ = 0;            // where the next record goes (0: file not checked yet)
  uint64_t records_ = 0;        // records in the file
  Status failed_;
};

}  // namespace cairn::engine
