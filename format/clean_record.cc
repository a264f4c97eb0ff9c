#include "format/clean_record.h"

#include "format/coding.h"

#include <cstring>

namespace cairn::format {

std::string encode_clean_record(const CleanRecord& record) {
  std::string out(kCleanFileSize, '\0');
  std::memcpy(out.data(), kCleanMagic.data(), 8);
  put_u32(out.data() + 8, kFormatVersion);
  std::memcpy(out.data() + 16, record.store_id.data(), 16);
  put_u64(out.data() + 32, record.segment_sequence);
  put_u64(out.data() + 40, record.data_end);
  put_u64(out.data() + 48, record.next_position);
  seal_file_header(out);
  return out;
}

bool is_invalidated_clean_record(std::string_view bytes) {
  return bytes.size() == kCleanFileSize && bytes.find_first_not_of('\0') == std::string_view::npos;
}

Result<CleanRecord> decode_clean_record(std::string_view bytes, const std::string& file) {
  if (Status s = check_file_header(bytes, kCleanMagic, kCleanFileSize, file); !s.ok()) return s;
  if (bytes.size() != kCleanFileSize) {
    return Status::corruption(file + ": " + std::to_string(bytes.size()) + " bytes, a CLEAN file has " +
                              std::to_string(kCleanFileSize));
  }
  if (get_u32(bytes.data() + 12) != 0) return Status::corruption(file + ": reserved bytes at offset 12 are not zero");
  CleanRecord record;
  std::memcpy(record.store_id.data(), bytes.data() + 16, 16);
  record.segment_sequence = get_u64(bytes.data() + 32);
  record.data_end = get_u64(bytes.data() + 40);
  record.next_position = get_u64(bytes.data() + 48);
  return record;
}

}  // namespace cairn::format
