#!/usr/bin/env bash
# GPU check of the container image's library set, for a lent GPU machine (torch 2.11.0+cu130 venv,
# no podman, no network): is what deploy/build-image.sh puts in the image enough for the engine on
# CUDA, and which of those libraries does a real run load?
#
# It copies exactly the image's libraries (the manifest libs.tsv of a build context: torch/CUDA
# ones from this machine's venv, same wheel; Debian ones from the bundle of tools/gpu-bundle.sh)
# into one folder, so that no RPATH ($ORIGIN/../../nvidia/...) can reach the venv, and runs
# `sdxl-tigris generate --device cuda --dtype fp16` with LD_LIBRARY_PATH set to that folder only
# (as the image's ENV does; libcuda comes from the machine, as the NVIDIA container runtime does):
# the tiny pipeline at 256x256, then the full-size SDXL architecture (random weights) at 1024x1024.
# LD_DEBUG=libs records every library opened; the summary lists what came from outside the image's
# set (must be only the driver and glibc) and which image libraries were never loaded.
#
# Usage (repository root): bash deploy/gpu-image-check.sh [BUNDLE.tar.xz] [libs.tsv]
#   defaults: build-deploy-gpu/.gpu.tar.xz and build-deploy-gpu/libs.tsv, made here by
#     bash tools/gpu-bundle.sh build build-deploy-gpu/.gpu
#     bash deploy/build-image.sh --rootfs-only && cp /var/tmp/sdxl-tigris-image/libs.tsv build-deploy-gpu/
# Environment: OUT (default out/gpu-image-check), BUDGET (seconds, default 400), DRY=1 (CPU, tiny
# only: tests this script on a machine without a GPU).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
BUNDLE=${1:-build-deploy-gpu/.gpu.tar.xz}
MANIFEST=${2:-build-deploy-gpu/libs.tsv}
OUT=${OUT:-$here/out/gpu-image-check}
BUDGET=${BUDGET:-400}
DRY=${DRY:-0}
W=/tmp/gpu-image-check
mkdir -p "$OUT" "$W"
exec > >(tee "$OUT/gpu-image-check.log") 2>&1
t_start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - t_start))); }
say() { printf '\n== %s (t=%ss)\n' "$*" $(($(date +%s) - t_start)); }

say machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1
torch_lib=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")') || exit 1
site=$(dirname "$(dirname "$torch_lib")")
python3 -c 'import torch; print("torch", torch.__version__)'

say "bundle and the image's library set"
rm -rf "$W/b" "$W/imglib" && mkdir -p "$W/b" "$W/imglib"
tar -C "$W/b" -xJf "$BUNDLE" || exit 1
B=$(dirname "$(find "$W/b" -path '*/bin/sdxl-tigris' | head -1)")/..
B=$(cd "$B" && pwd)
cat "$B/README" 2>/dev/null | head -3
missing=() from_system=()
while IFS=$'\t' read -r size group dest src; do
  name=$(basename "$dest")
  case "$group" in
    torch) f="$torch_lib/$name" ;;
    cuda) f=$(find "$site/nvidia" -name "$name" 2>/dev/null | head -1) ;;
    debian) f="$B/lib/$name"; [ -f "$f" ] || { from_system+=("$name"); continue; } ;;
  esac
  if [ -n "$f" ] && [ -f "$f" ]; then cp -L "$f" "$W/imglib/$name"; else missing+=("$name"); fi
done < "$MANIFEST"
echo "image set: $(wc -l < "$MANIFEST") libraries; copied $(ls "$W/imglib" | wc -l) to $W/imglib" \
  "($(du -sh "$W/imglib" | cut -f1)); glibc/libstdc++ from this machine: ${from_system[*]:-none}"
[ ${#missing[@]} = 0 ] || echo "NOT FOUND on this machine: ${missing[*]}"

say "python (tiny model maker)"
if ! python3 -c 'import diffusers' 2>/dev/null; then
  mkdir -p "$W/site"
  python3 -m pip install -q --no-index --no-deps --target "$W/site" "$B"/wheels/*.whl 2>&1 | tail -2
  export PYTHONPATH="$W/site"
fi
python3 -c 'import open_clip' 2>/dev/null || export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$B/pysite"
timeout 120 python3 tools/make_tiny_sdxl.py --config lightning "$W/tiny" > "$W/tiny.log" 2>&1 ||
  { echo "tiny model failed"; tail -5 "$W/tiny.log"; }
full_pid=""
if [ "$DRY" != 1 ] && [ ! -f "$W/full/model_index.json" ]; then
  timeout 240 python3 tools/make_tiny_sdxl.py --config full "$W/full" > "$W/full.log" 2>&1 &
  full_pid=$!
fi

DEV=cuda DT=fp16
[ "$DRY" = 1 ] && DEV=cpu DT=fp32
run() {  # run TAG MODEL SIZE
  local t=$(( $(left) - 20 )); ((t > 150)) && t=150
  ((t < 10)) && { echo "$1: skipped (budget)"; return 125; }
  say "generate $1: $DEV $DT ${3}x${3}, LD_LIBRARY_PATH=$W/imglib only"
  rm -f "$W/ld-$1".*
  local t0=$(date +%s.%N)
  env LD_LIBRARY_PATH="$W/imglib" LD_DEBUG=libs LD_DEBUG_OUTPUT="$W/ld-$1" \
    timeout "$t" "$B/bin/sdxl-tigris" generate --model "$2" --prompt "a lighthouse at dusk" \
    --steps 4 --guidance 0 --width "$3" --height "$3" --seed 1 --device "$DEV" --dtype "$DT" \
    --out "$W/$1.png" > "$W/$1.out" 2> "$W/$1.err"
  local rc=$?
  tr '\r' '\n' < "$W/$1.err" | grep -vE '^(step [0-9]+/[0-9]+)?$' | tail -4
  echo "$1: rc $rc in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
  echo "$1 $rc" >> "$W/results"
  return $rc
}
: > "$W/results"
run tiny "$W/tiny" 256
if [ -n "$full_pid" ]; then
  say "waiting for the full-size model"
  wait "$full_pid"; echo "full model: rc $?"; tail -2 "$W/full.log"
fi
[ -f "$W/full/model_index.json" ] && run full "$W/full" 1024

say summary
python3 - "$W" "$MANIFEST" <<'PY' | tee "$OUT/summary.txt"
import collections, glob, os, re, sys
w, manifest = sys.argv[1:3]
image = {}
for line in open(manifest):
    size, group, dest, src = line.rstrip("\n").split("\t")
    image[os.path.basename(dest)] = (int(size), group)
results = dict(l.split() for l in open(os.path.join(w, "results")))
loaded = collections.defaultdict(set)
for f in glob.glob(os.path.join(w, "ld-*")):
    tag = os.path.basename(f)[3:].split(".")[0]
    for m in re.finditer(r"calling init: (\S+)", open(f, errors="replace").read()):
        loaded[tag].add(m.group(1))
imglib = os.path.join(w, "imglib")
print(f"runs: {', '.join(f'{k} rc {v}' for k, v in results.items()) or 'none'}")
everything = set().union(*loaded.values()) if loaded else set()
inside = {os.path.basename(p) for p in everything if p.startswith(imglib + "/")}
outside = sorted(p for p in everything if not p.startswith(imglib + "/"))
print(f"loaded from the image's set: {len(inside)} of {len(image)}")
print("loaded from elsewhere (must be the driver and glibc only):")
for p in outside:
    print("   ", p)
never = sorted((n for n in image if n not in inside and image[n][1] != "debian"),
               key=lambda n: -image[n][0])
print("image libraries never loaded (torch/CUDA):")
for n in never:
    print(f"    {image[n][0] / 2**20:7.0f} MiB  {n}")
for tag in sorted(loaded):
    dl = sorted(os.path.basename(p) for p in loaded[tag] if "cudnn" in p or "nvrtc" in p)
    print(f"{tag}: cuDNN/NVRTC loaded: {' '.join(dl) or 'none'}")
PY
echo "elapsed $(( $(date +%s) - t_start )) s"
