#include "engine/writer.h"

#include "engine/append_check.h"
#include "engine/clock.h"
#include "engine/info_log.h"
#include "engine/thread_name.h"
#include "format/batch.h"
#include "format/checksum.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_name.h"

#include <algorithm>
#include <chrono>

namespace cairn::engine {
namespace {

thread_local bool t_in_callback = false;

uint64_t nanos_since(Clock::time_point start) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
}

bool needs_durability(const AppendRequest& r, Durability level) {
  return r.result.ok() && r.durability == level;
}

}  // namespace

// ---------------------------------------------------------------- set-up

Result<std::unique_ptr<Writer>> Writer::make(FileSystem& fs, std::string dir, const Options& options,
                                             format::StoreId store_id, Log& log, ActiveSegment active) {
  if (options.direct_io) {  // fail now, not at the first roll, when O_DIRECT is refused
    auto probe = fs.open(active.segment->path(), OpenMode::kReadWriteDirect);
    if (!probe.ok()) return probe.status();
  }
  return std::unique_ptr<Writer>(new Writer(fs, std::move(dir), options, store_id, log, active));
}

Writer::Writer(FileSystem& fs, std::string dir, const Options& options, format::StoreId store_id,
               Log& log, ActiveSegment active)
    : fs_(fs),
      dir_(std::move(dir)),
      options_(options),
      store_id_(store_id),
      log_(log),
      backend_(options.io_backend == IoBackend::kPwrite ? "pwrite" : "io_uring"),
      active_(active),
      next_position_(log.indexed_end_position()),
      last_sync_sent_(Clock::now()),
      completed_end_(active.data_end),
      durable_position_(log.published()) {
  // The batches already in the segment are hashed when it is sealed, not at open.
  content_complete_ = active_.data_end == format::kSegmentHeaderSize;
  if (options_.prepare_segments) {  // its thread starts with its first request
    preparer_ = std::make_unique<SegmentPreparer>(fs_, dir_, options_.segment_bytes,
                                                  [this](std::string_view m) { info(options_, m); },
                                                  /*load_into_cache=*/!options_.direct_io);
  }
}

Writer::~Writer() { close(); }

// Until started_ is set nobody leads, so the leader's state (zero_ahead_,
// direct_file_, direct_pages_) is still the constructor's to set up here; the
// threads and every later leader see it through started_ (or start_mu_).
Status Writer::start() {
  if (started_.load(std::memory_order_acquire)) return Status();
  std::lock_guard starting(start_mu_);
  if (started_.load(std::memory_order_relaxed)) return Status();
  if (has_failed_.load(std::memory_order_acquire)) {
    return Status::read_only("store stopped accepting appends: its write queue could not be made: " +
                             failure().message());
  }
  {
    std::lock_guard lock(mu_);
    if (closing_) return Status();  // the caller finds closing_ and rejects the append
  }
  if (Status s = start_queue(); !s.ok()) return s;
  start_zeroing();
  start_direct();
  start_mapped();
  start_write_behind();
  completer_ = std::thread([this] {
    name_this_thread("cairn-complete");
    complete_loop();
  });
  thread_ = std::thread([this] {
    name_this_thread("cairn-writer");
    run();
  });
  started_.store(true, std::memory_order_release);
  return Status();
}

// A queue that cannot be made fails the store (fail-stop, nothing written):
// the first append gets the queue's status, later ones kReadOnly.
Status Writer::start_queue() {
  std::string why_fallback;  // max_writes_in_flight is checked (1 to 16) by open_store
  auto queue = fs_.make_write_queue(options_.io_backend, options_.max_writes_in_flight, &why_fallback);
  if (!queue.ok()) {
    fail(queue.status(), nullptr);
    return queue.status();
  }
  if (!why_fallback.empty()) info(options_, "io_uring is unavailable, writing with pwrite: " + why_fallback);
  queue_ = std::move(*queue);
  backend_.store(queue_->name(), std::memory_order_release);
  return Status();
}

void Writer::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    wake_.notify_one();
    room_.notify_all();
  }
  if (in_callback()) return;  // the writer finishes the current group, then stops
  std::lock_guard starting(start_mu_);  // nothing starts from here on (closing_ is set)
  if (thread_.joinable()) thread_.join();
  if (completer_.joinable()) completer_.join();
  zero_ahead_.reset();
  write_behind_.reset();
  direct_file_.reset();
  preparer_.reset();  // removes an unused prepared file
}

bool Writer::in_callback() { return t_in_callback; }

// ---------------------------------------------------------------- appenders

// Backpressure: an appender waits while the queue holds max_queued_bytes
// (never a callback on a committing thread: it would wait for itself).
void Writer::wait_for_room(std::unique_lock<std::mutex>& lock) {
  if (in_callback()) return;
  room_.wait(lock, [&] { return closing_ || queued_bytes_ < options_.max_queued_bytes; });
}

void Writer::push(std::unique_ptr<AppendRequest> request) {
  queued_bytes_ += request->frame.size();
  request->queued_at = Clock::now();
  requests_.push_back(std::move(request));
}

void Writer::submit(std::unique_ptr<AppendRequest> request) {
  if (Status s = start(); !s.ok()) return reject(*request, std::move(s));
  {
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    if (!closing_) {
      push(std::move(request));
      if (leader_ == Leader::kNone) {
        leader_ = Leader::kThread;
        wake_.notify_one();
      } else if (requests_.size() >= wanted_) {
        wake_.notify_one();
      }
      return;
    }
  }
  reject(*request, Status::closed("store is closed"));
}

void Writer::submit_and_wait(std::unique_ptr<AppendRequest> request, SyncWaiter& waiter) {
  if (Status s = start(); !s.ok()) return reject(*request, std::move(s));
  bool lead = false;
  // Without an fdatasync to wait for, the wait is short: spin through it.
  const bool spins = request->durability != Durability::kSync;
  // Such appends take turns: each commits its own request, so that nobody
  // waits for a leader to commit it and then to wake it (see caller_turn_).
  std::unique_lock<std::mutex> turn;
  if (spins) turn = std::unique_lock(caller_turn_);
  {
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    if (closing_) {
      lock.unlock();
      reject(*request, Status::closed("store is closed"));
      return;
    }
    push(std::move(request));
    if (leader_ == Leader::kNone) {
      leader_ = Leader::kCaller;
      lead = true;
    } else {
      spinners_ += spins ? 1 : 0;
      if (requests_.size() >= wanted_) wake_.notify_one();
    }
  }
  if (lead) {
    lead_one_group();
  } else if (spins) {
    spin(waiter);
  }
  wait(waiter);
}

// A synchronous appender with no fdatasync to wait for stays awake: it
// yields its CPU in a loop (so that the leader and the appenders encoding
// their next batches run first) and takes over the queue the moment a leader
// leaves it to the spinners. That saves the hand-offs to and from a sleeping
// thread, tens of microseconds each on a virtual machine: `none`, 4 writers,
// batches of 10 ran 1.7 times as fast (DESIGN.md, "Group commit"). After
// kSpinBeforeSleep it sleeps, handing a queue left to the spinners to the
// writer thread.
void Writer::spin(SyncWaiter& waiter) {
  auto until = Clock::now() + kSpinBeforeSleep;
  while (!waiter.done.load(std::memory_order_acquire) && Clock::now() < until) {
    if (leaderless_.load(std::memory_order_relaxed) && take_leaderless()) {
      lead_one_group();
      continue;
    }
    std::this_thread::yield();
  }
  std::lock_guard lock(mu_);
  --spinners_;
  if (leader_ == Leader::kNone && !requests_.empty()) {
    leader_ = Leader::kThread;
    wake_.notify_one();
  }
}

bool Writer::take_leaderless() {
  std::lock_guard lock(mu_);
  leaderless_.store(false, std::memory_order_relaxed);  // taken now, or by someone else before
  if (leader_ != Leader::kNone || requests_.empty()) return false;
  leader_ = Leader::kCaller;
  return true;
}

void Writer::reject(AppendRequest& r, Status why) {
  r.result = std::move(why);
  finish(r);
  release_waiters();
}

void Writer::wait(SyncWaiter& waiter) {
  while (true) {
    uint64_t seen = completions_.load(std::memory_order_acquire);
    if (waiter.done.load(std::memory_order_acquire)) return;
    completions_.wait(seen, std::memory_order_acquire);
  }
}

// ---------------------------------------------------------------- leading

// A synchronous appender that found no leader commits the queue itself (its
// own request, usually alone). Whatever queued up meanwhile goes to the
// writer thread.
void Writer::lead_one_group() {
  Batch taken;
  {
    std::lock_guard lock(mu_);
    take(taken);
  }
  process(taken, /*inline_ok=*/true);
  std::lock_guard lock(mu_);
  if (requests_.empty() || spinners_ > 0) {
    leader_ = Leader::kNone;  // with requests queued: a spinner takes them (spin())
    leaderless_.store(!requests_.empty(), std::memory_order_relaxed);
  } else {
    leader_ = Leader::kThread;
  }
  if (leader_ == Leader::kThread || closing_ || sync_due_) wake_.notify_one();
}

void Writer::take(Batch& taken) {
  uint64_t bytes = 0;
  auto now = Clock::now();
  while (!requests_.empty() &&
         (taken.empty() || bytes + requests_.front()->frame.size() <= options_.max_group_bytes)) {
    bytes += requests_.front()->frame.size();
    stats_.queue_wait_ns.record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - requests_.front()->queued_at).count()));
    taken.push_back(std::move(requests_.front()));
    requests_.pop_front();
  }
  queued_bytes_ -= bytes;
  room_.notify_all();
}

// The writer thread leads while there is work, then hands leadership back.
// When idle it also sends kBatch's due fdatasync, and at close the last one.
void Writer::run() {
  Batch taken;
  std::unique_lock lock(mu_);
  while (true) {
    auto ready = [&] {
      return leader_ == Leader::kThread || (leader_ == Leader::kNone && (closing_ || sync_is_due()));
    };
    while (!ready()) {  // the deadline may come or go while waiting: look again at each wake-up
      if (sync_due_ && leader_ == Leader::kNone) {
        wake_.wait_until(lock, *sync_due_);
      } else {
        wake_.wait(lock);
      }
    }
    if (leader_ == Leader::kNone && !closing_ && sync_is_due()) {
      leader_ = Leader::kThread;
      lock.unlock();
      send(/*inline_ok=*/false, /*force_sync=*/true);
      lock.lock();
      if (requests_.empty()) leader_ = Leader::kNone;
      continue;
    }
    if (leader_ == Leader::kNone && closing_ && requests_.empty()) break;
    if (leader_ == Leader::kNone) {
      if (!ready()) continue;  // woken with nothing to do
      leader_ = Leader::kThread;
    }
    // Gather again after a flight lands: its appenders are about to return.
    do {
      gather(lock);
    } while (wait_while_small(lock));
    if (requests_.empty()) {
      leader_ = Leader::kNone;
      continue;
    }
    take(taken);
    bool inline_ok = requests_.empty() && only_sync_appends(taken);
    lock.unlock();
    process(taken, inline_ok);
    lock.lock();
  }
  // Closing: everything written becomes durable, then the completer stops.
  leader_ = Leader::kThread;
  lock.unlock();
  if (unsynced_bytes_ > 0 && !has_failed_) send(/*inline_ok=*/false, /*force_sync=*/true);
  (void)wait_for_no_flights();
  lock.lock();
  completer_stop_ = true;
  flights_cv_.notify_all();
  release_waiters();  // a sync_to() still waiting returns (kClosed or its failure)
}

// Whether the writer thread commits a group on its own thread, as a caller
// leader does: when it took every queued request and each is a synchronous
// appender's. Those appenders wait for this group, and nothing else is
// queued to pipeline behind it, so handing the flight to the completer would
// only add a hand-off (16 synchronous writers: 0.25 -> 0.37 of 16 / raw
// fdatasync, medians of 5 runs alternated with the handing-off build).
bool Writer::only_sync_appends(const Batch& taken) {
  return std::all_of(taken.begin(), taken.end(), [](const auto& r) { return r->waiter != nullptr; });
}

bool Writer::sync_is_due() const { return sync_due_ && Clock::now() >= *sync_due_; }

// Appenders acknowledged by the last group commit usually come straight back
// (each thread waits for its append, then makes the next). Starting the next
// group before they are back would leave them a whole fdatasync behind, and
// the groups would alternate between two halves of the appenders. So wait,
// briefly, for as many requests as the last group had.
void Writer::gather(std::unique_lock<std::mutex>& lock) {
  if (last_group_size_ <= 1 || requests_.size() >= last_group_size_ || closing_ ||
      options_.max_commit_delay_us == 0) {
    return;
  }
  auto last_sync = std::chrono::microseconds(last_sync_us_.load(std::memory_order_relaxed));
  auto delay = std::min(std::chrono::microseconds(options_.max_commit_delay_us), last_sync / 2);
  wanted_ = last_group_size_;
  wake_.wait_for(lock, delay, [&] { return closing_ || requests_.size() >= wanted_; });
  wanted_ = SIZE_MAX;
}

// While a group is in flight, the next one is sent at once only when it is
// worth an fdatasync of its own: as many appends as the last group, or half a
// group's bytes. Smaller ones wait for the flight to land, and grow: an
// fdatasync overlapping another costs nearly as much as one alone on the
// disks measured (DESIGN.md), so splitting appenders that return together
// into several small groups would only lower the rate.
// Returns whether it waited for the flights to land (the caller gathers again).
bool Writer::wait_while_small(std::unique_lock<std::mutex>& lock) {
  auto big_enough = [&] {
    return closing_ || (last_group_size_ > 0 && requests_.size() >= last_group_size_) ||
           queued_bytes_ >= options_.max_group_bytes / 2;
  };
  if (flights_.empty() || big_enough()) return false;
  wanted_ = std::max<size_t>(last_group_size_, 1);
  wake_.wait(lock, [&] { return flights_.empty() || big_enough(); });
  wanted_ = SIZE_MAX;
  return !big_enough();
}

// The stream table and the id window outgrow the caches with many streams
// and a full window, and each append reads a slot of each at random: what
// admitting a request reads is prefetched kAdmitAhead requests ahead, at the
// positions it would get if every request before it is admitted.
void Writer::process(Batch& taken, bool inline_ok) {
  inline_ok_ = inline_ok;
  last_group_size_ = taken.size();
  uint64_t ahead_position = next_position_;
  size_t ahead = 0;
  auto prefetch_next = [&] {
    const AppendRequest& r = *taken[ahead++];
    log_.prefetch_append(r.stream_hash, r.ids, ahead_position);
    ahead_position += r.ids.size();
  };
  while (ahead < std::min(kAdmitAhead, taken.size())) prefetch_next();
  size_t admitted = 0;
  for (auto& request : taken) {
    if (ahead < taken.size()) prefetch_next();
    AppendRequest& r = *request;
    if (has_failed_.load(std::memory_order_acquire)) {
      r.result = Status::read_only("store stopped accepting appends after an I/O error: " +
                                   failure().message());
    } else {
      // A large batch's checksums would hold readers up: it takes the lock alone.
      if (r.frame.size() > kHoldFrameBytes) {
        index_hold_.reset();
      } else if (!index_hold_) {
        index_hold_.emplace(log_);
      }
      r.result = admit(r);
      if (++admitted % kAdmitsPerHold == 0) index_hold_.reset();
    }
    current_.requests.push_back(std::move(request));
  }
  index_hold_.reset();
  taken.clear();
  send(inline_ok, /*force_sync=*/false);
}

std::optional<Result<AppendResult>> Writer::check_retry(const AppendRequest& r) {
  if (!log_.id_window_loaded()) {
    if (Status s = log_.load_id_window(); !s.ok()) return Result<AppendResult>(s);
  }
  // The common case, no id seen before, costs one window lookup an event.
  size_t first_hit = 0;
  std::optional<Log::IdHit> hit;
  // process() prefetched the first kAhead ids (Log::prefetch_append).
  constexpr size_t kAhead = index::IdWindow::kPrefetchAhead;
  for (; first_hit < r.ids.size() && !hit; ++first_hit) {
    if (first_hit + kAhead < r.ids.size()) log_.prefetch_id(r.ids[first_hit + kAhead]);
    auto found = log_.find_id(r.ids[first_hit]);
    if (!found.ok()) return Result<AppendResult>(found.status());
    hit = std::move(*found);
  }
  if (!hit) return std::nullopt;
  --first_hit;
  bool retry = first_hit == 0 && hit->stream == r.stream;
  for (size_t i = 1; retry && i < r.ids.size(); ++i) {
    auto next = log_.find_id(r.ids[i]);
    if (!next.ok()) return Result<AppendResult>(next.status());
    retry = *next && (*next)->stream == r.stream && (*next)->position == hit->position + i &&
            (*next)->version == hit->version + i;
  }
  if (retry) {
    AppendResult original{hit->version, hit->position, static_cast<uint32_t>(r.ids.size()), true};
    return Result<AppendResult>(original);
  }
  return Result<AppendResult>(Status::duplicate_event(
      "event id " + r.ids[first_hit].to_hex() + " (event " + std::to_string(first_hit) + " of the append to '" +
      r.stream + "') is already stored at position " + std::to_string(hit->position) +
      ", and the append is not a retry of the append that stored it"));
}

Result<AppendResult> Writer::admit(AppendRequest& r) {
  if (auto retry = check_retry(r)) {
    if (retry->ok()) stats_.deduplicated.fetch_add(1, std::memory_order_relaxed);
    return std::move(*retry);
  }
  auto found = log_.find_stream(r.stream, r.stream_hash);
  if (!found.ok()) return found.status();
  std::optional<uint32_t> stream = *found;
  uint64_t next_version = stream ? log_.indexed_next_version(*stream) : 0;
  if (Status s = check_expected(r.stream, next_version, r.expected, r.ids.size()); !s.ok()) return s;

  if (sealed_ || active_.data_end + current_.bytes + segment_bytes_needed(r.frame.size()) > options_.segment_bytes) {
    index_hold_.reset();  // the roll takes the index lock itself
    send(inline_ok_, /*force_sync=*/false);
    if (Status s = roll(); !s.ok()) return s;
  }
  uint64_t offset = active_.data_end + current_.bytes;
  if (Status s = reserve(offset + segment_bytes_needed(r.frame.size())); !s.ok()) return s;
  format::BatchStamp stamp{next_position_, next_version, durable_position_.load(std::memory_order_acquire),
                           wall_clock_ns()};
  format::restamp_batch(r.frame.data(), r.frame.size(), stamp);
  if (Status s = log_.index_batch(active_.ordinal, offset, static_cast<uint32_t>(r.frame.size()),
                                  r.batch.restamped(stamp), stream, r.ids);
      !s.ok()) {
    return s;
  }
  current_.frames.push_back(r.frame);
  current_.bytes += r.frame.size();
  current_.events += r.ids.size();
  next_position_ += r.ids.size();
  return AppendResult{next_version, stamp.first_position, static_cast<uint32_t>(r.ids.size()), false};
}

// Whether the flight ends with an fdatasync: when an append in it asks for
// kSync (a deduplicated kSync retry too, if anything is unsynced), or kBatch's
// byte or time budget is spent.
bool Writer::wants_sync(const Flight& f) const {
  if (f.bytes == 0 && unsynced_bytes_ == 0) return false;
  if (sync_wanted_.load(std::memory_order_acquire)) return true;
  bool batch = false;
  for (const auto& r : f.requests) {
    if (needs_durability(*r, Durability::kSync)) return true;
    batch = batch || needs_durability(*r, Durability::kBatch);
  }
  if (!batch) return false;
  return unsynced_bytes_ + f.bytes >= options_.batch_sync_bytes ||
         Clock::now() - last_sync_sent_ >= std::chrono::microseconds(options_.batch_sync_interval_us);
}

void Writer::send(bool inline_ok, bool force_sync) {
  Flight f = std::exchange(current_, Flight{});
  if (f.requests.empty() && !force_sync) return;
  f.sync = force_sync || wants_sync(f);
  if (f.sync) sync_wanted_.store(false, std::memory_order_release);
  f.io = f.bytes > 0 || f.sync;
  f.file = &active_.segment->file();
  f.offset = active_.data_end;
  active_.data_end += f.bytes;
  active_.batch_count += f.frames.size();
  active_.event_count += f.events;
  f.data_end = active_.data_end;
  f.end_position = next_position_;
  if (preparer_ && !next_requested_ && active_.data_end >= options_.segment_bytes / 2) {
    preparer_->request();  // the first roll's segment, ready before this one is full
    next_requested_ = true;
  }
  if (direct_file_ && f.bytes > 0) choose_direct(f);
  f.submitted = Clock::now();
  if (f.sync && std::any_of(f.requests.begin(), f.requests.end(),
                            [](const auto& r) { return needs_durability(*r, Durability::kSync); })) {
    last_sync_append_ = f.submitted;
  }
  if (zero_ahead_ && f.bytes > 0) zero_ahead_->before_write(f.data_end);
  note_sync_state(f);
  if (f.bytes > 0) {
    stats_.group_events.record(f.events);
    stats_.group_bytes.record(f.bytes);
  }
  // Inline: a lone synchronous appender (no hand-off), or a write with no
  // fdatasync to wait for (the completer would only add a hand-off).
  if ((inline_ok || !f.sync) && no_flights()) {
    // Never written after a failure: the completer may have cut the file
    // back already, and these bytes would then outlive the cut.
    Status io;
    if (f.bytes > 0 && !has_failed_.load(std::memory_order_acquire)) io = write_now(f);
    if (io.ok() && f.sync && !has_failed_.load(std::memory_order_acquire)) io = io_file(f).sync();
    complete(f, io);
    request_pool_.give(f.requests);
    cut_after_failure();
    return;
  }
  dispatch(std::move(f));
}

// kBatch's bookkeeping: bytes written since the last fdatasync, and when the
// next one is due if no append brings it sooner.
void Writer::note_sync_state(const Flight& f) {
  bool batch_pending = false;
  for (const auto& r : f.requests) batch_pending = batch_pending || needs_durability(*r, Durability::kBatch);
  std::lock_guard lock(mu_);
  if (f.sync) {
    unsynced_bytes_ = 0;
    last_sync_sent_ = f.submitted;
    sync_due_.reset();
    return;
  }
  unsynced_bytes_ += f.bytes;
  if (batch_pending && !sync_due_) {
    sync_due_ = last_sync_sent_ + std::chrono::microseconds(options_.batch_sync_interval_us);
    wake_.notify_one();
  }
}

bool Writer::no_flights() {
  std::lock_guard lock(mu_);
  return flights_.empty();
}

// Queues the flight for the completer, after waiting for a free slot. Never
// submits after a failure: the completer cuts the file back once the last
// flight is in, and nothing may land after the cut.
void Writer::dispatch(Flight f) {
  {
    std::unique_lock lock(mu_);
    flights_cv_.wait(lock, [&] { return flights_.size() < options_.max_writes_in_flight; });
  }
  {
    std::lock_guard failing(fail_mu_);
    if (!failed_.ok()) f.io = false;  // its appends are failed in complete()
    if (f.io) {
      f.submitted = Clock::now();  // the fdatasync histogram leaves out the wait for a slot
      f.submit_error = f.direct.empty() ? queue_->submit(io_file(f), f.offset, f.frames, f.sync)
                                        : queue_->submit(io_file(f), f.direct.offset(), f.direct_parts, f.sync);
      if (!f.submit_error.ok()) f.io = false;
    }
    std::lock_guard lock(mu_);
    flights_.push_back(std::move(f));
    stats_.in_flight.store(static_cast<uint32_t>(flights_.size()), std::memory_order_relaxed);
  }
  flights_cv_.notify_all();
}

Status Writer::wait_for_no_flights() {
  std::unique_lock lock(mu_);
  flights_cv_.wait(lock, [&] { return flights_.empty(); });
  lock.unlock();
  return failure();
}

// Seals the active segment (footer written and synced once every flight is
// in) and continues in the next one. A next segment that could not be made
// before it got its name (no space for it, say) puts nothing acknowledged at
// risk: the append that needed it fails, the writer stays on the sealed
// segment without writing to it (sealed_), and the next append tries again.
Status Writer::roll() {
  if (Status s = wait_for_no_flights(); !s.ok()) return s;
  if (!sealed_) {
    if (Status s = seal(); !s.ok()) return s;
  }
  return start_next_segment();
}

// A footer on disk vouches that every batch before it is durable (recovery
// takes damage before a footer for corruption, not a torn tail), so the
// batches are synced before it is written: after kBatch or kNone appends a
// power loss could otherwise keep the footer and lose a batch before it.
Status Writer::seal() {
  log_.adopt_offered_checkpoint();  // the writer's side: nobody else changes the indexes
  File& file = active_.segment->file();
  write_behind_.reset();  // its file is synced now, then closed
  bool unsynced = false;
  {
    std::lock_guard lock(mu_);
    unsynced = unsynced_bytes_ > 0;  // no flight is in: every sync sent has completed
  }
  if (unsynced) {
    if (Status s = file.sync(); !s.ok()) {
      fail(s, &file);
      cut_after_failure();
      return s;
    }
  }
  uint64_t begin = format::kSegmentHeaderSize;
  uint64_t content_hash = content_complete_
                              ? content_.digest()
                              : format::checksum(active_.segment->bytes(begin, active_.data_end - begin));
  format::Footer footer{active_.first_position, active_.event_count, active_.batch_count,
                        active_.data_end, content_hash};
  std::string bytes;
  format::encode_footer(bytes, footer);
  if (zero_ahead_) zero_ahead_->before_write(active_.data_end + bytes.size());
  Status s = file.write_at(active_.data_end, bytes);
  if (s.ok()) s = file.sync();
  if (!s.ok()) {
    fail(s, &file);
    cut_after_failure();
    return s;
  }
  zero_ahead_.reset();  // before its file closes
  active_.segment->set_sealed_end(active_.data_end + bytes.size());
  sealed_ = true;
  if (on_sealed_) on_sealed_(active_.ordinal);
  durable_position_.store(next_position_, std::memory_order_seq_cst);
  if (sync_waiters_.load(std::memory_order_seq_cst) > 0) release_waiters();
  std::lock_guard lock(mu_);
  unsynced_bytes_ = 0;
  last_sync_sent_ = Clock::now();
  sync_due_.reset();
  return Status();
}

Status Writer::start_next_segment() {
  uint64_t sequence = active_.sequence + 1;
  auto next = start_segment(fs_, dir_, log_, store_id_, sequence, next_position_, options_.segment_bytes,
                            preparer_.get());
  if (!next.ok()) {
    // Once it has its name, its directory entry may be half durable: stop.
    std::string name = format::segment_file_name({sequence, next_position_});
    if (fs_.is_dir(dir_ + "/" + name).ok()) fail(next.status(), nullptr);  // the sealed segment stays sealed
    return next.status();
  }
  direct_file_.reset();
  write_map_.reset();
  active_.segment->close_file();
  active_ = *next;
  sealed_ = false;
  content_.reset();
  content_complete_ = true;
  // A store that filled a segment in this session fills the next: its
  // successor is prepared from now on (DESIGN.md, "Prepared space").
  next_requested_ = preparer_ != nullptr;
  if (preparer_) preparer_->request();
  allocated_end_ = 0;
  start_zeroing();
  start_direct();
  start_mapped();
  start_write_behind();
  completed_end_ = active_.data_end;  // no flight is in: the completion state is ours
  return Status();
}

// Admitting a batch only once the file reaches past it means a full disk
// fails the append before anything is decided, never the write of a decided
// batch (which would stop the store). Segments are prepared or zero-filled
// ahead, so this writes only when that failed (out of space, say) or the
// zeroer is behind, and then only as far as this batch needs. The zeros
// land past every byte written or admitted, where the zeroer may write zeros
// too. Without prepare_segments the writer grows the file with each write,
// as asked: running out of space there stops the store.
Status Writer::reserve(uint64_t end) {
  if (!options_.prepare_segments || end <= allocated_end_) return Status();
  index_hold_.reset();  // no readers held up by I/O
  File& file = active_.segment->file();
  auto size = file.size();
  if (!size.ok()) return size.status();
  allocated_end_ = *size;
  if (end <= allocated_end_) return Status();
  std::string zeros(end - allocated_end_, '\0');
  if (Status s = file.write_at(allocated_end_, zeros); !s.ok()) return s;
  allocated_end_ = end;
  return Status();
}

void Writer::start_zeroing() {
  File& file = active_.segment->file();
  auto size = file.size();
  if (!options_.prepare_segments || !size.ok() || *size >= options_.segment_bytes) return;  // prepared whole
  zero_ahead_ = std::make_unique<ZeroAhead>(file, active_.data_end, *size, options_.segment_bytes,
                                            [this](std::string_view m) { info(options_, m); });
}

void Writer::start_write_behind() {
  write_behind_.reset();
  // With direct_io the unsynced groups are still buffered, but a page of
  // theirs may be written direct later (DirectPages rewrites the partial
  // page): no write-back of buffered copies then, as none races the direct
  // writes.
  if (options_.direct_io) return;
  write_behind_ = std::make_unique<WriteBehind>(active_.segment->file(), active_.data_end,
                                                [this](std::string_view m) { info(options_, m); }, write_map_.get());
}

// Direct writes must be the only writes to the segment's pages until the
// footer (written through the page cache once every flight is in): a
// buffered write racing a direct one to the same page could write a stale
// copy of the page back over it. So a segment is written direct when it was
// prepared whole (its zeros written and synced; no zeroer, and reserve()
// has nothing to write) or when nothing prepares segments (the writes grow
// the file). A segment that cannot be opened so is written buffered.
void Writer::start_direct() {
  direct_file_.reset();
  last_was_direct_ = false;
  if (!options_.direct_io || zero_ahead_) return;
  File& file = active_.segment->file();
  auto size = file.size();
  if (!size.ok() || (options_.prepare_segments && *size < options_.segment_bytes)) return;
  uint64_t page = DirectPages::page_start(active_.data_end);
  std::string head(active_.data_end - page, '\0');
  auto read = file.read_at(page, head.data(), head.size());
  auto direct = fs_.open(file.path(), OpenMode::kReadWriteDirect);
  Status s = !read.ok() ? read.status() : !direct.ok() ? direct.status() : Status();
  if (s.ok() && *read != head.size()) s = Status::io_error(file.path() + ": short read of the last page");
  if (!s.ok()) {
    info(options_, "writing " + file.path() + " through the page cache: " + s.message());
    return;
  }
  direct_pages_.restart(active_.data_end, head);
  direct_file_ = std::move(*direct);
}

void Writer::start_mapped() {
  write_map_.reset();
  if (!options_.mapped_writes || direct_file_ || zero_ahead_ || !options_.prepare_segments) return;
  File& file = active_.segment->file();
  auto size = file.size();
  if (!size.ok() || *size < options_.segment_bytes) return;
  auto mapped = file.map_writable(options_.segment_bytes);
  if (!mapped.ok()) {
    if (mapped.status().code() != Code::kNotSupported) {
      info(options_, "writing " + file.path() + " with write calls: " + mapped.status().message());
    }
    return;
  }
  write_map_ = std::move(*mapped);
  map_released_ = active_.data_end / WriteBehind::kChunk * WriteBehind::kChunk;
}

// With direct_file_, groups that are synced are written direct: O_DIRECT
// saves the copy into the page cache and the writeback that fdatasync waits
// for, while a group that is not synced (kNone, kBatch) is cheaper copied
// into the page cache than written to the device. A group sharing a page
// with the one before it waits for that one to land when either is direct
// (DirectPages says why).
void Writer::choose_direct(Flight& f) {
  bool shares_page = f.offset % DirectPages::kPage != 0;
  if (f.sync) {
    f.direct = direct_pages_.next(f.frames, f.bytes);
    f.direct_parts.push_back(f.direct.bytes());
  } else {
    direct_pages_.skip(f.frames, f.bytes);
  }
  if (shares_page && (f.sync || last_was_direct_)) (void)wait_for_no_flights();
  last_was_direct_ = f.sync;
}

File& Writer::io_file(Flight& f) { return f.direct.empty() ? *f.file : *direct_file_; }

// A group that is not synced goes into the mapping when there is one: no
// system call (`none`, 1 writer, batches of 10: p50 10 -> 6.5 us). A synced
// group never does: its fdatasync then ran far slower (1 writer, p50 200 ->
// 545 us). Nor does any group for a while after a kSync append: the next
// kSync append's fdatasync would pay for the pages stored into meanwhile
// (kNone and kSync appends mixed: kSync p50 240-290 -> 440-460 us). So
// synced appenders see write calls only (DESIGN.md, "Mapped writes").
bool Writer::maps(const Flight& f) const {
  return !f.sync && write_map_ && f.offset + f.bytes <= write_map_->size() &&
         f.submitted - last_sync_append_ >= kMapPauseAfterSync;
}

Status Writer::write_now(Flight& f) {
  if (maps(f)) {
    char* to = write_map_->data() + f.offset;
    for (std::string_view frame : f.frames) to = std::copy(frame.begin(), frame.end(), to);
    stats_.mapped_writes.fetch_add(1, std::memory_order_relaxed);
    // Whole chunks behind the writer are released before WriteBehind
    // writes them back (complete() tells it after this returns).
    uint64_t done = f.data_end / WriteBehind::kChunk * WriteBehind::kChunk;
    if (done > map_released_) {
      write_map_->release(map_released_, done - map_released_);
      map_released_ = done;
    }
    return Status();
  }
  if (f.direct.empty()) return f.file->write_at(f.offset, f.frames);
  return direct_file_->write_at(f.direct.offset(), f.direct_parts);
}

// ---------------------------------------------------------------- completing

void Writer::complete_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    flights_cv_.wait(lock, [&] { return !flights_.empty() || completer_stop_; });
    if (flights_.empty()) return;
    Flight& f = flights_.front();  // the leader only appends: the reference stays valid
    lock.unlock();
    Status io = f.submit_error;
    if (f.io) io = queue_->wait_oldest();
    complete(f, io);
    Batch finished = std::move(f.requests);
    lock.lock();
    flights_.pop_front();
    stats_.in_flight.store(static_cast<uint32_t>(flights_.size()), std::memory_order_relaxed);
    flights_cv_.notify_all();
    if (flights_.empty()) wake_.notify_one();  // a leader waiting in wait_while_small()
    const bool cut = has_failed_.load(std::memory_order_acquire) && flights_.empty();
    // Recycled outside mu_: clearing hundreds of requests (their callbacks
    // are destroyed) would hold up the appenders and the leader meanwhile.
    lock.unlock();
    request_pool_.give(finished);
    if (cut) cut_after_failure();
    lock.lock();
  }
}

// Publishes the flight's end and acknowledges its appends, in log order.
void Writer::complete(Flight& f, const Status& io) {
  if (!io.ok()) fail(io, f.file);
  if (has_failed_.load(std::memory_order_acquire)) {
    // Whatever was decided against state that never became durable fails
    // too; appends refused after the failure keep their kReadOnly.
    Status error = failure();
    for (auto& r : f.requests) {
      if (r->result.ok() || r->result.status().code() != Code::kReadOnly) r->result = error;
    }
  } else {
    if (f.io) {
      uint64_t ns = nanos_since(f.submitted);
      last_sync_us_.store(ns / 1000, std::memory_order_relaxed);
      if (f.sync) stats_.sync_ns.record(ns);
    }
    if (f.sync) {
      // seq_cst with sync_to()'s pair: either it sees the new durable
      // position, or this sees its waiter count and wakes it.
      durable_position_.store(f.end_position, std::memory_order_seq_cst);
      stats_.syncs.fetch_add(1, std::memory_order_relaxed);
      if (sync_waiters_.load(std::memory_order_seq_cst) > 0) release_waiters();
    }
    completed_end_ = f.data_end;
    if (write_behind_ && f.bytes > 0 && !f.sync) {
      // Prefaulting ahead only while no append asks for an fdatasync soon.
      bool none_only = std::none_of(f.requests.begin(), f.requests.end(), [](const auto& r) {
        return needs_durability(*r, Durability::kSync) || needs_durability(*r, Durability::kBatch);
      });
      write_behind_->written(f.data_end, none_only);
    }
    count_appends(f);
    log_.publish(f.end_position);
  }
  acknowledge(f);
  // After the acknowledgements, which need not wait for it. Flights complete
  // in log order, and the seal reads the hash only once none is in.
  if (!has_failed_.load(std::memory_order_acquire)) {
    for (std::string_view frame : f.frames) content_.update(frame);
  }
}

void Writer::count_appends(const Flight& f) {
  if (f.bytes == 0) return;
  stats_.group_commits.fetch_add(1, std::memory_order_relaxed);
  if (!f.direct.empty()) stats_.direct_writes.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_written.fetch_add(f.bytes, std::memory_order_relaxed);
  stats_.events.fetch_add(f.events, std::memory_order_relaxed);
  stats_.appends.fetch_add(f.frames.size(), std::memory_order_relaxed);
}

void Writer::acknowledge(Flight& f) {
  bool any_waiter = false;
  t_in_callback = true;
  for (auto& r : f.requests) {
    any_waiter = any_waiter || r->waiter != nullptr;
    finish(*r);
  }
  t_in_callback = false;
  if (any_waiter) release_waiters();
}

void Writer::finish(AppendRequest& r) {
  if (r.waiter != nullptr) {
    r.waiter->result = std::move(r.result);
    r.waiter->done.store(true, std::memory_order_release);
    return;
  }
  try {
    r.done(std::move(r.result));
  } catch (...) {  // deliberate swallow: a throwing callback must not stop the writer
  }
}

Status Writer::sync_to(uint64_t position) {
  if (durable_position_.load(std::memory_order_acquire) >= position) return Status();
  if (in_callback()) return Status::invalid_argument("sync called from an append callback would wait on itself");
  if (Status s = start(); !s.ok()) return s;
  sync_waiters_.fetch_add(1, std::memory_order_seq_cst);
  Status result;
  while (durable_position_.load(std::memory_order_seq_cst) < position) {
    uint64_t seen = completions_.load(std::memory_order_acquire);
    if (Status s = failure(); !s.ok()) {
      result = s;
      break;
    }
    {
      std::lock_guard lock(mu_);
      if (closing_ && completer_stop_) {  // the writer's last fdatasync has completed
        result = Status::closed("store is closed");
        break;
      }
      sync_wanted_.store(true, std::memory_order_release);
      if (!sync_due_ || *sync_due_ > Clock::now()) sync_due_ = Clock::now();
      wake_.notify_one();
    }
    if (durable_position_.load(std::memory_order_seq_cst) >= position) break;
    if (has_failed_.load(std::memory_order_acquire)) continue;  // fail() may have bumped `seen` already
    completions_.wait(seen, std::memory_order_acquire);
  }
  sync_waiters_.fetch_sub(1, std::memory_order_acq_rel);
  return durable_position_.load(std::memory_order_acquire) >= position ? Status() : result;
}

void Writer::release_waiters() {
  completions_.fetch_add(1, std::memory_order_release);
  completions_.notify_all();
}

void Writer::fail(const Status& error, File* file) {
  std::lock_guard lock(fail_mu_);
  if (!failed_.ok()) return;
  failed_ = error;
  cut_file_ = file;
  has_failed_.store(true, std::memory_order_release);
  release_waiters();  // sync_to() waiters return the failure
}

Status Writer::failure() const {
  std::lock_guard lock(fail_mu_);
  return failed_;
}

// Fail-stop. Once no flight is in, the bytes past the last completed group
// are cut off (best effort), so that a reopen in this boot cannot find them
// in the page cache, take them for durable data and build on them.
void Writer::cut_after_failure() {
  std::lock_guard failing(fail_mu_);
  if (failed_.ok() || cut_file_ == nullptr) return;
  {
    std::lock_guard lock(mu_);
    if (!flights_.empty()) return;  // the completer cuts after the last one
  }
  if (cut_file_->truncate(completed_end_).ok()) (void)cut_file_->sync();  // deliberate: best effort
  cut_file_ = nullptr;
}

// ---------------------------------------------------------------- segments

Result<ActiveSegment> start_segment(FileSystem& fs, const std::string& dir, Log& log,
                                    const format::StoreId& store_id, uint64_t sequence,
                                    uint64_t first_position, uint64_t segment_bytes,
                                    SegmentPreparer* preparer) {
  format::SegmentHeader header{sequence, first_position, store_id, wall_clock_ns()};
  std::string name = format::segment_file_name({sequence, first_position});
  SegmentPreparer::Prepared prepared;
  if (preparer != nullptr) prepared = preparer->take();
  auto segment = prepared.file ? Segment::create_from_prepared(fs, dir, name, header, segment_bytes,
                                                               *prepared.file, prepared.path)
                               : Segment::create(fs, dir, name, header, segment_bytes);
  if (!segment.ok()) return segment.status();
  Segment* raw = segment->get();
  uint32_t ordinal = log.add_segment(std::move(*segment));
  return ActiveSegment{raw, ordinal, sequence, first_position, format::kSegmentHeaderSize, 0, 0};
}

}  // namespace cairn::engine
