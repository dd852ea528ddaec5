#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "raw_json.hpp"

namespace taskpool::proto {

/// Appends JSON to a string without building a document tree: replies are written
/// once on the hot path, so they are rendered straight into the output line.
/// Strings that are not valid UTF-8 are written with U+FFFD in place of bad bytes.
class JsonWriter {
public:
    explicit JsonWriter(std::string& out) : out_(out) {}

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);
    /// A key that is a literal of ours: written as it is, with no check for what
    /// would need escaping (a reply has a dozen of them).
    template <std::size_t N>
    JsonWriter& key(const char (&name)[N]) {
        return plain_key(std::string_view(name, N - 1));
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
    JsonWriter& null();

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
    /// A key with nothing to escape.
    JsonWriter& plain_key(std::string_view name);
    /// Whether a comma goes before the next key or value; notes that one comes.
    bool comma_due();
    void separate();
    void open();
    void close();

    std::string& out_;
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
