#include "engine/writer.h"

#include "engine/append_check.h"
#include "engine/clock.h"
#include "format/batch.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_name.h"

#include <chrono>

namespace cairn::engine {
namespace {

thread_local bool t_in_callback = false;

}  // namespace

Writer::Writer(FileSystem& fs, std::string dir, const Options& options, format::StoreId store_id,
               Log& log, ActiveSegment active)
    : fs_(fs),
      dir_(std::move(dir)),
      options_(options),
      store_id_(store_id),
      log_(log),
      active_(active),
      next_position_(log.indexed_end_position()) {
  uint64_t begin = format::kSegmentHeaderSize;
  content_.update(active_.segment->bytes(begin, active_.data_end - begin));
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() { close(); }

// Backpressure: an appender waits while the queue holds max_queued_bytes
// (never a callback on the leader's thread: it would wait for itself).
void Writer::wait_for_room(std::unique_lock<std::mutex>& lock) {
  if (in_callback()) return;
  room_.wait(lock, [&] { return closing_ || queued_bytes_ < options_.max_queued_bytes; });
}

void Writer::push(std::unique_ptr<AppendRequest> request) {
  queued_bytes_ += request->frame.size();
  queue_.push_back(std::move(request));
}

void Writer::submit(std::unique_ptr<AppendRequest> request) {
  {
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    if (!closing_) {
      push(std::move(request));
      if (leader_ == Leader::kNone) {
        leader_ = Leader::kThread;
        wake_.notify_one();
      } else if (queue_.size() >= wanted_) {
        wake_.notify_one();
      }
      return;
    }
  }
  reject_closed(*request);
}

void Writer::submit_and_wait(std::unique_ptr<AppendRequest> request, SyncWaiter& waiter) {
  bool lead = false;
  {
    std::unique_lock lock(mu_);
    wait_for_room(lock);
    if (closing_) {
      lock.unlock();
      reject_closed(*request);
      return;
    }
    push(std::move(request));
    if (leader_ == Leader::kNone) {
      leader_ = Leader::kCaller;
      lead = true;
    } else if (queue_.size() >= wanted_) {
      wake_.notify_one();
    }
  }
  if (lead) lead_one_group();
  wait(waiter);
}

void Writer::reject_closed(AppendRequest& r) {
  r.result = Status::closed("store is closed");
  finish(r);
  release_waiters();
}

// A synchronous appender that found no leader commits the queue itself (its
// own request, usually alone): no thread hand-off, which costs tens of
// microseconds twice per append on an idle machine. Whatever queued up
// meanwhile goes to the writer thread.
void Writer::lead_one_group() {
  Batch taken;
  {
    std::lock_guard lock(mu_);
    take(taken);
  }
  process(taken);
  std::lock_guard lock(mu_);
  leader_ = queue_.empty() ? Leader::kNone : Leader::kThread;
  if (leader_ == Leader::kThread || closing_) wake_.notify_one();
}

void Writer::take(Batch& taken) {
  uint64_t bytes = 0;
  while (!queue_.empty() &&
         (taken.empty() || bytes + queue_.front()->frame.size() <= options_.max_group_bytes)) {
    bytes += queue_.front()->frame.size();
    taken.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_bytes_ -= bytes;
  room_.notify_all();
}

void Writer::process(Batch& taken) {
  commit(taken);
  last_group_size_ = taken.size();
  bool any_waiter = false;
  t_in_callback = true;
  for (auto& r : taken) {
    any_waiter = any_waiter || r->waiter != nullptr;
    finish(*r);
  }
  t_in_callback = false;
  if (any_waiter) release_waiters();
  taken.clear();
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

void Writer::release_waiters() {
  completions_.fetch_add(1, std::memory_order_release);
  completions_.notify_all();
}

void Writer::wait(SyncWaiter& waiter) {
  while (true) {
    uint64_t seen = completions_.load(std::memory_order_acquire);
    if (waiter.done.load(std::memory_order_acquire)) return;
    completions_.wait(seen, std::memory_order_acquire);
  }
}

void Writer::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    wake_.notify_one();
    room_.notify_all();
  }
  if (in_callback()) return;  // the writer finishes the current group, then stops
  std::lock_guard join(join_mu_);
  if (thread_.joinable()) thread_.join();
}

// The writer thread leads while there is work, then hands leadership back.
void Writer::run() {
  Batch taken;
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] {
      return leader_ == Leader::kThread || (closing_ && leader_ == Leader::kNone && queue_.empty());
    });
    if (leader_ != Leader::kThread) return;  // closing, nothing queued, nobody leading
    gather(lock);
    if (queue_.empty()) {
      leader_ = Leader::kNone;
      continue;
    }
    take(taken);
    lock.unlock();
    process(taken);
    lock.lock();
  }
}

// Appenders acknowledged by the last group commit usually come straight back
// (each thread waits for its append, then makes the next). Starting the next
// group before they are back would leave them a whole fdatasync behind, and
// the groups would alternate between two halves of the appenders. So wait,
// briefly, for as many requests as the last group had.
void Writer::gather(std::unique_lock<std::mutex>& lock) {
  if (last_group_size_ <= 1 || queue_.size() >= last_group_size_ || closing_ ||
      options_.max_commit_delay_us == 0) {
    return;
  }
  auto delay = std::min(std::chrono::microseconds(options_.max_commit_delay_us), last_sync_time_ / 2);
  wanted_ = last_group_size_;
  wake_.wait_for(lock, delay, [&] { return closing_ || queue_.size() >= wanted_; });
  wanted_ = SIZE_MAX;
}

void Writer::commit(Batch& taken) {
  for (auto& request : taken) {
    AppendRequest& r = *request;
    if (failed_.ok()) {
      r.result = admit(r);
    } else {
      r.result = Status::read_only("store stopped accepting appends after an I/O error: " +
                                   failed_.message());
    }
  }
  if (failed_.ok()) (void)flush();  // a failure is recorded in failed_
  if (failed_.ok()) return;
  // Whatever is not durable now never will be: fail every success past it,
  // and every decision made after the first of those (it may have been made
  // against batches that will never exist).
  uint64_t durable = log_.published();
  bool tainted = false;
  for (auto& request : taken) {
    Result<AppendResult>& result = request->result;
    tainted = tainted || (result.ok() && result->last_position() >= durable);
    if (tainted) result = failed_;
  }
}

std::optional<Result<AppendResult>> Writer::check_retry(const AppendRequest& r) {
  std::vector<std::optional<Log::IdHit>> hits;
  hits.reserve(r.ids.size());
  bool any = false;
  for (const EventId& id : r.ids) {
    hits.push_back(log_.find_id(id));
    any = any || hits.back().has_value();
  }
  if (!any) return std::nullopt;
  auto stream = log_.find_stream(r.stream);
  bool retry = stream && hits[0] && hits[0]->stream == *stream;
  for (size_t i = 1; retry && i < hits.size(); ++i) {
    retry = hits[i] && hits[i]->stream == *stream && hits[i]->position == hits[0]->position + i &&
            hits[i]->version == hits[0]->version + i;
  }
  if (retry) {
    AppendResult original{hits[0]->version, hits[0]->position, static_cast<uint32_t>(r.ids.size()), true};
    return Result<AppendResult>(original);
  }
  size_t j = 0;
  while (!hits[j]) ++j;
  return Result<AppendResult>(Status::duplicate_event(
      "event id " + r.ids[j].to_hex() + " (event " + std::to_string(j) + " of the append to '" +
      r.stream + "') is already stored at position " + std::to_string(hits[j]->position) +
      ", and the append is not a retry of the append that stored it"));
}

Result<AppendResult> Writer::admit(AppendRequest& r) {
  if (auto retry = check_retry(r)) {
    if (retry->ok()) stats_.deduplicated.fetch_add(1, std::memory_order_relaxed);
    return std::move(*retry);
  }
  uint64_t next_version = log_.indexed_next_version(r.stream);
  if (Status s = check_expected(r.stream, next_version, r.expected, r.ids.size()); !s.ok()) return s;

  uint64_t limit = options_.segment_bytes;
  if (active_.data_end + group_.bytes + segment_bytes_needed(r.frame.size()) > limit) {
    if (Status s = flush(); !s.ok()) return s;
    if (Status s = roll(); !s.ok()) return s;
  }
  format::BatchStamp stamp{next_position_, next_version, log_.published(), wall_clock_ns()};
  format::restamp_batch(r.frame.data(), r.frame.size(), stamp);
  uint64_t offset = active_.data_end + group_.bytes;
  format::Frame frame = format::parse_frame(r.frame);
  auto batch = format::BatchView::decode(frame.body, "pending append");
  if (!batch.ok()) return batch.status();
  if (Status s = log_.index_batch(active_.ordinal, offset, static_cast<uint32_t>(r.frame.size()), *batch); !s.ok()) {
    return s;
  }
  group_.frames.push_back(r.frame);
  group_.bytes += r.frame.size();
  group_.events += r.ids.size();
  next_position_ += r.ids.size();
  return AppendResult{next_version, stamp.first_position, static_cast<uint32_t>(r.ids.size()), false};
}

Status Writer::flush() {
  if (group_.frames.empty()) return Status();
  File& file = active_.segment->file();
  auto start = std::chrono::steady_clock::now();
  Status s = file.write_at(active_.data_end, group_.frames);
  if (s.ok()) s = file.sync();
  if (!s.ok()) {
    fail(s);
    return s;
  }
  last_sync_time_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  for (std::string_view frame : group_.frames) content_.update(frame);
  active_.data_end += group_.bytes;
  active_.batch_count += group_.frames.size();
  active_.event_count += group_.events;
  stats_.group_commits.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_written.fetch_add(group_.bytes, std::memory_order_relaxed);
  stats_.events.fetch_add(group_.events, std::memory_order_relaxed);
  stats_.appends.fetch_add(group_.frames.size(), std::memory_order_relaxed);
  group_ = Group{};
  log_.publish(next_position_);
  return Status();
}

Status Writer::roll() {
  format::Footer footer{active_.first_position, active_.event_count, active_.batch_count,
                        active_.data_end, content_.digest()};
  std::string bytes;
  format::encode_footer(bytes, footer);
  File& file = active_.segment->file();
  Status s = file.write_at(active_.data_end, bytes);
  if (s.ok()) s = file.sync();
  if (!s.ok()) {
    fail(s);
    return s;
  }
  auto next = start_segment(fs_, dir_, log_, store_id_, active_.sequence + 1, next_position_,
                            options_.segment_bytes);
  if (!next.ok()) {
    fail(next.status(), /*cut_unsynced=*/false);  // the sealed segment stays sealed
    return next.status();
  }
  active_.segment->close_file();
  active_ = *next;
  content_.reset();
  return Status();
}

// Fail-stop. After a failed write or sync the unsynced bytes past data_end
// are cut off (best effort), so that a reopen in this boot cannot find them in
// the page cache, take them for durable data and build on them.
Result<ActiveSegment> start_segment(FileSystem& fs, const std::string& dir, Log& log,
                                    const format::StoreId& store_id, uint64_t sequence,
                                    uint64_t first_position, uint64_t segment_bytes) {
  format::SegmentHeader header{sequence, first_position, store_id, wall_clock_ns()};
  std::string name = format::segment_file_name({sequence, first_position});
  auto segment = Segment::create(fs, dir, name, header, segment_bytes);
  if (!segment.ok()) return segment.status();
  Segment* raw = segment->get();
  uint32_t ordinal = log.add_segment(std::move(*segment));
  return ActiveSegment{raw, ordinal, sequence, first_position, format::kSegmentHeaderSize, 0, 0};
}

void Writer::fail(const Status& error, bool cut_unsynced) {
  failed_ = error;
  if (!cut_unsynced) return;
  File& file = active_.segment->file();
  if (file.truncate(active_.data_end).ok()) (void)file.sync();  // deliberate: best effort
}

bool Writer::in_callback() { return t_in_callback; }

}  // namespace cairn::engine
