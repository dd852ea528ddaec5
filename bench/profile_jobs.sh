#!/usr/bin/env bash
# Per-job cost of the whole daemon, in figures that hold on a noisy machine:
#
#   bench/profile_jobs.sh instructions [thread|process|remote] [tls]   callgrind: instructions a job
#   bench/profile_jobs.sh allocations  [thread|process] [tls]          heaptrack: allocations a job
#
# Pipelined echo jobs (64 in flight on one connection) against a Release
# taskpoold. Instructions: 20,000 jobs warm up, the counters are zeroed, 20,000
# more are counted, every thread of the daemon together. `remote` sends no-op
# jobs to two remote workers (taskpool_bench_worker, one thread and a prefetch
# of 16 each, over plain TCP), under callgrind too, and counts them apart. With `tls`, the daemon
# serves TLS with a certificate taskpool-make-certs makes, and the jobs come over it. Allocations: one run of
# 20,000 jobs and one of 60,000, subtracted, so that start-up and warm-up drop out.
# Allocations need a build without tcmalloc, whose operator new heaptrack does not
# see: BUILD (build-release) and HEAP_BUILD (build-heaptrack) name the build
# folders, each built first.
set -euo pipefail

what=${1:?usage: bench/profile_jobs.sh instructions|allocations [thread|process|remote] [tls]}
pool=${2:-thread}
tls=${3:-}
if [[ $pool == remote && ($what != instructions || -n $tls) ]]; then
    echo "profile_jobs: remote workers are counted in instructions, over plain TCP" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-release}
jobs=20000

tcmalloc=ON
if [[ $what == allocations ]]; then
    build=${HEAP_BUILD:-$root/build-heaptrack}
    tcmalloc=OFF
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTASKPOOL_TCMALLOC=$tcmalloc >/dev/null
cmake --build "$build" -j "$(nproc)" --target taskpoold taskpool_loadgen taskpool_bench_worker \
    >/dev/null
daemon=$build/daemon/taskpoold
loadgen=$build/bench/taskpool_loadgen
work=$(mktemp -d)
pid=
workers=()
trap 'kill "$pid" "${workers[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
address=127.0.0.1:$port
flags=(--listen "$address" --threads 2 --processes 2 --log-level warn)
dial=$address
if [[ $tls == tls ]]; then
    "$root/config/make-certs.sh" "$work/tls" server 127.0.0.1 >/dev/null
    printf '{"tls": {"cert": "%s", "key": "%s"}}\n' "$work/tls/server.pem" \
        "$work/tls/server.key" >"$work/tls.json"
    flags+=(--config "$work/tls.json")
    dial=tls://$address
    export TASKPOOL_CA=$work/tls/ca.pem
fi

wait_listening() {
    for _ in $(seq 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "profile_jobs: the daemon did not start listening" >&2
    exit 1
}

if [[ $pool == remote ]]; then
    printf '{"tasks": {"noop": {"remote": true}}}\n' >"$work/remote.json"
    flags+=(--config "$work/remote.json")
    run_jobs() { "$loadgen" pipe "$dial" noop task "$1" 64 1 >/dev/null; }
else
    run_jobs() { "$loadgen" pipe "$dial" echo "$pool" "$1" 64 1 >/dev/null; }
fi

# Under heaptrack $pid is its script, and the daemon the process whose command
# line is exactly the daemon's; under valgrind $pid is the daemon.
stop_daemon() {
    pkill -TERM -x -f "$daemon ${flags[*]}" || kill -TERM "$pid"
    wait "$pid" || true
}

case $what in
instructions)
    valgrind --tool=callgrind --callgrind-out-file="$work/out" "$daemon" "${flags[@]}" \
        2>"$work/log" &
    pid=$!
    wait_listening
    if [[ $pool == remote ]]; then
        for n in 1 2; do
            valgrind --tool=callgrind --callgrind-out-file="$work/worker$n" \
                "$build/bench/taskpool_bench_worker" "$dial" 1 16 2>"$work/worker$n.log" &
            workers+=($!)
        done
    fi
    run_jobs $jobs
    callgrind_control -z >/dev/null
    run_jobs $jobs
    callgrind_control -d >/dev/null
    if ((${#workers[@]})); then
        kill -TERM "${workers[@]}"
        wait "${workers[@]}" || true
    fi
    stop_daemon
    # The dump after zeroing is the one with the counted jobs; its threads together.
    count() { grep -h '^summary:' "$@" | awk '{s += $2} END {print s}'; }
    total=$(count "$work"/out.*)
    echo "$pool pool${tls:+ over TLS}: $total instructions for $jobs jobs, $((total / jobs)) a job"
    for n in "${!workers[@]}"; do
        total=$(count "$work/worker$((n + 1))".*)
        echo "remote worker $((n + 1)): $total instructions, $((total / jobs)) a job of the $jobs"
    done
    ;;
allocations)
    count() {
        heaptrack -o "$work/heap$1" "$daemon" "${flags[@]}" >/dev/null 2>&1 &
        pid=$!
        wait_listening
        run_jobs "$1"
        stop_daemon
        heaptrack_print "$work"/heap"$1".* 2>/dev/null |
            awk '/^calls to allocation functions:/ {print $5}'
    }
    few=$(count $jobs)
    many=$(count $((3 * jobs)))
    per=$(awk -v a="$few" -v b="$many" -v n=$((2 * jobs)) 'BEGIN {printf "%.1f", (b - a) / n}')
    echo "$pool pool${tls:+ over TLS}: $few allocations for $jobs jobs, $many for $((3 * jobs)): $per a job"
    ;;
*)
    echo "usage: bench/profile_jobs.sh instructions|allocations [thread|process|remote] [tls]" >&2
    exit 2
    ;;
esac
