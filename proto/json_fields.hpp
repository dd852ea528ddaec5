#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.hpp"

namespace taskpool::proto {

/// Reads the fields of one JSON object strictly: each read checks the type and range
/// and names the field in its error; finish() rejects any field that was not read.
/// The first error wins and later reads do nothing, so a decoder reads every field
/// and checks once at the end.
class FieldReader {
public:
    /// `path` prefixes field names in messages ("callback." gives "callback.url").
    explicit FieldReader(const nlohmann::json& object, std::string path = {});

    void text(std::string_view name, std::string& out);  // required
    void text(std::string_view name, std::optional<std::string>& out);
    void integer(std::string_view name, std::optional<std::int64_t>& out, std::int64_t min,
                 std::int64_t max);
    void number(std::string_view name, std::optional<double>& out, double min, double max);
    void boolean(std::string_view name, std::optional<bool>& out);
    /// Any JSON value; null when absent.
    void any(std::string_view name, nlohmann::json& out);
    /// One of `choices`, as its index.
    void choice(std::string_view name, std::optional<std::size_t>& out,
                std::initializer_list<std::string_view> choices);
    void text_list(std::string_view name, std::optional<std::vector<std::string>>& out);
    /// `true` (no limit) or a number of seconds; `false` reads as absent.
    void wait_seconds(std::string_view name, std::optional<double>& out);

    /// Marks a field as known without reading it (for example `op`).
    void skip(std::string_view name) { (void)find(name); }
    /// Records an error about `name` if none was recorded yet.
    void fail(std::string_view name, std::string_view what);

    Result<void> finish();

private:
    const nlohmann::json* find(std::string_view name);

    const nlohmann::json& object_;
    std::string path_;
    std::vector<std::string_view> seen_;
    std::optional<Error> error_;
};

}  // namespace taskpool::proto
