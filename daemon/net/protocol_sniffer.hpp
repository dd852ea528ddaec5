#pragma once

#include <string_view>

namespace taskpool::daemon::net {

enum class Sniffed { ndjson, http, undecided };

/// Tells NDJSON from HTTP by a connection's first bytes: an HTTP request begins
/// with a method and a space ("GET ", "POST "), an NDJSON line with anything else
/// (a `{`). `undecided` while the bytes are still the start of a method. Pure.
Sniffed sniff_protocol(std::string_view first_bytes);

}  // namespace taskpool::daemon::net
