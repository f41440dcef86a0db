#!/usr/bin/env bash
# Token API throughput on a warm cache, the caller authenticating with HTTP Basic on every
# request (as consumers do), against nginx answering `return 200` on the same machine (one
# worker per core, access log off). Each round runs both, in alternating order; the report gives
# the medians and the median of the rounds' ratios (a round's two runs share the machine's mood).
#
#   bench/token-api.sh              (ROUNDS=5 DURATION=5 CONNS=16 by default)
#
# Also runs the in-process cache benchmark (cache hit against a bare HashMap lookup).
set -euo pipefail
BENCH_HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH_ROOT="$(dirname "$BENCH_HERE")"
. "$BENCH_HERE/lib.sh"
cd "$BENCH_ROOT"
bench_need_tools
cargo build --quiet --release -p secmat

work=$(mktemp -d)
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -f "$work/secmat.pid" ] && kill "$(cat "$work/secmat.pid")" 2>/dev/null || true
  [ -n "${idp_pid:-}" ] && kill "$idp_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

nginx_port=$(bench_free_port); secmat_port=$(bench_free_port); idp_port=$(bench_free_port)
bench_nginx_static "$work" "$nginx_port"
python3 "$BENCH_HERE/fake_idp.py" "$idp_port" & idp_pid=$!
bench_wait_port "$idp_port"
bench_secmat "$work" "$secmat_port"

base="http://127.0.0.1:$secmat_port"
auth=(-u admin:bench-password)
csrf=$(curl -sf "${auth[@]}" -H 'X-CSRF-Token: Fetch' -D - -o /dev/null "$base/api/v1/" | awk 'tolower($1)=="x-csrf-token:" {print $2}' | tr -d '\r')
curl -sf "${auth[@]}" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' "$base/api/v1/OAuth2ClientCredentials" \
  -d "{\"Name\":\"bench\",\"TokenServiceUrl\":\"http://127.0.0.1:$idp_port/token\",\"ClientId\":\"c\",\"ClientSecret\":\"s\"}" >/dev/null
curl -sf "${auth[@]}" "$base/runtime/v1/tokens/bench" >/dev/null   # warm: the one token request
basic="Authorization: Basic $(printf 'admin:bench-password' | base64)"

nginx_rates=(); secmat_rates=(); ratios=()
for round in $(seq 1 "${ROUNDS:-5}"); do
  # Alternate the order, so that neither always runs on a warmer (or busier) machine.
  if (( round % 2 )); then
    n=$(bench_wrk "http://127.0.0.1:$nginx_port/"); s=$(bench_wrk "$base/runtime/v1/tokens/bench" -H "$basic")
  else
    s=$(bench_wrk "$base/runtime/v1/tokens/bench" -H "$basic"); n=$(bench_wrk "http://127.0.0.1:$nginx_port/")
  fi
  nginx_rates+=("$n"); secmat_rates+=("$s"); ratios+=("$(awk -v s="$s" -v n="$n" 'BEGIN {print s/n}')")
  echo "round $round: nginx $n req/s, secmat token API $s req/s (ratio ${ratios[-1]})" >&2
done
n=$(bench_median "${nginx_rates[@]}"); s=$(bench_median "${secmat_rates[@]}"); r=$(bench_median "${ratios[@]}")
echo
echo "| target (wrk -t1 -c${CONNS:-16}, ${DURATION:-5} s, median of ${ROUNDS:-5}) | req/s |"
echo "| --- | --- |"
echo "| nginx \`return 200\` ($(nproc) workers) | $n |"
echo "| secmat \`GET /runtime/v1/tokens/bench\`, Basic auth per request | $s |"
echo
awk -v r="$r" 'BEGIN {printf "token API at %.0f%% of nginx, median of the rounds'"'"' ratios (goal: >= 80%%)\n", 100*r}'
echo
cargo run --quiet --release -p secmat-core --example cache_bench
