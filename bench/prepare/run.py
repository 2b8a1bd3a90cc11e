#!/usr/bin/env python3
"""prepare-model benchmark: upload a synthetic SDXL-sized local pipeline (~6.9 GB bf16, real key
names and shapes, random values) into SeaweedFS with

  prepare-model  `sdxl-tigris -q prepare-model DIR BUCKET --path m` (selection, header checks,
                 SHA-256 + chunk hashes for the manifest, parallel multipart upload, manifest)
  boto3-pool     the seed template's method: boto3 `upload_file`, one file per process-pool task
  s5cmd          `s5cmd cp DIR/ s3://BUCKET/m/` (defaults)
  curl-ceiling   what the server ingests: -j parallel curl PUTs of the data cut in 64 MiB pieces

on the same data, in the same run, runs interleaved. Reports the median of --runs of wall s,
MiB/s, client CPU s/GiB, peak RSS (same measurement code as bench/transfer/run.py) and ratios
vs the seed method and s5cmd. Results go to bench/results/prepare-*.{md,json}.

Quick try:  python3 bench/prepare/run.py --binary build/sdxl-tigris --scale 0.05 --runs 1
Full run:   python3 bench/prepare/run.py --binary build/sdxl-tigris            (6.9 GB x 3)
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "bench" / "prepare"))
import importlib.util  # noqa: E402

import make_synthetic_sdxl  # noqa: E402
from seaweedfs import SeaweedFS  # noqa: E402

# The measurement code of the transfer benchmark (same numbers, same way).
_spec = importlib.util.spec_from_file_location("transfer_bench", REPO / "bench/transfer/run.py")
transfer_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(transfer_bench)
GiB, MiB, log = transfer_bench.GiB, transfer_bench.MiB, transfer_bench.log
machine, measure, tool_versions = (transfer_bench.machine, transfer_bench.measure,
                                   transfer_bench.tool_versions)

TOOLS = ("prepare-model", "boto3-pool", "s5cmd", "curl-ceiling")


def dataset_files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def verify_bucket(s3, bucket: str, files: dict[str, int], with_manifest: bool) -> None:
    got = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="m/"):
        for o in page.get("Contents", []):
            got[o["Key"][2:]] = o["Size"]
    want = dict(files)
    if with_manifest:
        got.pop("sdxl-tigris-manifest.json")
    if got != want:
        raise RuntimeError(f"bucket {bucket} does not hold the data set: {sorted(set(got) ^ set(want))}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", type=Path, default=REPO / "build" / "sdxl-tigris")
    ap.add_argument("--scale", type=float, default=1.0, help="scale the weights (1.0 = 6.9 GB)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--jobs", type=int, default=16, help="prepare-model -j")
    ap.add_argument("--boto3-jobs", type=int, default=0, help="process pool size (0: CPUs)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/sdxl-bench-prepare"))
    ap.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / "synthetic-sdxl"
    log(f"data set: {data}")
    make_synthetic_sdxl.build(data, args.scale)
    files = dataset_files(data)
    nbytes = sum(files.values())
    log(f"{len(files)} files, {nbytes / GiB:.2f} GiB")

    server = SeaweedFS(args.workdir / "seaweedfs")
    server.start()
    results: dict[str, list] = {t: [] for t in tools}
    try:
        s3 = server.boto3_client()
        ep = server.endpoint
        for run in range(args.runs):
            for tool in tools:
                bucket = server.new_bucket("bench")
                env = server.env(XDG_CACHE_HOME=str(args.workdir / "cache"))
                if tool == "prepare-model":
                    shutil.rmtree(args.workdir / "cache", ignore_errors=True)
                    cmd = [str(args.binary), "-q", "prepare-model", str(data), bucket, "--path", "m",
                           "-j", str(args.jobs)]
                elif tool == "boto3-pool":
                    cmd = [sys.executable, str(REPO / "bench/transfer/boto3_pool.py"), "upload",
                           str(data), bucket, "m"]
                    if args.boto3_jobs:
                        cmd += ["-j", str(args.boto3_jobs)]
                elif tool == "s5cmd":
                    cmd = ["s5cmd", "--endpoint-url", ep, "cp", str(data) + "/", f"s3://{bucket}/m/"]
                else:  # the server's upload ceiling: parallel curl PUTs of 64 MiB pieces
                    tmp = args.workdir / "curl-cfg"
                    tmp.mkdir(exist_ok=True)
                    cmd = transfer_bench.curl_put_ceiling_cmd(server, bucket, "m", data, files,
                                                              args.jobs, 64 * MiB, tmp)
                log(f"run {run + 1}/{args.runs}: {tool}")
                r = measure(cmd, env, nbytes)
                if tool != "curl-ceiling":
                    verify_bucket(s3, bucket, files, with_manifest=(tool == "prepare-model"))
                log(f"  {r['wall_s']:.1f} s, {r['mib_s']:.0f} MiB/s, {r['cpu_s_per_gib']:.2f} CPU s/GiB, "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB")
                results[tool].append(r)
                # Free the server's disk between runs.
                keys = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                        for o in p.get("Contents", [])]
                for i in range(0, len(keys), 1000):
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
                s3.delete_bucket(Bucket=bucket)
    finally:
        server.stop(remove_data=True)

    summary = {}
    for tool, runs in results.items():
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("wall_s", "mib_s", "cpu_s_per_gib", "peak_rss_mib", "tree_peak_rss_mib")}
        med["load_max"] = max(max(r["load_before"][0], r["load_after"][0]) for r in runs)
        summary[tool] = med
    for tool, med in summary.items():
        for ref in ("boto3-pool", "s5cmd"):
            if ref in summary:
                med[f"speedup_vs_{ref}"] = summary[ref]["wall_s"] / med["wall_s"]
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "versions": tool_versions(args.binary), "bytes": nbytes, "files": len(files),
            "runs": args.runs, "scale": args.scale, "command": " ".join(sys.argv)}
    lines = [f"# prepare-model upload benchmark {meta['date']}", "",
             f"Data: synthetic SDXL pipeline, {len(files)} files, {nbytes / GiB:.2f} GiB "
             f"(scale {args.scale}); SeaweedFS on 127.0.0.1; median of {args.runs} runs.",
             f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
             f"{meta['machine']['memory_gib']} GiB.", f"Command: `{meta['command']}`", "",
             "| tool | wall s | MiB/s | CPU s/GiB | peak RSS MiB | tree RSS MiB | speedup vs seed | speedup vs s5cmd | max load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tool, s in summary.items():
        lines.append(f"| {tool} | {s['wall_s']:.1f} | {s['mib_s']:.0f} | {s['cpu_s_per_gib']:.2f} | "
                     f"{s['peak_rss_mib']:.0f} | {s['tree_peak_rss_mib']:.0f} | "
                     f"{s.get('speedup_vs_boto3-pool', 0):.2f}x | {s.get('speedup_vs_s5cmd', 0):.2f}x | "
                     f"{s['load_max']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"prepare-{stamp}{('-' + args.tag) if args.tag else ''}"
    (args.out_dir / f"{name}.md").write_text(text)
    (args.out_dir / f"{name}.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                           "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
