#include "scopes.hpp"

#include <array>
#include <utility>

namespace taskpool::daemon::auth {
namespace {

constexpr std::array all_scopes{std::pair{Scope::read, std::string_view{"read"}},
                                std::pair{Scope::submit, std::string_view{"submit"}},
                                std::pair{Scope::worker, std::string_view{"worker"}},
                                std::pair{Scope::kv, std::string_view{"kv"}},
                                std::pair{Scope::admin, std::string_view{"admin"}}};

constexpr Scopes bit(Scope scope) {
    return static_cast<Scopes>(scope);
}

// One overload per request, so that an op added to the protocol does not compile
// until it is given a scope here.
constexpr std::optional<Scope> needed(const proto::HelloRequest&) {
    return std::nullopt;
}
constexpr std::optional<Scope> needed(const proto::PingRequest&) {
    return std::nullopt;
}
constexpr std::optional<Scope> needed(const proto::SubmitRequest&) {
    return Scope::submit;
}
constexpr std::optional<Scope> needed(const proto::MapRequest&) {
    return Scope::submit;
}
constexpr std::optional<Scope> needed(const proto::CancelRequest&) {
    return Scope::submit;
}
constexpr std::optional<Scope> needed(const proto::RetryRequest&) {
    return Scope::submit;
}
constexpr std::optional<Scope> needed(const proto::GetRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::ListRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::StatsRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::TasksRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::SubscribeRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::UnsubscribeRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::KvGetRequest&) {
    return Scope::kv;
}
constexpr std::optional<Scope> needed(const proto::KvSetRequest&) {
    return Scope::kv;
}
constexpr std::optional<Scope> needed(const proto::KvDelRequest&) {
    return Scope::kv;
}
constexpr std::optional<Scope> needed(const proto::KvIncrRequest&) {
    return Scope::kv;
}
constexpr std::optional<Scope> needed(const proto::KvCasRequest&) {
    return Scope::kv;
}
// Listing is looking: the dashboard shows shared state to whoever may read the rest.
constexpr std::optional<Scope> needed(const proto::KvListRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::ResizeRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::ShutdownRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::WorkerRegisterRequest&) {
    return Scope::worker;
}
constexpr std::optional<Scope> needed(const proto::WorkerQuietRequest&) {
    return Scope::worker;
}
constexpr std::optional<Scope> needed(const proto::JobDoneRequest&) {
    return Scope::worker;
}
constexpr std::optional<Scope> needed(const proto::JobFailRequest&) {
    return Scope::worker;
}
constexpr std::optional<Scope> needed(const proto::JobProgressRequest&) {
    return Scope::worker;
}
constexpr std::optional<Scope> needed(const proto::QueueSetRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::QueueListRequest&) {
    return Scope::read;
}
constexpr std::optional<Scope> needed(const proto::PauseRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::ResumeRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::ScheduleSetRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::ScheduleDelRequest&) {
    return Scope::admin;
}
constexpr std::optional<Scope> needed(const proto::ScheduleListRequest&) {
    return Scope::read;
}

}  // namespace

std::optional<Scope> scope_from_string(std::string_view name) {
    for (auto [scope, text] : all_scopes) {
        if (text == name) {
            return scope;
        }
    }
    return std::nullopt;
}

std::string_view to_string(Scope scope) {
    for (auto [s, text] : all_scopes) {
        if (s == scope) {
            return text;
        }
    }
    return "?";
}

std::vector<std::string_view> scope_names(Scopes scopes) {
    std::vector<std::string_view> names;
    for (auto [scope, name] : all_scopes) {
        if ((scopes & bit(scope)) != 0) {
            names.push_back(name);
        }
    }
    return names;
}

std::string scopes_text(Scopes scopes) {
    std::string text;
    for (auto name : scope_names(scopes)) {
        text += text.empty() ? "" : ", ";
        text += name;
    }
    return text.empty() ? "none" : text;
}

bool allows(Scopes scopes, Scope need) {
    if ((scopes & bit(Scope::admin)) != 0 || (scopes & bit(need)) != 0) {
        return true;
    }
    return need == Scope::read && (scopes & bit(Scope::submit)) != 0;
}

std::optional<Scope> scope_needed(const proto::RequestBody& body) {
    return std::visit([](const auto& request) { return needed(request); }, body);
}

}  // namespace taskpool::daemon::auth
