# Sourced by the bench scripts: start a release depot and sign in to it.
#
#   start_server DATA_DIR [NAME=VALUE…]   sets SERVER_PID and URL; the environment
#                                          pairs are passed to `depot serve`
#   register                               sets TOKEN, USER_ID and AUTH
#
# Expects BIN (the depot binary) and WORK (a scratch dir); the caller's EXIT trap
# stops SERVER_PID.

start_server() {
    local data_dir="$1"; shift
    # Warnings only, but the "depot is serving addr=…" line is how we find the port.
    env DEPOT_LOG=warn,depot=info "$@" "$BIN" serve --addr 127.0.0.1:0 --data-dir "$data_dir" \
        2> "$WORK/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do grep -q "addr=" "$WORK/server.log" 2>/dev/null && break; sleep 0.1; done
    URL="http://$(grep -o 'addr=[^ ]*' "$WORK/server.log" | head -n 1 | cut -d= -f2)"
}

register() {
    local registered
    registered=$(curl -sS -X POST "$URL/api/v1/auth/register" -H 'content-type: application/json' \
        -d '{"username":"bench","password":"bench-password"}')
    TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$registered")
    USER_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user_id"])' "$registered")
    AUTH="Authorization: Bearer $TOKEN"
}
