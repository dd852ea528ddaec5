#pragma once

#include "proto/line_framer.hpp"
#include "protocol.hpp"

namespace taskpool::daemon::net {

class Session;

/// NDJSON (PROTOCOL.md section 1): one request per line, each handed to the
/// dispatcher as it completes; replies are the lines themselves. Where the daemon
/// requires a token, a client that has not said `hello` yet may send no line longer
/// than `max_unauthenticated_line_bytes`, so that strangers cannot make it buffer
/// megabytes. Thread-safety: io thread.
class NdjsonProtocol final : public Protocol {
public:
    static constexpr std::size_t max_unauthenticated_line_bytes = 4096;

    explicit NdjsonProtocol(Session& session);

    std::size_t received(std::string_view bytes) override;
    void reply(std::string line) override;
    bool mid_request() const override { return framer_.has_partial(); }

private:
    bool over_unauthenticated_limit(std::size_t bytes) const;
    void too_large(std::size_t limit);

    Session& session_;
    proto::LineFramer framer_;
};

}  // namespace taskpool::daemon::net
