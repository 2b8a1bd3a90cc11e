#!/usr/bin/env python3
"""Transfer benchmark: sdxl-tigris `cp` vs s5cmd, aws s3 cp, the seed template's boto3 process
pool, and a curl ceiling, on an SDXL-shaped data set served by SeaweedFS over loopback.

Quick try:   python3 bench/transfer/run.py --binary build/sdxl-tigris --size-scale 0.05 --runs 1
Full run:    python3 bench/transfer/run.py --binary build/sdxl-tigris          (4 GiB, 3 runs)

For every tool and direction it reports the median of --runs runs of: wall seconds, MiB/s,
client CPU seconds per GiB (user+sys from the child's rusage, which includes the processes it
reaped), peak RSS (largest single process, from rusage) and peak RSS of the whole process tree
(sampled every 50 ms), plus ratios against s5cmd. Results go to bench/results/ as markdown and
JSON, with the machine, the tool versions, `uptime` load before/after each measurement and the
exact command line. See bench/transfer/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from seaweedfs import SeaweedFS  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30

# An SDXL pipeline in diffusers layout, roughly: UNet fp16 ~2.5 GiB, text_encoder_2 ~1.3 GiB,
# text_encoder ~0.3 GiB (VAE folded in), plus the small json/txt files. Big files scale with
# --size-scale; small files do not.
BIG_FILES = {
    "unet/diffusion_pytorch_model.fp16.safetensors": int(2.5 * GiB),
    "text_encoder_2/model.fp16.safetensors": int(1.3 * GiB),
    "text_encoder/model.fp16.safetensors": int(0.3 * GiB),
}
SMALL_FILES = {
    "model_index.json": 609,
    "scheduler/scheduler_config.json": 479,
    "unet/config.json": 1785,
    "vae/config.json": 642,
    "text_encoder/config.json": 565,
    "text_encoder_2/config.json": 575,
    "tokenizer/vocab.json": 1_059_962,
    "tokenizer/merges.txt": 524_619,
    "tokenizer/special_tokens_map.json": 472,
    "tokenizer/tokenizer_config.json": 737,
}
TOOLS = ("sdxl-tigris", "s5cmd", "aws-cli", "boto3-pool", "curl-ceiling")
PREFIX = "models/sdxl"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def make_dataset(root: Path, scale: float) -> dict[str, int]:
    """Creates (or reuses) the data set under root; returns relative path -> size."""
    files = {k: max(1, int(v * scale)) for k, v in BIG_FILES.items()}
    files.update(SMALL_FILES)
    marker = root / ".dataset.json"
    if marker.exists() and json.loads(marker.read_text()) == files:
        return files
    shutil.rmtree(root, ignore_errors=True)
    log(f"writing data set ({sum(files.values()) / GiB:.2f} GiB) to {root}")
    block = os.urandom(64 * MiB)
    for i, (rel, size) in enumerate(files.items()):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            left, n = size, 0
            while left:
                # Each 64 MiB block differs (a counter in front), so no two blocks are identical.
                chunk = (i.to_bytes(4, "little") + n.to_bytes(8, "little") + block)[:min(left, 64 * MiB)]
                f.write(chunk)
                left -= len(chunk)
                n += 1
    marker.write_text(json.dumps(files))
    return files


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants every 50 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._halt.is_set():
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(0.05)

    def stop(self) -> int:
        self._halt.set()
        self.join(timeout=2)
        return self.peak


GNU_TIME = "/usr/bin/time"  # Debian package `time`


def process_cpu_s(pid: int | None) -> float | None:
    """user+sys CPU seconds a live process has used so far (from /proc/PID/stat)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(cmd: list[str], env: dict, nbytes: int, cwd: str | None = None,
            server_pid: int | None = None) -> dict:
    """Runs cmd; wall time, CPU and peak RSS of it and the processes it reaped.

    The command runs under GNU time, whose rusage for its child is clean: a child forked
    straight from this Python process would report Python's own RSS as its peak (Linux keeps
    the pre-exec high-water mark in ru_maxrss).
    """
    load_before = loadavg()
    server_before = process_cpu_s(server_pid)
    rusage_file = tempfile.NamedTemporaryFile(prefix="bench-rusage-", delete=False)
    rusage_file.close()
    timed = [GNU_TIME, "-f", "%U %S %M", "-o", rusage_file.name, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(timed, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stderr_chunks = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    _, status, _ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    server_after = process_cpu_s(server_pid)
    proc.returncode = os.waitstatus_to_exitcode(status)
    tree_peak = sampler.stop()
    reader.join(timeout=5)
    if proc.returncode != 0:
        err = b"".join(stderr_chunks).decode(errors="replace")[-2000:]
        raise RuntimeError(f"{shlex.join(cmd)} exited {proc.returncode}:\n{err}")
    user, system, maxrss_kib = Path(rusage_file.name).read_text().split()[-3:]
    os.unlink(rusage_file.name)
    user, system = float(user), float(system)
    cpu = user + system
    server_cpu = (server_after - server_before
                  if server_before is not None and server_after is not None else None)
    return {"server_cpu_s": server_cpu,
            "server_cpu_s_per_gib": server_cpu / (nbytes / GiB) if server_cpu is not None else None,
            "wall_s": wall, "mib_s": nbytes / MiB / wall, "cpu_s": cpu,
            "cpu_s_per_gib": cpu / (nbytes / GiB), "user_s": user, "sys_s": system,
            "peak_rss_mib": int(maxrss_kib) / 1024, "tree_peak_rss_mib": tree_peak / MiB,
            "load_before": load_before, "load_after": loadavg()}


def curl_ceiling_cmd(server: SeaweedFS, bucket: str, files: dict[str, int], workers: int,
                     chunk: int, tmp: Path) -> list[str]:
    """N curl processes, each fetching its share of `chunk`-sized ranges into /dev/null."""
    client = server.boto3_client()
    ranges = []
    for rel, size in files.items():
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": f"{PREFIX}/{rel}"}, ExpiresIn=7200)
        for start in range(0, size, chunk):
            ranges.append((url, start, min(size, start + chunk) - 1))
    ranges.sort(key=lambda r: -(r[2] - r[1]))
    configs = []
    for w in range(workers):
        cfg = tmp / f"curl-{w}.cfg"
        lines = []
        for url, a, b in ranges[w::workers]:
            lines += [f'url = "{url}"', f'range = "{a}-{b}"', 'output = "/dev/null"', "next"]
        cfg.write_text("\n".join(lines[:-1]) + "\n" if lines else "")
        if lines:
            configs.append(cfg)
    # Every curl's exit status is checked (-f: an HTTP error fails it).
    script = ("pids=; " + " ".join(f"curl -sSf -K {shlex.quote(str(c))} & pids=\"$pids $!\";"
                                   for c in configs)
              + " rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc")
    return ["bash", "-c", script]


def curl_put_ceiling_cmd(server: SeaweedFS, bucket: str, prefix: str, src: Path,
                         files: dict[str, int], workers: int, chunk: int,
                         tmp: Path) -> list[str]:
    """The upload ceiling: N curl processes PUTting the data set, cut into `chunk`-sized pieces
    (split once into tmp/pieces, outside the measurement), as plain objects through presigned
    URLs: no multipart bookkeeping, no payload hashing on the client."""
    client = server.boto3_client()
    pieces_dir = tmp / "pieces"
    stamp = pieces_dir / f".done-{chunk}"
    if not stamp.exists():
        shutil.rmtree(pieces_dir, ignore_errors=True)
        pieces_dir.mkdir(parents=True)
        for i, rel in enumerate(sorted(files)):
            subprocess.run(["split", "-b", str(chunk), "-d", "-a", "4", str(src / rel),
                            str(pieces_dir / f"f{i:03d}-")], check=True)
        stamp.write_text("")
    pieces = sorted((p for p in pieces_dir.iterdir() if not p.name.startswith(".")),
                    key=lambda p: -p.stat().st_size)
    configs = []
    for w in range(workers):
        lines = []
        for piece in pieces[w::workers]:
            url = client.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": f"{prefix}/{piece.name}"},
                ExpiresIn=7200)
            lines += [f'url = "{url}"', f'upload-file = "{piece}"', 'output = "/dev/null"', "next"]
        if lines:
            cfg = tmp / f"curl-put-{w}.cfg"
            cfg.write_text("\n".join(lines[:-1]) + "\n")
            configs.append(cfg)
    script = ("pids=; " + " ".join(f"curl -sSf -K {shlex.quote(str(c))} & pids=\"$pids $!\";"
                                   for c in configs)
              + " rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc")
    return ["bash", "-c", script]


def verify_tree(dest: Path, files: dict[str, int], full: bool, src: Path) -> None:
    for rel, size in files.items():
        p = dest / rel
        if not p.is_file() or p.stat().st_size != size:
            raise RuntimeError(f"download check failed: {p} missing or wrong size")
    extra = {q.relative_to(dest).as_posix() for q in dest.rglob("*") if q.is_file()} - set(files)
    if extra:
        raise RuntimeError(f"download left extra files: {sorted(extra)[:5]}")
    if full:
        for rel in files:
            if subprocess.run(["cmp", "-s", str(src / rel), str(dest / rel)]).returncode != 0:
                raise RuntimeError(f"download content differs: {rel}")


def verify_bucket(server: SeaweedFS, bucket: str, files: dict[str, int]) -> None:
    client = server.boto3_client()
    got = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX + "/"):
        for o in page.get("Contents", []):
            got[o["Key"][len(PREFIX) + 1:]] = o["Size"]
    if got != files:
        raise RuntimeError(f"upload check failed: bucket has {len(got)} objects, sizes differ: "
                           f"{sorted(set(got.items()) ^ set(files.items()))[:4]}")
    if client.list_multipart_uploads(Bucket=bucket).get("Uploads"):
        raise RuntimeError("upload left open multipart uploads")


def drop_bucket(server: SeaweedFS, bucket: str) -> None:
    client = server.boto3_client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


def tool_versions(binary: Path) -> dict[str, str]:
    def first_line(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return f"unavailable ({e})"

    import boto3

    return {"sdxl-tigris": first_line([str(binary), "version"]),
            "s5cmd": first_line(["s5cmd", "version"]), "aws-cli": first_line(["aws", "--version"]),
            "boto3": boto3.__version__, "curl": first_line(["curl", "--version"]),
            "seaweedfs": first_line(["weed", "version"]), "python": platform.python_version()}


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / GiB, 1),
            "kernel": platform.release(), "hostname": platform.node(),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(REPO / "build" / "sdxl-tigris"))
    ap.add_argument("--size-scale", type=float, default=1.0,
                    help="scale the three big files (1.0 = ~4.1 GiB total)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    ap.add_argument("--directions", default="download,upload")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "sdxl-bench-transfer"),
                    help="data set, downloads and the SeaweedFS data live here")
    ap.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    ap.add_argument("--tag", default="", help="suffix for the result file names")
    ap.add_argument("--ours-args", default="", help="extra flags for `sdxl-tigris cp`")
    ap.add_argument("--curl-workers", type=int, default=16)
    ap.add_argument("--curl-chunk-mib", type=int, default=64)
    ap.add_argument("--boto3-jobs", type=int, default=None, help="pool size (default: CPUs)")
    ap.add_argument("--no-verify", action="store_true", help="skip the byte-for-byte check of "
                    "each tool's first download")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if t not in TOOLS:
            ap.error(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    directions = [d for d in args.directions.split(",") if d]
    binary = Path(args.binary).resolve()
    if not Path(GNU_TIME).is_file():
        ap.error(f"{GNU_TIME} not found: apt-get install time (listed in deps/apt.txt)")
    if "sdxl-tigris" in tools and not binary.is_file():
        ap.error(f"{binary} not found: build it (make build) or pass --binary")

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / "dataset"
    files = make_dataset(src, args.size_scale)
    nbytes = sum(files.values())
    dest = work / "download"

    server = SeaweedFS(work / "seaweedfs")
    shutil.rmtree(work / "seaweedfs" / "data", ignore_errors=True)
    server.start()
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        env = server.env()
        client = server.boto3_client()
        bucket = "bench-source"
        client.create_bucket(Bucket=bucket)
        if "download" in directions:
            log("seeding the source bucket with boto3")
            for rel in files:
                client.upload_file(str(src / rel), bucket, f"{PREFIX}/{rel}")
        ep = server.endpoint
        ours_extra = shlex.split(args.ours_args)

        def download_cmd(tool: str) -> list[str]:
            if tool == "sdxl-tigris":
                return [str(binary), "--quiet", "cp", "--recursive", *ours_extra,
                        f"s3://{bucket}/{PREFIX}", str(dest)]
            if tool == "s5cmd":
                return ["s5cmd", "--endpoint-url", ep, "cp", f"s3://{bucket}/{PREFIX}/*",
                        str(dest) + "/"]
            if tool == "aws-cli":
                return ["aws", "--endpoint-url", ep, "s3", "cp", "--recursive", "--only-show-errors",
                        f"s3://{bucket}/{PREFIX}", str(dest)]
            if tool == "boto3-pool":
                j = ["-j", str(args.boto3_jobs)] if args.boto3_jobs else []
                return [sys.executable, str(REPO / "bench/transfer/boto3_pool.py"), "download",
                        bucket, PREFIX, str(dest), *j]
            raise AssertionError(tool)

        def upload_cmd(tool: str, target: str) -> list[str]:
            if tool == "sdxl-tigris":
                return [str(binary), "--quiet", "cp", "--recursive", *ours_extra, str(src),
                        f"s3://{target}/{PREFIX}"]
            if tool == "s5cmd":
                return ["s5cmd", "--endpoint-url", ep, "cp", str(src) + "/",
                        f"s3://{target}/{PREFIX}/"]
            if tool == "aws-cli":
                return ["aws", "--endpoint-url", ep, "s3", "cp", "--recursive", "--only-show-errors",
                        str(src), f"s3://{target}/{PREFIX}"]
            if tool == "boto3-pool":
                j = ["-j", str(args.boto3_jobs)] if args.boto3_jobs else []
                return [sys.executable, str(REPO / "bench/transfer/boto3_pool.py"), "upload",
                        str(src), target, PREFIX, *j]
            raise AssertionError(tool)

        # s5cmd would also copy the marker file; keep it out of the source tree while uploading.
        marker = src / ".dataset.json"
        marker_text = marker.read_text()
        commands: dict[str, dict[str, str]] = {}
        failures: list[dict] = []  # a failed run is recorded and reported, not fatal
        for run in range(args.runs):
            for direction in directions:
                for tool in tools:
                    label = f"run {run + 1}/{args.runs} {direction:8s} {tool:12s}"
                    if direction == "download":
                        shutil.rmtree(dest, ignore_errors=True)
                        if tool == "curl-ceiling":
                            tmp = work / "curl-cfg"
                            tmp.mkdir(exist_ok=True)
                            cmd = curl_ceiling_cmd(server, bucket, files, args.curl_workers,
                                                   args.curl_chunk_mib * MiB, tmp)
                        else:
                            dest.mkdir(parents=True)
                            cmd = download_cmd(tool)
                        try:
                            m = measure(cmd, env, nbytes, server_pid=server.pid)
                            if tool != "curl-ceiling":
                                verify_tree(dest, files, full=(run == 0 and not args.no_verify),
                                            src=src)
                        except RuntimeError as e:
                            m = None
                            failures.append({"run": run + 1, "direction": direction,
                                             "tool": tool, "error": str(e)[-1500:]})
                        shutil.rmtree(dest, ignore_errors=True)
                    else:
                        target = f"bench-up-{tool}-{run}".replace("_", "-")
                        client.create_bucket(Bucket=target)
                        if tool == "curl-ceiling":
                            tmp = work / "curl-cfg"
                            tmp.mkdir(exist_ok=True)
                            cmd = curl_put_ceiling_cmd(server, target, PREFIX, src, files,
                                                       args.curl_workers,
                                                       args.curl_chunk_mib * MiB, tmp)
                        else:
                            cmd = upload_cmd(tool, target)
                        marker.unlink()
                        try:
                            m = measure(cmd, env, nbytes, server_pid=server.pid)
                            if tool != "curl-ceiling":
                                verify_bucket(server, target, files)
                        except RuntimeError as e:
                            m = None
                            failures.append({"run": run + 1, "direction": direction,
                                             "tool": tool, "error": str(e)[-1500:]})
                        finally:
                            marker.write_text(marker_text)
                        drop_bucket(server, target)
                    commands.setdefault(direction, {})[tool] = (
                        shlex.join(cmd) if tool != "curl-ceiling" else
                        (f"{args.curl_workers} x curl -K <ranges of {args.curl_chunk_mib} MiB> "
                         "(-o /dev/null)" if direction == "download" else
                         f"{args.curl_workers} x curl -K <PUT of {args.curl_chunk_mib} MiB pieces "
                         "via presigned URLs>"))
                    if m is None:
                        log(f"{label} FAILED: {failures[-1]['error'].splitlines()[-1]}")
                        continue
                    results.setdefault(direction, {}).setdefault(tool, []).append(m)
                    log(f"{label} {m['wall_s']:7.2f} s {m['mib_s']:8.1f} MiB/s "
                        f"cpu {m['cpu_s_per_gib']:6.2f} s/GiB rss {m['peak_rss_mib']:7.1f} MiB "
                        f"load {m['load_before'][0]:.2f}")
    finally:
        server.stop(remove_data=True)

    summary = summarize(results)
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": shlex.join([sys.executable, *sys.argv]), "machine": machine(),
            "versions": tool_versions(binary), "dataset_bytes": nbytes, "files": files,
            "size_scale": args.size_scale, "runs": args.runs, "commands": commands,
            "server": "SeaweedFS weed mini on 127.0.0.1 (same machine, shares the CPUs)",
            "failures": failures}
    table = render(summary, meta)
    print(table)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"transfer-{datetime.now(timezone.utc):%Y%m%d-%H%M}-scale{args.size_scale:g}{args.tag}"
    (out / f"{stem}.md").write_text(table)
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                  "runs": results}, indent=2))
    log(f"wrote {out / stem}.md and .json")
    return 0


def summarize(results: dict) -> dict:
    summary: dict[str, dict[str, dict]] = {}
    for direction, per_tool in results.items():
        for tool, runs in per_tool.items():
            med = {k: statistics.median(r[k] for r in runs)
                   for k in ("wall_s", "mib_s", "cpu_s_per_gib", "peak_rss_mib",
                             "tree_peak_rss_mib")}
            server = [r["server_cpu_s_per_gib"] for r in runs
                      if r.get("server_cpu_s_per_gib") is not None]
            med["server_cpu_s_per_gib"] = statistics.median(server) if server else None
            med["load_max"] = max(max(r["load_before"][0], r["load_after"][0]) for r in runs)
            med["n"] = len(runs)
            summary.setdefault(direction, {})[tool] = med
        base = summary[direction].get("s5cmd")
        for tool, med in summary[direction].items():
            med["wall_vs_s5cmd"] = med["wall_s"] / base["wall_s"] if base else None
            med["cpu_vs_s5cmd"] = (med["cpu_s_per_gib"] / base["cpu_s_per_gib"]
                                   if base and base["cpu_s_per_gib"] else None)
    return summary


def render(summary: dict, meta: dict) -> str:
    m = meta["machine"]
    lines = [f"# Transfer benchmark ({meta['date']})", "",
             f"- command: `{meta['command']}`",
             f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, kernel "
             f"{m['kernel']}; `uptime` at the end: {m['uptime']}",
             f"- data set: {len(meta['files'])} files, {meta['dataset_bytes'] / GiB:.2f} GiB "
             f"(size scale {meta['size_scale']}); median of {meta['runs']} run(s)",
             f"- server: {meta['server']}; files are in the page cache (loopback, no disk I/O "
             "bound), so this measures client efficiency, not a network",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), ""]
    for direction, per_tool in summary.items():
        lines += [f"## {direction}", "",
                  "| tool | runs | wall s | MiB/s | CPU s/GiB | server CPU s/GiB | "
                  "peak RSS MiB (largest proc) | tree RSS MiB | wall ÷ s5cmd | CPU ÷ s5cmd | "
                  "max load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for tool, s in per_tool.items():
            ratio = lambda v: f"{v:.2f}" if v is not None else "–"  # noqa: E731
            lines.append(f"| {tool} | {s['n']} | {s['wall_s']:.2f} | {s['mib_s']:.0f} | "
                         f"{s['cpu_s_per_gib']:.2f} | {ratio(s.get('server_cpu_s_per_gib'))} | "
                         f"{s['peak_rss_mib']:.0f} | "
                         f"{s['tree_peak_rss_mib']:.0f} | {ratio(s['wall_vs_s5cmd'])} | "
                         f"{ratio(s['cpu_vs_s5cmd'])} | {s['load_max']:.2f} |")
        lines.append("")
    if meta["failures"]:
        lines += ["Failed runs (excluded from the medians):", ""]
        for f in meta["failures"]:
            last = f["error"].strip().splitlines()[-1] if f["error"].strip() else "?"
            lines.append(f"- run {f['run']} {f['direction']} {f['tool']}: {last}")
        lines.append("")
    lines += ["Commands:", ""]
    for direction, cmds in meta["commands"].items():
        for tool, cmd in cmds.items():
            lines.append(f"- {direction} {tool}: `{cmd}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
