#pragma once

#include "proto/line_framer.hpp"
#include "protocol.hpp"

namespace taskpool::daemon::net {

class Session;

/// NDJSON (PROTOCOL.md section 1): one request per line, each handed to the
/// dispatcher as it completes; replies are the lines themselves. Where the daemon
/// requires a token, a client that has not said `hello` yet may send no line longer
/// than `max_unauthenticated_line_bytes`, so that strangers cannot make it buffer
/// megabytes. While more than limits.max_output_buffer_bytes of replies wait to be
/// read, the lines already received wait too, and no more are read.
/// Thread-safety: io thread.
class NdjsonProtocol final : public Protocol {
public:
    static constexpr std::size_t max_unauthenticated_line_bytes = 4096;

    explicit NdjsonProtocol(Session& session);

    std::size_t received(std::string_view bytes) override;
    void reply(std::string line) override;
    bool mid_request() const override { return !held_back_ && framer_.has_partial(); }
    bool wants_input() const override { return !held_back_; }
    void resume() override;

private:
    /// Hands complete lines to the dispatcher while the output has room; returns
    /// how many.
    std::size_t pump();
    std::size_t pump_lines();
    bool over_unauthenticated_limit(std::size_t bytes) const;
    void too_large(std::size_t limit);

    Session& session_;
    proto::LineFramer framer_;
    bool held_back_ = false;  // lines wait in the framer for the output to drain
    bool pumping_ = false;    // a reply came while a line was being handled
};

}  // namespace taskpool::daemon::net
