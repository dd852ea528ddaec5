#!/usr/bin/env bash
# taskpoold beside the peers, in the contract of the peer benchmark kit: run from a
# copy of that kit (bench/run.sh makes one), prints one "LABEL: key=value" line per
# figure. Needs TASKPOOL_BIN: the folder holding taskpoold and taskpool_loadgen.
# Env: TP_SEQ_N (5000), TP_N (100000), TP_PROC_N (20000). Also the same daemon with
# its journal, and over TLS (needs taskpool-make-certs in TASKPOOL_BIN).
source "$(dirname "$0")/lib/common.sh"
arm_watchdog 170
: "${TASKPOOL_BIN:?set TASKPOOL_BIN to the folder with taskpoold and taskpool_loadgen}"
peers_tmpdir
P="$(free_port)"
# 2 task threads and 2 worker processes: the peers' pools have 2 workers too.
start_bg "$PEERS_TMP/taskpoold.log" "$TASKPOOL_BIN/taskpoold" --listen "127.0.0.1:$P" \
    --threads 2 --processes 2 --log-level warn
DAEMON_PID="$LAST_PID"
wait_port "$P" || exit 1
L="$TASKPOOL_BIN/taskpool_loadgen"
A="127.0.0.1:$P"
SEQ_N="${TP_SEQ_N:-5000}"; N="${TP_N:-100000}"; PN="${TP_PROC_N:-20000}"
set -e
timeout 60 "$L" seq "$A" echo thread "$SEQ_N"
timeout 60 "$L" seq "$A" echo process "$SEQ_N"
timeout 60 "$L" pipe "$A" echo thread "$N" 64 1
timeout 60 "$L" pipe "$A" echo thread "$N" 64 8
timeout 60 "$L" pipe "$A" echo process "$PN" 64 1
timeout 60 "$L" pipe "$A" echo process "$PN" 64 8
timeout 60 "$L" fib "$A" 27 64
timeout 60 "$L" fib "$A" 32 64
# Last: it returns when the jobs are acknowledged, and they run on after it.
timeout 60 "$L" submit "$A" echo thread "$N" 64 1

# The same daemon with its SQLite journal (store.path, sync normal): every job is
# committed before its submit is acknowledged and again when it ends.
stop_pid "$DAEMON_PID"
P="$(free_port)"
A="127.0.0.1:$P"
start_bg "$PEERS_TMP/taskpoold-journal.log" "$TASKPOOL_BIN/taskpoold" --listen "$A" \
    --threads 2 --processes 2 --log-level warn --store "$PEERS_TMP/journal.db"
DAEMON_PID="$LAST_PID"
wait_port "$P" || exit 1
export LOADGEN_TAG=taskpool+journal
timeout 60 "$L" seq "$A" echo thread "$SEQ_N"
timeout 60 "$L" pipe "$A" echo thread "$N" 64 1
timeout 60 "$L" pipe "$A" echo thread "$N" 64 8
timeout 60 "$L" submit "$A" echo thread "$N" 64 1


# The same daemon over TLS (tls.cert, tls.key), with a certificate that
# taskpool-make-certs makes: the cost of TLS beside the plaintext figures above.
stop_pid "$DAEMON_PID"
P="$(free_port)"
A="127.0.0.1:$P"
"$TASKPOOL_BIN/taskpool-make-certs" "$PEERS_TMP/tls" server 127.0.0.1 >/dev/null
printf '{"tls": {"cert": "%s", "key": "%s"}}\n' "$PEERS_TMP/tls/server.pem" \
    "$PEERS_TMP/tls/server.key" >"$PEERS_TMP/tls.json"
start_bg "$PEERS_TMP/taskpoold-tls.log" "$TASKPOOL_BIN/taskpoold" --listen "$A" \
    --threads 2 --processes 2 --log-level warn --config "$PEERS_TMP/tls.json"
DAEMON_PID="$LAST_PID"
wait_port "$P" || exit 1
export LOADGEN_TAG=taskpool+tls TASKPOOL_CA="$PEERS_TMP/tls/ca.pem"
timeout 60 "$L" seq "tls://$A" echo thread "$SEQ_N"
timeout 60 "$L" pipe "tls://$A" echo thread "$N" 64 1
timeout 60 "$L" pipe "tls://$A" echo thread "$N" 64 8
