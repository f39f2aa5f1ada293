#!/usr/bin/env bash
# Creates ./venv (the virtualenv Pulumi.yaml names) and installs the pinned requirements into it;
# reinstalls only when a requirements file changed. Sourced by the other scripts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.requirements.sha256"
wanted="$(cat "$root"/requirements*.txt "$root"/policy/requirements.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements-dev.txt"
  echo "$wanted" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
