#include "io_thread_signals.hpp"

#include <pthread.h>

#include <csignal>
#include <initializer_list>

namespace taskpool::daemon {

namespace {

sigset_t io_thread_signals() {
    sigset_t handled;
    sigemptyset(&handled);
    for (int signo : {SIGTERM, SIGINT, SIGCHLD, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM}) {
        sigaddset(&handled, signo);
    }
    return handled;
}

}  // namespace

void leave_signals_to_the_io_thread() {
    sigset_t handled = io_thread_signals();
    ::pthread_sigmask(SIG_BLOCK, &handled, nullptr);
}

SignalsHeldBack::SignalsHeldBack() {
    sigset_t handled = io_thread_signals();
    ::pthread_sigmask(SIG_BLOCK, &handled, &before_);
}

SignalsHeldBack::~SignalsHeldBack() {
    ::pthread_sigmask(SIG_SETMASK, &before_, nullptr);
}

}  // namespace taskpool::daemon
