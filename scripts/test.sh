#!/usr/bin/env bash
# Set up (first time only, chromium included), lint with ruff, and run the whole test suite, slow and browser
# tests too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
.venv/bin/python -m ruff check .
exec .venv/bin/python -m pytest -q "$@"
