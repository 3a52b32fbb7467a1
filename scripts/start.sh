#!/usr/bin/env bash
# Set up (first time only) and start the motor-lab app on the bundled demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
