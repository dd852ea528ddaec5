#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "job.hpp"
#include "raw_json.hpp"
#include "result.hpp"

namespace taskpool::proto {

/// A JSON number as the document holds it.
using JsonNumber = std::variant<std::int64_t, std::uint64_t, double>;

/// Reads the fields of one JSON object strictly: each read checks the type and range
/// and names the field in its error; finish() rejects any field that was not read.
/// The first error wins and later reads do nothing, so a decoder reads every field
/// and checks once at the end.
///
/// `View` is how the reader sees one kind of document: TreeView below for
/// nlohmann's tree, DomView (json_dom.hpp) for simdjson's, which request decoding
/// reads in place without building a tree of its own.
template <class View>
class BasicFieldReader {
public:
    using Object = typename View::Object;
    using Value = typename View::Value;

    /// `path` prefixes field names in messages ("callback." gives "callback.url").
    explicit BasicFieldReader(Object object, std::string path = {});

    void text(std::string_view name, std::string& out);  // required
    void text(std::string_view name, std::optional<std::string>& out);
    void integer(std::string_view name, std::optional<std::int64_t>& out, std::int64_t min,
                 std::int64_t max);
    void number(std::string_view name, std::optional<double>& out, double min, double max);
    void boolean(std::string_view name, std::optional<bool>& out);
    /// An RFC 3339 time or a number of Unix seconds.
    void time(std::string_view name, std::optional<Timestamp>& out);
    /// Any JSON value; null when absent.
    void any(std::string_view name, nlohmann::json& out);
    /// Any JSON value as its compact text; null when absent.
    void raw(std::string_view name, RawJson& out);
    void raw(std::string_view name, std::optional<RawJson>& out);
    /// A reader of the object in field `name`, whose errors name `name.field`;
    /// none when absent, or when not an object (recorded as an error). Its own
    /// finish() checks its fields.
    std::optional<BasicFieldReader> object(std::string_view name);
    /// One of `choices`, as its index.
    void choice(std::string_view name, std::optional<std::size_t>& out,
                std::initializer_list<std::string_view> choices);
    void text_list(std::string_view name, std::optional<std::vector<std::string>>& out);
    /// `true` (no limit) or a number of seconds up to `max`; `false` reads as absent.
    void wait_seconds(std::string_view name, std::optional<double>& out, double max);

    /// The value of `name` as it is, for a decoder that reads it itself; none when
    /// absent or once an error is recorded. Marks the field as known; of a repeated
    /// key the last value counts.
    std::optional<Value> find(std::string_view name);
    /// Reads the fields of `object` as if they followed the reader's own: where a
    /// name repeats, they count.
    void add_fields(Object object);
    /// Records an error about `name` if none was recorded yet.
    void fail(std::string_view name, std::string_view what);

    Result<void> finish();

private:
    /// The object's fields in its order, listed once: a read looks a name up in
    /// the slots below instead of walking the document again.
    struct Field {
        std::string_view key;
        Value value{};
        bool known = false;
    };
    /// A request has a few fields: they are listed in place, and only an object
    /// with more goes to the heap.
    static constexpr std::size_t inline_fields = 16;

    void list(std::string_view key, Value value);
    std::span<Field> fields() {
        return many_.empty() ? std::span<Field>(few_.data(), count_) : std::span<Field>(many_);
    }

    std::array<Field, inline_fields> few_{};
    std::vector<Field> many_;
    std::size_t count_ = 0;
    // Each field's name has a slot, from its length and first byte: most reads are
    // of options a request leaves out, and they find an empty slot; most others
    // find a slot with one field, and compare one name.
    using Index = std::uint16_t;
    std::uint64_t taken_slots_ = 0;
    // Slots with more than one field (or a field past Index's range): a read of
    // one of them compares every field's name.
    std::uint64_t shared_slots_ = 0;
    std::array<Index, 64> field_in_slot_{};
    std::string path_;
    std::optional<Error> error_;
};

/// nlohmann's tree, read where it is.
struct TreeView {
    using Object = std::reference_wrapper<const nlohmann::json>;
    using Value = const nlohmann::json*;

    /// A value that is not an object has no fields: callers check the type first.
    template <class Visit>
    static void for_each_field(Object object, Visit&& visit) {
        if (const auto* fields = object.get().get_ptr<const nlohmann::json::object_t*>()) {
            for (const auto& [key, value] : *fields) {
                visit(std::string_view(key), &value);
            }
        }
    }
    static std::optional<std::string_view> text(Value v);
    static std::optional<bool> boolean(Value v);
    static std::optional<JsonNumber> number(Value v);
    static std::optional<std::vector<std::string>> text_list(Value v);
    static nlohmann::json to_json(Value v) { return *v; }
    static RawJson raw(Value v) { return RawJson(*v); }
    static std::optional<Object> object(Value v) {
        return v->is_object() ? std::optional<Object>(std::cref(*v)) : std::nullopt;
    }
};

extern template class BasicFieldReader<TreeView>;
using FieldReader = BasicFieldReader<TreeView>;

}  // namespace taskpool::proto
