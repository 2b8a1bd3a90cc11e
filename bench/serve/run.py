#!/usr/bin/env python3
"""Serving benchmark: `sdxl-tigris serve` vs coglet running the seed's predictor on diffusers.

Both servers boot from the same SeaweedFS bucket (127.0.0.1, the model put there by
`prepare-model`), both upload every image to the same output bucket and answer with a presigned
GET URL, as the seed template does. Per config (tiny = the "lightning" test pipeline, mid = SDXL's
block structure at reduced width; fp32 on the CPU; 4 steps; 1:1, webp 80, fixed seed):

  boot      spawn -> /health-check READY with an empty model cache: ours streams the bucket
            into the engine (`serve` with MODEL_BUCKET_NAME/MODEL_PATH); the peer runs the
            template's setup (boto3 list + download_file in a process pool, then diffusers
            from_pretrained) inside coglet
  predict   N sequential sync POST /predictions with the seed's example body, the two servers
            alternating request by request (drift and noise hit both alike); client wall time
            per prediction, p50/p99; for ours also the engine's own time (the prediction's
            metrics.timings.generate_s) so that server overhead = wall - engine time covers
            HTTP + validation + image encoding + upload + presign
  check     every returned URL is fetched and must be an image of the right format

Results: bench/results/serve-<stamp>.{md,json}. The issue's target: ours <= 0.7x the peer's wall
time per prediction.

Usage: python3 bench/serve/run.py --binary build/sdxl-tigris [--configs tiny,mid]
           [--count-tiny 200] [--count-mid 20]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO / "tools"))
from seaweedfs import SeaweedFS  # noqa: E402

CONFIGS = {"tiny": ("lightning", 128), "mid": ("mid", 512)}  # make_tiny_sdxl config, long side
BODY = {"input": {"prompt": "A girl smiling", "aspect_ratio": "1:1", "guidance_scale": 0.0,
                  "num_inference_steps": 4, "max_sequence_length": 512, "output_format": "webp",
                  "output_quality": 80, "num_outputs": 1, "seed": 1234}}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, timeout=600):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict, port: int, log_path: Path, cwd=None):
        self.name, self.port, self.log_path = name, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.t0 = time.perf_counter()
        with open(log_path, "wb") as f:
            self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_ready(self, timeout: float) -> float:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, body = http("GET", self.url + "/health-check", timeout=2)
                state = json.loads(body).get("status")
                if state == "READY":
                    return time.perf_counter() - self.t0
                if state == "SETUP_FAILED":
                    raise RuntimeError(f"{self.name} setup failed: {body[:2000]!r}")
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError, OSError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not READY after {timeout} s:\n"
                           f"{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


BUSY_RETRIES: dict[str, int] = {}


def predict(server: Server) -> tuple[float, dict]:
    """One sync prediction; the wall time of the attempt that ran. coglet sometimes answers the
    next request 409 "all prediction slots busy" for a moment after it answered the previous one
    (its slot is released after the response); such a request is sent again 10 ms later and
    counted in BUSY_RETRIES, not timed."""
    for _ in range(500):
        t0 = time.perf_counter()
        status, body = http("POST", server.url + "/predictions", BODY)
        wall = time.perf_counter() - t0
        if status != 409:
            break
        BUSY_RETRIES[server.name] = BUSY_RETRIES.get(server.name, 0) + 1
        time.sleep(0.01)
    reply = json.loads(body)
    if status != 200 or reply.get("status") != "succeeded":
        raise RuntimeError(f"{server.name}: HTTP {status} {body[:2000]!r}")
    return wall, reply


def check_image(url: str) -> None:
    with urllib.request.urlopen(url, timeout=60) as r:
        data = r.read()
    if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise RuntimeError(f"{url} is not a WebP image ({data[:16]!r})")


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def run_config(name: str, count: int, binary: Path, s3: SeaweedFS, work: Path) -> dict:
    cfg, long_side = CONFIGS[name]
    model = work / f"model-{name}"
    if not (model / "model_index.json").exists():
        subprocess.run([sys.executable, str(REPO / "tools/make_tiny_sdxl.py"), "--config", cfg,
                        str(model)], check=True, stdout=subprocess.DEVNULL)
    env = s3.env()
    models, outputs = s3.new_bucket("models"), s3.new_bucket("outputs")
    subprocess.run([str(binary), "-q", "prepare-model", str(model), models, "--path", name],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    threads = str(os.cpu_count() or 2)

    ours_env = dict(env, MODEL_BUCKET_NAME=models, MODEL_PATH=name, PUBLIC_BUCKET_NAME=outputs,
                    MODEL_CACHE_DIR=str(work / f"cache-ours-{name}"))
    shutil.rmtree(ours_env["MODEL_CACHE_DIR"], ignore_errors=True)
    port = free_port()
    ours = Server("ours", [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port),
                           "--device", "cpu"], ours_env, port, work / f"ours-{name}.log")

    cog_dir = work / f"coglet-{name}"
    shutil.rmtree(cog_dir, ignore_errors=True)
    (cog_dir / ".cog").mkdir(parents=True)
    shutil.copy(HERE / "diffusers_predictor.py", cog_dir / "predict.py")
    shutil.copy(REPO / "tests/serve/cog_oracle/openapi_schema.json",
                cog_dir / ".cog" / "openapi_schema.json")
    cog_port = free_port()
    cog_env = dict(env, PORT=str(cog_port), COG_PREDICT_TYPE_STUB="predict.py:Predictor",
                   PYTHONDONTWRITEBYTECODE="1", MODEL_BUCKET_NAME=models, MODEL_PATH=name,
                   PUBLIC_BUCKET_NAME=outputs, MODEL_CACHE_DIR=str(work / f"cache-cog-{name}"),
                   BENCH_BOTO3_POOL=str(REPO / "bench/transfer/boto3_pool.py"),
                   BENCH_LONG_SIDE=str(long_side), BENCH_THREADS=threads)
    cog_env.pop("KUBERNETES_SERVICE_HOST", None)
    shutil.rmtree(cog_env["MODEL_CACHE_DIR"], ignore_errors=True)

    result = {"config": name, "count": count}
    BUSY_RETRIES.clear()
    try:
        # Boots one after the other, so neither competes with the other for the 2 cores.
        log(f"[{name}] boot ours")
        result["ours_boot_s"] = ours.wait_ready(600)
        log(f"[{name}] boot coglet + diffusers")
        cog = Server("coglet", [sys.executable, "-m", "cog.server.http", "--host", "127.0.0.1"],
                     cog_env, cog_port, work / f"coglet-{name}.log", cwd=cog_dir)
        try:
            result["peer_boot_s"] = cog.wait_ready(900)
            log(f"[{name}] boot: ours {result['ours_boot_s']:.2f} s, peer "
                f"{result['peer_boot_s']:.2f} s")
            for srv in (ours, cog):  # warm-up, not counted (first-call allocations)
                _, r = predict(srv)
                check_image(r["output"][0])
            ours_wall, ours_engine, peer_wall = [], [], []
            for i in range(count):
                order = (ours, cog) if i % 2 == 0 else (cog, ours)
                for srv in order:
                    wall, reply = predict(srv)
                    if srv is ours:
                        ours_wall.append(wall)
                        ours_engine.append(reply["metrics"]["timings"]["generate_s"])
                    else:
                        peer_wall.append(wall)
                    if i % max(1, count // 10) == 0 or i == count - 1:
                        check_image(reply["output"][0])
                if (i + 1) % max(1, count // 5) == 0:
                    log(f"[{name}] {i + 1}/{count}: ours p50 {statistics.median(ours_wall):.3f} s,"
                        f" peer p50 {statistics.median(peer_wall):.3f} s")
        finally:
            cog.stop()
    finally:
        ours.stop()
    overhead = [w - e for w, e in zip(ours_wall, ours_engine)]
    result.update({
        "ours_p50_s": statistics.median(ours_wall), "ours_p99_s": pct(ours_wall, 0.99),
        "ours_mean_s": statistics.fmean(ours_wall),
        "ours_engine_p50_s": statistics.median(ours_engine),
        "ours_overhead_p50_s": statistics.median(overhead),
        "ours_overhead_p99_s": pct(overhead, 0.99),
        "peer_p50_s": statistics.median(peer_wall), "peer_p99_s": pct(peer_wall, 0.99),
        "peer_mean_s": statistics.fmean(peer_wall),
        "busy_409_retries": dict(BUSY_RETRIES),
    })
    result["ratio_wall_mean"] = result["ours_mean_s"] / result["peer_mean_s"]
    result["ratio_boot"] = result["ours_boot_s"] / result["peer_boot_s"]
    return result


def render(results: list[dict], meta: dict) -> str:
    lines = [f"# Serving: sdxl-tigris serve vs coglet + diffusers ({meta['date']})", "",
             f"Machine: {meta['machine']}. Command: `{meta['command']}`. Load average before "
             f"{meta['load_before']}, after {meta['load_after']}.", "",
             "Both servers boot from the same SeaweedFS bucket (same 2 cores), upload each image "
             "to the same output bucket and return a presigned URL; fp32 on the CPU, 4 steps, 1:1, "
             "webp 80, seed 1234; predictions alternate between the servers. Overhead = client "
             "wall time - the engine's generate time (HTTP, validation, encode, upload, presign).",
             "", "| config | n | boot to READY s (ours / peer / ratio) | ours p50 / p99 s | ours "
             "engine p50 s | ours overhead p50 / p99 ms | peer p50 / p99 s | ours/peer (mean "
             "wall) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['config']} | {r['count']} | {r['ours_boot_s']:.2f} / {r['peer_boot_s']:.2f} / "
            f"{r['ratio_boot']:.2f} | {r['ours_p50_s']:.3f} / {r['ours_p99_s']:.3f} | "
            f"{r['ours_engine_p50_s']:.3f} | {r['ours_overhead_p50_s'] * 1e3:.1f} / "
            f"{r['ours_overhead_p99_s'] * 1e3:.1f} | {r['peer_p50_s']:.3f} / "
            f"{r['peer_p99_s']:.3f} | {r['ratio_wall_mean']:.2f} (target <= 0.7) |")
    for r in results:
        if r.get("busy_409_retries"):
            lines.append(f"\n{r['config']}: requests answered 409 busy right after the previous "
                         f"answer and resent (not timed): {r['busy_409_retries']}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", type=Path, default=REPO / "build/sdxl-tigris")
    ap.add_argument("--configs", default="tiny,mid")
    ap.add_argument("--count-tiny", type=int, default=200)
    ap.add_argument("--count-mid", type=int, default=20)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    args = ap.parse_args()
    binary = args.binary.resolve()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = []
    with SeaweedFS(work / "s3") as s3:
        for name in args.configs.split(","):
            count = args.count_tiny if name == "tiny" else args.count_mid
            results.append(run_config(name, count, binary, s3, work))
            log(json.dumps(results[-1]))
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores",
            "command": "python3 bench/serve/run.py " + " ".join(sys.argv[1:]),
            "load_before": "/".join(load_before),
            "load_after": "/".join(Path("/proc/loadavg").read_text().split()[:3])}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = REPO / "bench/results"
    (out / f"serve-{stamp}.json").write_text(json.dumps({"meta": meta, "results": results},
                                                        indent=2) + "\n")
    text = render(results, meta)
    (out / f"serve-{stamp}.md").write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True) if args.work is None else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
