// ZeroedArray: for large arrays read at random (the hash tables and the id
// ring of the in-memory indexes). A block of 2 MiB or more is 2 MiB-aligned
// and advised as transparent huge pages, so that a lookup needs one TLB
// entry per 2 MiB instead of per 4 KiB. A TLB miss costs a two-level page walk in a virtual
// machine, and a table of a few MiB probed at random misses on nearly every
// probe. Where the kernel gives no huge pages the advice does nothing.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace cairn::index {

inline constexpr size_t kHugePage = 2u << 20;

// A fixed number of T whose bytes start as zeros, mapped anonymously: the
// kernel supplies each page zeroed when it is first touched, so making a
// large array costs nothing up front, and its page faults fall on the
// writes that land in it. The stream table grows by making a table twice
// the size and moving into it a little at a time, and the id window makes
// its ring and table at full size: zeroing or faulting in a whole array at
// once would stall the append that made it. T must be trivially copyable,
// with all-zero bytes meaning "empty".
template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) : size_(n), bytes_(n * sizeof(T)) {
    if (n == 0) return;
    if (n > (SIZE_MAX - kHugePage) / sizeof(T)) throw std::bad_alloc();
    data_ = static_cast<T*>(bytes_ >= kHugePage ? map_aligned(bytes_) : map(bytes_));
  }
  ~ZeroedArray() { release(); }
  ZeroedArray(ZeroedArray&& other) noexcept { *this = std::move(other); }
  ZeroedArray& operator=(ZeroedArray&& other) noexcept {
    if (this == &other) return *this;
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    bytes_ = std::exchange(other.bytes_, 0);
    return *this;
  }

  // Faults in the pages of elements [first, first + count) now, writable,
  // rather than at their first writes.
  void fault_in(size_t first, size_t count) {
    char* from = reinterpret_cast<char*>(data_ + first);
    size_t bytes = count * sizeof(T);
    if (bytes == 0) return;
#ifdef MADV_POPULATE_WRITE
    if (::madvise(page_floor(from), static_cast<size_t>(from + bytes - page_floor(from)), MADV_POPULATE_WRITE) == 0) return;
#endif
    for (char* page = page_floor(from); page < from + bytes; page += page_size()) {  // older kernels: touch each page
      volatile char* p = std::max(page, from);
      *p = *p;
    }
  }

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  static size_t page_size() {
    static const auto size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    return size;
  }
  static char* page_floor(char* p) {
    return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{page_size() - 1});
  }
  static void* map(size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
  }
  // 2 MiB-aligned (whole huge pages can back it), and advised so: a larger
  // mapping with its unaligned head and tail unmapped again.
  static void* map_aligned(size_t bytes) {
    auto* raw = static_cast<char*>(map(bytes + kHugePage));
    auto addr = reinterpret_cast<uintptr_t>(raw);
    char* aligned = raw + ((kHugePage - addr % kHugePage) % kHugePage);
    if (aligned > raw) (void)::munmap(raw, static_cast<size_t>(aligned - raw));
    // The tail from the page after the last byte (munmap wants a page-aligned start).
    char* end = page_floor(aligned + bytes + page_size() - 1);
    char* mapped_end = page_floor(raw + bytes + kHugePage + page_size() - 1);
    if (mapped_end > end) (void)::munmap(end, static_cast<size_t>(mapped_end - end));
    (void)::madvise(aligned, bytes, MADV_HUGEPAGE);
    return aligned;
  }
  void release() {
    if (data_ != nullptr) (void)::munmap(data_, bytes_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t bytes_ = 0;
};

}  // namespace cairn::index
