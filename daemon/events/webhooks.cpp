#include "webhooks.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "daemon/base/io_thread_signals.hpp"
#include "proto/reply.hpp"

namespace taskpool::daemon::events {
namespace {

using Clock = std::chrono::steady_clock;

// The longest the sender sleeps when nothing happens: how soon it sees stop().
constexpr int idle_poll_ms = 1000;

std::string hex(const unsigned char* data, unsigned size) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (unsigned i = 0; i < size; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0xF];
    }
    return out;
}

std::string hmac_sha256(const std::string& key, const std::string& message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
    return hex(digest, size);
}

std::size_t discard(char*, std::size_t size, std::size_t count, void*) {
    return size * count;
}

}  // namespace

struct Webhooks::Delivery {
    std::string id;
    std::string url;
    std::string body;
    int attempt = 0;
    Clock::time_point due = Clock::now();
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    char error[CURL_ERROR_SIZE] = {};

    ~Delivery() { release(); }
    void release() {
        if (easy != nullptr) {
            curl_easy_cleanup(easy);
            easy = nullptr;
        }
        curl_slist_free_all(headers);
        headers = nullptr;
    }
};

/// The sender thread's side: curl's multi handle and the deliveries it holds,
/// waiting for an attempt or being sent.
class Webhooks::Sender {
public:
    explicit Sender(Webhooks& owner) : owner_(owner), multi_(curl_multi_init()) {}
    ~Sender() {
        for (auto& d : sending_) {
            curl_multi_remove_handle(multi_, d->easy);
        }
        sending_.clear();
        curl_multi_cleanup(multi_);
    }
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    /// Wakes run() from its wait; from any thread.
    void wake() { curl_multi_wakeup(multi_); }
    /// Sends until the owner stops.
    void run();

private:
    void take_inbox();
    /// Starts the attempts that are due; returns when the next one is.
    Clock::time_point start_due(Clock::time_point now);
    void start(std::unique_ptr<Delivery> d);
    curl_slist* headers_of(const Delivery& d) const;
    void collect_finished();
    void finish(Delivery* d, CURLcode result);
    /// Delivered or given up: it leaves the journal.
    void ended(const Delivery& d);

    Webhooks& owner_;
    CURLM* multi_;
    std::vector<std::unique_ptr<Delivery>> waiting_;  // for their first or next attempt
    std::vector<std::unique_ptr<Delivery>> sending_;
};

Webhooks::Webhooks(WebhookSettings settings) : settings_(std::move(settings)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sender_ = std::make_unique<Sender>(*this);
    thread_ = std::thread([this] {
        leave_signals_to_the_io_thread();  // and so curl's resolver threads
        sender_->run();
    });
}

Webhooks::~Webhooks() {
    stop(std::chrono::milliseconds(0));
}

void Webhooks::deliver(const proto::CallbackSpec& callback, const proto::Job& job) {
    auto d = std::make_unique<Delivery>();
    d->id = ids_.next("d-");
    d->url = callback.url;
    d->body = proto::encode_job_event("job.finished", job);
    d->body.pop_back();  // the line's LF
    if (journal_ != nullptr) {
        journal_->append(store::write::DeliveryAdded{{d->id, d->url, d->body}});
    }
    enqueue(std::move(d));
}

void Webhooks::resume(store::StoredDelivery delivery) {
    ids_.resume_after(delivery.id);
    auto d = std::make_unique<Delivery>();
    d->id = std::move(delivery.id);
    d->url = std::move(delivery.url);
    d->body = std::move(delivery.body);
    enqueue(std::move(d));
}

void Webhooks::enqueue(std::unique_ptr<Delivery> d) {
    ++pending_;
    {
        std::lock_guard lock(mutex_);
        inbox_.push_back(std::move(d));
    }
    sender_->wake();
}

WebhookCounts Webhooks::counts() const {
    return {delivered_.load(), failed_.load(), retries_.load(), pending_.load()};
}

void Webhooks::stop(std::chrono::milliseconds grace) {
    if (!thread_.joinable()) {
        return;
    }
    auto deadline = Clock::now() + grace;
    while (pending_.load() > 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stopping_ = true;
    sender_->wake();
    thread_.join();
    if (auto left = pending_.load(); left > 0) {
        spdlog::warn("{} webhook deliveries were not made before the daemon stopped{}", left,
                     journal_ != nullptr ? "; they will be after it starts again" : "");
    }
}

void Webhooks::Sender::run() {
    while (!owner_.stopping_) {
        take_inbox();
        auto now = Clock::now();
        auto next_due = start_due(now);
        int running = 0;
        curl_multi_perform(multi_, &running);
        collect_finished();
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - now);
        curl_multi_poll(multi_, nullptr, 0, static_cast<int>(std::max<long>(wait_ms.count(), 0)),
                        nullptr);
    }
}

void Webhooks::Sender::take_inbox() {
    std::lock_guard lock(owner_.mutex_);
    while (!owner_.inbox_.empty()) {
        waiting_.push_back(std::move(owner_.inbox_.front()));
        owner_.inbox_.pop_front();
    }
}

Clock::time_point Webhooks::Sender::start_due(Clock::time_point now) {
    auto next_due = now + std::chrono::milliseconds(idle_poll_ms);
    for (auto it = waiting_.begin(); it != waiting_.end();) {
        if ((*it)->due <= now) {
            start(std::move(*it));
            it = waiting_.erase(it);
        } else {
            next_due = std::min(next_due, (*it)->due);
            ++it;
        }
    }
    return next_due;
}

curl_slist* Webhooks::Sender::headers_of(const Delivery& d) const {
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Taskpool-Delivery: " + d.id).c_str());
    headers = curl_slist_append(headers, "X-Taskpool-Event: job.finished");
    if (const auto& secret = owner_.settings_.secret) {
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        std::string timestamp = std::to_string(now);
        headers = curl_slist_append(headers, ("X-Taskpool-Timestamp: " + timestamp).c_str());
        headers = curl_slist_append(headers, ("X-Taskpool-Signature: sha256=" +
                                              hmac_sha256(*secret, timestamp + "." + d.body))
                                                 .c_str());
    }
    return headers;
}

void Webhooks::Sender::start(std::unique_ptr<Delivery> d) {
    ++d->attempt;
    d->easy = curl_easy_init();
    d->headers = headers_of(*d);
    CURL* e = d->easy;
    curl_easy_setopt(e, CURLOPT_URL, d->url.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d->body.size()));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(owner_.settings_.timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->error);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "taskpoold");
    curl_easy_setopt(e, CURLOPT_PRIVATE, d.get());
    curl_multi_add_handle(multi_, e);
    sending_.push_back(std::move(d));
}

void Webhooks::Sender::collect_finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
        if (msg->msg == CURLMSG_DONE) {
            Delivery* d = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &d);
            finish(d, msg->data.result);
        }
    }
}

void Webhooks::Sender::finish(Delivery* d, CURLcode result) {
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(multi_, d->easy);
    auto it =
        std::find_if(sending_.begin(), sending_.end(), [d](const auto& s) { return s.get() == d; });
    auto owned = std::move(*it);
    sending_.erase(it);
    owned->release();
    if (result == CURLE_OK && status >= 200 && status < 300) {
        ++owner_.delivered_;
        ended(*owned);
        return;
    }
    std::string why =
        result == CURLE_OK
            ? "status " + std::to_string(status)
            : std::string(owned->error[0] != '\0' ? owned->error : curl_easy_strerror(result));
    const auto& settings = owner_.settings_;
    if (owned->attempt >= settings.max_attempts) {
        spdlog::warn("webhook {} to {} failed {} times, giving up: {}", owned->id, owned->url,
                     owned->attempt, why);
        ++owner_.failed_;
        ended(*owned);
        return;
    }
    auto delay = std::chrono::duration<double>(settings.backoff_s *
                                               static_cast<double>(1 << (owned->attempt - 1)));
    spdlog::info("webhook {} to {}: {}; attempt {} in {:.1f} s", owned->id, owned->url, why,
                 owned->attempt + 1, delay.count());
    owned->due = Clock::now() + std::chrono::duration_cast<Clock::duration>(delay);
    ++owner_.retries_;
    waiting_.push_back(std::move(owned));
}

void Webhooks::Sender::ended(const Delivery& d) {
    --owner_.pending_;
    if (owner_.journal_ != nullptr) {
        owner_.journal_->append_from_any_thread(store::write::DeliveryEnded{d.id});
    }
}

}  // namespace taskpool::daemon::events
