#!/usr/bin/env bash
# Creates ./venv-router, the model router's own virtualenv (LiteLLM proxy, exact versions and hashes
# from requirements-router.txt), which tests/test_router_process.py starts for real. Separate from
# ./venv: the router's dependencies would clash with the program's pins. Reinstalls only when
# requirements-router.txt changed. Sourced by scripts/setup.sh, or run alone.
set -euo pipefail
router_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
router_venv="$router_root/venv-router"
router_stamp="$router_venv/.requirements.sha256"
router_wanted="$(sha256sum "$router_root/requirements-router.txt" | cut -d' ' -f1)"
if [ "$(cat "$router_stamp" 2>/dev/null)" != "$router_wanted" ]; then
  rm -rf "$router_venv"
  python3 -m venv "$router_venv"
  # Every package is listed with its hash: --no-deps keeps pip from adding anything unlisted.
  "$router_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$router_root/requirements-router.txt"
  echo "$router_wanted" > "$router_stamp"
fi
