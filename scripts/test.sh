#!/usr/bin/env bash
# Install everything the whole test suite needs into a virtual environment and run it.
#   bash scripts/test.sh            # the whole suite
#   bash scripts/test.sh -k metrics # pytest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${CRADLE_TEST_VENV:-.venv-test}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
"${PIP[@]}" install --upgrade pip 2>&1 | grep -v "is ignored" || true
# The CPU build of torch first (the fine-tuning smoke test needs it), so that nothing pulls a CUDA build.
"${PIP[@]}" install "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
"${PIP[@]}" install -e ".[test,parquet,finetune,inspect,ray]" 2>&1 | grep -v "is ignored" || true
"$VENV/bin/python" -c "import cradle, torch, transformers, peft, pyarrow, playwright, inspect_ai, ray" \
  || { echo "test dependencies failed to install" >&2; exit 1; }
# Browser tests drive Debian's chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: browser tests will skip" >&2
fi
exec "$VENV/bin/python" -m pytest "$@"
