#!/usr/bin/env bash
# Install the project (and the system packages its browser tests need) into ./.venv, then run the
# test suite. This is the README's test command and what CI (.ci/run) calls.
#   bash ci/test.sh            # default suite (slow tests excluded)
#   bash ci/test.sh --all      # include @pytest.mark.slow tests
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 PIP_DISABLE_PIP_VERSION_CHECK=1
bash ci/install-system.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test,ray]'
markers="not slow"
if [ "${1:-}" = "--all" ]; then markers=""; shift; fi
exec .venv/bin/python -m pytest -m "$markers" "$@"
