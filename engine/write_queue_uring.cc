// io_uring backend of WriteQueue: one ring per queue, no SQPOLL.
//
// submit() queues an IORING_OP_WRITEV (at most IOV_MAX iovecs) and, when a
// sync is asked and those iovecs end the submission, an IORING_OP_FSYNC
// (DATASYNC) linked after it, both in one io_uring_submit. wait_oldest()
// reaps completions on the completing thread, requeues what short or
// interrupted requests left over (a short write breaks the link: its fsync
// completes with -ECANCELED and is queued again after the rest), and reports
// submissions in order. sq_mu_ serializes the two threads on the submission
// side; only the completing thread touches the completion side.
//
// A submission's fdatasync covers the earlier ones to its file only if their
// writes had completed when it was queued. Earlier ones that asked for a sync
// have their own; if an earlier write-only one was still in flight, the
// submission gets one more fdatasync once it is the oldest.
#include "engine/write_queue.h"

#include <liburing.h>
#include <sys/uio.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn::engine {
namespace {

enum class SyncState : uint8_t {
  kNone,       // not asked for
  kWanted,     // asked for; no fdatasync has counted yet
  kUncovered,  // one succeeded, but was queued while an earlier write-only
               // submission to the same file still had bytes in flight
  kDone,       // its bytes, and every earlier submission's in the file, are durable
};

// One submission. Guarded by UringQueue::mu_; the kernel reads `iov` and the
// caller's bytes while a write is in flight.
struct Op {
  Op(File& f, uint64_t off, std::span<const std::string_view> parts, bool want_sync)
      : file(&f), fd(f.native_handle()), offset(off), sync(want_sync ? SyncState::kWanted : SyncState::kNone) {
    for (std::string_view p : parts) {
      if (p.empty()) continue;
      iov.push_back({const_cast<char*>(p.data()), p.size()});
      left += p.size();
    }
  }

  uint64_t seq = 0;
  File* file;
  int fd;
  uint64_t offset;         // where the first unwritten byte goes
  std::vector<iovec> iov;  // the unwritten bytes start at iov[next]
  size_t next = 0;
  uint64_t left = 0;       // bytes not yet written
  SyncState sync;
  bool covers = false;     // the last fdatasync queued found no uncovered earlier write
  unsigned in_flight = 0;  // completions still to come
  Status status;           // the first failure
};

// Requests to queue for one op: a write of iov[0, count) at offset, and/or an
// fdatasync linked after it.
struct Requests {
  Op* op = nullptr;
  int fd = -1;
  const iovec* iov = nullptr;
  unsigned count = 0;  // iovecs; 0: no write
  uint64_t offset = 0;
  bool fsync = false;
  unsigned size() const { return (count > 0 ? 1 : 0) + (fsync ? 1 : 0); }
};

// user_data: the Op's address, its low bit set for the fdatasync half.
// kIgnore marks a NOP that replaced a withdrawn request.
constexpr uint64_t kIgnore = 0;
uint64_t tag(Op* op, bool fsync) { return reinterpret_cast<uintptr_t>(op) | (fsync ? 1 : 0); }
Op* op_of(uint64_t data) { return reinterpret_cast<Op*>(data & ~uint64_t{1}); }
bool is_fsync(uint64_t data) { return (data & 1) != 0; }

bool retryable(int res) { return res == -EINTR || res == -EAGAIN; }

void fail(Op& op, const std::string& what) {
  if (op.status.ok()) op.status = Status::io_error(op.file->path() + ": " + what);
}
void fail(Op& op, const std::string& what, int err) { fail(op, what + ": " + std::strerror(err)); }

// Consumes n written bytes from the front of op's iovecs.
void advance(Op& op, size_t n) {
  op.offset += n;
  op.left -= n;
  while (n > 0 && n >= op.iov[op.next].iov_len) n -= op.iov[op.next++].iov_len;
  if (n > 0) {  // the write ended inside this iovec
    op.iov[op.next].iov_base = static_cast<char*>(op.iov[op.next].iov_base) + n;
    op.iov[op.next].iov_len -= n;
  }
}

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  return std::string(std::strerror(err)) + " (" + (name ? name : std::to_string(err)) + ")";
}

class UringQueue final : public WriteQueue {
 public:
  explicit UringQueue(unsigned depth) : depth_(depth) {}
  ~UringQueue() override;

  Status init();
  Status submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) override;
  Status wait_oldest() override;
  size_t pending() const override {
    std::lock_guard lock(mu_);
    return pending_;
  }
  const char* name() const override { return "io_uring"; }

 private:
  Requests plan(Op& op);
  bool uncovered_write_before(const Op& op) const;
  unsigned push(const Requests& r, int* err);
  unsigned taken_since(unsigned first, unsigned n) const;
  void withdraw(unsigned first, unsigned n);
  void requeue(const Requests& r);
  Status reap_one();
  void apply(Op& op, bool fsync, int res);
  bool anything_in_flight() const;

  const unsigned depth_;
  io_uring ring_{};
  bool ring_ready_ = false;
  // The submission side of the ring. Taken before mu_ when both are held;
  // never held while waiting for completions.
  std::mutex sq_mu_;
  // Guards the ops and the counters below.
  mutable std::mutex mu_;
  // Oldest first. The newest may still be inside submit() (not counted in
  // pending_); every other one has been accepted.
  std::deque<std::unique_ptr<Op>> ops_;
  size_t pending_ = 0;
  uint64_t next_seq_ = 1;
};

Status UringQueue::init() {
  unsigned entries = std::bit_ceil(std::max(8u, 2 * depth_));  // a write and an fsync per op
  int rc = io_uring_queue_init(entries, &ring_, 0);
  if (rc < 0) {
    std::string hint = rc == -EPERM || rc == -ENOSYS ? " (seccomp or kernel.io_uring_disabled)" : "";
    return Status::not_supported("io_uring_queue_init: " + errno_text(-rc) + hint);
  }
  ring_ready_ = true;
  // Without it, waiting with a timeout would take a submission queue entry.
  if (!(ring_.features & IORING_FEAT_EXT_ARG)) {
    return Status::not_supported("io_uring lacks IORING_FEAT_EXT_ARG (kernel older than 5.11)");
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return Status::not_supported("io_uring_get_probe_ring failed (kernel older than 5.6)");
  bool ok = io_uring_opcode_supported(probe, IORING_OP_WRITEV) && io_uring_opcode_supported(probe, IORING_OP_FSYNC);
  io_uring_free_probe(probe);
  if (!ok) return Status::not_supported("io_uring lacks IORING_OP_WRITEV or IORING_OP_FSYNC");
  return Status();
}

UringQueue::~UringQueue() {
  // The kernel may still read the ops' iovecs and the callers' bytes.
  while (ring_ready_ && anything_in_flight()) {
    if (!reap_one().ok()) break;
  }
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

Status UringQueue::submit(File& file, uint64_t offset, std::span<const std::string_view> parts, bool sync) {
  if (file.native_handle() < 0) {
    return Status::invalid_argument(file.path() + ": no file descriptor for io_uring (use the pwrite queue)");
  }
  auto owned = std::make_unique<Op>(file, offset, parts, sync);
  Op* op = owned.get();
  std::lock_guard sq_lock(sq_mu_);
  Requests r;
  {
    std::lock_guard lock(mu_);
    assert(pending_ < depth_ && "the caller keeps at most depth submissions pending");
    if (pending_ >= depth_) return queue_full(depth_);
    op->seq = next_seq_++;
    r = plan(*op);
    ops_.push_back(std::move(owned));
  }
  int err = 0;
  unsigned taken = r.size() > 0 ? push(r, &err) : 0;
  std::lock_guard lock(mu_);
  if (taken < r.size()) {
    if (taken == 0) {  // nothing started: forget it (it is still the newest)
      ops_.pop_back();
      return Status::io_error(file.path() + ": io_uring_enter: " + std::strerror(err));
    }
    op->in_flight -= r.size() - taken;
    fail(*op, "io_uring_enter", err);
  }
  ++pending_;
  return Status();
}

Status UringQueue::wait_oldest() {
  Op* op = nullptr;
  {
    std::lock_guard lock(mu_);
    assert(pending_ > 0 && "wait_oldest() with nothing pending");
    if (pending_ == 0) return Status::invalid_argument("wait_oldest: nothing pending");
    op = ops_.front().get();
  }
  for (;;) {
    Requests more;
    {
      std::lock_guard lock(mu_);
      if (op->in_flight == 0) {
        if (op->sync != SyncState::kUncovered || !op->status.ok()) break;
        op->sync = SyncState::kWanted;  // every earlier op is done now: the next fdatasync covers all
        more = plan(*op);
      }
    }
    if (more.size() > 0) {
      requeue(more);
    } else if (Status s = reap_one(); !s.ok()) {
      return s;  // the op stays pending
    }
  }
  std::lock_guard lock(mu_);
  Status s = std::move(op->status);
  ops_.pop_front();
  --pending_;
  return s;
}

// The next requests op needs (none once it failed or is done), counted in
// op.in_flight. mu_ held.
Requests UringQueue::plan(Op& op) {
  Requests r;
  r.op = &op;
  r.fd = op.fd;
  if (!op.status.ok()) return r;
  if (op.left > 0) {
    r.iov = op.iov.data() + op.next;
    r.count = static_cast<unsigned>(std::min<size_t>(op.iov.size() - op.next, IOV_MAX));
    r.offset = op.offset;
  }
  // Only after the last iovecs: an fdatasync must start after all the op's bytes are written.
  r.fsync = op.sync == SyncState::kWanted && op.next + r.count == op.iov.size();
  if (r.fsync) op.covers = !uncovered_write_before(op);
  op.in_flight += r.size();
  return r;
}

// Whether an earlier op without a sync of its own still has bytes to write
// into op's file: an fdatasync queued now might start before they land.
// The same file may come through two descriptors (a segment's buffered one
// and its O_DIRECT one, Options::direct_io): compared by path. mu_ held.
bool UringQueue::uncovered_write_before(const Op& op) const {
  for (const auto& e : ops_) {
    if (e->seq >= op.seq) break;
    bool same_file = e->fd == op.fd || e->file->path() == op.file->path();
    if (same_file && e->sync == SyncState::kNone && e->left > 0 && e->status.ok()) return true;
  }
  return false;
}

// Queues r's requests and hands them to the kernel; returns how many it took.
// Fewer than r.size() only after an io_uring_enter error (*err) that retrying
// did not cure; the rest are withdrawn. sq_mu_ held.
unsigned UringQueue::push(const Requests& r, int* err) {
  if (io_uring_sq_space_left(&ring_) < r.size()) {  // only after withdrawn requests piled up
    *err = EBUSY;
    return 0;
  }
  unsigned first = ring_.sq.sqe_tail;  // ring position of our first entry
  if (r.count > 0) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_writev(sqe, r.fd, r.iov, r.count, r.offset);
    io_uring_sqe_set_data64(sqe, tag(r.op, false));
    if (r.fsync) sqe->flags |= IOSQE_IO_LINK;
  }
  if (r.fsync) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_fsync(sqe, r.fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, tag(r.op, true));
  }
  constexpr int kAttempts = 1000;  // about a second of EAGAIN/EBUSY
  for (int attempt = 1;; ++attempt) {
    int rc = io_uring_submit(&ring_);
    unsigned taken = taken_since(first, r.size());
    if (taken == r.size()) return taken;
    bool transient = rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY;
    if (!transient || attempt == kAttempts) {
      *err = rc < 0 ? -rc : EAGAIN;
      withdraw(first + taken, r.size() - taken);
      return taken;
    }
    if (rc != -EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// How many of the n entries queued from ring position `first` on the kernel
// has consumed. sq_mu_ held.
unsigned UringQueue::taken_since(unsigned first, unsigned n) const {
  auto done = static_cast<int>(io_uring_smp_load_acquire(ring_.sq.khead) - first);
  return static_cast<unsigned>(std::clamp(done, 0, static_cast<int>(n)));
}

// Replaces n entries the kernel has not consumed, from ring position `first`
// on, by NOPs whose completions are ignored, so they never write. Safe because
// the kernel consumes entries only inside io_uring_enter(to_submit > 0), which
// needs sq_mu_ (no SQPOLL). sq_mu_ held.
void UringQueue::withdraw(unsigned first, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    io_uring_sqe* sqe = &ring_.sq.sqes[ring_.sq.array[(first + i) & ring_.sq.ring_mask]];
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, kIgnore);
  }
}

// Queues follow-up requests from the completing thread.
void UringQueue::requeue(const Requests& r) {
  int err = 0;
  unsigned taken = 0;
  {
    std::lock_guard sq_lock(sq_mu_);
    taken = push(r, &err);
  }
  if (taken == r.size()) return;
  std::lock_guard lock(mu_);
  r.op->in_flight -= r.size() - taken;
  fail(*r.op, "io_uring_enter", err);
}

// Waits for one completion (or a short timeout, after which the caller looks
// again), applies it, and requeues what its op still needs.
Status UringQueue::reap_one() {
  __kernel_timespec timeout{.tv_sec = 0, .tv_nsec = 100'000'000};
  io_uring_cqe* cqe = nullptr;
  int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout);
  if (rc == -EINTR || rc == -ETIME) return Status();
  if (rc < 0) return Status::io_error(std::string("io_uring_wait_cqe: ") + std::strerror(-rc));
  uint64_t data = io_uring_cqe_get_data64(cqe);
  int res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  if (data == kIgnore) return Status();
  Requests more;
  {
    std::lock_guard lock(mu_);
    Op& op = *op_of(data);
    apply(op, is_fsync(data), res);
    if (op.in_flight == 0) more = plan(op);
  }
  if (more.size() > 0) requeue(more);
  return Status();
}

// Records one completion of op. mu_ held.
void UringQueue::apply(Op& op, bool fsync, int res) {
  --op.in_flight;
  if (fsync) {
    if (res == 0) {
      op.sync = op.covers ? SyncState::kDone : SyncState::kUncovered;
    } else if (res != -ECANCELED && !retryable(res)) {
      fail(op, "fdatasync", -res);
    }  // -ECANCELED: its write fell short or failed; the write's completion decides
  } else if (res > 0) {
    advance(op, static_cast<size_t>(res));
  } else if (res == 0) {
    fail(op, "write at offset " + std::to_string(op.offset) + ": no progress (0 bytes written)");
  } else if (!retryable(res)) {
    fail(op, "write at offset " + std::to_string(op.offset), -res);
  }
  // An fdatasync counts only if it started after every byte was written.
  if (op.in_flight == 0 && op.left > 0 && op.sync != SyncState::kNone) op.sync = SyncState::kWanted;
}

bool UringQueue::anything_in_flight() const {
  std::lock_guard lock(mu_);
  return std::any_of(ops_.begin(), ops_.end(), [](const auto& op) { return op->in_flight > 0; });
}

}  // namespace

Result<std::unique_ptr<WriteQueue>> make_uring_queue(unsigned depth) {
  auto queue = std::make_unique<UringQueue>(depth);
  if (Status s = queue->init(); !s.ok()) return s;
  return std::unique_ptr<WriteQueue>(std::move(queue));
}

}  // namespace cairn::engine
