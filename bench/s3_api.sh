#!/usr/bin/env bash
# The S3 API against the REST API: one file uploaded with the aws CLI (a
# multipart upload, the CLI's defaults: 8 MiB parts, 10 at once) and with a
# raw `PUT /api/v1/files/…/content` (curl), to the same release server, in
# turn, timed pair by pair by farm-bench. With BASELINE set to another depot
# binary, the aws CLI's upload to this build is then timed against the same
# upload to that one, each server on a data dir of its own.
#
#   [BASELINE=/path/to/old/depot] [PACE=150M] bench/s3_api.sh [SIZE_MIB] [RUNS]
#                                  (defaults: 1024, i.e. 1 GiB, and 5 runs)
#
# PACE holds both clients to a network's speed, in bytes per second (curl's
# --limit-rate, the aws CLI's s3.max_bandwidth; M is MiB): without it both
# send as fast as loopback and this machine's two cores allow.
#
# Needs the aws CLI (pip install awscli) and farm-bench. Every upload stores
# the same bytes under its own name with `replace`, so each run does the
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
start_builds DEPOT_S3_API_ADDR=127.0.0.1:0

echo '[default]' > "$WORK/aws-config"
[ -n "${PACE:-}" ] && printf 's3 =\n    max_bandwidth = %sB/s\n' "$PACE" >> "$WORK/aws-config"

# The programs farm-bench starts for a build: aws-BUILD.sh and put-BUILD.sh.
for build in "${BUILDS[@]}"; do
    s3_url="http://$(grep -o 's3_addr=[^ ]*' "${LOGS[$build]}" | head -n 1 | cut -d= -f2)"
    key=$(curl -sS -X POST "${URLS[$build]}/api/v1/keys" -H "${AUTHS[$build]}" \
        -H 'content-type: application/json' -d '{"name":"bench","scope":"read-write"}')
    key_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key_id"])' "$key")
    secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_access_key"])' "$key")
    cat > "$WORK/aws-$build.sh" <<SH
#!/bin/sh
exec env -u AWS_CA_BUNDLE AWS_CONFIG_FILE="$WORK/aws-config" AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1 \
    aws --endpoint-url $s3_url s3 cp --only-show-errors "$WORK/input.bin" s3://bench/s3.bin
SH
    cat > "$WORK/put-$build.sh" <<SH
#!/bin/sh
status=\$(curl -sS -o /dev/null -w '%{http_code}' ${PACE:+--limit-rate "$PACE"} -H 'Expect:' -T "$WORK/input.bin" \
    -H "${AUTHS[$build]}" "${URLS[$build]}/api/v1/files/put.bin/content?replace=true")
[ "\$status" = 201 ]
SH
    chmod +x "$WORK/aws-$build.sh" "$WORK/put-$build.sh"
done

echo "aws s3 cp (multipart) vs PUT, $SIZE_MIB MiB${PACE:+ at $PACE/s}, $RUNS runs each:" >&2
farm-bench -n "$RUNS" --timeout 3000 --vs "$WORK/put-current.sh" -- "$WORK/aws-current.sh"
if [ -n "${BASELINE:-}" ]; then
    echo "aws s3 cp (multipart), this build vs $BASELINE, $SIZE_MIB MiB${PACE:+ at $PACE/s}, $RUNS runs each:" >&2
    farm-bench -n "$RUNS" --timeout 3000 --vs "$WORK/aws-baseline.sh" -- "$WORK/aws-current.sh"
fi
curl -sS -H "${AUTHS[current]}" "${URLS[current]}/api/v1/files/s3.bin" | python3 -c \
    'import json,sys; f = json.load(sys.stdin); print("stored:", f["file_name"], f["size"], "bytes, sha256", f["sha256"][:16] + "…")'
