#pragma once

#include <memory>
#include <string_view>

#include "call.hpp"

namespace taskpool::daemon::ops {

/// Turns one request line into a call of its op's handler: decodes, checks
/// authentication, dispatches (the only std::visit over requests), and turns any
/// exception into an `internal` reply after logging it. Thread-safety: io thread.
class Dispatcher {
public:
    explicit Dispatcher(Services& services) : services_(services) {}

    void handle_line(const std::shared_ptr<net::Peer>& peer, std::string_view line);
    /// A connection closed: its subscriptions go and its bound jobs are cancelled.
    void connection_closed(net::Peer& peer);

private:
    Services& services_;
};

}  // namespace taskpool::daemon::ops
