#include "json_fields.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "json_dom.hpp"

namespace taskpool::proto {
namespace {

/// Field names are a few bytes long and mostly differ in their first: compared here
/// byte by byte rather than by a call to memcmp for each.
bool same_name(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

/// One of 64 slots for a name, from its length and first byte.
std::size_t name_slot(std::string_view name) {
    auto first = name.empty() ? 0U : static_cast<unsigned char>(name.front());
    return (name.size() * 7 + first) & 63;
}

std::string format_number(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e15) {
        return std::to_string(static_cast<long long>(d));
    }
    return std::to_string(d);
}

double as_double(const JsonNumber& n) {
    return std::visit([](auto x) { return static_cast<double>(x); }, n);
}

/// The number as an int64 if it is an integer that fits one.
std::optional<std::int64_t> as_int64(const JsonNumber& n) {
    if (const auto* i = std::get_if<std::int64_t>(&n)) {
        return *i;
    }
    if (const auto* u = std::get_if<std::uint64_t>(&n)) {
        if (*u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(*u);
        }
        return std::nullopt;
    }
    // 2^63 is the first double past int64's range.
    double d = std::get<double>(n);
    constexpr double past_int64 = 9223372036854775808.0;
    if (std::floor(d) == d && d >= -past_int64 && d < past_int64) {
        return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}

}  // namespace

template <class View>
BasicFieldReader<View>::BasicFieldReader(Object object, std::string path) : path_(std::move(path)) {
    add_fields(object);
}

template <class View>
void BasicFieldReader<View>::list(std::string_view key, Value value) {
    auto slot = name_slot(key);
    auto bit = std::uint64_t{1} << slot;
    if ((taken_slots_ & bit) != 0 || count_ > std::numeric_limits<Index>::max()) {
        shared_slots_ |= bit;
    } else {
        field_in_slot_[slot] = static_cast<Index>(count_);
    }
    taken_slots_ |= bit;
    if (count_ < inline_fields) {
        few_[count_++] = {key, value};
        return;
    }
    if (many_.empty()) {
        many_.assign(few_.begin(), few_.end());
    }
    many_.push_back({key, value});
    ++count_;
}

template <class View>
void BasicFieldReader<View>::add_fields(Object object) {
    View::for_each_field(object, [this](std::string_view key, Value value) { list(key, value); });
}

template <class View>
auto BasicFieldReader<View>::find(std::string_view name) -> std::optional<Value> {
    if (error_) {
        return std::nullopt;
    }
    auto slot = name_slot(name);
    auto bit = std::uint64_t{1} << slot;
    if ((taken_slots_ & bit) == 0) {
        return std::nullopt;
    }
    if ((shared_slots_ & bit) == 0) {
        Field& field = fields()[field_in_slot_[slot]];
        if (!same_name(field.key, name)) {
            return std::nullopt;
        }
        field.known = true;
        return field.value;
    }
    std::optional<Value> found;  // of a repeated key, the last
    for (auto& field : fields()) {
        if (same_name(field.key, name)) {
            field.known = true;
            found = field.value;
        }
    }
    return found;
}

template <class View>
void BasicFieldReader<View>::fail(std::string_view name, std::string_view what) {
    if (!error_) {
        error_ = bad_request("field '" + path_ + std::string(name) + "' " + std::string(what));
    }
}

template <class View>
void BasicFieldReader<View>::text(std::string_view name, std::string& out) {
    auto v = find(name);
    if (!v) {
        fail(name, "is required");
    } else if (auto s = View::text(*v)) {
        out = *s;
    } else {
        fail(name, "must be a string");
    }
}

template <class View>
void BasicFieldReader<View>::text(std::string_view name, std::optional<std::string>& out) {
    if (auto v = find(name)) {
        if (auto s = View::text(*v)) {
            out = *s;
        } else {
            fail(name, "must be a string");
        }
    }
}

template <class View>
void BasicFieldReader<View>::integer(std::string_view name, std::optional<std::int64_t>& out,
                                     std::int64_t min, std::int64_t max) {
    auto v = find(name);
    if (!v) {
        return;
    }
    auto n = View::number(*v);
    auto i = n ? as_int64(*n) : std::nullopt;
    if (i && *i >= min && *i <= max) {
        out = *i;
    } else {
        fail(name, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    }
}

template <class View>
void BasicFieldReader<View>::number(std::string_view name, std::optional<double>& out, double min,
                                    double max) {
    auto v = find(name);
    if (!v) {
        return;
    }
    auto n = View::number(*v);
    double d = n ? as_double(*n) : std::nan("");
    if (d >= min && d <= max) {
        out = d;
    } else {
        fail(name, "must be a number from " + format_number(min) + " to " + format_number(max));
    }
}

template <class View>
void BasicFieldReader<View>::time(std::string_view name, std::optional<Timestamp>& out) {
    auto v = find(name);
    if (!v) {
        return;
    }
    // Unix seconds up to the year 9999, as the job's times are written.
    constexpr double max_unix_s = 253402300799;
    if (auto text = View::text(*v)) {
        out = parse_timestamp(*text);
    } else if (auto n = View::number(*v); n && as_double(*n) >= 0 && as_double(*n) <= max_unix_s) {
        out = Timestamp(std::chrono::milliseconds(std::llround(as_double(*n) * 1000)));
    }
    if (!out) {
        fail(name, "must be an RFC 3339 time (2026-12-06T10:00:00Z) or Unix seconds");
    }
}

template <class View>
void BasicFieldReader<View>::boolean(std::string_view name, std::optional<bool>& out) {
    if (auto v = find(name)) {
        if (auto b = View::boolean(*v)) {
            out = *b;
        } else {
            fail(name, "must be true or false");
        }
    }
}

template <class View>
void BasicFieldReader<View>::any(std::string_view name, nlohmann::json& out) {
    if (auto v = find(name)) {
        out = View::to_json(*v);
    }
}

template <class View>
void BasicFieldReader<View>::raw(std::string_view name, RawJson& out) {
    if (auto v = find(name)) {
        out = View::raw(*v);
    }
}

template <class View>
void BasicFieldReader<View>::raw(std::string_view name, std::optional<RawJson>& out) {
    if (auto v = find(name)) {
        out = View::raw(*v);
    }
}

template <class View>
auto BasicFieldReader<View>::object(std::string_view name) -> std::optional<BasicFieldReader> {
    auto v = find(name);
    if (!v) {
        return std::nullopt;
    }
    auto object = View::object(*v);
    if (!object) {
        fail(name, "must be an object");
        return std::nullopt;
    }
    return BasicFieldReader(*object, path_ + std::string(name) + ".");
}

template <class View>
void BasicFieldReader<View>::choice(std::string_view name, std::optional<std::size_t>& out,
                                    std::initializer_list<std::string_view> choices) {
    auto v = find(name);
    if (!v) {
        return;
    }
    if (auto s = View::text(*v)) {
        auto it = std::find(choices.begin(), choices.end(), *s);
        if (it != choices.end()) {
            out = static_cast<std::size_t>(it - choices.begin());
            return;
        }
    }
    std::string list;
    for (auto c : choices) {
        list += list.empty() ? "" : ", ";
        list += '"';
        list += c;
        list += '"';
    }
    fail(name, "must be one of " + list);
}

template <class View>
void BasicFieldReader<View>::text_list(std::string_view name,
                                       std::optional<std::vector<std::string>>& out) {
    if (auto v = find(name)) {
        out = View::text_list(*v);
        if (!out) {
            fail(name, "must be an array of strings");
        }
    }
}

template <class View>
void BasicFieldReader<View>::wait_seconds(std::string_view name, std::optional<double>& out,
                                          double max) {
    auto v = find(name);
    if (!v) {
        return;
    }
    if (auto b = View::boolean(*v)) {
        if (*b) {
            out = std::numeric_limits<double>::infinity();
        }
    } else if (auto n = View::number(*v); n && as_double(*n) >= 0 && as_double(*n) <= max) {
        out = as_double(*n);
    } else {
        fail(name, "must be true, false or a number of seconds from 0 to " + format_number(max));
    }
}

template <class View>
Result<void> BasicFieldReader<View>::finish() {
    if (error_) {
        return *error_;
    }
    auto all = fields();
    auto unknown = std::find_if(all.begin(), all.end(), [](const auto& f) { return !f.known; });
    if (unknown != all.end()) {
        return bad_request("unknown field '" + path_ + std::string(unknown->key) + "'");
    }
    return {};
}

std::optional<std::string_view> TreeView::text(Value v) {
    return v->is_string() ? std::optional<std::string_view>(v->get_ref<const std::string&>())
                          : std::nullopt;
}

std::optional<bool> TreeView::boolean(Value v) {
    return v->is_boolean() ? std::optional<bool>(v->get<bool>()) : std::nullopt;
}

std::optional<JsonNumber> TreeView::number(Value v) {
    if (v->is_number_unsigned()) {
        return v->get<std::uint64_t>();
    }
    if (v->is_number_integer()) {
        return v->get<std::int64_t>();
    }
    if (v->is_number_float()) {
        return v->get<double>();
    }
    return std::nullopt;
}

std::optional<std::vector<std::string>> TreeView::text_list(Value v) {
    if (!v->is_array() ||
        !std::all_of(v->begin(), v->end(), [](const auto& e) { return e.is_string(); })) {
        return std::nullopt;
    }
    return v->get<std::vector<std::string>>();
}

template class BasicFieldReader<TreeView>;
template class BasicFieldReader<DomView>;

}  // namespace taskpool::proto
