#!/usr/bin/env bash
# One command: set up (when needed) and run the ICONE demo on embedded defaults.
# Arguments go to `icone demo` (e.g. --duration 30).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/icone demo "$@"
