#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <utility>

namespace taskpool::daemon::store {

/// The jobs of one pool waiting for a worker, highest priority first and, among
/// equal priorities, in arrival order (by sequence number: std::priority_queue alone
/// is not FIFO among equals).
///
/// Each priority has a lane sorted by sequence number: 16 bytes a job where a tree
/// node would take 64, which matters with a million jobs queued. Jobs arrive in
/// order, so a push appends; a job back from a pool or for a retry goes in near
/// the front, where it was. Removal of a cancelled job is O(log n): it leaves a
/// tombstone that pop() skips, and the lanes are compacted once tombstones
/// outnumber the live entries.
///
/// The bound (queue.max_size) is the scheduler's to enforce. Not thread-safe: owned
/// by the local job store.
template <class T>
class ReadyQueue {
public:
    void push(int priority, std::uint64_t seq, T value) {
        auto& lane = lanes_[priority];
        Entry e{seq, std::move(value)};
        if (lane.empty() || lane.back().seq < seq) {
            lane.push_back(std::move(e));
        } else {
            lane.insert(std::upper_bound(lane.begin(), lane.end(), e, by_seq), std::move(e));
        }
        ++size_;
    }

    std::optional<T> pop() {
        while (!lanes_.empty()) {
            auto lane = lanes_.begin();
            while (!lane->second.empty()) {
                Entry e = std::move(lane->second.front());
                lane->second.pop_front();
                if (e.seq & removed_bit) {
                    --tombstones_;
                    continue;
                }
                --size_;
                return std::move(e.value);
            }
            lanes_.erase(lane);
        }
        return std::nullopt;
    }

    /// Where the best entry stands (its priority, then its seq: lower comes first),
    /// for choosing between queues; none when empty.
    std::optional<std::pair<int, std::uint64_t>> head() {
        while (!lanes_.empty()) {
            auto lane = lanes_.begin();
            auto& entries = lane->second;
            while (!entries.empty() && (entries.front().seq & removed_bit) != 0) {
                entries.pop_front();
                --tombstones_;
            }
            if (!entries.empty()) {
                return std::pair{lane->first, entries.front().seq};
            }
            lanes_.erase(lane);
        }
        return std::nullopt;
    }

    bool remove(int priority, std::uint64_t seq) {
        auto lane = lanes_.find(priority);
        if (lane == lanes_.end()) {
            return false;
        }
        auto& entries = lane->second;
        auto it = std::lower_bound(entries.begin(), entries.end(), Entry{seq, T{}}, by_seq);
        if (it == entries.end() || it->seq != seq) {
            return false;  // not here, or already a tombstone
        }
        it->seq |= removed_bit;
        it->value = T{};
        --size_;
        if (++tombstones_ > size_ + min_compaction) {
            compact();
        }
        return true;
    }

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

private:
    static constexpr std::uint64_t removed_bit = std::uint64_t{1} << 63;
    static constexpr std::size_t min_compaction = 1024;

    struct Entry {
        std::uint64_t seq;  // with removed_bit set: a tombstone
        T value;
    };

    static bool by_seq(const Entry& a, const Entry& b) {
        return (a.seq & ~removed_bit) < (b.seq & ~removed_bit);
    }

    void compact() {
        for (auto lane = lanes_.begin(); lane != lanes_.end();) {
            std::erase_if(lane->second, [](const Entry& e) { return (e.seq & removed_bit) != 0; });
            lane = lane->second.empty() ? lanes_.erase(lane) : std::next(lane);
        }
        tombstones_ = 0;
    }

    std::map<int, std::deque<Entry>, std::greater<>> lanes_;  // highest priority first
    std::size_t size_ = 0;                                    // live entries
    std::size_t tombstones_ = 0;
};

}  // namespace taskpool::daemon::store
