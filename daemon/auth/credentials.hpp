#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "proto/boxed.hpp"
#include "proto/error.hpp"
#include "scopes.hpp"

namespace taskpool::daemon::auth {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view text);
/// The digest from its 64 hex digits; none if that is not what `hex` is.
std::optional<Digest> digest_from_hex(std::string_view hex);

/// A scoped token of `auth.tokens`: only the SHA-256 of its text is kept.
struct TokenSpec {
    std::string name;
    Digest sha256{};
    Scopes scopes = 0;

    friend bool operator==(const TokenSpec&, const TokenSpec&) = default;
};

/// The name `auth.token` goes by: it may do anything.
inline constexpr std::string_view admin_token_name = "auth.token";

/// A token that was shown and accepted: whose it is (shared with the jobs it
/// submits), and what it may do.
struct Grant {
    proto::Shared<std::string> name;
    Scopes scopes = 0;
};

/// `forbidden`: the token may not use `what` (an op, a path), which needs `need`.
proto::Error forbidden(const Grant& grant, std::string_view what, Scope need);

/// Finds `given` among the daemon's tokens: `admin_token` (auth.token) and
/// `tokens` (auth.tokens). Every token is compared, each in constant time, so that
/// the time taken tells nothing of which one matched or how much of one did.
std::optional<Grant> verify(const std::optional<std::string>& admin_token,
                            std::span<const TokenSpec> tokens, std::string_view given);

}  // namespace taskpool::daemon::auth
