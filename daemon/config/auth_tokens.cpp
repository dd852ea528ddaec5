#include "auth_tokens.hpp"

#include <algorithm>
#include <string>

#include "proto/json_fields.hpp"

namespace taskpool::daemon {

using nlohmann::json;

namespace {

proto::Result<auth::TokenSpec> parse_token(const json& doc, std::size_t index) {
    std::string path = "auth.tokens[" + std::to_string(index) + "].";
    if (!doc.is_object()) {
        return proto::bad_request("'" + path.substr(0, path.size() - 1) +
                                  "' must be an object with name, token or token_sha256, "
                                  "and scopes");
    }
    auth::TokenSpec spec;
    proto::FieldReader r(doc, path);
    r.text("name", spec.name);
    if (spec.name.empty()) {
        r.fail("name", "must not be empty");
    } else if (spec.name == auth::admin_token_name) {
        r.fail("name",
               "may not be '" + std::string(auth::admin_token_name) + "', the name of auth.token");
    }
    std::optional<std::string> token;
    std::optional<std::string> hex;
    r.text("token", token);
    r.text("token_sha256", hex);
    if (token.has_value() == hex.has_value()) {
        r.fail("token",
               "or 'token_sha256' is required, one of them (token_sha256 is the "
               "token's SHA-256 in hex, as `printf %s TOKEN | sha256sum` prints it)");
    } else if (token) {
        if (token->empty()) {
            r.fail("token", "must not be empty");
        }
        spec.sha256 = auth::sha256(*token);
    } else if (auto digest = auth::digest_from_hex(*hex)) {
        spec.sha256 = *digest;
    } else {
        r.fail("token_sha256", "must be 64 hex digits (a SHA-256)");
    }
    std::optional<std::vector<std::string>> scopes;
    r.text_list("scopes", scopes);
    if (!scopes || scopes->empty()) {
        r.fail("scopes", "must list one or more of read, submit, worker, kv, admin");
    } else {
        for (const auto& name : *scopes) {
            auto scope = auth::scope_from_string(name);
            if (!scope) {
                r.fail("scopes",
                       "has '" + name + "': the scopes are read, submit, worker, kv and admin");
                break;
            }
            spec.scopes |= static_cast<auth::Scopes>(*scope);
        }
    }
    if (auto done = r.finish(); !done) {
        return done.error();
    }
    return spec;
}

}  // namespace

proto::Result<std::vector<auth::TokenSpec>> parse_auth_tokens(const json& list) {
    if (!list.is_array()) {
        return proto::bad_request("'auth.tokens' must be an array of tokens");
    }
    std::vector<auth::TokenSpec> tokens;
    for (const auto& doc : list) {
        auto token = parse_token(doc, tokens.size());
        if (!token) {
            return token.error();
        }
        auto same_name = [&](const auto& t) { return t.name == token->name; };
        if (std::ranges::any_of(tokens, same_name)) {
            return proto::bad_request("auth.tokens: two tokens are named '" + token->name + "'");
        }
        auto same_token = [&](const auto& t) { return t.sha256 == token->sha256; };
        if (std::ranges::any_of(tokens, same_token)) {
            return proto::bad_request("auth.tokens: '" + token->name +
                                      "' has the same token as another");
        }
        tokens.push_back(std::move(*token));
    }
    return tokens;
}

json auth_tokens_to_json(const std::vector<auth::TokenSpec>& tokens) {
    json list = json::array();
    for (const auto& token : tokens) {
        list.push_back({{"name", token.name},
                        {"token_sha256", "***"},
                        {"scopes", auth::scope_names(token.scopes)}});
    }
    return list;
}

}  // namespace taskpool::daemon
