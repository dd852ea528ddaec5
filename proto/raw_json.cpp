#include "raw_json.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "json_dom.hpp"
#include "json_parse.hpp"
#include "json_writer.hpp"

namespace taskpool::proto {

RawJson::RawJson(std::string_view valid_text) {
    if (valid_text.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("JSON text over 4 GiB");
    }
    void* memory = ::operator new(sizeof(Block) + valid_text.size());
    block_ = new (memory) Block{{1}, static_cast<std::uint32_t>(valid_text.size())};
    std::memcpy(static_cast<char*>(memory) + sizeof(Block), valid_text.data(), valid_text.size());
}

template <class Write>
RawJson RawJson::written(Write&& write) {
    // Written into a buffer kept by the thread, so that only the block is allocated;
    // one that a huge value grew is let go.
    constexpr std::size_t kept_capacity = 1 << 20;
    thread_local std::string text;
    text.clear();
    JsonWriter w(std::move(text));
    write(w);
    text = std::move(w).take();
    RawJson raw = text == "null" ? RawJson() : RawJson(std::string_view(text));
    if (text.capacity() > kept_capacity) {
        std::string().swap(text);
    }
    return raw;
}

RawJson::RawJson(const nlohmann::json& value)
    : RawJson(written([&](JsonWriter& w) { w.value(value); })) {}

namespace {

/// Whether the key at `it` comes again before `end`.
bool appears_after(simdjson::dom::object::iterator it, simdjson::dom::object::iterator end) {
    auto key = it.key();
    for (++it; it != end; ++it) {
        if (it.key() == key) {
            return true;
        }
    }
    return false;
}

bool has_repeated_key(simdjson::dom::object object) {
    constexpr std::size_t scanned = 16;  // beyond this a set is cheaper than a scan
    if (object.size() <= scanned) {
        for (auto it = object.begin(); it != object.end(); ++it) {
            if (appears_after(it, object.end())) {
                return true;
            }
        }
        return false;
    }
    std::unordered_set<std::string_view> keys;
    keys.reserve(object.size());
    for (auto [key, value] : object) {
        if (!keys.insert(key).second) {
            return true;
        }
    }
    return false;
}

void write_element(JsonWriter& w, simdjson::dom::element e) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::OBJECT: {
            w.begin_object();
            simdjson::dom::object object = e.get_object().value_unsafe();
            // Of a repeated key the last value counts, as in a request: where a key
            // repeats, `last` says where each one last appears.
            std::unordered_map<std::string_view, std::size_t> last;
            if (has_repeated_key(object)) {
                std::size_t i = 0;
                for (auto [key, value] : object) {
                    last[key] = i++;
                }
            }
            std::size_t i = 0;
            for (auto [key, value] : object) {
                if (last.empty() || last[key] == i) {
                    w.key(key);
                    write_element(w, value);
                }
                ++i;
            }
            w.end_object();
            return;
        }
        case element_type::ARRAY: {
            w.begin_array();
            simdjson::dom::array array = e.get_array().value_unsafe();
            for (auto item : array) {
                write_element(w, item);
            }
            w.end_array();
            return;
        }
        case element_type::INT64:
            w.value(e.get_int64().value_unsafe());
            return;
        case element_type::UINT64:
            w.value(e.get_uint64().value_unsafe());
            return;
        case element_type::DOUBLE:
            // In nlohmann's form, as a tree would be written: 2.0 stays 2.0.
            w.value(nlohmann::json(e.get_double().value_unsafe()));
            return;
        case element_type::STRING:
            w.value(e.get_string().value_unsafe());
            return;
        case element_type::BOOL:
            w.value(e.get_bool().value_unsafe());
            return;
        case element_type::NULL_VALUE:
            break;
    }
    w.null();
}

}  // namespace

RawJson raw_json(simdjson::dom::element value) {
    return RawJson::written([&](JsonWriter& w) { write_element(w, value); });
}

std::optional<RawJson> RawJson::from_text(std::string_view text) {
    // nlohmann's check: text read back from the journal may be nested deeper than
    // a request may (a plugin's result), and parse_dom would refuse it.
    if (!nlohmann::json::accept(text)) {
        return std::nullopt;
    }
    return text == "null" ? RawJson() : RawJson(text);
}

nlohmann::json RawJson::parse() const {
    auto value = parse_json(text());
    if (!value) {
        throw std::logic_error("RawJson holds invalid JSON: " + value.error().message);
    }
    return std::move(*value);
}

void RawJson::retain() const {
    if (block_ != nullptr) {
        block_->refs.fetch_add(1, std::memory_order_relaxed);
    }
}

void RawJson::release() const {
    // acq_rel: the last owner sees every other owner's reads done before it frees.
    if (block_ != nullptr && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        block_->~Block();
        ::operator delete(block_);
    }
}

}  // namespace taskpool::proto
