#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace taskpool::proto {

/// Length of the valid UTF-8 sequence that starts at s[i], or 0 if none does
/// (overlong forms, surrogates and code points past U+10FFFF are not valid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

/// `s` with U+FFFD in place of each byte that is not part of valid UTF-8.
std::string to_valid_utf8(std::string_view s);

}  // namespace taskpool::proto
