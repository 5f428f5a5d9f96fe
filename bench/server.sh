# Sourced by the bench scripts: a scratch dir, a release depot, signing in,
# and uploads.
#
#   bench_init                             a scratch dir WORK and the release binary BIN
#                                          (built); at exit the servers (SERVER_PID and
#                                          BENCH_PIDS) are stopped, `on_exit` runs if the
#                                          script defines it, and WORK is removed
#   random_input MIB [CHUNK_MIB]           WORK/input.bin of random bytes (and its pieces
#                                          in WORK/chunks, their sizes in PART_SIZES),
#                                          BYTES its size, on disk
#   start_server DATA_DIR [NAME=VALUE…]   sets SERVER_PID and URL; the environment
#                                          pairs are passed to `depot serve`
#   register                               sets TOKEN, USER_ID and AUTH
#   start_builds [NAME=VALUE…]             a server of this build and, with BASELINE set, one of
#                                          that binary, each on a data dir (and, with
#                                          BENCH_DATABASE_URL, a PostgreSQL database) of its own,
#                                          signed in: BUILDS (current, baseline), and by build
#                                          URLS, AUTHS, USER_IDS, PIDS, DB_URLS (empty on SQLite)
#                                          and LOGS; the pairs go to every server
#   bench_database NAME                    a fresh PostgreSQL database NAME on the server of
#                                          BENCH_DATABASE_URL, dropped at exit; sets BENCH_DB_URL
#                                          (call it in the script's own shell, not in $(…))
#   seconds COMMAND…                       runs it, prints how long it took
#   put_file FILE NAME                     a raw PUT of FILE as NAME (201 or exit)
#   tus_file CHUNK_DIR BYTES NAME          the files in CHUNK_DIR, in name order, as one
#                                          tus upload of BYTES: a POST, then a PATCH per
#                                          file on one connection (each 204 or exit)
#   delete_file NAME
# Uploads send no `Expect: 100-continue` (tus clients do not) and honour PACE
# (curl --limit-rate).
#

bench_init() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/depot-target}"
    WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/depot-bench.XXXXXX")"
    SERVER_PID=""
    BENCH_PIDS=()
    BENCH_DATABASES=()
    trap bench_cleanup EXIT
    echo "building release…" >&2
    cargo build --release --quiet
    BIN="$CARGO_TARGET_DIR/release/depot"
}

bench_cleanup() {
    local pid
    # A stopped server's exit status is not a failure of the script.
    for pid in $SERVER_PID "${BENCH_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    if [ "$(type -t on_exit)" = function ]; then on_exit || true; fi
    local db
    for db in "${BENCH_DATABASES[@]}"; do
        psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
    done
    rm -rf "$WORK"
}

bench_database() {
    psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $1" >/dev/null
    BENCH_DATABASES+=("$1")
    BENCH_DB_URL="$(python3 -c "import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path='/' + sys.argv[2]).geturl())" "$BENCH_DATABASE_URL" "$1")"
}

random_input() {
    echo "generating a $1 MiB input…" >&2
    head -c "$(($1 * 1024 * 1024))" /dev/urandom > "$WORK/input.bin"
    BYTES=$(stat -c %s "$WORK/input.bin")
    if [ -n "${2:-}" ]; then
        mkdir "$WORK/chunks"
        split -b "${2}M" -d -a 5 "$WORK/input.bin" "$WORK/chunks/part."
        # Read now, so that timing an upload times no `stat`.
        PART_SIZES=()
        for part in "$WORK/chunks"/*; do PART_SIZES+=("$(stat -c %s "$part")"); done
    fi
    # Flushed now, so its write-back does not slow down whatever is measured next.
    sync
}

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

start_builds() {
    BUILDS=(current)
    [ -n "${BASELINE:-}" ] && BUILDS+=(baseline)
    declare -gA URLS AUTHS USER_IDS PIDS DB_URLS LOGS
    local build bin env_pairs
    for build in "${BUILDS[@]}"; do
        bin="$BIN"
        [ "$build" = baseline ] && bin="$BASELINE"
        env_pairs=("$@")
        DB_URLS[$build]=""
        if [ -n "${BENCH_DATABASE_URL:-}" ]; then
            bench_database "depot_${build}_$$"
            DB_URLS[$build]="$BENCH_DB_URL"
            env_pairs+=(DATABASE_URL="$BENCH_DB_URL" SECRET_KEY="bench-secret-bench-secret-bench-secret")
        fi
        BIN="$bin" start_server "$WORK/data-$build" "${env_pairs[@]}"
        LOGS[$build]="$WORK/server-$build.log"
        mv "$WORK/server.log" "${LOGS[$build]}"
        register
        URLS[$build]=$URL AUTHS[$build]=$AUTH USER_IDS[$build]=$USER_ID PIDS[$build]=$SERVER_PID
        BENCH_PIDS+=("$SERVER_PID")
        SERVER_PID=""
    done
}

seconds() {
    local start
    start=$(date +%s.%N)
    "$@"
    python3 -c "print(f'{$(date +%s.%N) - $start:.3f}')"
}

put_file() {
    local status
    status=$(curl -sS -o /dev/null -w '%{http_code}' ${PACE:+--limit-rate "$PACE"} -H 'Expect:' \
        -T "$1" -H "$AUTH" "$URL/api/v1/files/$2/content")
    [ "$status" = 201 ] || { echo "PUT answered $status" >&2; exit 1; }
}

tus_file() {
    local location args=() offset=0 index=0 part
    location=$(curl -sS -o /dev/null -w '%header{location}' -X POST -H "$AUTH" -H 'Tus-Resumable: 1.0.0' \
        -H "Upload-Length: $2" -H "Upload-Metadata: filename $(printf '%s' "$3" | base64)" \
        "$URL/api/v1/uploads/")
    [ -n "$location" ] || { echo "tus creation failed" >&2; exit 1; }
    for part in "$1"/*; do
        [ ${#args[@]} -gt 0 ] && args+=(--next)
        args+=(-sS -o /dev/null -w '%{http_code}\n' ${PACE:+--limit-rate "$PACE"} -H 'Expect:' -X PATCH
            -T "$part" -H "$AUTH" -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream'
            -H "Upload-Offset: $offset" "$URL$location")
        offset=$((offset + PART_SIZES[index]))
        index=$((index + 1))
    done
    if curl "${args[@]}" | grep -qv '^204$'; then echo "a PATCH failed" >&2; exit 1; fi
}

delete_file() {
    curl -sS -o /dev/null -X DELETE -H "$AUTH" "$URL/api/v1/files/$1"
}
