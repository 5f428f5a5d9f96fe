#!/usr/bin/env bash
# Latency of the session endpoints of a release build of depot, under wrk.
#
#   bench/sessions.sh                 # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/sessions.sh
#
# 1. `GET /api/v1/files/active/{session}` served from Redis (REDIS_URL, default
#    redis://127.0.0.1:6379), 32 connections.
# 2. `GET /api/ingestion/history` pages of 50 out of 100,000 records in one
#    session (seeded straight into the database): the first page, a page deep in
#    the middle, a status filter and a name filter; 1 and 32 connections.
# Prints wrk's p50, p99 and requests/s for each. With BENCH_DATABASE_URL, a fresh
# database is created there for the run and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

REDIS="${REDIS_URL:-redis://127.0.0.1:6379}"
DURATION="${BENCH_SECONDS:-10}s"
PG_DB=""

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
redis-cli -u "$REDIS" ping >/dev/null || { echo "Redis is not answering at $REDIS" >&2; exit 1; }

bench_init

ENV=(REDIS_URL="$REDIS")
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    PG_DB="depot_bench_$$"
    bench_database "$PG_DB"
    PG_URL="$BENCH_DB_URL"
    ENV+=(DATABASE_URL="$PG_URL" SECRET_KEY="bench-secret-bench-secret-bench-secret")
    DB_NAME="PostgreSQL"
else
    DB_NAME="SQLite"
fi

start_server "$WORK/data" "${ENV[@]}"
register

ACTIVE_SESSION=$(python3 -c 'import uuid; print(uuid.uuid4())')
printf 'a,b\n1,2\n' | curl -sS -o /dev/null -f -T - -H "$AUTH" -H "X-Session-Id: $ACTIVE_SESSION" \
    "$URL/api/v1/files/bench.csv/content"
curl -sS -o /dev/null -f -H "$AUTH" "$URL/api/v1/files/active/$ACTIVE_SESSION"
[ "$(redis-cli -u "$REDIS" exists "active_file:user$USER_ID:session:$ACTIVE_SESSION")" = 1 ] \
    || { echo "the active file is not in Redis" >&2; exit 1; }

HISTORY_SESSION=$(python3 -c 'import uuid; print(uuid.uuid4())')
curl -sS -o /dev/null -f -H "$AUTH" -H "X-Session-Id: $HISTORY_SESSION" "$URL/api/ingestion/history"
echo "seeding 100,000 processing records ($DB_NAME)…" >&2
SEED_SQL="INSERT INTO processing_records (id, session_id, user_id, filename, file_name, size, content_type, status, started_at, completed_at)
SELECT 'bench-' || n, '$HISTORY_SESSION', $USER_ID, 'file-' || n || '.csv', 'file-' || n || '.csv', n * 100, 'text/csv',
       CASE n % 4 WHEN 0 THEN 'completed' WHEN 1 THEN 'failed' WHEN 2 THEN 'completed' ELSE 'processing' END,
       1767225600000000 + CAST(n AS BIGINT) * 1000000, 1767225600000000 + CAST(n AS BIGINT) * 1000000 + 5000"
# depot keeps per-status counts beside the records; rows seeded by hand need theirs.
COUNT_SQL="INSERT INTO processing_counts (session_id, user_id, status, records)
SELECT session_id, user_id, status, COUNT(*) FROM processing_records WHERE session_id = '$HISTORY_SESSION'
GROUP BY session_id, user_id, status"
if [ -n "$PG_DB" ]; then
    psql "$PG_URL" -qc "$SEED_SQL FROM generate_series(1, 100000) AS n" -c "$COUNT_SQL" >/dev/null
    # What autovacuum would do soon after such a load; index-only counts need it.
    psql "$PG_URL" -qc "VACUUM ANALYZE processing_records" >/dev/null
else
    python3 - "$WORK/data/depot.db" "$SEED_SQL" "$COUNT_SQL" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute(f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000) {sys.argv[2]} FROM s")
db.execute(sys.argv[3])
db.commit()
db.execute("ANALYZE")
PY
fi

run() {
    local name="$1" connections="$2"; shift 2
    local out
    out=$(wrk -t"$(( connections < 2 ? 1 : 2 ))" -c"$connections" -d"$DURATION" --latency "$@")
    echo "$out" | grep -q "Non-2xx" && { echo "$name: non-2xx answers" >&2; echo "$out" >&2; exit 1; }
    local p50 p99 rps
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$connections" "$p50" "$p99" "$rps"
}

printf '\n%s, Redis, wrk -d%s, %s\n\n' "$DB_NAME" "$DURATION" "$(date -u +%Y-%m-%d)"
printf '| request | connections | p50 | p99 | req/s |\n|---|---:|---:|---:|---:|\n'
run "active file (Redis hit)" 32 -H "$AUTH" "$URL/api/v1/files/active/$ACTIVE_SESSION"
HISTORY=(-H "$AUTH" -H "X-Session-Id: $HISTORY_SESSION")
for connections in 1 32; do
    run "history page 1 (50 of 100k)" "$connections" "${HISTORY[@]}" "$URL/api/ingestion/history?page_size=50"
    run "history page 1,000 of 2,000" "$connections" "${HISTORY[@]}" \
        "$URL/api/ingestion/history?page_size=50&page=1000"
    run "history status=failed, page 1" "$connections" "${HISTORY[@]}" \
        "$URL/api/ingestion/history?page_size=50&status=failed"
    run "history filename=file-99, page 1" "$connections" "${HISTORY[@]}" \
        "$URL/api/ingestion/history?page_size=50&filename=file-99"
done
