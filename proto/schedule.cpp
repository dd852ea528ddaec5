#include "schedule.hpp"

#include <cstdint>

namespace taskpool::proto {
namespace {

nlohmann::json optional_time(const std::optional<Timestamp>& t) {
    return t ? nlohmann::json(format_timestamp(*t)) : nlohmann::json(nullptr);
}

std::optional<Timestamp> read_time(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        return std::nullopt;
    }
    auto t = parse_timestamp(it->get<std::string>());
    if (!t) {
        throw std::runtime_error(std::string("field '") + name + "' is not a time");
    }
    return t;
}

}  // namespace

nlohmann::json schedule_fields(const ScheduleSpec& spec) {
    nlohmann::json j = {{"task", spec.task}};
    if (!spec.args.is_null()) {
        j["args"] = spec.args.parse();
    }
    if (spec.cron) {
        j["cron"] = *spec.cron;
    }
    if (spec.every_s) {
        // A whole number of seconds reads as one: 60, not 60.0.
        auto whole = static_cast<std::int64_t>(*spec.every_s);
        j["every_s"] = static_cast<double>(whole) == *spec.every_s ? nlohmann::json(whole)
                                                                   : nlohmann::json(*spec.every_s);
    }
    if (spec.options) {
        j["options"] = spec.options->parse();
    }
    j["catch_up"] = spec.catch_up == CatchUp::one ? "one" : "none";
    j["paused"] = spec.paused;
    return j;
}

nlohmann::json schedule_json(const ScheduleInfo& schedule) {
    auto j = schedule_fields(schedule.spec);
    j["name"] = schedule.spec.name;
    j["next_at"] = optional_time(schedule.next_at);
    j["last_at"] = optional_time(schedule.last_at);
    j["last_job"] = schedule.last_job ? nlohmann::json(*schedule.last_job) : nullptr;
    j["from_config"] = schedule.from_config;
    return j;
}

Result<ScheduleInfo> decode_schedule_info(const nlohmann::json& j) {
    try {
        ScheduleInfo s;
        s.spec.name = j.at("name").get<std::string>();
        s.spec.task = j.at("task").get<std::string>();
        if (auto it = j.find("args"); it != j.end()) {
            s.spec.args = RawJson(*it);
        }
        if (auto it = j.find("cron"); it != j.end()) {
            s.spec.cron = it->get<std::string>();
        }
        if (auto it = j.find("every_s"); it != j.end()) {
            s.spec.every_s = it->get<double>();
        }
        if (auto it = j.find("options"); it != j.end()) {
            s.spec.options = RawJson(*it);
        }
        s.spec.catch_up = j.value("catch_up", "one") == "none" ? CatchUp::none : CatchUp::one;
        s.spec.paused = j.value("paused", false);
        s.next_at = read_time(j, "next_at");
        s.last_at = read_time(j, "last_at");
        if (auto it = j.find("last_job"); it != j.end() && !it->is_null()) {
            s.last_job = it->get<std::string>();
        }
        s.from_config = j.value("from_config", false);
        return s;
    } catch (const std::exception& e) {
        return bad_request(std::string("malformed schedule: ") + e.what());
    }
}

}  // namespace taskpool::proto
