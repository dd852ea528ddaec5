#pragma once

#include <chrono>
#include <thread>

namespace taskpool::test {

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
/// For conditions a test cannot be told of; never sleep-and-hope instead.
template <class Condition>
bool wait_for(Condition&& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

}  // namespace taskpool::test
