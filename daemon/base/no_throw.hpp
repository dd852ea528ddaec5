#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace taskpool::daemon::base {

/// The completion token of coroutines that look at an operation's error rather
/// than catch it: `auto [ec, n] = co_await socket.async_read_some(buffer, no_throw);`
inline constexpr auto no_throw = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace taskpool::daemon::base
