#include "json_parse.hpp"

#include <string>

namespace taskpool::proto {
namespace {

/// The deepest nesting of [ and { outside strings, stopping early past `limit`.
int nesting_depth(std::string_view text, int limit) {
    int depth = 0;
    int deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (++depth > deepest) {
                    deepest = depth;
                    if (deepest > limit) {
                        return deepest;
                    }
                }
                break;
            case ']':
            case '}':
                --depth;
                break;
            default:
                break;
        }
    }
    return deepest;
}

}  // namespace

Result<nlohmann::json> parse_json(std::string_view text) {
    if (nesting_depth(text, max_json_depth) > max_json_depth) {
        return bad_request("nesting deeper than " + std::to_string(max_json_depth) + " levels");
    }
    nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
        // Parse again only to explain; the failure path is not the hot one.
        try {
            [[maybe_unused]] auto unused = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            // A syntax error, or a number too large (out_of_range.406):
            // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
            std::string what = e.what();
            auto colon = what.find("] ");
            return bad_request("invalid JSON: " +
                               (colon == std::string::npos ? what : what.substr(colon + 2)));
        }
        return bad_request("invalid JSON");
    }
    return value;
}

}  // namespace taskpool::proto
