#pragma once

#include <memory>
#include <string_view>

#include "call.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::ops {

/// Turns one request line into a call of its op's handler: decodes, checks
/// authentication and the token's scopes, dispatches (the only std::visit over requests), and turns
/// any exception into an `internal` reply after logging it. Thread-safety: io thread.
class Dispatcher {
public:
    explicit Dispatcher(Services& services) : services_(services) {}

    void handle_line(const std::shared_ptr<conn::Peer>& peer, std::string_view line);
    /// A request decoded elsewhere (an HTTP route); `size` is about its length.
    void dispatch(const std::shared_ptr<conn::Peer>& peer, proto::DecodedRequest decoded,
                  std::size_t size);
    /// A connection must send the token (hello, or HTTP's Authorization) first.
    bool requires_token() const;
    const Services& services() const { return services_; }
    /// A connection closed: its subscriptions go and its bound jobs are cancelled.
    void connection_closed(conn::Peer& peer);

private:
    Services& services_;
};

}  // namespace taskpool::daemon::ops
