#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "daemon/sched/callback_sink.hpp"
#include "daemon/sched/job_id.hpp"
#include "daemon/store/journal.hpp"

namespace taskpool::daemon::events {

struct WebhookSettings {
    int max_attempts = 5;
    double backoff_s = 1;               // before the second attempt; doubles after each
    double timeout_s = 10;              // of one attempt, connecting included
    std::optional<std::string> secret;  // signs each POST with HMAC-SHA256
};

/// Deliveries since start.
struct WebhookCounts {
    std::uint64_t delivered = 0;  // a 2xx came back
    std::uint64_t failed = 0;     // max_attempts ran out
    std::uint64_t retries = 0;    // attempts after the first
    std::uint64_t pending = 0;    // not yet delivered nor given up
};

/// POSTs finished jobs to their `callback` URL (PROTOCOL.md section 5) from a
/// thread of its own, with libcurl's multi interface: every delivery in flight at
/// once, so a slow or dead receiver delays nobody, and never the io thread.
///
/// Each delivery has one id (`X-Taskpool-Delivery`) for all its attempts. Any 2xx
/// ends it; anything else (a status, a refused connection, the per-attempt timeout)
/// retries after backoff_s, doubling, until max_attempts. Redirects are not
/// followed; only http and https are spoken. With a secret, each attempt carries
/// `X-Taskpool-Timestamp` (Unix seconds) and `X-Taskpool-Signature`:
/// `sha256=` and the hex HMAC-SHA256 of "<timestamp>.<body>".
///
/// With a journal, a delivery is written to it when it is handed over and removed
/// when it ends, so those not made before a stop or a crash are made after the
/// restart (resume()).
///
/// Thread-safety: deliver(), resume() and counts() from any thread; set_journal()
/// before the first of them. The sender thread owns the transfers, and the inbox is
/// the only state they share (one mutex).
class Webhooks final : public sched::CallbackSink {
public:
    explicit Webhooks(WebhookSettings settings);
    ~Webhooks() override;
    Webhooks(const Webhooks&) = delete;
    Webhooks& operator=(const Webhooks&) = delete;

    void set_journal(store::Journal* journal) { journal_ = journal; }
    void deliver(const proto::CallbackSpec& callback, const proto::Job& job) override;
    /// Makes a delivery the journal held at start-up, with its id, from its first attempt.
    void resume(store::StoredDelivery delivery);
    WebhookCounts counts() const;
    /// Gives deliveries in flight up to `grace` to end, then stops the sender.
    /// Undelivered ones are logged, and dropped unless the journal has them.
    void stop(std::chrono::milliseconds grace);

private:
    struct Delivery;
    class Sender;
    void enqueue(std::unique_ptr<Delivery> delivery);

    WebhookSettings settings_;
    sched::IdGenerator ids_;  // io thread
    store::Journal* journal_ = nullptr;
    std::mutex mutex_;
    std::deque<std::unique_ptr<Delivery>> inbox_;  // guarded by mutex_
    std::unique_ptr<Sender> sender_;               // the sender thread's, but wake()
    std::atomic<bool> stopping_ = false;
    std::atomic<std::uint64_t> delivered_ = 0;
    std::atomic<std::uint64_t> failed_ = 0;
    std::atomic<std::uint64_t> retries_ = 0;
    std::atomic<std::uint64_t> pending_ = 0;
    std::thread thread_;
};

}  // namespace taskpool::daemon::events
