#include "config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "auth_tokens.hpp"
#include "config_keys.hpp"
#include "daemon/cluster/redis_url.hpp"
#include "daemon/sched/cron.hpp"

namespace taskpool::daemon {
namespace {

using nlohmann::json;
using proto::Error;
using proto::Result;

Error config_error(const std::string& origin, const std::string& what) {
    return proto::bad_request(origin + ": " + what);
}

/// Flattens nested objects into "a.b" -> value.
void flatten(const json& doc, const std::string& prefix, std::map<std::string, json>& out) {
    for (const auto& [k, v] : doc.items()) {
        std::string path = prefix.empty() ? k : prefix + "." + k;
        if (v.is_object()) {
            flatten(v, path, out);
        } else {
            out[path] = v;
        }
    }
}

std::string format_bound(double d) {
    std::ostringstream s;
    s << d;
    return s.str();
}

/// Sets each key present in a flat map, checking its type and range.
class Applier {
public:
    Applier(std::map<std::string, json>& values, std::string origin)
        : values_(values), origin_(std::move(origin)) {}

    template <class T>
    void operator()(std::string_view path, T& field, Range range) {
        auto v = take(path);
        if (!v) {
            return;
        }
        bool integral = std::is_integral_v<T>;
        bool type_ok =
            integral ? (v->is_number_integer() ||
                        (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()))
                     : v->is_number();
        double d = type_ok ? v->get<double>() : 0;
        if (!type_ok || d < range.min || d > range.max) {
            fail(path, std::string("must be ") + (integral ? "an integer" : "a number") + " from " +
                           format_bound(range.min) + " to " + format_bound(range.max));
            return;
        }
        field = static_cast<T>(d);
    }

    void operator()(std::string_view path, std::string& field,
                    std::initializer_list<std::string_view> choices) {
        auto v = take(path);
        if (!v) {
            return;
        }
        if (v->is_string() &&
            std::find(choices.begin(), choices.end(), v->get<std::string>()) != choices.end()) {
            field = v->get<std::string>();
            return;
        }
        std::string list;
        for (auto c : choices) {
            list += (list.empty() ? "" : ", ") + std::string(c);
        }
        fail(path, "must be one of " + list);
    }

    void operator()(std::string_view path, std::string& field) {
        if (auto v = take(path)) {
            if (!v->is_string() || v->get<std::string>().empty()) {
                fail(path, "must be a non-empty string");
            } else {
                field = v->get<std::string>();
            }
        }
    }

    void operator()(std::string_view path, std::optional<std::string>& field) {
        if (auto v = take(path)) {
            if (v->is_null()) {
                field.reset();
            } else if (!v->is_string()) {
                fail(path, "must be a string or null");
            } else {
                field = v->get<std::string>();
            }
        }
    }

    void operator()(std::string_view path, bool& field) {
        if (auto v = take(path)) {
            if (!v->is_boolean()) {
                fail(path, "must be true or false");
            } else {
                field = v->get<bool>();
            }
        }
    }

    Result<void> finish() {
        if (error_) {
            return *error_;
        }
        if (!values_.empty()) {
            return config_error(origin_, "unknown key '" + values_.begin()->first + "'");
        }
        return {};
    }

private:
    std::optional<json> take(std::string_view path) {
        auto it = values_.find(std::string(path));
        if (it == values_.end() || error_) {
            return std::nullopt;
        }
        json v = std::move(it->second);
        values_.erase(it);
        return v;
    }

    void fail(std::string_view path, const std::string& what) {
        if (!error_) {
            error_ = config_error(origin_, "key '" + std::string(path) + "' " + what);
        }
    }

    std::map<std::string, json>& values_;
    std::string origin_;
    std::optional<Error> error_;
};

/// Turns set TASKPOOL_* variables into a file-shaped object, typed by each key.
class EnvCollector {
public:
    explicit EnvCollector(const EnvLookup& env) : env_(env) {}

    template <class T>
    void operator()(std::string_view path, T&, Range) {
        if (auto s = lookup(path)) {
            // Numbers are given as JSON numbers; anything else stays a string so the
            // applier can name the key in its error.
            json parsed = json::parse(*s, nullptr, false);
            set(path, parsed.is_number() ? parsed : json(*s));
        }
    }
    void operator()(std::string_view path, std::string&, std::initializer_list<std::string_view>) {
        if (auto s = lookup(path)) {
            set(path, *s);
        }
    }
    void operator()(std::string_view path, std::string&) {
        if (auto s = lookup(path)) {
            set(path, *s);
        }
    }
    void operator()(std::string_view path, std::optional<std::string>&) {
        if (auto s = lookup(path)) {
            // Empty unsets it: TASKPOOL_STORE_PATH= runs an image without its journal.
            set(path, s->empty() ? json(nullptr) : json(*s));
        }
    }
    void operator()(std::string_view path, bool&) {
        if (auto s = lookup(path)) {
            set(path, *s == "true" || *s == "1"    ? json(true)
                      : *s == "false" || *s == "0" ? json(false)
                                                   : json(*s));
        }
    }

    json doc = json::object();
    std::string names;  // for error messages

private:
    std::optional<std::string> lookup(std::string_view path) {
        auto name = env_name_for(path);
        auto value = env_(name);
        // TASKPOOL_TOKEN is the documented short name of TASKPOOL_AUTH_TOKEN.
        if (path == "auth.token" && !value) {
            name = "TASKPOOL_TOKEN";
            value = env_(name);
        }
        if (value) {
            names += (names.empty() ? "" : ", ") + name;
        }
        return value;
    }

    void set(std::string_view path, json value) {
        doc[json::json_pointer("/" + replace_dots(path))] = std::move(value);
    }

    static std::string replace_dots(std::string_view path) {
        std::string p(path);
        std::replace(p.begin(), p.end(), '.', '/');
        return p;
    }

    const EnvLookup& env_;
};

struct JsonDumper {
    json& doc;
    template <class T, class Extra>
    void operator()(std::string_view path, const T& field, const Extra&) {
        put(path, json(field));
    }
    void operator()(std::string_view path, const std::string& field) { put(path, field); }
    void operator()(std::string_view path, const std::optional<std::string>& field) {
        put(path, !field ? json(nullptr) : is_secret_config_key(path) ? json("***") : json(*field));
    }
    void operator()(std::string_view path, bool field) { put(path, field); }
    void put(std::string_view path, json value) {
        std::string p(path);
        std::replace(p.begin(), p.end(), '.', '/');
        doc[json::json_pointer("/" + p)] = std::move(value);
    }
};

Result<json> read_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return config_error(path, "cannot read the file");
    }
    std::stringstream text;
    text << in.rdbuf();
    try {
        return json::parse(text.str(), nullptr, true, /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
        std::string what = e.what();
        auto at = what.find("] ");
        return config_error(path,
                            "invalid JSON: " + what.substr(at == std::string::npos ? 0 : at + 2));
    }
}

Result<void> check_listen(const Config& c) {
    auto colon = c.listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == c.listen.size()) {
        return config_error("config", "key 'listen' must be HOST:PORT, got '" + c.listen + "'");
    }
    std::string port = c.listen.substr(colon + 1);
    if (!std::all_of(port.begin(), port.end(), [](char ch) { return std::isdigit(ch) != 0; }) ||
        port.size() > 5 || std::stoi(port) > 65535) {
        return config_error("config", "key 'listen' has an invalid port '" + port + "'");
    }
    return {};
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v == nullptr ? std::nullopt : std::optional<std::string>(v);
}

std::string env_name_for(std::string_view path) {
    std::string name = "TASKPOOL_";
    for (char ch : path) {
        name += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    return name;
}

namespace {

/// `size`, or for 0 one per core up to `max` (a large machine still starts).
std::size_t or_cores(std::int64_t size, std::int64_t max) {
    if (size > 0) {
        return static_cast<std::size_t>(size);
    }
    return std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()),
                                 static_cast<std::size_t>(max));
}

}  // namespace

std::size_t Config::thread_count() const {
    return or_cores(thread_pool.size, thread_pool.max_size);
}
std::size_t Config::process_count() const {
    return or_cores(process_pool.size, process_pool.max_size);
}

namespace {

/// `{"remote": true, "description": "..."}`: its description, or what is wrong.
Result<std::string> remote_task_description(const std::string& name, const json& spec) {
    for (const auto& [key, value] : spec.items()) {
        if (key != "remote" && key != "description") {
            return proto::bad_request("tasks." + name + "." + key +
                                      ": a remote task takes only remote and description");
        }
    }
    auto description = spec.value("description", json(""));
    if (!description.is_string()) {
        return proto::bad_request("tasks." + name + ".description must be a string");
    }
    return description.get<std::string>();
}

/// `tasks.NAME.queue`, taken out of `spec` (a command or a remote task's).
Result<std::optional<std::string>> take_task_queue(const std::string& name, json& spec) {
    auto it = spec.is_object() ? spec.find("queue") : spec.end();
    if (it == spec.end()) {
        return std::optional<std::string>();
    }
    if (!it->is_string() || !proto::valid_name(it->get<std::string>())) {
        return proto::bad_request("tasks." + name +
                                  ".queue must be a queue's name: 1 to 128 letters, digits and "
                                  "_ - . :");
    }
    auto queue = it->get<std::string>();
    spec.erase(it);
    return std::optional<std::string>(std::move(queue));
}

/// `queues`: {"mail": {"max_concurrency": 2, "rate_limit": "10/s"}} (PROTOCOL.md 12).
Result<std::map<std::string, proto::QueueLimits>> parse_queues(const json& doc) {
    if (!doc.is_object()) {
        return proto::bad_request("key 'queues' must be an object of queues by name");
    }
    if (doc.size() > proto::max_queues) {
        return proto::bad_request("key 'queues' names more than " +
                                  std::to_string(proto::max_queues) + " queues");
    }
    std::map<std::string, proto::QueueLimits> queues;
    for (const auto& [name, spec] : doc.items()) {
        auto where = "queues." + name;
        if (!proto::valid_name(name)) {
            return proto::bad_request(where +
                                      ": a queue's name is 1 to 128 letters, digits and _ - . :");
        }
        if (!spec.is_object()) {
            return proto::bad_request(where + " must be an object: max_concurrency, rate_limit");
        }
        proto::QueueLimits limits;
        for (const auto& [key, value] : spec.items()) {
            if (key == "max_concurrency") {
                auto n = value.is_number_integer() ? value.get<std::int64_t>() : 0;
                if (n < 1 || n > proto::max_concurrency) {
                    return proto::bad_request(where +
                                              ".max_concurrency must be an integer from 1 to " +
                                              std::to_string(proto::max_concurrency));
                }
                limits.max_concurrency = n;
            } else if (key == "rate_limit") {
                limits.rate_limit = value.is_string()
                                        ? proto::parse_rate_limit(value.get<std::string>())
                                        : std::nullopt;
                if (!limits.rate_limit) {
                    return proto::bad_request(
                        where + ".rate_limit must be N/s, N/m or N/h with N at least 1");
                }
            } else {
                return proto::bad_request(where + "." + key +
                                          ": a queue takes max_concurrency and rate_limit");
            }
        }
        queues.emplace(name, limits);
    }
    return queues;
}

/// `schedules`: {"nightly": {"task": "report", "cron": "0 3 * * *"}} (PROTOCOL.md 13).
Result<std::vector<proto::ScheduleSpec>> parse_schedules(const json& doc) {
    if (!doc.is_object()) {
        return proto::bad_request("key 'schedules' must be an object of schedules by name");
    }
    if (doc.size() > proto::max_schedules) {
        return proto::bad_request("key 'schedules' names more than " +
                                  std::to_string(proto::max_schedules) + " schedules");
    }
    std::vector<proto::ScheduleSpec> schedules;
    for (const auto& [name, spec] : doc.items()) {
        auto where = "schedules." + name + ": ";
        if (!proto::valid_name(name)) {
            return proto::bad_request(where +
                                      "a schedule's name is 1 to 128 letters, digits and _ - . :");
        }
        auto schedule = proto::decode_schedule(name, spec.dump());
        if (!schedule) {
            return proto::bad_request(where + schedule.error().message);
        }
        if (schedule->cron) {
            if (auto cron = sched::Cron::parse(*schedule->cron); !cron) {
                return proto::bad_request(where + cron.error().message);
            }
        }
        schedules.push_back(std::move(*schedule));
    }
    return schedules;
}

/// Where `doc` has `key`, reads it into `out` with `parse` and takes it out of `doc`.
template <class T, class Parse>
Result<void> take_key(json& doc, const char* key, Parse parse, T& out) {
    auto it = doc.find(key);
    if (it == doc.end()) {
        return {};
    }
    auto parsed = parse(*it);
    if (!parsed) {
        return parsed.error();
    }
    out = std::move(*parsed);
    doc.erase(it);
    return {};
}

/// Reads `tasks`, `queues`, `schedules`, `plugins` and `auth.tokens` out of `doc`, which keeps
/// the scalar keys.
Result<void> take_structured_keys(Config& config, json& doc, const std::string& origin) {
    if (auto auth = doc.find("auth"); auth != doc.end() && auth->is_object()) {
        if (auto it = auth->find("tokens"); it != auth->end()) {
            auto tokens = parse_auth_tokens(*it);
            if (!tokens) {
                return config_error(origin, tokens.error().message);
            }
            config.auth.tokens = std::move(*tokens);
            auth->erase(it);
        }
    }
    if (auto it = doc.find("tasks"); it != doc.end()) {
        if (!it->is_object()) {
            return config_error(origin, "key 'tasks' must be an object of command tasks");
        }
        std::map<std::string, tasks::CommandSpec> commands;
        for (auto [name, spec] : it->items()) {
            if (auto queue = take_task_queue(name, spec); !queue) {
                return config_error(origin, queue.error().message);
            } else if (*queue) {
                config.task_queues.emplace(name, std::move(**queue));
            }
            if (spec.is_object() && spec.value("remote", false) == true) {
                auto description = remote_task_description(name, spec);
                if (!description) {
                    return config_error(origin, description.error().message);
                }
                config.remote_tasks.emplace(name, std::move(*description));
                continue;
            }
            auto parsed = tasks::parse_command_spec(name, spec);
            if (!parsed) {
                return config_error(origin, parsed.error().message);
            }
            commands.emplace(name, std::move(*parsed));
        }
        config.tasks = std::move(commands);
        doc.erase(it);
    }
    if (auto taken = take_key(doc, "queues", parse_queues, config.queues); !taken) {
        return config_error(origin, taken.error().message);
    }
    if (auto taken = take_key(doc, "schedules", parse_schedules, config.schedules); !taken) {
        return config_error(origin, taken.error().message);
    }
    if (auto it = doc.find("plugins"); it != doc.end()) {
        bool paths = it->is_array() && std::all_of(it->begin(), it->end(), [](const json& p) {
                         return p.is_string() && !p.get<std::string>().empty();
                     });
        if (!paths) {
            return config_error(origin, "key 'plugins' must be an array of library paths");
        }
        config.plugins = it->get<std::vector<std::string>>();
        doc.erase(it);
    }
    return {};
}

}  // namespace

Result<void> apply_config_json(Config& config, const json& original, const std::string& origin) {
    if (!original.is_object()) {
        return config_error(origin, "the config must be a JSON object");
    }
    json doc = original;
    if (auto taken = take_structured_keys(config, doc, origin); !taken) {
        return taken;
    }
    std::map<std::string, json> values;
    flatten(doc, "", values);
    Applier applier(values, origin);
    visit_config_keys(config, applier);
    return applier.finish();
}

namespace {

/// cluster.*: a Redis URL that parses, a name Redis keys can carry, and no journal
/// beside it.
Result<void> check_cluster(const Config& c) {
    const auto& name = c.cluster.name;
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char ch) {
            return std::isalnum(ch) || ch == '-' || ch == '_';
        })) {
        return proto::bad_request("cluster.name must be letters, digits, - and _, got '" + name +
                                  "'");
    }
    if (!c.cluster.redis) {
        return {};
    }
    if (auto url = cluster::RedisUrl::parse(*c.cluster.redis); !url) {
        return url.error();
    }
    if (c.store.path) {
        return proto::bad_request(
            "cluster.redis and store.path: in cluster mode the jobs live in Redis, so there "
            "is no journal; give one or the other");
    }
    return {};
}

}  // namespace

Result<Config> load_config(const ConfigSources& sources) {
    Config config;
    auto file = sources.file ? sources.file : sources.env("TASKPOOL_CONFIG");
    if (file) {
        auto doc = read_config_file(*file);
        if (!doc) {
            return doc.error();
        }
        if (auto applied = apply_config_json(config, *doc, *file); !applied) {
            return applied.error();
        }
    }
    EnvCollector env(sources.env);
    visit_config_keys(config, env);
    if (auto applied = apply_config_json(config, env.doc, "environment (" + env.names + ")");
        !applied) {
        return applied.error();
    }
    if (auto applied = apply_config_json(config, sources.flags, "flags"); !applied) {
        return applied.error();
    }
    if (auto listen = check_listen(config); !listen) {
        return listen.error();
    }
    if (config.tls.cert.has_value() != config.tls.key.has_value()) {
        return proto::bad_request("tls.cert and tls.key go together: set both, or neither");
    }
    if (config.tls.client_ca && !config.tls.cert) {
        return proto::bad_request(
            "tls.client_ca needs tls.cert and tls.key: client "
            "certificates are asked for inside TLS");
    }
    if (config.thread_pool.size > config.thread_pool.max_size) {
        return proto::bad_request("thread_pool.size (" + std::to_string(config.thread_pool.size) +
                                  ") is more than thread_pool.max_size (" +
                                  std::to_string(config.thread_pool.max_size) + ")");
    }
    if (auto cluster = check_cluster(config); !cluster) {
        return cluster.error();
    }
    if (config.process_pool.size > config.process_pool.max_size) {
        return proto::bad_request("process_pool.size (" + std::to_string(config.process_pool.size) +
                                  ") is more than process_pool.max_size (" +
                                  std::to_string(config.process_pool.max_size) + ")");
    }
    return config;
}

json config_to_json(const Config& config) {
    json doc = json::object();
    JsonDumper dumper{doc};
    visit_config_keys(config, dumper);
    doc["tasks"] = json::object();
    for (const auto& [name, spec] : config.tasks) {
        doc["tasks"][name] = tasks::to_json(spec);
    }
    for (const auto& [name, description] : config.remote_tasks) {
        doc["tasks"][name] = {{"remote", true}, {"description", description}};
    }
    for (const auto& [name, queue] : config.task_queues) {
        doc["tasks"][name]["queue"] = queue;
    }
    doc["queues"] = json::object();
    for (const auto& [name, limits] : config.queues) {
        auto queue = proto::queue_json({name, limits});
        doc["queues"][name] = {{"max_concurrency", queue["max_concurrency"]},
                               {"rate_limit", queue["rate_limit"]}};
    }
    doc["schedules"] = json::object();
    for (const auto& schedule : config.schedules) {
        doc["schedules"][schedule.name] = proto::schedule_fields(schedule);
    }
    doc["plugins"] = config.plugins;
    doc["auth"]["tokens"] = auth_tokens_to_json(config.auth.tokens);
    return doc;
}

}  // namespace taskpool::daemon
