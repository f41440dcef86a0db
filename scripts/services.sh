# shellcheck shell=bash
# Sourced by scripts/test.sh and bench scripts: makes sure the services the tests use are up.

# PostgreSQL on 127.0.0.1:5432 with a database `test` that user `postgres` can use without a
# password (the machine's default). Starts the local cluster when it is down.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  echo "PostgreSQL is down; starting it"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break
    sleep 0.2
  done
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432; install it (apt-get install postgresql) or set SECMAT_TEST_POSTGRES_URL" >&2
    return 1
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
}

# The real authorization servers the interoperability tests run (testpeers/, pinned by its
# package-lock.json): installed with npm ci when missing or when the lock file changed.
ensure_test_peers() {
  command -v node >/dev/null || { echo "Node.js >= 20 is needed for the test peers (testpeers/)" >&2; return 1; }
  local stamp=testpeers/node_modules/.installed-lock.json
  if [ -f "$stamp" ] && cmp -s "$stamp" testpeers/package-lock.json; then return 0; fi
  echo "installing the test peers (npm ci in testpeers/)"
  npm ci --prefix testpeers --no-audit --no-fund --loglevel=error
  cp testpeers/package-lock.json "$stamp"
}

# Headless Chromium and its WebDriver for the browser tests (crates/secmat/tests/it/browser.rs):
# Debian's `chromium` and `chromium-driver`, installed with apt-get when either is missing.
ensure_browser() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    echo "the browser tests need /usr/bin/chromium and /usr/bin/chromedriver: run as root, or apt-get install chromium chromium-driver" >&2
    return 1
  fi
  echo "installing Chromium and its WebDriver (apt-get install chromium chromium-driver)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}
