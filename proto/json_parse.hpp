#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "result.hpp"

namespace taskpool::proto {

/// Deepest nesting of arrays and objects a message may have (PROTOCOL.md section 1).
inline constexpr int max_json_depth = 64;

/// Parses one JSON text. Nesting past max_json_depth is refused by a scan before
/// the parser builds anything (nlohmann's recursive copy and dump would overflow
/// the stack on a deep document); invalid UTF-8 is refused by the parser.
/// Errors are bad_request with a message that says what is wrong.
Result<nlohmann::json> parse_json(std::string_view text);

}  // namespace taskpool::proto
