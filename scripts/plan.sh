#!/usr/bin/env bash
# The offline plan: what `pulumi up -s STACK` would create, checked against the real schemas.
# Usage: bash scripts/plan.sh [STACK] [--out DIR]   (default stack: dev)
source "$(dirname "$0")/setup.sh"
exec python -m tools.plan "$@"
