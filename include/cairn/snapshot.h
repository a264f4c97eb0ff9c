// Aggregate snapshots: the state an application folded from a stream's events
// up to some version, saved so that the aggregate can later be rebuilt from
// the snapshot and the few events after it instead of from every event.
//
//   Snapshots& snaps = store->snapshots();
//   snaps.save("Order-42", 9'999, "OrderState/v3", state_bytes);
//   auto h = snaps.hydrate("Order-42", "OrderState/v3");
//   // h->snapshot: the newest v3 snapshot (or nullopt); h->events: the
//   // stream's events after it, to fold on top.
//
// Snapshots live in their own checksummed log in the store directory
// (`snapshots/`, FORMAT.md §11), never among the stream's events. A save is
// durable (fdatasync) when it returns. The data is opaque bytes, at most
// Options::max_snapshot_bytes (1 GiB by default). Each stream keeps its
// newest Options::snapshots_to_keep snapshots (3 by default); older ones are
// dropped by the save that makes them surplus, and their disk space is
// reclaimed file by file.
//
// Order: a stream's snapshots are ordered by version, then by save (id); the
// "newest" is the last in that order.
//
// Thread safety: every method may be called from any number of threads.
// Saves and prunes are serialized among themselves; loads do not wait for a
// save's write. The Snapshots object belongs to its Store and dies with it.
#pragma once

#include <cairn/event.h>
#include <cairn/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

// A schema names the snapshot's encoding (say "OrderState/v3"): 1 to 255
// bytes, compared byte for byte.
inline constexpr size_t kMaxSchemaBytes = 255;

struct SnapshotInfo {
  std::string stream;
  uint64_t version = 0;     // the stream version the state is as of (events 0..version folded in)
  std::string schema;
  uint64_t size = 0;        // bytes of data
  uint64_t id = 0;          // store-wide, increasing with each save
  int64_t created_ns = 0;   // wall clock (UNIX epoch) when it was saved

  friend bool operator==(const SnapshotInfo&, const SnapshotInfo&) = default;
};

struct Snapshot {
  SnapshotInfo info;
  std::string data;
};

// What hydrate() returns: the snapshot to start from (nullopt: none, start
// from scratch) and the stream's events after it, in version order.
struct Hydration {
  std::optional<Snapshot> snapshot;
  std::vector<RecordedEvent> events;
};

class Snapshots {
 public:
  // Saves `data` as the state of `stream` as of `version`, durably, once
  // the events appended so far are durable (Store::sync): a snapshot never
  // outlives the events it summarizes.
  // Errors: kInvalidArgument (empty or too long stream name or schema, data
  // larger than Options::max_snapshot_bytes, a version the stream has not
  // reached; from an append callback while kBatch/kNone appends are
  // unsynced), kNotFound (the stream has no events), kReadOnly, kClosed,
  // kIOError (a failed write of the snapshot file: later saves fail with
  // kReadOnly until the store is reopened; snapshots saved before stay
  // loadable; a failed fdatasync of the log: the log's error, every save).
  Result<SnapshotInfo> save(std::string_view stream, uint64_t version, std::string_view schema,
                            std::string_view data);

  // The newest snapshot of `stream` at or below `max_version` (UINT64_MAX,
  // cairn::kEnd: any), only of `schema` when one is given; nullopt when there
  // is none. Snapshots beyond the stream's current version (its last events
  // lost in a power failure under Durability::kBatch or kNone) are never
  // returned. Errors: kInvalidArgument (empty stream name), kNotFound (the
  // stream has no events), kCorruption (the data fails its checksum; the
  // message names the file and byte offset), kClosed, kIOError.
  Result<std::optional<Snapshot>> load(std::string_view stream, uint64_t max_version = UINT64_MAX,
                                       std::string_view schema = {}) const;

  // The snapshots of `stream`, oldest first (an empty vector when none).
  Result<std::vector<SnapshotInfo>> list(std::string_view stream) const;

  // Drops all but the newest `keep` snapshots of `stream` (durably) and
  // returns how many were dropped. Errors: kInvalidArgument, kReadOnly,
  // kClosed, kIOError.
  Result<uint64_t> prune(std::string_view stream, uint32_t keep);

  // load(stream, kEnd, schema) and the stream's events after that snapshot
  // (all of them when there is none), in one call. Errors: load's.
  Result<Hydration> hydrate(std::string_view stream, std::string_view schema = {}) const;

  class Impl;
  // For the engine; applications use Store::snapshots().
  explicit Snapshots(std::unique_ptr<Impl> impl);
  ~Snapshots();
  Snapshots(const Snapshots&) = delete;
  Snapshots& operator=(const Snapshots&) = delete;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
