#!/usr/bin/env bash
# taskpoold at scale, in the contract of the peer benchmark kit (see
# bench_taskpool.sh): idle RSS, map throughput, `taskpool map` of 100,000 items
# from the command line, and RSS with 1,000,000 small jobs queued. Needs
# TASKPOOL_BIN: the folder holding taskpoold, taskpool and taskpool_loadgen.
source "$(dirname "$0")/lib/common.sh"
arm_watchdog 115
: "${TASKPOOL_BIN:?set TASKPOOL_BIN to the folder with taskpoold, taskpool and taskpool_loadgen}"
peers_tmpdir
# Room for the million queued jobs below.
echo '{"queue": {"max_size": 1000000}}' >"$PEERS_TMP/scale.json"
start_daemon() {
    P="$(free_port)"
    A="127.0.0.1:$P"
    start_bg "$PEERS_TMP/taskpoold-scale-$1.log" "$TASKPOOL_BIN/taskpoold" \
        --config "$PEERS_TMP/scale.json" --listen "$A" --threads 2 --processes 2 --log-level warn
    DAEMON_PID="$LAST_PID"
    wait_port "$P" || exit 1
}
start_daemon throughput
L="$TASKPOOL_BIN/taskpool_loadgen"
T="$TASKPOOL_BIN/taskpool"
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$DAEMON_PID/status"; }
now() { date +%s.%N; }
set -e
sleep 0.5
echo "taskpool idle: rss_mb=$(rss_mb)"

timeout 60 "$L" map "$A" echo thread 100000 1000 4
timeout 60 "$L" map "$A" echo process 20000 1000 4

seq 100000 >"$PEERS_TMP/items"
t0="$(now)"
timeout 60 "$T" --addr "$A" map echo --no-progress <"$PEERS_TMP/items" >"$PEERS_TMP/results"
t1="$(now)"
[ "$(wc -l <"$PEERS_TMP/results")" -eq 100000 ] || { echo "taskpool map printed too few results" >&2; exit 1; }
python3 -c 'import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f"taskpool cli map 100000 items: seconds={s:.2f} throughput={100000 / s:.0f} jobs/s")' "$t0" "$t1"

# A fresh daemon, so that the figure is the queued jobs' alone and not also the
# finished jobs the runs above left in retention. No thread takes jobs, so a
# million small jobs stay queued.
stop_pid "$DAEMON_PID"
start_daemon memory
"$T" --addr "$A" resize thread 0 >/dev/null
before="$(rss_mb)"
timeout 90 "$L" submit "$A" echo thread 1000000 256 1
after="$(rss_mb)"
python3 -c 'import sys; b, a = map(float, sys.argv[1:]); print(f"taskpool 1000000 queued: rss_mb={a:.0f} per_job_bytes={(a - b) * 1048576 / 1e6:.0f}")' "$before" "$after"
