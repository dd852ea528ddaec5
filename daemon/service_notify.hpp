#pragma once

#include <string_view>

namespace taskpool::daemon {

/// Tells the service manager how the daemon is doing (sd_notify(3)'s protocol,
/// without libsystemd): one datagram to the AF_UNIX socket named by
/// $NOTIFY_SOCKET ("@..." for the abstract namespace), e.g. "READY=1" once it
/// listens and "STOPPING=1" when it begins to stop, as a Type=notify unit expects.
/// Does nothing without $NOTIFY_SOCKET; a failure is logged, never fatal.
void notify_service_manager(std::string_view state);

}  // namespace taskpool::daemon
