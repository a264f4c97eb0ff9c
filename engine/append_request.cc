#include "engine/append_request.h"

namespace cairn::engine {

std::unique_ptr<AppendRequest> RequestPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!kept_.empty()) {
      std::unique_ptr<AppendRequest> r = std::move(kept_.back());
      kept_.pop_back();
      return r;
    }
  }
  return std::make_unique<AppendRequest>();
}

void RequestPool::give(std::vector<std::unique_ptr<AppendRequest>>& finished) {
  for (auto& r : finished) {
    if (r->frame.capacity() > kMaxKeptFrame) {
      r.reset();
      continue;
    }
    r->stream.clear();
    r->expected = ExpectedVersion::any();
    r->frame.clear();
    r->ids.clear();
    r->durability = Durability::kSync;
    r->done = nullptr;
    r->waiter = nullptr;
    r->result = Status::closed("not processed");
  }
  {
    std::lock_guard lock(mu_);
    for (auto& r : finished) {
      if (r && kept_.size() < kMaxKept) kept_.push_back(std::move(r));
    }
  }
  finished.clear();  // what was not kept is freed here, outside mu_
}

}  // namespace cairn::engine
