#pragma once

#include <csignal>

namespace taskpool::daemon {

/// Blocks, in the calling thread, the signals the io thread handles through
/// asio::signal_set (SIGTERM and SIGINT to stop, SIGCHLD to reap, SIGHUP to reload,
/// SIGUSR1, SIGUSR2 and SIGALRM to log and ignore). Every other
/// thread of the daemon calls it first thing, so that the kernel hands those
/// signals to the io thread. Caught elsewhere, a signal would only reach the io
/// thread through the handler asio installs; under ThreadSanitizer, which runs a
/// handler only when the catching thread next enters a blocking call it knows, it
/// could wait as long as that thread sleeps. Children the daemon starts set their
/// own mask.
void leave_signals_to_the_io_thread();

/// Holds those signals back in the io thread while it lives, so that a thread a
/// library starts meanwhile (Asio's resolver thread, on the first async_resolve)
/// is born blocking them. A signal that comes meanwhile waits, and is taken when
/// it ends.
class SignalsHeldBack {
public:
    SignalsHeldBack();
    ~SignalsHeldBack();
    SignalsHeldBack(const SignalsHeldBack&) = delete;
    SignalsHeldBack& operator=(const SignalsHeldBack&) = delete;

private:
    sigset_t before_;
};

}  // namespace taskpool::daemon
