#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/system_timer.hpp>

#include "proto/job.hpp"

namespace taskpool::daemon::sched {

/// Jobs due at a later time (a delay, `run_at`, a back-off between attempts),
/// earliest first, on one timer: 16 bytes a job in a binary heap, and nothing per
/// tick however many wait. The timer is armed for the earliest only.
///
/// An entry is never removed early: a job cancelled, or given another time, leaves
/// its entry to come due and be told apart by `due`'s caller (its state or time no
/// longer match), which keeps every change O(log n) with no index to maintain.
///
/// Times are wall-clock (a `run_at` names one). On the io thread only.
class DueQueue {
public:
    /// `due` is called for each entry whose time has come, in time order.
    DueQueue(asio::io_context& io, std::function<void(proto::Timestamp at, std::uint64_t seq)> due);

    void add(proto::Timestamp at, std::uint64_t seq);
    /// Entries, stale ones included.
    std::size_t size() const { return heap_.size(); }

private:
    struct Entry {
        proto::Timestamp at;
        std::uint64_t seq;
        // std::push_heap keeps the greatest first: the greatest here is the earliest.
        friend bool operator<(const Entry& a, const Entry& b) {
            return a.at != b.at ? a.at > b.at : a.seq > b.seq;
        }
    };
    void arm();
    void fire();

    asio::io_context& io_;
    std::function<void(proto::Timestamp, std::uint64_t)> due_;
    std::vector<Entry> heap_;
    asio::system_timer timer_;
    std::optional<proto::Timestamp> armed_for_;
    bool firing_posted_ = false;
};

}  // namespace taskpool::daemon::sched
