#!/usr/bin/env bash
# Upload/download throughput and server memory of a release build of depot.
#
#   bench/upload.sh [SIZE_MIB]        (default 1024, i.e. a 1 GiB file)
#   PACE=125M bench/upload.sh 256     (the client sends and reads at most 125 MB/s,
#                                      a 1 Gbit/s link, instead of loopback speed)
#
# Builds release, starts depot on a temp data dir, uploads one file with `PUT` and
# with multipart, downloads it, and prints MB/s for each next to
# `dd conv=fdatasync` writing the same bytes to the same disk, plus the server's
# peak RSS. Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
bench_init
random_input "$SIZE_MIB"

mbps() { python3 -c "import sys; print(f'{$BYTES / float(sys.argv[1]) / 1e6:.0f}')" "$1"; }
seconds_of() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -n 1; }

# Baseline: the same bytes written to the same disk, flushed before dd exits.
DD_SECONDS=$(python3 - "$WORK" <<'PY'
import subprocess, sys, time
work = sys.argv[1]
start = time.monotonic()
subprocess.run(["dd", f"if={work}/input.bin", f"of={work}/dd.out", "bs=1M", "conv=fdatasync"],
               check=True, stderr=subprocess.DEVNULL)
print(f"{time.monotonic() - start:.3f}")
PY
)
rm -f "$WORK/dd.out"
sync

start_server "$WORK/data"
register

time_curl() { curl -sS -o /dev/null -w '%{http_code} %{time_total}' ${PACE:+--limit-rate "$PACE"} "$@"; }
check() { [ "${1%% *}" = "$2" ] || { echo "unexpected status: $1 (wanted $2)" >&2; exit 1; }; echo "${1#* }"; }

# Each write starts from the same state: the input in the page cache, nothing else
# written. So the PUT's blob is deleted before the multipart upload.
PUT_SECONDS=$(check "$(time_curl -T "$WORK/input.bin" -H "$AUTH" "$URL/api/v1/files/put.bin/content")" 201)
check "$(time_curl -X DELETE -H "$AUTH" "$URL/api/v1/files/put.bin")" 200 >/dev/null
sync
MULTIPART_SECONDS=$(check "$(time_curl -H "$AUTH" -F file_name=multipart.bin -F "file=@$WORK/input.bin" "$URL/api/v1/files/")" 201)
GET_SECONDS=$(check "$(time_curl -H "$AUTH" "$URL/api/v1/files/multipart.bin/content")" 200)

PEAK_RSS_KIB=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}')

printf '\n%s MiB file, %s\n\n' "$SIZE_MIB" "$(date -u +%Y-%m-%d)"
printf '| operation | seconds | MB/s | vs dd |\n|---|---:|---:|---:|\n'
DD_MBPS=$(mbps "$DD_SECONDS")
for row in "dd conv=fdatasync:$DD_SECONDS" "PUT upload:$PUT_SECONDS" "multipart upload:$MULTIPART_SECONDS" "download:$GET_SECONDS"; do
    name="${row%%:*}"; secs="${row#*:}"; rate=$(mbps "$secs")
    printf '| %s | %s | %s | %s |\n' "$name" "$secs" "$rate" "$(python3 -c "print(f'{$rate / $DD_MBPS:.2f}')")"
done
printf '\nserver peak RSS: %s MiB\n' "$((PEAK_RSS_KIB / 1024))"
