#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/result.hpp"

namespace taskpool::daemon::cluster {

/// Where a cluster's Redis is: `redis://[[user]:password@]host[:port][/db]`
/// (PROTOCOL.md section 15), the user and password percent-encoded where they
/// hold characters a URL reserves.
struct RedisUrl {
    std::string host;
    std::uint16_t port = 6379;
    std::optional<std::string> user;
    std::optional<std::string> password;
    int db = 0;

    /// A `bad_request` error saying what is wrong, never quoting the password.
    static proto::Result<RedisUrl> parse(std::string_view text);
    /// The URL for logs and messages: with `***` for a password.
    std::string shown() const;
};

}  // namespace taskpool::daemon::cluster
