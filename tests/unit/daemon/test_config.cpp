#include "daemon/config/config_loader.hpp"

#include <fstream>
#include <map>

#include <doctest/doctest.h>

#include "../../support/temp_dir.hpp"

using namespace taskpool::daemon;
using nlohmann::json;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

ConfigSources sources_with(const std::optional<std::string>& file,
                           std::map<std::string, std::string> env = {},
                           json flags = json::object()) {
    ConfigSources s;
    s.file = file;
    s.env = env_of(std::move(env));
    s.flags = std::move(flags);
    return s;
}

std::string write_file(const taskpool::test::TempDir& dir, const std::string& text) {
    auto path = (dir.path() / "c.json").string();
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST_CASE("config.shipped_file_equals_the_built_in_defaults") {
    auto loaded =
        load_config(sources_with(std::string(TASKPOOL_SOURCE_DIR "/config/taskpool.json")));
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
    CHECK(config_to_json(*loaded) == config_to_json(Config{}));
    // And it lists every key, each with its default written out.
    std::ifstream in(TASKPOOL_SOURCE_DIR "/config/taskpool.json");
    auto file = json::parse(in, nullptr, true, /*ignore_comments=*/true);
    CHECK(file == config_to_json(Config{}));
}

TEST_CASE("config.precedence_is_defaults_file_env_flags") {
    taskpool::test::TempDir dir;
    auto file = write_file(dir, R"({
        // comments are allowed
        "thread_pool": {"size": 3},
        "queue": {"max_size": 10},
        "jobs": {"result_ttl_s": 5}
    })");
    auto config = load_config(
        sources_with(file, {{"TASKPOOL_QUEUE_MAX_SIZE", "20"}, {"TASKPOOL_JOBS_RESULT_TTL_S", "6"}},
                     json{{"jobs", {{"result_ttl_s", 7}}}}));
    REQUIRE(config.ok());
    CHECK(config->thread_pool.size == 3);   // file
    CHECK(config->queue.max_size == 20);    // env over file
    CHECK(config->jobs.result_ttl_s == 7);  // flags over env
    CHECK(config->limits.max_connections == Config{}.limits.max_connections);
}

TEST_CASE("config.taskpool_config_names_the_file") {
    taskpool::test::TempDir dir;
    auto file = write_file(dir, R"({"listen": "127.0.0.1:9999"})");
    auto config = load_config(sources_with(std::nullopt, {{"TASKPOOL_CONFIG", file}}));
    REQUIRE(config.ok());
    CHECK(config->listen == "127.0.0.1:9999");
}

TEST_CASE("config.token_from_either_variable") {
    auto a = load_config(sources_with(std::nullopt, {{"TASKPOOL_TOKEN", "s3cret"}}));
    REQUIRE(a.ok());
    CHECK(a->auth.token == "s3cret");
    auto b = load_config(sources_with(std::nullopt, {{"TASKPOOL_AUTH_TOKEN", "t"}}));
    CHECK(b->auth.token == "t");
}

TEST_CASE("config.errors_name_the_key_and_the_source") {
    taskpool::test::TempDir dir;
    auto unknown = load_config(sources_with(write_file(dir, R"({"queue": {"maxsize": 1}})")));
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("unknown key 'queue.maxsize'") != std::string::npos);

    auto range =
        load_config(sources_with(write_file(dir, R"({"limits": {"max_connections": 0}})")));
    REQUIRE_FALSE(range.ok());
    CHECK(range.error().message.find("key 'limits.max_connections' must be an integer from 1") !=
          std::string::npos);

    auto type = load_config(sources_with(std::nullopt, {{"TASKPOOL_THREAD_POOL_SIZE", "many"}}));
    REQUIRE_FALSE(type.ok());
    CHECK(type.error().message.find("TASKPOOL_THREAD_POOL_SIZE") != std::string::npos);
    CHECK(type.error().message.find("thread_pool.size") != std::string::npos);

    auto choice = load_config(sources_with(std::nullopt, {}, json{{"log", {{"format", "xml"}}}}));
    REQUIRE_FALSE(choice.ok());
    CHECK(choice.error().message == "flags: key 'log.format' must be one of text, json");

    auto listen = load_config(sources_with(std::nullopt, {}, json{{"listen", "localhost"}}));
    REQUIRE_FALSE(listen.ok());
    CHECK(listen.error().message.find("HOST:PORT") != std::string::npos);

    auto over_max = load_config(
        sources_with(std::nullopt, {}, json{{"process_pool", {{"size", 65}, {"max_size", 64}}}}));
    REQUIRE_FALSE(over_max.ok());
    CHECK(over_max.error().message ==
          "process_pool.size (65) is more than process_pool.max_size (64)");

    auto bad_json = load_config(sources_with(write_file(dir, "{ nope")));
    REQUIRE_FALSE(bad_json.ok());
    CHECK(bad_json.error().message.find("invalid JSON") != std::string::npos);

    auto missing = load_config(sources_with(std::string("/nonexistent/taskpool.json")));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("cannot read") != std::string::npos);
}

TEST_CASE("config.env_names") {
    CHECK(env_name_for("limits.idle_timeout_s") == "TASKPOOL_LIMITS_IDLE_TIMEOUT_S");
    CHECK(env_name_for("listen") == "TASKPOOL_LISTEN");
}

TEST_CASE("config.tasks_and_plugins_from_the_file") {
    taskpool::test::TempDir dir;
    auto config = load_config(sources_with(write_file(dir, R"({
        // comments are allowed here too
        "tasks": {"resize": {"command": ["convert", "{in}", "{out}"], "timeout_s": 60}},
        "plugins": ["/opt/taskpool/libimages.so"]
    })")));
    REQUIRE(config.ok());
    REQUIRE(config->tasks.count("resize") == 1);
    CHECK(config->tasks.at("resize").timeout_s == 60);
    CHECK(config->plugins == std::vector<std::string>{"/opt/taskpool/libimages.so"});
    auto dumped = config_to_json(*config);
    CHECK(dumped["tasks"]["resize"]["command"] == json{"convert", "{in}", "{out}"});
    CHECK(dumped["plugins"] == json{"/opt/taskpool/libimages.so"});

    auto bad = load_config(sources_with(write_file(dir, R"({"tasks": {"x": {"command": 5}}})")));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("tasks.x.command") != std::string::npos);
    CHECK(bad.error().message.find("c.json") != std::string::npos);
    auto plugins = load_config(sources_with(write_file(dir, R"({"plugins": "lib.so"})")));
    REQUIRE_FALSE(plugins.ok());
    CHECK(plugins.error().message.find("'plugins' must be an array") != std::string::npos);
}

TEST_CASE("config.queues_and_the_queue_of_a_task") {
    taskpool::test::TempDir dir;
    auto config = load_config(sources_with(write_file(dir, R"({
        "queues": {"mail": {"max_concurrency": 2, "rate_limit": "10/s"}, "bulk": {}},
        "tasks": {"send": {"command": ["true"], "queue": "mail"}}
    })")));
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    CHECK(config->queues.at("mail").max_concurrency == 2);
    CHECK(config->queues.at("mail").rate_limit ==
          taskpool::proto::RateLimit{10, std::chrono::seconds(1)});
    CHECK(config->queues.at("bulk") == taskpool::proto::QueueLimits{});
    CHECK(config->task_queues.at("send") == "mail");
    auto dumped = config_to_json(*config);
    CHECK(dumped["queues"]["mail"] == json{{"max_concurrency", 2}, {"rate_limit", "10/s"}});
    CHECK(dumped["tasks"]["send"]["queue"] == "mail");

    for (auto [text, message] :
         {std::pair{R"({"queues": {"mail": {"rate_limit": "0/s"}}})", "queues.mail.rate_limit"},
          {R"({"queues": {"mail": {"max_concurrency": 0}}})", "queues.mail.max_concurrency"},
          {R"({"queues": {"mail": {"burst": 1}}})", "queues.mail.burst"},
          {R"({"queues": {"a b": {}}})", "queues.a b"},
          {R"({"queues": []})", "'queues' must be an object"},
          {R"({"tasks": {"x": {"command": ["true"], "queue": ""}}})", "tasks.x.queue"}}) {
        auto bad = load_config(sources_with(write_file(dir, text)));
        REQUIRE_FALSE(bad.ok());
        CHECK_MESSAGE(bad.error().message.find(message) != std::string::npos, bad.error().message);
    }
}

TEST_CASE("config.schedules") {
    taskpool::test::TempDir dir;
    auto config = load_config(sources_with(write_file(dir, R"({
        "schedules": {"nightly": {"task": "report", "cron": "0 3 * * *", "options": {"retries": 2}},
                      "tick": {"task": "echo", "every_s": 30, "catch_up": "none"}}
    })")));
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    REQUIRE(config->schedules.size() == 2);
    CHECK(config->schedules[0].name == "nightly");
    CHECK(config->schedules[0].cron == "0 3 * * *");
    CHECK(config->schedules[1].every_s == 30);
    CHECK(config->schedules[1].catch_up == taskpool::proto::CatchUp::none);
    auto dumped = config_to_json(*config);
    CHECK(dumped["schedules"]["nightly"]["options"] == json{{"retries", 2}});
    CHECK(dumped["schedules"]["tick"]["every_s"] == 30);

    for (auto [text, message] :
         {std::pair{R"({"schedules": {"n": {"task": "echo", "cron": "61 * * * *"}}})",
                    "schedules.n: field 'cron': minute 61"},
          {R"({"schedules": {"n": {"task": "echo"}}})", "schedules.n: field 'cron'"},
          {R"({"schedules": {"n": {"cron": "* * * * *"}}})", "schedules.n: field 'task'"},
          {R"({"schedules": {"n": {"task": "echo", "every_s": 5, "when": 1}}})",
           "schedules.n: unknown field 'when'"},
          {R"({"schedules": {"a/b": {"task": "echo", "every_s": 5}}})", "schedules.a/b"},
          {R"({"schedules": [1]})", "'schedules' must be an object"}}) {
        auto bad = load_config(sources_with(write_file(dir, text)));
        REQUIRE_FALSE(bad.ok());
        CHECK_MESSAGE(bad.error().message.find(message) != std::string::npos, bad.error().message);
    }
}

TEST_CASE("config.the_command_task_examples_load") {
    auto config =
        load_config(sources_with(TASKPOOL_SOURCE_DIR "/config/examples/command-tasks.json"));
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    CHECK(config->tasks.size() == 5);
}

TEST_CASE("config.cluster_keys_are_checked_and_the_redis_url_never_shown") {
    auto load = [](json doc) {
        return load_config(sources_with(std::nullopt, {}, std::move(doc)));
    };
    auto ok = load({{"cluster", {{"redis", "redis://:hunter2@db:6380/1"}, {"name", "jobs-eu_1"}}}});
    REQUIRE(ok.ok());
    CHECK(ok->cluster.redis == "redis://:hunter2@db:6380/1");
    CHECK(ok->cluster.lease_s == 10);
    CHECK(config_to_json(*ok)["cluster"]["redis"] == "***");

    auto bad_url = load({{"cluster", {{"redis", "redis://hunter2@db"}}}});
    REQUIRE_FALSE(bad_url.ok());
    CHECK(bad_url.error().message.find("after a colon") != std::string::npos);
    CHECK(bad_url.error().message.find("hunter2") == std::string::npos);

    auto with_journal = load({{"cluster", {{"redis", "redis://db"}}}, {"store", {{"path", "/x"}}}});
    REQUIRE_FALSE(with_journal.ok());
    CHECK(with_journal.error().message.find("one or the other") != std::string::npos);

    auto bad_name = load({{"cluster", {{"name", "a:b"}}}});
    REQUIRE_FALSE(bad_name.ok());
    CHECK(bad_name.error().message.find("letters, digits") != std::string::npos);

    CHECK_FALSE(load({{"cluster", {{"lease_s", 1}}}}).ok());
}
