#include "json_parse.hpp"

#include <new>
#include <string>

#include "json_dom.hpp"
#include "json_writer.hpp"

namespace taskpool::proto {
namespace {

using nlohmann::json;

/// A parser that grew for one huge line gives its memory back before the next.
constexpr std::size_t max_kept_capacity = std::size_t{1} << 20;

/// A parser that refuses nesting past `depth` as simdjson counts it: containers,
/// less an innermost one that is empty.
simdjson::dom::parser make_parser(std::size_t depth = max_json_depth) {
    simdjson::dom::parser parser;
    if (parser.allocate(simdjson::SIMDJSON_PADDING, depth) != simdjson::SUCCESS) {
        throw std::bad_alloc();
    }
    return parser;
}

/// A parser of this thread's, kept from one text to the next, for each slot and
/// for each depth (see parse_dom). One that grew for a huge text is let go.
simdjson::dom::parser& thread_parser(DomSlot slot, bool deep = false) {
    thread_local simdjson::dom::parser parsers[2][2];  // [slot][deep]
    auto& parser = parsers[static_cast<int>(slot)][deep ? 1 : 0];
    if (parser.capacity() == 0 || parser.capacity() > max_kept_capacity) {
        // For a document of max_json_depth containers whose innermost holds
        // something, simdjson counts a level more than the protocol does.
        parser = make_parser(deep ? max_json_depth + 1 : max_json_depth);
    }
    return parser;
}

/// The deepest nesting of [ and { outside strings, stopping early past `limit`.
int nesting_depth(std::string_view text, int limit) {
    int depth = 0;
    int deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (++depth > deepest) {
                    deepest = depth;
                    if (deepest > limit) {
                        return deepest;
                    }
                }
                break;
            case ']':
            case '}':
                --depth;
                break;
            default:
                break;
        }
    }
    return deepest;
}

/// nlohmann's parser, for what simdjson refuses (nlohmann takes integers beyond 64
/// bits as doubles, and it explains errors), and for huge texts.
Result<json> parse_with_nlohmann(std::string_view text) {
    // Nesting past the limit is refused before nlohmann builds anything: its
    // recursive copy and dump would overflow the stack on a deep document. Counted
    // here, not by simdjson, whose count depends on what the innermost holds.
    if (nesting_depth(text, max_json_depth) > max_json_depth) {
        return bad_request("nesting deeper than " + std::to_string(max_json_depth) + " levels");
    }
    json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
        // Parse again only to explain; the failure path is not the hot one.
        try {
            [[maybe_unused]] auto unused = json::parse(text);
        } catch (const json::exception& e) {
            // A syntax error, or a number too large (out_of_range.406):
            // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
            std::string what = e.what();
            auto colon = what.find("] ");
            return bad_request("invalid JSON: " +
                               (colon == std::string::npos ? what : what.substr(colon + 2)));
        }
        return bad_request("invalid JSON");
    }
    return value;
}

}  // namespace

json to_json(simdjson::dom::element e) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::OBJECT: {
            json j = json::object();
            auto& members = j.get_ref<json::object_t&>();
            simdjson::dom::object object = e.get_object().value_unsafe();
            for (auto [key, value] : object) {
                members.insert_or_assign(std::string(key), to_json(value));
            }
            return j;
        }
        case element_type::ARRAY: {
            json j = json::array();
            auto& items = j.get_ref<json::array_t&>();
            simdjson::dom::array array = e.get_array().value_unsafe();
            for (auto item : array) {
                items.push_back(to_json(item));
            }
            return j;
        }
        case element_type::INT64: {
            std::int64_t n = e.get_int64().value_unsafe();
            return n >= 0 ? json(static_cast<std::uint64_t>(n)) : json(n);
        }
        case element_type::UINT64:
            return e.get_uint64().value_unsafe();
        case element_type::DOUBLE:
            return e.get_double().value_unsafe();
        case element_type::STRING:
            return std::string(e.get_string().value_unsafe());
        case element_type::BOOL:
            return e.get_bool().value_unsafe();
        case element_type::NULL_VALUE:
            break;
    }
    return nullptr;
}

Result<simdjson::dom::element> parse_dom(std::string_view text, DomSlot slot) {
    // simdjson first: it reads a line several times faster than nlohmann's lexer,
    // and it checks the nesting as it goes.
    auto& parser = thread_parser(slot);
    simdjson::dom::element root;
    auto error = parser.parse(text.data(), text.size()).get(root);
    if (!error) {
        return root;
    }
    auto value = parse_with_nlohmann(text);
    if (!value) {
        return value.error();
    }
    // nlohmann accepted it: written out again, its big integers are doubles that
    // simdjson takes. The tree holds copies of its strings, so the text may go.
    std::string again = json_text(*value);
    auto& again_parser = error == simdjson::DEPTH_ERROR ? thread_parser(slot, true) : parser;
    if (again_parser.parse(again).get(root)) {
        return bad_request("invalid JSON");
    }
    return root;
}

Result<json> parse_json(std::string_view text) {
    if (text.size() > huge_json_bytes) {
        // A worker under memory_limit_mb feels a text held three times.
        return parse_with_nlohmann(text);
    }
    auto root = parse_dom(text);
    if (!root) {
        return root.error();
    }
    return to_json(*root);
}

Result<RawJson> compact_json(std::string_view text) {
    if (text.size() > huge_json_bytes) {
        auto value = parse_with_nlohmann(text);
        if (!value) {
            return value.error();
        }
        return RawJson(*value);
    }
    auto root = parse_dom(text);
    if (!root) {
        return root.error();
    }
    return raw_json(*root);
}

}  // namespace taskpool::proto
