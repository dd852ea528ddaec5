// A remote worker that serves `double` (docs/workers.md, "In C++"): it runs until
// it is killed.
//
//     taskpool_example_worker [HOST:PORT]     (default: $TASKPOOL_ADDR or 127.0.0.1:7433)
#include <cstdlib>
#include <iostream>

#include "taskpool/worker.hpp"

int main(int argc, char** argv) {
    const char* env = std::getenv("TASKPOOL_ADDR");
    std::string address = argc > 1 ? argv[1] : env != nullptr ? env : "127.0.0.1:7433";
    // As docs/workers.md shows it, from here:
    auto worker = taskpool::Worker::connect(address);  // HOST:PORT, or tls://HOST:PORT
    if (!worker) {
        std::cerr << worker.error().message << "\n";
        return 1;
    }
    worker->task("double", [](const nlohmann::json& args, taskpool::JobContext& job) {
        job.progress({{"half", true}});
        return nlohmann::json{{"n", args.at("n").get<int>() * 2}};
    });
    auto served = worker->run(4);  // until worker->stop() from another thread
    if (!served) {
        std::cerr << served.error().message << "\n";
        return 1;
    }
    // ... to here.
    return 0;
}
