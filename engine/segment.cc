#include "engine/segment.h"

#include <algorithm>

namespace cairn::engine {

Result<std::unique_ptr<Segment>> Segment::create(FileSystem& fs, const std::string& dir,
                                                 const std::string& name,
                                                 const format::SegmentHeader& header,
                                                 uint64_t map_bytes) {
  std::string tmp = dir + "/" + name + ".tmp";
  {
    auto file = fs.open(tmp, OpenMode::kCreate);
    if (!file.ok()) return file.status();
    if (Status s = (*file)->truncate(0); !s.ok()) return s;
    if (Status s = (*file)->write_at(0, format::encode_segment_header(header)); !s.ok()) return s;
    if (Status s = (*file)->sync(); !s.ok()) return s;
  }
  std::string path = dir + "/" + name;
  if (Status s = fs.rename(tmp, path, /*replace=*/false); !s.ok()) return s;
  if (Status s = fs.sync_dir(dir); !s.ok()) return s;
  return open(fs, path, /*read_only=*/false, map_bytes);
}

Result<std::unique_ptr<Segment>> Segment::create_from_prepared(
    FileSystem& fs, const std::string& dir, const std::string& name,
    const format::SegmentHeader& header, uint64_t map_bytes, File& prepared,
    const std::string& prepared_path) {
  if (Status s = prepared.write_at(0, format::encode_segment_header(header)); !s.ok()) return s;
  if (Status s = prepared.sync(); !s.ok()) return s;
  std::string path = dir + "/" + name;
  if (Status s = fs.rename(prepared_path, path, /*replace=*/false); !s.ok()) return s;
  if (Status s = fs.sync_dir(dir); !s.ok()) return s;
  return open(fs, path, /*read_only=*/false, map_bytes);
}

Result<std::unique_ptr<Segment>> Segment::open(FileSystem& fs, const std::string& path,
                                               bool read_only, uint64_t map_bytes) {
  auto file = fs.open(path, read_only ? OpenMode::kRead : OpenMode::kReadWrite);
  if (!file.ok()) return file.status();
  auto size = (*file)->size();
  if (!size.ok()) return size.status();
  auto mapping = (*file)->map(std::max(*size, map_bytes));
  if (!mapping.ok()) return mapping.status();
  return std::unique_ptr<Segment>(new Segment(std::move(*file), std::move(*mapping), *size));
}

std::string_view Segment::file_name() const {
  std::string_view p = path();
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

}  // namespace cairn::engine
