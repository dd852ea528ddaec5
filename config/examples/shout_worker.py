"""A Python remote worker that serves `shout` (config/docker-compose.cluster.yml
runs it against one node; any node then takes `shout` jobs for it).

    TASKPOOL_ADDR=HOST:PORT python3 shout_worker.py
"""

import taskpool

worker = taskpool.Worker()  # $TASKPOOL_ADDR, $TASKPOOL_TOKEN, as a Client


@worker.task("shout", description="upper-cases a text")
def shout(args):
    return args["text"].upper() + "!"


if __name__ == "__main__":
    worker.run(concurrency=4)
