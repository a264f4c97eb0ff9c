#include "index/stream_directory.h"

namespace cairn::index {

bool StreamDirectory::damaged() const {
  for (const auto& run : runs_) {
    if (run->damaged()) return true;
  }
  return false;
}

bool StreamDirectory::verify_all() const {
  bool all = true;
  for (const auto& run : runs_) all = run->verify_all() && all;
  return all;
}

Result<std::optional<DirectoryStream>> StreamDirectory::find(std::string_view name) const {
  for (size_t r = runs_.size(); r-- > 0;) {
    auto slot = runs_[r]->find(name);
    if (!slot.ok()) return slot.status();
    if (*slot) return std::optional<DirectoryStream>(DirectoryStream{**slot, static_cast<uint32_t>(r)});
  }
  return std::optional<DirectoryStream>();
}

Result<format::StreamsEntry> StreamDirectory::segment_of(std::string_view name, const DirectoryStream& found,
                                                         uint64_t version) const {
  for (size_t r = found.run + 1; r-- > 0;) {
    std::optional<format::StreamsSlot> slot = found.slot;
    if (r != found.run) {
      auto older = runs_[r]->find(name);
      if (!older.ok()) return older.status();
      slot = *older;
    }
    if (!slot) continue;
    auto first = runs_[r]->entry(slot->entry_start);
    if (!first.ok()) return first.status();
    if (first->first_version <= version) return runs_[r]->segment_of(*slot, version);
  }
  return Status::corruption(runs_[found.run]->path() + ": no run of the stream directory holds version " +
                            std::to_string(version) + " of stream '" + std::string(name) + "'");
}

}  // namespace cairn::index
