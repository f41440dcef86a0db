#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts what the tests need, then runs
# formatting, lints and every test (unit, property, store conformance on SQLite and PostgreSQL,
# end-to-end against the real binary and real authorization servers from npm).
#
#   ./scripts/test.sh
#
# PostgreSQL: uses SECMAT_TEST_POSTGRES_URL when set, else postgres://postgres@127.0.0.1:5432/test,
# starting the local cluster if it is down.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SECMAT_TEST_POSTGRES_URL="${SECMAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
. scripts/services.sh
ensure_postgres
ensure_test_peers
ensure_browser

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
