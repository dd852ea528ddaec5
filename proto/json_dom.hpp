#pragma once

// simdjson's DOM: a line read in place, without the nlohmann tree that would be
// built and freed for each request. The request decoders, the worker channel and
// the built-in tasks' argument checks read through it.

#include <simdjson.h>

#include "json_fields.hpp"
#include "json_parse.hpp"
#include "raw_json.hpp"

namespace taskpool::proto {

/// Which of this thread's parsers to use: a document parsed in one slot lives
/// while another is parsed in the other.
enum class DomSlot { first, second };

/// Parses one JSON text with this thread's parser, under the rules of parse_json.
/// The element lives until the thread parses again in the same slot.
Result<simdjson::dom::element> parse_dom(std::string_view text, DomSlot slot = DomSlot::first);

/// The tree nlohmann's own parser builds from the same text: non-negative integers
/// are unsigned, and of a repeated key the last value counts.
nlohmann::json to_json(simdjson::dom::element e);

/// The value's compact text, as RawJson(to_json(e)) would have it, without the tree.
RawJson raw_json(simdjson::dom::element e);

/// simdjson's tree, read where it is.
struct DomView {
    using Object = simdjson::dom::object;
    using Value = simdjson::dom::element;

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
    static RawJson raw(Value v) { return raw_json(v); }
    static std::optional<Object> object(Value v) {
        Object object;
        return v.get(object) ? std::nullopt : std::optional<Object>(object);
    }
};

extern template class BasicFieldReader<DomView>;
/// Reads a document parsed by parse_dom.
using DomReader = BasicFieldReader<DomView>;

/// Reads the JSON object `text` with the strict field reader, in simdjson's tree,
/// or, for a huge text, in nlohmann's (as parse_json does, to hold it fewer
/// times). `read` takes either reader (a generic lambda) and returns a Result.
template <class Read>
auto read_object(std::string_view text, Read&& read) -> decltype(read(std::declval<DomReader&>())) {
    if (text.size() > huge_json_bytes) {
        auto tree = parse_json(text);
        if (!tree) {
            return tree.error();
        }
        if (!tree->is_object()) {
            return bad_request("must be a JSON object");
        }
        FieldReader r(*tree);
        return read(r);
    }
    auto root = parse_dom(text);
    if (!root) {
        return root.error();
    }
    simdjson::dom::object object;
    if (root->get(object)) {
        return bad_request("must be a JSON object");
    }
    DomReader r(object);
    return read(r);
}

}  // namespace taskpool::proto
