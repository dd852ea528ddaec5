#!/usr/bin/env bash
# Makes a journal of the current format as taskpoold left it at a kill -9,
# holding every kind of record, for the test that it still loads
# (durability.a_journal_of_format_N_still_loads). Run it once per format, from a
# build of the release that introduced that format, and check the file in.
#
# usage: tests/data/make_journal.sh BUILD_DIR OUT.db   (OUT: journal-vN.db)
set -euo pipefail
build="$1"
out="$2"
rm -f "$out" "$out-wal" "$out-shm"
"$build/daemon/taskpoold" --listen 127.0.0.1:7431 --threads 1 --processes 1 --store "$out" \
    --log-level warn &
daemon=$!
sleep 1
tp() { "$build/client/taskpool" --addr 127.0.0.1:7431 "$@"; }
tp kv set greeting '"hello"'
tp kv set n 7
tp queue set mail --rate-limit 2/m                                    # format 6 on
tp submit echo '{"finished":true}'                                    # succeeded, expired by now
# Finished, with its webhook not delivered (nothing listens on port 9).
printf '%s\n' '{"op":"submit","task":"echo","args":{"hooked":1},"callback":{"url":"http://127.0.0.1:9/hook"}}' |
    nc -N 127.0.0.1 7431 >/dev/null
tp submit --detach --priority 1 sleep '{"seconds":30}'                # running: will be lost
tp submit --detach --pool process --retries 1 sleep '{"seconds":3}'   # running: will run again
tp submit --detach --priority 3 --key compat-key echo '{"queued":1}'  # queued behind the first
printf '%s\n' '{"op":"map","task":"echo","items":[{"item":1},{"item":2}]}' |
    nc -N 127.0.0.1 7431 >/dev/null
sleep 1
kill -9 "$daemon"
wait "$daemon" 2>/dev/null || true
# One file: fold the WAL in.
sqlite3 "$out" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;' >/dev/null
