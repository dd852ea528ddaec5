#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "temp_dir.hpp"

namespace taskpool::test {

/// A redis-server of the test's own, on a free port of 127.0.0.1, its files in a
/// fresh temp dir (never a system service). The constructor returns once it
/// answers PING; the destructor kills it.
class RedisServer {
public:
    struct Options {
        std::string password;  // requirepass; none if empty
        /// AOF with fsync on every write: what Redis acknowledged survives a kill -9.
        bool append_only = false;
    };
    RedisServer() : RedisServer(Options{}) {}
    explicit RedisServer(Options options);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    /// redis://[:password@]127.0.0.1:port
    std::string url() const;
    /// Kills it (SIGKILL) and waits for it; start() brings it back on the same port.
    void kill();
    void start();
    /// Stops it (SIGSTOP) as a host that hangs would, and lets it go on (SIGCONT).
    void pause();
    void resume();

private:
    TempDir dir_;
    Options options_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace taskpool::test
