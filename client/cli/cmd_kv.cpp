#include <iostream>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "output.hpp"
#include "proto/json_parse.hpp"

namespace taskpool::cli {
namespace {

using nlohmann::json;

/// A value as typed: JSON when it parses as JSON, else the text as a string, so
/// `kv set name alice` stores "alice" and `kv set n 5` stores 5.
json value_of(const std::string& text) {
    auto parsed = proto::parse_json(text);
    return parsed ? std::move(*parsed) : json(text);
}

/// Prints the reply's value: bare for a person (nothing for null), JSON with --json.
void print_value(const Globals& g, const json& reply) {
    const json& value = reply.at("value");
    if (g.json) {
        print_json_line(reply);
    } else if (!value.is_null()) {
        std::cout << human_value(value) << "\n";
    }
}

}  // namespace

void setup_kv(CLI::App& app, Globals& g) {
    struct Options {
        std::string key;
        std::string value;
        std::string expect;
        std::int64_t by = 1;
    };
    auto o = std::make_shared<Options>();
    auto* kv =
        app.add_subcommand("kv", "Shared values, changed atomically: get, set, del, incr, cas");
    kv->require_subcommand(1);
    auto add_key = [&](CLI::App* cmd) {
        cmd->add_option("key", o->key, "the key")->required();
        return cmd;
    };
    auto run = [o, &g](proto::RequestBody request) {
        auto reply = g.call(std::move(request));
        if (reply) {
            print_value(g, *reply);
        }
        return reply;
    };

    add_key(kv->add_subcommand("get", "Print a value (nothing when the key is missing)"))
        ->callback([o, run] { run(proto::KvGetRequest{o->key}); });

    auto* set = add_key(kv->add_subcommand("set", "Store a value (JSON, else a string)"));
    set->add_option("value", o->value, "the value; null removes the key")->required();
    set->callback([o, run] { run(proto::KvSetRequest{o->key, value_of(o->value)}); });

    add_key(kv->add_subcommand("del", "Remove a key; print the value it had"))->callback([o, run] {
        run(proto::KvDelRequest{o->key});
    });

    auto* incr = add_key(kv->add_subcommand(
        "incr", "Add to an integer (a missing key counts as 0); print the new value"));
    incr->add_option("--by", o->by, "how much to add (negative to take away)");
    incr->callback([o, run] { run(proto::KvIncrRequest{o->key, o->by}); });

    auto* cas = add_key(kv->add_subcommand(
        "cas", "Store VALUE only if the key holds EXPECT (null: missing); exit 1 if not"));
    cas->add_option("expect", o->expect, "the value the key must hold now")->required();
    cas->add_option("value", o->value, "the value to store")->required();
    cas->callback([o, run, &g] {
        auto reply = run(proto::KvCasRequest{o->key, value_of(o->expect), value_of(o->value)});
        if (reply && !reply->at("swapped").get<bool>()) {
            g.exit_code = exit_job_failed;
        }
    });
}

}  // namespace taskpool::cli
