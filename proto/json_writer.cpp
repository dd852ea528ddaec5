#include "json_writer.hpp"

#include <algorithm>
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

/// Whether any of the eight bytes at `at` is special (below 0x20, '"', '\\' or 0x80
/// and above), with the usual bit tricks for "a byte below n" and "a byte equal to c".
bool special_in_word(std::string_view s, std::size_t at) {
    constexpr std::uint64_t ones = 0x0101010101010101;
    constexpr std::uint64_t highs = ones * 0x80;
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + at, sizeof w);
    std::uint64_t quote = w ^ (ones * '"');
    std::uint64_t backslash = w ^ (ones * '\\');
    std::uint64_t special = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) |
                            ((backslash - ones) & ~backslash) | w;
    return (special & highs) != 0;
}

/// Where the run of plain bytes that starts at `from` ends. Eight bytes at a time
/// while none of them is special, the last few as the word that ends the string;
/// then byte by byte from the word that holds the first special one.
std::size_t plain_run_end(std::string_view s, std::size_t from) {
    std::size_t i = from;
    for (; i + 8 <= s.size(); i += 8) {
        if (special_in_word(s, i)) {
            break;
        }
    }
    if (i + 8 > s.size() && s.size() - from >= 8 && !special_in_word(s, s.size() - 8)) {
        return s.size();
    }
    while (i < s.size() && plain_bytes[static_cast<unsigned char>(s[i])]) {
        ++i;
    }
    return i;
}

}  // namespace

JsonWriter::JsonWriter(std::string prefix, std::size_t expected) : text_(std::move(prefix)) {
    constexpr std::size_t least_room = 128;
    auto used = text_.size();
    text_.resize(used + std::max(expected, least_room));
    pos_ = text_.data() + used;
    end_ = text_.data() + text_.size();
}

std::string JsonWriter::take() && {
    text_.resize(static_cast<std::size_t>(pos_ - text_.data()));
    return std::move(text_);
}

void JsonWriter::grow(std::size_t n) {
    auto used = static_cast<std::size_t>(pos_ - text_.data());
    text_.resize(std::max(used + n, 2 * text_.size()));
    pos_ = text_.data() + used;
    end_ = text_.data() + text_.size();
}

void JsonWriter::put(std::string_view text) {
    if (!text.empty()) {
        std::memcpy(room(text.size()), text.data(), text.size());
        pos_ += text.size();
    }
}

void JsonWriter::put_string(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    // Room for the quotes and every byte as it is; an escape makes room again.
    char* p = room(s.size() + 2);
    *p++ = '"';
    std::size_t i = 0;
    while (i < s.size()) {
        // Runs of bytes that need no escaping go in with one copy.
        std::size_t run = plain_run_end(s, i);
        std::memcpy(p, s.data() + i, run - i);
        p += run - i;
        i = run;
        if (i == s.size()) {
            break;
        }
        constexpr std::size_t longest_escape = 6;  // \u001f
        pos_ = p;
        p = room(longest_escape + (s.size() - i) + 1);
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t len = utf8_sequence_length(s, i);
            if (len == 0) {
                std::memcpy(p, "\xEF\xBF\xBD", 3);  // U+FFFD for one bad byte
                p += 3;
                ++i;
            } else {
                std::memcpy(p, s.data() + i, len);
                p += len;
                i += len;
            }
            continue;
        }
        *p++ = '\\';
        switch (c) {
            case '"':
            case '\\':
                *p++ = static_cast<char>(c);
                break;
            case '\n':
                *p++ = 'n';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\t':
                *p++ = 't';
                break;
            default:  // the other control characters
                std::memcpy(p, "u00", 3);
                p[3] = hex[c >> 4];
                p[4] = hex[c & 0xF];
                p += 5;
        }
        ++i;
    }
    *p++ = '"';
    pos_ = p;
}

void JsonWriter::open(char bracket) {
    separate();
    *room(1) = bracket;
    ++pos_;
    ++depth_;
    empty_ = true;
}

void JsonWriter::close(char bracket) {
    *room(1) = bracket;
    ++pos_;
    --depth_;
    empty_ = false;
}

JsonWriter& JsonWriter::begin_object() {
    open('{');
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    close('}');
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    open('[');
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    close(']');
    return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
    separate();
    put_string(name);
    *room(1) = ':';
    ++pos_;
    after_key_ = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
    separate();
    put_string(s);
    return *this;
}

JsonWriter& JsonWriter::value(bool b) {
    separate();
    put(b ? "true" : "false");
    return *this;
}

JsonWriter& JsonWriter::value(std::int64_t n) {
    separate();
    if (n >= 0 && n < 10) {  // a job's priority, attempts, thread: mostly one digit
        *room(1) = static_cast<char>('0' + n);
        ++pos_;
        return *this;
    }
    constexpr std::size_t longest = 20;  // -9223372036854775808
    char* p = room(longest);
    pos_ = std::to_chars(p, p + longest, n).ptr;
    return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t n) {
    separate();
    constexpr std::size_t longest = 20;  // 18446744073709551615
    char* p = room(longest);
    pos_ = std::to_chars(p, p + longest, n).ptr;
    return *this;
}

JsonWriter& JsonWriter::value(double d) {
    if (!std::isfinite(d)) {
        return null();
    }
    separate();
    constexpr std::size_t longest = 32;  // -1.7976931348623157e+308 and room to spare
    char* p = room(longest);
    pos_ = std::to_chars(p, p + longest, d).ptr;
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
            put(j.dump(-1, ' ', false, json::error_handler_t::replace));
            return *this;
        case json::value_t::null:
        case json::value_t::discarded:
            break;
    }
    return null();
}

JsonWriter& JsonWriter::value(const RawJson& j) {
    separate();
    put(j.text());
    return *this;
}

JsonWriter& JsonWriter::null() {
    separate();
    put("null");
    return *this;
}

JsonWriter& JsonWriter::raw(std::string_view text) {
    put(text);
    return *this;
}

void append_json_string(std::string& out, std::string_view s) {
    JsonWriter w(std::move(out), s.size() + 2);
    w.value(s);
    out = std::move(w).take();
}

std::string json_text(const nlohmann::json& value) {
    JsonWriter w;
    w.value(value);
    return std::move(w).take();
}

}  // namespace taskpool::proto
