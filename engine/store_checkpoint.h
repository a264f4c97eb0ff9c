// Store checkpoints (Store::checkpoint): a copy of a store as of one
// published position P, taken while appends and reads go on.
//
// The copy holds exactly positions [0, P):
//   1. Metadata first: STORE, the index files (directory runs before the
//      *.idx they cover), the snapshots/ directory and any other store file. Taken
//      before P is chosen, none of them can speak of a position at or past P:
//      an index checkpoint covers only sealed (so published) segments, a
//      snapshot or subscription checkpoint only what had been published.
//   2. P = Log::published() (for a read-only store, of the log opened again
//      after step 1: CheckpointSource::reopen_log). Every segment before the one holding P - 1 is
//      sealed and never written again: it is hard-linked (copied when links
//      fail). The one holding P - 1 is linked whole when its footer follows
//      the batch ending at P; otherwise its bytes [0, end of that batch) are
//      copied. The writer never rewrites a byte below the published end, so
//      that prefix is stable while it is read, rolls or not. Recovery takes
//      the shorter file as an active segment whose data ends at its end.
//   Files that change in place (SUBSCRIPTIONS, the newest snapshot file,
//   unknown ones) are copied; immutable ones (sealed segments, index files,
//   STORE, older snapshot files) are linked.
//   Prepared segments (next-N.seg.tmp), other *.tmp files and LOCK are not
//   part of a store and are never copied.
//
// The target, as a transition list:
//   missing or empty, or holding an earlier checkpoint of the same store
//     -> LOCK taken (a second checkpoint into it, or an open of it, waits out
//        as kLocked), CHECKPOINT-INCOMPLETE written and synced
//     -> files kept (already there and identical: size, header and footer),
//        linked, or copied (through NAME.tmp, synced, renamed)
//     -> files no longer in the store removed, directories synced
//     -> CHECKPOINT-INCOMPLETE removed, directory synced: a complete copy.
// Killed anywhere before the last step, the target keeps the marker and
// Store::open refuses it (kIncompleteCheckpoint) until a checkpoint into it
// finishes. All file I/O goes through the FileSystem seam.
#pragma once

#include "engine/io.h"
#include "engine/log.h"
#include "format/segment_header.h"

#include <cairn/checkpoint.h>
#include <cairn/status.h>

#include <functional>
#include <memory>
#include <string>

namespace cairn::engine {

// The store being copied. Everything must outlive the call.
struct CheckpointSource {
  FileSystem& fs;
  const std::string& dir;
  const format::StoreIdentity& identity;
  const Log& log;
  // Runs its argument while no snapshot save, prune or reclaim runs (the
  // snapshot log's Snapshots::Impl::with_writes_paused), so that snapshots/
  // is copied as one consistent set of files; empty: run it as it is.
  std::function<Status(const std::function<Status()>&)> snapshots_paused;
  // A read-only store's log is the one it opened, while another process
  // may have appended since, and saved snapshots and subscription
  // checkpoints of those appends: metadata taken now could speak of
  // positions past that log's end. So for a read-only store this opens the
  // log again once the metadata is taken, and P is chosen in that view
  // (which owns its log; empty: use `log`).
  struct FreshLog {
    std::shared_ptr<void> owner;  // keeps `log` alive
    const Log* log = nullptr;
  };
  std::function<Result<FreshLog>()> reopen_log;
};

// Errors: kInvalidArgument (the target is inside the store, is not a
// directory, or holds files that are not a checkpoint of this store),
// kLocked (the target is open as a store, or another checkpoint writes it),
// kIOError; the target is then left marked incomplete.
Result<CheckpointResult> take_checkpoint(const CheckpointSource& source, const std::string& target,
                                         const CheckpointOptions& options);

}  // namespace cairn::engine
