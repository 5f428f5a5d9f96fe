#!/usr/bin/env bash
# A resumable (tus) upload against one raw PUT of the same file, in the same run.
#
#   bench/tus.sh [SIZE_MIB] [CHUNK_MIB] [ROUNDS]   (defaults: 1024, 8, 3)
#   PACE=125M bench/tus.sh                         (the client held to 125 MB/s, 1 Gbit/s)
#   BASELINE=/path/to/depot bench/tus.sh           (another build too, e.g. an older commit's)
#
# Builds release, starts depot on a temp data dir, and alternates, ROUNDS times:
# a `PUT` of the file with curl, then the same file over tus — one POST, then a
# PATCH per CHUNK_MIB, all in one curl process on one connection (`--next`;
# see bench/server.sh). Neither sends `Expect: 100-continue` (tus clients do not).
# Each upload is deleted (and the disk synced) before the next. Prints each
# round's seconds, the medians' MB/s and their ratio, and the server's peak RSS.
# With BASELINE, a second server runs that binary on its own data dir, and each
# round does the same against it right after, so both builds see the same noise.
# Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
CHUNK_MIB="${2:-8}"
ROUNDS="${3:-3}"
bench_init
random_input "$SIZE_MIB" "$CHUNK_MIB"

start_builds

declare -A PUTS TUSES
for round in $(seq 1 "$ROUNDS"); do
    for build in "${BUILDS[@]}"; do
        URL=${URLS[$build]} AUTH=${AUTHS[$build]}
        sync
        put=$(seconds put_file "$WORK/input.bin" put.bin)
        delete_file put.bin
        sync
        tus=$(seconds tus_file "$WORK/chunks" "$BYTES" tus.bin)
        delete_file tus.bin
        PUTS[$build]+="$put " TUSES[$build]+="$tus "
        echo "round $round, $build: PUT $put s, tus $tus s" >&2
    done
done
PEAK_RSS_KIB=$(grep VmHWM "/proc/${PIDS[current]}/status" | awk '{print $2}')

python3 - "$BYTES" "$SIZE_MIB" "$CHUNK_MIB" "$PEAK_RSS_KIB" "${PUTS[current]}" "${TUSES[current]}" \
    "${PUTS[baseline]:-}" "${TUSES[baseline]:-}" <<'PY'
import datetime, os, statistics, sys
size, size_mib, chunk_mib, rss_kib = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
pace = os.environ.get("PACE")
link = f"client held to {pace}B/s" if pace else "loopback"
builds = [("", sys.argv[5], sys.argv[6])]
if sys.argv[7]:
    builds.append((f" (baseline {os.environ.get('BASELINE')})", sys.argv[7], sys.argv[8]))
print(f"\n{size_mib} MiB file, tus in {chunk_mib} MiB PATCHes, {link}, {len(sys.argv[5].split())} alternating rounds, {datetime.date.today()}\n")
print("| upload | seconds (each round) | median MB/s | vs PUT |\n|---|---|---:|---:|")
for name, puts, tuses in builds:
    puts = [float(x) for x in puts.split()]
    tuses = [float(x) for x in tuses.split()]
    put, tus = statistics.median(puts), statistics.median(tuses)
    print(f"| one raw PUT{name} | {' '.join(f'{x:.2f}' for x in puts)} | {size / put / 1e6:.0f} | 1.00 |")
    print(f"| tus{name} | {' '.join(f'{x:.2f}' for x in tuses)} | {size / tus / 1e6:.0f} | {put / tus:.2f} |")
print(f"\nserver peak RSS: {rss_kib // 1024} MiB")
PY
