#!/usr/bin/env bash
# A file read in ranges, as a seeking player or a resuming client reads it.
#
#   bench/range.sh [SIZE_MIB] [RANGE_KIB] [ROUNDS]   (defaults: 1024, 1024, 3)
#   BASELINE=/path/to/depot bench/range.sh           (another build too, e.g. an older commit's)
#
# Builds release, starts depot on a temp data dir, stores one file of random
# bytes, then each round reads all of it as consecutive `Range` requests of
# RANGE_KIB on one kept-alive connection (python3's http.client): once with the
# ranges on 256 KiB chunk boundaries, once shifted by 100,000 bytes so that each
# range starts and ends inside a chunk (the server reads the whole chunks to
# check them). Prints each round's MB/s and the medians. With BASELINE, a
# second server runs that binary, and each round reads from it right after.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
RANGE_KIB="${2:-1024}"
ROUNDS="${3:-3}"
bench_init
random_input "$SIZE_MIB"

start_builds
for build in "${BUILDS[@]}"; do
    URL=${URLS[$build]} AUTH=${AUTHS[$build]} put_file "$WORK/input.bin" ranged.bin
done

# Prints the MB/s of reading the whole file in ranges of $2 bytes from $3 on (then the head).
read_in_ranges() {
    python3 - "$1" "$2" "$3" "$BYTES" "$4" <<'PY'
import http.client, sys, time, urllib.parse
url, step, shift, size, auth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
parsed = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port)
headers = {"Authorization": auth.split(": ", 1)[1]}
starts = list(range(shift, size, step)) + ([0] if shift else [])
started = time.monotonic()
for start in starts:
    end = min(start + step, size if start >= shift else shift) - 1
    conn.request("GET", "/api/v1/files/ranged.bin/content", headers={**headers, "Range": f"bytes={start}-{end}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 206 or len(body) != end - start + 1:
        sys.exit(f"range {start}-{end}: {response.status}, {len(body)} bytes")
print(f"{size / (time.monotonic() - started) / 1e6:.0f}")
PY
}

declare -A ALIGNED SHIFTED
for round in $(seq 1 "$ROUNDS"); do
    for build in "${BUILDS[@]}"; do
        aligned=$(read_in_ranges "${URLS[$build]}" $((RANGE_KIB * 1024)) 0 "${AUTHS[$build]}")
        shifted=$(read_in_ranges "${URLS[$build]}" $((RANGE_KIB * 1024)) 100000 "${AUTHS[$build]}")
        ALIGNED[$build]+="$aligned " SHIFTED[$build]+="$shifted "
        echo "round $round, $build: aligned $aligned MB/s, shifted $shifted MB/s" >&2
    done
done

python3 - "$SIZE_MIB" "$RANGE_KIB" "${ALIGNED[current]}" "${SHIFTED[current]}" \
    "${ALIGNED[baseline]:-}" "${SHIFTED[baseline]:-}" <<'PY'
import datetime, os, statistics, sys
size_mib, range_kib = sys.argv[1], sys.argv[2]
rows = [("current", sys.argv[3], sys.argv[4])]
if sys.argv[5]:
    rows.append((f"baseline ({os.environ.get('BASELINE')})", sys.argv[5], sys.argv[6]))
print(f"\n{size_mib} MiB file in {range_kib} KiB ranges, one connection, {len(sys.argv[3].split())} rounds, {datetime.date.today()}\n")
print("| build | ranges | MB/s each round | median MB/s |\n|---|---|---|---:|")
for name, aligned, shifted in rows:
    for kind, runs in (("on chunk boundaries", aligned), ("shifted 100,000 bytes", shifted)):
        values = [float(x) for x in runs.split()]
        print(f"| {name} | {kind} | {' '.join(f'{x:.0f}' for x in values)} | {statistics.median(values):.0f} |")
PY
