#!/usr/bin/env bash
# Installs every build/test dependency from the pinned lists (idempotent; safe to rerun).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pkgs=$(grep -v -E '^\s*(#|$)' "$here/deps/apt.txt")
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
python3 -m pip install -q --disable-pip-version-check -r "$here/deps/requirements.txt"
# SkyPilot (for validating deploy/skypilot.yaml with its own loader) lives in a private venv: it
# would downgrade shared packages (click). Created once; later runs reuse it.
bash "$here/deploy/install-skypilot.sh" >/dev/null
