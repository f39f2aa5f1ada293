#!/usr/bin/env bash
# Lint, type-check and test; what CI runs.
source "$(dirname "$0")/setup.sh"
ruff check .
mypy
mypy policy/__main__.py
exec python -m pytest
