#!/usr/bin/env bash
# One command: set up (when needed) and run every check: ruff, mypy (strict), pytest.
# The tests start their own PostgreSQL and Mosquitto (Debian packages) on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
export TZ=UTC
echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== mypy (strict)"; .venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
