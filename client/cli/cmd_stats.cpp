#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

/// "name value name value ..." of the given keys of an object.
std::string counts(const nlohmann::json& object, std::initializer_list<const char*> keys) {
    std::string line;
    for (const auto* k : keys) {
        line += (line.empty() ? "" : "  ") + std::string(k) + " " + human_value(object.value(k, 0));
    }
    return line;
}

void print_stats(const nlohmann::json& s) {
    std::cout << "uptime:       " << s.value("uptime_s", 0.0) << " s\n"
              << "connections:  " << s.value("connections", 0) << "\n"
              << "jobs:         "
              << counts(s.at("jobs"), {"submitted", "scheduled", "waiting", "queued", "running",
                                       "succeeded", "failed", "cancelled"})
              << "\n";
    if (auto cb = s.find("callbacks"); cb != s.end()) {
        std::cout << "callbacks:    " << counts(*cb, {"delivered", "failed", "retries", "pending"})
                  << "\n";
    }
    if (auto kv = s.find("kv"); kv != s.end()) {
        std::cout << "kv:           keys " << human_value(kv->value("keys", 0)) << "\n";
    }
    if (auto store = s.find("store"); store != s.end() && store->is_object()) {
        std::cout << "journal:      " << store->value("path", "") << "  "
                  << (store->value("writable", false) ? "writable" : "NOT WRITABLE") << "  "
                  << counts(*store, {"commits", "writes"});
        if (store->contains("error")) {
            std::cout << "  error: " << human_value(store->at("error"));
        }
        std::cout << "\n";
    } else if (auto cluster = s.find("cluster"); cluster != s.end()) {
        std::cout << "cluster:      " << cluster->value("name", "") << ", this node "
                  << cluster->value("node", "") << " (jobs live in Redis)\n";
    } else {
        std::cout << "journal:      none (jobs live in memory)\n";
    }
    std::cout << "\n";
    if (auto cluster = s.find("cluster"); cluster != s.end()) {
        std::vector<std::vector<std::string>> nodes = {{"NODE", "ADDR", "LAST SEEN"}};
        for (const auto& n : cluster->value("nodes", nlohmann::json::array())) {
            nodes.push_back({human_value(n.at("id")), human_value(n.at("addr")),
                             human_value(n.at("last_seen"))});
        }
        print_table(nodes);
        std::cout << "\n";
    }
    std::vector<std::vector<std::string>> pools = {{"POOL", "SIZE", "BUSY", "QUEUED"}};
    std::vector<std::vector<std::string>> workers = {{"WORKER PID", "STATE", "JOBS DONE"}};
    for (const auto& [name, p] : s.at("pools").items()) {
        pools.push_back({name, human_value(p.at("size")), human_value(p.at("busy")),
                         human_value(p.at("queued"))});
        for (const auto& w : p.value("workers", nlohmann::json::array())) {
            workers.push_back(
                {human_value(w.at("pid")), human_value(w.at("state")), human_value(w.at("jobs"))});
        }
    }
    print_table(pools);
    if (workers.size() > 1) {
        std::cout << "\n";
        print_table(workers);
    }
}

}  // namespace

void setup_stats(CLI::App& app, Globals& g) {
    auto* cmd = app.add_subcommand(
        "stats", "Show pools, workers, job counts, callbacks, and the journal or the cluster");
    cmd->callback([&g] {
        auto reply = g.call(proto::StatsRequest{});
        if (!reply) {
            return;
        }
        if (g.json) {
            print_json_line(*reply);
        } else {
            print_stats(*reply);
        }
    });
}

}  // namespace taskpool::cli
