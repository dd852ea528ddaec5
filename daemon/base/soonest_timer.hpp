#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

namespace taskpool::daemon::base {

/// One timer for the soonest of the times it is asked to fire at: asked for a
/// time no sooner than the one it is set for, it stays as it is. It fires once
/// for each time it is set, and is free to be set again from then. On the io
/// thread only.
class SoonestTimer {
public:
    using Time = std::chrono::steady_clock::time_point;

    SoonestTimer(asio::io_context& io, std::function<void()> fire)
        : timer_(io), fire_(std::move(fire)) {}

    void at(Time when) {
        if (set_for_ && *set_for_ <= when) {
            return;
        }
        set_for_ = when;
        timer_.expires_at(when);
        timer_.async_wait([this](std::error_code ec) {
            if (!ec) {
                set_for_.reset();
                fire_();
            }
        });
    }
    void in(std::chrono::milliseconds after) { at(std::chrono::steady_clock::now() + after); }
    void cancel() {
        set_for_.reset();
        timer_.cancel();
    }

private:
    asio::steady_timer timer_;
    std::optional<Time> set_for_;
    std::function<void()> fire_;
};

}  // namespace taskpool::daemon::base
