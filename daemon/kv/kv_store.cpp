#include "kv_store.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "proto/json_size.hpp"
#include "proto/json_writer.hpp"

namespace taskpool::daemon::kv {

using nlohmann::json;

namespace {

/// An integer of JSON as sign and magnitude: int64 and uint64 values both fit.
struct Integer {
    bool negative = false;
    std::uint64_t magnitude = 0;
    bool operator==(const Integer&) const = default;
};

/// The integer a number is exactly, if it is one (a double only where it is integral
/// and within 64 bits of magnitude).
std::optional<Integer> integer_of(const json& n) {
    if (n.is_number_unsigned()) {
        return Integer{false, n.get<std::uint64_t>()};
    }
    if (n.is_number_integer()) {
        auto v = n.get<std::int64_t>();
        return Integer{v < 0,
                       v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v)};
    }
    double d = n.get<double>();
    constexpr double two_to_64 = 18446744073709551616.0;
    if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) >= two_to_64) {
        return std::nullopt;
    }
    return Integer{d < 0, static_cast<std::uint64_t>(std::fabs(d))};
}

}  // namespace

bool same_value(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_number_float() && b.is_number_float()) {
            return a.get<double>() == b.get<double>();
        }
        auto x = integer_of(a);
        return x && x == integer_of(b);
    }
    if (a.is_array() && b.is_array()) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same_value);
    }
    if (a.is_object() && b.is_object()) {
        if (a.size() != b.size()) {
            return false;
        }
        for (auto it = a.begin(); it != a.end(); ++it) {
            auto other = b.find(it.key());
            if (other == b.end() || !same_value(*it, *other)) {
                return false;
            }
        }
        return true;
    }
    return a == b;
}

KvStore::Listed KvStore::list(std::string_view prefix, std::string_view after,
                              std::size_t limit) const {
    std::vector<const std::pair<const std::string, json>*> found;
    for (const auto& entry : values_) {
        if (entry.first.starts_with(prefix) && entry.first > after) {
            found.push_back(&entry);
        }
    }
    auto shown = std::min(limit, found.size());
    std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(shown),
                      found.end(),
                      [](const auto* a, const auto* b) { return a->first < b->first; });
    Listed listed;
    listed.more = found.size() > shown;
    for (std::size_t i = 0; i < shown; ++i) {
        listed.values.emplace_back(found[i]->first, found[i]->second);
    }
    return listed;
}

json KvStore::get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? json(nullptr) : it->second;
}

void KvStore::restore(std::vector<std::pair<std::string, json>> values) {
    for (auto& [key, value] : values) {
        put(key, std::move(value));
    }
}

void KvStore::changed(const std::string& key) {
    if (journal_ == nullptr) {
        return;
    }
    auto it = values_.find(key);
    std::optional<std::string> value;
    if (it != values_.end()) {
        value = proto::json_text(it->second);
    }
    journal_->append(store::write::KvChanged{key, std::move(value)});
}

std::size_t KvStore::held(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? 0 : key.size() + proto::json_tree_bytes(it->second);
}

proto::Result<void> KvStore::room_for(const std::string& key, const json& value) const {
    auto after =
        bytes_ - held(key) + (value.is_null() ? 0 : key.size() + proto::json_tree_bytes(value));
    if (after > max_bytes_ && after > bytes_) {
        return proto::Error{proto::ErrorCode::unavailable,
                            "kv would hold " + std::to_string(after) +
                                " bytes, over kv.max_bytes (" + std::to_string(max_bytes_) +
                                "); nothing was changed: delete keys, or store less"};
    }
    return {};
}

const json& KvStore::put(const std::string& key, json value) {
    static const json null;
    bytes_ -= held(key);
    if (value.is_null()) {
        values_.erase(key);
        return null;
    }
    bytes_ += key.size() + proto::json_tree_bytes(value);
    return values_.insert_or_assign(key, std::move(value)).first->second;
}

json KvStore::set(const std::string& key, json value) {
    json stored = put(key, std::move(value));
    changed(key);
    return stored;
}

json KvStore::del(const std::string& key) {
    json removed = get(key);
    put(key, nullptr);
    changed(key);
    return removed;
}

proto::Result<std::int64_t> KvStore::incr(const std::string& key, std::int64_t by) {
    auto it = values_.find(key);
    std::int64_t current = 0;
    if (it != values_.end()) {
        const json& v = it->second;
        bool fits = v.is_number_integer() &&
                    !(v.is_number_unsigned() &&
                      v.get<std::uint64_t>() >
                          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
        if (!fits) {
            return proto::bad_request("key '" + key + "' holds " + std::string(v.type_name()) +
                                      " " + proto::json_text(v).substr(0, 100) +
                                      ", not an integer");
        }
        current = v.get<std::int64_t>();
    }
    std::int64_t next = 0;
    if (__builtin_add_overflow(current, by, &next)) {
        return proto::bad_request("key '" + key + "': " + std::to_string(current) + " + " +
                                  std::to_string(by) + " overflows a 64-bit integer");
    }
    put(key, json(next));
    changed(key);
    return next;
}

KvStore::CasResult KvStore::cas(const std::string& key, const json& expect, json value) {
    json current = get(key);
    if (!same_value(current, expect)) {
        return {false, std::move(current)};
    }
    return {true, set(key, std::move(value))};
}

}  // namespace taskpool::daemon::kv
