#include "daemon/sched/ready_queue.hpp"

#include <vector>

#include <doctest/doctest.h>

using taskpool::daemon::sched::ReadyQueue;

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
