#!/usr/bin/env bash
# Upload/download throughput and server memory of a release build of depot.
#
#   bench/upload.sh [SIZE_MIB] [ROUNDS]  (defaults: 1024, i.e. a 1 GiB file, and 1 round)
#   PACE=125M bench/upload.sh 256        (the client sends and reads at most 125 MB/s,
#                                         a 1 Gbit/s link, instead of loopback speed)
#   BASELINE=/path/to/depot bench/upload.sh 1024 5
#                                        (another build too, e.g. an older commit's)
#
# Builds release, starts depot on a temp data dir, and each round uploads one file
# with `PUT` and with multipart and downloads it, and prints MB/s for each (the
# median over the rounds) next to `dd conv=fdatasync` writing the same bytes to the
# same disk, plus the server's peak RSS. With BASELINE, a second server runs that
# binary on its own data dir, and each round does the same against it right after,
# so both builds see the same noise; the last column is then current / baseline.
# Set BENCH_DIR to choose the disk (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
ROUNDS="${2:-1}"
bench_init
random_input "$SIZE_MIB"

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

start_builds

time_curl() { curl -sS -o /dev/null -w '%{http_code} %{time_total}' ${PACE:+--limit-rate "$PACE"} "$@"; }
check() { [ "${1%% *}" = "$2" ] || { echo "unexpected status: $1 (wanted $2)" >&2; exit 1; }; echo "${1#* }"; }

# Each write starts from the same state: the input in the page cache, nothing else
# written. So the PUT's blob is deleted before the multipart upload, and the
# multipart one after the download.
declare -A PUTS MULTIPARTS GETS
for round in $(seq 1 "$ROUNDS"); do
    for build in "${BUILDS[@]}"; do
        URL=${URLS[$build]} AUTH=${AUTHS[$build]}
        sync
        put=$(check "$(time_curl -T "$WORK/input.bin" -H "$AUTH" "$URL/api/v1/files/put.bin/content")" 201)
        check "$(time_curl -X DELETE -H "$AUTH" "$URL/api/v1/files/put.bin")" 200 >/dev/null
        sync
        multipart=$(check "$(time_curl -H "$AUTH" -F file_name=multipart.bin -F "file=@$WORK/input.bin" "$URL/api/v1/files/")" 201)
        get=$(check "$(time_curl -H "$AUTH" "$URL/api/v1/files/multipart.bin/content")" 200)
        check "$(time_curl -X DELETE -H "$AUTH" "$URL/api/v1/files/multipart.bin")" 200 >/dev/null
        PUTS[$build]+="$put " MULTIPARTS[$build]+="$multipart " GETS[$build]+="$get "
        echo "round $round, $build: PUT $put s, multipart $multipart s, download $get s" >&2
    done
done
PEAK_RSS_KIB=$(grep VmHWM "/proc/${PIDS[current]}/status" | awk '{print $2}')

python3 - "$BYTES" "$SIZE_MIB" "$DD_SECONDS" "$PEAK_RSS_KIB" \
    "${PUTS[current]}" "${MULTIPARTS[current]}" "${GETS[current]}" \
    "${PUTS[baseline]:-}" "${MULTIPARTS[baseline]:-}" "${GETS[baseline]:-}" <<'PY'
import datetime, os, statistics, sys
size, size_mib, dd, rss_kib = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
current, baseline = sys.argv[5:8], sys.argv[8:11]
mbps = lambda seconds: size / seconds / 1e6
pace = os.environ.get("PACE")
link = f"client held to {pace}B/s" if pace else "loopback"
rounds = len(current[0].split())
print(f"\n{size_mib} MiB file, {link}, {rounds} round(s), {datetime.date.today()}\n")
if baseline[0]:
    print(f"baseline: {os.environ.get('BASELINE')}\n")
    print("| operation | MB/s each round (current) | MB/s each round (baseline) | median current / baseline |")
    print("|---|---|---|---:|")
else:
    print("| operation | MB/s each round | median MB/s | vs dd |\n|---|---|---:|---:|")
    print(f"| dd conv=fdatasync | {mbps(dd):.0f} | {mbps(dd):.0f} | 1.00 |")
for index, name in enumerate(["PUT upload", "multipart upload", "download"]):
    ours = [mbps(float(x)) for x in current[index].split()]
    each = " ".join(f"{x:.0f}" for x in ours)
    if baseline[0]:
        theirs = [mbps(float(x)) for x in baseline[index].split()]
        ratio = statistics.median(ours) / statistics.median(theirs)
        print(f"| {name} | {each} | {' '.join(f'{x:.0f}' for x in theirs)} | {ratio:.3f} |")
    else:
        print(f"| {name} | {each} | {statistics.median(ours):.0f} | {statistics.median(ours) / mbps(dd):.2f} |")
print(f"\nserver peak RSS: {rss_kib // 1024} MiB")
PY
