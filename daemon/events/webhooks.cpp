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

Webhooks::Webhooks(WebhookSettings settings) : settings_(std::move(settings)) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi_ = curl_multi_init();
    thread_ = std::thread([this] {
        leave_signals_to_the_io_thread();  // and so curl's resolver threads
        run();
    });
}

Webhooks::~Webhooks() {
    stop(std::chrono::milliseconds(0));
    curl_multi_cleanup(static_cast<CURLM*>(multi_));
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
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
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
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
    thread_.join();
    if (auto left = pending_.load(); left > 0) {
        spdlog::warn("{} webhook deliveries were not made before the daemon stopped{}", left,
                     journal_ != nullptr ? "; they will be after it starts again" : "");
    }
}

void Webhooks::run() {
    auto* multi = static_cast<CURLM*>(multi_);
    std::vector<std::unique_ptr<Delivery>> waiting;  // for their first or next attempt
    std::vector<std::unique_ptr<Delivery>> sending;
    auto start = [&](std::unique_ptr<Delivery> d) {
        ++d->attempt;
        d->easy = curl_easy_init();
        d->headers = curl_slist_append(nullptr, "Content-Type: application/json");
        d->headers = curl_slist_append(d->headers, ("X-Taskpool-Delivery: " + d->id).c_str());
        d->headers = curl_slist_append(d->headers, "X-Taskpool-Event: job.finished");
        if (settings_.secret) {
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
            std::string timestamp = std::to_string(now);
            d->headers =
                curl_slist_append(d->headers, ("X-Taskpool-Timestamp: " + timestamp).c_str());
            d->headers = curl_slist_append(
                d->headers, ("X-Taskpool-Signature: sha256=" +
                             hmac_sha256(*settings_.secret, timestamp + "." + d->body))
                                .c_str());
        }
        CURL* e = d->easy;
        curl_easy_setopt(e, CURLOPT_URL, d->url.c_str());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(d->body.size()));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout_s * 1000));
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->error);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "taskpoold");
        curl_easy_setopt(e, CURLOPT_PRIVATE, d.get());
        curl_multi_add_handle(multi, e);
        sending.push_back(std::move(d));
    };
    auto ended = [&](const Delivery& d) {
        --pending_;
        if (journal_ != nullptr) {
            journal_->append_from_any_thread(store::write::DeliveryEnded{d.id});
        }
    };
    auto finish = [&](Delivery* d, CURLcode result) {
        long status = 0;
        curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(multi, d->easy);
        auto it = std::find_if(sending.begin(), sending.end(),
                               [d](const auto& s) { return s.get() == d; });
        auto owned = std::move(*it);
        sending.erase(it);
        owned->release();
        if (result == CURLE_OK && status >= 200 && status < 300) {
            ++delivered_;
            ended(*owned);
            return;
        }
        std::string why =
            result == CURLE_OK
                ? "status " + std::to_string(status)
                : std::string(owned->error[0] != '\0' ? owned->error : curl_easy_strerror(result));
        if (owned->attempt >= settings_.max_attempts) {
            spdlog::warn("webhook {} to {} failed {} times, giving up: {}", owned->id, owned->url,
                         owned->attempt, why);
            ++failed_;
            ended(*owned);
            return;
        }
        auto delay = std::chrono::duration<double>(settings_.backoff_s *
                                                   static_cast<double>(1 << (owned->attempt - 1)));
        spdlog::info("webhook {} to {}: {}; attempt {} in {:.1f} s", owned->id, owned->url, why,
                     owned->attempt + 1, delay.count());
        owned->due = Clock::now() + std::chrono::duration_cast<Clock::duration>(delay);
        ++retries_;
        waiting.push_back(std::move(owned));
    };

    while (!stopping_) {
        {
            std::lock_guard lock(mutex_);
            while (!inbox_.empty()) {
                waiting.push_back(std::move(inbox_.front()));
                inbox_.pop_front();
            }
        }
        auto now = Clock::now();
        auto next_due = now + std::chrono::milliseconds(idle_poll_ms);
        for (auto it = waiting.begin(); it != waiting.end();) {
            if ((*it)->due <= now) {
                start(std::move(*it));
                it = waiting.erase(it);
            } else {
                next_due = std::min(next_due, (*it)->due);
                ++it;
            }
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
            if (msg->msg == CURLMSG_DONE) {
                Delivery* d = nullptr;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &d);
                finish(d, msg->data.result);
            }
        }
        auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_due - now);
        curl_multi_poll(multi, nullptr, 0, static_cast<int>(std::max<long>(wait_ms.count(), 0)),
                        nullptr);
    }
    for (auto& d : sending) {
        curl_multi_remove_handle(multi, d->easy);
    }
}

}  // namespace taskpool::daemon::events
