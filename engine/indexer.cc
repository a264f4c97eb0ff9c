#include "engine/indexer.h"

#include "engine/info_log.h"

namespace cairn::engine {

Indexer::Indexer(FileSystem& fs, std::string dir, format::StoreId store_id, Log& log,
                 const Log::Checkpoint* loaded, const Options& options)
    : log_(log), options_(options), writer_(fs, std::move(dir), store_id, options.category_separator, loaded) {
  thread_ = std::thread([this] { run(); });
}

Indexer::~Indexer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Indexer::sealed(uint32_t ordinal) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(ordinal);
  }
  wake_.notify_all();
}

void Indexer::run() {
  if (size_t damaged = writer_.scrub()) {
    info(options_, std::to_string(damaged) + " index file(s) failed their block checksums; they are rewritten at the "
                   "next seal or close");
  }
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    uint32_t ordinal = queue_.front();
    queue_.pop_front();
    lock.unlock();
    auto segments = log_.segments();
    Status s = writer_.write(segments, ordinal, segments[ordinal]->sealed_end(), /*sealed=*/true);
    if (!s.ok()) info(options_, "index checkpoint of segment " + std::to_string(ordinal + 1) + " failed: " + s.message());
    if (auto checkpoint = writer_.sealed_checkpoint(); s.ok() && checkpoint) log_.offer_checkpoint(std::move(*checkpoint));
    lock.lock();
  }
}

Status Indexer::close(uint32_t active_ordinal, uint64_t data_end) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status();
    closed_ = true;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();  // the queue is empty when it returns
  Status s = writer_.write(log_.segments(), active_ordinal, data_end, /*sealed=*/false);
  if (!s.ok()) info(options_, "index checkpoint at close failed: " + s.message());
  return s;
}

}  // namespace cairn::engine
