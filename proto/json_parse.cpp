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

/// One parser per thread: it keeps its buffers from one line to the next.
simdjson::dom::parser& thread_parser() {
    thread_local simdjson::dom::parser parser = make_parser();
    if (parser.capacity() > max_kept_capacity) {
        parser = make_parser();
    }
    return parser;
}

/// For a document of max_json_depth containers whose innermost holds something:
/// simdjson counts it a level deeper than the limit, the protocol does not.
simdjson::dom::parser& deep_parser() {
    thread_local simdjson::dom::parser parser = make_parser(max_json_depth + 1);
    if (parser.capacity() > max_kept_capacity) {
        parser = make_parser(max_json_depth + 1);
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

Result<simdjson::dom::element> parse_dom(std::string_view text) {
    // simdjson first: it reads a line several times faster than nlohmann's lexer,
    // and it checks the nesting as it goes.
    auto& parser = thread_parser();
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
    auto& again_parser = error == simdjson::DEPTH_ERROR ? deep_parser() : parser;
    if (again_parser.parse(again).get(root)) {
        return bad_request("invalid JSON");
    }
    return root;
}

Result<json> parse_json(std::string_view text) {
    if (text.size() > max_kept_capacity) {
        // Through simdjson a huge text would be held three times at once (its padded
        // copy, its strings, the tree): a worker under memory_limit_mb feels that.
        return parse_with_nlohmann(text);
    }
    auto root = parse_dom(text);
    if (!root) {
        return root.error();
    }
    return to_json(*root);
}

}  // namespace taskpool::proto
