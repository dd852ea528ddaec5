#include "daemon/store/ready_queue.hpp"

#include <vector>

#include <doctest/doctest.h>

using taskpool::daemon::store::ReadyQueue;

TEST_CASE("ready_queue.priority_first_then_fifo_among_equals") {
    ReadyQueue<int> q;
    std::uint64_t seq = 0;
    q.push(0, ++seq, 1);
    q.push(5, ++seq, 2);
    q.push(0, ++seq, 3);
    q.push(-3, ++seq, 4);
    q.push(5, ++seq, 5);
    q.push(0, ++seq, 6);
    std::vector<int> order;
    while (auto v = q.pop()) {
        order.push_back(*v);
    }
    CHECK(order == std::vector<int>{2, 5, 1, 3, 6, 4});
}

TEST_CASE("ready_queue.remove_takes_out_one_entry") {
    ReadyQueue<int> q;
    q.push(1, 1, 10);
    q.push(1, 2, 20);
    q.push(1, 3, 30);
    CHECK(q.remove(1, 2));
    CHECK_FALSE(q.remove(1, 2));
    CHECK(q.size() == 2);
    CHECK(q.pop() == 10);
    CHECK(q.pop() == 30);
    CHECK(q.empty());
}

TEST_CASE("ready_queue.an_entry_pushed_again_goes_back_in_its_place") {
    ReadyQueue<int> q;
    for (std::uint64_t seq = 1; seq <= 5; ++seq) {
        q.push(0, seq, static_cast<int>(seq) * 10);
    }
    CHECK(q.pop() == 10);
    CHECK(q.pop() == 20);
    q.push(0, 1, 10);  // returned by a pool, or retried
    std::vector<int> order;
    while (auto v = q.pop()) {
        order.push_back(*v);
    }
    CHECK(order == std::vector<int>{10, 30, 40, 50});
}

TEST_CASE("ready_queue.many_removals_keep_order_and_size") {
    ReadyQueue<int> q;
    constexpr int n = 10000;
    for (int i = 0; i < n; ++i) {
        q.push(i % 3, static_cast<std::uint64_t>(i + 1), i);
    }
    // Removes all but every tenth entry: enough tombstones to compact.
    for (int i = 0; i < n; ++i) {
        if (i % 10 != 0) {
            CHECK(q.remove(i % 3, static_cast<std::uint64_t>(i + 1)));
        }
    }
    CHECK(q.size() == n / 10);
    CHECK_FALSE(q.remove(1, 2));
    std::vector<int> order;
    while (auto v = q.pop()) {
        order.push_back(*v);
    }
    std::vector<int> expected;
    for (int priority : {2, 1, 0}) {
        for (int i = 0; i < n; i += 10) {
            if (i % 3 == priority) {
                expected.push_back(i);
            }
        }
    }
    CHECK(order == expected);
    CHECK(q.empty());
}
