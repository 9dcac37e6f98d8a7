#!/usr/bin/env bash
# Prepares a Debian/Ubuntu machine for ICONE: system packages (only those missing),
# a virtualenv in .venv, and the project installed in it with its test tools.
# Safe to run again: it only does what is not done yet.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
# `setup.sh --tests`: also what the test suite needs. The field app's browser tests drive
# Debian's Chromium (Playwright's own browser download is not used).
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts a system broker with the package; ours runs on its own port, so either is fine.
fi

python3 - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"ICONE needs Python >= 3.11, this is {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.icone-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # grafana-client's HTTP stack (niquests) needs urllib3-future, whose wheel overwrites the real
  # urllib3 at every interpreter start and so breaks `requests` users (schemathesis). Built
  # from source with URLLIB3_NO_OVERRIDE, it installs beside urllib3 instead (its maintainers'
  # documented way to keep both).
  URLLIB3_NO_OVERRIDE=1 .venv/bin/python -m pip install -q --no-binary urllib3-future -e '.[dev]'
  touch "$stamp"
fi
