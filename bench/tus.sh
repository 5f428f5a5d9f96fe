#!/usr/bin/env bash
# A resumable (tus) upload against one raw PUT of the same file, in the same run.
#
#   bench/tus.sh [SIZE_MIB] [CHUNK_MIB] [ROUNDS]   (defaults: 1024, 8, 3)
#   PACE=125M bench/tus.sh                         (the client held to 125 MB/s, 1 Gbit/s)
#
# Builds release, starts depot on a temp data dir, and alternates, ROUNDS times:
# a `PUT` of the file with curl, then the same file over tus — one POST, then a
# PATCH per CHUNK_MIB, all in one curl process on one connection (`--next`;
# see bench/server.sh). Neither sends `Expect: 100-continue` (tus clients do not).
# Each upload is deleted (and the disk synced) before the next. Prints each
# round's seconds, the medians' MB/s and their ratio, and the server's peak RSS.
# Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
CHUNK_MIB="${2:-8}"
ROUNDS="${3:-3}"
bench_init
random_input "$SIZE_MIB" "$CHUNK_MIB"

start_server "$WORK/data"
register

PUTS=()
TUSES=()
for round in $(seq 1 "$ROUNDS"); do
    sync
    PUTS+=("$(seconds put_file "$WORK/input.bin" put.bin)")
    delete_file put.bin
    sync
    TUSES+=("$(seconds tus_file "$WORK/chunks" "$BYTES" tus.bin)")
    delete_file tus.bin
    echo "round $round: PUT ${PUTS[-1]} s, tus ${TUSES[-1]} s" >&2
done
PEAK_RSS_KIB=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}')

python3 - "$BYTES" "$SIZE_MIB" "$CHUNK_MIB" "$PEAK_RSS_KIB" "${PUTS[*]}" "${TUSES[*]}" <<'PY'
import datetime, os, statistics, sys
size, size_mib, chunk_mib, rss_kib = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
puts = [float(x) for x in sys.argv[5].split()]
tuses = [float(x) for x in sys.argv[6].split()]
put, tus = statistics.median(puts), statistics.median(tuses)
pace = os.environ.get("PACE")
link = f"client held to {pace}B/s" if pace else "loopback"
print(f"\n{size_mib} MiB file, tus in {chunk_mib} MiB PATCHes, {link}, {len(puts)} alternating rounds, {datetime.date.today()}\n")
print("| upload | seconds (each round) | median MB/s | vs PUT |\n|---|---|---:|---:|")
print(f"| one raw PUT | {' '.join(f'{x:.2f}' for x in puts)} | {size / put / 1e6:.0f} | 1.00 |")
print(f"| tus | {' '.join(f'{x:.2f}' for x in tuses)} | {size / tus / 1e6:.0f} | {put / tus:.2f} |")
print(f"\nserver peak RSS: {rss_kib // 1024} MiB")
PY
