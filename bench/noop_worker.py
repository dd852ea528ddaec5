"""A Python remote worker that serves `noop` (its args are its result), for the
remote worker benchmark.

    python3 noop_worker.py HOST:PORT threads|processes N PREFETCH
"""

import sys

import taskpool


def noop(args):
    return args


if __name__ == "__main__":
    address, kind, n, prefetch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    worker = taskpool.Worker(address)
    worker.task("noop")(noop)
    if kind == "processes":
        worker.run(processes=n, prefetch=prefetch)
    else:
        worker.run(concurrency=n, prefetch=prefetch)
