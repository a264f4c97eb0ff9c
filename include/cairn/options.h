// Options for opening a store. Every field has a sane default.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace cairn {

// When an append is acknowledged, and what survives what.
//   kSync:  after an fdatasync covering the append (and everything before
//           it): survives a process crash and a power loss.
//   kBatch: after the write reached the file (the page cache); an fdatasync
//           follows within Options::batch_sync_interval_us or
//           batch_sync_bytes. Survives a process crash; a power loss may
//           lose the appends of that last interval (never a hole: what
//           survives is a prefix of the log).
//   kNone:  after the write reached the page cache; fdatasync only when a
//           segment is sealed and at close(). Survives a process crash; a
//           power loss may lose everything since the last of those.
// Appends are acknowledged in log order, so an append never completes
// before an earlier one in the log, whatever their levels.
enum class Durability : uint8_t {
  kDefault,  // per append only: use the store's Options::durability
  kSync,
  kBatch,
  kNone,
};

// How the writer talks to the disk. kAuto: io_uring when the kernel allows it
// (it is refused, for example, under Docker's default seccomp profile), else
// pwrite + fdatasync, with one line to the info log saying why.
enum class IoBackend : uint8_t { kAuto, kIoUring, kPwrite };

struct Options {
  // Create the directory and a new store when the path is missing or empty.
  bool create_if_missing = true;
  // Open for reading only: no lock is taken, appends fail with kReadOnly, and
  // a torn tail is ignored rather than cut off.
  bool read_only = false;
  // When open finds corruption (a checksum failure before the torn tail), open
  // the intact prefix read-only instead of failing. Never modifies the files.
  bool open_intact_prefix = false;

  // A segment rolls over when the next batch would not fit. At least 64 KiB,
  // at most 64 GiB (so that a segment holds fewer than 2^32 events).
  uint64_t segment_bytes = 256ull << 20;
  // Largest data + metadata of one event, and largest encoded append batch.
  uint32_t max_event_bytes = 16u << 20;
  uint32_t max_batch_bytes = 64u << 20;
  // Upper bound on the bytes one group commit writes with one write and one
  // fdatasync (a single append larger than this is written alone). Smaller
  // groups let the next one fill and go while one is in flight: with 1,024
  // async appends in flight 128 KiB beat 4 MiB by a quarter (DESIGN.md,
  // "Pipelining and the write queues").
  uint32_t max_group_bytes = 128u << 10;
  // Backpressure: appends (async ones too) wait while this many encoded bytes
  // are queued for the writer, so a slow disk cannot grow memory without bound.
  uint64_t max_queued_bytes = 64ull << 20;
  // Group commit: before starting the next write + fdatasync, the writer waits
  // at most this long (and at most half the last fdatasync's time) for as many
  // appends as the last group held, so that threads acknowledged by one group
  // make the next one instead of waiting a whole fdatasync more. 0: never wait.
  uint32_t max_commit_delay_us = 100;
  // Where the store reports what recovery did (a torn tail cut off, an intact
  // prefix opened). Default (empty): one line on standard error.
  std::function<void(std::string_view message)> info_log;
  // Idempotency window: the ids of the most recent this-many events are
  // remembered (read from the log by the first append after open); a retried
  // append is recognised while its events are inside the window. 0 turns
  // retry detection off. Memory: 48 bytes per event of the window (more when
  // it is not a power of two), taken at the first append (12 MiB by default).
  uint32_t idempotency_window = 1u << 18;

  // The default durability of appends (an append may ask for another).
  Durability durability = Durability::kSync;
  // kBatch: the longest an acknowledged append waits for its fdatasync, and
  // the most bytes written between two fdatasyncs.
  uint32_t batch_sync_interval_us = 10'000;
  uint64_t batch_sync_bytes = 8ull << 20;
  // kIoUring fails the first append with kNotSupported when io_uring is
  // unavailable (the write queue is made then, not at open), and the store
  // then refuses appends until it is reopened; kAuto falls back to pwrite.
  IoBackend io_backend = IoBackend::kAuto;
  // Group commits written and being made durable at once (1 to 16): while
  // one group's fdatasync is in flight, the next is filled and written. More
  // than 2 pays only when groups are large (DESIGN.md, "Pipelining").
  uint32_t max_writes_in_flight = 4;
  // A stream's category, for filtered reads (Store::read_all_filtered,
  // read_category), is its name before the first of these ("Order-42" is in
  // category "Order"); a stream without it is in no category.
  char category_separator = '-';
  // Open reads the index checkpoint (index files written when segments are
  // sealed and at close) and scans only the log after it, so a clean open
  // costs the same for any store size. Its files are checked against the
  // segments' footers and last batches; every read still verifies the
  // checksum of each batch it returns, and `cairn verify` checks everything.
  // true: ignore the checkpoint and scan and verify every segment at open
  // (time proportional to the store's size; corruption anywhere fails the open).
  bool verify_on_open = false;
  // Keep the next segment file ready, zero-filled and synced, so appends
  // overwrite allocated blocks (a cheaper fdatasync) and a roll-over does
  // not wait for a new file. Costs one segment's worth of disk space. A log
  // that fills segments faster than twice the time zeroing one takes gets
  // them allocated but not written (fallocate), since the zeros would
  // double its write traffic (DESIGN.md, "Prepared space").
  bool prepare_segments = true;
  // Write the log's synced group commits with O_DIRECT: each is one write of
  // whole 4 KiB pages from aligned memory (the segment's partial last page
  // is kept in memory and rewritten with the next group) instead of a copy
  // into the page cache. Groups that are not synced (kNone, kBatch) are
  // still copied into the page cache. With prepare_segments, only segments
  // prepared whole are written this way; others, such as a new store's
  // first segment, go through the page cache. Groups that share a page are
  // not in flight together when either is direct.
  // open() fails with kNotSupported when the file system refuses O_DIRECT.
  // DESIGN.md ("Buffered or O_DIRECT") has the measurements behind the default.
  bool direct_io = false;
  // Copy groups that are not synced (kNone, kBatch) into a writable shared
  // mapping of the active segment instead of writing them with a system
  // call, when the group is written on the committing thread and the
  // segment was prepared whole (and is not written direct). The bytes land
  // in the same page cache either way, and fdatasync makes them durable
  // alike. The cost: a segment page the kernel cannot read back from the
  // disk (EIO, after it evicted it) kills the process with SIGBUS where a
  // write call would fail the append; nothing acknowledged is lost either
  // way. Synced groups are always written with write calls (mapping them
  // made each fdatasync slower), and so is every group for a second after a
  // kSync append (its fdatasync would pay for the mapped pages of a store
  // that mixes levels). DESIGN.md ("Mapped writes") has the numbers.
  bool mapped_writes = true;
  // The newest this-many sealed segments stay in the page cache (16: 1 GiB
  // at the default segment size); each older one is dropped from it
  // (POSIX_FADV_DONTNEED, its clean pages only) once a newer one is sealed
  // and indexed, so that the next segments reuse those pages. Reads of
  // older events then read the disk. 0: leave every segment to the kernel's
  // cache. DESIGN.md ("Cached segments") has the measurements: on the
  // development VM, writing into pages the guest had not used lately cost
  // up to nine times as much as into reused ones.
  uint32_t cached_sealed_segments = 16;

  // Aggregate snapshots (Store::snapshots(), cairn/snapshot.h).
  // Each save keeps the newest this-many snapshots of its stream (by
  // version, then save order) and drops older ones in the same write. 0: keep
  // every snapshot (Snapshots::prune drops them on request).
  uint32_t snapshots_to_keep = 3;
  // Largest snapshot data a save accepts. Loads hold a whole snapshot in
  // memory; the format allows up to 2^62 bytes.
  uint64_t max_snapshot_bytes = 1ull << 30;
  // A snapshot file is closed, and the next one started, before a record
  // would take it past this size (a larger snapshot gets a file of its own).
  // Space is reclaimed file by file.
  uint64_t snapshot_file_bytes = 64ull << 20;
};

}  // namespace cairn
