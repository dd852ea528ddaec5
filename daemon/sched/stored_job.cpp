#include "stored_job.hpp"

#include <nlohmann/json.hpp>

namespace taskpool::daemon::sched {

std::string callback_text(const proto::CallbackSpec& callback) {
    return proto::json_text(nlohmann::json{{"url", callback.url}, {"events", callback.events}});
}

proto::CallbackSpec callback_from_text(std::string_view text) {
    auto c = nlohmann::json::parse(text);
    return {c.at("url").get<std::string>(), c.at("events").get<std::vector<std::string>>()};
}

}  // namespace taskpool::daemon::sched
