#include "engine/indexer.h"

#include "engine/info_log.h"
#include "engine/thread_name.h"
#include "format/footer.h"

#include <optional>

namespace cairn::engine {

Indexer::Indexer(FileSystem& fs, std::string dir, format::StoreId store_id, Log& log,
                 const Log::Checkpoint* loaded, const Options& options)
    : fs_(fs), log_(log), options_(options), writer_(fs, std::move(dir), store_id, options.category_separator, loaded) {}

// thread_ is read here without mu_: once stopping_ is set under mu_ nothing
// starts it, and whatever did start it did so under mu_ before.
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
    if (!thread_.joinable() && !stopping_) thread_ = std::thread([this] {
      name_this_thread("cairn-index");
      run();
    });
  }
  wake_.notify_all();
}

// Checks every block of the index files the open loaded; damaged segment
// indexes are written anew at once and swapped in (damaged directory runs are
// rewritten at the next seal or close). Runs when the thread starts, at the
// first seal. A session that seals nothing skips it: only the blocks lookups
// touch are checked then, and a damaged one still marks its file for repair
// (rewritten at close).
void Indexer::repair_damaged() {
  if (writer_.scrub() == 0) return;
  auto segments = log_.segments();
  std::vector<size_t> repaired;
  Status s = writer_.repair(segments, &repaired);
  for (size_t ordinal : repaired) {
    log_.replace_segment_index(static_cast<uint32_t>(ordinal), writer_.sealed_index(ordinal));
    info(options_, "index file " + writer_.sealed_index(ordinal)->path() +
                       " failed its block checksums; written anew from its segment");
  }
  if (!s.ok()) info(options_, "repairing damaged index files failed: " + s.message());
}

void Indexer::run() {
  repair_damaged();
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;
    uint32_t ordinal = queue_.front();
    queue_.pop_front();
    lock.unlock();
    log_.release_retired();  // the checkpoint the seal's adoption replaced
    auto segments = log_.segments();
    uint64_t sealed_end = segments[ordinal]->sealed_end();
    auto contents = log_.segment_contents(ordinal, sealed_end - format::kFooterFrameSize);
    if (contents) {
      // What memory says was written must be what the file holds: nothing
      // else reads a sealed segment whole before the checkpoint vouches
      // for it. Otherwise the scan below finds (and logs) the damage.
      Status held = check_content_hash(*segments[ordinal]);
      if (!held.ok()) {
        info(options_, "indexing from memory refused: " + held.message());
        contents.reset();
      }
    }
    Status s = writer_.write(segments, ordinal, sealed_end, /*sealed=*/true, contents ? &*contents : nullptr);
    if (!s.ok()) info(options_, "index checkpoint of segment " + std::to_string(ordinal + 1) + " failed: " + s.message());
    if (auto checkpoint = writer_.sealed_checkpoint(); s.ok() && checkpoint) log_.offer_checkpoint(std::move(*checkpoint));
    drop_older_from_cache(ordinal);
    lock.lock();
  }
}

// Best effort: a segment that cannot be opened or dropped stays cached.
void Indexer::drop_older_from_cache(uint32_t ordinal) {
  uint32_t keep = options_.cached_sealed_segments;
  if (keep == 0 || ordinal < keep) return;
  auto segments = log_.segments();
  auto file = fs_.open(segments[ordinal - keep]->path(), OpenMode::kRead);
  if (file.ok()) (void)(*file)->drop_from_cache();
}

Status Indexer::close(uint32_t active_ordinal, uint64_t data_end) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status();
    closed_ = true;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();  // the queue is empty when it returns (or never started)
  if (writer_.covers(active_ordinal, data_end)) return Status();  // nothing appended since the open
  // (A store that could not start its next segment closes with the last one
  // sealed; the thread above indexed it whole, and write() leaves indexed
  // segments alone.)
  std::optional<index::SegmentContents> contents;  // not needed when the thread indexed it whole
  if (active_ordinal >= writer_.indexed()) contents = log_.segment_contents(active_ordinal, data_end);
  Status s = writer_.write(log_.segments(), active_ordinal, data_end, /*sealed=*/false,
                           contents ? &*contents : nullptr);
  if (!s.ok()) info(options_, "index checkpoint at close failed: " + s.message());
  return s;
}

}  // namespace cairn::engine
