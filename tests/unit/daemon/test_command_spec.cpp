#include "daemon/tasks/command_spec.hpp"

#include <doctest/doctest.h>

using namespace taskpool::daemon::tasks;
using nlohmann::json;

namespace {

std::string spec_error(const json& doc, const std::string& name = "t") {
    auto spec = parse_command_spec(name, doc);
    REQUIRE_FALSE(spec.ok());
    return spec.error().message;
}

}  // namespace

TEST_CASE("command_spec.templates") {
    auto spec = parse_command_spec(
        "convert", {{"command", {"convert", "{in}", "-resize", "{w}x{h}", "{{literal}}", "{in}"}}});
    REQUIRE(spec.ok());
    REQUIRE(spec->argv.size() == 5);
    CHECK(spec->argv[0].parts.size() == 1);
    CHECK(spec->argv[0].parts[0].is_field);
    CHECK(spec->argv[0].parts[0].text == "in");
    CHECK_FALSE(spec->argv[1].parts[0].is_field);
    CHECK(spec->argv[2].parts.size() == 3);  // {w}, "x", {h}
    CHECK(spec->argv[3].parts.size() == 1);
    CHECK(spec->argv[3].parts[0].text == "{literal}");
    CHECK(spec->fields() == std::vector<std::string>{"in", "w", "h"});
}

TEST_CASE("command_spec.a_brace_that_is_no_placeholder_is_literal") {
    // awk, jq and python3 -c programs pass through unchanged.
    for (std::string text : {"{print $1}", "{a: .b}", "print({'k': 1})", "{", "}", "{}", "a}",
                             "{a b}", "{x", "${HOME}x"}) {
        auto spec = parse_command_spec("t", {{"command", {"prog", text}}});
        REQUIRE(spec.ok());
        INFO(text);
        bool placeholder = text == "${HOME}x";  // {HOME} is a field name
        CHECK(spec->argv[0].parts.size() == (placeholder ? 3 : 1));
        if (!placeholder) {
            CHECK_FALSE(spec->argv[0].parts[0].is_field);
            CHECK(spec->argv[0].parts[0].text == text);
        }
    }
    auto mixed = parse_command_spec("t", {{"command", {"jq", "{a: .{field}} | {{b}}"}}});
    REQUIRE(mixed.ok());
    REQUIRE(mixed->argv[0].parts.size() == 3);
    CHECK(mixed->argv[0].parts[0].text == "{a: .");
    CHECK(mixed->argv[0].parts[1].is_field);
    CHECK(mixed->argv[0].parts[1].text == "field");
    CHECK(mixed->argv[0].parts[2].text == "} | {b}");
}

TEST_CASE("command_spec.defaults_and_round_trip") {
    auto spec = parse_command_spec("t", {{"command", {"cat"}}, {"stdin", "{text}"}});
    REQUIRE(spec.ok());
    CHECK(spec->pool == taskpool::proto::PoolKind::process);
    CHECK(spec->output == CommandSpec::Output::text);
    CHECK(spec->stdin_from == CommandSpec::Stdin::field);
    CHECK(spec->fields() == std::vector<std::string>{"text"});
    CHECK(spec->max_output_bytes == 1 << 20);
    CHECK_FALSE(spec->allow_options);
    CHECK(spec->description == "runs cat");
    auto again = parse_command_spec("t", to_json(*spec));
    REQUIRE(again.ok());
    CHECK(to_json(*again) == to_json(*spec));
}

TEST_CASE("command_spec.errors_name_the_key") {
    CHECK(spec_error({{"stdin", "args"}}).find("tasks.t.command") != std::string::npos);
    CHECK(spec_error({{"command", json::array()}}).find("program") != std::string::npos);
    CHECK(spec_error({{"command", {"{p}"}}}).find("literally") != std::string::npos);
    CHECK(spec_error({{"command", {"ls"}}, {"stdin", "file"}}).find("tasks.t.stdin") !=
          std::string::npos);
    CHECK(spec_error({{"command", {"ls"}}, {"env", {{"A", 1}}}}).find("tasks.t.env") !=
          std::string::npos);
    CHECK(spec_error({{"command", {"ls"}}, {"timeout_s", 0}}).find("tasks.t.timeout_s") !=
          std::string::npos);
    CHECK(spec_error({{"command", {"ls"}}, {"shell", true}}).find("tasks.t.shell") !=
          std::string::npos);
    CHECK(spec_error({{"command", {"ls"}}}, "bad name").find("task name") != std::string::npos);
    CHECK(spec_error("ls").find("must be an object") != std::string::npos);
}
