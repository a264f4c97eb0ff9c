// The clean-close record (format/clean_record.h, FORMAT.md §13) on disk:
// read by the open, invalidated durably before the first write after it,
// written by a clean close after everything else is durable.
#pragma once

#include "engine/io.h"
#include "format/clean_record.h"

#include <optional>
#include <string>
#include <vector>

namespace cairn::engine {

// The record in `dir` when `names` (the directory's) hold a CLEAN file that
// decodes and belongs to `store_id`; otherwise nullopt, with `why_not` set
// when there is a file that cannot be used (not for an invalidated one).
// Never an error: the open then checks the tail as after a crash.
std::optional<format::CleanRecord> read_clean_record(FileSystem& fs, const std::string& dir,
                                                     const std::vector<std::string>& names,
                                                     const format::StoreId& store_id, std::string& why_not);
// Overwrites CLEAN with zeros in place and fdatasyncs it (cheaper than an
// unlink and a directory fsync, which commits the file system's journal):
// once this returns, no crash can bring the record back. A torn overwrite
// fails the record's checksum, so it is never half valid either.
Status invalidate_clean_record(FileSystem& fs, const std::string& dir);
// Writes CLEAN atomically and durably (through CLEAN.tmp).
Status write_clean_record(FileSystem& fs, const std::string& dir, const format::CleanRecord& record);

}  // namespace cairn::engine
