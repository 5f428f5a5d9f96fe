#!/usr/bin/env bash
# Many small uploads at once: 4 KiB raw PUTs, each a distinct file under a
# name of its own, from wrk at 32 connections, against a release build of depot.
#
#   bench/small.sh [ROUNDS]              SQLite (default 3 rounds of BENCH_SECONDS, 15)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/small.sh
#                                        PostgreSQL: a fresh database per build, dropped after
#   BASELINE=/path/to/depot bench/small.sh 5
#                                        another build too, in turn with this one each round
#   FSYNCS=1 bench/small.sh              also counts fsync/fdatasync calls per upload
#                                        (strace -f -c on the server, over 2,000 uploads)
#
# Prints uploads/s, p50 and p99 for each round and build, and the median.
# Uploads not answered 201 are counted (errors) and the server's last warnings shown.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

ROUNDS="${1:-3}"
DURATION="${BENCH_SECONDS:-15}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

bench_init

declare -A RESULTS
start_builds

run_wrk() { # BUILD PREFIX DURATION
    AUTH="${AUTHS[$1]}" PREFIX="$2" wrk -t 2 -c "$CONNECTIONS" -d "$3" --latency \
        -s bench/small_put.lua "${URLS[$1]}" | grep '^RESULT'
}

for round in $(seq 1 "$ROUNDS"); do
    for build in "${BUILDS[@]}"; do
        line=$(run_wrk "$build" "r$round" "${DURATION}s")
        echo "round $round, $build: $line" >&2
        case "$line" in
            *" errors=0") ;;
            *) echo "$build: some uploads were not answered 201; the server said:" >&2
               grep -E 'WARN|ERROR' "${LOGS[$build]}" | tail -n 3 >&2 ;;
        esac
        RESULTS[$build]+="$line;"
    done
done

if [ -n "${FSYNCS:-}" ]; then
    command -v strace >/dev/null || { echo "strace is needed for FSYNCS=1" >&2; exit 1; }
    for build in "${BUILDS[@]}"; do
        strace -f -c -e trace=fsync,fdatasync -p "${PIDS[$build]}" -o "$WORK/strace-$build" &
        tracer=$!
        sleep 1
        line=$(run_wrk "$build" "fsync" "10s")
        kill -INT "$tracer"; wait "$tracer" || true
        uploads=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
        calls=$(awk '$NF ~ /^(fsync|fdatasync)$/ {n += $4} END {print n + 0}' "$WORK/strace-$build")
        RESULTS[$build:fsync]=$(python3 -c "print(f'{$calls / max($uploads, 1):.2f}')")
        echo "$build: $calls fsync/fdatasync calls over $uploads uploads (under strace)" >&2
    done
fi

python3 - "${BENCH_DATABASE_URL:+PostgreSQL}" "$CONNECTIONS" "$DURATION" "${BUILDS[@]}" <<PY
import datetime, os, re, statistics, sys
database = sys.argv[1] or "SQLite"
connections, duration, builds = sys.argv[2], sys.argv[3], sys.argv[4:]
results = {"current": """${RESULTS[current]}""", "baseline": """${RESULTS[baseline]:-}"""}
fsyncs = {"current": "${RESULTS[current:fsync]:-}", "baseline": "${RESULTS[baseline:fsync]:-}"}
def rounds(text):
    out = []
    for line in filter(None, text.split(";")):
        fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
        out.append((int(fields["requests"]) / float(fields["seconds"]), float(fields["p50_ms"]),
                    float(fields["p99_ms"]), int(fields["errors"])))
    return out
print(f"\n4 KiB raw PUTs, {connections} connections, {duration} s per round, {database}, {datetime.date.today()}\n")
if "baseline" in builds:
    print(f"baseline: {os.environ.get('BASELINE')}\n")
print("| build | uploads/s each round | median uploads/s | median p50 ms | median p99 ms | not 201 | fsyncs per upload |")
print("|---|---|---:|---:|---:|---:|---:|")
medians = {}
for build in builds:
    r = rounds(results[build])
    medians[build] = statistics.median(x[0] for x in r)
    print(f"| {build} | {', '.join(f'{x[0]:.0f}' for x in r)} | {medians[build]:.0f} | "
          f"{statistics.median(x[1] for x in r):.1f} | {statistics.median(x[2] for x in r):.1f} | "
          f"{sum(x[3] for x in r)} | {fsyncs[build] or '–'} |")
if "baseline" in builds:
    print(f"\ncurrent / baseline, median uploads/s: {medians['current'] / medians['baseline']:.2f}")
PY
