// Indexer: writes index checkpoints in the background, so that the next open
// reads index files instead of scanning the log (FORMAT.md §10). After the
// writer seals a segment it is indexed and a stream directory run written;
// at close the active segment's prefix is indexed too, so a clean open
// replays nothing.
// Index files are derived data: a failure here is logged, never fatal.
//
// The thread starts with the first sealed() (under mu_), not with the store:
// an open, and a session that never seals a segment, pay nothing for it. It
// first scrubs the index files the open loaded; a session that never starts
// it skips that scrub (a lookup that meets a damaged block still marks the
// file for repair, and the close rewrites it).
#pragma once

#include "engine/index_checkpoint.h"
#include "engine/log.h"

#include <cairn/options.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace cairn::engine {

class Indexer {
 public:
  Indexer(FileSystem& fs, std::string dir, format::StoreId store_id, Log& log,
          const Log::Checkpoint* loaded, const Options& options);
  ~Indexer();
  // Segment `ordinal` is sealed (its sealed_end is set): index it on the
  // thread (the first call starts it).
  void sealed(uint32_t ordinal);
  // Finishes queued work, then indexes the active segment's batches below
  // `data_end` on the calling thread and stops. Idempotent.
  Status close(uint32_t active_ordinal, uint64_t data_end);

 private:
  void run();
  void repair_damaged();

  // Drops sealed segment `ordinal` - Options::cached_sealed_segments from
  // the page cache, once `ordinal` is indexed.
  void drop_older_from_cache(uint32_t ordinal);

  FileSystem& fs_;
  Log& log_;
  Options options_;
  CheckpointWriter writer_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<uint32_t> queue_;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread thread_;  // started under mu_ by the first sealed(), unless stopping_
};

}  // namespace cairn::engine
