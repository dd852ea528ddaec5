#pragma once

#include <string_view>

namespace taskpool::proto {

/// Version of the wire protocol (PROTOCOL.md); `hello` reports it.
inline constexpr int protocol_version = 1;

/// Version of the product; CMake reads it from this line.
inline constexpr std::string_view product_version = "0.2.0";

}  // namespace taskpool::proto
