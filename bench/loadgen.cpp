// Load generator for taskpoold: raw NDJSON over TCP, so that what is measured is
// the daemon, not a client library. Prints lines in the format of the peer
// benchmarks (LABEL: key=value ...), labelled "taskpool" or $LOADGEN_TAG. A
// tls://HOST:PORT address is TLS, trusting the CA in $TASKPOOL_CA.
//
// POOL is thread, process, or task: where the task runs (remote workers for a remote
// task).
//
//   loadgen seq  HOST:PORT TASK POOL N            submit+wait one at a time: p50/p99
//   loadgen pipe HOST:PORT TASK POOL N INFLIGHT CONNS
//                                                  N jobs over CONNS connections, each
//                                                  keeping INFLIGHT submit+wait in flight;
//                                                  HOST:PORT,HOST:PORT,...: connections
//                                                  to each in turn (cluster nodes)
//   loadgen submit HOST:PORT TASK POOL N INFLIGHT CONNS
//                                                  the same without wait: until the
//                                                  acknowledgement only
//   loadgen map  HOST:PORT TASK POOL N CHUNK INFLIGHT
//                                                  N items in maps of CHUNK items with
//                                                  wait, INFLIGHT maps in flight
//   loadgen rate HOST:PORT TASK POOL RATE SECONDS
//                                                  RATE jobs a second with wait, for
//                                                  SECONDS: a steady load to measure
//                                                  something else under (plain TCP)
//   loadgen fib  HOST:PORT N COUNT                 COUNT fib(N) on the process pool at
//                                                  once vs the same jobs one at a time
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "proto/line_framer.hpp"

namespace {

using Clock = std::chrono::steady_clock;

/// How the figures are labelled: $LOADGEN_TAG (e.g. "taskpool+journal"), or "taskpool".
const char* tag() {
    const char* t = std::getenv("LOADGEN_TAG");
    return t != nullptr ? t : "taskpool";
}

/// The client side of TLS: the daemon's certificate checked against $TASKPOOL_CA.
SSL_CTX* tls_context() {
    static SSL_CTX* context = [] {
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        const char* ca = std::getenv("TASKPOOL_CA");
        if (ca == nullptr || SSL_CTX_load_verify_locations(ctx, ca, nullptr) != 1) {
            throw std::runtime_error("a tls:// address needs TASKPOOL_CA, the CA's certificate");
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        return ctx;
    }();
    return context;
}

/// One connection, over TCP or (for a tls:// address) TLS, with blocking calls.
class Connection {
public:
    explicit Connection(std::string address) {
        bool tls = address.starts_with("tls://");
        if (tls) {
            address.erase(0, 6);
        }
        auto colon = address.rfind(':');
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
        inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("cannot connect to " + address);
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (tls) {
            ssl_ = SSL_new(tls_context());
            SSL_set_fd(ssl_, fd_);
            if (SSL_connect(ssl_) != 1) {
                throw std::runtime_error("no TLS handshake with " + address);
            }
        }
    }
    ~Connection() {
        SSL_free(ssl_);
        ::close(fd_);
    }

    void send(const std::string& data) {
        for (std::size_t done = 0; done < data.size();) {
            auto n = ssl_ != nullptr
                         ? SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done))
                         : ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                throw std::runtime_error("write failed");
            }
            done += static_cast<std::size_t>(n);
        }
    }

    /// The next reply line; checks that it is a success (and, unless `accepted_only`,
    /// that the job has succeeded).
    std::string read_reply(bool accepted_only = false) {
        for (;;) {
            auto frame = framer_.next();
            if (frame.status == taskpool::proto::LineFramer::Status::line) {
                std::string line(frame.line);
                if (line.find("\"ok\":true") == std::string::npos ||
                    (!accepted_only && line.find("\"state\":\"succeeded\"") == std::string::npos)) {
                    throw std::runtime_error("job failed: " + line.substr(0, 300));
                }
                return line;
            }
            auto n = ssl_ != nullptr ? SSL_read(ssl_, buf_, sizeof buf_)
                                     : ::read(fd_, buf_, sizeof buf_);
            if (n <= 0) {
                throw std::runtime_error("connection closed");
            }
            framer_.feed(std::string_view(buf_, static_cast<std::size_t>(n)));
        }
    }

private:
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    taskpool::proto::LineFramer framer_{1 << 30};
    char buf_[65536];
};

/// `,"pool":"POOL"`, or nothing for "task": the job runs where its task does (a
/// remote task's jobs go to remote workers).
std::string pool_field(const std::string& pool) {
    return pool == "task" ? "" : R"(,"pool":")" + pool + "\"";
}

std::string submit_line(const std::string& task, const std::string& pool, const std::string& args,
                        bool wait = true) {
    return R"({"op":"submit","task":")" + task + "\"" + pool_field(pool) + R"(,"args":)" + args +
           (wait ? R"(,"wait":true})" : "}") + "\n";
}

// A 64-byte line's worth of payload, as in the peers' echo benchmarks.
const std::string payload = "\"" + std::string(40, 'x') + "\"";

double us_since(Clock::time_point t) {
    return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

int seq(const std::string& addr, const std::string& task, const std::string& pool, int n) {
    Connection c(addr);
    auto line = submit_line(task, pool, payload);
    for (int i = 0; i < std::min(n / 10, 1000); ++i) {  // warm-up
        c.send(line);
        c.read_reply();
    }
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto t = Clock::now();
        c.send(line);
        c.read_reply();
        us.push_back(us_since(t));
    }
    std::sort(us.begin(), us.end());
    double mean = 0;
    for (double v : us) {
        mean += v / static_cast<double>(n);
    }
    auto rank = [&](double p) { return us[static_cast<std::size_t>(p * (n - 1))]; };
    std::printf("%s %s %s sequential: p50=%.1fus p99=%.1fus mean=%.1fus n=%d\n", tag(),
                pool.c_str(), task.c_str(), rank(0.50), rank(0.99), mean, n);
    return 0;
}

int pipe(const std::string& addr, const std::string& task, const std::string& pool, int n,
         int inflight, int conns, bool wait) {
    auto line = submit_line(task, pool, payload, wait);
    int per_conn = n / conns;
    std::string window;
    for (int i = 0; i < inflight; ++i) {
        window += line;
    }
    // Connected here, where a refusal is reported, rather than in the threads; to
    // each of the addresses of a list ("A,B": nodes of a cluster) in turn.
    std::vector<std::string> addresses;
    for (std::size_t from = 0; from <= addr.size();) {
        auto comma = std::min(addr.find(',', from), addr.size());
        addresses.push_back(addr.substr(from, comma - from));
        from = comma + 1;
    }
    std::vector<std::unique_ptr<Connection>> connections;
    for (int k = 0; k < conns; ++k) {
        connections.push_back(std::make_unique<Connection>(addresses[k % addresses.size()]));
    }
    auto t = Clock::now();
    std::vector<std::thread> threads;
    for (auto& connection : connections) {
        threads.emplace_back([&, &c = *connection] {
            int sent = std::min(inflight, per_conn);
            c.send(sent == inflight ? window : window.substr(0, line.size() * sent));
            for (int done = 0; done < per_conn; ++done) {
                c.read_reply(!wait);
                if (sent < per_conn) {
                    c.send(line);
                    ++sent;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    double secs = us_since(t) / 1e6;
    std::printf("%s %s %s pipelined%s x%d conns=%d: throughput=%.0f jobs/s n=%d\n", tag(),
                pool.c_str(), task.c_str(), wait ? "" : " submit-only", inflight, conns,
                per_conn * conns / secs, per_conn * conns);
    return 0;
}

/// Items per second through `map` with `wait`: each reply holds every job of its map.
int map(const std::string& addr, const std::string& task, const std::string& pool, int n, int chunk,
        int inflight) {
    std::string line =
        R"({"op":"map","task":")" + task + "\"" + pool_field(pool) + R"(,"wait":true,"items":[)";
    for (int i = 0; i < chunk; ++i) {
        line += (i == 0 ? "" : ",") + payload;
    }
    line += "]}\n";
    int maps = n / chunk;
    Connection c(addr);
    auto t = Clock::now();
    int sent = 0;
    for (; sent < std::min(inflight, maps); ++sent) {
        c.send(line);
    }
    for (int done = 0; done < maps; ++done) {
        c.read_reply();
        if (sent < maps) {
            c.send(line);
            ++sent;
        }
    }
    double secs = us_since(t) / 1e6;
    std::printf("%s %s %s map x%d items: throughput=%.0f jobs/s n=%d\n", tag(), pool.c_str(),
                task.c_str(), chunk, maps * chunk / secs, maps * chunk);
    return 0;
}

/// `per_second` jobs a second for `seconds`, sent in bursts every 10 ms while the
/// replies are read as they come, on one connection (a thread writes, one reads:
/// plain TCP only). What it reports is the rate the daemon kept up with; a reply
/// that is not a success ends it, the writer with it.
int paced(const std::string& addr, const std::string& task, const std::string& pool, int per_second,
          int seconds) {
    if (addr.starts_with("tls://")) {
        throw std::runtime_error("rate takes a plain HOST:PORT");
    }
    Connection c(addr);
    auto line = submit_line(task, pool, payload);
    const long long ticks = 100LL * seconds;
    const long long total = static_cast<long long>(per_second) * seconds;
    auto t = Clock::now();
    std::jthread sender([&](const std::stop_token& stop) {
        std::string burst;
        try {
            for (long long tick = 1, sent = 0; tick <= ticks && !stop.stop_requested(); ++tick) {
                burst.clear();
                for (; sent < total * tick / ticks; ++sent) {
                    burst += line;
                }
                c.send(burst);
                std::this_thread::sleep_until(t + std::chrono::milliseconds(10 * tick));
            }
        } catch (const std::exception&) {
            // The connection is gone: the reader below says why.
        }
    });
    for (long long done = 0; done < total; ++done) {
        c.read_reply();
    }
    sender.join();
    std::printf("%s %s %s paced at %d/s: throughput=%.0f jobs/s n=%lld\n", tag(), pool.c_str(),
                task.c_str(), per_second, static_cast<double>(total) / (us_since(t) / 1e6), total);
    return 0;
}

/// Speed-up of COUNT fib(N) jobs sent at once over the same jobs sent one at a time:
/// both run the daemon's own fib in its workers, so only the parallelism differs.
/// As the peers' script does: the serial time is the faster of a run before and
/// one after; the pooled time, which swings with how the jobs split between the
/// workers, the median of five.
int fib_speedup(const std::string& addr, int n, int count) {
    Connection c(addr);
    std::string one = R"({"op":"submit","task":"fib","pool":"process","args":{"n":)" +
                      std::to_string(n) +
                      R"(},"wait":true})"
                      "\n";
    auto serial = [&] {
        auto t = Clock::now();
        for (int i = 0; i < count; ++i) {
            c.send(one);
            c.read_reply();
        }
        return us_since(t) / 1e6;
    };
    std::string batch;
    for (int i = 0; i < count; ++i) {
        batch += one;
    }
    auto pooled = [&] {
        auto t = Clock::now();
        c.send(batch);
        for (int i = 0; i < count; ++i) {
            c.read_reply();
        }
        return us_since(t) / 1e6;
    };
    double before = serial();
    std::vector<double> runs(5);
    std::generate(runs.begin(), runs.end(), pooled);
    std::nth_element(runs.begin(), runs.begin() + 2, runs.end());
    double best = std::min(before, serial());
    std::printf("taskpool fib(%d)x%d: serial=%.3fs pooled=%.3fs speedup=%.2fx\n", n, count, best,
                runs[2], best / runs[2]);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> a(argv + 1, argv + argc);
    try {
        if (a.size() == 5 && a[0] == "seq") {
            return seq(a[1], a[2], a[3], std::stoi(a[4]));
        }
        if (a.size() == 7 && (a[0] == "pipe" || a[0] == "submit")) {
            return pipe(a[1], a[2], a[3], std::stoi(a[4]), std::stoi(a[5]), std::stoi(a[6]),
                        a[0] == "pipe");
        }
        if (a.size() == 7 && a[0] == "map") {
            return map(a[1], a[2], a[3], std::stoi(a[4]), std::stoi(a[5]), std::stoi(a[6]));
        }
        if (a.size() == 6 && a[0] == "rate") {
            return paced(a[1], a[2], a[3], std::stoi(a[4]), std::stoi(a[5]));
        }
        if (a.size() == 4 && a[0] == "fib") {
            return fib_speedup(a[1], std::stoi(a[2]), std::stoi(a[3]));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: see the comment at the top of bench/loadgen.cpp\n");
    return 2;
}
