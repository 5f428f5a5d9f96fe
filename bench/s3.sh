#!/usr/bin/env bash
# Uploads to depot with its blobs in S3, next to the same S3 server taking the
# same file from a standard client (`aws s3 cp`), in the same run.
#
#   bench/s3.sh [SIZE_MIB] [ROUNDS]     (defaults: 1024, 3)
#
# Starts s3s-fs (S3S_FS, default /var/tmp/depot-tools/bin/s3s-fs; see
# docs/storage.md) on a temp dir and port 8015, and depot (release) with
# DEPOT_STORAGE pointing at it. Alternates, ROUNDS times: `aws s3 cp` of the
# file straight to the server (awscli from PyPI, installed if missing), a raw
# PUT through depot, and a tus upload in 8 MiB PATCHes through depot. Prints
# each round's seconds, median MB/s, and depot's peak RSS.
# Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
ROUNDS="${2:-3}"
S3_FS="${S3_FS:-/var/tmp/depot-tools/bin/s3s-fs}"
PORT=8015
[ -x "$S3_FS" ] || { echo "no s3s-fs at $S3_FS (see docs/storage.md)" >&2; exit 1; }
command -v aws >/dev/null || python3 -m pip install -q awscli

bench_init
random_input "$SIZE_MIB" 8
mkdir -p "$WORK/s3/bench"
# Started from its data dir: it resolves paths against its working directory.
(cd "$WORK/s3" && exec "$S3_FS" --host 127.0.0.1 --port "$PORT" --access-key bench \
    --secret-key bench-secret-key "$WORK/s3" 2> "$WORK/s3.log") &
BENCH_PIDS+=($!)
sleep 1
sync

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1
start_server "$WORK/data" DEPOT_STORAGE=s3://bench/depot DEPOT_S3_ENDPOINT="http://127.0.0.1:$PORT" \
    DEPOT_S3_PATH_STYLE=true
register

aws_once() {
    aws --endpoint-url "http://127.0.0.1:$PORT" s3 cp --quiet "$WORK/input.bin" s3://bench/direct.bin
}

AWS=(); PUTS=(); TUSES=()
for round in $(seq 1 "$ROUNDS"); do
    sync; AWS+=("$(seconds aws_once)")
    aws --endpoint-url "http://127.0.0.1:$PORT" s3 rm --quiet s3://bench/direct.bin
    sync; PUTS+=("$(seconds put_file "$WORK/input.bin" put.bin)")
    delete_file put.bin
    sync; TUSES+=("$(seconds tus_file "$WORK/chunks" "$BYTES" tus.bin)")
    delete_file tus.bin
    echo "round $round: aws s3 cp ${AWS[-1]} s, depot PUT ${PUTS[-1]} s, depot tus ${TUSES[-1]} s" >&2
done
PEAK_RSS_KIB=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}')

python3 - "$BYTES" "$SIZE_MIB" "$PEAK_RSS_KIB" "${AWS[*]}" "${PUTS[*]}" "${TUSES[*]}" <<'PY'
import datetime, statistics, sys
size, size_mib, rss_kib = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rows = [("aws s3 cp, straight to the server", sys.argv[4]), ("depot: one raw PUT", sys.argv[5]),
        ("depot: tus, 8 MiB PATCHes", sys.argv[6])]
base = statistics.median(float(x) for x in sys.argv[4].split())
print(f"\n{size_mib} MiB file into s3s-fs on loopback, {datetime.date.today()}\n")
print("| upload | seconds (each round) | median MB/s | vs aws s3 cp |\n|---|---|---:|---:|")
for name, runs in rows:
    times = [float(x) for x in runs.split()]
    median = statistics.median(times)
    print(f"| {name} | {' '.join(f'{x:.2f}' for x in times)} | {size / median / 1e6:.0f} | {base / median:.2f} |")
print(f"\ndepot peak RSS: {rss_kib // 1024} MiB")
PY
