#!/usr/bin/env bash
# GPU check for a lent H100/H200 machine (PyTorch 2.11+cu130 venv, nvcc, CMake, ninja; no network).
# One call, < 10 minutes: builds the engine against the preinstalled torch, runs the end-to-end
# parity tests on CUDA, then times the full-size SDXL architecture (random weights) at 1024x1024,
# 4 steps, guidance 0, fp16: `sdxl-tigris generate` vs diffusers. Prints one table.
#
# Usage (repository root): bash tools/gpu-check.sh [BUILD_DIR]   (default build-gpu)
# Python packages missing on the machine (diffusers, transformers, ...) are installed offline from
# wheels under third_party/wheels/ when present (put them there with
# `pip download --no-deps -d third_party/wheels diffusers==0.42.1 transformers==5.24.0 ...`).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
BUILD=${1:-build-gpu}
OUT=${OUT:-$here/out/gpu-check}
mkdir -p "$OUT"
t_start=$(date +%s)
step() { printf '\n== %s (t=%ss)\n' "$1" $(( $(date +%s) - t_start )); }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'

step "python packages"
if ! python3 -c 'import diffusers, transformers, safetensors' 2>/dev/null; then
  if ls third_party/wheels/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --find-links third_party/wheels \
      diffusers transformers safetensors tokenizers huggingface_hub pytest pillow 2>&1 | tail -3
  fi
fi
have_diffusers=1
python3 -c 'import diffusers, transformers' 2>/dev/null || {
  have_diffusers=0
  echo "diffusers/transformers missing and no wheels in third_party/wheels: skipping parity and the diffusers column"
}

step "build (LibTorch from the venv)"
jobs=$(nproc)
if ! cmake -S . -B "$BUILD" -G Ninja -DSDXL_WITH_TORCH=ON -DSDXL_BUILD_TESTS=OFF \
      -DCMAKE_BUILD_TYPE=Release -DTORCH_CUDA_ARCH_LIST="9.0" > "$OUT/cmake.log" 2>&1; then
  tail -30 "$OUT/cmake.log"
  echo "gpu-check: configure failed (see above; missing Debian -dev packages from deps/apt.txt?)"
  exit 1
fi
if ! ninja -C "$BUILD" -j "$jobs" sdxl-tigris sdxl_parity_driver > "$OUT/build.log" 2>&1; then
  grep -E "error|FAILED" "$OUT/build.log" | head -30
  echo "gpu-check: build failed"
  exit 1
fi
"$BUILD/sdxl-tigris" version

parity="skipped"
if [ "$have_diffusers" = 1 ] && python3 -c 'import pytest' 2>/dev/null; then
  step "parity on CUDA (end to end, fp32, same seed; CUDA generators on both sides)"
  if SDXL_BUILD_DIR="$here/$BUILD" SDXL_PARITY_DEVICE=cuda timeout 240 python3 -m pytest -q -x \
       tests/parity/test_pipeline_parity.py -k "same_seed" -p no:cacheprovider 2>&1 | tail -15; then
    parity="passed"
  else
    parity="FAILED"
  fi
fi

step "full-size SDXL, random weights (fp16)"
MODEL="$OUT/sdxl-full-random"
if [ ! -f "$MODEL/model_index.json" ]; then
  timeout 240 python3 tools/make_tiny_sdxl.py --config full "$MODEL" > "$OUT/make-model.log" 2>&1 ||
    { tail -5 "$OUT/make-model.log"; echo "gpu-check: could not create the full-size model"; exit 1; }
fi
PROMPT="a photo of an astronaut riding a horse"
ours_line=""
for i in 1 2; do  # first run warms CUDA/cuDNN; report the second
  ours_line=$("$BUILD/sdxl-tigris" generate --model "$MODEL" --prompt "$PROMPT" --steps 4 \
      --guidance 0 --width 1024 --height 1024 --seed 42 --device cuda --dtype fp16 \
      --out "$OUT/ours.png" 2>&1 >/dev/null | tail -1)  # the timing line (stderr)
done
echo "ours: $ours_line"
diff_line="(not run)"
if [ "$have_diffusers" = 1 ]; then
  diff_line=$(timeout 240 python3 - "$MODEL" "$PROMPT" <<'PY'
import sys, time, torch
from diffusers import StableDiffusionXLPipeline
pipe = StableDiffusionXLPipeline.from_pretrained(sys.argv[1], torch_dtype=torch.float16,
                                                 add_watermarker=False).to("cuda")
pipe.set_progress_bar_config(disable=True)
def run():
    stamps = []
    def cb(p, i, t, kw):
        torch.cuda.synchronize(); stamps.append(time.perf_counter()); return kw
    torch.cuda.synchronize(); t0 = time.perf_counter()
    pipe(sys.argv[2], num_inference_steps=4, guidance_scale=0.0, width=1024, height=1024,
         generator=torch.Generator("cuda").manual_seed(42), callback_on_step_end=cb)
    torch.cuda.synchronize()
    steps = [b - a for a, b in zip([t0] + stamps, stamps)]
    return time.perf_counter() - t0, sum(steps[1:]) / max(1, len(steps) - 1)
run()
total, step = run()
print(f"total {total:.3f} s, {step:.3f} s/step")
PY
)
fi
echo "diffusers: $diff_line"

ours_total=$(sed -n 's/.*total \([0-9.]*\) s$/\1/p' <<<"$ours_line")
ours_step=$(sed -n 's/.*(\([0-9.]*\) s\/step).*/\1/p' <<<"$ours_line")
d_total=$(sed -n 's/^total \([0-9.]*\) s.*/\1/p' <<<"$diff_line")
d_step=$(sed -n 's/.*, \([0-9.]*\) s\/step/\1/p' <<<"$diff_line")
step "summary"
printf '%-34s %-14s %-14s\n' "SDXL 1024x1024, 4 steps, fp16" "sdxl-tigris" "diffusers"
printf '%-34s %-14s %-14s\n' "seconds per step" "${ours_step:-?}" "${d_step:-?}"
printf '%-34s %-14s %-14s\n' "end to end (encode+denoise+decode)" "${ours_total:-?}" "${d_total:-?}"
printf '%-34s %-14s\n' "CUDA parity (tiny, same seed)" "$parity"
printf 'elapsed %ss\n' $(( $(date +%s) - t_start ))
