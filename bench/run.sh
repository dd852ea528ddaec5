#!/usr/bin/env bash
# Builds taskpool in Release and runs its benchmark interleaved with the peers'
# (../shared/bench/peers beside the repository: gearmand, multiprocessing.Pool,
# Celery, a bare loopback echo), in a scratch copy of that kit so that nothing is
# written outside the build folder. Prints the results file.
#
# usage: bench/run.sh [RUNS]     env: BENCHES (default "loopback gearman python celery
#                                taskpool taskpool_scale taskpool_workers"; the cluster
#                                figures: "bullmq celery taskpool_cluster"), AUTOGROUP
#
# AUTOGROUP=0 turns the kernel's session autogroups off for the run (as root), and
# back as they were after. The kit starts each daemon and worker in a session of
# its own, and with autogroups each session gets an equal share of the CPUs: a
# service of four processes is then held to what two of the same work get when
# two of them share a session (docs/benchmarks.md, "Remote workers").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
peers="$repo/../shared/bench/peers"
build="$repo/build-release"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTASKPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" \
    --target taskpoold taskpool taskpool_loadgen taskpool_bench_worker >/dev/null
scratch="$(mktemp -d -t taskpool-bench.XXXXXX)"
autogroup=/proc/sys/kernel/sched_autogroup_enabled
was=
trap 'rm -rf "$scratch"; if [[ -n $was ]]; then echo "$was" >"$autogroup"; fi' EXIT
if [[ -n ${AUTOGROUP:-} ]]; then
    was=$(cat "$autogroup")
    echo "$AUTOGROUP" >"$autogroup"
fi
cp -r "$peers" "$scratch/peers"
cp "$repo/bench/bench_taskpool.sh" "$repo/bench/bench_taskpool_scale.sh" \
    "$repo/bench/bench_taskpool_workers.sh" "$repo/bench/bench_taskpool_cluster.sh" \
    "$repo/bench/noop_worker.py" "$scratch/peers/"
export TASKPOOL_BIN="$build/bench" TASKPOOL_PYTHON="$repo/client/python"
ln -sf "$build/daemon/taskpoold" "$TASKPOOL_BIN/taskpoold"
ln -sf "$build/client/taskpool" "$TASKPOOL_BIN/taskpool"
ln -sf "$repo/config/make-certs.sh" "$TASKPOOL_BIN/taskpool-make-certs"
BENCHES="${BENCHES:-loopback gearman python celery taskpool taskpool_scale taskpool_workers}" OUT=results.txt \
    "$scratch/peers/run_all.sh" "${1:-3}" >&2
echo "# kernel.sched_autogroup_enabled: $(cat "$autogroup")"
cat "$scratch/peers/results.txt"
