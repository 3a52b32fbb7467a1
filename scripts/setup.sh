#!/usr/bin/env bash
# Create .venv, install motor-lab's pinned dependencies (idempotent; CPU-only torch), then the project
# itself in editable mode (the `motor` command; `import motor` and `import app` from anywhere).
# --with-browser also installs Debian's chromium for the browser tests (needs apt and root).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  echo "$want" > "$stamp"
fi
if [ ! -x .venv/bin/motor ] || ! (cd / && "$root/.venv/bin/python" -c "import motor, app") >/dev/null 2>&1; then
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps -e .
fi
if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
