"""Differential test: `sdxl-tigris serve` (fake engine) against coglet, Cog's own server (PyPI
`coglet` + `cog` >= 0.17), sent the same requests in the same order.

The oracle is tests/serve/cog_oracle/: a Python predictor with the seed's predict.py inputs
(tiny image outputs; 100 ms per step for prompts starting with "slow"; "empty prompt" fails, as
the fake engine does) and the schema Cog's build step would bundle for it
(.cog/openapi_schema.json, written from the Go generator's rules, cog_api.md section 13.1);
coglet validates inputs against that schema and serves it unchanged at /openapi.json.

Compared: status codes, body keys, 422 detail items (loc, keys; msg loosely), Allow headers.
Every place where the two answer differently on purpose is asserted explicitly below (search for
DELIBERATE) and listed in docs/serve.md, "Deliberate differences from coglet".
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

ORACLE = Path(__file__).resolve().parent / "cog_oracle"

SEED_EXAMPLE = {"input": {"prompt": "A girl smiling", "aspect_ratio": "1:1", "guidance_scale": 3.5,
                          "num_inference_steps": 4, "max_sequence_length": 512,
                          "output_format": "png", "num_outputs": 1}}
# 8 s on both servers (100 ms a step): time enough for the requests sent while it runs; it is
# canceled, so the test does not wait for it.
SLOW = {"input": {"prompt": "slow one", "num_inference_steps": 80}}
ASYNC = {"Prefer": "respond-async"}
JSON_CT = {"Content-Type": "application/json"}
# pydantic v2 error types our server writes (coglet always writes "value_error").
PYDANTIC_TYPES = {"string_type", "int_type", "int_from_float", "float_type", "enum",
                  "greater_than_equal", "less_than_equal", "dict_type", "model_type",
                  "list_type", "url_parsing", "value_error", "finite_number"}


@pytest.fixture
def pair(serve_factory, fake_model, coglet_server):
    """(ours, coglet), both READY."""
    return serve_factory(model=fake_model), coglet_server


def both(pair, method, path, body=None, headers=None, raw=None, cog_may_lag=True):
    """The same request to both servers: (ours, coglet).

    coglet 0.23 answers a sync prediction a moment before it frees its slot, so a create sent
    right after one can get a spurious 409 (seen after failed predictions). With `cog_may_lag`,
    coglet's 409s are retried for up to 2 s (a 409 creates nothing); ours get no such grace.
    """
    ours, cog = pair
    o = ours.request(method, path, body, headers, raw)
    c = cog.request(method, path, body, headers, raw)
    deadline = time.time() + 2
    while cog_may_lag and c.status == 409 and time.time() < deadline:
        time.sleep(0.05)
        c = cog.request(method, path, body, headers, raw)
    return o, c


def raw_request(server, head: bytes) -> tuple[int, float]:
    """Sends `head` (request line + headers, no body) as is; returns (status, seconds)."""
    t0 = time.time()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as c:
        c.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), time.time() - t0


def is_json(r) -> bool:
    return r.headers.get("Content-Type", r.headers.get("content-type", "")).startswith(
        "application/json")


def header(r, name: str) -> str:
    return {k.lower(): v for k, v in r.headers.items()}.get(name.lower(), "")


def detail_locs(r) -> set[tuple]:
    """The 422 detail items' locs, after checking each item's shape."""
    assert is_json(r), r.text
    items = r.json["detail"]
    assert isinstance(items, list) and items, r.text
    for it in items:
        assert set(it) == {"loc", "msg", "type"}, it
        assert all(isinstance(x, str) for x in it["loc"]), it
        assert isinstance(it["msg"], str) and isinstance(it["type"], str), it
    return {tuple(it["loc"]) for it in items}


def assert_superset(ours, cog):
    """Both JSON objects; every key coglet sends, ours sends too."""
    assert is_json(ours) and is_json(cog), (ours.text, cog.text)
    missing = set(cog.json) - set(ours.json)
    assert not missing, f"ours lacks {missing}: ours={ours.text[:300]} coglet={cog.text[:300]}"


def wait_both(pair, *statuses, timeout=20):
    for s in pair:
        s.wait_health(*statuses, timeout=timeout)


def test_index_health_routes_and_openapi(pair):
    ours, cog = pair
    o, c = both(pair, "GET", "/")
    assert o.status == c.status == 200
    assert set(o.json) == set(c.json)
    assert {k: v for k, v in o.json.items() if k != "cog_version"} == \
        {k: v for k, v in c.json.items() if k != "cog_version"}

    o, c = both(pair, "GET", "/health-check")
    assert o.status == c.status == 200 and is_json(o) and is_json(c)
    assert set(o.json) == set(c.json) == {"status", "setup", "version"}
    assert o.json["status"] == c.json["status"] == "READY"
    assert set(o.json["setup"]) == set(c.json["setup"]) == \
        {"started_at", "completed_at", "status", "logs"}
    assert o.json["setup"]["status"] == c.json["setup"]["status"] == "succeeded"
    # DELIBERATE: `version` names our server, not a coglet version we are not.
    assert "coglet" in c.json["version"] and "sdxl_tigris" in o.json["version"]

    # Unknown route: 404, empty body. Known path, other method: 405 + the same Allow.
    for method, path in [("GET", "/no-such-route"), ("POST", "/no-such-route"),
                         ("GET", "/predictions/x/stream")]:
        o, c = both(pair, method, path)
        assert o.status == c.status == 404, (method, path)
        assert o.text == c.text == "", (method, path)
    for method, path in [("POST", "/health-check"), ("DELETE", "/predictions"),
                         ("GET", "/predictions"), ("GET", "/predictions/abc"),
                         ("POST", "/predictions/abc"), ("GET", "/predictions/abc/cancel"),
                         ("PUT", "/openapi.json"), ("GET", "/shutdown"),
                         ("PATCH", "/predictions"), ("OPTIONS", "/"),
                         ("DELETE", "/predictions/x"), ("TRACE", "/predictions/x/cancel"),
                         ("HEAD", "/predictions/x/cancel")]:
        o, c = both(pair, method, path)
        assert o.status == c.status == 405, (method, path, o.status, c.status)
        assert header(o, "Allow").replace(" ", "") == header(c, "Allow").replace(" ", ""), \
            (method, path)
    # DELIBERATE: GET /metrics is ours only.
    o, c = both(pair, "GET", "/metrics")
    assert (o.status, c.status) == (200, 404)

    o, c = both(pair, "GET", "/openapi.json")
    assert o.status == c.status == 200
    mine, theirs = o.json, c.json
    assert theirs == json.loads((ORACLE / "openapi_schema.json").read_text())  # served unchanged
    assert mine["openapi"] == theirs["openapi"] == "3.0.2"
    assert mine["info"]["title"] == theirs["info"]["title"] == "Cog"
    # Paths: coglet's are ours with the same operationIds; DELIBERATE: ours adds the py server's
    # PUT /predictions/{prediction_id} and POST /shutdown (both served by coglet too).
    assert set(mine["paths"]) - set(theirs["paths"]) == {"/predictions/{prediction_id}",
                                                         "/shutdown"}
    for path, ops in theirs["paths"].items():
        assert set(mine["paths"][path]) == set(ops), path
        for method, op in ops.items():
            assert mine["paths"][path][method]["operationId"] == op["operationId"]
            assert set(op["responses"]) <= set(mine["paths"][path][method]["responses"])
    ms, ts = mine["components"]["schemas"], theirs["components"]["schemas"]
    assert set(ms) - set(ts) == {"WebhookEvent"}  # DELIBERATE: the py server's component
    # Input: the same fields, order, types, bounds, defaults and nullability.
    mi, ti = ms["Input"], ts["Input"]
    assert mi["title"] == ti["title"] == "Input" and mi["type"] == ti["type"] == "object"
    assert "required" not in mi and "required" not in ti
    assert list(sorted(mi["properties"], key=lambda k: mi["properties"][k]["x-order"])) == \
        list(sorted(ti["properties"], key=lambda k: ti["properties"][k]["x-order"]))
    for name, tp in ti["properties"].items():
        mp = mi["properties"][name]
        for key in ["x-order", "title", "type", "default", "minimum", "maximum", "nullable",
                    "allOf"]:
            if name == "seed" and key in ("minimum", "maximum"):
                continue
            assert mp.get(key) == tp.get(key), (name, key, mp.get(key), tp.get(key))
    # DELIBERATE: seed declares the 64-bit range it accepts (the predictor's `int` has none).
    assert "minimum" not in ti["properties"]["seed"]
    assert (mi["properties"]["seed"]["minimum"], mi["properties"]["seed"]["maximum"]) == \
        (-2**63, 2**63 - 1)
    assert ms["Output"] == ts["Output"]
    assert ms["output_format"] == ts["output_format"]
    # DELIBERATE: aspect_ratio also offers 4:3 and 3:4 (the seed's size table has them).
    assert ms["aspect_ratio"]["enum"][:9] == ts["aspect_ratio"]["enum"]
    assert ms["aspect_ratio"]["enum"][9:] == ["4:3", "3:4"]
    for name in ["Status", "HTTPValidationError", "ValidationError"]:
        assert ms[name] == ts[name], name
    for name in ["PredictionRequest", "PredictionResponse"]:
        assert set(ts[name]["properties"]) <= set(ms[name]["properties"]), name


def test_sync_predictions_and_validation(pair):
    ours, cog = pair
    # Valid sync predictions: 200, succeeded, a list of data URLs; coglet's keys are ours too.
    for body, n in [({"input": {"prompt": "x"}}, 1),
                    ({"input": {"prompt": "x", "num_outputs": 3, "seed": 7}}, 3),
                    ({"input": {"prompt": "x", "unknown_key": 1}}, 1)]:
        o, c = both(pair, "POST", "/predictions", body)
        assert o.status == c.status == 200, (body, o.text, c.text)
        assert_superset(o, c)
        for r in (o, c):
            assert r.json["status"] == "succeeded" and '"status":"succeeded"' in r.text
            assert isinstance(r.json["output"], list) and len(r.json["output"]) == n
            assert all(u.startswith("data:image/webp;base64,") for u in r.json["output"])
            assert r.json["metrics"]["predict_time"] > 0
            assert r.json["id"].startswith("pred_")
    # The seed's example request (PUT with an id).
    o, c = both(pair, "PUT", "/predictions/seed-example", SEED_EXAMPLE)
    assert o.status == c.status == 200
    assert_superset(o, c)
    for r in (o, c):
        assert r.json["id"] == "seed-example" and r.json["status"] == "succeeded"
        assert len(r.json["output"]) == 1 and r.json["output"][0].startswith("data:image/png")
    # A failing prediction is still 200 (missing body = {"input": {}}; the prompt is empty).
    for raw, hdrs in [(None, {}), (b'{"input": null}', JSON_CT), (b"{}", JSON_CT)]:
        o, c = both(pair, "POST", "/predictions", raw=raw, headers=hdrs)
        assert o.status == c.status == 200, (raw, o.text, c.text)
        assert_superset(o, c)
        assert o.json["status"] == c.json["status"] == "failed"
        assert "empty prompt" in o.json["error"] and "empty prompt" in c.json["error"]
    # A request without Content-Length (curl -X POST): no body, answered at once.
    for s in pair:
        status, seconds = raw_request(
            s, b"POST /predictions/nope/cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 404 and seconds < 5, (s.url, status, seconds)

    # Invalid inputs: both 422 with the same fields in `detail` (msg: both name the hint).
    cases = [
        ({"prompt": 3}, "string"), ({"num_outputs": "2"}, "integer"),
        ({"guidance_scale": True}, "number"), ({"seed": "x"}, "integer"),
        ({"num_outputs": 1.5}, "integer"), ({"output_quality": "80"}, "integer"),
        ({"aspect_ratio": 1}, "1:1"),
        ({"num_outputs": 0}, "1"), ({"num_outputs": 4}, "3"), ({"guidance_scale": 51}, "50"),
        ({"guidance_scale": -0.5}, "0"), ({"max_sequence_length": 0}, "1"),
        ({"max_sequence_length": 2049}, "2048"), ({"num_inference_steps": 0}, "1"),
        ({"num_inference_steps": 101}, "100"), ({"prompt_strength": 1.5}, "1"),
        ({"output_quality": 101}, "100"), ({"output_quality": -1}, "0"),
        ({"aspect_ratio": "7:3"}, "16:9"), ({"output_format": "gif"}, "webp"),
        ({"prompt": None}, None), ({"num_outputs": None}, None),
        ({"aspect_ratio": None}, None), ({"output_format": None}, None),
        ({"num_outputs": 4, "guidance_scale": 51, "aspect_ratio": "7:3", "seed": "x",
          "prompt": 1}, None),
    ]
    for inp, hint in cases:
        o, c = both(pair, "POST", "/predictions", {"input": dict({"prompt": "x"}, **inp)})
        assert o.status == c.status == 422, (inp, o.text, c.text)
        assert detail_locs(o) == detail_locs(c) == {("body", "input", k) for k in inp}, inp
        if hint is not None:
            assert hint in o.json["detail"][0]["msg"] and hint in c.json["detail"][0]["msg"], \
                (inp, o.text, c.text)
        # DELIBERATE: pydantic v2 error types (coglet: always "value_error").
        assert {d["type"] for d in c.json["detail"]} == {"value_error"}
        assert {d["type"] for d in o.json["detail"]} <= PYDANTIC_TYPES, o.text
    for inp in [[1], "str", 5]:
        o, c = both(pair, "POST", "/predictions", {"input": inp})
        assert o.status == c.status == 422
        assert detail_locs(o) == detail_locs(c) == {("body", "input", "__root__")}
    # The PUT id mismatch: the same body, byte for byte.
    o, c = both(pair, "PUT", "/predictions/abc", {"id": "xyz", "input": {"prompt": "x"}})
    assert o.status == c.status == 422 and o.json == c.json
    assert o.json["detail"][0]["loc"] == ["body", "id"]

    # Malformed requests: the same status. DELIBERATE: ours answers JSON {"detail": ...}
    # where axum writes text/plain.
    malformed = [
        (b"{not json", JSON_CT, 400), (b"a=b", {"Content-Type": "text/plain"}, 415),
        (b'{"input": {}}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"[1, 2]", JSON_CT, 422), (b"null", JSON_CT, 422), (b'"x"', JSON_CT, 422),
        (b'{"id": 5, "input": {"prompt": "x"}}', JSON_CT, 422),
        (b'{"input": {"prompt": "x"}, "webhook_events_filter": ["bogus"]}', JSON_CT, 422),
    ]
    for raw, hdrs, status in malformed:
        o, c = both(pair, "POST", "/predictions", raw=raw, headers=hdrs)
        assert o.status == c.status == status, (raw, o.status, c.status, o.text, c.text)
        assert header(c, "Content-Type").startswith("text/plain")
        assert is_json(o) and "detail" in o.json, o.text
    # The request's other fields, typed as coglet types them.
    for extra in [{"webhook_events_filter": None}, {"webhook_events_filter": "start"},
                  {"context": None}, {"context": 5}, {"context": {"a": 1}}, {"webhook": 5}]:
        o, c = both(pair, "POST", "/predictions", dict({"input": {"prompt": "x"}}, **extra))
        assert o.status == c.status == 422, (extra, o.text, c.text)
        assert all(loc[1] == next(iter(extra)) for loc in detail_locs(o)), o.text
    for extra in [{"id": None}, {"webhook": None}, {"context": {"k": "v"}},
                  {"webhook_events_filter": []}, {"created_at": 5},
                  {"created_at": "2026-01-02T03:04:05Z"}, {"output_file_prefix": "x"}]:
        o, c = both(pair, "POST", "/predictions", dict({"input": {"prompt": "x"}}, **extra))
        assert o.status == c.status == 200, (extra, o.text, c.text)
        assert o.json["status"] == c.json["status"] == "succeeded"
    for ct in ["application/json; charset=utf-8", "application/vnd.api+json"]:
        o, c = both(pair, "POST", "/predictions", raw=b'{"input": {"prompt": "x"}}',
                    headers={"Content-Type": ct})
        assert o.status == c.status == 200, ct

    # --- DELIBERATE differences, asserted one by one (docs/serve.md lists them) ---
    # Explicit null for the nullable seed/num_inference_steps: coglet's validator ignores
    # OpenAPI `nullable` and refuses it; ours (and the py server) accept it.
    for inp in [{"seed": None}, {"num_inference_steps": None}]:
        o, c = both(pair, "POST", "/predictions", {"input": dict({"prompt": "x"}, **inp)})
        assert c.status == 422 and detail_locs(c) == {("body", "input", next(iter(inp)))}
        assert o.status == 200 and o.json["status"] == "succeeded", o.text
    # A whole float for an integer: coglet passes 2.0 to the predictor (TypeError: failed);
    # ours takes it as 2.
    o, c = both(pair, "POST", "/predictions", {"input": {"prompt": "x", "num_outputs": 2.0}})
    assert o.status == c.status == 200
    assert c.json["status"] == "failed" and "TypeError" in c.json["error"]
    assert o.json["status"] == "succeeded" and len(o.json["output"]) == 2
    # An empty body with a Content-Type: {} for us (as the py server); coglet 400 / 415.
    for hdrs, cog_status in [(JSON_CT, 400), ({"Content-Type": "text/plain"}, 415)]:
        o, c = both(pair, "POST", "/predictions", raw=b"", headers=hdrs)
        assert c.status == cog_status and o.status == 200 and o.json["status"] == "failed"
    # A seed beyond 64 bits: refused by us (the generator takes a 64-bit seed).
    o, c = both(pair, "POST", "/predictions", {"input": {"prompt": "x", "seed": 2**64}})
    assert c.status == 200 and o.status == 422
    assert detail_locs(o) == {("body", "input", "seed")}
    # aspect_ratio 4:3 / 3:4: ours only.
    o, c = both(pair, "POST", "/predictions", {"input": {"prompt": "x", "aspect_ratio": "4:3"}})
    assert c.status == 422 and o.status == 200
    # A webhook that is not an http(s) URL: 422 for us (py server); coglet takes it and never
    # delivers.
    o, c = both(pair, "POST", "/predictions", {"input": {"prompt": "x"}, "webhook": "notaurl"})
    assert c.status == 200 and o.status == 422
    assert detail_locs(o) == {("body", "webhook")}


def test_async_put_busy_and_cancel(pair):
    ours, cog = pair
    # Async create: 202 at once. DELIBERATE: ours sends the full object, coglet {id, status}.
    o, c = both(pair, "POST", "/predictions", dict(SLOW, id="a1"), headers=ASYNC)
    assert o.status == c.status == 202
    assert set(c.json) == {"id", "status"} and c.json == {"id": "a1", "status": "starting"}
    assert_superset(o, c)
    assert o.json["id"] == "a1" and o.json["status"] in ("starting", "processing")
    wait_both(pair, "BUSY")
    for s in pair:  # until the worker has picked it up ("starting" before)
        deadline = time.time() + 10
        while s.request("PUT", "/predictions/a1", SLOW).json["status"] != "processing":
            assert time.time() < deadline, s.url
            time.sleep(0.02)
    # PUT of the id in flight, sync or async: 202 with its state (coglet adds `input`).
    for hdrs in [{}, ASYNC]:
        o, c = both(pair, "PUT", "/predictions/a1", SLOW, headers=hdrs)
        assert o.status == c.status == 202, (o.text, c.text)
        assert_superset(o, c)
        assert o.json["id"] == c.json["id"] == "a1"
        assert o.json["status"] == c.json["status"] == "processing"
    # Busy: another prediction (POST or PUT of another id) is 409 with coglet's keys.
    for method, path in [("POST", "/predictions"), ("PUT", "/predictions/other")]:
        for hdrs in [{}, ASYNC]:
            o, c = both(pair, method, path, {"input": {"prompt": "x"}}, headers=hdrs,
                        cog_may_lag=False)
            assert o.status == c.status == 409, (method, path, o.text, c.text)
            assert_superset(o, c)
            assert o.json["error"] == c.json["error"] and o.json["status"] == c.json["status"]
    # Validation comes before the busy check in both.
    o, c = both(pair, "POST", "/predictions", {"input": {"prompt": "x", "num_outputs": 9}})
    assert o.status == c.status == 422
    # The id mismatch too.
    o, c = both(pair, "PUT", "/predictions/a1", {"id": "a2", "input": {"prompt": "x"}})
    assert o.status == c.status == 422 and o.json == c.json
    # DELIBERATE: POST with the id in flight: ours answers it like the PUT (202, its state);
    # coglet, with its one slot taken, says 409.
    o, c = both(pair, "POST", "/predictions", dict(SLOW, id="a1"), headers=ASYNC,
                cog_may_lag=False)
    assert (o.status, c.status) == (202, 409) and o.json["id"] == "a1"
    o, c = both(pair, "GET", "/health-check")
    assert o.json["status"] == c.json["status"] == "BUSY"
    # Cancel: unknown id 404 {}, the one in flight 200 {}; then it is gone: 404.
    o, c = both(pair, "POST", "/predictions/nope/cancel")
    assert o.status == c.status == 404 and o.json == c.json == {}
    o, c = both(pair, "POST", "/predictions/a1/cancel")
    assert o.status == c.status == 200 and o.json == c.json == {}
    wait_both(pair, "READY", timeout=10)
    o, c = both(pair, "POST", "/predictions/a1/cancel")
    assert o.status == c.status == 404 and o.json == c.json == {}

    # A sync prediction with an id can be canceled too: its request returns 200 `canceled`.
    results = {}

    def run(name, server):
        results[name] = server.request("PUT", "/predictions/s1", SLOW)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in
               [("ours", ours), ("cog", cog)]]
    for t in threads:
        t.start()
    wait_both(pair, "BUSY")
    o, c = both(pair, "POST", "/predictions/s1/cancel")
    assert o.status == c.status == 200
    for t in threads:
        t.join(timeout=20)
    o, c = results["ours"], results["cog"]
    assert o.status == c.status == 200
    assert_superset(o, c)
    assert o.json["status"] == c.json["status"] == "canceled"
    assert o.json["id"] == c.json["id"] == "s1"
    wait_both(pair, "READY")
    # Finished ids are forgotten: a PUT of s1 runs it again.
    o, c = both(pair, "PUT", "/predictions/s1", {"input": {"prompt": "x"}})
    assert o.status == c.status == 200 and o.json["status"] == c.json["status"] == "succeeded"

    # Shutdown: 200 {} and both exit.
    o, c = both(pair, "POST", "/shutdown")
    assert o.status == c.status == 200 and o.json == c.json == {}
    assert ours.proc.wait(timeout=15) == 0
    cog.proc.wait(timeout=15)
