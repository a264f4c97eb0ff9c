// The public Store: argument checks on the caller's thread, appends through
// the Writer, reads through the Log.
#include <cairn/store.h>

#include "engine/append_check.h"
#include "engine/store_open.h"
#include "engine/recovery.h"
#include "engine/writer.h"
#include "format/batch.h"

#include <cstdio>

namespace cairn {

class Store::Impl {
 public:
  Impl(engine::FileSystem& fs, std::string dir, const Options& options, engine::Recovered recovered)
      : dir_(std::move(dir)), options_(options), recovered_(std::move(recovered)) {
    if (!recovered_.read_only) {
      writer_ = std::make_unique<engine::Writer>(fs, dir_, options_,
                                                 recovered_.identity.store_id, *recovered_.log,
                                                 recovered_.active);
    }
  }

  // Validates and encodes an append on the caller's thread.
  Result<std::unique_ptr<engine::AppendRequest>> make_request(std::string_view stream,
                                                              ExpectedVersion expected,
                                                              std::span<const NewEvent> events) {
    if (Status s = engine::validate_append(stream, events, options_); !s.ok()) return s;
    if (!writer_) return Status::read_only(dir_ + ": store is open read-only");
    auto request = std::make_unique<engine::AppendRequest>();
    request->stream = stream;
    request->expected = expected;
    request->ids.reserve(events.size());
    for (const NewEvent& e : events) request->ids.push_back(e.id);
    format::encode_batch(request->frame, stream, events, {});
    return request;
  }

  void append_async(std::string_view stream, ExpectedVersion expected,
                    std::span<const NewEvent> events, AppendCallback done) {
    auto request = make_request(stream, expected, events);
    if (!request.ok()) return done(request.status());
    (*request)->done = std::move(done);
    writer_->submit(std::move(*request));
  }

  Result<AppendResult> append(std::string_view stream, ExpectedVersion expected,
                              std::span<const NewEvent> events) {
    if (engine::Writer::in_callback()) {
      return Status::invalid_argument("append() called from an append callback would wait on itself");
    }
    auto request = make_request(stream, expected, events);
    if (!request.ok()) return request.status();
    engine::SyncWaiter waiter;
    (*request)->waiter = &waiter;
    writer_->submit_and_wait(std::move(*request), waiter);
    return std::move(waiter.result);
  }

  Status close() {
    if (writer_) writer_->close();
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
      s.bytes_written = w.bytes_written.load();
    }
    s.segments = log().segment_count();
    s.next_position = log().published();
    return s;
  }

  const engine::Log& log() const { return *recovered_.log; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  Options options_;
  engine::Recovered recovered_;
  std::unique_ptr<engine::Writer> writer_;
};

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const Options& options) {
  return engine::open_store(engine::posix_file_system(), dir, options);
}

namespace engine {

Result<std::unique_ptr<Store>> open_store(FileSystem& fs, const std::string& dir, const Options& options) {
  if (dir.empty()) return Status::invalid_argument("store path is empty");
  if (options.segment_bytes < (64u << 10)) {
    return Status::invalid_argument("segment_bytes " + std::to_string(options.segment_bytes) +
                                    " is below the minimum of 65536");
  }
  auto recovered = recover(fs, dir, options);
  if (!recovered.ok()) return recovered.status();
  for (const std::string& note : recovered->notes) {
    if (options.info_log) {
      options.info_log(note);
    } else {
      std::fprintf(stderr, "cairn: %s\n", note.c_str());
    }
  }
  return std::make_unique<Store>(std::make_unique<Store::Impl>(fs, dir, options, std::move(*recovered)));
}

}  // namespace engine

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() { (void)impl_->close(); }

Result<AppendResult> Store::append(std::string_view stream, ExpectedVersion expected,
                                   std::span<const NewEvent> events) {
  return impl_->append(stream, expected, events);
}

void Store::append_async(std::string_view stream, ExpectedVersion expected,
                         std::span<const NewEvent> events, AppendCallback done) {
  impl_->append_async(stream, expected, events, std::move(done));
}

std::future<Result<AppendResult>> Store::append_async(std::string_view stream, ExpectedVersion expected,
                                                      std::span<const NewEvent> events) {
  auto promise = std::make_shared<std::promise<Result<AppendResult>>>();
  auto future = promise->get_future();
  impl_->append_async(stream, expected, events,
                      [promise](Result<AppendResult> r) { promise->set_value(std::move(r)); });
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

std::optional<uint64_t> Store::stream_version(std::string_view stream) const {
  return impl_->log().stream_version(stream);
}

uint64_t Store::next_position() const { return impl_->log().published(); }
StoreStats Store::stats() const { return impl_->stats(); }
const std::string& Store::path() const { return impl_->dir(); }
Status Store::close() { return impl_->close(); }

}  // namespace cairn
