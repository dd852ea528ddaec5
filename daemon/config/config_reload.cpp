#include "config_reload.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "config_loader.hpp"

namespace taskpool::daemon {
namespace {

bool reloadable(std::string_view key) {
    return key.starts_with("auth.") || key.starts_with("tls.") || key.starts_with("limits.") ||
           key == "log.level";
}

/// "/limits/max_connections" -> "limits.max_connections"; a key under `tasks`,
/// `plugins` or `auth.tokens` is named by its first two parts.
std::string key_of(const std::string& pointer) {
    std::string key;
    std::size_t parts = 0;
    for (std::size_t at = 1; at <= pointer.size() && parts < 2; ++parts) {
        auto next = std::min(pointer.find('/', at), pointer.size());
        key += (key.empty() ? "" : ".") + pointer.substr(at, next - at);
        at = next + 1;
    }
    return key;
}

}  // namespace

ConfigReload reload_config(Config& live, const Config& fresh) {
    ConfigReload reload;
    // The dumps hide secrets, so those are compared as they are.
    std::vector<std::string> changed;
    for (const auto& op : nlohmann::json::diff(config_to_json(live), config_to_json(fresh))) {
        changed.push_back(key_of(op.at("path").get<std::string>()));
    }
    if (live.auth.token != fresh.auth.token) {
        changed.emplace_back("auth.token");
    }
    if (live.auth.tokens != fresh.auth.tokens) {
        changed.emplace_back("auth.tokens");
    }
    if (live.callbacks.secret != fresh.callbacks.secret) {
        changed.emplace_back("callbacks.secret");
    }
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    for (auto& key : changed) {
        (reloadable(key) ? reload.applied : reload.need_restart).push_back(std::move(key));
    }
    live.auth = fresh.auth;
    live.tls = fresh.tls;
    live.limits = fresh.limits;
    live.log.level = fresh.log.level;
    spdlog::set_level(spdlog::level::from_str(live.log.level));
    return reload;
}

}  // namespace taskpool::daemon
