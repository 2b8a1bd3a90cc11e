"""Chaos soak (issue 15): `serve` boots from a bucket through the fault proxy and answers a bounded
stream of predictions from several concurrent clients while faults keep arriving.

The model is the tiny pipeline, prepared into SeaweedFS; the engine is the torch-free fake (it
takes the streamed weights and draws seed-determined pictures), so the test is about the server,
the loader and the storage client under faults, not about pixels. A seeded chaos thread adds one
fault at a time (S3 errors 500/503 SlowDown, connection resets mid-body, stalls, delays) on the
weight GETs during boot and on the output PUTs during the soak.

Every prediction must end `succeeded` (each URL serves exactly the bytes a fault-free run returns
for that seed and index), `failed` with an error that names the output bucket, or `canceled` (the
clients cancel some); a busy server answers 409 (counted, retried). No crash, and after warm-up
the server's RSS and open file descriptors stay flat.

`make test` runs 25 s with 3 clients; `make soak` runs SDXL_SOAK_SECONDS (default 300).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.request

import psutil
import pytest

pytestmark = pytest.mark.s3

SOAK_SECONDS = float(os.environ.get("SDXL_SOAK_SECONDS", "25"))
CLIENTS = int(os.environ.get("SDXL_SOAK_CLIENTS", "3"))
SEED = int(os.environ.get("SDXL_SOAK_SEED", "20261205"))
SEEDS = [3, 5, 8]  # prediction seeds: outputs are compared with a fault-free run of each


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def request_for(seed: int) -> dict:
    return {"input": {"prompt": f"chaos {seed}", "seed": seed, "num_outputs": 2,
                      "num_inference_steps": 3, "output_format": "png"}}


class Chaos(threading.Thread):
    """Adds one seeded fault at a time to the proxy, on requests that match `path`."""

    def __init__(self, proxy, method: str, path: str, rng: random.Random, initial: int = 1):
        super().__init__(daemon=True)
        self.proxy, self.method, self.path, self.rng = proxy, method, path, rng
        self.stop_event = threading.Event()
        self.added: dict[str, int] = {}
        for _ in range(initial):  # armed before the first request can pass
            self.add_one()

    def run(self):
        while not self.stop_event.wait(self.rng.uniform(0.2, 0.8)):
            self.add_one()

    def add_one(self):
        kind = self.rng.choice(["500", "503", "reset", "stall", "delay"])
        rule = {"500": dict(action="error", status=500),
                "503": dict(action="error", status=503),
                "reset": dict(action="reset", after_bytes=self.rng.choice([-1, 100, 4096])),
                "stall": dict(action="stall", after_bytes=self.rng.choice([-1, 512]),
                              seconds=self.rng.uniform(0.5, 2.0)),
                "delay": dict(action="delay", seconds=self.rng.uniform(0.1, 0.6))}[kind]
        self.proxy.add_rule(method=self.method, path=self.path, times=1, **rule)
        self.added[kind] = self.added.get(kind, 0) + 1

    def stop(self):
        self.stop_event.set()
        self.join()


def test_chaos_soak(serve_factory, sdxl_run, s3_server, fault_proxy, tiny_lightning, tmp_path):
    rng = random.Random(SEED)
    models = s3_server.new_bucket("models")
    images = s3_server.new_bucket("images")
    prep = sdxl_run("prepare-model", tiny_lightning, f"s3://{models}", "--path", "tiny",
                    timeout=300)
    assert prep.returncode == 0, prep.stderr
    env = s3_server.env(endpoint=fault_proxy.endpoint, MODEL_BUCKET_NAME=models, MODEL_PATH="tiny",
                        PUBLIC_BUCKET_NAME=images)

    # Fault-free reference outputs, from a server on its own cache.
    ref = serve_factory(env=dict(env, MODEL_CACHE_DIR=str(tmp_path / "ref-cache")), timeout=120)
    expected = {}
    for seed in SEEDS:
        r = ref.request("POST", "/predictions", request_for(seed))
        assert r.status == 200 and r.json["status"] == "succeeded", r.text
        expected[seed] = [fetch(u) for u in r.json["output"]]
    ref.stop()

    # Boot through faults on the weight GETs (an empty cache: every file streams in).
    boot_chaos = Chaos(fault_proxy, "GET", rf"^/{models}/tiny/.+\.safetensors", rng, initial=4)
    boot_chaos.start()
    s = serve_factory(env=dict(env, MODEL_CACHE_DIR=str(tmp_path / "cache")), timeout=180)
    boot_chaos.stop()
    boot_fired = fault_proxy.faults_fired()
    fault_proxy.clear()
    proc = psutil.Process(s.proc.pid)

    counts = {"succeeded": 0, "failed": 0, "canceled": 0, "busy_409": 0, "cancel_sent": 0}
    problems: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SOAK_SECONDS
    warm = threading.Event()
    samples: list[tuple[int, int]] = []

    def client(idx: int):
        crng = random.Random(SEED * 100 + idx)
        n = 0
        while time.monotonic() < deadline:
            seed = crng.choice(SEEDS)
            pid = f"c{idx}-{n}"
            n += 1
            cancel = crng.random() < 0.15
            if cancel:
                r = s.request("PUT", f"/predictions/{pid}", request_for(seed),
                              headers={"Prefer": "respond-async"})
                if r.status == 409:
                    with lock:
                        counts["busy_409"] += 1
                    time.sleep(0.2)
                    continue
                c = s.request("POST", f"/predictions/{pid}/cancel")
                with lock:
                    counts["cancel_sent"] += 1
                    if c.status not in (200, 404):  # 404: it ended before the cancel arrived
                        problems.append(f"{pid}: cancel answered {c.status} {c.text[:200]}")
                # The id is forgotten when it ends; wait for the slot to free.
                t_end = time.monotonic() + 30
                while s.health()["status"] == "BUSY" and time.monotonic() < t_end:
                    time.sleep(0.02)
                continue
            r = s.request("PUT", f"/predictions/{pid}", request_for(seed), timeout=120)
            if r.status == 409:
                with lock:
                    counts["busy_409"] += 1
                time.sleep(0.2)
                continue
            body = r.json
            status = body.get("status")
            with lock:
                counts[status] = counts.get(status, 0) + 1
            if status == "succeeded":
                got = [fetch(u) for u in body["output"]]
                if got != expected[seed]:
                    with lock:
                        problems.append(f"{pid}: outputs differ from the fault-free run")
            elif status == "failed":
                if images not in (body.get("error") or ""):
                    with lock:
                        problems.append(f"{pid}: unclear error {body.get('error')!r}")
            elif status != "canceled":
                with lock:
                    problems.append(f"{pid}: ended {status!r}: {json.dumps(body)[:300]}")
            if not warm.is_set():
                warm.set()

    def sampler():
        while time.monotonic() < deadline:
            if warm.is_set():
                samples.append((proc.memory_info().rss, proc.num_fds()))
            time.sleep(0.5)

    put_chaos = Chaos(fault_proxy, "PUT", rf"^/{images}/out-", rng)
    put_chaos.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=sampler))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SOAK_SECONDS + 180)
    put_chaos.stop()
    put_fired = fault_proxy.faults_fired()
    fault_proxy.clear()

    print(f"\nsoak {SOAK_SECONDS:.0f} s, {CLIENTS} clients, SDXL_SOAK_SEED={SEED}: {counts}; "
          f"faults at boot {boot_fired} fired of {boot_chaos.added}, on uploads {put_fired} fired of "
          f"{put_chaos.added}")
    assert s.proc.poll() is None, "the server died:\n" + s.logs()
    assert problems == [], problems[:10]
    assert counts["succeeded"] > 0
    assert boot_fired > 0 and put_fired > 0, "the faults never met a request"
    # After the soak the server still answers, cleanly.
    s.wait_health("READY", timeout=30)
    r = s.request("POST", "/predictions", request_for(SEEDS[0]))
    assert r.status == 200 and r.json["status"] == "succeeded", r.text
    assert [fetch(u) for u in r.json["output"]] == expected[SEEDS[0]]
    # Flat after warm-up: compare the first and last quarter of the samples.
    assert len(samples) >= 8, samples
    q = max(1, len(samples) // 4)
    rss0 = sum(x[0] for x in samples[:q]) / q
    rss1 = sum(x[0] for x in samples[-q:]) / q
    fds0 = max(x[1] for x in samples[:q])
    fds1 = max(x[1] for x in samples[-q:])
    assert rss1 < rss0 * 1.15 + (8 << 20), f"RSS {rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MiB"
    assert fds1 <= fds0 + 4, f"open fds {fds0} -> {fds1}"
