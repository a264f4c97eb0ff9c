// HugePageAllocator and ZeroedArray (below): for large arrays read at
// random (the hash tables of the in-memory indexes). A block of 2 MiB or
// more is advised as transparent huge pages (HugePageAllocator's are also
// 2 MiB-aligned; the kernel aligns ZeroedArray's large mappings itself since
// 6.7), so that a lookup needs one TLB entry per 2 MiB instead of per 4 KiB. A TLB miss costs a two-level page walk in a virtual
// machine, and a table of a few MiB probed at random misses on nearly every
// probe. Where the kernel gives no huge pages the advice does nothing.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace cairn::index {

inline constexpr size_t kHugePage = 2u << 20;

template <typename T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding, as allocators convert

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return std::allocator<T>().allocate(n);
    size_t rounded = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw std::bad_alloc();
    (void)::madvise(p, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }

  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHugePage) return std::allocator<T>().deallocate(p, n);
    std::free(p);
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

// A fixed number of T whose bytes start as zeros, mapped anonymously: the
// kernel supplies each page zeroed when it is first touched, so making a
// large array costs nothing up front, and its page faults fall on the
// writes that land in it. For the index hash tables, which grow by making a
// table twice the size and moving into it a little at a time: zeroing or
// faulting in the whole new table at once would stall the append that grew
// it. T must be trivially copyable, with all-zero bytes meaning "empty".
// Blocks of 2 MiB or more are advised as transparent huge pages.
template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) : size_(n), bytes_(n * sizeof(T)) {
    if (n == 0) return;
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (bytes_ >= kHugePage) (void)::madvise(p, bytes_, MADV_HUGEPAGE);
    data_ = static_cast<T*>(p);
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

  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void release() {
    if (data_ != nullptr) (void)::munmap(data_, bytes_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t bytes_ = 0;
};

}  // namespace cairn::index
