#!/usr/bin/env python3
"""CPU inference benchmark: `sdxl-tigris generate` vs diffusers, same torch, config and seed.

For each config (tiny = the "lightning" test pipeline, mid = SDXL's block structure at reduced
width) both sides run in their own process, one after the other, `--repeats` times; we report the
median seconds per denoising step, the end-to-end generation time (text encoding + denoising +
VAE decode, model loading excluded), the load time, and the peak RSS of the process
(getrusage of the child). Results: bench/results/inference-cpu.{json,md}.

Usage: python3 bench/inference/run.py --binary build/sdxl-tigris [--configs tiny,mid]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = {  # name: (make_tiny_sdxl config, width, height, steps, guidance)
    "tiny": ("lightning", 128, 128, 4, 0.0),
    "mid": ("mid", 512, 512, 4, 0.0),
}
PROMPT = "a watercolor painting of a lighthouse at dawn"

DIFFUSERS_SCRIPT = r"""
import json, sys, time, torch
from diffusers import StableDiffusionXLPipeline
model, w, h, steps, guidance, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
t0 = time.perf_counter()
pipe = StableDiffusionXLPipeline.from_pretrained(model, torch_dtype=torch.float32, add_watermarker=False)
pipe.set_progress_bar_config(disable=True)
load = time.perf_counter() - t0
stamps = []
def cb(p, i, t, kw):
    stamps.append(time.perf_counter()); return kw
with torch.inference_mode():
    t0 = time.perf_counter()
    pipe(sys.argv[7], num_inference_steps=steps, guidance_scale=guidance, width=w, height=h,
         generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=cb)
    total = time.perf_counter() - t0
steps_s = [b - a for a, b in zip(stamps, stamps[1:])]
import statistics
print(json.dumps({"load_s": load, "total_s": total, "step_s": statistics.median(steps_s) if steps_s else total}))
"""


def peak_rss_run(cmd: list[str]) -> tuple[str, str, float]:
    # Use a fresh `python -c` wrapper so RUSAGE_CHILDREN only sees this one child.
    wrapper = ("import resource, subprocess, sys, json;"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr);"
               "sys.stderr.write('\\nPEAK_RSS_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
               "sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"PEAK_RSS_KIB=(\d+)", proc.stderr).group(1)) / 1024.0
    return proc.stdout, proc.stderr, rss


def ensure_model(config: str, cache: Path) -> Path:
    out = cache / config
    if not (out / "model_index.json").exists():
        subprocess.run([sys.executable, str(REPO / "tools" / "make_tiny_sdxl.py"), "--config", config,
                        str(out)], check=True, capture_output=True)
    return out


def bench_ours(binary: Path, model: Path, w: int, h: int, steps: int, g: float, seed: int) -> dict:
    out, err, rss = peak_rss_run([str(binary), "generate", "--model", str(model), "--prompt", PROMPT,
                                  "--width", str(w), "--height", str(h), "--steps", str(steps),
                                  "--guidance", str(g), "--seed", str(seed), "--device", "cpu",
                                  "--out", "/tmp/sdxl-bench-ours.png"])
    load = float(re.search(r"in ([\d.]+) s\n", err).group(1))
    m = re.search(r"denoise ([\d.]+) s \(([\d.]+) s/step\), decode ([\d.]+) s, total ([\d.]+) s", err)
    return {"load_s": load, "step_s": float(m.group(2)), "total_s": float(m.group(4)), "rss_mib": rss}


def bench_diffusers(model: Path, w: int, h: int, steps: int, g: float, seed: int) -> dict:
    out, err, rss = peak_rss_run([sys.executable, "-c", DIFFUSERS_SCRIPT, str(model), str(w), str(h),
                                  str(steps), str(g), str(seed), PROMPT])
    r = json.loads(out.strip().splitlines()[-1])
    r["rss_mib"] = rss
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", type=Path, default=REPO / "build" / "sdxl-tigris")
    ap.add_argument("--configs", default="tiny,mid")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=REPO / "out" / "bench-models")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args()
    import torch

    results = {"machine": {"cpu": platform.processor() or platform.machine(),
                           "cores": os.cpu_count(), "torch": torch.__version__,
                           "torch_threads": torch.get_num_threads(),
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
               "runs": {}}
    for name in args.configs.split(","):
        config, w, h, steps, g = CONFIGS[name]
        model = ensure_model(config, args.cache)
        rows = {"ours": [], "diffusers": []}
        for i in range(args.repeats):  # alternate sides to spread any machine noise
            rows["ours"].append(bench_ours(args.binary, model, w, h, steps, g, 42))
            rows["diffusers"].append(bench_diffusers(model, w, h, steps, g, 42))
        summary = {}
        for side, rs in rows.items():
            summary[side] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        summary["ratio_step"] = summary["ours"]["step_s"] / summary["diffusers"]["step_s"]
        summary["ratio_total"] = summary["ours"]["total_s"] / summary["diffusers"]["total_s"]
        summary["setup"] = {"config": config, "width": w, "height": h, "steps": steps, "guidance": g}
        results["runs"][name] = summary
        print(f"{name}: ours {summary['ours']}  diffusers {summary['diffusers']}  "
              f"step ratio {summary['ratio_step']:.2f}  total ratio {summary['ratio_total']:.2f}",
              flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "inference-cpu.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# CPU inference: sdxl-tigris vs diffusers ({results['machine']['date']})", "",
             f"Machine: {results['machine']['cores']} cores, torch {results['machine']['torch']} "
             f"({results['machine']['torch_threads']} threads); medians of {args.repeats} runs; fp32; "
             "same seed, same pipeline folder. Command: `python3 bench/inference/run.py --binary "
             "build/sdxl-tigris`.", "",
             "| config | size, steps | side | s/step | end-to-end s | load s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for name, s in results["runs"].items():
        st = s["setup"]
        for side in ("ours", "diffusers"):
            r = s[side]
            lines.append(f"| {name} | {st['width']}x{st['height']}, {st['steps']} | {side} | "
                         f"{r['step_s']:.3f} | {r['total_s']:.3f} | {r['load_s']:.2f} | "
                         f"{r['rss_mib']:.0f} |")
        lines.append(f"| {name} | | ratio ours/diffusers | {s['ratio_step']:.2f} | "
                     f"{s['ratio_total']:.2f} | | |")
    (args.results / "inference-cpu.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.results / 'inference-cpu.md'}")


if __name__ == "__main__":
    main()
