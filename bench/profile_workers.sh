#!/usr/bin/env bash
# Where a no-op job's CPU goes with remote workers, beside the daemon's own
# process pool: figures that hold better than throughput on a noisy machine.
#
#   bench/profile_workers.sh [ROUNDS] [PREFETCH]
#
# A Release daemon with the remote task `noop`, two taskpool_bench_worker
# processes (one thread each, PREFETCH 16 as the pool holds 16 short runs in each
# worker), and 100,000 pipelined jobs (64 in flight) through them, then as many
# `echo` jobs through the process pool. For each: the user and system CPU time
# a job of the daemon, of each worker, and of the load generator, from
# /proc/PID/stat; with `perf` and syscall tracepoints, the system calls and
# context switches a job of both workers together, and of the pool's two.
set -euo pipefail

rounds=${1:-3}
prefetch=${2:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-release}
jobs=100000
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target taskpoold taskpool_loadgen taskpool_bench_worker \
    >/dev/null
loadgen=$build/bench/taskpool_loadgen
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
address=127.0.0.1:$port
printf '{"tasks": {"noop": {"remote": true}}}\n' >"$work/workers.json"
"$build/daemon/taskpoold" --listen "$address" --threads 2 --processes 2 --log-level warn \
    --config "$work/workers.json" &
daemon=$!
pids+=("$daemon")
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
"$build/bench/taskpool_bench_worker" "$address" 1 "$prefetch" &
pids+=($!)
"$build/bench/taskpool_bench_worker" "$address" 1 "$prefetch" &
pids+=($!)
workers=("${pids[1]}" "${pids[2]}")
sleep 2
mapfile -t pool < <(cat /proc/"$daemon"/task/*/children | tr ' ' '\n' | grep .)

# cpu PID...: each one's user and system clock ticks.
cpu() { for p in "$@"; do awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$p/stat"; done; }

# per_job LABEL NAMES BEFORE AFTER: microseconds a job, user/system, for each.
per_job() {
    python3 - "$@" "$jobs" "$(getconf CLK_TCK)" <<'EOF'
import sys
label, names, before, after, jobs, hz = sys.argv[1:]
names = names.split()
a, z = [list(map(int, s.split())) for s in (before, after)]
us = [(y - x) * 1e6 / int(hz) / int(jobs) for x, y in zip(a, z)]
parts = ["%s %.1f/%.1f" % (n, us[2 * i], us[2 * i + 1]) for i, n in enumerate(names)]
print("%-14s %s  total %.1f us a job (user/system)" % (label, "  ".join(parts), sum(us)))
EOF
}

events=context-switches
if perf stat -e syscalls:sys_enter_sendto true >/dev/null 2>&1; then
    for call in sendto recvfrom read write epoll_wait futex; do
        events+=,syscalls:sys_enter_$call
    done
fi

# run LABEL TASK POOL TRACED NAMES PID...: one run of jobs, measured; `perf`
# counts the calls of TRACED (processes, comma-separated).
run() {
    local label=$1 task=$2 kind=$3 traced=$4 names=$5
    shift 5
    perf stat -x, -e "$events" -p "$traced" -o "$work/perf" 2>/dev/null &
    local perf=$! before after user system hz
    before="$(cpu "$@") 0 0"
    /usr/bin/time -f '%U %S' -o "$work/loadgen" "$loadgen" pipe "$address" "$task" "$kind" \
        "$jobs" 64 1 >/dev/null
    after="$(cpu "$@")"
    kill -INT "$perf" 2>/dev/null || true
    wait "$perf" 2>/dev/null || true
    read -r user system <"$work/loadgen"  # seconds: as ticks, for the same sum
    hz=$(getconf CLK_TCK)
    per_job "$label" "$names loadgen" "$before" \
        "$after $(python3 -c "print(round($user * $hz), round($system * $hz))")"
    if [[ -s $work/perf ]]; then  # no perf: CPU times alone
        awk -F, -v n="$jobs" -v who="$traced" '/^[0-9]/ {sub(/syscalls:sys_enter_/, "", $3);
            line = line sprintf("%s %.2f  ", $3, $1 / n)} END {if (line) print "    pids " who ", a job: " line}' \
            "$work/perf"
    fi
}

for round in $(seq "$rounds"); do
    run "remote:" noop task "$(IFS=,; echo "${workers[*]}")" "daemon worker1 worker2" \
        "$daemon" "${workers[@]}"
    run "process pool:" echo process "$(IFS=,; echo "${pool[*]}")" "daemon pool1 pool2" \
        "$daemon" "${pool[@]}"
done
