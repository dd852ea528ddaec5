#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/auth/credentials.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon {

/// Reads `auth.tokens`: `[{"name", "token" or "token_sha256", "scopes"}]`. A token
/// given in clear is kept only as its SHA-256.
proto::Result<std::vector<auth::TokenSpec>> parse_auth_tokens(const nlohmann::json& list);

/// The tokens as the config dump shows them: their digests as "***".
nlohmann::json auth_tokens_to_json(const std::vector<auth::TokenSpec>& tokens);

}  // namespace taskpool::daemon
