// Store: an append-only, crash-safe event store in one directory.
//
//   auto store = cairn::Store::open("/var/lib/app/events");
//   store.value()->append("Order-42", ExpectedVersion::no_stream(), events);
//
// Thread safety: every method may be called from any number of threads at
// once. Appends from many threads are group-committed: one write and one
// fdatasync cover every append waiting at that moment.
//
// Durability: with kSync (the default) an append is acknowledged (returns,
// or its callback runs) only after the bytes of its batch, and of every
// batch before it, are durable on disk (fdatasync); kBatch and kNone
// acknowledge once written (see cairn::Durability, and sync()). Readers see
// an event once it is acknowledged, never before.
#pragma once

#include <cairn/checkpoint.h>
#include <cairn/event.h>
#include <cairn/function_ref.h>
#include <cairn/histogram.h>
#include <cairn/options.h>
#include <cairn/snapshot.h>
#include <cairn/status.h>
#include <cairn/subscription.h>

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

// "from the last event" for backward reads.
inline constexpr uint64_t kEnd = UINT64_MAX;

struct StoreStats {
  uint64_t appends = 0;         // acknowledged appends that wrote events
  uint64_t deduplicated = 0;    // appends recognised as retries
  uint64_t events = 0;          // events written by this process
  uint64_t group_commits = 0;   // group writes (each one write of many appends)
  uint64_t direct_writes = 0;   // of those, written with O_DIRECT (Options::direct_io)
  uint64_t mapped_writes = 0;   // of those, copied into a mapping (Options::mapped_writes)
  uint64_t syncs = 0;           // fdatasyncs of group commits
  uint64_t bytes_written = 0;
  uint64_t segments = 0;        // segment files in the store
  uint64_t next_position = 0;   // positions below this are acknowledged and readable
  uint32_t in_flight = 0;       // group commits written and not yet completed, now
  // "io_uring" or "pwrite" ("" when read-only). Settled by the first append,
  // which makes the write queue; before it, the backend to be tried first
  // ("io_uring" unless Options::io_backend is kPwrite).
  std::string io_backend;
  uint64_t open_scanned_batches = 0;  // batches the open read from the log (after the index checkpoint)
  uint64_t open_indexed_positions = 0;  // positions the open found in the index checkpoint
  // Sealed segments the open did not touch: each is opened, mapped and
  // checked against its index file when a read first needs it.
  uint64_t open_deferred_segments = 0;
  uint64_t memory_indexed_batches = 0;  // batches indexed in memory (the rest: in mapped index files)
  bool open_tail_check_skipped = false;  // the open trusted a clean close's record (no read of the zeros after the log)
  // Group-commit histograms since open. Snapshots, not atomic across fields.
  Histogram group_events;       // events per group commit
  Histogram group_bytes;        // bytes per group commit
  Histogram sync_latency_ns;    // a synced group's write + fdatasync, submitted to completed
  Histogram queue_wait_ns;      // an append's wait in the queue until a group takes it
};

class Store {
 public:
  // Opens (creating if allowed) the store in `dir`. Errors: kNotAStore,
  // kUnsupportedVersion, kCorruption (naming file and byte offset), kLocked
  // (another process writes this store), kIOError.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, const Options& options = {});

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Closes the store: waits for queued appends, releases the lock.
  ~Store();

  // Appends `events` to `stream` atomically if `expected` holds, after the
  // batch is durable. All or none of the events are written.
  //
  // Idempotency: when the ids of `events` (in order) equal the ids of events
  // already in this stream at consecutive versions, and those events are
  // within Options::idempotency_window, the call writes nothing and returns the
  // original versions and positions (deduplicated = true), whatever
  // `expected` says. When only some ids match, the call fails with
  // kDuplicateEvent naming the id. Nil (all-zero) ids are never deduplicated.
  //
  // Errors: kWrongExpectedVersion (with actual_version()), kInvalidArgument
  // (empty batch, empty or too long stream name or type, oversized event or
  // batch, version overflow, an id repeated inside the batch),
  // kDuplicateEvent, kReadOnly, kClosed, kIOError.
  //
  // `durability` overrides Options::durability for this append (see
  // cairn::Durability for what each level promises).
  Result<AppendResult> append(std::string_view stream, ExpectedVersion expected,
                              std::span<const NewEvent> events,
                              Durability durability = Durability::kDefault);

  // Asynchronous append: the batch is copied before the call returns; `done`
  // runs once, when the append is acknowledged at its durability level or
  // has failed, on the store's thread that completed it (its completer or
  // writer thread, or a thread inside a synchronous append()); an append
  // refused before it is queued (bad input, read-only, closed) runs `done`
  // on the calling thread before append_async returns. Callbacks run in log
  // order.
  // `done` must not block, call append() (refused: it would wait on itself)
  // or destroy the Store. An exception thrown by `done` is ignored.
  // Backpressure: the call waits while Options::max_queued_bytes are queued.
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  void append_async(std::string_view stream, ExpectedVersion expected,
                    std::span<const NewEvent> events, AppendCallback done,
                    Durability durability = Durability::kDefault);
  std::future<Result<AppendResult>> append_async(std::string_view stream, ExpectedVersion expected,
                                                 std::span<const NewEvent> events,
                                                 Durability durability = Durability::kDefault);

  // Up to `max_count` events of `stream`, starting at `from_version` and going
  // forward (increasing versions) or backward (use kEnd for "from the last").
  // A missing stream is kNotFound; a range past the end is an empty vector.
  Result<std::vector<RecordedEvent>> read_stream(std::string_view stream, uint64_t from_version,
                                                 size_t max_count,
                                                 Direction direction = Direction::kForward) const;

  // Up to `max_count` events of all streams in global position order, starting
  // at `from_position` (kEnd with kBackward: from the last event).
  Result<std::vector<RecordedEvent>> read_all(uint64_t from_position, size_t max_count,
                                              Direction direction = Direction::kForward) const;

  // read_all's events (same positions, same order) that match `filter`: an
  // event type among filter.event_types (when given) and a stream category
  // among filter.categories (when given). Costs O(events returned), whatever
  // the store's size. An empty filter (or an empty name in it) is
  // kInvalidArgument; a type or category that never occurred gives no events.
  Result<std::vector<RecordedEvent>> read_all_filtered(const ReadFilter& filter, uint64_t from_position,
                                                       size_t max_count,
                                                       Direction direction = Direction::kForward) const;

  // The events of every stream of `category` as one stream, in global
  // position order (EventStoreDB's $ce-<category>): read_all_filtered with
  // just that category. `from_position` is a global position.
  Result<std::vector<RecordedEvent>> read_category(std::string_view category, uint64_t from_position,
                                                   size_t max_count,
                                                   Direction direction = Direction::kForward) const;

  // Visitor reads: read_stream and read_all without copies. They visit the
  // same events in the same order, each frame's checksum verified first, and
  // fail the same way (a missing stream is kNotFound). Each event is handed
  // to `visit` as an EventView pointing into the store's mapped segments,
  // with no heap allocation per event. `visit` runs on the calling thread
  // and returns true to go on, false to stop (the scan then returns OK).
  //
  // The EventView and the bytes it views are valid only until `visit`
  // returns: copy what must outlive the call (EventView::to_event copies
  // it all). No lock is held while `visit` runs, so it may call this
  // Store's methods (read, scan, append); it must not close or destroy the
  // Store. The scan covers the events published when it began: events
  // appended meanwhile are not visited. An exception thrown by `visit`
  // propagates out of the scan, which stops there.
  //
  // On an error (kCorruption naming the file and offset of a damaged batch)
  // the events before it in scan order may already have been visited.
  using EventVisitor = FunctionRef<bool(const EventView&)>;
  Status scan_stream(std::string_view stream, uint64_t from_version, size_t max_count, Direction direction,
                     EventVisitor visit) const;
  Status scan_all(uint64_t from_position, size_t max_count, Direction direction, EventVisitor visit) const;

  // A subscription to all events (optionally filtered by type and category)
  // from a position, or to one stream from a version, delivering history
  // and then live events (see cairn/subscription.h). The first form is
  // pulled with next(); the second calls `handler` on a thread of its own.
  // Errors: kInvalidArgument (bad options), kClosed. Read-only stores can
  // be subscribed to (they see the events present at open).
  Result<std::unique_ptr<Subscription>> subscribe(const SubscriptionOptions& options) const;
  Result<std::unique_ptr<Subscription>> subscribe(const SubscriptionOptions& options,
                                                  SubscriptionHandler handler) const;

  // Named subscription checkpoints (a subscription's cursor, stored durably
  // in the store's SUBSCRIPTIONS file: one small record and one fdatasync
  // per save). The checkpoint under `name`, or nullopt.
  Result<std::optional<uint64_t>> subscription_checkpoint(std::string_view name) const;
  // Stores `cursor` under `name` (durable when it returns), once every event
  // appended so far is durable (sync()): a cursor never outlives the events
  // it passed. Errors: kInvalidArgument (empty or too long name; or, from an
  // append callback, while kBatch/kNone appends are unsynced: it would wait
  // for its own thread), kReadOnly, kClosed, kIOError.
  Status save_subscription_checkpoint(std::string_view name, uint64_t cursor);
  // Forgets `name`'s checkpoint (kNotFound when there is none).
  Status remove_subscription_checkpoint(std::string_view name);

  // The stream's last version, or nullopt when it has no events.
  std::optional<uint64_t> stream_version(std::string_view stream) const;

  // Positions below this are acknowledged and readable (equals the event
  // count); durable too unless kBatch/kNone appends are not synced yet.
  uint64_t next_position() const;

  StoreStats stats() const;
  const std::string& path() const;

  // The store's aggregate snapshots (cairn/snapshot.h): save, load, list and
  // prune them, or hydrate an aggregate in one call. Read-only stores can
  // load, list and hydrate. The object lives as long as the Store.
  Snapshots& snapshots();
  const Snapshots& snapshots() const;

  // Online backup: a copy of the store in `target_dir` as of one acknowledged
  // position P, while appends and reads go on. The copy holds exactly the
  // events [0, P) (result.position), and is itself a store: restoring is
  // opening it with Store::open (see README.md, "Backup and restore").
  // Sealed segments and index files are hard-linked when `target_dir` is on
  // the same file system (copied otherwise, or with options.copy), so the
  // cost does not grow with the sealed data; the active segment is copied up
  // to P, snapshot files and other store files are copied; everything is
  // synced. `target_dir` must be missing, empty, or hold an earlier
  // checkpoint of this store: then only what changed is linked or copied,
  // and files the store no longer has are removed.
  // While it runs the target holds a CHECKPOINT-INCOMPLETE marker: a copy
  // interrupted (killed, or failed) is refused by Store::open with
  // kIncompleteCheckpoint until a checkpoint into it finishes.
  // Allowed on a read-only store: the copy then holds the store as it is
  // when checkpoint() runs (the log is opened again after the snapshots and
  // subscription checkpoints are taken, since another process may have
  // appended since this one opened it).
  // Errors: kInvalidArgument (the target is inside the store, is not a
  // directory, holds other files or another store's checkpoint), kLocked
  // (the target is open as a store, or another checkpoint writes it),
  // kClosed, kIOError.
  Result<CheckpointResult> checkpoint(const std::string& target_dir, const CheckpointOptions& options = {}) const;

  // Makes every append acknowledged so far durable, kBatch and kNone ones
  // included: returns once an fdatasync covers them (at once when one
  // already has). Appends go on meanwhile. Snapshots::save and
  // save_subscription_checkpoint do this first, so that neither outlives
  // the events it summarizes. Errors: kClosed; kInvalidArgument from an
  // append callback (it would wait on itself); the I/O error that stopped
  // the store. A read-only store has nothing to sync: OK.
  Status sync();

  // Finishes queued appends and makes everything written durable (kBatch
  // and kNone appends too), then rejects new ones with kClosed. Idempotent.
  // From an append callback it only stops new appends and returns: the
  // writer's thread finishes and syncs after the callback, and the rest of
  // the close (index checkpoint, clean-close record) happens when the Store
  // is destroyed or close() is called again from another thread.
  Status close();

  class Impl;
  // For the engine (an Impl can only be made there); applications call open().
  explicit Store(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
