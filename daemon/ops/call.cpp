#include "call.hpp"

#include "daemon/config/config.hpp"
#include "proto/reply.hpp"
#include "services.hpp"

namespace taskpool::daemon::ops {

Reply::Reply(const std::shared_ptr<conn::Peer>& peer, proto::RequestId id)
    : state_(std::make_shared<State>()) {
    state_->peer = peer;
    state_->id = std::move(id);
    peer->reply_pending();
}

Reply::State::~State() {
    if (!answered) {
        if (auto p = peer.lock()) {
            if (place) {
                p->fill(*place, {});
            }
            p->reply_sent();
        }
    }
}

void Reply::hold_place(std::size_t expected) const {
    if (auto p = state_->peer.lock()) {
        state_->place = p->hold_place(expected);
    }
}

void Reply::line(std::string text) const {
    if (state_->answered) {
        return;
    }
    state_->answered = true;
    if (auto p = state_->peer.lock()) {
        if (text.size() > p->max_line_bytes()) {
            text = proto::encode_error(
                state_->id, {proto::ErrorCode::message_too_large,
                             "the reply would be " + std::to_string(text.size()) +
                                 " bytes, more than a connection is sent at once (" +
                                 std::to_string(p->max_line_bytes()) +
                                 ", twice limits.max_output_buffer_bytes): ask for less (a smaller "
                                 "limit, fewer items)"});
        }
        if (state_->place) {
            p->fill(*state_->place, std::move(text));
        } else {
            p->send(std::move(text),
                    state_->late ? conn::Peer::Line::reply : conn::Peer::Line::in_order_reply);
        }
        p->reply_sent();
    }
}

void Reply::ok() const {
    line(proto::encode_ok(state_->id));
}
void Reply::ok(const nlohmann::json& fields) const {
    line(proto::encode_ok(state_->id, fields));
}
void Reply::job(const proto::Job& job) const {
    line(proto::encode_job_reply(state_->id, job));
}
void Reply::error(const proto::Error& error) const {
    line(proto::encode_error(state_->id, error));
}

std::string Call::who() const {
    std::string text = "connection " + std::to_string(peer->id());
    if (peer->grant) {
        text += " (token '" + *peer->grant->name + "')";
    }
    return text;
}

proto::Shared<std::string> Call::submitter() const {
    return peer->grant ? peer->grant->name : proto::Shared<std::string>();
}

}  // namespace taskpool::daemon::ops
