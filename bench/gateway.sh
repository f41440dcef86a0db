#!/usr/bin/env bash
# The HTTP receiver adapter against nginx as a reverse proxy, both in front of the same fast
# upstream (nginx answering `return 200`, so that the backend does not set the pace):
#   direct      wrk → upstream
#   nginx       wrk → nginx proxy_pass (upstream keep-alive, one worker per core) → upstream
#   secmat      wrk → secmat /gateway/bench/ (Basic auth per request, bearer token injected) → upstream
# Each round runs all three, the two proxies in alternating order; the report gives median
# throughput and median (p50) latency, the median of the rounds' gateway/nginx ratios, and each
# proxy's added p50 latency over direct.
#
#   bench/gateway.sh            (ROUNDS=5 DURATION=5 CONNS=16 by default)
set -euo pipefail
BENCH_HERE="$(cd "$(dirname "$0")" && pwd)"
BENCH_ROOT="$(dirname "$BENCH_HERE")"
. "$BENCH_HERE/lib.sh"
cd "$BENCH_ROOT"
bench_need_tools
cargo build --quiet --release -p secmat

work=$(mktemp -d)
mkdir -p "$work/static" "$work/proxy"
cleanup() {
  for d in static proxy; do [ -f "$work/$d/nginx.pid" ] && kill "$(cat "$work/$d/nginx.pid")" 2>/dev/null || true; done
  [ -f "$work/secmat.pid" ] && kill "$(cat "$work/secmat.pid")" 2>/dev/null || true
  [ -n "${idp_pid:-}" ] && kill "$idp_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

static_port=$(bench_free_port); proxy_port=$(bench_free_port); secmat_port=$(bench_free_port); idp_port=$(bench_free_port)
bench_nginx_static "$work/static" "$static_port"
bench_nginx_proxy "$work/proxy" "$proxy_port" "$static_port"
python3 "$BENCH_HERE/fake_idp.py" "$idp_port" & idp_pid=$!
bench_wait_port "$idp_port"
bench_secmat "$work" "$secmat_port"
base="http://127.0.0.1:$secmat_port"
csrf=$(bench_secmat_credential "$base" "$idp_port" bench)
curl -sf -u admin:bench-password -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' "$base/api/v1/HttpReceiverChannels" \
  -d "{\"Name\":\"bench\",\"Address\":\"http://127.0.0.1:$static_port\",\"CredentialName\":\"bench\"}" >/dev/null
curl -sf -u admin:bench-password "$base/gateway/bench/warm" >/dev/null
basic="Authorization: Basic $(printf 'admin:bench-password' | base64)"

declare -a d_rps d_p50 n_rps n_p50 s_rps s_p50 ratios
for round in $(seq 1 "${ROUNDS:-5}"); do
  read -r r p < <(bench_wrk_full "http://127.0.0.1:$static_port/"); d_rps+=("$r"); d_p50+=("$p")
  # Alternate the order of the two proxies, so that neither always runs on a busier machine.
  if (( round % 2 )); then
    read -r r p < <(bench_wrk_full "http://127.0.0.1:$proxy_port/"); n_rps+=("$r"); n_p50+=("$p")
    read -r r p < <(bench_wrk_full "$base/gateway/bench/" -H "$basic"); s_rps+=("$r"); s_p50+=("$p")
  else
    read -r r p < <(bench_wrk_full "$base/gateway/bench/" -H "$basic"); s_rps+=("$r"); s_p50+=("$p")
    read -r r p < <(bench_wrk_full "http://127.0.0.1:$proxy_port/"); n_rps+=("$r"); n_p50+=("$p")
  fi
  ratios+=("$(awk -v s="${s_rps[-1]}" -v n="${n_rps[-1]}" 'BEGIN {print s/n}')")
  echo "round $round: direct ${d_rps[-1]} req/s (p50 ${d_p50[-1]} ms), nginx ${n_rps[-1]} (${n_p50[-1]} ms), secmat ${s_rps[-1]} (${s_p50[-1]} ms), ratio ${ratios[-1]}" >&2
done
dr=$(bench_median "${d_rps[@]}"); dp=$(bench_median "${d_p50[@]}")
nr=$(bench_median "${n_rps[@]}"); np=$(bench_median "${n_p50[@]}")
sr=$(bench_median "${s_rps[@]}"); sp=$(bench_median "${s_p50[@]}")
ratio=$(bench_median "${ratios[@]}")
echo
echo "| path (wrk -t1 -c${CONNS:-16}, ${DURATION:-5} s, median of ${ROUNDS:-5}) | req/s | p50 latency |"
echo "| --- | --- | --- |"
echo "| direct to the upstream | $dr | $dp ms |"
echo "| nginx proxy_pass | $nr | $np ms |"
echo "| secmat gateway (Basic auth per request, token injected) | $sr | $sp ms |"
echo
awk -v r="$ratio" -v sp="$sp" -v np="$np" -v dp="$dp" 'BEGIN {
  printf "gateway throughput = %.2f x nginx, median of the rounds'"'"' ratios (goal: >= 1)\n", r
  printf "added p50 latency: secmat %.3f ms, nginx %.3f ms (goal: secmat <= nginx)\n", sp-dp, np-dp }'
