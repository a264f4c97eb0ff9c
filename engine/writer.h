// Writer: group commit with pipelined durability. Appenders queue requests
// (already encoded on their own threads); the leader takes every request
// waiting, checks each in log order against the index, stamps positions and
// versions, and writes the whole group with one write (or, not synced and
// written on its own thread, copies it into a mapping of the segment:
// Options::mapped_writes, write_now()). A group's write and
// its fdatasync go to the WriteQueue (io_uring or pwrite) as one submission;
// while it is in flight the leader fills and submits the next group, up to
// Options::max_writes_in_flight groups. The completer thread takes
// completions in log order, publishes each group's end and acknowledges its
// requests: an append completes only when every byte up to its end is
// written and, for kSync, durable.
//
// Threading: exactly one leader at a time owns the active segment and is the
// only mutator of the Log. The leader is a synchronous appender that found
// nobody leading (when nothing is in flight it writes, syncs and acknowledges
// on its own thread: no hand-off, which costs tens of microseconds twice per
// append on an idle machine), or else the writer thread, which leads while
// work keeps coming and serves every asynchronous append. Leadership changes
// hands under mu_, so the leader's state needs no lock of its own.
// Synchronous appenders that do not sync (kNone, kBatch) first take their
// turn (caller_turn_), so that each usually leads its own request. The
// completer touches only the flights it takes off `flights_` and the
// completion state; the leader completes a flight itself (a lone synchronous
// appender, or a write with no fdatasync) only while none is queued.
//
// Lazy start: make() only checks what must still fail the open (the O_DIRECT
// probe). The write queue, the zeroer, the direct-page state, the completer
// and the writer thread start at the first append (start(), called by
// submit() and submit_and_wait(), the entry points of every append), exactly
// once: concurrent first appenders serialise on start_mu_, the first starts
// everything and sets started_ (release), the others find it set. A store
// that is opened, read and closed never creates a queue or a thread. If the
// queue cannot be made, that append fails with the queue's status and the
// writer counts as failed (later appends kReadOnly, reads unaffected). Until
// the start nothing else runs: the leader's state is the constructor's, and
// close() has nothing to join or sync.
//
// Failure (fail-stop): after a failed write or fdatasync nothing more is
// acknowledged. The failed group and every group after it fail with
// kIOError (they may have been decided against it), later appends fail with
// kReadOnly, and the bytes past the last completed group are cut off. An
// fdatasync is never retried (see DESIGN.md).
//
// Out of space is not a failure of the store when it comes before any
// batch is decided: a batch is admitted only once the segment's file
// reaches past it (reserve() writes zeros ahead first, with
// prepare_segments), and a roll whose
// next segment could not be made before it got its name leaves the writer
// on the sealed segment (sealed_) to try again at the next append. Either
// way only that append fails (kIOError naming the errno), nothing is
// indexed, and appends succeed again once there is space.
#pragma once

#include "engine/append_request.h"
#include "engine/direct_pages.h"
#include "engine/histogram.h"
#include "engine/io.h"
#include "engine/log.h"
#include "engine/segment_preparer.h"
#include "engine/write_behind.h"
#include "engine/zero_ahead.h"
#include "format/checksum.h"
#include "format/segment_header.h"

#include <cairn/options.h>
#include <cairn/store.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace cairn::engine {

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

// Creates segment `sequence` starting at `first_position` durably (from a
// prepared file when `preparer` has one ready), adds it to `log`, and returns
// it as the active segment.
Result<ActiveSegment> start_segment(FileSystem& fs, const std::string& dir, Log& log,
                                    const format::StoreId& store_id, uint64_t sequence,
                                    uint64_t first_position, uint64_t segment_bytes,
                                    SegmentPreparer* preparer = nullptr);

struct WriterStats {
  std::atomic<uint64_t> appends{0};
  std::atomic<uint64_t> deduplicated{0};
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> group_commits{0};
  std::atomic<uint64_t> direct_writes{0};
  std::atomic<uint64_t> mapped_writes{0};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint32_t> in_flight{0};
  HistogramRecorder group_events;
  HistogramRecorder group_bytes;
  HistogramRecorder sync_ns;        // a group's write + fdatasync, submit to completion
  HistogramRecorder queue_wait_ns;  // an append's wait from queued to taken by a leader
};

class Writer {
 public:
  // Cheap: starts nothing (see "Lazy start"). Fails (kNotSupported) only
  // when Options::direct_io is refused for the active segment; an
  // unavailable io_uring (kIoUring asked for) fails the first append instead.
  static Result<std::unique_ptr<Writer>> make(FileSystem& fs, std::string dir, const Options& options,
                                              format::StoreId store_id, Log& log, ActiveSegment active);
  ~Writer();

  // A cleared request to fill and submit (recycled from finished ones).
  std::unique_ptr<AppendRequest> new_request() { return request_pool_.take(); }
  // Queues an asynchronous request; its callback runs exactly once.
  void submit(std::unique_ptr<AppendRequest> request);
  // Queues a synchronous request (request->waiter == &waiter) and returns when
  // it is finished; commits it on the calling thread when nobody else leads.
  void submit_and_wait(std::unique_ptr<AppendRequest> request, SyncWaiter& waiter);
  // Finishes every queued request, makes everything durable, then stops the
  // threads. Idempotent.
  void close();
  // Returns once every position below `position` is durable (an fdatasync
  // covers it), sending one at once if none is under way: kBatch and kNone
  // appends are made durable early. Errors: the writer's failure;
  // kInvalidArgument from an append callback (it would wait on itself).
  Status sync_to(uint64_t position);
  // True inside an append callback (on whichever thread completed its group).
  static bool in_callback();
  const WriterStats& stats() const { return stats_; }
  // "io_uring" or "pwrite": the queue's, settled at the first append; before
  // it, the one that will be tried first (io_uring unless kPwrite is asked).
  const char* backend() const { return backend_.load(std::memory_order_acquire); }
  // Called on the writer's thread after each segment is sealed, with its ordinal.
  void set_on_sealed(std::function<void(uint32_t)> on_sealed) { on_sealed_ = std::move(on_sealed); }
  // After close(): the active segment, and whether the store failed (then
  // the segment's end is not to be trusted for an index).
  const ActiveSegment& active() const { return active_; }
  bool failed() const { return !failure().ok(); }

 private:
  using Batch = std::vector<std::unique_ptr<AppendRequest>>;
  // A group commit on its way to disk: its requests in log order, and the
  // write (and fdatasync) that carries them.
  struct Flight {
    Batch requests;
    std::vector<std::string_view> frames;  // views into the requests' frames
    File* file = nullptr;
    uint64_t offset = 0;
    uint64_t bytes = 0;
    uint64_t events = 0;
    uint64_t end_position = 0;  // the position after the group
    uint64_t data_end = 0;      // the active segment's end after the group
    bool sync = false;
    bool io = false;            // false: nothing to write or sync
    DirectPages::Write direct;  // when written direct: the frames as whole pages
    std::vector<std::string_view> direct_parts;  // the submission's parts: direct.bytes()
    Status submit_error;        // the queue refused it: completes with this
    Clock::time_point submitted;
  };

  Writer(FileSystem& fs, std::string dir, const Options& options, format::StoreId store_id, Log& log,
         ActiveSegment active);
  // --- appenders ---
  // The first append's start of the queue and the threads; later calls
  // return at once (an error after a failed start).
  Status start();
  Status start_queue();  // under start_mu_: makes queue_, or fails the writer
  void wait_for_room(std::unique_lock<std::mutex>& lock);
  void push(std::unique_ptr<AppendRequest> request);  // under mu_
  void reject(AppendRequest& r, Status why);
  void wait(SyncWaiter& waiter);
  // How long a waiting appender with no fdatasync to wait for stays awake.
  static constexpr std::chrono::microseconds kSpinBeforeSleep{100};
  void spin(SyncWaiter& waiter);
  bool take_leaderless();  // leads a queue a leader left to the spinners
  // --- leading ---
  void run();
  bool sync_is_due() const;  // under mu_
  static bool only_sync_appends(const Batch& taken);
  void lead_one_group();
  void gather(std::unique_lock<std::mutex>& lock);
  bool wait_while_small(std::unique_lock<std::mutex>& lock);
  void take(Batch& taken);  // under mu_
  static constexpr size_t kAdmitAhead = 4;  // requests whose index reads are prefetched
  // Requests admitted per hold of the index lock (Log::WriterHold); a
  // request whose frame is larger is admitted outside a hold.
  static constexpr size_t kAdmitsPerHold = 32;
  static constexpr size_t kHoldFrameBytes = 64u << 10;
  void process(Batch& taken, bool inline_ok);
  // The idempotency and version checks; on success stamps and indexes the
  // request's batch at the end of the current flight.
  Result<AppendResult> admit(AppendRequest& r);
  std::optional<Result<AppendResult>> check_retry(const AppendRequest& r);
  bool wants_sync(const Flight& f) const;
  // Sends the current flight on its way (with an fdatasync when `force_sync`,
  // even if it is empty): written and completed on this thread when nothing
  // is in flight and `inline_ok`, else handed to the completer.
  void send(bool inline_ok, bool force_sync);
  void note_sync_state(const Flight& f);
  bool no_flights();
  void dispatch(Flight f);
  Status wait_for_no_flights();
  Status roll();
  Status seal();
  Status start_next_segment();
  // Makes the active segment's file reach `end` (zeros written past its
  // size) before a batch ending there is admitted.
  Status reserve(uint64_t end);
  // Zero-fills ahead of the writer when the active segment was not prepared whole.
  void start_zeroing();
  // With Options::direct_io, writes the active segment with O_DIRECT when it
  // was prepared whole (then nothing else writes its pages); else through the
  // page cache.
  void start_direct();
  void start_write_behind();
  // Maps the active segment for writing when it was prepared whole and is
  // not written direct: a group written on the leader's own thread is then
  // copied into the page cache without a system call.
  void start_mapped();
  // Whether the flight is written direct (f.direct), waiting for the flights
  // in when it must.
  void choose_direct(Flight& f);
  // What carries a flight's bytes: the direct write or the frames.
  File& io_file(Flight& f);
  bool maps(const Flight& f) const;  // whether write_now() copies f into write_map_
  Status write_now(Flight& f);
  // --- completing ---
  void complete_loop();
  void complete(Flight& f, const Status& io);
  void count_appends(const Flight& f);
  void acknowledge(Flight& f);
  void finish(AppendRequest& r);
  void release_waiters();
  void fail(const Status& error, File* file);
  Status failure() const;
  void cut_after_failure();

  FileSystem& fs_;
  const std::string dir_;
  const Options options_;
  const format::StoreId store_id_;
  Log& log_;
  std::unique_ptr<WriteQueue> queue_;  // set once by start(), before started_
  std::atomic<const char*> backend_;
  std::unique_ptr<SegmentPreparer> preparer_;

  // The leader's state: touched only by the current leader (handed over under mu_).
  ActiveSegment active_;
  // Of the active segment's batches written since open, in log order:
  // updated by complete() (the completer's thread, or the leader's when it
  // completes a flight itself), read and reset only while no flight is in.
  format::StreamingChecksum content_;
  bool content_complete_ = true;       // content_ covers every batch of the active segment
  std::function<void(uint32_t)> on_sealed_;
  uint64_t next_position_;             // indexed end, including the current flight
  Flight current_;                     // admitted, not yet sent
  bool inline_ok_ = false;             // the current leader may complete on its own thread
  std::optional<Log::WriterHold> index_hold_;  // the current leader's, while it admits
  bool next_requested_ = false;        // the preparer was asked for the next segment
  bool sealed_ = false;                // active_ is sealed; its successor is still to be made
  uint64_t allocated_end_ = 0;         // the active segment's file is known to reach this far
  std::unique_ptr<ZeroAhead> zero_ahead_;  // for the active segment, when it was not prepared
  // The active segment's unsynced bytes written back ahead (not with
  // direct_io, see start_write_behind()). Set and reset by the leader with
  // no flight in; the completer calls it for the flights it completes.
  std::unique_ptr<WriteBehind> write_behind_;
  std::unique_ptr<File> direct_file_;      // the active segment opened O_DIRECT, when written so
  std::unique_ptr<WritableMapping> write_map_;  // the active segment mapped, when written so
  uint64_t map_released_ = 0;  // write_map_'s pages below this are released (a WriteBehind chunk boundary)
  // After a group with a kSync append, groups are not mapped for this long
  // (an fdatasync after stores into the mapping ran far slower).
  static constexpr std::chrono::seconds kMapPauseAfterSync{1};
  Clock::time_point last_sync_append_;  // when a group with a kSync append was last sent
  DirectPages direct_pages_;
  bool last_was_direct_ = false;           // the last group with bytes was written direct
  size_t last_group_size_ = 0;
  // Written by the leader under mu_ (the writer thread reads them to time kBatch's fdatasync).
  uint64_t unsynced_bytes_ = 0;        // written since the last fdatasync was sent
  Clock::time_point last_sync_sent_;
  std::optional<Clock::time_point> sync_due_;
  // sync_to() asks for an fdatasync: the next flight sent carries one (and
  // an idle writer thread sends one, sync_due_). Cleared by a flight that
  // carries one: it covers every position published before it was sent.
  std::atomic<bool> sync_wanted_{false};
  std::atomic<uint32_t> sync_waiters_{0};  // in sync_to(): synced flights wake them

  // Completion state: the completer's, or the leader's while no flight is in.
  uint64_t completed_end_;                  // the active segment's end, acknowledged
  std::atomic<uint64_t> durable_position_;  // positions below are durable (stamped into batches)
  std::atomic<uint64_t> last_sync_us_{0};

  // Taken before fail_mu_ and mu_. Held by start() while it starts the
  // threads and by close() while it joins them, so that nothing starts once
  // close() has begun joining (start() finds closing_ set).
  std::mutex start_mu_;
  std::atomic<bool> started_{false};  // the queue and the threads exist

  mutable std::mutex fail_mu_;  // before mu_ when both are held
  Status failed_;               // guarded by fail_mu_
  File* cut_file_ = nullptr;    // guarded by fail_mu_: to cut back once no flight is in
  std::atomic<bool> has_failed_{false};

  // Held by a synchronous appender with no fdatasync to wait for (kNone,
  // kBatch) from queueing its request to its completion. Such appenders
  // take turns to lead, each committing its own request on its own thread,
  // instead of queueing behind a leader, which must then wake them: with 4
  // such appenders on 2 vCPUs the hand-offs and the yields of the spinners
  // took most of the CPU (`none`, 4 writers, batches of 10: 427,000-474,000
  // -> 667,000-739,000 events/s, p50 63-68 -> 10-11 us). Taken before mu_.
  std::mutex caller_turn_;
  std::mutex mu_;
  std::condition_variable wake_;  // the writer thread: work, leadership, closing, a due sync
  std::deque<std::unique_ptr<AppendRequest>> requests_;  // guarded by mu_
  uint64_t queued_bytes_ = 0;                            // guarded by mu_: frames in requests_
  std::condition_variable room_;                         // queued_bytes_ fell, or closing
  bool closing_ = false;                                 // guarded by mu_
  // Who commits queued requests: nobody (the next appender will), a
  // synchronous appender on its own thread, or the writer thread.
  enum class Leader : uint8_t { kNone, kCaller, kThread };
  // kNone with requests queued: a leader left them to the spinners (spin()).
  Leader leader_ = Leader::kNone;  // guarded by mu_
  size_t spinners_ = 0;            // guarded by mu_: synchronous appenders in spin()
  std::atomic<bool> leaderless_{false};  // a hint for the spinners: leader_ kNone, requests queued
  size_t wanted_ = SIZE_MAX;       // guarded by mu_: queue size the gathering writer waits for
  std::deque<Flight> flights_;     // guarded by mu_: sent, not completed, in log order
  std::condition_variable flights_cv_;  // flights_ changed, or the completer should stop
  bool completer_stop_ = false;         // guarded by mu_

  WriterStats stats_;

  RequestPool request_pool_;  // finished requests, for new_request()
  std::atomic<uint64_t> completions_{0};  // bumped after each group's waiters are done
  std::thread thread_;
  std::thread completer_;
};

// Lets what may outlive a store's Writer, or run beside its close (the
// subscription hub, snapshot saves), call sync_to() safely: close() waits
// for the calls in progress (they return once the writer has closed), and
// later calls get kClosed.
class SyncGate {
 public:
  explicit SyncGate(Writer& writer) : writer_(&writer) {}
  Status sync_to(uint64_t position) {
    std::shared_lock lock(mu_);
    if (writer_ == nullptr) return Status::closed("store is closed");
    return writer_->sync_to(position);
  }
  void close() {
    std::unique_lock lock(mu_);
    writer_ = nullptr;
  }

 private:
  std::shared_mutex mu_;
  Writer* writer_;  // guarded by mu_
};

}  // namespace cairn::engine
