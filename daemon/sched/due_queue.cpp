#include "due_queue.hpp"

#include <algorithm>

#include <asio/post.hpp>

namespace taskpool::daemon::sched {
namespace {

// Entries handed over per turn of the io loop: 100,000 jobs due in the same
// second go out in batches, with requests served between them.
constexpr std::size_t max_due_per_turn = 4096;

}  // namespace

DueQueue::DueQueue(asio::io_context& io,
                   std::function<void(proto::Timestamp at, std::uint64_t seq)> due)
    : io_(io), due_(std::move(due)), timer_(io) {}

void DueQueue::add(proto::Timestamp at, std::uint64_t seq) {
    heap_.push_back({at, seq});
    std::push_heap(heap_.begin(), heap_.end());
    if (!armed_for_ || at < *armed_for_) {
        arm();
    }
}

void DueQueue::arm() {
    if (heap_.empty() || firing_posted_) {
        armed_for_.reset();
        return;
    }
    armed_for_ = heap_.front().at;
    timer_.expires_at(*armed_for_);
    timer_.async_wait([this](std::error_code ec) {
        if (!ec) {
            fire();
        }
    });
}

void DueQueue::fire() {
    firing_posted_ = false;
    auto now = proto::now_timestamp();
    for (std::size_t n = 0; !heap_.empty() && heap_.front().at <= now; ++n) {
        if (n == max_due_per_turn) {
            firing_posted_ = true;
            armed_for_.reset();
            asio::post(io_, [this] { fire(); });
            return;
        }
        std::pop_heap(heap_.begin(), heap_.end());
        Entry e = heap_.back();
        heap_.pop_back();
        due_(e.at, e.seq);
    }
    arm();
}

}  // namespace taskpool::daemon::sched
