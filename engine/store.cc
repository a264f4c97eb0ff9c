// The public Store: argument checks on the caller's thread, appends through
// the Writer, reads through the Log.
#include <cairn/store.h>

#include "engine/append_check.h"
#include "engine/clean_close.h"
#include "engine/store_open.h"
#include "engine/store_checkpoint.h"
#include "engine/recovery.h"
#include "engine/indexer.h"
#include "engine/subscription.h"
#include "engine/snapshot_store.h"
#include "engine/info_log.h"
#include "engine/writer.h"
#include "format/batch.h"
#include "format/frame.h"
#include "index/stream_index.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace cairn {

class Store::Impl {
 public:
  Impl(engine::FileSystem& fs, std::string dir, const Options& options, engine::Recovered recovered,
       std::unique_ptr<engine::Writer> writer, std::unique_ptr<engine::Indexer> indexer,
       std::unique_ptr<engine::SubscriptionCheckpoints> checkpoints)
      : fs_(fs),
        dir_(std::move(dir)),
        options_(options),
        recovered_(std::move(recovered)),
        writer_(std::move(writer)),
        indexer_(std::move(indexer)),
        hub_(std::make_shared<engine::SubscriptionHub>(*recovered_.log, std::move(checkpoints), dir_)) {
    clean_invalidated_ = !writer_ || !recovered_.clean_record_found;
    if (writer_) {
      sync_gate_ = std::make_shared<engine::SyncGate>(*writer_);
      hub_->set_make_log_durable([gate = sync_gate_](uint64_t position) { return gate->sync_to(position); });
    }
    open_snapshots();
  }

  // Validates and encodes an append on the caller's thread.
  Result<std::unique_ptr<engine::AppendRequest>> make_request(std::string_view stream,
                                                              ExpectedVersion expected,
                                                              std::span<const NewEvent> events,
                                                              Durability durability) {
    if (Status s = engine::validate_append(stream, events, options_); !s.ok()) return s;
    if (!writer_) return Status::read_only(dir_ + ": store is open read-only");
    if (Status s = invalidate_clean_record(); !s.ok()) return s;
    auto request = writer_->new_request();
    request->stream = stream;
    request->stream_hash = index::StreamIndex::hash(stream);
    request->expected = expected;
    request->durability = durability == Durability::kDefault ? options_.durability : durability;
    request->ids.reserve(events.size());
    for (const NewEvent& e : events) request->ids.push_back(e.id);
    format::encode_batch(request->frame, stream, events, {}, /*seal=*/false);  // the writer seals it
    static const std::string kWhere = "an append's encoded batch";  // never fails: the bytes were just encoded
    auto batch = format::BatchView::decode(format::own_frame_body(request->frame), kWhere);
    if (!batch.ok()) return batch.status();
    request->batch = *batch;
    return request;
  }

  void append_async(std::string_view stream, ExpectedVersion expected,
                    std::span<const NewEvent> events, AppendCallback done, Durability durability) {
    auto request = make_request(stream, expected, events, durability);
    if (!request.ok()) return done(request.status());
    (*request)->done = std::move(done);
    writer_->submit(std::move(*request));
  }

  Result<AppendResult> append(std::string_view stream, ExpectedVersion expected,
                              std::span<const NewEvent> events, Durability durability) {
    if (engine::Writer::in_callback()) {
      return Status::invalid_argument("append() called from an append callback would wait on itself");
    }
    auto request = make_request(stream, expected, events, durability);
    if (!request.ok()) return request.status();
    engine::SyncWaiter waiter;
    (*request)->waiter = &waiter;
    writer_->submit_and_wait(std::move(*request), waiter);
    return std::move(waiter.result);
  }

  Status close() {
    closed_ = true;
    snapshot_impl_->close();
    hub_->close();
    if (!writer_) return Status();
    writer_->close();
    // From an append callback the writer only stops taking appends; its
    // thread finishes the group and the last fdatasync after the callback
    // returns. The index checkpoint, the clean-close record and the sync
    // gate wait for the close that joins it (~Store's, or a later call).
    if (engine::Writer::in_callback()) return Status();
    std::lock_guard closing(close_mu_);  // two closes at once: one writes the index and CLEAN
    sync_gate_->close();
    // A failed store's active segment may end in a cut: the next open scans it.
    bool first_close = indexer_ != nullptr;
    if (indexer_ && !writer_->failed()) {
      (void)indexer_->close(writer_->active().ordinal, writer_->active().data_end);
    }
    indexer_.reset();
    if (first_close && !writer_->failed()) write_clean_record();
    return Status();
  }

  StoreStats stats() const {
    StoreStats s;
    if (writer_) {
      const engine::WriterStats& w = writer_->stats();
      s.appends = w.appends.load();
      s.deduplicated = w.deduplicated.load();
      s.events = w.events.load();
      s.group_commits = w.group_commits.load();
      s.direct_writes = w.direct_writes.load();
      s.mapped_writes = w.mapped_writes.load();
      s.syncs = w.syncs.load();
      s.bytes_written = w.bytes_written.load();
      s.in_flight = w.in_flight.load();
      s.io_backend = writer_->backend();
      s.group_events = w.group_events.snapshot();
      s.group_bytes = w.group_bytes.snapshot();
      s.sync_latency_ns = w.sync_ns.snapshot();
      s.queue_wait_ns = w.queue_wait_ns.snapshot();
    }
    s.segments = log().segment_count();
    s.open_scanned_batches = recovered_.scanned_batches;
    s.open_indexed_positions = recovered_.checkpoint.end;
    s.open_deferred_segments = recovered_.deferred_segments;
    s.memory_indexed_batches = log().memory_batch_count();
    s.open_tail_check_skipped = recovered_.tail_check_skipped;
    s.next_position = log().published();
    return s;
  }

  const engine::Log& log() const { return *recovered_.log; }
  Result<CheckpointResult> checkpoint(const std::string& target, const CheckpointOptions& options) const {
    if (closed_) return Status::closed(dir_ + ": store is closed");
    auto paused = [this](const std::function<Status()>& f) { return snapshot_impl_->with_writes_paused(f); };
    engine::CheckpointSource source{fs_, dir_, recovered_.identity, log(), paused, {}};
    if (!writer_) source.reopen_log = [this]() { return reopen_log(); };
    return engine::take_checkpoint(source, target, options);
  }
  // A read-only view of the log as it is now (Store::checkpoint of a
  // read-only store, engine/store_checkpoint.h).
  Result<engine::CheckpointSource::FreshLog> reopen_log() const {
    Options o = options_;
    o.read_only = true;
    auto opened = engine::open_store(fs_, dir_, o);
    if (!opened.ok()) return opened.status();
    std::shared_ptr<Store> fresh(std::move(*opened));
    if (fresh->impl_->recovered_.identity.store_id != recovered_.identity.store_id) {
      return Status::invalid_argument(dir_ + ": the store was replaced by another one since it was opened");
    }
    const engine::Log* log = &fresh->impl_->log();
    return engine::CheckpointSource::FreshLog{std::move(fresh), log};
  }

  // Makes every position below `position` durable (Store::sync).
  Status sync(uint64_t position) {
    if (closed_) return Status::closed(dir_ + ": store is closed");
    if (!writer_) return Status();  // read-only: it writes nothing, and what it reads is on disk
    return sync_gate_->sync_to(position);
  }
  const std::shared_ptr<engine::SubscriptionHub>& hub() const { return hub_; }
  Snapshots& snapshots() { return *snapshots_; }
  const std::string& dir() const { return dir_; }

 private:
  engine::FileSystem& fs_;
  std::string dir_;
  Options options_;
  engine::Recovered recovered_;
  std::unique_ptr<engine::Writer> writer_;
  std::shared_ptr<engine::SyncGate> sync_gate_;  // null when read-only
  std::unique_ptr<engine::Indexer> indexer_;  // null when read-only
  std::atomic<bool> closed_{false};
  std::mutex close_mu_;  // the part of close() after the writer has joined
  std::shared_ptr<engine::SubscriptionHub> hub_;
  // Declared last: uses the log, so it goes first.
  std::unique_ptr<Snapshots> snapshots_;
  Snapshots::Impl* snapshot_impl_ = nullptr;  // owned by snapshots_
  // No valid clean-close record (FORMAT.md §13) is on disk: set at open when
  // there is none or the store is read-only, else by the first append.
  std::atomic<bool> clean_invalidated_{true};
  std::mutex clean_mu_;
  Status clean_error_;  // guarded by clean_mu_: invalidating failed (every later append fails)

  // A valid record found at open is invalidated, durably, before the first
  // append writes to a segment: a crash after that must not find it.
  Status invalidate_clean_record() {
    if (clean_invalidated_.load(std::memory_order_acquire)) return Status();
    std::lock_guard lock(clean_mu_);
    if (clean_invalidated_.load(std::memory_order_relaxed) || !clean_error_.ok()) return clean_error_;
    if (Status s = engine::invalidate_clean_record(fs_, dir_); !s.ok()) {
      clean_error_ = Status::io_error(dir_ + ": invalidating the clean-close record failed, so appends are refused: " +
                                      s.message());
      return clean_error_;
    }
    clean_invalidated_.store(true, std::memory_order_release);
    return Status();
  }

  // After a clean close (everything durable, the writer not failed). A record
  // the open trusted still holds when nothing was appended since.
  void write_clean_record() {
    bool unchanged = !clean_invalidated_.load(std::memory_order_acquire) && recovered_.tail_check_skipped;
    if (unchanged) return;
    const engine::ActiveSegment& active = writer_->active();
    format::CleanRecord record{recovered_.identity.store_id, active.sequence, active.data_end, log().published()};
    if (Status s = engine::write_clean_record(fs_, dir_, record); !s.ok()) {
      engine::info(options_, "writing the clean-close record failed (the next open checks the log's tail): " +
                                 s.message());
    }
  }

  // The snapshot log (engine/snapshot_store.h); its errors do not fail the open.
  void open_snapshots() {
    Snapshots::Impl::Config config{dir_, recovered_.identity.store_id, recovered_.read_only, options_,
                                   [this](uint64_t position) { return sync(position); }};
    auto impl = Snapshots::Impl::open(fs_, log(), std::move(config));
    snapshot_impl_ = impl.get();
    snapshots_ = std::make_unique<Snapshots>(std::move(impl));
  }
};

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const Options& options) {
  return engine::open_store(engine::posix_file_system(), dir, options);
}

namespace engine {

Result<std::unique_ptr<Store>> open_store(FileSystem& fs, const std::string& dir, const Options& options) {
  if (dir.empty()) return Status::invalid_argument("store path is empty");
  if (options.segment_bytes < (64u << 10) || options.segment_bytes > (64ull << 30)) {
    return Status::invalid_argument("segment_bytes " + std::to_string(options.segment_bytes) +
                                    " is outside 65536 to 64 GiB");
  }
  if (options.durability == Durability::kDefault) {
    return Status::invalid_argument("Options::durability must be kSync, kBatch or kNone (kDefault is for appends)");
  }
  if (options.max_writes_in_flight < 1 || options.max_writes_in_flight > 16) {
    return Status::invalid_argument("max_writes_in_flight " + std::to_string(options.max_writes_in_flight) +
                                    " is outside 1 to 16");
  }
  auto recovered = recover(fs, dir, options);
  if (!recovered.ok()) return recovered.status();
  for (const std::string& note : recovered->notes) info(options, note);
  auto checkpoints = SubscriptionCheckpoints::open(fs, dir, recovered->identity.store_id, !recovered->read_only);
  if (!checkpoints.ok()) return checkpoints.status();
  std::unique_ptr<Writer> writer;
  std::unique_ptr<Indexer> indexer;
  if (!recovered->read_only) {  // cheap: their queue and threads start with the first append and seal
    auto made = Writer::make(fs, dir, options, recovered->identity.store_id, *recovered->log,
                             recovered->active);
    if (!made.ok()) return made.status();
    writer = std::move(*made);
    const Log::Checkpoint* loaded = recovered->checkpoint.directory ? &recovered->checkpoint : nullptr;
    indexer = std::make_unique<Indexer>(fs, dir, recovered->identity.store_id, *recovered->log, loaded, options);
    writer->set_on_sealed([raw = indexer.get()](uint32_t ordinal) { raw->sealed(ordinal); });
  }
  return std::make_unique<Store>(std::make_unique<Store::Impl>(fs, dir, options, std::move(*recovered), std::move(writer),
                                                               std::move(indexer), std::move(*checkpoints)));
}

}  // namespace engine

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() { (void)impl_->close(); }

Result<AppendResult> Store::append(std::string_view stream, ExpectedVersion expected,
                                   std::span<const NewEvent> events, Durability durability) {
  return impl_->append(stream, expected, events, durability);
}

void Store::append_async(std::string_view stream, ExpectedVersion expected,
                         std::span<const NewEvent> events, AppendCallback done, Durability durability) {
  impl_->append_async(stream, expected, events, std::move(done), durability);
}

std::future<Result<AppendResult>> Store::append_async(std::string_view stream, ExpectedVersion expected,
                                                      std::span<const NewEvent> events,
                                                      Durability durability) {
  auto promise = std::make_shared<std::promise<Result<AppendResult>>>();
  auto future = promise->get_future();
  impl_->append_async(stream, expected, events,
                      [promise](Result<AppendResult> r) { promise->set_value(std::move(r)); }, durability);
  return future;
}

Result<std::vector<RecordedEvent>> Store::read_stream(std::string_view stream, uint64_t from_version,
                                                      size_t max_count, Direction direction) const {
  return impl_->log().read_stream(stream, from_version, max_count, direction);
}

Result<std::vector<RecordedEvent>> Store::read_all(uint64_t from_position, size_t max_count,
                                                   Direction direction) const {
  return impl_->log().read_all(from_position, max_count, direction);
}

Result<std::vector<RecordedEvent>> Store::read_all_filtered(const ReadFilter& filter, uint64_t from_position,
                                                            size_t max_count, Direction direction) const {
  return impl_->log().read_all_filtered(filter, from_position, max_count, direction);
}

Result<std::vector<RecordedEvent>> Store::read_category(std::string_view category, uint64_t from_position,
                                                        size_t max_count, Direction direction) const {
  ReadFilter filter;
  filter.categories.emplace_back(category);
  return read_all_filtered(filter, from_position, max_count, direction);
}

Status Store::scan_stream(std::string_view stream, uint64_t from_version, size_t max_count, Direction direction,
                          EventVisitor visit) const {
  return impl_->log().scan_stream(stream, from_version, max_count, direction, visit);
}

Status Store::scan_all(uint64_t from_position, size_t max_count, Direction direction, EventVisitor visit) const {
  return impl_->log().scan_all(from_position, max_count, direction, visit);
}

Result<std::unique_ptr<Subscription>> Store::subscribe(const SubscriptionOptions& options) const {
  auto impl = Subscription::Impl::make(impl_->hub(), options);
  if (!impl.ok()) return impl.status();
  return std::make_unique<Subscription>(std::move(*impl));
}

Result<std::unique_ptr<Subscription>> Store::subscribe(const SubscriptionOptions& options,
                                                       SubscriptionHandler handler) const {
  if (!handler) return Status::invalid_argument("subscribe() with an empty handler");
  auto impl = Subscription::Impl::make(impl_->hub(), options);
  if (!impl.ok()) return impl.status();
  (*impl)->run(std::move(handler));
  return std::make_unique<Subscription>(std::move(*impl));
}

Result<std::optional<uint64_t>> Store::subscription_checkpoint(std::string_view name) const {
  engine::SubscriptionHub& hub = *impl_->hub();
  return hub.with_log([&](const engine::Log&) -> Result<std::optional<uint64_t>> { return hub.checkpoints().get(name); });
}

Status Store::save_subscription_checkpoint(std::string_view name, uint64_t cursor) {
  return impl_->hub()->save_checkpoint(name, cursor);
}

Status Store::remove_subscription_checkpoint(std::string_view name) {
  engine::SubscriptionHub& hub = *impl_->hub();
  return hub.with_log([&](const engine::Log&) { return hub.checkpoints().remove(name); });
}

std::optional<uint64_t> Store::stream_version(std::string_view stream) const {
  return impl_->log().stream_version(stream);
}

uint64_t Store::next_position() const { return impl_->log().published(); }
Status Store::sync() { return impl_->sync(impl_->log().published()); }
StoreStats Store::stats() const { return impl_->stats(); }
const std::string& Store::path() const { return impl_->dir(); }
Snapshots& Store::snapshots() { return impl_->snapshots(); }
const Snapshots& Store::snapshots() const { return impl_->snapshots(); }
Result<CheckpointResult> Store::checkpoint(const std::string& target_dir, const CheckpointOptions& options) const {
  return impl_->checkpoint(target_dir, options);
}
Status Store::close() { return impl_->close(); }

}  // namespace cairn
