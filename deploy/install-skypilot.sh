#!/usr/bin/env bash
# Creates, once, a private virtualenv with the SkyPilot of deploy/requirements-skypilot.txt and
# prints its python on stdout. tests/deploy/test_configs.py loads deploy/skypilot.yaml with it
# (SkyPilot's own Task/SkyServiceSpec loader and JSON schemas; no cloud account, no network after
# the install). First run ~1 minute (PyPI), later runs reuse it.
#
# Environment: SDXL_SKYPILOT_VENV (default ${XDG_CACHE_HOME:-~/.cache}/sdxl-tigris/skypilot-<hash of
# the requirements file>), PYTHON (python3: the interpreter the venv is made from).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-skypilot.txt"
hash=$(sha256sum "$req" | cut -c1-12)
dir=${SDXL_SKYPILOT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sdxl-tigris/skypilot-$hash}
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9  # one installer at a time
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  "${PYTHON:-python3}" -m venv "$dir" >&2
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  "$dir/bin/python" -c 'import sky; print("skypilot", sky.__version__)' >&2
  touch "$dir/.complete"
fi
echo "$dir/bin/python"
