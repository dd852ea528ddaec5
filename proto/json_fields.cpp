#include "json_fields.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace taskpool::proto {
namespace {

std::string format_number(double d) {
    if (d == std::floor(d) && std::fabs(d) < 1e15) {
        return std::to_string(static_cast<long long>(d));
    }
    return std::to_string(d);
}

}  // namespace

FieldReader::FieldReader(const nlohmann::json& object, std::string path)
    : object_(object), path_(std::move(path)) {
    seen_.reserve(32);  // more than any request reads: one allocation, not one per doubling
}

const nlohmann::json* FieldReader::find(std::string_view name) {
    seen_.push_back(name);
    if (error_) {
        return nullptr;
    }
    auto it = object_.find(name);
    return it == object_.end() ? nullptr : &*it;
}

void FieldReader::fail(std::string_view name, std::string_view what) {
    if (!error_) {
        error_ = bad_request("field '" + path_ + std::string(name) + "' " + std::string(what));
    }
}

void FieldReader::text(std::string_view name, std::string& out) {
    const auto* v = find(name);
    if (v == nullptr) {
        if (!error_) {
            fail(name, "is required");
        }
    } else if (!v->is_string()) {
        fail(name, "must be a string");
    } else {
        out = v->get<std::string>();
    }
}

void FieldReader::text(std::string_view name, std::optional<std::string>& out) {
    if (const auto* v = find(name)) {
        if (!v->is_string()) {
            fail(name, "must be a string");
        } else {
            out = v->get<std::string>();
        }
    }
}

void FieldReader::integer(std::string_view name, std::optional<std::int64_t>& out, std::int64_t min,
                          std::int64_t max) {
    const auto* v = find(name);
    if (v == nullptr) {
        return;
    }
    auto range = [&] {
        return "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
    };
    if (v->is_number_integer()) {
        // Unsigned values beyond int64 come back as number_unsigned.
        if (v->is_number_unsigned() &&
            v->get<std::uint64_t>() >
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            fail(name, range());
            return;
        }
        auto n = v->get<std::int64_t>();
        if (n < min || n > max) {
            fail(name, range());
        } else {
            out = n;
        }
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) {
        double d = v->get<double>();
        if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
            fail(name, range());
        } else {
            out = static_cast<std::int64_t>(d);
        }
    } else {
        fail(name, range());
    }
}

void FieldReader::number(std::string_view name, std::optional<double>& out, double min,
                         double max) {
    const auto* v = find(name);
    if (v == nullptr) {
        return;
    }
    double d = v->is_number() ? v->get<double>() : std::nan("");
    if (!v->is_number() || !(d >= min && d <= max)) {
        fail(name, "must be a number from " + format_number(min) + " to " + format_number(max));
    } else {
        out = d;
    }
}

void FieldReader::boolean(std::string_view name, std::optional<bool>& out) {
    if (const auto* v = find(name)) {
        if (!v->is_boolean()) {
            fail(name, "must be true or false");
        } else {
            out = v->get<bool>();
        }
    }
}

void FieldReader::any(std::string_view name, nlohmann::json& out) {
    if (const auto* v = find(name)) {
        out = *v;
    }
}

void FieldReader::choice(std::string_view name, std::optional<std::size_t>& out,
                         std::initializer_list<std::string_view> choices) {
    const auto* v = find(name);
    if (v == nullptr) {
        return;
    }
    if (v->is_string()) {
        const auto& s = v->get_ref<const std::string&>();
        auto it = std::find(choices.begin(), choices.end(), s);
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

void FieldReader::text_list(std::string_view name, std::optional<std::vector<std::string>>& out) {
    const auto* v = find(name);
    if (v == nullptr) {
        return;
    }
    if (!v->is_array() ||
        !std::all_of(v->begin(), v->end(), [](const auto& e) { return e.is_string(); })) {
        fail(name, "must be an array of strings");
        return;
    }
    out = v->get<std::vector<std::string>>();
}

void FieldReader::wait_seconds(std::string_view name, std::optional<double>& out) {
    const auto* v = find(name);
    if (v == nullptr) {
        return;
    }
    if (v->is_boolean()) {
        if (v->get<bool>()) {
            out = std::numeric_limits<double>::infinity();
        }
    } else if (v->is_number() && v->get<double>() >= 0) {
        out = v->get<double>();
    } else {
        fail(name, "must be true, false or a number of seconds >= 0");
    }
}

Result<void> FieldReader::finish() {
    if (error_) {
        return *error_;
    }
    for (const auto& [k, v] : object_.items()) {
        if (std::find(seen_.begin(), seen_.end(), k) == seen_.end()) {
            return bad_request("unknown field '" + path_ + k + "'");
        }
    }
    return {};
}

}  // namespace taskpool::proto
