#!/usr/bin/env bash
# schemathesis against depot's own OpenAPI description: a depot on a fresh data
# dir, an account with a file in it, then generated requests to every operation
# (coverage and fuzzing phases, a bounded number of examples each). Fails on any
# 5xx and on any response that does not match the schema it documents.
#
# usage: tests/schemathesis/run.sh PATH/TO/depot [MAX_EXAMPLES]
set -euo pipefail
depot="$1"
examples="${2:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
data="$(mktemp -d)"
log="$data/server.log"
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

# Sign-in limits off: on, most generated sign-ins and sign-ups would be 429s
# and fuzz nothing else (the API suite tests the limits, tests/api/limits.rs).
env -u DATABASE_URL -u REDIS_URL -u SECRET_KEY -u DEPOT_STORAGE \
    DEPOT_RATE_LOGIN=0 DEPOT_RATE_LOGIN_FAILURES=0 \
    "$depot" serve --addr 127.0.0.1:0 --data-dir "$data" >"$log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    addr=$(grep -o 'addr=[0-9.:]*' "$log" | head -n 1 | cut -d= -f2 || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "depot did not start" >&2; exit 1; }
base="http://$addr"

token=$(curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"schemathesis","password":"correct horse battery"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
printf 'date,sales\n2024-01-01,3.5\n' |
    curl -sf -H "Authorization: Bearer $token" -T - "$base/api/v1/files/sales.csv/content" >/dev/null

# The `st` command, through the interpreter that has it installed (a fresh
# pyenv has no shim for it until a rehash). Operations that can end the run's
# own sign-in (signing out, a password change, disabling or deleting its
# account) are left out: after them every request would be a 401 and test
# nothing. The API suite covers them (tests/api/accounts.rs).
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" python3 -c \
    'import sys; from schemathesis.cli import schemathesis; sys.argv[0] = "st"; sys.exit(schemathesis())' \
    run "$base/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --generation-deterministic \
    --exclude-path /api/v1/auth/logout \
    --exclude-path /api/v1/auth/password \
    --exclude-path /api/v1/admin/users/{id}
