# Sourced by scripts/test.sh: starts the real components the tests use, each on a free
# loopback port, and stops them when the calling shell exits.
#   redis-server (Debian package redis-server)
#   SecantusDB, a MongoDB-wire-compatible server (PyPI secantusdb), in a venv under target/
#   aiosmtpd (PyPI), a real SMTP server the mail tests start on their own ports
#   kubernetes-validate and check-jsonschema (PyPI) for scripts/validate-deploy.sh
#   openapi-spec-validator (PyPI) for /openapi.json
#   schemathesis (PyPI) for scripts/schemathesis.sh
#   chromium + chromium-driver (Debian packages) for the browser tests
#   haproxy (Debian package) as the load balancer of the drain tests
#   pprof-format (npm), run by node, to decode CPU profiles
# Exports SIGIL_TEST_REDIS_URL, SIGIL_TEST_MONGODB_URI, SIGIL_TEST_SECANTUSD,
# SIGIL_TEST_REDIS_SERVER, SIGIL_TEST_PYTHON (a python with aiosmtpd), SIGIL_TEST_CHROMIUM,
# SIGIL_TEST_CHROMEDRIVER, SIGIL_TEST_HAPROXY, SIGIL_TEST_NODE and SIGIL_TEST_NODE_PATH. Set SIGIL_TEST_REDIS_URL
# and SIGIL_TEST_MONGODB_URI yourself to use your own servers instead (a real mongod 7+ and
# Redis 7+); the fault tests still start their own private instances.

SECANTUS_VERSION=0.7.0b3
AIOSMTPD_VERSION=1.4.6
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
OPENAPI_SPEC_VALIDATOR_VERSION=0.7.1
SCHEMATHESIS_VERSION=4.32.5
PPROF_FORMAT_VERSION=2.3.2
OPENID_CLIENT_VERSION=6.9.1
services_dir=$(mktemp -d "${TMPDIR:-/tmp}/sigil-services.XXXXXX")
service_pids=()

stop_services() {
  for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${service_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$services_dir"
}
trap stop_services EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits (bounded) until something accepts connections on the port.
wait_for_port() {
  local port=$1 name=$2
  python3 - "$port" "$name" <<'PY'
import socket, sys, time
port, name = int(sys.argv[1]), sys.argv[2]
deadline = time.time() + 60
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"{name} did not start listening on port {port} within 60 s")
PY
}

for program in redis-server chromium chromedriver haproxy; do
  if ! command -v "$program" >/dev/null; then
    echo "$program is missing: apt-get install -y redis-server chromium chromium-driver haproxy (.ci/run does this)" >&2
    exit 1
  fi
done
export SIGIL_TEST_CHROMIUM=$(command -v chromium)
export SIGIL_TEST_CHROMEDRIVER=$(command -v chromedriver)
export SIGIL_TEST_REDIS_SERVER=$(command -v redis-server)
export SIGIL_TEST_HAPROXY=$(command -v haproxy)

venv=target/test-venv
if ! "$venv/bin/python" -c 'import aiosmtpd, secantusdb, kubernetes_validate, check_jsonschema, openapi_spec_validator, schemathesis' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "secantusdb==$SECANTUS_VERSION" "aiosmtpd==$AIOSMTPD_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
fi
export SIGIL_TEST_SECANTUSD="$PWD/$venv/bin/secantusd-py"
export SIGIL_TEST_PYTHON="$PWD/$venv/bin/python"

# An independent pprof decoder (npm pprof-format) to read the profiler's output, and an
# independent relying party (npm openid-client, panva's) for the OAuth features it speaks.
for program in node npm; do
  if ! command -v "$program" >/dev/null; then
    echo "$program is missing: apt-get install -y nodejs npm (.ci/run does this)" >&2
    exit 1
  fi
done
node_dir=target/test-node
if ! grep -qs "\"version\": \"$OPENID_CLIENT_VERSION\"" "$node_dir/node_modules/openid-client/package.json" ||
  [ ! -f "$node_dir/node_modules/pprof-format/package.json" ]; then
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" "pprof-format@$PPROF_FORMAT_VERSION" \
    "openid-client@$OPENID_CLIENT_VERSION" >/dev/null
fi
export SIGIL_TEST_NODE=$(command -v node)
export SIGIL_TEST_NODE_PATH="$PWD/$node_dir/node_modules"

if [ -z "${SIGIL_TEST_REDIS_URL:-}" ]; then
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$services_dir" --logfile "$services_dir/redis.log" &
  service_pids+=($!)
  wait_for_port "$port" redis-server
  export SIGIL_TEST_REDIS_URL="redis://127.0.0.1:$port"
fi

if [ -z "${SIGIL_TEST_MONGODB_URI:-}" ]; then
  port=$(free_port)
  "$SIGIL_TEST_SECANTUSD" --host 127.0.0.1 --port "$port" --storage-path :memory: \
    --log-level WARNING >"$services_dir/secantus.log" 2>&1 &
  service_pids+=($!)
  wait_for_port "$port" secantusd
  export SIGIL_TEST_MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
fi
echo "test services: redis $SIGIL_TEST_REDIS_URL, mongodb $SIGIL_TEST_MONGODB_URI"
