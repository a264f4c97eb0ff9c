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

std::unique_ptr<Segment> Segment::deferred(FileSystem& fs, std::string path, HeaderCheck check) {
  return std::unique_ptr<Segment>(new Segment(std::move(path), Loader{&fs, std::move(check)}));
}

Status Segment::load() const {
  if (data_.load(std::memory_order_acquire) != nullptr || !loader_) return Status();
  std::lock_guard lock(load_mu_);
  if (!load_status_) load_status_ = map_deferred();
  return *load_status_;
}

// The descriptor is closed once mapped, as a sealed segment's is at open.
Status Segment::map_deferred() const {
  auto file = loader_->fs->open(path_, OpenMode::kRead);
  if (!file.ok()) return file.status();
  auto size = (*file)->size();
  if (!size.ok()) return size.status();
  if (*size == 0) return Status::corruption(path_ + ": the segment file is empty");
  auto mapping = (*file)->map(*size);
  if (!mapping.ok()) return mapping.status();
  std::string_view header((*mapping)->data(), std::min<uint64_t>(*size, format::kSegmentHeaderSize));
  if (Status s = loader_->check(header); !s.ok()) return s;
  mapping_ = std::move(*mapping);
  file_size_at_open_ = *size;
  data_.store(mapping_->data(), std::memory_order_release);
  return Status();
}

std::string_view Segment::file_name() const {
  std::string_view p = path();
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

}  // namespace cairn::engine
