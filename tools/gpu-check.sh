#!/usr/bin/env bash
# GPU check for a lent H100/H200 machine (PyTorch 2.11+cu130 venv; no network, nothing installable).
# One call, < 7.5 minutes: runs the end-to-end parity tests and the staging ring's unit tests on
# CUDA, measures local files -> GPU memory through the cold-start loader (sdxl_load_driver, both
# SDXL_CUDA_STAGING paths, cold and warm page cache), then times the full-size SDXL architecture
# (random weights) at 1024x1024, 4 steps, guidance 0, fp16: `sdxl-tigris generate` vs diffusers in
# the same run. Prints one table (and writes it to $OUT/summary.txt).
#
# Usage (repository root): bash tools/gpu-check.sh [BUILD_DIR]
#
# Engine: the prebuilt bundle .gpu.tar.xz (or an unpacked .gpu/) from tools/gpu-bundle.sh when the
# tree has one (unpacked to /tmp/gpu-bundle; our binaries run with the bundle's lib/, the venv's
# torch/lib and every nvidia/*/lib on LD_LIBRARY_PATH), else a CMake build into BUILD_DIR (default
# build-gpu) against the venv's torch. GPU_CHECK_ENGINE=bundle|build forces one.
# Python: wheels in the bundle (or third_party/wheels/) whose module the venv lacks are installed
# with pip --no-index --no-deps --target into /tmp, put first on PYTHONPATH; the bundle's stand-in
# open_clip (CLIP's BPE merges for tools/clip_vocab.py) only where the real package does not import.
#
# Environment: OUT (log + summary; default out/gpu-check; everything is teed to $OUT/gpu-check.log),
# GPU_CHECK_BUDGET (seconds for the whole script, default 450; every step's timeout is capped by
# what is left), GPU_CHECK_WORK (scratch, default /tmp/gpu-check: the full-size model, ~5 GB,
# goes there, never to $OUT), GPU_CHECK_DRY=1 (no GPU: same steps on CPU, fp32, tiny model at
# 128x128, to test this script).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 1
BUILD=${1:-build-gpu}
OUT=${OUT:-$here/out/gpu-check}
WORK=${GPU_CHECK_WORK:-/tmp/gpu-check}
BUDGET=${GPU_CHECK_BUDGET:-450}
DRY=${GPU_CHECK_DRY:-0}
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
tee_pid=$!
t_start=$(date +%s)
deadline=$((t_start + BUDGET))
RESERVE=8  # seconds kept for the summary

if [ "$DRY" = 1 ]; then
  DEV=cpu DTYPE=fp32 CONFIG=lightning SIZE=128
else
  DEV=cuda DTYPE=fp16 CONFIG=full SIZE=1024
fi
STEPS=4
export TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1  # no progress bars in the log
PROMPT="a photo of an astronaut riding a horse"
MODEL="$WORK/sdxl-$CONFIG-random"

step() { printf '\n== %s (t=%ss, %ss left)\n' "$1" $(($(date +%s) - t_start)) $((deadline - $(date +%s))); }
# cap N: N seconds, or less when the budget runs out (0: no time left).
cap() {
  local left=$((deadline - $(date +%s) - RESERVE))
  ((left < 0)) && left=0
  if (($1 < left)); then echo "$1"; else echo "$left"; fi
}
# capped N CMD...: CMD under a timeout of at most N seconds; 124 on timeout, 125 without time.
capped() {
  local t
  t=$(cap "$1")
  shift
  if ((t < 5)); then
    echo "(skipped: budget spent)"
    return 125
  fi
  timeout -k 5 "$t" "$@"
}
verdict() {  # rc -> word
  case "$1" in 0) echo ok ;; 124 | 137) echo TIMEOUT ;; 125) echo "skipped (budget)" ;; *) echo "FAILED (rc $1)" ;; esac
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Results for the summary (filled in as the steps run).
gpu="?" parity="not run" engine_from="?" model_note="" ring_test="not run" upload=""
o_load="" o_first="" o_step="" o_total="" o_dev=""
d_load="" d_first="" d_step="" d_total=""
summary_done=0
summary() {
  [ "$summary_done" = 1 ] && return
  summary_done=1
  local f="$WORK/summary.txt" label
  label="SDXL ${SIZE}x${SIZE}, $STEPS steps, $DTYPE"
  [ "$DRY" = 1 ] && label="DRY: $CONFIG ${SIZE}x${SIZE}, $STEPS st, $DTYPE"
  {
    printf '%-38s %-16s %-16s\n' "$label" "sdxl-tigris" "diffusers"
    printf '%-38s %-16s %-16s\n' "s/step (2nd run, denoise / steps)" "${o_step:-?}" "${d_step:-?}"
    printf '%-38s %-16s %-16s\n' "end to end (2nd run: encode..decode)" "${o_total:-?}" "${d_total:-?}"
    printf '%-38s %-16s %-16s\n' "pipeline load, s (1st run)" "${o_load:-?}" "${d_load:-?}"
    printf '%-38s %-16s %-16s\n' "load + first image, s" "${o_first:-?}" "${d_first:-?}"
    [ -n "${s_ready:-}" ] && printf '%-38s %s\n' "serve: boot to READY, s" "$s_ready"
    [ -n "${s_first:-}" ] && printf '%-38s %s\n' "serve: POST /predictions, s" "first $s_first, warm $s_warm (sync, PNG, data URL)"
    printf '%-38s %s\n' "CUDA parity (tiny, same seed)" "$parity"
    printf '%-38s %s\n' "CUDA staging ring unit test" "$ring_test"
    [ -n "$upload" ] && printf '%-38s %s\n' "local files -> $DEV, GB/s (UNet, $DTYPE)" "$upload"
    [ "$DRY" = 1 ] && printf '%-38s %s\n' "(dry run: parity ran on CPU)" ""
    printf '%-38s %s\n' "engine" "$engine_from"
    printf '%-38s %s\n' "device" "${o_dev:-?}; $gpu"
    [ -n "$model_note" ] && printf '%-38s %s\n' "note" "$model_note"
    printf '%-38s %s\n' "load + first image" "ours: process wall time (engine dlopen, CUDA init, load, generate, PNG);"
    printf '%-38s %s\n' "" "diffusers: from_pretrained + .to(device) + first call (after imports)"
    printf 'elapsed %ss of %ss\n' $(($(date +%s) - t_start)) "$BUDGET"
  } > "$f"
  step "summary"
  cat "$f"
  cp "$f" "$OUT/summary.txt" 2>/dev/null || true
}
finish() {
  local rc=$?
  [ -n "${model_pid:-}" ] && kill "$model_pid" 2>/dev/null
  summary
  exec 1>&- 2>&-
  wait "$tee_pid" 2>/dev/null
  exit "$rc"
}
trap finish EXIT

# ---------------------------------------------------------------------------------------------
step "machine"
if command -v nvidia-smi >/dev/null; then
  gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)
  echo "GPU: $gpu"
else
  gpu="no nvidia-smi"
  echo "$gpu"
fi
grep -E '^PRETTY_NAME=' /etc/os-release 2>/dev/null
ldd --version 2>&1 | head -1
echo "cores $(nproc), python $(command -v python3)"
capped 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'

# ---------------------------------------------------------------------------------------------
step "engine"
mode=${GPU_CHECK_ENGINE:-auto}
B=""  # the unpacked bundle (bin/ lib/ wheels/ pysite/)
if [ "$mode" != build ]; then
  if [ -f "$here/.gpu.tar.xz" ]; then
    rm -rf /tmp/gpu-bundle && mkdir -p /tmp/gpu-bundle
    t0=$(now)
    if command -v xz >/dev/null; then
      capped 120 tar -C /tmp/gpu-bundle -xJf "$here/.gpu.tar.xz"
    else
      capped 120 python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="data")' \
        "$here/.gpu.tar.xz" /tmp/gpu-bundle
    fi
    rc=$?
    echo "unpacked .gpu.tar.xz to /tmp/gpu-bundle in $(secs "$t0" "$(now)") s: $(verdict $rc)"
    [ $rc = 0 ] && [ -f /tmp/gpu-bundle/.gpu/bin/sdxl-tigris ] && B=/tmp/gpu-bundle/.gpu
  elif [ -f "$here/.gpu/bin/sdxl-tigris" ]; then
    B="$here/.gpu"
  fi
  [ -n "$B" ] && { cat "$B/README" 2>/dev/null; }
  [ -z "$B" ] && [ "$mode" = bundle ] && echo "gpu-check: no usable bundle (.gpu.tar.xz / .gpu/)"
fi

BIN=""  # folder with sdxl-tigris, sdxl_parity_driver, libsdxl-engine.so: SDXL_BUILD_DIR for the tests
if [ -n "$B" ]; then
  engine_from="bundle ($(sed -n 's/^from \([^ ]*\) (\([0-9a-f]*\).*/\2/p' "$B/README" 2>/dev/null))"
  torch_dir=$(python3 -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')
  site=$(dirname "$torch_dir")
  ld="$B/lib:$torch_dir/lib"
  for d in "$site"/nvidia/*/lib; do [ -d "$d" ] && ld="$ld:$d"; done
  echo "LD_LIBRARY_PATH for our binaries: $ld"
  # Our binaries run through wrappers that set LD_LIBRARY_PATH for them alone: the bundle's lib/
  # (Debian's libcrypto, libcurl, ICU, ...) must not shadow the system libraries of python3.
  BIN=/tmp/gpu-bundle/run
  rm -rf "$BIN" && mkdir -p "$BIN"
  for f in "$B"/bin/*; do
    name=$(basename "$f")
    case "$name" in
      *.so) ln -s "$f" "$BIN/$name" ;;
      *) printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
           "'$ld'" "'$f'" > "$BIN/$name"
         chmod 755 "$BIN/$name" ;;
    esac
  done
  export SDXL_ENGINE_LIBRARY="$B/bin/libsdxl-engine.so"
  for f in "$B"/bin/*; do
    nf=$(LD_LIBRARY_PATH="$ld" ldd "$f" 2>&1 | grep 'not found')
    if [ -n "$nf" ]; then echo "ldd $(basename "$f"): NOT FOUND:"; echo "$nf"; else echo "ldd $(basename "$f"): all resolved"; fi
  done
elif [ "$mode" != bundle ]; then
  engine_from="cmake build ($BUILD)"
  if capped 200 cmake -S . -B "$BUILD" -G Ninja -DSDXL_WITH_TORCH=ON -DSDXL_BUILD_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=Release -DTORCH_CUDA_ARCH_LIST="9.0" > "$WORK/cmake.log" 2>&1 &&
    capped 400 ninja -C "$BUILD" -j "$(nproc)" sdxl-tigris sdxl_engine sdxl_parity_driver sdxl_load_driver \
      > "$WORK/build.log" 2>&1; then
    BIN="$here/$BUILD"
  else
    tail -20 "$WORK/cmake.log" 2>/dev/null
    grep -E "error|FAILED" "$WORK/build.log" 2>/dev/null | head -30
    echo "gpu-check: build failed (missing Debian -dev packages from deps/apt.txt? no bundle?)"
    engine_from="cmake build FAILED"
  fi
fi
if [ -n "$BIN" ]; then
  echo "sdxl-tigris version:"
  capped 60 "$BIN/sdxl-tigris" version 2>&1
  rc=$?
  [ $rc = 0 ] || { echo "sdxl-tigris version: $(verdict $rc)"; engine_from="$engine_from, version FAILED"; }
fi

# ---------------------------------------------------------------------------------------------
step "python packages"
wheels=""
if [ -n "$B" ] && ls "$B"/wheels/*.whl >/dev/null 2>&1; then
  wheels="$B/wheels"
elif ls third_party/wheels/*.whl >/dev/null 2>&1; then
  wheels="$here/third_party/wheels"
fi
if [ -n "$wheels" ]; then
  pysite="$WORK/site"
  rm -rf "$pysite" && mkdir -p "$pysite"
  declare -A whl_of=()
  for w in "$wheels"/*.whl; do
    dist=$(basename "$w" | cut -d- -f1 | tr 'A-Z-' 'a-z_')
    case "$dist" in pillow) mod=PIL ;; pyyaml) mod=yaml ;; *) mod=$dist ;; esac
    whl_of[$mod]=$w
  done
  missing=$(python3 -c 'import importlib.util as u, sys; print(" ".join(m for m in sys.argv[1:] if u.find_spec(m) is None))' "${!whl_of[@]}")
  echo "wheels in $wheels: ${!whl_of[*]}; missing here: ${missing:-none}"
  if [ -n "$missing" ]; then
    need=()
    for m in $missing; do need+=("${whl_of[$m]}"); done
    if ! capped 120 python3 -m pip install -q --no-index --no-deps --disable-pip-version-check \
         --target "$pysite" "${need[@]}"; then
      echo "pip install failed: unzipping the wheels instead"
      for w in "${need[@]}"; do python3 -m zipfile -e "$w" "$pysite"; done
    fi
    export PYTHONPATH="$pysite${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
if ! python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec("open_clip") is None)' ||
   ! capped 90 python3 -c 'import open_clip' >/dev/null 2>&1; then
  if [ -n "$B" ] && [ -f "$B/pysite/open_clip/bpe_simple_vocab_16e6.txt.gz" ]; then
    export PYTHONPATH="$B/pysite${PYTHONPATH:+:$PYTHONPATH}"
    echo "open_clip: not importable here; using the bundle's stand-in (BPE merges only)"
  else
    echo "open_clip: not importable here and no stand-in: tools/make_tiny_sdxl.py will fail"
  fi
fi
echo "PYTHONPATH=${PYTHONPATH:-}"
have_diffusers=0
if capped 120 python3 -c 'import diffusers, transformers, huggingface_hub, safetensors, requests
print("diffusers", diffusers.__version__, "transformers", transformers.__version__, "hub", huggingface_hub.__version__, "safetensors", safetensors.__version__, "requests", requests.__version__)'; then
  have_diffusers=1
else
  echo "diffusers/transformers not importable: no parity, no model, no diffusers column"
fi

# ---------------------------------------------------------------------------------------------
# The full-size model is written in the background while the parity tests run (CPU vs GPU).
model_pid=""
if [ "$have_diffusers" = 1 ]; then
  step "creating $MODEL in the background ($CONFIG, random weights)"
  if [ -f "$MODEL/model_index.json" ]; then
    echo "reusing $MODEL"
  else
    t_model=$(now)
    capped 300 python3 tools/make_tiny_sdxl.py --config "$CONFIG" "$MODEL" > "$WORK/make-model.log" 2>&1 &
    model_pid=$!
  fi
fi

if [ "$have_diffusers" = 1 ] && [ -n "$BIN" ] && [ "${GPU_CHECK_PARITY:-1}" = 1 ]; then
  step "parity on $DEV (end to end, fp32, same seed; $DEV generators on both sides)"
  SDXL_BUILD_DIR="$BIN" SDXL_PARITY_DEVICE="$DEV" capped 200 python3 -m pytest -q -rfEs \
    tests/parity/test_pipeline_parity.py -k "same_seed" -p no:cacheprovider 2>&1 | tee "$WORK/parity.log" | tail -25
  rc=${PIPESTATUS[0]}
  last=$(grep -E '[0-9]+ (passed|failed|errors?|skipped)' "$WORK/parity.log" | tail -1)
  last=$( (grep -oE '[0-9]+ (passed|failed|errors?|skipped)' <<<"$last"; grep -oE ' in [0-9.]+s' <<<"$last") |
    tr '\n' ' ' | sed 's/ *$//; s/  */ /g')
  case "$rc" in
    0) if grep -q ' passed' <<<"$last" && ! grep -qE 'skipped|failed' <<<"$last"; then parity="passed ($last)"; else parity="NOT RUN ($last)"; fi ;;
    *) parity="$(verdict "$rc") (${last:-no result line})" ;;
  esac
  echo "parity: $parity"
fi

# The staging ring's real CUDA queue (src/sdxl/staging_ring_test.cc), when the test binary is here.
if [ -n "$BIN" ] && [ -x "$BIN/sdxl_torch_test" ]; then
  step "staging ring unit tests (CUDA copy queue)"
  capped 60 "$BIN/sdxl_torch_test" --gtest_filter='StagingRing*' --gtest_brief=1 > "$WORK/ring-test.log" 2>&1
  rc=$?
  tail -6 "$WORK/ring-test.log"
  ring_test=$(verdict $rc)
  grep -q 'SKIPPED' "$WORK/ring-test.log" && ring_test="$ring_test, SKIPPED: $(grep -m1 -A1 'Skipped' "$WORK/ring-test.log" | tail -1)"
fi

if [ -n "$model_pid" ]; then
  step "waiting for the model"
  wait "$model_pid"
  rc=$?
  model_pid=""
  echo "make_tiny_sdxl.py --config $CONFIG: $(verdict $rc) after $(secs "$t_model" "$(now)") s"
  tail -3 "$WORK/make-model.log"
  [ $rc = 0 ] || model_note="model creation $(verdict $rc)"
  du -sh "$MODEL" 2>/dev/null
fi

# ---------------------------------------------------------------------------------------------
# Local files -> device memory through the cold-start loader (sdxl_load_driver: the UNet, the bulk
# of the weights), each staging path cold (files dropped from the page cache) then warm.
if [ -n "$BIN" ] && [ -x "$BIN/sdxl_load_driver" ] && [ -f "$MODEL/model_index.json" ]; then
  step "local files -> $DEV through the loader (UNet, $DTYPE)"
  modes="ring tensor"
  [ "$DEV" = cpu ] && modes="ring"  # no staging on the CPU: one path
  sums=""
  for mode in $modes; do
    for temp in --cold ""; do
      SDXL_CUDA_STAGING=$mode capped 90 "$BIN/sdxl_load_driver" "$MODEL" "$DEV" "$DTYPE" $temp \
        > "$WORK/load-$mode$temp.out" 2>&1
      rc=$?
      line=$(grep '^LOAD ' "$WORK/load-$mode$temp.out" | tail -1)
      echo "SDXL_CUDA_STAGING=$mode ${temp:-(warm)}: $(verdict $rc) ${line:-$(tail -3 "$WORK/load-$mode$temp.out")}"
      gbps=$(sed -n 's/.* gbps=\([0-9.]*\) .*/\1/p' <<<"$line")
      sums="$sums $(sed -n 's/.* checksum=\([^ ]*\).*/\1/p' <<<"$line")"
      label=warm
      [ -n "$temp" ] && label=cold
      name=$mode
      [ "$DEV" = cpu ] && name=cpu
      upload="$upload${upload:+; }$name $label ${gbps:-$(verdict $rc)}"
    done
  done
  n_sums=$(tr ' ' '\n' <<<"$sums" | grep -v '^$' | sort -u | wc -l)
  [ "$DEV" != cpu ] && upload="$upload; same weights on both paths: $([ "$n_sums" = 1 ] && echo yes || echo NO)"
  [ "$DEV" = cpu ] && upload="$upload (dry run: CPU, no staging)"
fi

if [ -n "$BIN" ] && [ -f "$MODEL/model_index.json" ]; then
  for i in 1 2; do  # the first run is the cold one (load + first image); report the second's speed
    step "sdxl-tigris generate, run $i ($DEV, $DTYPE, ${SIZE}x${SIZE}, $STEPS steps)"
    t0=$(now)
    capped 150 "$BIN/sdxl-tigris" generate --model "$MODEL" --prompt "$PROMPT" --steps "$STEPS" \
      --guidance 0 --width "$SIZE" --height "$SIZE" --seed 42 --device "$DEV" --dtype "$DTYPE" \
      --out "$WORK/ours.png" > "$WORK/ours-$i.out" 2> "$WORK/ours-$i.err"
    rc=$?
    wall=$(secs "$t0" "$(now)")
    tr '\r' '\n' < "$WORK/ours-$i.err" | grep -vE '^(step [0-9]+/[0-9]+)?$' | tail -8
    echo "run $i: $(verdict $rc), process wall time $wall s"
    [ $rc = 0 ] || { o_step="run $i $(verdict $rc)"; break; }
    loaded=$(tr '\r' '\n' < "$WORK/ours-$i.err" | grep '^loaded ' | tail -1)
    timing=$(tr '\r' '\n' < "$WORK/ours-$i.err" | grep ' total [0-9.]* s$' | tail -1)
    if [ "$i" = 1 ]; then
      o_load=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$loaded")
      o_dev=$(sed -n 's/^loaded .* on \(.*\) in [0-9.]* s$/\1/p' <<<"$loaded")
      o_first=$wall
    else
      o_step=$(sed -n 's/.*(\([0-9.]*\) s\/step).*/\1/p' <<<"$timing")
      o_total=$(sed -n 's/.*total \([0-9.]*\) s$/\1/p' <<<"$timing")
    fi
  done
fi

# `sdxl-tigris serve` on the same model: boot to READY, then sync predictions over HTTP (the
# seed's request shape at 1:1, i.e. 1024x1024), each timed by the client and by the server.
if [ -n "$BIN" ] && [ -f "$MODEL/model_index.json" ] && [ "${GPU_CHECK_SERVE:-1}" = 1 ] &&
   "$BIN/sdxl-tigris" serve --help >/dev/null 2>&1; then
  step "sdxl-tigris serve ($DEV, $DTYPE): boot to READY, 3 predictions at ${SIZE}x${SIZE}"
  capped 200 python3 - "$BIN/sdxl-tigris" "$MODEL" "$DEV" "$DTYPE" "$STEPS" "$WORK" \
    > "$WORK/serve.out" 2>&1 <<'PY'
import json, os, subprocess, sys, time, urllib.request
binary, model, dev, dtype, steps, work = sys.argv[1:7]
port_file = os.path.join(work, "serve.port")
if os.path.exists(port_file):
    os.unlink(port_file)
log = open(os.path.join(work, "serve.log"), "wb")
t0 = time.perf_counter()
proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--port-file",
                         port_file, "--model", model, "--device", dev, "--dtype", dtype],
                        stdout=log, stderr=subprocess.STDOUT)
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())
try:
    while not os.path.exists(port_file):
        assert proc.poll() is None, "serve exited"
        time.sleep(0.01)
    base = "http://127.0.0.1:" + open(port_file).read().strip()
    while True:
        h = call("GET", "/health-check")
        if h["status"] in ("READY", "SETUP_FAILED"):
            break
        time.sleep(0.05)
    ready = time.perf_counter() - t0
    print(h["setup"]["logs"])
    assert h["status"] == "READY", h
    body = {"input": {"prompt": "a photo of an astronaut riding a horse", "aspect_ratio": "1:1",
                      "num_inference_steps": int(steps), "guidance_scale": 0,
                      "output_format": "png", "seed": 42}}
    lat = []
    for i in range(3):
        t = time.perf_counter()
        r = call("POST", "/predictions", body)
        lat.append(time.perf_counter() - t)
        assert r["status"] == "succeeded", r.get("error")
        print(f"prediction {i}: client {lat[-1]:.3f} s, predict_time "
              f"{r['metrics']['predict_time']:.3f} s, engine {r['metrics']['timings']}")
    print(f"SERVE ready {ready:.1f} first {lat[0]:.2f} warm {min(lat[1:]):.2f}")
    call("POST", "/shutdown")
    proc.wait(timeout=60)
finally:
    if proc.poll() is None:
        proc.kill()
PY
  rc=$?
  tail -12 "$WORK/serve.out"
  line=$(grep '^SERVE ' "$WORK/serve.out" | tail -1)
  if [ -n "$line" ]; then
    read -r _ _ s_ready _ s_first _ s_warm <<<"$line"
  else
    s_ready=$(verdict $rc)
    tail -15 "$WORK/serve.log" 2>/dev/null
  fi
fi

if [ "$have_diffusers" = 1 ] && [ -f "$MODEL/model_index.json" ] && [ "${GPU_CHECK_DIFFUSERS:-1}" = 1 ]; then
  step "diffusers StableDiffusionXLPipeline ($DEV, $DTYPE, ${SIZE}x${SIZE}, $STEPS steps)"
  capped 180 python3 - "$MODEL" "$PROMPT" "$DEV" "$DTYPE" "$SIZE" "$STEPS" > "$WORK/diffusers.out" 2>&1 <<'PY'
import sys, time
import torch
from diffusers import StableDiffusionXLPipeline

model, prompt, dev, dtype, size, steps = sys.argv[1:7]
size, steps = int(size), int(steps)
dt = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
cuda = dev == "cuda"
def sync():
    if cuda:
        torch.cuda.synchronize()

t0 = time.perf_counter()
pipe = StableDiffusionXLPipeline.from_pretrained(model, torch_dtype=dt, add_watermarker=False).to(dev)
pipe.set_progress_bar_config(disable=True)
sync()
load = time.perf_counter() - t0
marks = {}
def pre_hook(module, args):  # the denoising loop starts with the first UNet call
    if "unet0" not in marks:
        sync()
        marks["unet0"] = time.perf_counter()
pipe.unet.register_forward_pre_hook(pre_hook)

def run():
    marks.clear()
    def cb(p, i, t, kw):
        sync()
        marks["last"] = time.perf_counter()
        return kw
    sync()
    t = time.perf_counter()
    pipe(prompt, num_inference_steps=steps, guidance_scale=0.0, width=size, height=size,
         generator=torch.Generator(dev).manual_seed(42), callback_on_step_end=cb)
    sync()
    return time.perf_counter() - t, (marks["last"] - marks["unet0"]) / steps

first, _ = run()
total, step = run()
print(f"DIFFUSERS load {load:.1f} first {load + first:.1f} total {total:.2f} step {step:.3f}")
PY
  rc=$?
  grep -vE 'FutureWarning|warnings.warn|^\s*$' "$WORK/diffusers.out" | tail -8
  line=$(grep '^DIFFUSERS ' "$WORK/diffusers.out" | tail -1)
  if [ -n "$line" ]; then
    read -r _ _ d_load _ d_first _ d_total _ d_step <<<"$line"
  else
    d_step=$(verdict $rc)
  fi
fi
[ -n "$BIN" ] && [ ! -f "$MODEL/model_index.json" ] && model_note="${model_note:-no model}: no timings"
exit 0
