#!/usr/bin/env bash
# Store benchmark: secmat-store against the bare database, on SQLite and PostgreSQL.
#
#   bench/store.sh [COUNT]        (default 100000 credentials)
#
# PostgreSQL: ${SECMAT_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}; the
# benchmark creates a throwaway schema there and drops it at the end. SQLite: a fresh file in
# ${TMPDIR:-/tmp}, deleted at the end. Both ratios compare with a baseline measured in the same
# run on the same database (see crates/secmat-store/examples/store_bench.rs).
set -euo pipefail

count="${1:-100000}"
pg_url="${SECMAT_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cd "$(dirname "$0")/.."

cargo build --quiet --release -p secmat-store --example store_bench
bin=target/release/examples/store_bench

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
status=0
for backend in sqlite postgres; do
    args=(--backend "$backend" --count "$count" --tsv)
    [[ $backend == postgres ]] && args+=(--url "$pg_url")
    start=$SECONDS
    if "$bin" "${args[@]}" >>"$rows"; then
        echo "$backend: done in $((SECONDS - start)) s" >&2
    else
        echo "$backend: benchmark failed" >&2
        status=1
    fi
done

echo
echo "secmat-store benchmark, $(nproc) CPUs, $(uname -sr)"
awk -F'\t' '
    BEGIN {
        printf "%-9s %7s  %-24s %9s  %-20s %9s  %6s\n", "backend", "N", "operation", "ops/s", "baseline", "ops/s", "ratio"
        printf "%-9s %7s  %-24s %9s  %-20s %9s  %6s\n", "-------", "-", "---------", "-----", "--------", "-----", "-----"
    }
    { printf "%-9s %7s  %-24s %9s  %-20s %9s  %6s\n", $1, $2, $3, $4, $5, $6, $7 }
' "$rows"
exit $status
