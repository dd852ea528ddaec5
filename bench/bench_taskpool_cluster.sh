#!/usr/bin/env bash
# taskpoold in cluster mode beside the peers, in the contract of the peer benchmark
# kit: 1, 2 and 3 nodes (2 task threads and 2 worker processes each) on one
# redis-server (no persistence, as the kit runs Redis for Celery and BullMQ),
# pipelined echo on the thread pool and no-op on the process pool, with the
# connections spread over the nodes. Also Redis's commands, round trips and CPU time a
# job, from INFO stats and INFO cpu before and after each run. Needs TASKPOOL_BIN.
# Env: TP_CLUSTER_N (40000), TP_CLUSTER_PROC_N (20000).
source "$(dirname "$0")/lib/common.sh"
arm_watchdog 300
: "${TASKPOOL_BIN:?set TASKPOOL_BIN to the folder with taskpoold and taskpool_loadgen}"
peers_tmpdir
L="$TASKPOOL_BIN/taskpool_loadgen"
N="${TP_CLUSTER_N:-40000}"; PN="${TP_CLUSTER_PROC_N:-20000}"
R="$(free_port)"
start_bg "$PEERS_TMP/redis.log" redis-server --port "$R" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --logfile ''
wait_port "$R" || exit 1

# Redis's totals: commands processed, the reads of its clients' sockets (each
# read takes what a client sent in one go: a round trip of a pipelined client),
# and its CPU time (ms; it runs on one core, so this bounds jobs a second).
redis_totals() {
    { redis-cli -p "$R" info stats; redis-cli -p "$R" info cpu; } |
        awk -F: '/^total_commands_processed/ {c=$2} /^total_reads_processed/ {r=$2}
                 /^used_cpu_(sys|user):/ {t+=$2}
                 END {printf "%d %d %d\n", c, r, t * 1000}' | tr -d '\r'
}
# One loadgen run, and what it cost Redis a job.
run() {
    local jobs="$1"; shift
    read -r c0 r0 t0 < <(redis_totals)
    timeout 60 "$L" "$@"
    read -r c1 r1 t1 < <(redis_totals)
    awk -v tag="$LOADGEN_TAG" -v what="$4 $3" -v c="$((c1 - c0))" -v r="$((r1 - r0))" \
        -v t="$((t1 - t0))" -v n="$jobs" 'BEGIN {
            printf "%s %s redis: commands=%.2f reads=%.2f cpu_us=%.1f per job n=%d\n", tag, what,
                c / n, r / n, t * 1000 / n, n
        }'
}

# Each count of nodes is a cluster of its own (a name of its own on the one Redis),
# started afresh: none inherits the jobs another left, which the retention of a
# later one would be dropping while it is measured.
for count in 1 2 3; do
    printf '{"cluster": {"redis": "redis://127.0.0.1:%s", "name": "bench%s"}}\n' "$R" "$count" \
        >"$PEERS_TMP/cluster$count.json"
    nodes=()
    addresses=""
    for _ in $(seq "$count"); do
        P="$(free_port)"
        start_bg "$PEERS_TMP/node$count-$P.log" "$TASKPOOL_BIN/taskpoold" --listen "127.0.0.1:$P" \
            --threads 2 --processes 2 --log-level warn --config "$PEERS_TMP/cluster$count.json"
        nodes+=("$LAST_PID")
        wait_port "$P" || exit 1
        addresses="${addresses:+$addresses,}127.0.0.1:$P"
    done
    export LOADGEN_TAG="taskpool+cluster$count"
    set -e
    run "$N" pipe "$addresses" echo thread "$N" 64 $((2 * count))
    run "$PN" pipe "$addresses" echo process "$PN" 64 $((2 * count))
    set +e
    for pid in "${nodes[@]}"; do stop_pid "$pid"; done
done
