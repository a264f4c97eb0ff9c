#include "index/bitmap_index.h"

#include "format/coding.h"

#include <bit>
#include <optional>

namespace cairn::index {

void add_batch(SegmentBitmaps& bitmaps, const format::BatchView& batch, uint64_t segment_first_position) {
  auto relative = static_cast<uint32_t>(batch.stamp().first_position - segment_first_position);
  std::string_view category = category_of(batch.stream(), bitmaps.category_separator());
  // Runs of events of one type go in as ranges (a batch is often all one type).
  std::string_view run_type;
  uint32_t run_start = 0;
  batch.for_each([&](uint32_t i, const format::EventView& e) {
    if (i > 0 && e.type != run_type) {
      bitmaps.add(run_type, category, relative + run_start, i - run_start);
      run_start = i;
    }
    run_type = e.type;
    return true;
  });
  bitmaps.add(run_type, category, relative + run_start, batch.count() - run_start);
}
namespace {

// The encoding's fixed header and the fixed part of each entry (FORMAT.md,
// "Type and category bitmaps").
constexpr size_t kHeaderSize = 32;
constexpr size_t kEntryFixedSize = 6;  // u16 name_len, u32 bitmap_len

// CRoaring's portable serialization (the RoaringFormatSpec).
constexpr uint32_t kCookieNoRuns = 12346;
constexpr uint16_t kCookieRuns = 12347;
constexpr uint32_t kNoOffsetThreshold = 4;  // run-cookie bitmaps with fewer containers have no offsets
constexpr uint32_t kMaxArrayCardinality = 4096;
constexpr size_t kBitsetBytes = 8192;

// Something wrong with the bytes: where (an offset into the decoded bytes) and what.
struct Problem {
  size_t offset;
  std::string what;
};

// Little-endian reads over `bytes`; callers check has(n) before reading n bytes.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes, size_t base = 0) : bytes_(bytes), base_(base) {}
  bool has(size_t n) const { return bytes_.size() - pos_ >= n; }
  size_t pos() const { return pos_; }
  size_t offset() const { return base_ + pos_; }  // in the whole encoding
  uint16_t u16() { return format::get_u16(take(2)); }
  uint32_t u32() { return format::get_u32(take(4)); }
  uint64_t u64() { return format::get_u64(take(8)); }
  std::string_view bytes(size_t n) { return {take(n), n}; }

 private:
  const char* take(size_t n) {
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  std::string_view bytes_;
  size_t base_;
  size_t pos_ = 0;
};

Problem problem(const Cursor& c, std::string what) { return Problem{c.offset(), std::move(what)}; }

// One container's values must be increasing and within 16 bits; its
// cardinality must equal the header's. Sets `last` to its highest value.
std::optional<Problem> check_array(Cursor& c, uint32_t cardinality, uint32_t& last) {
  if (!c.has(size_t{2} * cardinality)) return problem(c, "array container truncated");
  for (uint32_t i = 0; i < cardinality; ++i) {
    size_t at = c.offset();
    uint16_t v = c.u16();
    if (i > 0 && v <= last) return Problem{at, "array container values not increasing"};
    last = v;
  }
  return std::nullopt;
}

std::optional<Problem> check_bitset(Cursor& c, uint32_t cardinality, uint32_t& last) {
  if (!c.has(kBitsetBytes)) return problem(c, "bitset container truncated");
  size_t at = c.offset();
  uint32_t count = 0;
  for (uint32_t w = 0; w < kBitsetBytes / 8; ++w) {
    uint64_t word = c.u64();
    count += static_cast<uint32_t>(std::popcount(word));
    if (word != 0) last = w * 64 + 63 - static_cast<uint32_t>(std::countl_zero(word));
  }
  if (count != cardinality) return Problem{at, "bitset container cardinality does not match its bits"};
  return std::nullopt;
}

// Runs are (start, length - 1) pairs, sorted and disjoint, inside 16 bits.
std::optional<Problem> check_runs(Cursor& c, uint32_t cardinality, uint32_t& last) {
  if (!c.has(2)) return problem(c, "run container truncated");
  uint16_t runs = c.u16();
  if (runs == 0) return problem(c, "run container without runs");
  if (!c.has(size_t{4} * runs)) return problem(c, "run container truncated");
  uint32_t count = 0;
  for (uint32_t i = 0; i < runs; ++i) {
    size_t at = c.offset();
    uint32_t start = c.u16();
    uint32_t end = start + c.u16();  // inclusive
    if (end > 0xffff) return Problem{at, "run past the end of its container"};
    if (i > 0 && start <= last) return Problem{at, "runs not increasing"};
    count += end - start + 1;
    last = end;
  }
  if (count != cardinality) return problem(c, "run container cardinality does not match its runs");
  return std::nullopt;
}

// Where the parts of a portable bitmap are (offsets into its bytes).
struct PortableLayout {
  uint32_t size = 0;           // containers
  std::string_view run_flags;  // empty: no run containers
  size_t keys_at = 0;          // size x (u16 key, u16 cardinality - 1)
  std::optional<size_t> offsets_at;
};

// Reads the cookie, the run flags, and finds the keys and offsets.
std::optional<Problem> read_layout(Cursor& c, PortableLayout& layout) {
  if (!c.has(4)) return problem(c, "bitmap truncated");
  uint32_t cookie = c.u32();
  bool has_runs = (cookie & 0xffff) == kCookieRuns;
  if (has_runs) {
    layout.size = (cookie >> 16) + 1;
    if (!c.has((layout.size + 7) / 8)) return problem(c, "bitmap truncated");
    size_t at = c.offset();
    layout.run_flags = c.bytes((layout.size + 7) / 8);
    unsigned unused = static_cast<uint8_t>(layout.run_flags.back()) >> (layout.size % 8);
    if (layout.size % 8 != 0 && unused != 0) return Problem{at, "run flags set past the last container"};
  } else if (cookie == kCookieNoRuns) {
    if (!c.has(4)) return problem(c, "bitmap truncated");
    layout.size = c.u32();
    if (layout.size == 0) return problem(c, "empty bitmap");
    if (layout.size > 65536) return problem(c, "more than 65536 containers");
  } else {
    return Problem{c.offset() - 4, "not a portable Roaring bitmap (bad cookie)"};
  }
  if (!c.has(size_t{4} * layout.size)) return problem(c, "bitmap truncated");
  layout.keys_at = c.pos();
  c.bytes(size_t{4} * layout.size);
  if (!has_runs || layout.size >= kNoOffsetThreshold) {
    if (!c.has(size_t{4} * layout.size)) return problem(c, "bitmap truncated");
    layout.offsets_at = c.pos();
    c.bytes(size_t{4} * layout.size);
  }
  return std::nullopt;
}

std::optional<Problem> check_container(Cursor& c, bool is_run, uint32_t cardinality, uint32_t& last) {
  if (is_run) return check_runs(c, cardinality, last);
  if (cardinality > kMaxArrayCardinality) return check_bitset(c, cardinality, last);
  return check_array(c, cardinality, last);
}

// What check_portable learned about a well-formed bitmap.
struct PortableSummary {
  uint64_t cardinality = 0;
  uint64_t max = 0;
};

// Checks that `bytes` is exactly one non-empty bitmap in CRoaring's portable
// format, well formed in every way a reader relies on: sizes, keys
// increasing, offsets pointing at their containers, container values
// increasing, cardinalities equal to the content. `base` is the offset of
// `bytes` in the encoding (for messages).
std::optional<Problem> check_portable(std::string_view bytes, size_t base, PortableSummary& summary) {
  Cursor c(bytes, base);
  PortableLayout layout;
  if (auto bad = read_layout(c, layout)) return bad;
  for (uint32_t k = 0; k < layout.size; ++k) {
    size_t key_at = layout.keys_at + size_t{4} * k;
    uint32_t key = format::get_u16(bytes.data() + key_at);
    uint32_t cardinality = format::get_u16(bytes.data() + key_at + 2) + 1u;
    if (k > 0 && key <= summary.max >> 16) return Problem{base + key_at, "keys not increasing"};
    if (layout.offsets_at) {
      size_t offset_at = *layout.offsets_at + size_t{4} * k;
      if (format::get_u32(bytes.data() + offset_at) != c.pos()) {
        return Problem{base + offset_at, "container offset does not match"};
      }
    }
    bool is_run = !layout.run_flags.empty() && (static_cast<uint8_t>(layout.run_flags[k / 8]) >> (k % 8)) & 1;
    uint32_t last = 0;
    if (auto bad = check_container(c, is_run, cardinality, last)) return bad;
    summary.cardinality += cardinality;
    summary.max = (uint64_t{key} << 16) | last;
  }
  if (c.has(1)) return problem(c, "bytes after the bitmap");
  return std::nullopt;
}

}  // namespace

std::string_view category_of(std::string_view stream, char separator) {
  size_t at = stream.find(separator);
  return at == std::string_view::npos ? std::string_view() : stream.substr(0, at);
}

const Roaring* SegmentBitmaps::find(const Bitmaps& bitmaps, std::string_view name) {
  auto it = bitmaps.find(name);
  return it == bitmaps.end() ? nullptr : &it->second;
}

Roaring& SegmentBitmaps::find_or_add(Bitmaps& bitmaps, LastFound& last, std::string_view name) {
  if (last.bitmap != nullptr && last.name == name) return *last.bitmap;
  auto it = bitmaps.find(name);
  if (it == bitmaps.end()) it = bitmaps.emplace(std::string(name), Roaring()).first;
  last.bitmap = nullptr;  // until the name is copied (it may throw)
  last.name = name;
  last.bitmap = &it->second;
  return it->second;
}

void SegmentBitmaps::add(std::string_view type, std::string_view category, uint32_t relative_position,
                         uint32_t count) {
  if (count == 0) return;
  auto add_to = [&](Roaring& r) {
    if (count == 1) {
      r.add(relative_position);
    } else {
      r.addRange(relative_position, uint64_t{relative_position} + count);
    }
  };
  add_to(find_or_add(types_, last_type_, type));
  if (!category.empty()) add_to(find_or_add(categories_, last_category_, category));
  end_ = std::max(end_, uint64_t{relative_position} + count);
}

namespace {

// The bitmaps of the `names` present in `bitmaps`.
template <typename Bitmaps>
std::vector<const Roaring*> present(const Bitmaps& bitmaps, std::span<const std::string> names) {
  std::vector<const Roaring*> out;
  for (const std::string& name : names) {
    auto it = bitmaps.find(name);
    if (it != bitmaps.end()) out.push_back(&it->second);
  }
  return out;
}

// The union of `bitmaps` (at least one): the bitmap itself when there is one.
const Roaring* union_of(std::vector<const Roaring*>& bitmaps, Roaring& scratch) {
  if (bitmaps.size() == 1) return bitmaps[0];
  scratch = Roaring::fastunion(bitmaps.size(), bitmaps.data());
  return &scratch;
}

}  // namespace

const Roaring* SegmentBitmaps::matching(std::span<const std::string> types,
                                        std::span<const std::string> categories, Roaring& scratch) const {
  std::vector<const Roaring*> by_type = present(types_, types);
  std::vector<const Roaring*> by_category = present(categories_, categories);
  if ((!types.empty() && by_type.empty()) || (!categories.empty() && by_category.empty())) return nullptr;
  if (types.empty() && categories.empty()) return nullptr;
  if (categories.empty()) return union_of(by_type, scratch);
  if (types.empty()) return union_of(by_category, scratch);
  Roaring category_scratch;
  const Roaring* in_categories = union_of(by_category, category_scratch);
  const Roaring* of_types = union_of(by_type, scratch);
  if (of_types == &scratch) {
    scratch &= *in_categories;
  } else {
    scratch = *of_types & *in_categories;
  }
  return &scratch;
}

namespace {

void encode_entries(const std::map<std::string, Roaring, std::less<>>& bitmaps, std::string& out) {
  for (const auto& [name, bitmap] : bitmaps) {
    Roaring optimized = bitmap;  // run containers where they are smaller
    optimized.runOptimize();
    size_t size = optimized.getSizeInBytes();
    format::append_u16(out, static_cast<uint16_t>(name.size()));
    format::append_u32(out, static_cast<uint32_t>(size));
    out += name;
    size_t at = out.size();
    out.resize(at + size);
    optimized.write(out.data() + at);
  }
}

}  // namespace

void SegmentBitmaps::encode(std::string& out) const {
  size_t start = out.size();
  format::append_u32(out, kEncodingVersion);
  out += separator_;
  out.append(3, '\0');
  format::append_u32(out, static_cast<uint32_t>(types_.size()));
  format::append_u32(out, static_cast<uint32_t>(categories_.size()));
  format::append_u64(out, end_);
  format::append_u64(out, 0);  // the length, filled in below
  encode_entries(types_, out);
  encode_entries(categories_, out);
  format::put_u64(out.data() + start + 24, out.size() - start);
}

namespace {

// Decodes `count` entries into `bitmaps`: names non-empty and increasing,
// every bitmap well formed, non-empty and below `end`.
std::optional<Problem> decode_entries(Cursor& c, uint32_t count, uint64_t end,
                                      std::map<std::string, Roaring, std::less<>>& bitmaps) {
  std::string_view previous;
  for (uint32_t i = 0; i < count; ++i) {
    if (!c.has(kEntryFixedSize)) return problem(c, "entry truncated");
    size_t entry_at = c.offset();
    uint16_t name_len = c.u16();
    uint32_t bitmap_len = c.u32();
    if (name_len == 0) return Problem{entry_at, "empty name"};
    if (!c.has(name_len)) return problem(c, "name truncated");
    std::string_view name = c.bytes(name_len);
    if (i > 0 && name <= previous) return Problem{entry_at, "names not in increasing order"};
    if (!c.has(bitmap_len)) return problem(c, "bitmap truncated");
    size_t bitmap_at = c.offset();
    std::string_view bitmap_bytes = c.bytes(bitmap_len);
    PortableSummary summary;
    if (auto bad = check_portable(bitmap_bytes, bitmap_at, summary)) return bad;
    if (summary.max >= end) return Problem{bitmap_at, "position past the end the header gives"};
    Roaring bitmap = Roaring::readSafe(bitmap_bytes.data(), bitmap_bytes.size());
    if (bitmap.cardinality() != summary.cardinality) return Problem{bitmap_at, "bitmap not read back whole"};
    bitmaps.emplace(std::string(name), std::move(bitmap));
    previous = name;
  }
  return std::nullopt;
}

}  // namespace

Result<SegmentBitmaps> SegmentBitmaps::decode(std::string_view bytes, const std::string& where) {
  auto corrupt = [&](const Problem& p) {
    return Status::corruption(where + " at offset " + std::to_string(p.offset) +
                              ": type and category bitmaps: " + p.what);
  };
  Cursor header(bytes);
  if (!header.has(kHeaderSize)) return corrupt({0, "header truncated"});
  uint32_t version = header.u32();
  if (version != kEncodingVersion) {
    return Status::unsupported_version(where + ": type and category bitmaps of encoding version " +
                                       std::to_string(version) + " (this build reads version 1)");
  }
  SegmentBitmaps out(header.bytes(1)[0]);
  if (header.bytes(3) != std::string_view("\0\0\0", 3)) return corrupt({5, "reserved bytes not zero"});
  uint32_t type_count = header.u32();
  uint32_t category_count = header.u32();
  out.end_ = header.u64();
  uint64_t length = header.u64();
  if (out.end_ > (uint64_t{1} << 32)) return corrupt({16, "end past 2^32"});
  if (length < kHeaderSize || length > bytes.size()) {
    return corrupt({24, "length " + std::to_string(length) + " outside [32, " +
                            std::to_string(bytes.size()) + "]"});
  }
  std::string_view body = bytes.substr(kHeaderSize, length - kHeaderSize);
  Cursor c(body, kHeaderSize);
  if (auto bad = decode_entries(c, type_count, out.end_, out.types_)) return corrupt(*bad);
  if (auto bad = decode_entries(c, category_count, out.end_, out.categories_)) return corrupt(*bad);
  if (c.has(1)) return corrupt(problem(c, "bytes after the last entry"));
  return out;
}

void collect_forward(const Roaring& bitmap, uint32_t from, uint64_t end, size_t max_count,
                     std::vector<uint32_t>& out) {
  roaring_uint32_iterator_t it;
  roaring_init_iterator(&bitmap.roaring, &it);
  roaring_move_uint32_iterator_equalorlarger(&it, from);
  for (size_t n = 0; n < max_count && it.has_value && it.current_value < end; ++n) {
    out.push_back(it.current_value);
    roaring_advance_uint32_iterator(&it);
  }
}

void collect_backward(const Roaring& bitmap, uint32_t from, size_t max_count, std::vector<uint32_t>& out) {
  roaring_uint32_iterator_t it;
  // Start at the last member <= from: one before the first member > from.
  roaring_init_iterator(&bitmap.roaring, &it);
  if (from == UINT32_MAX || !roaring_move_uint32_iterator_equalorlarger(&it, from + 1)) {
    roaring_init_iterator_last(&bitmap.roaring, &it);
  } else {
    roaring_previous_uint32_iterator(&it);
  }
  for (size_t n = 0; n < max_count && it.has_value; ++n) {
    out.push_back(it.current_value);
    roaring_previous_uint32_iterator(&it);
  }
}

}  // namespace cairn::index
