// A reader-writer lock that prefers the writer. std::shared_mutex on glibc
// prefers readers: readers that keep overlapping can lock the writer out for
// seconds (seen here: 8 readers looping on stream_version() held one append
// back for 52 s). Satisfies SharedMutex, for std::shared_lock/unique_lock.
// Not recursive: a thread must not take it shared twice.
#pragma once

#include <pthread.h>

namespace cairn::engine {

class RwLock {
 public:
  RwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

}  // namespace cairn::engine
