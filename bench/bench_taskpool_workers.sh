#!/usr/bin/env bash
# Remote workers beside the peers, in the contract of the peer benchmark kit (see
# bench_taskpool.sh), no-op jobs through:
# - a Python worker: taskpool.Worker with a process pool of 2, as Celery's
#   prefork -c 2 and Pool(2), and a prefetch of 8 (16 jobs held, where
#   Pool.apply_async holds every job sent);
# - two C++ workers: taskpool::Worker, one process and one thread each, as
#   gearman's two C workers, with a prefetch of 16, as the daemon's own process
#   pool holds up to 16 short runs in each of its workers;
# - and that process pool of 2, on the same payload, for scale.
# Needs TASKPOOL_BIN (taskpoold, taskpool, taskpool_loadgen, taskpool_bench_worker)
# and TASKPOOL_PYTHON (the folder holding the taskpool package).
# Env: TP_SEQ_N (3000), TP_WORKER_N (40000; the Python worker), TP_FAST_N (200000;
# the C++ workers and the process pool, which get through 40,000 in under a second).
source "$(dirname "$0")/lib/common.sh"
arm_watchdog 170
: "${TASKPOOL_BIN:?set TASKPOOL_BIN to the folder with taskpoold and the benchmark tools}"
: "${TASKPOOL_PYTHON:?set TASKPOOL_PYTHON to the folder with the taskpool Python package}"
peers_tmpdir
P="$(free_port)"
A="127.0.0.1:$P"
printf '{"tasks": {"noop": {"remote": true}}}\n' >"$PEERS_TMP/workers.json"
start_bg "$PEERS_TMP/taskpoold.log" "$TASKPOOL_BIN/taskpoold" --listen "$A" \
    --threads 2 --processes 2 --log-level warn --config "$PEERS_TMP/workers.json"
DAEMON_PID="$LAST_PID"
wait_port "$P" || exit 1
L="$TASKPOOL_BIN/taskpool_loadgen"
SEQ_N="${TP_SEQ_N:-3000}"; N="${TP_WORKER_N:-40000}"; FAST_N="${TP_FAST_N:-200000}"

# wait_workers N: until N workers are registered.
wait_workers() {
  local i
  for i in $(seq 1 100); do
    if "$TASKPOOL_BIN/taskpool" --addr "$A" --json stats |
        python3 -c "import json,sys; sys.exit(len(json.load(sys.stdin)['pools']['remote']['workers']) != $1)"; then
      return 0
    fi
    sleep 0.1
  done
  echo "the workers did not register" >&2
  return 1
}

set -e
export LOADGEN_TAG=taskpool+python-workers
start_bg "$PEERS_TMP/python-worker.log" env PYTHONPATH="$TASKPOOL_PYTHON" \
    python3 "$(dirname "$0")/noop_worker.py" "$A" processes 2 8
PYW="$LAST_PID"
wait_workers 1
timeout 60 "$L" seq "$A" noop task "$SEQ_N"
timeout 60 "$L" pipe "$A" noop task "$N" 64 1
stop_pid "$PYW"

export LOADGEN_TAG=taskpool+cpp-workers
start_bg "$PEERS_TMP/cpp-worker-1.log" "$TASKPOOL_BIN/taskpool_bench_worker" "$A" 1 16
W1="$LAST_PID"
start_bg "$PEERS_TMP/cpp-worker-2.log" "$TASKPOOL_BIN/taskpool_bench_worker" "$A" 1 16
W2="$LAST_PID"
wait_workers 2
timeout 60 "$L" seq "$A" noop task "$SEQ_N"
timeout 60 "$L" pipe "$A" noop task "$FAST_N" 64 1
stop_pid "$W1"
stop_pid "$W2"

# The daemon's own process pool, same payload, same run: the floor remote workers
# are measured against.
export LOADGEN_TAG=taskpool+local-process-pool
timeout 60 "$L" seq "$A" echo process "$SEQ_N"
timeout 60 "$L" pipe "$A" echo process "$FAST_N" 64 1
