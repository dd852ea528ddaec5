#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "result.hpp"

namespace taskpool::proto {

/// Deepest nesting of arrays and objects a message may have (PROTOCOL.md section 1).
inline constexpr int max_json_depth = 64;

/// Parses one JSON text into nlohmann's tree. Nesting past max_json_depth and
/// invalid UTF-8 are refused. Errors are bad_request with a message that says what
/// is wrong.
Result<nlohmann::json> parse_json(std::string_view text);

}  // namespace taskpool::proto
