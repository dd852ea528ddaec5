#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/store/journal.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::kv {

/// JSON equality with numbers compared as what they are (1 equals 1.0, and 2^53 + 1
/// does not equal 2^53.0, as it would through doubles), objects in any key order.
bool same_value(const nlohmann::json& a, const nlohmann::json& b);

/// Shared state for jobs and clients (PROTOCOL.md section 5, kv.*): one JSON value
/// per key. Each operation is atomic because they all run on the io thread, one
/// after another; nothing here locks. A null value means "absent": setting null
/// removes the key. With a journal, every change is written to it. Thread-safety:
/// io thread only.
class KvStore {
public:
    /// Keys and values hold about `max_bytes` at most (kv.max_bytes).
    explicit KvStore(std::size_t max_bytes = SIZE_MAX) : max_bytes_(max_bytes) {}

    /// Writes every change to `journal` from now on (none: memory only).
    void set_journal(store::Journal* journal) { journal_ = journal; }
    /// Takes back the values the journal held.
    void restore(std::vector<std::pair<std::string, nlohmann::json>> values);

    /// The value, or null.
    nlohmann::json get(const std::string& key) const;
    /// Stores `value` (null removes the key); returns it.
    nlohmann::json set(const std::string& key, nlohmann::json value);
    /// Removes the key; returns the value it had, or null.
    nlohmann::json del(const std::string& key);
    /// Adds `by` to an integer value (a missing key counts as 0); returns the new
    /// value. bad_request if the value is not an integer or the sum overflows.
    proto::Result<std::int64_t> incr(const std::string& key, std::int64_t by);

    struct CasResult {
        bool swapped;
        nlohmann::json value;  // the value now
    };
    /// Stores `value` if the key holds `expect` (null: the key is missing).
    CasResult cas(const std::string& key, const nlohmann::json& expect, nlohmann::json value);

    struct Listed {
        std::vector<std::pair<std::string, nlohmann::json>> values;
        bool more = false;  // keys follow the last one listed
    };
    /// The first `limit` keys with `prefix` that sort after `after`, in byte order.
    Listed list(std::string_view prefix, std::string_view after, std::size_t limit) const;

    std::size_t size() const { return values_.size(); }
    /// What the keys and values hold, about.
    std::size_t bytes() const { return bytes_; }
    /// unavailable if `key` holding `value` would pass max_bytes; a change calls it
    /// first.
    proto::Result<void> room_for(const std::string& key, const nlohmann::json& value) const;

private:
    /// Tells the journal what the key holds now.
    void changed(const std::string& key);
    /// Stores or (null) removes the value, keeping bytes_.
    const nlohmann::json& put(const std::string& key, nlohmann::json value);
    std::size_t held(const std::string& key) const;

    std::unordered_map<std::string, nlohmann::json> values_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    store::Journal* journal_ = nullptr;
};

}  // namespace taskpool::daemon::kv
