#!/usr/bin/env bash
# A three-node Garage cluster on loopback, replication factor 3, for the API
# suite's Garage pass and its node-failure test.
#
#   tests/garage/cluster.sh up DIR      start (or find running) nodes 1-3 under DIR, lay them
#                                       out, make the bucket and the key; prints the suite's
#                                       DEPOT_TEST_GARAGE_* settings as `export` lines
#   tests/garage/cluster.sh down DIR    stop every node
#   tests/garage/cluster.sh kill DIR N  SIGKILL node N (as a crash would)
#   tests/garage/cluster.sh start DIR N start node N again (its data as it was)
#
# Node N serves S3 on 127.0.0.1:39N0, RPC on 39N1 and its admin API on 39N3.
# GARAGE (default: $DEPOT_TOOLS_DIR/bin/garage, /var/tmp/depot-tools) is the binary.
set -euo pipefail

GARAGE="${GARAGE:-${DEPOT_TOOLS_DIR:-/var/tmp/depot-tools}/bin/garage}"
RPC_SECRET=6465706f742d746573742d67617261676500000000000000000000000000aa01
KEY_ID=GK0123456789abcdef01234567
KEY_SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
BUCKET=depot-test

config() { # DIR N
    local dir="$1" n="$2"
    mkdir -p "$dir/node$n/meta" "$dir/node$n/data"
    cat > "$dir/node$n.toml" <<TOML
metadata_dir = "$dir/node$n/meta"
data_dir = "$dir/node$n/data"
db_engine = "sqlite"
replication_factor = 3
rpc_bind_addr = "127.0.0.1:39${n}1"
rpc_public_addr = "127.0.0.1:39${n}1"
rpc_secret = "$RPC_SECRET"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:39${n}0"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:39${n}3"
TOML
}

up_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() { # DIR N
    local dir="$1" n="$2"
    up_port "39${n}0" && return 0
    config "$dir" "$n"
    nohup "$GARAGE" -c "$dir/node$n.toml" server > "$dir/node$n.log" 2>&1 &
    echo $! > "$dir/node$n.pid"
    for _ in $(seq 1 100); do up_port "39${n}0" && up_port "39${n}1" && return 0; sleep 0.1; done
    echo "garage node $n did not start; its log:" >&2
    tail -n 20 "$dir/node$n.log" >&2
    return 1
}

g() { "$GARAGE" -c "$DIR/node1.toml" "$@"; }

case "${1:-}" in
up)
    DIR="$(mkdir -p "$2" && cd "$2" && pwd)"
    [ -x "$GARAGE" ] || { echo "no garage at $GARAGE (cargo install garage@2.5.0 --locked --root …)" >&2; exit 1; }
    for n in 1 2 3; do start_node "$DIR" "$n"; done
    if ! g layout show 2>/dev/null | grep -q "Current cluster layout version: [1-9]"; then
        for n in 2 3; do g node connect "$("$GARAGE" -c "$DIR/node$n.toml" node id -q)" >/dev/null; done
        for n in 1 2 3; do
            id="$("$GARAGE" -c "$DIR/node$n.toml" node id -q | cut -d@ -f1)"
            g layout assign -z "dc$n" -c 1G "${id:0:16}" >/dev/null
        done
        g layout apply --version 1 >/dev/null
    fi
    for _ in $(seq 1 100); do g bucket info "$BUCKET" >/dev/null 2>&1 && break; g bucket create "$BUCKET" >/dev/null 2>&1 || sleep 0.2; done
    g key info "$KEY_ID" >/dev/null 2>&1 || g key import --yes -n depot-test "$KEY_ID" "$KEY_SECRET" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key "$KEY_ID" >/dev/null
    cat <<ENV
export DEPOT_TEST_GARAGE_DIR=$DIR
export DEPOT_TEST_GARAGE_ENDPOINT=http://127.0.0.1:3910
export DEPOT_TEST_GARAGE_BUCKET=$BUCKET
export DEPOT_TEST_GARAGE_ACCESS_KEY=$KEY_ID
export DEPOT_TEST_GARAGE_SECRET_KEY=$KEY_SECRET
ENV
    ;;
down)
    for n in 1 2 3; do [ -f "$2/node$n.pid" ] && kill "$(cat "$2/node$n.pid")" 2>/dev/null || true; done
    ;;
kill)
    kill -KILL "$(cat "$2/node$3.pid")"
    for _ in $(seq 1 50); do up_port "39${3}0" || exit 0; sleep 0.1; done
    ;;
start)
    DIR="$(cd "$2" && pwd)"
    start_node "$DIR" "$3"
    ;;
*)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
