#include "json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

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

/// Where the run of plain bytes that starts at `from` ends. Eight bytes at a time
/// while none of them is special (below 0x20, '"', '\\' or 0x80 and above), with
/// the usual bit tricks for "a byte below n" and "a byte equal to c"; then byte by
/// byte from the word that holds the first special one.
std::size_t plain_run_end(std::string_view s, std::size_t from) {
    constexpr std::uint64_t ones = 0x0101010101010101;
    constexpr std::uint64_t highs = ones * 0x80;
    std::size_t i = from;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, sizeof w);
        std::uint64_t quote = w ^ (ones * '"');
        std::uint64_t backslash = w ^ (ones * '\\');
        std::uint64_t special = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                                ((backslash - ones) & ~backslash) | w;
        if ((special & highs) != 0) {
            break;
        }
    }
    while (i < s.size() && plain_bytes[static_cast<unsigned char>(s[i])]) {
        ++i;
    }
    return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t i = 0;
    while (i < s.size()) {
        // Runs of bytes that need no escaping go in with one append.
        std::size_t run = plain_run_end(s, i);
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

bool JsonWriter::comma_due() {
    if (after_key_) {
        after_key_ = false;
        return false;
    }
    if (depth_ == 0) {
        return false;
    }
    return !std::exchange(empty_, false);
}

void JsonWriter::open() {
    ++depth_;
    empty_ = true;
}

void JsonWriter::close() {
    --depth_;
    empty_ = false;
}

void JsonWriter::separate() {
    if (comma_due()) {
        out_ += ',';
    }
}

JsonWriter& JsonWriter::begin_object() {
    separate();
    out_ += '{';
    open();
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    out_ += '}';
    close();
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    separate();
    out_ += '[';
    open();
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    out_ += ']';
    close();
    return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
    if (plain_run_end(name, 0) == name.size()) {
        return plain_key(name);
    }
    separate();
    append_json_string(out_, name);
    out_ += ':';
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::plain_key(std::string_view name) {
    // A job reply has a dozen keys, all short: each goes in as one append of
    // `,"name":` rather than four.
    constexpr std::size_t short_key = 32;
    if (name.size() > short_key) {
        separate();
        out_ += '"';
        out_ += name;
        out_ += "\":";
        after_key_ = true;
        return *this;
    }
    char text[short_key + 4];
    std::size_t n = 0;
    if (comma_due()) {
        text[n++] = ',';
    }
    text[n++] = '"';
    std::memcpy(text + n, name.data(), name.size());
    n += name.size();
    text[n++] = '"';
    text[n++] = ':';
    out_.append(text, n);
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
