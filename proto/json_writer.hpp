#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "raw_json.hpp"

namespace taskpool::proto {

/// Writes JSON text without building a document tree: replies are written once on
/// the hot path, so they are rendered straight into the output line. The writer
/// owns the text while it writes (take() hands it over): it writes through a
/// pointer into room it made beforehand, so a key costs a few stores rather than
/// a string append. Strings that are not valid UTF-8 are written with U+FFFD in
/// place of bad bytes.
class JsonWriter {
public:
    /// Writes after what `prefix` holds, with room for `expected` bytes at once.
    explicit JsonWriter(std::string prefix = {}, std::size_t expected = 0);
    JsonWriter(const JsonWriter&) = delete;
    JsonWriter& operator=(const JsonWriter&) = delete;

    /// The prefix and everything written; the writer is done with.
    std::string take() &&;

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);
    /// A key that is a literal of ours: written as it is, with no check for what
    /// would need escaping (a reply has a dozen of them), in one go as `,"name":`.
    template <std::size_t N>
    JsonWriter& key(const char (&name)[N]) {
        char* p = room(N + 3);
        if (comma_due()) {
            *p++ = ',';
        }
        *p++ = '"';
        std::memcpy(p, name, N - 1);
        p += N - 1;
        *p++ = '"';
        *p++ = ':';
        pos_ = p;
        after_key_ = true;
        return *this;
    }

    JsonWriter& value(std::string_view s);
    JsonWriter& value(const char* s) { return value(std::string_view(s)); }
    JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
    JsonWriter& value(bool b);
    JsonWriter& value(std::int64_t n);
    JsonWriter& value(int n) { return value(static_cast<std::int64_t>(n)); }
    JsonWriter& value(std::uint64_t n);
    JsonWriter& value(double d);
    JsonWriter& value(const nlohmann::json& j);
    JsonWriter& value(const RawJson& j);
    /// A string of ours with nothing to escape (a name from a table, a time):
    /// written as it is. Inline, so that a fixed size is copied as one.
    JsonWriter& plain_value(std::string_view s) {
        separate();
        char* p = room(s.size() + 2);
        *p++ = '"';
        std::memcpy(p, s.data(), s.size());
        p += s.size();
        *p++ = '"';
        pos_ = p;
        return *this;
    }
    JsonWriter& null();
    /// Bytes as they are, outside any value: the LF that ends a line.
    JsonWriter& raw(std::string_view text);

    /// Writes `"name": value`.
    template <class T>
    JsonWriter& field(std::string_view name, const T& v) {
        return key(name).value(v);
    }
    template <std::size_t N, class T>
    JsonWriter& field(const char (&name)[N], const T& v) {
        return key(name).value(v);
    }

private:
    /// Whether a comma goes before the next key or value; notes that one comes.
    bool comma_due() {
        if (after_key_) {
            after_key_ = false;
            return false;
        }
        return depth_ != 0 && !std::exchange(empty_, false);
    }
    void separate() {
        if (comma_due()) {
            *room(1) = ',';
            ++pos_;
        }
    }
    /// Where `n` bytes can be written now.
    char* room(std::size_t n) {
        if (static_cast<std::size_t>(end_ - pos_) < n) {
            grow(n);
        }
        return pos_;
    }
    void grow(std::size_t n);
    void put(std::string_view text);
    void put_string(std::string_view s);
    void open(char bracket);
    void close(char bracket);

    std::string text_;  // sized beyond what is written: [data, pos_) written, [pos_, end_) room
    char* pos_ = nullptr;
    char* end_ = nullptr;
    // Only the innermost open container needs to know whether it is still empty:
    // once a container closes, the one around it holds at least that element.
    int depth_ = 0;
    bool empty_ = false;
    bool after_key_ = false;
};

/// Appends `s` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

/// A value as compact JSON text; bytes in its strings that are not UTF-8 become
/// U+FFFD rather than an exception.
std::string json_text(const nlohmann::json& value);

}  // namespace taskpool::proto
