#!/usr/bin/env bash
# Set up .venv (once, or again when pyproject.toml changes) and run a job.
#   bash quickstart.sh main [ARGS...]   the main job
#   bash quickstart.sh test [ARGS...]   the test suite
set -euo pipefail
cd "$(dirname "$0")"
# Yield idle cores instead of spinning: much faster when the machine is shared.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
job="${1:-main}"; shift || true

stamp=".venv/.semcom-setup"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv .venv
    # The CPU build of torch first, so that no dependency pulls a CUDA build.
    .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" > "$stamp"
fi

case "$job" in
    main) exec .venv/bin/semcom table4 "$@" ;;
    test) exec .venv/bin/python -m pytest "$@" ;;
    *) echo "usage: bash quickstart.sh {main|test} [ARGS...]" >&2; exit 2 ;;
esac
