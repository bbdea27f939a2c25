#!/usr/bin/env bash
# Load benchmark over real HTTP: builds the release binary, starts Sigil (and, for
# mongo-redis, Redis and the MongoDB-wire server), runs wrk (Debian's package) with the Lua
# scripts in scripts/bench/, records `openssl speed` for RSA-2048 in the same run, and prints
# one Markdown table. Numbers are for comparing ratios measured in one run, on one machine.
# Usage: scripts/bench.sh [embedded|mongo-redis|both]; `both` runs the two one after the
# other and adds the mongo-redis / embedded ratios.
# Environment: BENCH_DURATION (seconds per scenario, default 10), BENCH_CONNECTIONS
# (default 32), BENCH_THREADS (wrk threads, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-embedded}
case "$backend" in
  embedded | mongo-redis) ;;
  both)
    rates=$(mktemp -d "${TMPDIR:-/tmp}/sigil-bench-rates.XXXXXX")
    BENCH_RATES_FILE=$rates/embedded "$0" embedded
    BENCH_RATES_FILE=$rates/mongo-redis "$0" mongo-redis
    python3 - "$rates" <<'PY'
import sys
def load(name):
    return dict(line.split() for line in open(f"{sys.argv[1]}/{name}"))
e, m = load("embedded"), load("mongo-redis")
print("\n| mongo-redis / embedded (same run) | value | target |\n|---|---:|---:|")
for name, target in [("client_credentials", ">= 0.80x"), ("bearer", ">= 0.80x"),
                     ("introspection", ""), ("refresh", "")]:
    ratio = float(m[name]) / float(e[name]) if float(e[name]) else 0
    print(f"| {name} | {ratio:.2f}x | {target} |")
PY
    rm -rf "$rates"
    exit 0
    ;;
  *) echo "usage: scripts/bench.sh [embedded|mongo-redis|both]" >&2; exit 2 ;;
esac
duration=${BENCH_DURATION:-10}
connections=${BENCH_CONNECTIONS:-32}
export BENCH_THREADS=${BENCH_THREADS:-2}

for program in wrk openssl python3 curl; do
  command -v "$program" >/dev/null || { echo "$program is missing: apt-get install -y wrk openssl python3 curl" >&2; exit 1; }
done

cargo build --release --bin sigil
sigil=$PWD/target/release/sigil
work=$(mktemp -d "${TMPDIR:-/tmp}/sigil-bench.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$backend" = mongo-redis ]; then
  # services.sh stops what it starts when this shell exits (its own EXIT trap), so chain ours.
  source scripts/services.sh >/dev/null
  trap 'cleanup; stop_services' EXIT
  export SIGIL_MONGODB_URI=$SIGIL_TEST_MONGODB_URI SIGIL_REDIS_URL=$SIGIL_TEST_REDIS_URL
  export SIGIL_MONGODB_DB="bench_$$"
  SIGIL_ENCRYPTION_KEY=$(openssl rand -base64 32)
  export SIGIL_ENCRYPTION_KEY
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
base=http://127.0.0.1:$port
export SIGIL_LISTEN=127.0.0.1:$port SIGIL_ISSUER=$base SIGIL_DATA_DIR=$work/data
export SIGIL_LOG_FORMAT=json RUST_LOG=warn
export BENCH_USERNAME=admin BENCH_PASSWORD='Bench-Password-2026!'
export SIGIL_BOOTSTRAP_ADMIN_PASSWORD=$BENCH_PASSWORD SIGIL_REQUIRE_EMAIL_VERIFICATION=false
# Every limit stays on (each request is counted), with budgets above what the load reaches.
for limit in GENERAL LOGIN REGISTER PASSWORD_RESET MFA CLIENT; do
  export "SIGIL_RATE_LIMIT_$limit=100000000/1m"
done
# Room for the refresh scenario's sessions of the one benchmark user.
export SIGIL_MAX_SESSIONS_PER_USER=$((connections * 2))

client_json=$("$sigil" clients create --name bench --grant-type client_credentials --scope openid)
client_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])' <<<"$client_json")
client_secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["clientSecret"])' <<<"$client_json")
export BENCH_CLIENT_BASIC=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)

"$sigil" >"$work/sigil.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -fsS "$base/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/sigil.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/health/ready" >/dev/null

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
login() {
  curl -fsS "$base/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$BENCH_USERNAME\",\"password\":\"$BENCH_PASSWORD\"}"
}
export BENCH_ACCESS_TOKEN=$(login | field '["data"]["accessToken"]')
export BENCH_CLIENT_TOKEN=$(curl -fsS "$base/oauth2/token" -H "authorization: Basic $BENCH_CLIENT_BASIC" \
  -d grant_type=client_credentials | field '["access_token"]')
export BENCH_REFRESH_TOKENS=$work/refresh-tokens
# One session per connection, and one spare per wrk thread (see refresh.lua).
for _ in $(seq 1 "$((connections + BENCH_THREADS))"); do login | field '["data"]["refreshToken"]'; done >"$BENCH_REFRESH_TOKENS"
# The login scenarios sign in as a user of their own: their sessions evict that user's oldest,
# never the sessions the bearer and refresh scenarios use.
curl -fsS "$base/v1/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"storm@bench.test\",\"username\":\"storm\",\"password\":\"$BENCH_PASSWORD\"}" >/dev/null

clock_ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$server_pid}/stat"; }
# Redis and the MongoDB-wire server share the machine: their CPU is part of each request.
service_ticks() {
  local total=0 pid
  for pid in ${service_pids[@]+"${service_pids[@]}"}; do total=$((total + $(cpu_ticks "$pid"))); done
  echo "$total"
}
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$server_pid/status"; }

# wrk's report -> "req/s p50 p99 errors"
parse_wrk() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def latency(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
    if not m:
        return "-"
    value, unit = float(m.group(1)), m.group(2)
    ms = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    return f"{ms:.2f}"
rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(non2xx.group(1)) if non2xx else 0
print(f"{float(rate.group(1)) if rate else 0:.0f} {latency(50)} {latency(99)} {errors}")
PY
}

declare -A rate
rows=()
# scenario NAME SCRIPT PATH [CONNECTIONS]
scenario() {
  local name=$1 script=$2 path=$3 conns=${4:-$connections}
  local before after cpu services_before services_cpu result
  before=$(cpu_ticks)
  services_before=$(service_ticks)
  wrk -t"$BENCH_THREADS" -c"$conns" -d"${duration}s" --latency -s "scripts/bench/$script" "$base$path" >"$work/$name.txt"
  after=$(cpu_ticks)
  cpu=$(( (after - before) * 100 / clock_ticks / duration ))
  services_cpu=$(( ($(service_ticks) - services_before) * 100 / clock_ticks / duration ))
  read -r rps p50 p99 errors <<<"$(parse_wrk "$work/$name.txt")"
  rate[$name]=$rps
  rows+=("| $name | $rps | $p50 | $p99 | $errors | $cpu % | $services_cpu % | $(rss_mib) MiB |")
}

openssl_signs=$(openssl speed -multi 2 -seconds "$duration" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
idle_rss=$(rss_mib)

scenario discovery get.lua /.well-known/openid-configuration
scenario jwks get.lua /.well-known/jwks.json
scenario client_credentials client_credentials.lua /oauth2/token
scenario introspection introspect.lua /oauth2/introspect
scenario bearer bearer.lua /v1/users/me
scenario refresh refresh.lua /v1/auth/refresh
BENCH_USERNAME=storm scenario login login.lua /v1/auth/login

# Login storm: logins saturate the hash pool while light probes measure what else is served.
storm_rows=()
BENCH_USERNAME=storm wrk -t1 -c"$connections" -d"$((duration + 2))s" -s scripts/bench/login.lua "$base/v1/auth/login" >"$work/storm-login.txt" &
storm_pid=$!
sleep 1 # let the storm fill the hash pool before probing (load shaping, not synchronisation)
probe_pids=()
for probe in "jwks get.lua /.well-known/jwks.json" "discovery get.lua /.well-known/openid-configuration" "bearer bearer.lua /v1/users/me"; do
  read -r name script path <<<"$probe"
  wrk -t1 -c2 -d"${duration}s" --latency -s "scripts/bench/$script" "$base$path" >"$work/storm-$name.txt" &
  probe_pids+=($!)
done
wait "${probe_pids[@]}"
wait "$storm_pid"
for name in jwks discovery bearer; do
  read -r rps p50 p99 errors <<<"$(parse_wrk "$work/storm-$name.txt")"
  storm_rows+=("| $name during a login storm | $rps | $p50 | $p99 | $errors |")
done
final_rss=$(rss_mib)
# The hashing workers give their argon2 memory back after a few idle seconds
# (password::IDLE_RELEASE); the gauge says when they have.
hash_memory() { curl -fsS "$base/metrics" | awk '/^sigil_password_hash_memory_bytes / {print $2}'; }
for _ in $(seq 1 100); do
  [ "$(hash_memory)" = 0 ] && break
  sleep 0.1
done
released_rss=$(rss_mib)

if [ -n "${BENCH_RATES_FILE:-}" ]; then
  for name in "${!rate[@]}"; do echo "$name ${rate[$name]}"; done >"$BENCH_RATES_FILE"
fi

ratio() { python3 -c "print(f'{$1 / $2:.2f}x' if $2 else '-')"; }
cat <<EOF

## Sigil benchmark: $backend, $(date -u +%Y-%m-%d)

Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); wrk -t$BENCH_THREADS -c$connections -d${duration}s; release build, $(git rev-parse --short HEAD).

| scenario | req/s | p50 ms | p99 ms | errors | server CPU | services CPU | RSS after |
|---|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

| probe (2 connections each) | req/s | p50 ms | p99 ms | errors |
|---|---:|---:|---:|---:|
$(printf '%s\n' "${storm_rows[@]}")

| ratio | value | target |
|---|---:|---:|
| \`openssl speed -multi 2 rsa2048\` signs/s | $openssl_signs | |
| client_credentials / openssl signs | $(ratio "${rate[client_credentials]}" "$openssl_signs") | >= 0.80x |
| refresh / openssl signs | $(ratio "${rate[refresh]}" "$openssl_signs") | >= 0.45x |
| bearer / jwks | $(ratio "${rate[bearer]}" "${rate[jwks]}") | >= 0.30x |
| introspection / jwks | $(ratio "${rate[introspection]}" "${rate[jwks]}") | >= 0.30x |

RSS idle $idle_rss MiB; right after everything (login storm included) $final_rss MiB; once the
hashing workers have released their memory ($(hash_memory) bytes held) $released_rss MiB (target <= 64 MiB).
EOF
