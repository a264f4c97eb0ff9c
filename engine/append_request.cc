#include "engine/append_request.h"

namespace cairn::engine {

size_t RequestPool::buffer_bytes(const AppendRequest& r) {
  return r.stream.capacity() + r.frame.capacity() + r.ids.capacity() * sizeof(EventId);
}

std::unique_ptr<AppendRequest> RequestPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!kept_.empty()) {
      std::unique_ptr<AppendRequest> r = std::move(kept_.back());
      kept_.pop_back();
      kept_bytes_ -= buffer_bytes(*r);
      return r;
    }
  }
  return std::make_unique<AppendRequest>();
}

void RequestPool::give(std::vector<std::unique_ptr<AppendRequest>>& finished) {
  for (auto& r : finished) {
    if (buffer_bytes(*r) > kMaxRequestBytes) {
      r.reset();
      continue;
    }
    r->stream.clear();
    r->expected = ExpectedVersion::any();
    r->frame.clear();
    r->batch = format::BatchView();
    r->ids.clear();
    r->durability = Durability::kSync;
    r->done = nullptr;
    r->waiter = nullptr;
    r->result = Status::closed("not processed");
  }
  {
    std::lock_guard lock(mu_);
    for (auto& r : finished) {
      if (!r || kept_.size() >= kMaxKept) continue;
      size_t bytes = buffer_bytes(*r);
      if (kept_bytes_ + bytes > kMaxKeptBytes) continue;
      kept_bytes_ += bytes;
      kept_.push_back(std::move(r));
    }
  }
  finished.clear();  // what was not kept is freed here, outside mu_
}

}  // namespace cairn::engine
