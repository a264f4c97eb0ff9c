#include "engine/recovery.h"

#include "engine/clean_close.h"
#include "engine/clock.h"
#include "engine/index_checkpoint.h"
#include "format/coding.h"
#include "format/footer.h"
#include "format/frame.h"
#include "format/segment_name.h"
#include "format/segment_scan.h"

#include <algorithm>

namespace cairn::engine {
namespace {

format::StoreId new_store_id() {
  EventId id = EventId::random();
  return id.bytes;
}


struct NamedSegment {
  format::SegmentName name;
  std::string file;
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A directory holding nothing but what an unfinished store creation leaves.
bool holds_no_store_files(const std::vector<std::string>& names) {
  return std::all_of(names.begin(), names.end(), [](const std::string& n) {
    return n == format::kLockFileName || n == std::string(format::kStoreFileName) + ".tmp";
  });
}

// Finds the STORE file, or creates a new store in an empty directory.
Status open_identity(FileSystem& fs, const std::string& dir, const Options& options,
                     const std::vector<std::string>& names, Recovered& out) {
  std::string store_file = dir + "/" + std::string(format::kStoreFileName);
  bool has_store = std::find(names.begin(), names.end(), format::kStoreFileName) != names.end();
  if (!has_store) {
    if (!holds_no_store_files(names)) {
      return Status::not_a_store(dir + ": not a Cairn store: the directory holds files but no " +
                                 std::string(format::kStoreFileName) + " file");
    }
    if (options.read_only || !options.create_if_missing) {
      return Status::not_found(dir + ": no Cairn store here (" + std::string(format::kStoreFileName) +
                               " is missing)");
    }
    out.identity = format::StoreIdentity{new_store_id(), wall_clock_ns()};
    return write_file_atomically(fs, dir, std::string(format::kStoreFileName),
                                 format::encode_store_file(out.identity), /*replace=*/false);
  }
  auto bytes = read_file(fs, store_file);
  if (!bytes.ok()) return bytes.status();
  auto identity = format::decode_store_file(*bytes, store_file);
  if (!identity.ok()) return identity.status();
  out.identity = *identity;
  return Status();
}

// A checkpoint that did not finish leaves its marker: the directory may hold
// any part of the store it copies, so it is not opened at all.
Status refuse_incomplete_checkpoint(const std::string& dir, const std::vector<std::string>& names) {
  if (std::find(names.begin(), names.end(), format::kCheckpointMarkerName) == names.end()) return Status();
  return Status::incomplete_checkpoint(dir + ": incomplete checkpoint: " + std::string(format::kCheckpointMarkerName) +
                                       " is present, so a Store::checkpoint into this directory did not finish "
                                       "and it may hold only part of the store; take the checkpoint again");
}

Result<std::vector<NamedSegment>> list_segments(FileSystem& fs, const std::string& dir,
                                                const std::vector<std::string>& names,
                                                bool read_only) {
  std::vector<NamedSegment> segments;
  for (const std::string& n : names) {
    if (ends_with(n, ".seg.tmp") && !read_only) {
      // A segment whose creation did not finish: it never held an event.
      if (Status s = fs.remove(dir + "/" + n); !s.ok()) return s;
      continue;
    }
    if (auto parsed = format::parse_segment_file_name(n)) segments.push_back({*parsed, n});
  }
  std::sort(segments.begin(), segments.end(), [](const NamedSegment& a, const NamedSegment& b) {
    return a.name.sequence < b.name.sequence;
  });
  for (size_t i = 0; i < segments.size(); ++i) {
    uint64_t expected = i == 0 ? 1 : segments[i - 1].name.sequence + 1;
    if (segments[i].name.sequence != expected) {
      std::string after = i == 0 ? "the start of the log" : segments[i - 1].file;
      return Status::corruption(dir + "/" + segments[i].file + ": segment " +
                                std::to_string(expected) + " is missing (expected after " + after + ")");
    }
  }
  return segments;
}

Status check_header(const format::SegmentHeader& h, const NamedSegment& seg, const std::string& path,
                    const format::StoreIdentity& identity, uint64_t expected_first) {
  if (h.sequence != seg.name.sequence || h.first_position != seg.name.first_position) {
    return Status::corruption(format::file_offset(path, 16) + ": header says segment " +
                              std::to_string(h.sequence) + " from position " +
                              std::to_string(h.first_position) + ", unlike its name");
  }
  if (h.store_id != identity.store_id) {
    return Status::corruption(format::file_offset(path, 32) + ": segment belongs to another store");
  }
  if (h.first_position != expected_first) {
    return Status::corruption(path + ": starts at position " + std::to_string(h.first_position) +
                              ", but the previous segment ends at " + std::to_string(expected_first) +
                              " (a segment is missing or was replaced)");
  }
  return Status();
}

// The clean close's record, when one matches the store (else a note says
// why it is not used).
std::optional<format::CleanRecord> clean_record(FileSystem& fs, const std::string& dir,
                                                const std::vector<std::string>& names, Recovered& out) {
  std::string why_not;
  auto record = read_clean_record(fs, dir, names, out.identity.store_id, why_not);
  if (!why_not.empty()) out.notes.push_back("clean-close record not used: " + why_not);
  out.clean_record_found = record.has_value();
  return record;
}

// Lets the scan of the last segment skip reading its zeros when the clean
// close's record names it.
void trust_clean_record(const std::optional<format::CleanRecord>& record, const format::SegmentHeader& header,
                        format::ScanOptions& options, Recovered& out) {
  if (!record || !options.is_last) return;
  if (record->segment_sequence != header.sequence) {
    out.notes.push_back("clean-close record not used: it names segment " + std::to_string(record->segment_sequence) +
                        ", the last segment is " + std::to_string(header.sequence));
    return;
  }
  options.clean_data_end = record->data_end;
  options.clean_next_position = record->next_position;
}

}  // namespace

namespace {

// One attempt; sets *directory_failed when a lookup in the index
// checkpoint's stream directory failed while the log was scanned.
Result<Recovered> recover_once(FileSystem& fs, const std::string& dir, const Options& options,
                               bool* directory_failed) {
  Recovered out;
  out.read_only = options.read_only;
  auto is_dir = fs.is_dir(dir);
  if (!is_dir.ok()) {
    if (is_dir.status().code() != Code::kNotFound || options.read_only || !options.create_if_missing) {
      return is_dir.status();
    }
    if (Status s = fs.create_dirs(dir); !s.ok()) return s;
  } else if (!*is_dir) {
    return Status::not_a_store(dir + ": not a Cairn store: not a directory");
  }
  auto names = fs.list(dir);
  if (!names.ok()) return names.status();
  if (Status s = refuse_incomplete_checkpoint(dir, *names); !s.ok()) return s;
  if (!options.read_only) {
    bool is_store = std::find(names->begin(), names->end(), format::kStoreFileName) != names->end();
    if (is_store || holds_no_store_files(*names)) {  // never drop a LOCK file into somebody else's directory
      auto lock = fs.lock(dir + "/" + std::string(format::kLockFileName));
      if (!lock.ok()) return lock.status();
      out.lock = std::move(*lock);
      // What another writer did before we held the lock: list again.
      names = fs.list(dir);
      if (!names.ok()) return names.status();
    }
  }
  if (Status s = open_identity(fs, dir, options, *names, out); !s.ok()) return s;
  if (!out.lock && !options.read_only) {
    return Status::not_a_store(dir + ": not a Cairn store");
  }
  auto segments = list_segments(fs, dir, *names, options.read_only);
  if (!segments.ok()) return segments.status();
  std::optional<format::CleanRecord> clean = clean_record(fs, dir, *names, out);

  // A read-only store never appends, so it needs no idempotency window.
  out.log = std::make_unique<Log>(options.read_only ? 0 : options.idempotency_window, options.category_separator);
  // The last segment is opened now; the sealed ones before it are deferred
  // (Segment::deferred): those the index checkpoint covers whole are opened
  // on first use, the others below, to be scanned.
  std::vector<std::unique_ptr<Segment>> opened;
  std::vector<Segment*> raw_segments;
  for (size_t i = 0; i < segments->size(); ++i) {
    const NamedSegment& seg = (*segments)[i];
    std::string path = dir + "/" + seg.file;
    std::unique_ptr<Segment> segment;
    if (i + 1 < segments->size()) {
      segment = Segment::deferred(fs, path, [seg, path, identity = out.identity](std::string_view bytes) {
        auto header = format::decode_segment_header(bytes, path);
        if (!header.ok()) return header.status();
        return check_header(*header, seg, path, identity, seg.name.first_position);
      });
    } else {
      auto last = Segment::open(fs, path, out.read_only, options.segment_bytes);
      if (!last.ok()) return last.status();
      segment = std::move(*last);
    }
    raw_segments.push_back(segment.get());
    opened.push_back(std::move(segment));
  }
  std::string why_not;
  std::optional<LoadedCheckpoint> loaded;
  if (!options.verify_on_open) {
    loaded = load_checkpoint(fs, dir, *names, out.identity.store_id, raw_segments, options, why_not);
    if (!loaded && !segments->empty()) out.notes.push_back(why_not + "; scanning the log to index it");
  }
  size_t covered = loaded ? loaded->checkpoint.segments.size() : 0;
  size_t whole = loaded && loaded->last_partial ? covered - 1 : covered;
  if (loaded) {
    out.checkpoint = loaded->checkpoint;
    out.log->set_checkpoint(loaded->checkpoint);
  }

  uint64_t next_position = 0;
  bool sealed = true;  // no segment yet counts as sealed: a new one is needed
  // Whether the log holds anything after the checkpoint: batches, a torn
  // tail or a segment it does not cover. Everything the checkpoint covers
  // was durable before its files were written (a seal's or a close's
  // fdatasync comes first), and so were their directory entries.
  bool beyond_checkpoint = !loaded;
  for (size_t i = 0; i < segments->size(); ++i) {
    const NamedSegment& seg = (*segments)[i];
    std::string path = dir + "/" + seg.file;
    bool is_last = i + 1 == segments->size();
    Segment* raw = opened[i].get();
    uint32_t ordinal = out.log->add_segment(std::move(opened[i]));
    if (i < covered) {
      out.log->set_bitmaps_source(ordinal, loaded->checkpoint.segments[i]);
    }
    if (i + 1 < covered) {  // indexed whole by the checkpoint: not opened
      out.deferred_segments++;
      next_position = loaded->checkpoint.segments[i]->end_position();
      continue;
    }
    if (Status s = raw->load(); !s.ok()) return s;
    std::string_view bytes = raw->bytes(0, raw->file_size_at_open());
    auto header = format::decode_segment_header(bytes, path);
    if (!header.ok()) return header.status();
    if (Status s = check_header(*header, seg, path, out.identity, next_position); !s.ok()) return s;

    if (i < whole) {  // indexed whole by the checkpoint (its index loaded): not read
      const format::SegmentIndexHeader& h = loaded->checkpoint.segments[i]->loaded()->header();
      next_position = h.first_position + h.event_count;
      raw->set_sealed_end(h.data_end + format::kFooterFrameSize);
      if (!is_last) raw->close_file();
      out.active = ActiveSegment{raw, ordinal, header->sequence, header->first_position, h.data_end, h.batch_count,
                                 h.event_count};
      continue;
    }
    format::ScanOptions scan_options{is_last, options.open_intact_prefix};
    if (i < covered) {  // indexed in part: the scan resumes where the index ends
      scan_options.start_offset = loaded->resume_offset;
      scan_options.start_batches = loaded->resume_batches;
      scan_options.start_events = loaded->resume_events;
    }
    trust_clean_record(clean, *header, scan_options, out);
    auto scan = format::scan_segment(bytes, path, scan_options, [&](const format::ScannedBatch& b) {
      out.scanned_batches++;
      return out.log->index_batch(ordinal, b.offset, b.frame_size, b.batch);
    });
    if (out.log->directory_failed()) {  // derived data, not the log: the caller opens without it
      *directory_failed = true;
      return scan.ok() ? Status::corruption(path + ": the index checkpoint's stream directory is damaged")
                       : scan.status();
    }
    if (!scan.ok()) return scan.status();
    out.tail_check_skipped = scan->tail_check_skipped;
    if (scan_options.clean_data_end != 0 && !scan->tail_check_skipped) {
      out.notes.push_back("clean-close record not used: it says the log ends at " +
                          format::file_offset(path, clean->data_end) + ", position " +
                          std::to_string(clean->next_position) + ", but it ends at offset " +
                          std::to_string(scan->data_end) + ", position " +
                          std::to_string(header->first_position + scan->event_count));
    }
    if (i >= covered || scan->batch_count > scan_options.start_batches || scan->torn || scan->corruption) {
      beyond_checkpoint = true;
    }
    next_position = header->first_position + scan->event_count;
    sealed = scan->footer.has_value();
    if (sealed) raw->set_sealed_end(scan->data_end + format::kFooterFrameSize);
    if (!is_last) raw->close_file();
    if (scan->corruption) {
      out.read_only = true;
      out.notes.push_back("corruption: " + scan->torn_reason + "; opened the intact prefix read-only");
      break;
    }
    if (scan->torn) {
      out.notes.push_back(format::file_offset(path, scan->data_end) + ": torn tail (" +
                          scan->torn_reason + ") of " +
                          std::to_string(bytes.size() - scan->data_end) + " bytes" +
                          (out.read_only ? " ignored" : " cut off"));
      if (!out.read_only) {
        if (Status s = raw->file().truncate(scan->data_end); !s.ok()) return s;
      }
    }
    // A crashed writer may have left written but unsynced batches: make them
    // durable before readers can see them (and before the cut is relied on).
    if (is_last && !out.read_only && beyond_checkpoint) {
      if (Status s = raw->file().sync(); !s.ok()) return s;
    }
    out.active = ActiveSegment{raw, ordinal, header->sequence, header->first_position,
                               scan->data_end, scan->batch_count, scan->event_count};
  }
  if (!out.read_only && beyond_checkpoint) {
    // Entries a crashed writer renamed or created may not be durable yet.
    if (Status s = fs.sync_dir(dir); !s.ok()) return s;
  }
  out.log->publish(next_position);
  if (out.read_only || !sealed) return out;

  // The last segment is sealed (or there is none): start the next one.
  auto active = start_segment(fs, dir, *out.log, out.identity.store_id, out.active.sequence + 1,
                              next_position, options.segment_bytes);
  if (!active.ok()) return active.status();
  out.active = *active;
  return out;
}

}  // namespace

// The index checkpoint is derived data: a damaged block of its stream
// directory, found only when the scan of the log after it looks a stream
// up, must not fail the open (nor, with open_intact_prefix, cut the log at
// a healthy batch). The first attempt (and its lock) is dropped, and the
// store opened again with every segment scanned (verify_on_open).
Result<Recovered> recover(FileSystem& fs, const std::string& dir, const Options& options) {
  bool directory_failed = false;
  auto first = recover_once(fs, dir, options, &directory_failed);
  if (!directory_failed) return first;
  Status why = first.ok() ? Status() : first.status();
  first = Status::closed("dropped");  // releases the lock before the second attempt takes it
  Options scan_all = options;
  scan_all.verify_on_open = true;
  bool again = false;
  auto second = recover_once(fs, dir, scan_all, &again);
  if (second.ok()) {
    second->notes.push_back("index checkpoint not used: a block of its stream directory is damaged (" +
                            why.message() + "); scanned the whole log");
  }
  return second;
}

}  // namespace cairn::engine
