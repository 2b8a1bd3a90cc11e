#!/usr/bin/env python3
"""CPU inference benchmark: `sdxl-tigris generate` vs diffusers, same torch, config and seed.

For each config (tiny = the "lightning" test pipeline, mid = SDXL's block structure at reduced
width) both sides run in their own process, alternately (the side that goes first swaps every
repeat), `--repeats` times; we report medians of:
  * s/step: denoising time / steps, on both sides measured the same way: from the start of the
    first UNet call to the end of the last scheduler step (ours: the `denoise` time it prints;
    diffusers: a wrapper on unet.forward and callback_on_step_end), so the first step's warm-up
    counts on both sides;
  * end-to-end: text encoding + denoising + VAE decode (model loading excluded);
  * gen CPU s: CPU time (all threads) of that generation; less sensitive than wall time to other
    processes on a shared machine (ours: the process's CPU time at exit minus at the end of
    loading, read from /proc when the "loaded" line appears; diffusers: time.process_time());
  * load time and peak RSS of the process (wait4 rusage).
The load average before and after the run is recorded. Results: bench/results/inference-cpu.*

Usage: python3 bench/inference/run.py --binary build/sdxl-tigris [--configs tiny,mid] [--repeats N]
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
import threading
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
stamps, unet_start = [], []
unet_forward = pipe.unet.forward
def timed_unet(*a, **k):
    if not unet_start: unet_start.append(time.perf_counter())
    return unet_forward(*a, **k)
pipe.unet.forward = timed_unet
def cb(p, i, t, kw):
    stamps.append(time.perf_counter()); return kw
with torch.inference_mode():
    t0, c0 = time.perf_counter(), time.process_time()
    pipe(sys.argv[7], num_inference_steps=steps, guidance_scale=guidance, width=w, height=h,
         generator=torch.Generator("cpu").manual_seed(seed), callback_on_step_end=cb)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
denoise = stamps[-1] - unet_start[0]
print(json.dumps({"load_s": load, "total_s": total, "step_s": denoise / steps, "cpu_s": cpu}))
"""


def cpu_seconds_of(pid: int) -> float:
    """utime + stime of a running process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(cmd: list[str], mark: str | None = None) -> tuple[str, str, float, float, float]:
    """Runs cmd; returns stdout, stderr, peak RSS MiB, total CPU s (wait4 rusage of this child
    only), and the child's CPU s when its first stderr line starting with `mark` appeared."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    drain = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    drain.start()
    err, cpu_at_mark = [], 0.0
    for line in proc.stderr:
        err.append(line)
        if mark and not cpu_at_mark and line.startswith(mark):
            cpu_at_mark = cpu_seconds_of(proc.pid)
    drain.join()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{''.join(err)[-2000:]}")
    return (out[0], "".join(err), usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime,
            cpu_at_mark)


def ensure_model(config: str, cache: Path) -> Path:
    out = cache / config
    if not (out / "model_index.json").exists():
        subprocess.run([sys.executable, str(REPO / "tools" / "make_tiny_sdxl.py"), "--config", config,
                        str(out)], check=True, capture_output=True)
    return out


def bench_ours(binary: Path, model: Path, w: int, h: int, steps: int, g: float, seed: int) -> dict:
    out, err, rss, cpu, cpu_loaded = run_child(
        [str(binary), "generate", "--model", str(model), "--prompt", PROMPT, "--width", str(w),
         "--height", str(h), "--steps", str(steps), "--guidance", str(g), "--seed", str(seed),
         "--device", "cpu", "--out", "/tmp/sdxl-bench-ours.png"], mark="loaded ")
    load = float(re.search(r"in ([\d.]+) s\n", err).group(1))
    m = re.search(r"denoise ([\d.]+) s \(([\d.]+) s/step\), decode ([\d.]+) s, total ([\d.]+) s", err)
    # denoise / steps, as printed; cpu: from the end of loading to exit (+ PNG encoding, ~0.1 s).
    return {"load_s": load, "step_s": float(m.group(1)) / steps, "total_s": float(m.group(4)),
            "cpu_s": cpu - cpu_loaded, "rss_mib": rss}


def bench_diffusers(model: Path, w: int, h: int, steps: int, g: float, seed: int) -> dict:
    out, err, rss, _, _ = run_child([sys.executable, "-c", DIFFUSERS_SCRIPT, str(model), str(w),
                                     str(h), str(steps), str(g), str(seed), PROMPT])
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

    command = "python3 bench/inference/run.py " + " ".join(sys.argv[1:])
    results = {"machine": {"cpu": platform.processor() or platform.machine(),
                           "cores": os.cpu_count(), "torch": torch.__version__,
                           "torch_threads": torch.get_num_threads(),
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "loadavg_before": os.getloadavg()},
               "command": command, "runs": {}}
    for name in args.configs.split(","):
        config, w, h, steps, g = CONFIGS[name]
        model = ensure_model(config, args.cache)
        rows = {"ours": [], "diffusers": []}
        for i in range(args.repeats):  # alternate sides, swapping who goes first, to spread noise
            order = ("ours", "diffusers") if i % 2 == 0 else ("diffusers", "ours")
            for side in order:
                r = (bench_ours(args.binary, model, w, h, steps, g, 42) if side == "ours" else
                     bench_diffusers(model, w, h, steps, g, 42))
                r["loadavg_1m"] = os.getloadavg()[0]
                rows[side].append(r)
                print(f"{name} {side} #{i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()),
                      flush=True)
        summary = {"raw": rows}
        for side, rs in rows.items():
            summary[side] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        for key in ("step", "total", "cpu"):
            summary[f"ratio_{key}"] = summary["ours"][f"{key}_s"] / summary["diffusers"][f"{key}_s"]
        summary["setup"] = {"config": config, "width": w, "height": h, "steps": steps, "guidance": g}
        results["runs"][name] = summary
        print(f"{name}: step ratio {summary['ratio_step']:.2f}  total ratio "
              f"{summary['ratio_total']:.2f}  cpu ratio {summary['ratio_cpu']:.2f}", flush=True)
    results["machine"]["loadavg_after"] = os.getloadavg()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "inference-cpu.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    load = lambda t: "/".join(f"{x:.1f}" for x in t)  # noqa: E731
    lines = [f"# CPU inference: sdxl-tigris vs diffusers ({m['date']})", "",
             f"Machine: {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads); "
             f"medians of {args.repeats} alternating runs; fp32; same seed, same pipeline folder. "
             f"Load average (1/5/15 min) before {load(m['loadavg_before'])}, after "
             f"{load(m['loadavg_after'])}. Command: `{command}`.", "",
             "s/step = denoising time / steps on both sides (first step included); end-to-end = "
             "text encoding + denoising + VAE decode; gen CPU = CPU seconds (all threads) of that "
             "generation; load and peak RSS are for the whole process.", "",
             "| config | size, steps | side | s/step | end-to-end s | gen CPU s | load s | "
             "peak RSS MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in results["runs"].items():
        st = s["setup"]
        for side in ("ours", "diffusers"):
            r = s[side]
            lines.append(f"| {name} | {st['width']}x{st['height']}, {st['steps']} | {side} | "
                         f"{r['step_s']:.3f} | {r['total_s']:.3f} | {r['cpu_s']:.2f} | "
                         f"{r['load_s']:.2f} | {r['rss_mib']:.0f} |")
        lines.append(f"| {name} | | ratio ours/diffusers | {s['ratio_step']:.2f} | "
                     f"{s['ratio_total']:.2f} | {s['ratio_cpu']:.2f} | | |")
    (args.results / "inference-cpu.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.results / 'inference-cpu.md'}")


if __name__ == "__main__":
    main()
