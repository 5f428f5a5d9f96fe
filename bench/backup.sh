#!/usr/bin/env bash
# Backup and restore of a deployment, timed on a release build.
#
#   bench/backup.sh [FILES] [TOTAL_MIB]      default 10000 files, 5120 MiB in all, SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test bench/backup.sh
#                                            PostgreSQL: fresh databases, dropped after
#
# Seeds FILES distinct files through the API (raw PUTs, 8 at a time), then times:
# the first `depot backup --to` (everything copied), a second one (nothing new to
# copy), `depot backup verify` (every content read back and hashed) and `--quick`,
# and `depot restore` into a fresh data dir (and database). The restored deployment
# is then served, 50 files are downloaded and checked against their SHA-256, and its
# audit chain is verified.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

FILES="${1:-10000}"
TOTAL_MIB="${2:-5120}"
bench_init

deployment_env=()
restored_env=()
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    bench_database "depot_backup_source_$$"
    deployment_env=(DATABASE_URL="$BENCH_DB_URL" SECRET_KEY="bench-secret-bench-secret-bench-secret")
    bench_database "depot_backup_restored_$$"
    restored_env=(DATABASE_URL="$BENCH_DB_URL" SECRET_KEY="bench-secret-bench-secret-bench-secret")
fi
start_server "$WORK/data" "${deployment_env[@]}"
register

echo "seeding $FILES files, $TOTAL_MIB MiB in all…" >&2
seeded=$(seconds python3 - "$URL" "$TOKEN" "$FILES" "$TOTAL_MIB" <<'EOF'
import concurrent.futures, http.client, os, sys, urllib.parse
url, token, files, total_mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
size = total_mib * 1024 * 1024 // files
base = os.urandom(size)
host = urllib.parse.urlparse(url).netloc
def put(indices):
    connection = http.client.HTTPConnection(host)
    for i in indices:
        body = f"{i:012d}".encode() + base[12:]
        connection.request("PUT", f"/api/v1/files/file-{i:06d}.bin/content", body=body,
                           headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        answer.read()
        if answer.status != 201:
            sys.exit(f"file {i}: {answer.status}")
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(put, [range(k, files, 8) for k in range(8)]))
EOF
)
du_source=$(du -sm "$WORK/data" | cut -f1)
echo "seeded in $seeded s; the data dir holds $du_source MiB" >&2
sync

depot() { env "${deployment_env[@]}" "$BIN" "$@"; }
first=$(seconds depot backup --to "$WORK/backup" --data-dir "$WORK/data" | tail -n 1)
second=$(seconds depot backup --to "$WORK/backup" --data-dir "$WORK/data" | tail -n 1)
sync
echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
verify=$(seconds "$BIN" backup verify "$WORK/backup" | tail -n 1)
quick=$(seconds "$BIN" backup verify --quick "$WORK/backup" | tail -n 1)
kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
restore=$(seconds env "${restored_env[@]}" "$BIN" restore --from "$WORK/backup" --data-dir "$WORK/restored" | tail -n 1)

start_server "$WORK/restored" "${restored_env[@]}"
for i in $(seq 0 $((FILES / 50)) $((FILES - 1)) | head -n 50); do
    name=$(printf 'file-%06d.bin' "$i")
    expected=$(curl -sS -H "$AUTH" "$URL/api/v1/files/$name" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"])')
    got=$(curl -sS -H "$AUTH" "$URL/api/v1/files/$name/content" | sha256sum | cut -d' ' -f1)
    [ "$expected" = "$got" ] || { echo "$name came back damaged" >&2; exit 1; }
done
env "${restored_env[@]}" "$BIN" audit verify --data-dir "$WORK/restored" >&2

echo "files: $FILES, data: $du_source MiB"
echo "seed through the API: $seeded s"
echo "first backup (everything copied): $first s"
echo "second backup (nothing new): $second s"
echo "backup verify (every content hashed, cold cache): $verify s"
echo "backup verify --quick: $quick s"
echo "restore into a fresh data dir: $restore s"
echo "50 restored files downloaded whole; the restored audit chain verifies"
