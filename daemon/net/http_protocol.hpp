#pragma once

#include "daemon/http/request_reader.hpp"
#include "daemon/http/response.hpp"
#include "proto/event_filter.hpp"
#include "protocol.hpp"

namespace taskpool::daemon::net {

class Session;

/// HTTP/1.1 (PROTOCOL.md section 8): requests are read one at a time, routed to the
/// same op handlers as NDJSON, and answered in order; pipelined requests wait,
/// parsed no further than `max_pipelined_bytes` ahead. Every route but /healthz
/// needs `Authorization: Bearer <token>` where the daemon requires a token; that
/// and the framing limits are judged from the head, before a byte of the body is
/// read. An error in the framing is answered and the connection closed.
/// Thread-safety: io thread.
class HttpProtocol final : public Protocol {
public:
    static constexpr std::size_t max_pipelined_bytes = 64 * 1024;

    explicit HttpProtocol(Session& session);

    std::size_t received(std::string_view bytes) override;
    void reply(std::string line) override;
    void resume() override { pump(); }
    bool mid_request() const override {
        return !in_flight_ && !held_back_ && reader_.has_partial();
    }
    bool wants_input() const override {
        return !in_flight_ || reader_.unparsed_bytes() < max_pipelined_bytes;
    }

private:
    void pump();
    bool accept_head();
    void handle(http::Request& request);
    void respond(http::Response response);
    /// GET /v1/events: the response's head, then its events as they come.
    void open_stream(proto::EventFilter filter, const std::optional<std::string>& last_event_id);
    static constexpr std::string_view event_stream_type = "text/event-stream; charset=utf-8";
    /// Answers the request in flight, and goes on to the next.
    void answer(http::Response response);
    void refuse(int status, const proto::Error& error, std::string extra_headers = {});

    Session& session_;
    http::RequestReader reader_;
    bool keep_alive_ = true;
    bool head_ = false;       // the request being answered is a HEAD
    bool in_flight_ = false;  // a request is with the dispatcher
    bool held_back_ = false;  // requests wait for the output to drain
    bool pumping_ = false;
    bool done_ = false;       // the last response is out; nothing more is read
    bool streaming_ = false;  // the response is an event stream: replies are its events
    std::size_t completed_ = 0;
};

}  // namespace taskpool::daemon::net
