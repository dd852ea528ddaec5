#include "redis_url.hpp"

#include <charconv>

namespace taskpool::daemon::cluster {
namespace {

constexpr std::string_view scheme = "redis://";
constexpr std::string_view form = " (the form: redis://[[user]:password@]host[:port][/db])";

proto::Error bad(std::string what) {
    return proto::bad_request("cluster.redis: " + std::move(what) + std::string(form));
}

/// `text` with each %XX replaced by its byte; none if an escape is malformed.
std::optional<std::string> percent_decoded(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        unsigned byte = 0;
        if (i + 3 > text.size() ||
            std::from_chars(text.data() + i + 1, text.data() + i + 3, byte, 16).ptr !=
                text.data() + i + 3) {
            return std::nullopt;
        }
        out += static_cast<char>(byte);
        i += 2;
    }
    return out;
}

template <class Int>
std::optional<Int> whole_number(std::string_view text) {
    Int n{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return n;
}

}  // namespace

proto::Result<RedisUrl> RedisUrl::parse(std::string_view text) {
    if (text.starts_with("rediss://")) {
        return bad(
            "TLS to Redis (rediss://) is not in this build; reach Redis over a "
            "private network or a TLS tunnel");
    }
    if (!text.starts_with(scheme)) {
        return bad("must begin with redis://");
    }
    text.remove_prefix(scheme.size());
    RedisUrl url;
    if (auto at = text.rfind('@'); at != std::string_view::npos) {
        auto credentials = text.substr(0, at);
        text.remove_prefix(at + 1);
        auto colon = credentials.find(':');
        if (colon == std::string_view::npos) {
            return bad("a password goes after a colon, as redis://:PASSWORD@HOST");
        }
        auto user = percent_decoded(credentials.substr(0, colon));
        auto password = percent_decoded(credentials.substr(colon + 1));
        if (!user || !password) {
            return bad("a % in the user or password must begin an escape such as %40");
        }
        if (!user->empty()) {
            url.user = std::move(*user);
        }
        url.password = std::move(*password);
    }
    auto slash = text.find('/');
    auto authority = text.substr(0, slash);
    if (slash != std::string_view::npos) {
        auto db = whole_number<int>(text.substr(slash + 1));
        if (!db || *db < 0) {
            return bad("the database after / must be a whole number from 0");
        }
        url.db = *db;
    }
    std::string_view port;
    if (authority.starts_with('[')) {  // an IPv6 address
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return bad("an IPv6 address in [ ] lacks its ]");
        }
        url.host = authority.substr(1, close - 1);
        auto rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':')) {
            return bad("after ] comes :port or nothing");
        }
        port = rest.empty() ? rest : rest.substr(1);
    } else {
        auto colon = authority.rfind(':');
        url.host = authority.substr(0, colon);
        port = colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
    }
    if (url.host.empty()) {
        return bad("no host");
    }
    if (!port.empty()) {
        auto n = whole_number<unsigned>(port);
        if (!n || *n == 0 || *n > 65535) {
            return bad("the port must be a number from 1 to 65535");
        }
        url.port = static_cast<std::uint16_t>(*n);
    }
    return url;
}

std::string RedisUrl::shown() const {
    std::string out(scheme);
    if (password) {
        out += user.value_or("") + ":***@";
    }
    out += host.find(':') == std::string::npos ? host : "[" + host + "]";
    out += ":" + std::to_string(port);
    if (db != 0) {
        out += "/" + std::to_string(db);
    }
    return out;
}

}  // namespace taskpool::daemon::cluster
