#!/usr/bin/env bash
# Dataset profiling: depot against pandas on the same file, and what profiling
# costs an upload.
#
#   bench/profile.sh            (needs python3 with pandas: pip install pandas)
#   ROWS=16000000 bench/profile.sh   (about 1.1 GB: memory stays flat)
#
# Generates the 1M-row × 8-column CSV of `cargo bench --bench profile` (about
# 67 MB; ROWS changes the row count), then in one run:
#   1. `depot profile FILE` (single-threaded, the upload's profiler) and
#      `pandas.read_csv` + dtypes on the same file: seconds, MB/s, peak RSS;
#   2. the same bytes uploaded with `PUT` as `data.csv` (profiled) and as
#      `data.bin` (not profiled) to a release server: seconds and the ratio;
#   3. the same two uploads paced at 1 Gbit/s (curl --limit-rate 125M), the
#      rate of a fast network link rather than of the loopback;
#   4. the server's peak RSS after all uploads.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

python3 -c 'import pandas' 2>/dev/null || { echo "pandas is needed: pip install pandas" >&2; exit 1; }
bench_init

echo "generating the CSV…" >&2
python3 - "$WORK/data.csv" "${ROWS:-1000000}" <<'PY'
import sys
products = ["widget", "gadget", "gizmo", "doohickey", "sprocket"]
regions = ["north", "south", "east", "west"]
state = 0x2545F4914F6CDD1D
def rand():
    global state
    state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
    state ^= state >> 7
    state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
    return state
with open(sys.argv[1], "w") as f:
    f.write("date,product,sales,region,quantity,customer_id,returned,comment\n")
    for row in range(int(sys.argv[2])):
        day = row % 1461
        year, doy = 2020 + day // 365, day % 365
        month, dom = 1 + doy // 31 % 12, 1 + doy % 28
        sales = "" if row % 97 == 0 else f"{rand() % 10000}.{rand() % 100:02}"
        f.write(f'{year}-{month:02}-{dom:02},{products[rand() % 5]},{sales},{regions[rand() % 4]},'
                f'{1 + rand() % 50},{100000 + row},{"True" if rand() % 2 == 0 else "False"},'
                f'"note, number {rand() % 5000}"\n')
PY
BYTES=$(stat -c %s "$WORK/data.csv")
MB=$(python3 -c "print(f'{$BYTES / 1e6:.1f}')")
cat "$WORK/data.csv" > /dev/null   # into the page cache for both readers

timed() { /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -n 1; }
rate() { python3 -c "print(f'{$BYTES / 1e6 / float(\"$1\"):.0f}')"; }

read -r DEPOT_S DEPOT_KB <<<"$(timed "$BIN" profile "$WORK/data.csv")"
read -r PANDAS_S PANDAS_KB <<<"$(timed python3 -c "
import sys, time, pandas as pd
frame = pd.read_csv(sys.argv[1]); dict(frame.dtypes); len(frame)" "$WORK/data.csv")"
PANDAS_IMPORT_S=$(timed python3 -c "import pandas" | cut -d' ' -f1)
PANDAS_READ_S=$(python3 -c "print(f'{float(\"$PANDAS_S\") - float(\"$PANDAS_IMPORT_S\"):.2f}')")

start_server "$WORK/server"
register
put_seconds() {
    curl -sS -o "$WORK/response.json" -w '%{http_code} %{time_total}' ${PACE:+--limit-rate "$PACE"} \
        -T "$WORK/data.csv" -H "$AUTH" "$URL/api/v1/files/$1/content"
}
best_of_three() {
    local name="$1" best=""
    for i in 1 2 3; do
        local out; out=$(put_seconds "$name-$i.$2")
        [ "${out%% *}" = 201 ] || { echo "upload failed: $out" >&2; cat "$WORK/response.json" >&2; exit 1; }
        curl -sS -o /dev/null -X DELETE -H "$AUTH" "$URL/api/v1/files/$name-$i.$2"
        best=$(python3 -c "print(min(float('${out#* }'), float('${best:-1e9}')))")
    done
    echo "$best"
}
PLAIN_S=$(best_of_three plain bin)
PROFILED_S=$(best_of_three profiled csv)
PACED_PLAIN_S=$(PACE=125M best_of_three paced-plain bin)
PACED_PROFILED_S=$(PACE=125M best_of_three paced-profiled csv)
PEAK_KB=$(grep VmHWM "/proc/$SERVER_PID/status" | awk '{print $2}')

printf '\n%s MB CSV (%s rows × 8 columns), %s\n\n' "$MB" "${ROWS:-1000000}" "$(date -u +%Y-%m-%d)"
printf '| reader | seconds | MB/s | peak RSS |\n|---|---:|---:|---:|\n'
printf '| depot profile (1 thread) | %s | %s | %s MiB |\n' "$DEPOT_S" "$(rate "$DEPOT_S")" "$((DEPOT_KB / 1024))"
printf '| pandas.read_csv (import excluded) | %s | %s | %s MiB |\n' "$PANDAS_READ_S" "$(rate "$PANDAS_READ_S")" "$((PANDAS_KB / 1024))"
printf '\ndepot is %s× faster than pandas.read_csv\n' "$(python3 -c "print(f'{float(\"$PANDAS_READ_S\") / float(\"$DEPOT_S\"):.1f}')")"
printf '\n| upload (PUT, best of 3) | seconds | MB/s |\n|---|---:|---:|\n'
printf '| data.bin (not profiled) | %s | %s |\n' "$PLAIN_S" "$(rate "$PLAIN_S")"
printf '| data.csv (profiled) | %s | %s |\n' "$PROFILED_S" "$(rate "$PROFILED_S")"
printf '| data.bin at 1 Gbit/s (not profiled) | %s | %s |\n' "$PACED_PLAIN_S" "$(rate "$PACED_PLAIN_S")"
printf '| data.csv at 1 Gbit/s (profiled) | %s | %s |\n' "$PACED_PROFILED_S" "$(rate "$PACED_PROFILED_S")"
ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.2f}')"; }
printf '\nprofiled / plain: %s on the loopback, %s at 1 Gbit/s; server peak RSS: %s MiB\n' \
    "$(ratio "$PROFILED_S" "$PLAIN_S")" "$(ratio "$PACED_PROFILED_S" "$PACED_PLAIN_S")" "$((PEAK_KB / 1024))"
