#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace taskpool::daemon::net {

/// What a connection speaks: turns the bytes a client sends into requests for the
/// dispatcher, and replies into bytes. The session picks one from the first bytes
/// (protocol_sniffer.hpp): NDJSON lines or HTTP/1.1. Thread-safety: io thread.
class Protocol {
public:
    virtual ~Protocol() = default;

    /// Takes bytes as they arrive. Returns how many requests they completed.
    virtual std::size_t received(std::string_view bytes) = 0;
    /// A reply or event line (LF included) for this connection, in order.
    virtual void reply(std::string line) = 0;
    /// Part of a request has arrived and the rest has not (limits.request_timeout_s).
    virtual bool mid_request() const = 0;
    /// False while the client should wait before sending more (HTTP answers one
    /// request at a time; pipelined ones wait in a bounded buffer; requests held
    /// back while the output is over its bound).
    virtual bool wants_input() const { return true; }
    /// The output has room again: goes on with the requests it held back.
    virtual void resume() {}
};

}  // namespace taskpool::daemon::net
