#include "io_thread_signals.hpp"

#include <pthread.h>

#include <csignal>
#include <initializer_list>

namespace taskpool::daemon {

void leave_signals_to_the_io_thread() {
    sigset_t handled;
    sigemptyset(&handled);
    for (int signo : {SIGTERM, SIGINT, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM}) {
        sigaddset(&handled, signo);
    }
    ::pthread_sigmask(SIG_BLOCK, &handled, nullptr);
}

}  // namespace taskpool::daemon
