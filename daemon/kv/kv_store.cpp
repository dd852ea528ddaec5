#include "kv_store.hpp"

#include "proto/json_writer.hpp"

namespace taskpool::daemon::kv {

using nlohmann::json;

json KvStore::get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? json(nullptr) : it->second;
}

void KvStore::restore(std::vector<std::pair<std::string, json>> values) {
    for (auto& [key, value] : values) {
        values_.insert_or_assign(std::move(key), std::move(value));
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

json KvStore::set(const std::string& key, json value) {
    if (value.is_null()) {
        values_.erase(key);
        changed(key);
        return nullptr;
    }
    json stored = values_.insert_or_assign(key, std::move(value)).first->second;
    changed(key);
    return stored;
}

json KvStore::del(const std::string& key) {
    auto node = values_.extract(key);
    changed(key);
    return node.empty() ? json(nullptr) : std::move(node.mapped());
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
    values_.insert_or_assign(key, json(next));
    changed(key);
    return next;
}

KvStore::CasResult KvStore::cas(const std::string& key, const json& expect, json value) {
    json current = get(key);
    if (current != expect) {
        return {false, std::move(current)};
    }
    return {true, set(key, std::move(value))};
}

}  // namespace taskpool::daemon::kv
