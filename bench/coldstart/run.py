#!/usr/bin/env python3
"""Cold-start benchmark: bucket -> SDXL pipeline ready on the CPU, ours vs peers, same data, same
run, runs interleaved, the page cache dropped before every run (client and server read cold).

Data: the synthetic SDXL pipeline of bench/prepare (real key names and shapes, random bf16
values, ~6.9 GB at --scale 1), put into SeaweedFS on 127.0.0.1 by `prepare-model` (prefix m,
with the manifest) and by plain `cp --recursive` (prefix plain: no manifest, like a bucket the
seed's Python script filled).

  ours-cold        `sdxl-tigris pull s3://B/m --load --device cpu` into an empty cache: the
                   weights stream from the download into the engine (fp32) while the cache is
                   written; ends when the pipeline is ready
  ours-cold-bf16   the same into a bfloat16 pipeline (the stored dtype: no conversion, half
                   the memory to fill)
  ours-cold-plain  the same from the plain prefix (headers by ranged GETs, no chunk hashes)
  cp               `sdxl-tigris cp --recursive s3://B/m DIR`: pure transfer of the same bytes
  curl-ceiling     16 parallel curl processes fetching the same bytes in 64 MiB ranges to
                   /dev/null: what the server can deliver here
  seed             the seed's flow: boto3 `download_file` per object in a process pool
                   (bench/transfer/boto3_pool.py), then diffusers `from_pretrained` (float32, CPU)
  runai            Run:ai Model Streamer streaming every safetensors file into CPU tensors
  ours-warm        `pull --load` again with the cache complete (reads the cache, no download)
  diffusers-warm   diffusers `from_pretrained` of the same cached folder

Reports medians of wall s, client CPU s/GiB, peak RSS (process and tree), server CPU, and the
ratios the cold-start issue asks for. Results: bench/results/coldstart-*.{md,json}.

Memory state: on this VM (Firecracker, virtio-balloon free page reporting) memory a process frees
goes back to the host within seconds, and the next process that takes it pays the host's faults
inside the kernel's page zeroing: a float32 load right after a large process exits runs ~2x faster
than one after a pause (bench/results/thp-20261206.md). So each run starts after --settle seconds
of idle: the same state for every tool, that of a fresh VM.

Peers need `pip install diffusers boto3 runai-model-streamer runai-model-streamer-s3` (diffusers
and boto3 come with `make deps`).
Quick try:  python3 bench/coldstart/run.py --data mid --runs 1
Full run:   python3 bench/coldstart/run.py                   (6.9 GB, 3 runs; ~25 min here)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench" / "prepare"))
import make_synthetic_sdxl  # noqa: E402
from seaweedfs import SeaweedFS  # noqa: E402

_spec = importlib.util.spec_from_file_location("transfer_bench", REPO / "bench/transfer/run.py")
transfer_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(transfer_bench)
GiB, MiB, log = transfer_bench.GiB, transfer_bench.MiB, transfer_bench.log
machine, measure, tool_versions = (transfer_bench.machine, transfer_bench.measure,
                                   transfer_bench.tool_versions)

TOOLS = ("ours-cold", "ours-cold-bf16", "ours-cold-plain", "cp", "curl-ceiling", "seed", "runai", "ours-warm",
         "diffusers-warm")


def drop_caches() -> bool:
    """Writes dirty pages back and drops the page cache (needs root; False when not allowed)."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def dataset_files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", type=Path, default=REPO / "build" / "sdxl-tigris")
    ap.add_argument("--data", choices=("synthetic", "mid", "lightning"), default="synthetic",
                    help="synthetic: real SDXL shapes, 6.9 GB bf16; mid / lightning: the small "
                    "random pipelines of tools/make_tiny_sdxl.py (quick runs)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="synthetic only: 1.0 (smaller scales flatten the tensors, which no "
                    "loader accepts)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sdxl-bench-coldstart"))
    ap.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--tag", default="")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds of idle before each run, after the page cache is dropped: on a "
                    "VM with free page reporting (virtio-balloon) the memory the previous tool "
                    "freed goes back to the host meanwhile, so every tool starts from the same "
                    "state, as on a fresh VM (0: back to back, whichever tool ran before)")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    # The peers are Python packages the project's tests do not need: check them before the long
    # preparation, not when their turn comes.
    peers = {"seed": ("boto3", "diffusers"), "diffusers-warm": ("diffusers",),
             "runai": ("runai_model_streamer", "boto3")}
    missing = sorted({m for t in tools for m in peers.get(t, ())
                      if importlib.util.find_spec(m) is None})
    if missing:
        pip = {"runai_model_streamer": "runai-model-streamer runai-model-streamer-s3"}
        sys.exit(f"missing Python packages for the peers: {', '.join(missing)}; run `pip install "
                 f"{' '.join(pip.get(m, m) for m in missing)}` or leave those tools out of --tools")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    if args.data == "synthetic":
        data = work / "synthetic-sdxl"
        make_synthetic_sdxl.build(data, args.scale)
    else:
        data = work / f"tiny-{args.data}"
        if not (data / "model_index.json").exists():
            subprocess.run([sys.executable, str(REPO / "tools/make_tiny_sdxl.py"), "--config",
                            args.data, str(data)], check=True)
    files = {k: v for k, v in dataset_files(data).items() }
    nbytes = sum(files.values())
    weight_bytes = sum(v for k, v in files.items() if k.endswith(".safetensors"))
    log(f"data set: {data}: {len(files)} files, {nbytes / GiB:.2f} GiB "
        f"({weight_bytes / GiB:.2f} GiB of bf16 weights)")

    server = SeaweedFS(work / "seaweedfs")
    server.start()
    results: dict[str, list] = {t: [] for t in tools}
    notes: dict[str, str] = {}
    dropped = True
    try:
        bucket = server.new_bucket("cold")
        env = server.env()
        env.pop("MODEL_CACHE_DIR", None)
        subprocess.run([str(args.binary), "-q", "prepare-model", str(data), bucket, "--path", "m"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([str(args.binary), "-q", "cp", "--recursive", str(data), f"s3://{bucket}/plain"],
                       env=env, check=True)
        curl_tmp = work / "curl-cfg"
        curl_tmp.mkdir(exist_ok=True)
        transfer_bench.PREFIX = "m"
        warm_cache = work / "warm-cache"
        shutil.rmtree(warm_cache, ignore_errors=True)
        subprocess.run([str(args.binary), "-q", "pull", f"s3://{bucket}/m", "--cache",
                        str(warm_cache)], env=env, check=True, stdout=subprocess.DEVNULL)
        warm_dir = warm_cache / bucket / "m"
        cold_cache, dest = work / "cold-cache", work / "dest"
        for run in range(args.runs):
            for tool in tools:
                shutil.rmtree(cold_cache, ignore_errors=True)
                shutil.rmtree(dest, ignore_errors=True)
                if tool in ("ours-cold", "ours-cold-bf16", "ours-cold-plain"):
                    prefix = "plain" if tool == "ours-cold-plain" else "m"
                    cmd = [str(args.binary), "pull", f"s3://{bucket}/{prefix}", "--cache",
                           str(cold_cache), "--load", "--device", "cpu"]
                    if tool == "ours-cold-bf16":
                        cmd += ["--dtype", "bf16"]
                elif tool == "cp":
                    cmd = [str(args.binary), "-q", "cp", "--recursive", f"s3://{bucket}/m", str(dest)]
                elif tool == "curl-ceiling":
                    cmd = transfer_bench.curl_ceiling_cmd(server, bucket, files, 16, 64 * MiB,
                                                          curl_tmp)
                elif tool == "seed":
                    script = (f"{sys.executable} {REPO / 'bench/transfer/boto3_pool.py'} download "
                              f"{bucket} m {dest} && {sys.executable} {HERE / 'diffusers_load.py'} "
                              f"{dest}")
                    cmd = ["bash", "-c", script]
                elif tool == "runai":
                    cmd = [sys.executable, str(HERE / "runai_load.py"), bucket, "m"]
                elif tool == "ours-warm":
                    cmd = [str(args.binary), "pull", f"s3://{bucket}/m", "--cache", str(warm_cache),
                           "--load", "--device", "cpu"]
                else:  # diffusers-warm
                    cmd = [sys.executable, str(HERE / "diffusers_load.py"), str(warm_dir)]
                dropped = drop_caches() and dropped
                time.sleep(args.settle)
                log(f"run {run + 1}/{args.runs}: {tool}")
                r = measure(cmd, env, nbytes, server_pid=server.pid)
                log(f"  {r['wall_s']:.2f} s, {r['cpu_s_per_gib']:.2f} CPU s/GiB, peak RSS "
                    f"{r['peak_rss_mib']:.0f} MiB (tree {r['tree_peak_rss_mib']:.0f})")
                results[tool].append(r)
    finally:
        server.stop(remove_data=True)
        shutil.rmtree(work / "cold-cache", ignore_errors=True)
        shutil.rmtree(work / "dest", ignore_errors=True)

    summary = {}
    for tool, runs in results.items():
        if not runs:
            continue
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("wall_s", "cpu_s", "cpu_s_per_gib", "peak_rss_mib", "tree_peak_rss_mib")}
        server_cpu = [r["server_cpu_s"] for r in runs if r["server_cpu_s"] is not None]
        med["server_cpu_s"] = statistics.median(server_cpu) if server_cpu else None
        med["all_wall_s"] = [round(r["wall_s"], 2) for r in runs]
        summary[tool] = med

    def ratio(a: str, b: str) -> float | None:
        if a in summary and b in summary:
            return summary[a]["wall_s"] / summary[b]["wall_s"]
        return None

    fp32_mib = 2 * weight_bytes / MiB
    targets = [
        ("ours-cold / cp (load hidden under the download)", ratio("ours-cold", "cp"), "<= 1.15"),
        ("ours-cold-bf16 / cp", ratio("ours-cold-bf16", "cp"), "-"),
        ("ours-cold / curl-ceiling", ratio("ours-cold", "curl-ceiling"), "(bound)"),
        ("cp / curl-ceiling", ratio("cp", "curl-ceiling"), "(bound)"),
        ("ours-cold / seed", ratio("ours-cold", "seed"), "<= 0.3"),
        ("ours-cold / runai (tensors ready)", ratio("ours-cold", "runai"), "<= 0.5"),
        ("ours-cold-plain / ours-cold", ratio("ours-cold-plain", "ours-cold"), "-"),
        ("ours-warm / diffusers-warm", ratio("ours-warm", "diffusers-warm"), "<= 0.5"),
    ]
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "versions": tool_versions(args.binary), "bytes": nbytes, "weight_bytes": weight_bytes,
            "files": len(files), "runs": args.runs, "scale": args.scale,
            "page_cache_dropped": dropped, "settle_s": args.settle, "command": " ".join(sys.argv)}
    lines = [f"# Cold-start benchmark {meta['date']}", "",
             f"Data: {args.data} SDXL pipeline ({data.name}), {len(files)} "
             f"files, {nbytes / GiB:.2f} GiB ({weight_bytes / GiB:.2f} GiB bf16 weights), scale "
             f"{args.scale}; SeaweedFS on 127.0.0.1 sharing the machine; median of {args.runs} "
             f"runs, tools interleaved; page cache dropped before each run: {dropped}, then "
             f"{args.settle:g} s idle (freed memory back to the host, as on a fresh VM).",
             f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
             f"{meta['machine']['memory_gib']} GiB.", f"Command: `{meta['command']}`", "",
             "| tool | wall s (median) | runs | client CPU s | CPU s/GiB | server CPU s | peak RSS MiB | tree RSS MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for tool, s in summary.items():
        srv = f"{s['server_cpu_s']:.1f}" if s["server_cpu_s"] is not None else "-"
        lines.append(f"| {tool} | {s['wall_s']:.2f} | {s['all_wall_s']} | {s['cpu_s']:.1f} | "
                     f"{s['cpu_s_per_gib']:.2f} | {srv} | {s['peak_rss_mib']:.0f} | "
                     f"{s['tree_peak_rss_mib']:.0f} |")
    lines += ["", "| ratio | measured | target |", "|---|---|---|"]
    for name, value, target in targets:
        lines.append(f"| {name} | {value:.2f} | {target} |" if value is not None
                     else f"| {name} | - | {target} |")
    if "ours-cold" in summary:
        lines.append(f"| ours-cold peak RSS vs fp32 model + 512 MiB | "
                     f"{summary['ours-cold']['peak_rss_mib']:.0f} MiB vs {fp32_mib + 512:.0f} MiB | <= |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"coldstart-{stamp}{('-' + args.tag) if args.tag else ''}"
    (args.out_dir / f"{name}.md").write_text(text)
    (args.out_dir / f"{name}.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "targets": targets, "runs": results, "notes": notes},
        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
