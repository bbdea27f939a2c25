#!/usr/bin/env bash
# Property-based API testing with schemathesis against the live /openapi.json: every phase
# (examples, coverage, fuzzing, stateful), checked for server errors and for responses that
# break the document (status codes, content types, headers, bodies). Runs the debug `sigil`
# that scripts/test.sh built, on the embedded store in a scratch directory.
#
# The run is authenticated as the bootstrap admin, and that token must survive it: the
# operations whose purpose is to end the caller's own access are left out, because the
# stateful phase learns the admin's own ids and would use them (signing out, revoking its own
# sessions, an emergency key rotation that revokes the key that signed the token), and the
# lockout threshold is out of reach, since the run sends the admin's id with made-up passwords
# (change-password, account deletion, MFA disable) and five of them would lock it. Rate limits
# and lockout have tests of their own. The token is checked after the run.
# Usage: scripts/schemathesis.sh [examples per operation, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."

examples=${1:-50}
python=${SIGIL_TEST_PYTHON:-target/test-venv/bin/python}
schemathesis="$(dirname "$python")/schemathesis"
[ -x "$schemathesis" ] || { echo "schemathesis is missing: source scripts/services.sh" >&2; exit 1; }
binary=target/debug/sigil
[ -x "$binary" ] || { echo "$binary is missing: cargo build --bin sigil" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"
password='Quartz-Lantern-Fuzz-58!'
env -i PATH="$PATH" SIGIL_DATA_DIR="$work/data" SIGIL_LISTEN="127.0.0.1:$port" \
  SIGIL_LOG_FORMAT=json SIGIL_SHUTDOWN_DELAY=0 SIGIL_BOOTSTRAP_ADMIN_PASSWORD="$password" \
  SIGIL_REQUIRE_EMAIL_VERIFICATION=false SIGIL_ARGON2_MEMORY_KIB=1024 SIGIL_ARGON2_ITERATIONS=1 \
  SIGIL_RATE_LIMIT_GENERAL=off SIGIL_RATE_LIMIT_LOGIN=off SIGIL_RATE_LIMIT_REGISTER=off \
  SIGIL_RATE_LIMIT_PASSWORD_RESET=off SIGIL_RATE_LIMIT_BROWSER=off SIGIL_RATE_LIMIT_CLIENT=off \
  SIGIL_RATE_LIMIT_CLIENT_AUTH=off SIGIL_RATE_LIMIT_MFA=off SIGIL_LOCKOUT_THRESHOLD=1000000 \
  "$binary" >"$work/sigil.log" 2>&1 &
sigil=$!
trap 'kill $sigil 2>/dev/null || true; wait $sigil 2>/dev/null || true; rm -rf "$work"' EXIT

if ! "$python" - "$base" "$sigil" <<'PY'
import os, sys, time, urllib.request
deadline = time.time() + 60
while time.time() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1] + "/health/ready", timeout=1)
        sys.exit(0)
    except OSError:
        try:
            os.kill(int(sys.argv[2]), 0)
        except OSError:
            sys.exit("sigil exited")
        time.sleep(0.1)
sys.exit("sigil did not become ready within 60 s")
PY
then
  tail -n 20 "$work/sigil.log" >&2
  exit 1
fi
token=$("$python" - "$base" "$password" <<'PY'
import json, sys, urllib.request
body = json.dumps({"email": "admin@sigil.local", "password": sys.argv[2]}).encode()
req = urllib.request.Request(sys.argv[1] + "/v1/auth/login", body, {"content-type": "application/json"})
print(json.load(urllib.request.urlopen(req))["data"]["accessToken"])
PY
)

"$schemathesis" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$examples" --seed 20261204 --no-color \
  --exclude-path-regex '^/v1/(auth/logout|users/me/sessions|admin/users/\{id\}/sessions|admin/keys/rotate)'

if ! "$python" - "$base" "$token" <<'PY'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/users/me", headers={"authorization": "Bearer " + sys.argv[2]})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    sys.exit(f"the admin token did not survive the run: /v1/users/me answered {e.code}")
PY
then
  echo "audit events of the run, to find the operation that ended it:" >&2
  grep -o '"action":"[a-z._]*"' "$work/sigil.log" | sort | uniq -c >&2
  exit 1
fi
if grep -q '"level":"ERROR"\|panicked' "$work/sigil.log"; then
  grep '"level":"ERROR"\|panicked' "$work/sigil.log" | head -20 >&2
  echo "sigil logged errors during the run" >&2
  exit 1
fi
echo "schemathesis: no server error, no response outside the document; the admin token survived"
