#!/usr/bin/env bash
# Two-tier uploads: a 1 GiB PUT through a gateway to a storage node, next to
# the same PUT to a standalone depot, in alternating rounds on one machine.
#
#   bench/two_tier.sh [SIZE_MIB] [ROUNDS]     (default 1024 MiB, 3 rounds)
#   PACE=125M bench/two_tier.sh 512 3         (the client held to 1 Gbit/s)
#
# Starts three release servers on temp data dirs: a standalone depot, a
# storage node (--role storage) and a gateway over it (--role gateway). Each
# round PUTs the file to the standalone server, then through the gateway;
# each upload is deleted and the disk synced before the next. Prints the
# seconds of each, the ratio of the medians, and the peak RSS of the gateway
# and the node.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/server.sh

SIZE_MIB="${1:-1024}"
ROUNDS="${2:-3}"
KEY="bench-internal-key-bench-internal-key"
bench_init
random_input "$SIZE_MIB"

# launch NAME DATA_DIR [NAME=VALUE…] -- [serve flags…]: sets NAME_PID and NAME_URL.
launch() {
    local name="$1" dir="$2" envs=() pid
    shift 2
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env DEPOT_LOG=warn,depot=info "${envs[@]}" "$BIN" serve --addr 127.0.0.1:0 --data-dir "$dir" "$@" \
        2> "$WORK/$name.log" &
    pid=$!
    BENCH_PIDS+=("$pid")
    for _ in $(seq 1 100); do grep -q "addr=" "$WORK/$name.log" 2>/dev/null && break; sleep 0.1; done
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_URL" 'http://%s' "$(grep -o 'addr=[^ ]*' "$WORK/$name.log" | head -n 1 | cut -d= -f2)"
}

launch STANDALONE "$WORK/standalone" --
launch NODE "$WORK/node" DEPOT_INTERNAL_API_KEY="$KEY" -- --role storage
launch GATEWAY "$WORK/gateway" DEPOT_INTERNAL_API_KEY="$KEY" -- --role gateway --storage-url "$NODE_URL"

URL="$STANDALONE_URL"; register; STANDALONE_AUTH="$AUTH"
URL="$GATEWAY_URL"; register; GATEWAY_AUTH="$AUTH"

one_put() {
    URL="$1"; AUTH="$2"
    seconds put_file "$WORK/input.bin" "round.bin"
    delete_file round.bin
    sync
}

STANDALONE_TIMES=()
GATEWAY_TIMES=()
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round of $ROUNDS…" >&2
    STANDALONE_TIMES+=("$(one_put "$STANDALONE_URL" "$STANDALONE_AUTH")")
    GATEWAY_TIMES+=("$(one_put "$GATEWAY_URL" "$GATEWAY_AUTH")")
done

rss() { echo $(($(grep VmHWM "/proc/$1/status" | awk '{print $2}') / 1024)); }
python3 - "$BYTES" "${STANDALONE_TIMES[*]}" "${GATEWAY_TIMES[*]}" "$(rss "$GATEWAY_PID")" "$(rss "$NODE_PID")" \
    "$(rss "$STANDALONE_PID")" "$SIZE_MIB" "${PACE:-loopback}" <<'PY'
import statistics, sys
size, standalone, gateway = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split()
gateway_rss, node_rss, standalone_rss, mib, pace = sys.argv[4:9]
s, g = statistics.median(map(float, standalone)), statistics.median(map(float, gateway))
print(f"\n{mib} MiB PUT, {len(standalone)} rounds, client at {pace}\n")
print("| upload | seconds (each round) | median MB/s |")
print("|---|---|---:|")
print(f"| standalone | {' '.join(standalone)} | {size / s / 1e6:.0f} |")
print(f"| gateway → storage node | {' '.join(gateway)} | {size / g / 1e6:.0f} |")
print(f"\ngateway / standalone (ratio of medians, MB/s): {s / g:.2f}")
print(f"peak RSS: gateway {gateway_rss} MiB, storage node {node_rss} MiB, standalone {standalone_rss} MiB")
PY
