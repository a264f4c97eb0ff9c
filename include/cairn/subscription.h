// Subscriptions: a gap-free, ordered feed of a store's events, history first
// and then live, that the subscriber pulls at its own pace.
//
//   SubscriptionOptions o;
//   o.filter.categories = {"Order"};
//   o.name = "order-projection";          // resumes where it last saved
//   auto sub = store->subscribe(o).value();
//   while (true) {
//     auto events = sub->next(std::chrono::seconds(1));
//     if (!events.ok()) break;            // kClosed: store or subscription closed
//     for (const RecordedEvent& e : *events) apply(e);
//     sub->save_checkpoint();             // durable: the next run starts after these
//   }
//
// Order and completeness: a subscription delivers, once each and in order,
// every event of its target from its start on: by global position (all
// events, filtered or not) or by version (one stream). It reads from the log
// itself, so the switch from history to live events has no gap and no
// duplicate, a slow subscriber never blocks writers nor holds events in
// memory (it just reads further behind), and an idle one costs a few hundred
// bytes. Only acknowledged events are delivered: after their fdatasync for
// kSync appends, after their write for kBatch and kNone.
//
// Live delivery: each commit wakes the waiting subscribers (no polling).
#pragma once

#include <cairn/event.h>
#include <cairn/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace cairn {

struct SubscriptionOptions {
  // One stream's events by version, when set. Otherwise all events by global
  // position (narrowed by `filter`).
  std::string stream;
  // Event types and/or categories to keep (empty: every event). With
  // `stream`, only event_types may be given.
  ReadFilter filter;
  // The first global position (or stream version, with `stream`) to deliver.
  uint64_t from = 0;
  // A durable checkpoint name: when the store holds a checkpoint under it,
  // delivery starts there and `from` is ignored; save_checkpoint() stores it.
  std::string name;
  // The most events one next() returns (and one handler call receives).
  size_t max_batch = 512;
  // Consumer groups: when group_size > 0, only events of the streams that
  // hash to group_member (stream_hash(name) % group_size, FORMAT.md) are
  // delivered, so group_size subscribers with members 0..group_size-1 share
  // the events, each stream's in order on one member.
  uint32_t group_size = 0;
  uint32_t group_member = 0;
};

class Subscription {
 public:
  // Closes the subscription (and, for a callback one, joins its thread).
  // A handler may destroy its own subscription (to unsubscribe): the
  // handler is not called again, and its thread ends once it returns.
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The next events (at most max_batch, in order), waiting up to `timeout`
  // for at least one. One thread at a time calls next() (close(), cursor()
  // and status() may be called from any thread). An empty vector: the timeout passed. kClosed: the
  // subscription or its store was closed. A callback subscription's events
  // go to its handler instead (next() is kInvalidArgument there).
  Result<std::vector<RecordedEvent>> next(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  // Where delivery continues: the global position (or stream version) after
  // the last event delivered, or further when events in between did not
  // match the filter.
  uint64_t cursor() const;

  // Stores the cursor (by default the current one: everything delivered is
  // processed) durably under the subscription's name, once the events
  // appended so far are durable (Store::sync: it may wait for an
  // fdatasync); kInvalidArgument when it has none (or, from an append
  // callback, while kBatch/kNone appends are unsynced). A callback
  // subscription's handler may call it.
  Status save_checkpoint();
  Status save_checkpoint(uint64_t cursor);

  // Ends delivery: a waiting next() returns kClosed; a callback
  // subscription's handler is not called again, and close() waits for a
  // handler call in progress (from the handler itself it returns at once).
  // Idempotent, from any number of threads at once.
  void close();

  // Ok while delivering; then why delivery ended: kClosed, or the error a
  // handler returned or threw (as kInvalidArgument with its message), or a
  // read error.
  Status status() const;

  class Impl;
  explicit Subscription(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// A callback subscription's handler: called on the subscription's own
// thread with each batch, in order; the next batch is read only when it
// returns (at most max_batch events are in flight). Returning an error, or
// throwing, ends the subscription with that status; the store goes on.
using SubscriptionHandler = std::function<Status(std::span<const RecordedEvent> events)>;

}  // namespace cairn
