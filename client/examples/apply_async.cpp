// Callbacks in the client's process, as Python's Pool.apply_async(callback=,
// error_callback=): submit jobs, carry on, and let run_callbacks() call back as
// each one ends.
//
//     taskpool_example_apply_async [HOST:PORT]     (default: $TASKPOOL_ADDR or 127.0.0.1:7433)
#include <cstdlib>
#include <iostream>

#include "taskpool/client.hpp"

int main(int argc, char** argv) {
    const char* env = std::getenv("TASKPOOL_ADDR");
    std::string address = argc > 1 ? argv[1] : env != nullptr ? env : "127.0.0.1:7433";
    auto client = taskpool::Client::connect(address);
    if (!client) {
        std::cerr << "cannot connect to " << address << ": " << client.error().message << "\n";
        return 1;
    }

    std::uint64_t total = 0;
    auto add_value = [&total](const taskpool::proto::Job& job) {
        auto result = job.result->parse();
        std::cout << "fib(" << result.at("n") << ") = " << result.at("value") << "\n";
        total += result.at("value").get<std::uint64_t>();
    };
    auto report = [](const taskpool::proto::Job& job) {
        std::cout << "job " << job.task << " failed: " << job.error->message << "\n";
    };

    auto accepted = [](const auto& result) {
        if (!result) {
            std::cerr << "refused: " << result.error().message << "\n";
            std::exit(1);
        }
    };
    // One job at a time...
    for (int n : {20, 25, 30}) {
        accepted(client->submit_async("fib", {{"n", n}}, add_value, report));
    }
    // ...or many at once, each with the same callbacks.
    accepted(client->map_async("fib", {{{"n", 10}}, {{"n", 15}}}, add_value, report));
    accepted(client->submit_async("fail", {{"message", "on purpose"}}, add_value, report));

    std::cout << client->pending_callbacks() << " jobs pending\n";
    if (auto done = client->run_callbacks(60); !done) {
        std::cerr << "callbacks: " << done.error().message << "\n";
        return 1;
    }
    std::cout << "sum of the values: " << total << "\n";
    return 0;
}
