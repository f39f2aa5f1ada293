#!/usr/bin/env bash
# Lint, type-check and test; what CI runs.
source "$(dirname "$0")/setup.sh"
# The real model router (LiteLLM proxy) the router tests start, in its own virtualenv.
source "$root/scripts/setup-router.sh"
ruff check .
mypy
mypy policy/__main__.py
exec python -m pytest
