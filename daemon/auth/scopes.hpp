#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/request.hpp"

namespace taskpool::daemon::auth {

/// What a token may do (PROTOCOL.md section 14). A set of them is a bit mask.
enum class Scope : std::uint8_t { read = 1, submit = 2, worker = 4, kv = 8, admin = 16 };
using Scopes = std::uint8_t;
inline constexpr Scopes every_scope = 31;

std::optional<Scope> scope_from_string(std::string_view name);
std::string_view to_string(Scope scope);
/// The names of the scopes of a set, in the order above.
std::vector<std::string_view> scope_names(Scopes scopes);
/// "submit, kv" ("none" for none).
std::string scopes_text(Scopes scopes);

/// Whether a token with `scopes` may do what needs `need`: admin may do anything,
/// and submit may read.
bool allows(Scopes scopes, Scope need);

/// The scope an op needs; none for hello and ping, which any valid token may send.
std::optional<Scope> scope_needed(const proto::RequestBody& body);

}  // namespace taskpool::daemon::auth
