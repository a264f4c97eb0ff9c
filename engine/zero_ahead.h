// ZeroAhead: keeps the bytes just past the active segment's end written with
// zeros, and synced, before the writer gets there, so that appends into a
// segment that was not prepared whole (a new store's first segment, or one
// whose torn tail recovery cut) overwrite allocated blocks too and their
// fdatasync has no file size or extent metadata to commit. A thread of its
// own writes zeros in 1 MiB chunks, staying up to 8 MiB ahead of the writer
// and never past the segment's size.
//
// The writer and the zeroer never write the same bytes. Before each write
// the writer publishes how far it will write (reach_) and then reads the
// fence (where the chunk being zeroed starts); the zeroer publishes the fence
// and then re-reads the reach. Both are sequentially consistent, so at least
// one of them sees the other: the writer waits for that chunk to finish, or
// the zeroer gives the chunk up.
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

class ZeroAhead {
 public:
  static constexpr uint64_t kChunk = 1u << 20;
  static constexpr uint64_t kLookahead = 8u << 20;

  // Zeros `file` from `zeroed_end` (the end of what holds data or zeros) up
  // to at most `limit`, as the writer's reach (now `data_end`) advances.
  ZeroAhead(File& file, uint64_t data_end, uint64_t zeroed_end, uint64_t limit,
            std::function<void(std::string_view)> log);
  ~ZeroAhead();  // stops after the chunk in progress

  // The writer, before writing bytes up to `end` (never decreasing).
  void before_write(uint64_t end);
  // Waits until zeros reach min(limit, reach + lookahead), or zeroing failed (tests).
  void wait_idle();

 private:
  void run();
  bool caught_up() const;  // under mu_

  File& file_;
  const uint64_t limit_;
  const std::function<void(std::string_view)> log_;
  std::atomic<uint64_t> reach_;
  std::atomic<uint64_t> fence_{UINT64_MAX};
  uint64_t kick_at_ = 0;  // the writer's: reach at which to wake the zeroer next

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t zeroed_end_;    // guarded by mu_
  bool zeroing_ = false;   // guarded by mu_: a chunk from fence_ is being written
  bool kicked_ = false;    // guarded by mu_
  bool finished_ = false;  // guarded by mu_: reached the limit, failed, or stopping
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cairn::engine
