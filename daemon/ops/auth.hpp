#pragma once

#include <optional>
#include <string_view>

#include "daemon/config/config.hpp"

namespace taskpool::daemon::ops {

/// True when the daemon requires no token, or `given` is it. The comparison takes
/// the same time wherever the two differ.
bool token_accepted(const Config& config, std::optional<std::string_view> given);

}  // namespace taskpool::daemon::ops
