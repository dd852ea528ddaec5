#include "ndjson_protocol.hpp"

#include "proto/reply.hpp"
#include "session.hpp"

namespace taskpool::daemon::net {

NdjsonProtocol::NdjsonProtocol(Session& session)
    : session_(session), framer_(static_cast<std::size_t>(session.limits().max_message_bytes)) {}

std::size_t NdjsonProtocol::received(std::string_view bytes) {
    framer_.feed(bytes);
    return pump();
}

void NdjsonProtocol::resume() {
    if (held_back_) {
        pump();
    }
}

std::size_t NdjsonProtocol::pump() {
    if (pumping_) {
        return 0;  // the loop below goes on once the line it handles is done
    }
    pumping_ = true;
    std::size_t completed = pump_lines();
    pumping_ = false;
    return completed;
}

std::size_t NdjsonProtocol::pump_lines() {
    std::size_t completed = 0;
    for (;;) {
        held_back_ = !session_.output_has_room();
        if (held_back_) {
            return completed;
        }
        auto frame = framer_.next();
        if (frame.status == proto::LineFramer::Status::incomplete) {
            break;
        }
        if (frame.status == proto::LineFramer::Status::too_large) {
            too_large(static_cast<std::size_t>(session_.limits().max_message_bytes));
            return completed;
        }
        if (over_unauthenticated_limit(frame.line.size())) {
            too_large(max_unauthenticated_line_bytes);
            return completed;
        }
        ++completed;
        session_.dispatcher().handle_line(session_.shared_from_this(), frame.line);
        if (!session_.is_open() || session_.closing()) {
            return completed;
        }
    }
    if (over_unauthenticated_limit(framer_.partial_bytes())) {
        too_large(max_unauthenticated_line_bytes);
    }
    return completed;
}

bool NdjsonProtocol::over_unauthenticated_limit(std::size_t bytes) const {
    return bytes > max_unauthenticated_line_bytes && !session_.authenticated() &&
           session_.dispatcher().requires_token();
}

void NdjsonProtocol::too_large(std::size_t limit) {
    auto why = limit == max_unauthenticated_line_bytes
                   ? " bytes before hello (this daemon requires a token)"
                   : " bytes (limits.max_message_bytes)";
    session_.send(proto::encode_error(nlohmann::json(nullptr),
                                      {proto::ErrorCode::message_too_large,
                                       "a line is longer than " + std::to_string(limit) + why +
                                           "; closing the connection"}),
                  conn::Peer::Line::reply);
    session_.close_after_flush();
}

void NdjsonProtocol::reply(std::string line) {
    session_.queue_output(std::move(line));
}

}  // namespace taskpool::daemon::net
