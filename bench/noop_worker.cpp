// A remote worker that serves `noop` (its args are its result), for the remote
// worker benchmark: the cost of taskpool::Worker and the daemon around a task
// that does nothing.
//
//     taskpool_bench_worker HOST:PORT CONCURRENCY PREFETCH
#include <iostream>
#include <string>

#include "taskpool/worker.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: taskpool_bench_worker HOST:PORT CONCURRENCY PREFETCH\n";
        return 2;
    }
    auto worker = taskpool::Worker::connect(argv[1]);
    if (!worker) {
        std::cerr << worker.error().message << "\n";
        return 1;
    }
    worker->task("noop", [](const nlohmann::json& args, taskpool::JobContext&) { return args; });
    auto served = worker->run(std::stoi(argv[2]), std::nullopt, std::stoi(argv[3]));
    if (!served) {
        std::cerr << served.error().message << "\n";
        return 1;
    }
    return 0;
}
