#include "engine/subscription_checkpoints.h"

#include "format/subscription_file.h"

namespace cairn::engine {
namespace {

// Rewrite the file when it is this large and mostly dead records.
constexpr uint64_t kRewriteBytes = 1u << 20;
constexpr uint64_t kRewriteRatio = 8;

Status check_name(std::string_view name) {
  if (name.empty()) return Status::invalid_argument("a subscription checkpoint name is empty");
  if (name.size() > format::kMaxSubscriptionNameBytes) {
    return Status::invalid_argument("subscription checkpoint name of " + std::to_string(name.size()) +
                                    " bytes is longer than " + std::to_string(format::kMaxSubscriptionNameBytes));
  }
  return Status();
}

}  // namespace

Result<std::unique_ptr<SubscriptionCheckpoints>> SubscriptionCheckpoints::open(FileSystem& fs, std::string dir,
                                                                                const format::StoreId& store_id,
                                                                                bool writable) {
  std::unique_ptr<SubscriptionCheckpoints> out(new SubscriptionCheckpoints(fs, std::move(dir), store_id, writable));
  auto bytes = read_file(fs, out->path());
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound) return out;
    return bytes.status();
  }
  auto content = format::decode_subscriptions(*bytes, out->path());
  if (!content.ok()) return content.status();
  if (content->store_id != store_id) {
    return Status::corruption(out->path() + ": belongs to another store (its store id differs from STORE's)");
  }
  out->cursors_ = std::move(content->cursors);
  out->records_ = content->records;
  out->end_ = content->valid_end;
  return out;
}

std::string SubscriptionCheckpoints::path() const { return dir_ + "/" + format::kSubscriptionsFileName; }

std::optional<uint64_t> SubscriptionCheckpoints::get(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = cursors_.find(name);
  if (it == cursors_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, uint64_t, std::less<>> SubscriptionCheckpoints::all() const {
  std::lock_guard lock(mu_);
  return cursors_;
}

Status SubscriptionCheckpoints::save(std::string_view name, uint64_t cursor) {
  if (Status s = check_name(name); !s.ok()) return s;
  if (cursor == format::kRemovedCursor) {
    return Status::invalid_argument("subscription checkpoint " + std::to_string(cursor) + " is reserved");
  }
  std::lock_guard lock(mu_);
  if (Status s = append(name, cursor); !s.ok()) return s;
  cursors_.insert_or_assign(std::string(name), cursor);
  return rewrite_if_mostly_dead();
}

Status SubscriptionCheckpoints::remove(std::string_view name) {
  if (Status s = check_name(name); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto it = cursors_.find(name);
  if (it == cursors_.end()) return Status::not_found("no subscription checkpoint named '" + std::string(name) + "'");
  if (Status s = append(name, format::kRemovedCursor); !s.ok()) return s;
  cursors_.erase(it);
  return rewrite_if_mostly_dead();
}

Status SubscriptionCheckpoints::append(std::string_view name, uint64_t cursor) {
  if (!writable_) return Status::read_only(dir_ + ": store is open read-only");
  if (!failed_.ok()) return failed_;
  if (Status s = open_for_append(); !s.ok()) return s;
  std::string record = format::encode_subscription_record(name, cursor);
  Status s = file_->write_at(end_, record);
  if (s.ok()) s = file_->sync();
  if (!s.ok()) {
    failed_ = Status::io_error(path() + ": an earlier checkpoint save failed (reopen the store): " + s.message());
    return s;
  }
  end_ += record.size();
  ++records_;
  return Status();
}

Status SubscriptionCheckpoints::rewrite_if_mostly_dead() {
  if (end_ <= kRewriteBytes || records_ <= kRewriteRatio * (cursors_.size() + 1)) return Status();
  return rewrite();
}

// Creates the file (a header alone, atomically) or opens it and cuts what
// follows its last whole record.
Status SubscriptionCheckpoints::open_for_append() {
  if (file_) return Status();
  if (end_ == 0) {
    if (Status s = write_file_atomically(fs_, dir_, format::kSubscriptionsFileName,
                                         format::encode_subscriptions_header(store_id_));
        !s.ok()) {
      return s;
    }
    end_ = format::kSubscriptionsHeaderSize;
  }
  auto file = fs_.open(path(), OpenMode::kReadWrite);
  if (!file.ok()) return file.status();
  if (Status s = (*file)->truncate(end_); !s.ok()) return s;
  file_ = std::move(*file);
  return Status();
}

// Writes the live checkpoints to a new file that replaces the old one.
Status SubscriptionCheckpoints::rewrite() {
  std::string bytes = format::encode_subscriptions_header(store_id_);
  for (const auto& [name, cursor] : cursors_) bytes += format::encode_subscription_record(name, cursor);
  file_.reset();
  if (Status s = write_file_atomically(fs_, dir_, format::kSubscriptionsFileName, bytes); !s.ok()) {
    failed_ = Status::io_error(path() + ": rewriting the checkpoints failed (reopen the store): " + s.message());
    return s;
  }
  end_ = bytes.size();
  records_ = cursors_.size();
  return Status();
}

}  // namespace cairn::engine
