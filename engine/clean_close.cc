#include "engine/clean_close.h"

#include <algorithm>

namespace cairn::engine {

std::optional<format::CleanRecord> read_clean_record(FileSystem& fs, const std::string& dir,
                                                     const std::vector<std::string>& names,
                                                     const format::StoreId& store_id, std::string& why_not) {
  if (std::find(names.begin(), names.end(), format::kCleanFileName) == names.end()) return std::nullopt;
  std::string path = dir + "/" + std::string(format::kCleanFileName);
  auto bytes = read_file(fs, path);
  if (!bytes.ok()) {
    why_not = bytes.status().message();
    return std::nullopt;
  }
  if (format::is_invalidated_clean_record(*bytes)) return std::nullopt;
  auto record = format::decode_clean_record(*bytes, path);
  if (!record.ok()) {
    why_not = record.status().message();
    return std::nullopt;
  }
  if (record->store_id != store_id) {
    why_not = path + ": belongs to another store";
    return std::nullopt;
  }
  return *record;
}

Status invalidate_clean_record(FileSystem& fs, const std::string& dir) {
  auto file = fs.open(dir + "/" + std::string(format::kCleanFileName), OpenMode::kReadWrite);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->write_at(0, std::string(format::kCleanFileSize, '\0')); !s.ok()) return s;
  return (*file)->sync();
}

Status write_clean_record(FileSystem& fs, const std::string& dir, const format::CleanRecord& record) {
  return write_file_atomically(fs, dir, std::string(format::kCleanFileName), format::encode_clean_record(record),
                               /*replace=*/true);
}

}  // namespace cairn::engine
