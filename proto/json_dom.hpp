#pragma once

// simdjson's DOM, for the decoders inside proto: a line read in place, without the
// nlohmann tree that would be built and freed for each request. Not for use outside
// proto, which does not export simdjson.

#include <simdjson.h>

#include "json_fields.hpp"

namespace taskpool::proto {

/// Parses one JSON text with this thread's parser, under the rules of parse_json.
/// The element lives until the thread parses again.
Result<simdjson::dom::element> parse_dom(std::string_view text);

/// The tree nlohmann's own parser builds from the same text: non-negative integers
/// are unsigned, and of a repeated key the last value counts.
nlohmann::json to_json(simdjson::dom::element e);

/// simdjson's tree, read where it is.
struct DomView {
    using Object = simdjson::dom::object;
    using Value = simdjson::dom::element;

    static std::size_t size(Object object) { return object.size(); }
    template <class Visit>
    static void for_each_field(Object object, Visit&& visit) {
        for (auto field : object) {
            visit(field.key, field.value);
        }
    }
    static std::optional<std::string_view> text(Value v) {
        std::string_view s;
        return v.get(s) ? std::nullopt : std::optional<std::string_view>(s);
    }
    static std::optional<bool> boolean(Value v) {
        bool b = false;
        return v.get(b) ? std::nullopt : std::optional<bool>(b);
    }
    static std::optional<JsonNumber> number(Value v) {
        switch (v.type()) {
            case simdjson::dom::element_type::INT64:
                return v.get_int64().value_unsafe();
            case simdjson::dom::element_type::UINT64:
                return v.get_uint64().value_unsafe();
            case simdjson::dom::element_type::DOUBLE:
                return v.get_double().value_unsafe();
            default:
                return std::nullopt;
        }
    }
    static std::optional<std::vector<std::string>> text_list(Value v) {
        simdjson::dom::array array;
        if (v.get(array)) {
            return std::nullopt;
        }
        std::vector<std::string> out;
        out.reserve(array.size());
        for (auto item : array) {
            auto s = text(item);
            if (!s) {
                return std::nullopt;
            }
            out.emplace_back(*s);
        }
        return out;
    }
    static nlohmann::json to_json(Value v) { return proto::to_json(v); }
};

extern template class BasicFieldReader<DomView>;

}  // namespace taskpool::proto
