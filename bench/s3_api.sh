#!/usr/bin/env bash
# The S3 API against the REST API: one file uploaded with the aws CLI (a
# multipart upload, the CLI's defaults: 8 MiB parts, 10 at once) and with a
# raw `PUT /api/v1/files/…/content` (curl), to the same release server, in
# turn, timed pair by pair by farm-bench.
#
#   bench/s3_api.sh [SIZE_MIB] [RUNS]   (defaults: 1024, i.e. 1 GiB, and 5 runs)
#
# Needs the aws CLI (pip install awscli) and farm-bench. Both uploads store
# the same bytes under their own name with `replace`, so each run does the
# same work: the file is stored again (deduplicated against the previous
# run's, as the other's is), and the S3 upload's parts are stored and
# released. Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
RUNS="${2:-5}"
bench_init
random_input "$SIZE_MIB"
start_server "$WORK/data" DEPOT_S3_API_ADDR=127.0.0.1:0
S3_URL="http://$(grep -o 's3_addr=[^ ]*' "$WORK/server.log" | head -n 1 | cut -d= -f2)"
register
KEY=$(curl -sS -X POST "$URL/api/v1/keys" -H "$AUTH" -H 'content-type: application/json' \
    -d '{"name":"bench","scope":"read-write"}')
KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key_id"])' "$KEY")
SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_access_key"])' "$KEY")

# What each run does, as a program farm-bench can start.
cat > "$WORK/aws.sh" <<SH
#!/bin/sh
exec env -u AWS_CA_BUNDLE AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1 \
    aws --endpoint-url $S3_URL s3 cp --only-show-errors "$WORK/input.bin" s3://bench/s3.bin
SH
cat > "$WORK/put.sh" <<SH
#!/bin/sh
status=\$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' -T "$WORK/input.bin" \
    -H "$AUTH" "$URL/api/v1/files/put.bin/content?replace=true")
[ "\$status" = 201 ]
SH
chmod +x "$WORK/aws.sh" "$WORK/put.sh"

echo "aws s3 cp (multipart) vs PUT, $SIZE_MIB MiB, $RUNS runs each:" >&2
farm-bench -n "$RUNS" --timeout 3000 --vs "$WORK/put.sh" -- "$WORK/aws.sh"
curl -sS -H "$AUTH" "$URL/api/v1/files/s3.bin" | python3 -c \
    'import json,sys; f = json.load(sys.stdin); print("stored:", f["file_name"], f["size"], "bytes, sha256", f["sha256"][:16] + "…")'
