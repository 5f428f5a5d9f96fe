#!/usr/bin/env bash
# Audited reads under load, against a release build of depot: every answer
# waits for its audit event to be committed.
#
#   1. `GET /api/v1/files/?limit=50`: the newest 50 of the caller's 100,000 files
#      (seeded straight into the database), 16 connections;
#   2. `GET /api/v1/files/active/{session}`: the session's active file, from Redis
#      (REDIS_URL, default redis://127.0.0.1:6379), 32 connections.
#
#   bench/reads.sh [ROUNDS]               SQLite (default 3 rounds of BENCH_SECONDS, 10)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/reads.sh
#                                         PostgreSQL: a fresh database per build, dropped after
#   BASELINE=/path/to/depot bench/reads.sh 5
#                                         another build too, in turn with this one each round
#
# Prints req/s, p50 and p99 for each request, round and build, and the medians.
# Any answer other than 200 stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

ROUNDS="${1:-3}"
DURATION="${BENCH_SECONDS:-10}"
FILES=100000
REDIS="${REDIS_URL:-redis://127.0.0.1:6379}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis is not answering at $REDIS" >&2; exit 1; }

bench_init
start_builds REDIS_URL="$REDIS"

# The files' rows and their blobs' rows, as uploads would have left them (the
# bytes are not there: a listing does not read them).
seed_files() { # BUILD
    local hex user="${USER_IDS[$1]}"
    echo "$1: seeding $FILES files…" >&2
    if [ -n "${DB_URLS[$1]}" ]; then
        hex="lpad(to_hex(n), 64, '0')"
        psql "${DB_URLS[$1]}" -q -c "INSERT INTO blobs (sha256, size, refcount, created_at)
            SELECT $hex, 4096, 1, 1767225600000000 + n FROM generate_series(1, $FILES) AS n" \
            -c "INSERT INTO files (user_id, file_name, storage_uri, size, content_type, sha256, cid, created_at)
            SELECT $user, 'seeded-' || n || '.bin', 'local:///seeded', 4096, 'application/octet-stream',
                   $hex, 'bafkrei' || substr(md5(n::text) || md5(n::text), 1, 52), 1767225600000000 + n
            FROM generate_series(1, $FILES) AS n" \
            -c "VACUUM ANALYZE files" >/dev/null
    else
        python3 - "$WORK/data-$1/depot.db" "$user" "$FILES" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
user, files = int(sys.argv[2]), int(sys.argv[3])
db.executemany("INSERT INTO blobs (sha256, size, refcount, created_at) VALUES (?, 4096, 1, ?)",
               ((f"{n:064x}", 1767225600000000 + n) for n in range(1, files + 1)))
db.executemany("INSERT INTO files (user_id, file_name, storage_uri, size, content_type, sha256, cid, created_at) "
               "VALUES (?, ?, 'local:///seeded', 4096, 'application/octet-stream', ?, ?, ?)",
               ((user, f"seeded-{n}.bin", f"{n:064x}", f"bafkrei{n:052x}", 1767225600000000 + n)
                for n in range(1, files + 1)))
db.commit()
db.execute("ANALYZE")
PY
    fi
}

declare -A SESSIONS RESULTS
for build in "${BUILDS[@]}"; do
    seed_files "$build"
    SESSIONS[$build]=$(python3 -c 'import uuid; print(uuid.uuid4())')
    printf 'a,b\n1,2\n' | curl -sS -o /dev/null -f -T - -H "${AUTHS[$build]}" \
        -H "X-Session-Id: ${SESSIONS[$build]}" "${URLS[$build]}/api/v1/files/active.csv/content"
done

run_wrk() { # BUILD CONNECTIONS PATH
    wrk -t 2 -c "$2" -d "${DURATION}s" --latency -s bench/result.lua -H "${AUTHS[$1]}" "${URLS[$1]}$3" \
        | grep '^RESULT'
}

for round in $(seq 1 "$ROUNDS"); do
    for build in "${BUILDS[@]}"; do
        for request in listing active; do
            case $request in
                listing) line=$(run_wrk "$build" 16 "/api/v1/files/?limit=50") ;;
                active) line=$(run_wrk "$build" 32 "/api/v1/files/active/${SESSIONS[$build]}") ;;
            esac
            echo "round $round, $build, $request: $line" >&2
            case "$line" in
                *" errors=0") ;;
                *) echo "$build: some reads were not answered 200; the server said:" >&2
                   grep -E 'WARN|ERROR' "${LOGS[$build]}" | tail -n 3 >&2
                   exit 1 ;;
            esac
            RESULTS[$build:$request]+="$line;"
        done
    done
done

python3 - "${BENCH_DATABASE_URL:+PostgreSQL}" "$DURATION" "${BUILDS[@]}" <<PY
import datetime, os, re, statistics, sys
database = sys.argv[1] or "SQLite"
duration, builds = sys.argv[2], sys.argv[3:]
results = {
    ("current", "listing"): """${RESULTS[current:listing]}""",
    ("current", "active"): """${RESULTS[current:active]}""",
    ("baseline", "listing"): """${RESULTS[baseline:listing]:-}""",
    ("baseline", "active"): """${RESULTS[baseline:active]:-}""",
}
names = {"listing": "newest 50 of 100,000 files, 16 connections",
         "active": "active file (Redis), 32 connections"}
print(f"\nAudited reads, {duration} s per round, {database}, {datetime.date.today()}\n")
if "baseline" in builds:
    print(f"baseline: {os.environ.get('BASELINE')}\n")
print("| request | build | req/s each round | median req/s | median p50 ms | median p99 ms |")
print("|---|---|---|---:|---:|---:|")
for request in ("listing", "active"):
    for build in builds:
        rounds = []
        for line in filter(None, results[(build, request)].split(";")):
            fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
            rounds.append((int(fields["requests"]) / float(fields["seconds"]),
                           float(fields["p50_ms"]), float(fields["p99_ms"])))
        print(f"| {names[request]} | {build} | {', '.join(f'{r[0]:.0f}' for r in rounds)} | "
              f"{statistics.median(r[0] for r in rounds):.0f} | "
              f"{statistics.median(r[1] for r in rounds):.2f} | {statistics.median(r[2] for r in rounds):.2f} |")
PY
