#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>

namespace taskpool::daemon::sched {

/// The jobs of one pool waiting for a worker, highest priority first and, among
/// equal priorities, in arrival order (by sequence number: std::priority_queue alone
/// is not FIFO among equals). Removal of a cancelled job is O(log n).
/// The bound (queue.max_size) is the scheduler's to enforce. Not thread-safe: owned
/// by the scheduler.
template <class T>
class ReadyQueue {
public:
    void push(int priority, std::uint64_t seq, T value) { set_.insert({priority, seq, value}); }

    std::optional<T> pop() {
        if (set_.empty()) {
            return std::nullopt;
        }
        auto it = set_.begin();
        T value = it->value;
        set_.erase(it);
        return value;
    }

    bool remove(int priority, std::uint64_t seq) {
        return set_.erase(Entry{priority, seq, T{}}) > 0;
    }

    std::size_t size() const { return set_.size(); }
    bool empty() const { return set_.empty(); }

    /// Visits the entries in the order pop() would return them.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& e : set_) {
            f(e.value);
        }
    }

private:
    struct Entry {
        int priority;
        std::uint64_t seq;
        T value;
        bool operator<(const Entry& o) const {
            return priority != o.priority ? priority > o.priority : seq < o.seq;
        }
    };
    std::set<Entry> set_;
};

}  // namespace taskpool::daemon::sched
