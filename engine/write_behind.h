// WriteBehind: writes the active segment's unsynced bytes back to the device
// as they accumulate (kNone and kBatch appends), 1 MiB at a time on a thread
// of its own, so that the fdatasync that finally makes them durable (the
// seal's, kBatch's, the close's) finds little left to write. Without it a
// `none` writer's seal wrote a whole 64 MiB segment in one fdatasync (about
// 40 ms on the development VM) while every appender waited for the roll.
//
// With mapped writes it also faults in, writable, the chunk after the one
// the writer is in (MADV_POPULATE_WRITE), so that the writer's stores, made
// while every other appender waits its turn, take no page faults. Only
// while the writer's groups are all kNone: a prefaulted page is dirty (its
// zeros unchanged), and kBatch's frequent fdatasyncs would clean such
// still-mapped pages one TLB flush each.
//
// Nothing is made durable here (File::write_back writes and waits, with no
// device flush), and a writeback error it meets is still reported to the
// writer's next fdatasync (File::write_back uses a descriptor of its own),
// which fails the store as before. Only whole chunks below the written end
// are written back, bytes the writer never writes again.
#pragma once

#include "engine/io.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

namespace cairn::engine {

class WriteBehind {
 public:
  static constexpr uint64_t kChunk = 1u << 20;

  // Writes back `file` from `from` (rounded down to a chunk) on. The thread
  // starts with the first chunk to write. `ahead`: the writer's writable
  // mapping of the file, whose next chunks it prefaults, or null.
  WriteBehind(File& file, uint64_t from, std::function<void(std::string_view)> log,
              WritableMapping* ahead = nullptr);
  ~WriteBehind();  // stops after the chunk in progress

  // The bytes below `end` are written (into the page cache) and final.
  // Cheap unless it completes a chunk. Any thread. `prefault_next`: the
  // chunk after the one holding `end` is prefaulted too (with a mapping).
  void written(uint64_t end, bool prefault_next = false);
  // Waits until every whole chunk below the last written() end is written
  // back and the chunk asked for is prefaulted, or writing back failed (tests).
  void wait_idle();

 private:
  void run();

  File& file_;
  WritableMapping* const ahead_;
  const std::function<void(std::string_view)> log_;
  std::atomic<uint64_t> announced_;  // the last target given to the thread
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t done_;            // guarded by mu_: written back below this
  uint64_t target_;          // guarded by mu_: a chunk boundary
  uint64_t prefault_from_ = 0;  // guarded by mu_: the chunk to prefault,
  uint64_t prefault_to_ = 0;    // [from, to) (clipped to the mapping)
  uint64_t prefaulted_ = 0;     // guarded by mu_: prefaulted up to here
  bool busy_ = false;        // guarded by mu_: a chunk is being written back or prefaulted
  bool finished_ = false;    // guarded by mu_: failed, or stopping
  std::thread thread_;       // started under mu_ by the first written() with a chunk
};

}  // namespace cairn::engine
