#include "json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>

#include "utf8.hpp"

namespace taskpool::proto {

namespace {

/// Bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> plain_bytes = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x80; ++c) {
        plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
    }
    return plain;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        // Runs of bytes that need no escaping go in with one append.
        std::size_t run = i;
        while (run < s.size() && plain_bytes[static_cast<unsigned char>(s[run])]) {
            ++run;
        }
        out.append(s.data() + i, run - i);
        i = run;
        if (i == s.size()) {
            break;
        }
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t len = utf8_sequence_length(s, i);
            if (len == 0) {
                out += "\xEF\xBF\xBD";  // U+FFFD for one bad byte
                ++i;
            } else {
                out.append(s.data() + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xF];
                } else {
                    out += static_cast<char>(c);
                }
        }
        ++i;
    }
    out += '"';
}

void JsonWriter::separate() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) {
            out_ += ',';
        }
        first_.back() = false;
    }
}

JsonWriter& JsonWriter::begin_object() {
    separate();
    out_ += '{';
    first_.push_back(true);
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    out_ += '}';
    first_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    separate();
    out_ += '[';
    first_.push_back(true);
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    out_ += ']';
    first_.pop_back();
    return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
    separate();
    append_json_string(out_, name);
    out_ += ':';
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
    separate();
    append_json_string(out_, s);
    return *this;
}

JsonWriter& JsonWriter::value(bool b) {
    separate();
    out_ += b ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::value(std::int64_t n) {
    separate();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out_.append(buf, end);
    return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t n) {
    separate();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out_.append(buf, end);
    return *this;
}

JsonWriter& JsonWriter::value(double d) {
    if (!std::isfinite(d)) {
        return null();
    }
    separate();
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    out_.append(buf, end);
    return *this;
}

JsonWriter& JsonWriter::value(const nlohmann::json& j) {
    using nlohmann::json;
    switch (j.type()) {
        case json::value_t::object:
            begin_object();
            for (const auto& [k, v] : j.get_ref<const json::object_t&>()) {
                key(k).value(v);
            }
            return end_object();
        case json::value_t::array:
            begin_array();
            for (const auto& v : j.get_ref<const json::array_t&>()) {
                value(v);
            }
            return end_array();
        case json::value_t::string:
            return value(j.get_ref<const std::string&>());
        case json::value_t::boolean:
            return value(j.get<bool>());
        case json::value_t::number_integer:
            return value(j.get<std::int64_t>());
        case json::value_t::number_unsigned:
            return value(j.get<std::uint64_t>());
        case json::value_t::number_float:
        case json::value_t::binary:
            // nlohmann's own form: 2.0 stays 2.0 rather than becoming 2.
            separate();
            out_ += j.dump(-1, ' ', false, json::error_handler_t::replace);
            return *this;
        case json::value_t::null:
        case json::value_t::discarded:
            break;
    }
    return null();
}

JsonWriter& JsonWriter::value(const RawJson& j) {
    separate();
    out_ += j.text();
    return *this;
}

JsonWriter& JsonWriter::null() {
    separate();
    out_ += "null";
    return *this;
}

std::string json_text(const nlohmann::json& value) {
    std::string out;
    JsonWriter(out).value(value);
    return out;
}

}  // namespace taskpool::proto
