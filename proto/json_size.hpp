#pragma once

#include <cstddef>

#include <nlohmann/json.hpp>

namespace taskpool::proto {

/// About what a JSON tree holds in memory: its strings and keys, and a node for
/// every value. A walk with no allocation, for byte budgets (retained jobs, kv).
std::size_t json_tree_bytes(const nlohmann::json& value);

}  // namespace taskpool::proto
