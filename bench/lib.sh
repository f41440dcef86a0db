# shellcheck shell=bash
# Shared by the benchmark scripts: tools, free ports, nginx, a secmat server, wrk rounds.

bench_need_tools() {
  if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing nginx-light and wrk (Debian packages)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk nginx-light >/dev/null
    else
      echo "the benchmark needs nginx and wrk: apt-get install nginx-light wrk" >&2
      exit 1
    fi
  fi
  export PATH="$PATH:/usr/sbin:/sbin"
}

# A free TCP port on 127.0.0.1.
bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bench_wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# bench_nginx_static DIR PORT: nginx answering 200 with one worker per core.
bench_nginx_static() {
  local dir=$1 port=$2
  mkdir -p "$dir/tmp"
  sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" -e "s|@WORKERS@|$(nproc)|g" \
    "$BENCH_HERE/nginx-static.conf.template" >"$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  bench_wait_port "$port"
}

# bench_nginx_proxy DIR PORT UPSTREAM_PORT: nginx proxy_pass with upstream keep-alive.
bench_nginx_proxy() {
  local dir=$1 port=$2 upstream=$3
  mkdir -p "$dir/tmp"
  sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$dir|g" -e "s|@WORKERS@|$(nproc)|g" -e "s|@UPSTREAM_PORT@|$upstream|g" \
    "$BENCH_HERE/nginx-proxy.conf.template" >"$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  bench_wait_port "$port"
}

# bench_secmat_credential BASE IDP_PORT NAME: deploys a credential against the fake IdP.
bench_secmat_credential() {
  local base=$1 idp=$2 name=$3 csrf
  csrf=$(curl -sf -u admin:bench-password -H 'X-CSRF-Token: Fetch' -D - -o /dev/null "$base/api/v1/" | awk 'tolower($1)=="x-csrf-token:" {print $2}' | tr -d '\r')
  curl -sf -u admin:bench-password -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' "$base/api/v1/OAuth2ClientCredentials" \
    -d "{\"Name\":\"$name\",\"TokenServiceUrl\":\"http://127.0.0.1:$idp/token\",\"ClientId\":\"c\",\"ClientSecret\":\"s\"}" >/dev/null
  echo "$csrf"
}

# bench_secmat DIR PORT: a release secmat on the embedded store, access log off (as nginx's).
bench_secmat() {
  local dir=$1 port=$2
  SECMAT_ADMIN_PASSWORD=bench-password "$BENCH_ROOT/target/release/secmat" serve \
    --listen "127.0.0.1:$port" --data-dir "$dir/data" --log-level warn >"$dir/secmat.log" 2>&1 &
  echo $! >"$dir/secmat.pid"
  bench_wait_port "$port"
}

# bench_wrk URL [wrk args…]: prints requests per second.
bench_wrk() {
  local url=$1; shift
  wrk -t1 -c"${CONNS:-16}" -d"${DURATION:-5}s" "$@" "$url" | awk '/Requests\/sec/ {print $2}'
}

# bench_wrk_full URL [wrk args…]: prints "REQ_PER_SEC P50_MS".
bench_wrk_full() {
  local url=$1; shift
  wrk -t1 -c"${CONNS:-16}" -d"${DURATION:-5}s" --latency "$@" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return substr(v, 1, length(v)-2)/1000; if (v ~ /ms$/) return substr(v, 1, length(v)-2)+0; if (v ~ /s$/) return substr(v, 1, length(v)-1)*1000; return v }
    /^ +50%/ {p50 = ms($2)} /Requests\/sec/ {rps = $2} END {print rps, p50}'
}

# bench_median N…
bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
