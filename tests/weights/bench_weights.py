#!/usr/bin/env python3
"""Benchmark: weights_tool convert / manifest vs the Python stack, on one synthetic F32 file.

  SDXL_BUILD_DIR=build python3 tests/weights/bench_weights.py [--gib 2] [--dir /tmp/x]

Prints wall seconds and peak RSS (from /usr/bin/time) for:
  - F32 -> BF16 conversion: weights_tool convert  vs  safetensors.torch load_file + .to() + save_file
  - manifest (SHA-256 + per-8-MiB XXH3 in one pass): weights_tool manifest  vs  sha256sum
Files are in the page cache (just written), so this measures CPU cost, not disk speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PY_CONVERT = """
import sys, torch
from safetensors.torch import load_file, save_file
t = load_file(sys.argv[1])
save_file({k: v.to(torch.bfloat16) for k, v in t.items()}, sys.argv[2])
"""


def timed(cmd) -> tuple[float, float, float]:
    """(wall seconds, user+sys CPU seconds, peak RSS MiB) of one run."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *map(str, cmd)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{cmd} failed: {out.stderr}")
    wall, user, system, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(rss_kb) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    tool = Path(os.environ.get("SDXL_BUILD_DIR", REPO / "build")) / "weights_tool"
    work = Path(args.dir or tempfile.mkdtemp(prefix="sdxl_weights_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "model" / "f32.safetensors"
    src.parent.mkdir(exist_ok=True)
    import torch
    from safetensors.torch import save_file

    n_tensors = 32
    per = int(args.gib * (1 << 30) / 4 / n_tensors)
    g = torch.Generator().manual_seed(0)
    save_file({f"layer{i}.weight": torch.randn(per, generator=g) for i in range(n_tensors)},
              str(src))
    size_gib = src.stat().st_size / (1 << 30)
    print(f"input: {src} ({size_gib:.2f} GiB F32, {n_tensors} tensors), nproc={os.cpu_count()}")

    rows = [
        ("convert F32->BF16", "weights_tool",
         timed([tool, "convert", src, work / "ours_bf16.safetensors", "BF16"])),
        ("convert F32->BF16", "python safetensors+torch",
         timed([sys.executable, "-c", PY_CONVERT, src, work / "py_bf16.safetensors"])),
        ("manifest (sha256+xxh3)", "weights_tool", timed([tool, "manifest", src.parent])),
        ("sha256 only", "openssl dgst -sha256", timed(["openssl", "dgst", "-sha256", src])),
        ("sha256 only", "sha256sum", timed(["sha256sum", src])),
    ]
    same = (work / "ours_bf16.safetensors").read_bytes() == (work / "py_bf16.safetensors").read_bytes()

    print(f"{'task':24} {'tool':26} {'wall s':>7} {'CPU s/GiB':>9} {'peak RSS MiB':>12}")
    for task, name, (w, cpu, r) in rows:
        print(f"{task:24} {name:26} {w:7.2f} {cpu / size_gib:9.2f} {r:12.0f}")
    print(f"converted files byte-identical to Python's: {same}")
    if not args.dir:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
