"""`sdxl-tigris serve` over real HTTP with the fake engine library (fast, torch-free): the Cog
contract endpoint by endpoint (../shared/reference/cog_api.md), webhooks, signals, auth, limits."""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import socket
import threading
import time

import psutil
import pytest

SEED_EXAMPLE = {"input": {"prompt": "A girl smiling", "aspect_ratio": "1:1", "guidance_scale": 3.5,
                          "num_inference_steps": 4, "max_sequence_length": 512,
                          "output_format": "png", "num_outputs": 1}}


def test_index_health_openapi(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    index = s.request("GET", "/").json
    assert index["predictions_url"] == "/predictions"
    assert index["healthcheck_url"] == "/health-check"
    h = s.health()
    assert h["status"] == "READY"
    assert h["setup"]["status"] == "succeeded"
    assert "READY in" in h["setup"]["logs"]
    doc = s.request("GET", "/openapi.json").json
    assert doc["openapi"] == "3.0.2"
    inp = doc["components"]["schemas"]["Input"]["properties"]
    for name in ["prompt", "negative_prompt", "aspect_ratio", "num_outputs", "guidance_scale",
                 "max_sequence_length", "num_inference_steps", "prompt_strength", "seed",
                 "output_format", "output_quality"]:
        assert name in inp, name
    assert doc["components"]["schemas"]["aspect_ratio"]["enum"][0] == "1:1"
    assert "/predictions/{prediction_id}/cancel" in doc["paths"]
    m = s.request("GET", "/metrics")
    assert m.status == 200 and "sdxl_up 1" in m.text
    assert 'sdxl_setup_phase_seconds{phase="total"}' in m.text
    assert s.request("GET", "/no-such-route").status == 404
    ready = s.request("GET", "/ready")
    assert ready.status == 200 and ready.json == {"status": "READY"}


def test_seed_example_sync_prediction(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    r = s.request("PUT", "/predictions/seed-example-1", SEED_EXAMPLE)
    assert r.status == 200, r.text
    assert '"status":"succeeded"' in r.text  # compact JSON, as Cog clients grep it
    body = r.json
    assert body["id"] == "seed-example-1"
    assert body["error"] is None
    assert isinstance(body["output"], list) and len(body["output"]) == 1
    url = body["output"][0]
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "step 4/4" in body["logs"] and "seed " in body["logs"]
    assert body["metrics"]["predict_time"] > 0
    assert body["input"]["max_sequence_length"] == 512
    # A seed given is the seed used (logged and in metrics).
    r2 = s.request("POST", "/predictions", {"input": {"prompt": "x", "seed": 1234,
                                                       "num_outputs": 3}})
    assert r2.json["metrics"]["seed"] == 1234
    assert len(r2.json["output"]) == 3
    assert all(u.startswith("data:image/webp;base64,") for u in r2.json["output"])


def test_validation_errors_are_422_field_by_field(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    r = s.request("POST", "/predictions", {"input": {"num_outputs": 4, "guidance_scale": 51,
                                                     "aspect_ratio": "7:3", "seed": "x"}})
    assert r.status == 422
    locs = [tuple(d["loc"]) for d in r.json["detail"]]
    assert ("body", "input", "num_outputs") in locs
    assert ("body", "input", "guidance_scale") in locs
    assert ("body", "input", "aspect_ratio") in locs
    assert ("body", "input", "seed") in locs
    assert all(len(d["loc"]) == 3 and all(isinstance(x, str) for x in d["loc"])
               for d in r.json["detail"])  # `cog predict` decodes loc as []string
    assert s.request("POST", "/predictions", raw=b"{not json",
                     headers={"Content-Type": "application/json"}).status == 400
    assert s.request("POST", "/predictions", raw=b"a=b",
                     headers={"Content-Type": "text/plain"}).status == 415
    assert s.request("POST", "/predictions", body=[1, 2]).status == 422
    mismatch = s.request("PUT", "/predictions/abc", {"id": "xyz", "input": {"prompt": "x"}})
    assert mismatch.status == 422
    assert mismatch.json["detail"][0]["msg"] == \
        "prediction ID must match the ID supplied in the URL"
    # An empty body means {"input": {}}: the fake engine refuses the empty prompt -> failed, 200.
    empty = s.request("POST", "/predictions", raw=b"")
    assert empty.status == 200 and empty.json["status"] == "failed"
    assert empty.json["error"] == "empty prompt"


def test_async_put_idempotent_busy_and_cancel(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    body = {"input": {"prompt": "slow one", "num_inference_steps": 50}}
    a = s.request("PUT", "/predictions/p1", body, headers={"Prefer": "respond-async"})
    assert a.status == 202 and a.json["id"] == "p1"
    again = s.request("PUT", "/predictions/p1", body)  # same id in flight: 202, its state
    assert again.status == 202 and again.json["id"] == "p1"
    busy = s.request("POST", "/predictions", {"input": {"prompt": "x"}})
    assert busy.status == 409
    assert busy.json["detail"] == "Already running a prediction"
    assert s.health()["status"] == "BUSY"
    deadline = time.time() + 10
    while "step 2/" not in s.request("PUT", "/predictions/p1", body).json.get("logs", ""):
        assert time.time() < deadline
        time.sleep(0.05)
    assert s.request("POST", "/predictions/nope/cancel").status == 404
    c = s.request("POST", "/predictions/p1/cancel")
    assert c.status == 200 and c.json == {}
    s.wait_health("READY", timeout=10)
    assert s.request("POST", "/predictions/p1/cancel").status == 404
    m = s.request("GET", "/metrics").text
    assert 'sdxl_predictions_total{status="canceled"} 1' in m



def test_client_disconnect_cancels_a_sync_prediction(serve_factory, fake_model):
    # coglet cancels a sync prediction whose HTTP client goes away (cog_api.md): the slot is freed
    # at the next step instead of running 50 x 100 ms for nobody.
    s = serve_factory(model=fake_model)
    body = json.dumps({"input": {"prompt": "slow, then gone", "num_inference_steps": 50}}).encode()
    port = int(s.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"PUT /predictions/gone HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    # Poll without touching the prediction (a PUT of the same id before the raw request is
    # registered would create it, with an empty prompt): the playground's read-only view.
    deadline = time.time() + 30
    while True:
        r = s.request("GET", "/playground/predictions/gone")
        if r.status == 200 and "step 2/" in r.json.get("logs", ""):
            break
        assert time.time() < deadline, s.logs()
        time.sleep(0.05)
    sock.close()
    s.wait_health("READY", timeout=30)
    # Canceled, not succeeded: it stopped before its 50 steps (no wall-clock bound asserted).
    assert "the client disconnected; canceling it" in s.logs()
    assert 'sdxl_predictions_total{status="canceled"} 1' in s.request("GET", "/metrics").text
    # A client that stays gets its answer: the watch never cancels a connected one.
    ok = s.request("POST", "/predictions", {"input": {"prompt": "slow but awaited",
                                                      "num_inference_steps": 3}})
    assert ok.status == 200 and ok.json["status"] == "succeeded", ok.json


class _Hooks(http.server.BaseHTTPRequestHandler):
    events: list = []
    fail_completed = 0
    auth: list = []
    down_hits = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        cls.auth.append(self.headers.get("Authorization"))
        if self.path == "/down":  # a receiver that is always unavailable
            cls.down_hits += 1
            self.send_response(503)
            self.end_headers()
            return
        if body["status"] in ("succeeded", "failed", "canceled") and cls.fail_completed > 0:
            cls.fail_completed -= 1
            self.send_response(503)
            self.end_headers()
            return
        cls.events.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def hook_server():
    _Hooks.events, _Hooks.fail_completed, _Hooks.auth, _Hooks.down_hits = [], 2, [], 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


def test_webhooks_in_order_with_retries_and_auth(serve_factory, fake_model, hook_server):
    env = dict(os.environ, WEBHOOK_AUTH_TOKEN="hook-secret", COG_THROTTLE_RESPONSE_INTERVAL="0")
    s = serve_factory(model=fake_model, env=env)
    url = f"http://127.0.0.1:{hook_server.server_port}/hook"
    r = s.request("POST", "/predictions", {"input": {"prompt": "slow hook",
                                                     "num_inference_steps": 3},
                                           "webhook": url}, headers={"Prefer": "respond-async"})
    assert r.status == 202
    deadline = time.time() + 20
    while not any(e["status"] == "succeeded" for e in _Hooks.events):
        assert time.time() < deadline, _Hooks.events
        time.sleep(0.05)
    statuses = [e["status"] for e in _Hooks.events]
    assert statuses[0] == "processing"  # start
    assert statuses[-1] == "succeeded"  # completed, delivered after two 503s
    assert statuses.count("succeeded") == 1
    assert any("step 2/3" in e["logs"] for e in _Hooks.events[:-1])  # logs events
    assert set(_Hooks.auth) == {"Bearer hook-secret"}
    # webhook_events_filter: only "completed".
    _Hooks.events.clear()
    r = s.request("POST", "/predictions", {"input": {"prompt": "x"}, "webhook": url,
                                           "webhook_events_filter": ["completed"]})
    assert r.status == 200
    deadline = time.time() + 10
    while not _Hooks.events:
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    assert [e["status"] for e in _Hooks.events] == ["succeeded"]


def test_a_receiver_that_is_down_delays_only_its_own_predictions(serve_factory, fake_model,
                                                                  hook_server):
    # Prediction A's receiver answers 503 forever: its completed event is retried for about a
    # minute. Prediction B, finished after it, must still get its webhook at once.
    s = serve_factory(model=fake_model, env=dict(os.environ, COG_THROTTLE_RESPONSE_INTERVAL="0"))
    port = hook_server.server_port
    _Hooks.fail_completed = 0
    a = s.request("POST", "/predictions", {"input": {"prompt": "a"}, "webhook_events_filter":
                                           ["completed"], "webhook": f"http://127.0.0.1:{port}/down"})
    assert a.status == 200
    deadline = time.time() + 10
    while _Hooks.down_hits < 2:  # A's lane is in its retry backoff now
        assert time.time() < deadline
        time.sleep(0.05)
    b = s.request("POST", "/predictions", {"input": {"prompt": "b"}, "webhook_events_filter":
                                           ["completed"], "webhook": f"http://127.0.0.1:{port}/hook"})
    assert b.status == 200
    deadline = time.time() + 5
    while not _Hooks.events:
        assert time.time() < deadline, "B's webhook waited behind A's retries"
        time.sleep(0.05)
    assert [e["id"] for e in _Hooks.events] == [b.json["id"]]
    assert _Hooks.down_hits < 13  # A is still being retried, not given up


def test_sigterm_lets_the_running_prediction_finish(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    result = {}

    def run():
        result["r"] = s.request("POST", "/predictions",
                                {"input": {"prompt": "slow", "num_inference_steps": 10}})

    t = threading.Thread(target=run)
    t.start()
    s.wait_health("BUSY", timeout=10)
    s.proc.send_signal(signal.SIGTERM)
    t.join(timeout=30)
    assert s.proc.wait(timeout=30) == 0
    assert result["r"].status == 200 and result["r"].json["status"] == "succeeded"


def test_shutdown_endpoint_and_await_explicit_shutdown(serve_factory, fake_model):
    s = serve_factory(model=fake_model, args=["--await-explicit-shutdown", "true"])
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert s.proc.poll() is None and s.health()["status"] == "READY"
    r = s.request("POST", "/shutdown")
    assert r.status == 200 and r.json == {}
    assert s.proc.wait(timeout=15) == 0


def test_bearer_token(serve_factory, fake_model):
    env = dict(os.environ, SDXL_API_TOKEN="s3cret-token")
    s = serve_factory(model=fake_model, env=env)
    assert s.request("GET", "/health-check").status == 200
    assert s.request("GET", "/ready").status == 200  # probes carry no token
    assert s.request("GET", "/").status == 401
    assert s.request("POST", "/predictions", {"input": {"prompt": "x"}}).status == 401
    assert s.request("GET", "/openapi.json",
                     headers={"Authorization": "Bearer wrong-token!"}).status == 401
    ok = s.request("POST", "/predictions", {"input": {"prompt": "x"}},
                   headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status == 200
    assert "s3cret-token" not in s.logs()


def test_setup_failure_keeps_the_server_up(serve_factory, tmp_path):
    s = serve_factory(model=tmp_path / "no-such-model", wait=("SETUP_FAILED",))
    h = s.health()
    assert h["setup"]["status"] == "failed"
    assert "no-such-model" in h["setup"]["logs"]
    r = s.request("POST", "/predictions", {"input": {"prompt": "x"}})
    assert r.status == 503 and r.json["status"] == "failed"
    ready = s.request("GET", "/ready")
    assert ready.status == 503 and ready.json == {"status": "SETUP_FAILED"}
    assert s.proc.poll() is None
    assert s.stop() == 0


def test_limits_large_body_and_slow_clients(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    big = b'{"input": {"prompt": "' + b"a" * (101 << 20) + b'"}}'
    try:
        r = s.request("POST", "/predictions", raw=big,
                      headers={"Content-Type": "application/json"})
        assert r.status == 413
    except (ConnectionError, OSError):
        pass  # the server may close the connection before reading the whole body
    # Slowloris-style partial requests do not block others.
    socks = []
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        socks.append(c)
    t0 = time.time()
    assert s.health()["status"] == "READY"
    r = s.request("POST", "/predictions", {"input": {"prompt": "x"}})
    assert r.status == 200 and time.time() - t0 < 5
    for c in socks:
        c.close()


def test_sequential_predictions_do_not_leak(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    proc = psutil.Process(s.proc.pid)
    for _ in range(20):
        assert s.request("POST", "/predictions", {"input": {"prompt": "x"}}).status == 200
    rss0 = proc.memory_info().rss
    for i in range(200):
        r = s.request("POST", "/predictions", {"input": {"prompt": f"x {i}", "seed": i}})
        assert r.status == 200 and r.json["status"] == "succeeded"
    growth = (proc.memory_info().rss - rss0) / rss0
    assert growth < 0.05, f"RSS grew {growth:.1%} over 200 predictions"
