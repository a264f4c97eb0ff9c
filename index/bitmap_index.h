// Secondary indexes of one segment: event type -> positions and category ->
// positions, as CRoaring bitmaps of positions relative to the segment's
// first position. Their encoding (one section of a per-segment index file)
// is in format/FORMAT.md, "Type and category bitmaps".
//
// A stream's category is the part of its name before the first separator
// ('-' by default: "Order-42" is in category "Order"); a stream without the
// separator has no category and is not indexed by category.
//
// No locking here: the engine guards these with its index lock.
#pragma once

#include "format/batch.h"

#include <cairn/status.h>

#include <roaring/roaring.hh>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::index {

// The category of `stream`: its name before the first `separator`; empty
// when the name has no separator (or starts with it).
std::string_view category_of(std::string_view stream, char separator);

class SegmentBitmaps;
// Indexes every event of `batch`, which lies in the segment starting at
// `segment_first_position` (fewer than 2^32 positions from it).
void add_batch(SegmentBitmaps& bitmaps, const format::BatchView& batch, uint64_t segment_first_position);

class SegmentBitmaps {
 public:
  // The version of the encoding encode() writes and decode() accepts.
  static constexpr uint32_t kEncodingVersion = 1;

  // `category_separator` is recorded in the encoding, so that bitmaps built
  // with another separator can be recognised (and rebuilt) when loaded.
  explicit SegmentBitmaps(char category_separator = '-') : separator_(category_separator) {}

  // Indexes the `count` events at `relative_position` and after, all of
  // `type` and `category`. Positions are added in increasing order, each
  // once. `type` is 1 to 65535 bytes (event types are at most 255),
  // `category` at most 65535 (stream names at most 1024); an empty
  // `category` is not indexed.
  void add(std::string_view type, std::string_view category, uint32_t relative_position, uint32_t count = 1);

  // The positions of one type / one category, or nullptr when there are none.
  const Roaring* type(std::string_view name) const { return find(types_, name); }
  const Roaring* category(std::string_view name) const { return find(categories_, name); }

  // The positions whose type is one of `types` (any type when `types` is
  // empty) and whose category is one of `categories` (any category when
  // `categories` is empty; both empty: nothing). Returns one of this
  // object's own bitmaps when a single one is the answer, else fills and
  // returns `scratch`; nullptr when nothing matches. Names not present
  // match nothing.
  const Roaring* matching(std::span<const std::string> types, std::span<const std::string> categories,
                          Roaring& scratch) const;

  char category_separator() const { return separator_; }
  // One past the highest position added (0 when empty).
  uint64_t end() const { return end_; }
  size_t type_count() const { return types_.size(); }
  size_t category_count() const { return categories_.size(); }

  // Appends the encoding (FORMAT.md, "Type and category bitmaps") to `out`.
  void encode(std::string& out) const;
  // Decodes an encoding from the front of `bytes` (bytes after its length
  // are not looked at). Checks every length, name and bitmap before using
  // it: anything malformed is kCorruption naming `where` and the offset of
  // the bad field inside `bytes`.
  static Result<SegmentBitmaps> decode(std::string_view bytes, const std::string& where);

 private:
  using Bitmaps = std::map<std::string, Roaring, std::less<>>;
  // The bitmap add() found last for a name, kept so that a run of events of
  // one type or category skips the map's lookup. A copy forgets it (it
  // points into its source's map); a move hands it over with the map's
  // nodes.
  struct LastFound {
    std::string name;
    Roaring* bitmap = nullptr;
    LastFound() = default;
    LastFound(const LastFound&) {}
    LastFound(LastFound&& other) noexcept
        : name(std::move(other.name)), bitmap(std::exchange(other.bitmap, nullptr)) {}
    LastFound& operator=(const LastFound&) {
      bitmap = nullptr;
      return *this;
    }
    LastFound& operator=(LastFound&& other) noexcept {
      name = std::move(other.name);
      bitmap = std::exchange(other.bitmap, nullptr);
      return *this;
    }
  };
  static const Roaring* find(const Bitmaps& bitmaps, std::string_view name);
  static Roaring& find_or_add(Bitmaps& bitmaps, LastFound& last, std::string_view name);

  char separator_;
  uint64_t end_ = 0;
  Bitmaps types_;       // never holds an empty bitmap
  Bitmaps categories_;  // never holds an empty bitmap
  LastFound last_type_;
  LastFound last_category_;
};

// Appends to `out` the members of `bitmap` in [from, end), in increasing
// order, at most `max_count` of them. Cost: O(log of the bitmap's
// containers + the members appended).
void collect_forward(const Roaring& bitmap, uint32_t from, uint64_t end, size_t max_count,
                     std::vector<uint32_t>& out);
// Appends to `out` the members of `bitmap` at most `from`, in decreasing
// order, at most `max_count` of them. Same cost.
void collect_backward(const Roaring& bitmap, uint32_t from, size_t max_count, std::vector<uint32_t>& out);

}  // namespace cairn::index
