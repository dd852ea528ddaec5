#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/conn/peer.hpp"
#include "proto/job.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::ops {

struct Services;

/// Answers one request, now or later: copies share one answer, and the first one
/// used answers. Until then the connection counts a pending reply. If the connection has
/// gone, the answer is dropped.
class Reply {
public:
    Reply(const std::shared_ptr<conn::Peer>& peer, proto::RequestId id);

    void ok() const;
    void ok(const nlohmann::json& fields) const;
    void job(const proto::Job& job) const;
    void error(const proto::Error& error) const;
    /// Sends a line already built with the request's id (see id()).
    void line(std::string line) const;
    const proto::RequestId& id() const { return state_->id; }
    /// The connection it answers on; none once it has gone.
    std::shared_ptr<conn::Peer> peer() const { return state_->peer.lock(); }
    bool answered() const { return state_->answered; }
    /// The answer, when it comes, keeps this request's place among the replies;
    /// `expected` is its likely size.
    void hold_place(std::size_t expected) const;
    /// The request waits (PROTOCOL.md section 2): its answer comes out of order,
    /// and counts with the late replies a connection may pile up.
    void answers_late() const { state_->late = true; }

private:
    struct State {
        std::weak_ptr<conn::Peer> peer;
        proto::RequestId id;
        bool answered = false;
        bool late = false;
        std::optional<std::uint64_t> place;
        ~State();
    };
    std::shared_ptr<State> state_;
};

/// One request being handled: the services, the connection, its Reply, and the
/// size of the request as it came (a line, or an HTTP target and body).
struct Call {
    Services& services;
    std::shared_ptr<conn::Peer> peer;
    Reply reply;
    std::size_t request_bytes = 0;

    /// Who asked, for the log: "connection 12 (token 'ops')".
    std::string who() const;
    /// The name of the token that asked, for the jobs it submits; none where the
    /// daemon requires no token.
    proto::Shared<std::string> submitter() const;
};

}  // namespace taskpool::daemon::ops
