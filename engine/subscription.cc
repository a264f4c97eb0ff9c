#include "engine/subscription.h"

#include "engine/thread_name.h"
#include "format/index_file.h"
#include "format/subscription_file.h"

#include <algorithm>

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

Status check_names(const std::vector<std::string>& names, const char* what) {
  for (const std::string& n : names) {
    if (n.empty()) return Status::invalid_argument(std::string("an empty ") + what + " in the subscription filter");
  }
  return Status();
}

Status check_options(const SubscriptionOptions& o) {
  if (o.max_batch == 0) return Status::invalid_argument("SubscriptionOptions::max_batch is 0");
  if (!o.stream.empty() && !o.filter.categories.empty()) {
    return Status::invalid_argument("a stream subscription ('" + o.stream + "') cannot filter by category");
  }
  if (o.group_size > 0 && !o.stream.empty()) {
    return Status::invalid_argument("consumer groups share many streams; '" + o.stream + "' is one stream");
  }
  if (o.group_size > 0 && o.group_member >= o.group_size) {
    return Status::invalid_argument("consumer group member " + std::to_string(o.group_member) +
                                    " is not below the group size " + std::to_string(o.group_size));
  }
  if (o.name.size() > format::kMaxSubscriptionNameBytes) {
    return Status::invalid_argument("subscription name of " + std::to_string(o.name.size()) +
                                    " bytes is longer than " + std::to_string(format::kMaxSubscriptionNameBytes));
  }
  if (Status s = check_names(o.filter.event_types, "event type"); !s.ok()) return s;
  return check_names(o.filter.categories, "category");
}

// Waits are cut into pieces this long, so that a far deadline never
// overflows the clock arithmetic underneath.
constexpr auto kLongestWait = std::chrono::hours(1);

}  // namespace

Result<std::unique_ptr<Subscription::Impl>> Subscription::Impl::make(std::shared_ptr<engine::SubscriptionHub> hub,
                                                                     const SubscriptionOptions& options) {
  if (Status s = check_options(options); !s.ok()) return s;
  uint64_t start = options.from;
  if (!options.name.empty()) {
    auto saved = hub->with_log([&](const engine::Log&) -> Result<std::optional<uint64_t>> {
      return hub->checkpoints().get(options.name);
    });
    if (!saved.ok()) return saved.status();
    if (*saved) start = **saved;
  } else if (Status open = hub->with_log([](const engine::Log&) { return Status(); }); !open.ok()) {
    return open;
  }
  return std::unique_ptr<Impl>(new Impl(std::move(hub), options, start));
}

Subscription::Impl::~Impl() { close(); }

Result<Subscription::Impl::Read> Subscription::Impl::read_below(const engine::Log& log, uint64_t end) {
  uint64_t from = cursor();
  Read out;
  size_t max = options_.max_batch;
  bool filtered = !options_.filter.event_types.empty() || !options_.filter.categories.empty();
  if (!options_.stream.empty()) {
    auto events = log.read_stream(options_.stream, from, max, Direction::kForward);
    if (!events.ok() && events.status().code() != Code::kNotFound) return events.status();
    if (events.ok()) out.events = std::move(*events);
    out.exhausted = out.events.size() < max;
    if (!out.events.empty()) cursor_.store(out.events.back().version + 1, std::memory_order_release);
    if (filtered) {
      std::erase_if(out.events, [&](const RecordedEvent& e) {
        const auto& types = options_.filter.event_types;
        return std::find(types.begin(), types.end(), e.type) == types.end();
      });
    }
    return out;
  }
  if (filtered) {
    auto events = log.read_filtered_below(options_.filter, from, max, end);
    if (!events.ok()) return events.status();
    out.events = std::move(*events);
    // Fewer matches than asked: every position below `end` was searched.
    out.exhausted = out.events.size() < max;
    uint64_t next = out.exhausted ? std::max(from, end) : out.events.back().position + 1;
    cursor_.store(next, std::memory_order_release);
  } else {
    auto events = log.read_all(from, max, Direction::kForward);
    if (!events.ok()) return events.status();
    out.events = std::move(*events);
    out.exhausted = out.events.size() < max;
    if (!out.events.empty()) cursor_.store(out.events.back().position + 1, std::memory_order_release);
  }
  keep_group_members(out.events);
  return out;
}

void Subscription::Impl::keep_group_members(std::vector<RecordedEvent>& events) const {
  if (options_.group_size == 0) return;
  std::erase_if(events, [&](const RecordedEvent& e) {
    return format::stream_hash(e.stream) % options_.group_size != options_.group_member;
  });
}

Result<std::vector<RecordedEvent>> Subscription::Impl::next(std::chrono::milliseconds timeout) {
  if (callback_) return Status::invalid_argument("next() on a callback subscription: its handler gets the events");
  auto now = Clock::now();
  auto deadline = timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now)
                      ? Clock::time_point::max()
                      : now + std::max(timeout, std::chrono::milliseconds(0));
  return wait_and_read(deadline);
}

Result<std::vector<RecordedEvent>> Subscription::Impl::wait_and_read(Clock::time_point deadline) {
  engine::CommitSignal& signal = hub_->signal();
  while (true) {
    if (closed_.load(std::memory_order_acquire)) return status();
    uint64_t end = signal.published();
    auto read = hub_->with_log([&](const engine::Log& log) { return read_below(log, end); });
    if (!read.ok()) {
      stop(read.status());
      return read.status();
    }
    if (!read->events.empty()) return std::move(read->events);
    auto now = Clock::now();
    if (now >= deadline) return std::vector<RecordedEvent>();
    if (!read->exhausted) continue;  // a whole batch of other group members' events
    auto until = deadline - now > kLongestWait ? now + kLongestWait : deadline;
    signal.wait_until([&] { return closed_.load(std::memory_order_acquire) || signal.published() > end; }, until);
  }
}

Status Subscription::Impl::save_checkpoint(uint64_t at) {
  if (options_.name.empty()) return Status::invalid_argument("the subscription has no name to save a checkpoint under");
  if (at > cursor()) {
    return Status::invalid_argument("checkpoint " + std::to_string(at) + " is past the subscription's cursor " +
                                    std::to_string(cursor()) + " (events not delivered yet)");
  }
  return hub_->save_checkpoint(options_.name, at);
}

void Subscription::Impl::stop(Status why) {
  {
    std::lock_guard lock(status_mu_);
    if (status_.ok()) status_ = std::move(why);
  }
  closed_.store(true, std::memory_order_release);
}

Status Subscription::Impl::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

void Subscription::Impl::close() {
  stop(Status::closed("subscription closed"));
  hub_->signal().wake_all();
  if (feeding_thread_.load(std::memory_order_acquire) == std::this_thread::get_id()) return;  // the handler's own
  std::lock_guard lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

void Subscription::Impl::run(SubscriptionHandler handler) {
  callback_ = true;
  std::lock_guard starting(start_mu_);
  thread_ = std::thread([this, h = std::move(handler)] {
    { std::lock_guard started(start_mu_); }  // thread_ is assigned before anything uses it
    feeding_thread_.store(std::this_thread::get_id(), std::memory_order_release);
    engine::name_this_thread("cairn-subscribe");
    feed(h);
    if (orphaned_.load(std::memory_order_acquire)) {
      thread_.detach();
      delete this;
    }
  });
}

bool Subscription::Impl::orphan_if_on_handler_thread() {
  if (!callback_ || feeding_thread_.load(std::memory_order_acquire) != std::this_thread::get_id()) return false;
  stop(Status::closed("subscription closed"));
  orphaned_.store(true, std::memory_order_release);
  return true;
}

void Subscription::Impl::feed(const SubscriptionHandler& handler) {
  while (true) {
    auto events = wait_and_read(Clock::time_point::max());
    if (!events.ok()) return;  // stopped: status() says why
    if (events->empty()) continue;
    Status handled;
    try {
      handled = handler(*events);
    } catch (const std::exception& e) {
      handled = Status::invalid_argument(std::string("subscription handler threw: ") + e.what());
    } catch (...) {
      handled = Status::invalid_argument("subscription handler threw something other than a std::exception");
    }
    if (!handled.ok()) return stop(std::move(handled));
  }
}

// --- the public wrapper ---

Subscription::Subscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscription::~Subscription() {
  if (impl_ && impl_->orphan_if_on_handler_thread()) (void)impl_.release();  // its thread deletes it
}

Result<std::vector<RecordedEvent>> Subscription::next(std::chrono::milliseconds timeout) {
  return impl_->next(timeout);
}
uint64_t Subscription::cursor() const { return impl_->cursor(); }
Status Subscription::save_checkpoint() { return impl_->save_checkpoint(impl_->cursor()); }
Status Subscription::save_checkpoint(uint64_t cursor) { return impl_->save_checkpoint(cursor); }
void Subscription::close() { impl_->close(); }
Status Subscription::status() const { return impl_->status(); }

}  // namespace cairn
