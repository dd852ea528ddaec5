#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "raw_json.hpp"
#include "result.hpp"

namespace taskpool::proto {

/// Deepest nesting of arrays and objects a message may have (PROTOCOL.md section 1).
inline constexpr int max_json_depth = 64;

/// A text longer than this is parsed by nlohmann rather than simdjson, which
/// would hold it three times at once (its padded copy, its strings, the tree).
inline constexpr std::size_t huge_json_bytes = std::size_t{1} << 20;

/// Parses one JSON text into nlohmann's tree. Nesting past max_json_depth and
/// invalid UTF-8 are refused. Errors are bad_request with a message that says what
/// is wrong.
Result<nlohmann::json> parse_json(std::string_view text);

/// Parses one JSON text, under the same rules, into its compact text.
Result<RawJson> compact_json(std::string_view text);

}  // namespace taskpool::proto
