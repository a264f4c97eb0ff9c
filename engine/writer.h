// Writer: group commit. Appenders queue requests (already encoded on their
// own threads); the leader takes every request waiting, checks each in log
// order against the index, stamps positions and versions, writes the whole
// group with one write and makes it durable with one fdatasync, then
// publishes the new end and acknowledges every request of the group.
//
// Threading: exactly one leader at a time owns the active segment and is the
// only mutator of the Log. The leader is a synchronous appender that found
// nobody leading (it commits the queue on its own thread: no hand-off), or
// else the writer thread, which leads while work keeps coming (gathering
// returning appenders) and serves every asynchronous append. Leadership
// changes hands under mu_, so the leader's state needs no lock of its own.
// Failure: after a failed write or fdatasync nothing more is acknowledged;
// the group fails with kIOError and later appends with kReadOnly (fail-stop:
// an fdatasync is never retried, see DESIGN.md).
#pragma once

#include "engine/io.h"
#include "engine/log.h"
#include "format/checksum.h"
#include "format/segment_header.h"

#include <cairn/options.h>
#include <cairn/store.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cairn::engine {

// Where a synchronous append waits: the writer sets `result`, then `done`,
// then wakes every sync waiter at once (one futex wake per group commit
// instead of one per append).
struct SyncWaiter {
  Result<AppendResult> result = Status::closed("not processed");
  std::atomic<bool> done{false};
};

struct AppendRequest {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::any();
  std::string frame;  // an encoded events frame; the writer restamps it
  std::vector<EventId> ids;
  Store::AppendCallback done;  // for async appends
  SyncWaiter* waiter = nullptr;  // for sync appends: instead of `done`
  Result<AppendResult> result = Status::closed("not processed");
};

// The active segment as the writer continues it.
struct ActiveSegment {
  Segment* segment = nullptr;
  uint32_t ordinal = 0;
  uint64_t sequence = 0;
  uint64_t first_position = 0;
  uint64_t data_end = 0;
  uint64_t batch_count = 0;
  uint64_t event_count = 0;
};

// Creates segment `sequence` starting at `first_position` (durably, see
// Segment::create), adds it to `log`, and returns it as the active segment.
Result<ActiveSegment> start_segment(FileSystem& fs, const std::string& dir, Log& log,
                                    const format::StoreId& store_id, uint64_t sequence,
                                    uint64_t first_position, uint64_t segment_bytes);

struct WriterStats {
  std::atomic<uint64_t> appends{0};
  std::atomic<uint64_t> deduplicated{0};
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> group_commits{0};
  std::atomic<uint64_t> bytes_written{0};
};

class Writer {
 public:
  // Re-hashes the active segment's content so its footer can be written later.
  Writer(FileSystem& fs, std::string dir, const Options& options, format::StoreId store_id,
         Log& log, ActiveSegment active);
  ~Writer();

  // Queues an asynchronous request; its callback runs exactly once.
  void submit(std::unique_ptr<AppendRequest> request);
  // Queues a synchronous request (request->waiter == &waiter) and returns when
  // it is finished; commits it on the calling thread when nobody else leads.
  void submit_and_wait(std::unique_ptr<AppendRequest> request, SyncWaiter& waiter);
  // Finishes every queued request, then stops the thread. Idempotent.
  void close();
  // True inside an append callback (on whichever thread committed its group).
  static bool in_callback();
  const WriterStats& stats() const { return stats_; }

 private:
  using Batch = std::vector<std::unique_ptr<AppendRequest>>;
  void run();
  void lead_one_group();
  void gather(std::unique_lock<std::mutex>& lock);
  void take(Batch& taken);  // under mu_
  void push(std::unique_ptr<AppendRequest> request);  // under mu_
  void wait_for_room(std::unique_lock<std::mutex>& lock);
  void process(Batch& taken);
  void commit(Batch& taken);
  void finish(AppendRequest& r);
  void reject_closed(AppendRequest& r);
  void release_waiters();
  void wait(SyncWaiter& waiter);
  // The idempotency and version checks; on success stamps and indexes the
  // request's batch at the end of the pending group.
  Result<AppendResult> admit(AppendRequest& r);
  std::optional<Result<AppendResult>> check_retry(const AppendRequest& r);
  // Writes and syncs the pending group, then publishes its end.
  Status flush();
  Status roll();
  void fail(const Status& error, bool cut_unsynced = true);

  FileSystem& fs_;
  const std::string dir_;
  const Options options_;
  const format::StoreId store_id_;
  Log& log_;
  ActiveSegment active_;
  format::StreamingChecksum content_;  // of the active segment's batches
  uint64_t next_position_;             // indexed end, including the pending group
  struct Group {                       // admitted, not yet written
    std::vector<std::string_view> frames;
    uint64_t bytes = 0;
    uint64_t events = 0;
  };
  Group group_;
  // The leader's state: touched only by the current leader (handed over under mu_).
  Status failed_;
  size_t last_group_size_ = 0;
  std::chrono::microseconds last_sync_time_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<AppendRequest>> queue_;  // guarded by mu_
  uint64_t queued_bytes_ = 0;                          // guarded by mu_: frames in queue_
  std::condition_variable room_;                       // queued_bytes_ fell, or closing
  bool closing_ = false;                               // guarded by mu_
  // Who commits queued requests: nobody (the next appender will), a
  // synchronous appender on its own thread, or the writer thread.
  enum class Leader : uint8_t { kNone, kCaller, kThread };
  Leader leader_ = Leader::kNone;                      // guarded by mu_
  size_t wanted_ = SIZE_MAX;  // guarded by mu_: queue size the gathering writer waits for
  WriterStats stats_;
  std::atomic<uint64_t> completions_{0};  // bumped after each group's waiters are done
  std::mutex join_mu_;  // serialises close() calls joining thread_
  std::thread thread_;
};

}  // namespace cairn::engine
