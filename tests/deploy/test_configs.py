"""Every deploy file, read by its platform's own parser, and checked against what `serve` actually
does (one source of truth, not copies that drift):

  deploy/skypilot.yaml   SkyPilot 0.14.1's own loader (sky.Task.from_yaml_config: its JSON schemas,
                         env/secret handling, SkyServiceSpec), in a private venv made by
                         deploy/install-skypilot.sh; its readiness probe is sent to a real `serve`
                         (fake engine) and must be 200 when READY and not 200 when setup failed;
                         its `run` script is executed with a stand-in `docker` to see the command
  deploy/fly.toml        tomllib
  deploy/k8s/*.yaml      pyyaml + structural checks (what kubeconform would say offline for the
                         fields used; selectors, named ports, volumes, probes, Secret keys)
  deploy/Containerfile   port, user, cache volume

The port, the health path, the readiness file, the environment variable names and the cache
directory in every file must match the binary: `serve --help`, the index document `GET /` of a
running server, its /openapi.json, and the names the C++ sources look up (deploy_helpers)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tomllib

import pytest
import yaml

from deploy_helpers import DEPLOY, REPO, ServeProc, http, serve_read_env_names, wait_health

SEED_ENV = {"AWS_ENDPOINT_URL_S3", "AWS_REGION", "MODEL_BUCKET_NAME", "MODEL_PATH",
            "PUBLIC_BUCKET_NAME"}
SECRETS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Variables deploy files may name that are for the platform or the container, not for `serve`.
NOT_SERVE = {"SDXL_IMAGE",  # skypilot.yaml: which image its run script starts
             "LD_LIBRARY_PATH", "HOME", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"}
TOKEN = "probe-token-0123456789"


# ------------------------------------------------------------------------------ sources of truth

@pytest.fixture(scope="module")
def serve_facts(sdxl_binary, tmp_path_factory):
    """What the binary says: default port, routes (index document), inputs (openapi)."""
    help_text = subprocess.run([str(sdxl_binary), "serve", "--help"], capture_output=True,
                               text=True, check=True).stdout
    m = re.search(r"default \$PORT, else (\d+)", help_text)
    assert m, help_text
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SDXL_API"))}
    s = ServeProc(sdxl_binary, tmp_path_factory.mktemp("facts"), env)
    try:
        wait_health(s.url, ("READY",), timeout=60, alive=lambda: s.proc.poll() is None,
                    logs=s.logs)
        index = json.loads(http("GET", s.url + "/")[1])
        openapi = json.loads(http("GET", s.url + "/openapi.json")[1])
    finally:
        s.stop()
    ready_file = re.findall(r'"(/var/run/cog/[a-z]+)"', (REPO / "src/serve/server.cc").read_text())
    return {"port": int(m.group(1)), "index": index, "openapi": openapi,
            "env": serve_read_env_names(), "ready_file": ready_file}


def containerfile():
    text = (DEPLOY / "Containerfile").read_text()
    lines, cur = [], ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        cur += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
    env = {}
    for line in lines:
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    def get(word):
        return [ln.split(None, 1)[1] for ln in lines if ln.startswith(word + " ")]
    return {"env": env, "user": get("USER"), "expose": get("EXPOSE"), "volume": get("VOLUME"),
            "entrypoint": get("ENTRYPOINT"), "from": get("FROM")}


def test_containerfile_matches_serve(serve_facts):
    c = containerfile()
    assert c["from"] == ["scratch"]  # no registry
    assert c["expose"] == [str(serve_facts["port"])]
    assert c["env"]["PORT"] == str(serve_facts["port"])
    assert c["user"] == ["10001:10001"]
    assert json.loads(c["volume"][0]) == [c["env"]["MODEL_CACHE_DIR"]] == ["/cache"]
    assert json.loads(c["entrypoint"][0]) == ["/usr/local/bin/sdxl-tigris", "serve"]
    assert set(c["env"]) - serve_facts["env"] <= NOT_SERVE


# ------------------------------------------------------------------------------------- SkyPilot

@pytest.fixture(scope="module")
def sky_python():
    proc = subprocess.run(["bash", str(DEPLOY / "install-skypilot.sh")], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, ("could not create the SkyPilot venv (deploy/install-skypilot.sh;"
                                  f" needs PyPI once):\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


_SKY_LOAD = r"""
import json, sys
import sky
from sky.utils import yaml_utils
path, overrides, secrets = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
config = yaml_utils.read_yaml(path)
try:
    task = sky.Task.from_yaml_config(config, env_overrides=list(overrides.items()) or None,
                                     secrets_overrides=list(secrets.items()) or None)
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
    sys.exit(0)
s = task.service
print(json.dumps({
    "version": sky.__version__,
    "name": task.name,
    "probe": {"path": s.readiness_path, "post_data": s.post_data,
              "headers": s.readiness_headers, "initial_delay": s.initial_delay_seconds,
              "timeout": s.readiness_timeout_seconds},
    "replicas": [s.min_replicas, s.max_replicas, s.target_qps_per_replica],
    "resources": sorted([{"accelerators": r.accelerators, "ports": r.ports,
                          "disk_size": r.disk_size} for r in task.resources],
                        key=lambda r: json.dumps(r["accelerators"])),
    "envs": task.envs,
    "secret_names": sorted(task.secrets),
    "secret_values": {k: v.get_secret_value() for k, v in task.secrets.items()},
    "setup": task.setup, "run": task.run,
}))
"""


def sky_load(sky_python, path, overrides=None, secrets=None):
    proc = subprocess.run([sky_python, "-c", _SKY_LOAD, str(path), json.dumps(overrides or {}),
                           json.dumps(secrets or {})], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sky_task(sky_python):
    return sky_load(sky_python, DEPLOY / "skypilot.yaml", {"SDXL_IMAGE": "registry.test/sdxl:1"},
                    {"AWS_ACCESS_KEY_ID": "AKTEST", "AWS_SECRET_ACCESS_KEY": "SKTEST",
                     "SDXL_API_TOKEN": TOKEN})


def test_skypilot_loader_accepts_the_service(sky_task, serve_facts):
    t = sky_task
    assert t["version"] == "0.14.1"
    assert t["replicas"] == [1, 3, 0.5]
    assert t["probe"]["path"] == "/ready" and t["probe"]["post_data"] is None
    assert t["probe"]["initial_delay"] >= 600  # image pull + weights on a cold replica
    # Any one of the seed's cards that the CUDA 13 build supports (no V100: compute 7.0).
    accels = {k for r in t["resources"] for k in r["accelerators"]}
    assert accels == {"RTXA4000", "RTXA5000", "RTXA6000", "T4", "L4", "A10G"}
    assert all(r["accelerators"] == {next(iter(r["accelerators"])): 1} for r in t["resources"])
    assert {tuple(r["ports"]) for r in t["resources"]} == {(str(serve_facts["port"]),)}
    # The seed's variables as plain env, the keys (and the API token) as secrets only.
    assert SEED_ENV <= set(t["envs"]) and not (SECRETS & set(t["envs"]))
    assert t["secret_names"] == sorted(SECRETS | {"SDXL_API_TOKEN"})
    assert t["envs"]["AWS_REGION"] == "auto"
    assert t["envs"]["AWS_ENDPOINT_URL_S3"] == "https://t3.storage.dev"
    names = set(t["envs"]) | set(t["secret_names"])
    assert names - serve_facts["env"] <= NOT_SERVE, names - serve_facts["env"]
    assert not t["probe"]["headers"]  # /ready needs no token


def test_skypilot_loader_rejects_what_it_should(sky_python, tmp_path):
    """The loader really validates: no image given, or a misspelt service key, is an error."""
    no_image = sky_load(sky_python, DEPLOY / "skypilot.yaml")
    assert "SDXL_IMAGE" in no_image.get("error", ""), no_image
    bad = yaml.safe_load((DEPLOY / "skypilot.yaml").read_text())
    bad["service"]["readiness_prob"] = bad["service"].pop("readiness_probe")
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    err = sky_load(sky_python, p, {"SDXL_IMAGE": "x"}).get("error", "")
    assert "readiness_prob" in err, err


def test_skypilot_probe_is_200_only_when_ready(sky_task, serve_facts, sdxl_binary, tmp_path):
    """SkyServe's probe, sent to a real `serve`: 200 when READY (without the API token); 503 when
    setup failed, where /health-check would still say 200."""
    probe = sky_task["probe"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SDXL_API_TOKEN"] = TOKEN
    ready = ServeProc(sdxl_binary, tmp_path, env)
    failed = ServeProc(sdxl_binary, tmp_path, env, model=str(tmp_path / "no-such-model"))
    try:
        wait_health(ready.url, ("READY",), timeout=60, logs=ready.logs)
        wait_health(failed.url, ("SETUP_FAILED",), timeout=60, logs=failed.logs)
        status, text = http("GET", ready.url + probe["path"], timeout=probe["timeout"])
        assert status == 200 and json.loads(text)["status"] == "READY", text
        assert http("GET", failed.url + probe["path"])[0] == 503
        assert http("GET", failed.url + "/health-check")[0] == 200  # why not probe that
    finally:
        ready.stop()
        failed.stop()


def test_skypilot_run_script_passes_names_not_values(sky_task, tmp_path):
    """setup/run executed with a stand-in `docker`: the image, the GPU, port 5000, the cache
    volume, and every variable passed by name (-e NAME), so no secret is on a command line."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text('#!/bin/sh\n[ "$1" = info ] && exit 0\n'
                                 'printf "%s\\n" "$@" > "$ARGS_OUT.$1"\n')
    (fake / "docker").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "ARGS_OUT": str(tmp_path / "args"),
           **sky_task["envs"], **sky_task["secret_values"]}
    for part in ("setup", "run"):
        proc = subprocess.run(["bash", "-c", sky_task[part]], env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    pull = (tmp_path / "args.pull").read_text().split("\n")
    assert pull[:2] == ["pull", "registry.test/sdxl:1"]
    argv = (tmp_path / "args.run").read_text().split("\n")
    assert argv[0] == "run" and argv[-2] == "registry.test/sdxl:1"
    joined = " ".join(argv)
    assert "--gpus all" in joined and "-p 5000:5000" in joined and "-v sdxl-cache:/cache" in joined
    passed = {argv[i + 1] for i, a in enumerate(argv) if a == "-e"}
    assert passed == SEED_ENV | SECRETS | {"SDXL_API_TOKEN"}
    for value in sky_task["secret_values"].values():
        assert value not in joined


# --------------------------------------------------------------------------------------- Fly.io

def test_fly_toml(serve_facts):
    fly = tomllib.loads((DEPLOY / "fly.toml").read_text())
    svc = fly["http_service"]
    assert svc["internal_port"] == serve_facts["port"]
    assert int(fly["env"]["PORT"]) == serve_facts["port"]
    (check,) = svc["checks"]
    assert check["path"] == "/ready" and check["method"] == "GET"
    assert svc["concurrency"]["soft_limit"] == 1  # one GPU slot per machine
    (mount,) = fly["mounts"]
    assert mount["destination"] == fly["env"]["MODEL_CACHE_DIR"] == "/cache"
    (vm,) = fly["vm"]
    assert vm["size"] in {"a10", "l40s", "a100-40gb", "a100-80gb"}  # Fly's GPU presets
    assert fly["kill_signal"] == "SIGTERM" and int(fly["kill_timeout"].rstrip("s")) >= 60
    assert SEED_ENV <= set(fly["env"])
    assert not (SECRETS | {"SDXL_API_TOKEN"}) & set(fly["env"])  # `fly secrets set`, by name
    assert set(fly["env"]) - serve_facts["env"] <= NOT_SERVE
    text = (DEPLOY / "fly.toml").read_text()
    for name in SECRETS | {"SDXL_API_TOKEN"}:
        assert f"{name}=" in text  # the `fly secrets set` line in the header names each one


# ----------------------------------------------------------------------------------- Kubernetes

def k8s_docs():
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], path
            docs[doc["kind"]] = doc
    return docs


def test_kubernetes_manifests(serve_facts):
    docs = k8s_docs()
    assert set(docs) == {"Deployment", "Service", "Secret"}
    dep, svc, secret = docs["Deployment"], docs["Service"], docs["Secret"]
    assert dep["apiVersion"] == "apps/v1" and svc["apiVersion"] == secret["apiVersion"] == "v1"
    spec = dep["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": serve_facts["port"]}
    assert svc["spec"]["ports"][0]["targetPort"] in ports
    # Readiness: the file serve writes when ready (Cog's convention), read with the image's cat.
    assert c["readinessProbe"]["exec"]["command"] == ["cat", *serve_facts["ready_file"]]
    live = c["livenessProbe"]["httpGet"]
    assert live["path"] == serve_facts["index"]["healthcheck_url"] and live["port"] in ports
    # GPU, graceful stop, the image's user, the cache volume where MODEL_CACHE_DIR points.
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in c["env"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts.values()) == set(volumes)
    assert env["MODEL_CACHE_DIR"] in mounts and "/var/run/cog" in mounts and "/tmp" in mounts
    # Secrets only through the Secret; its keys are variables serve reads.
    assert SEED_ENV <= set(env) and not (SECRETS & set(env))
    (ref,) = c["envFrom"]
    assert ref["secretRef"]["name"] == secret["metadata"]["name"]
    assert set(secret["stringData"]) == SECRETS | {"SDXL_API_TOKEN"}
    assert (set(env) | set(secret["stringData"])) - serve_facts["env"] <= NOT_SERVE
    assert all(v.startswith("<") for v in secret["stringData"].values())  # a template, no keys


# ------------------------------------------------------------------------------ one truth: port

def test_every_file_uses_serves_port_and_routes(serve_facts, sky_task):
    port = serve_facts["port"]
    assert port == 5000
    fly = tomllib.loads((DEPLOY / "fly.toml").read_text())
    dep = k8s_docs()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    found = {"Containerfile": int(containerfile()["expose"][0]),
             "skypilot.yaml": int(sky_task["resources"][0]["ports"][0]),
             "skypilot run": int(re.search(r"-p (\d+):(\d+)", sky_task["run"]).group(2)),
             "fly.toml": fly["http_service"]["internal_port"],
             "k8s": dep["ports"][0]["containerPort"]}
    assert set(found.values()) == {port}, found
    assert serve_facts["index"]["healthcheck_url"] == "/health-check"


def test_every_platform_sets_the_same_seed_values(sky_task):
    """The seed's variables have one value across SkyPilot, Fly.io and Kubernetes, and the cache
    directory is the image's everywhere it is set."""
    fly = tomllib.loads((DEPLOY / "fly.toml").read_text())["env"]
    dep = k8s_docs()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    k8s = {e["name"]: e["value"] for e in dep["env"]}
    for name in SEED_ENV:
        assert sky_task["envs"][name] == fly[name] == k8s[name], name
    cache = containerfile()["env"]["MODEL_CACHE_DIR"]
    assert fly["MODEL_CACHE_DIR"] == k8s["MODEL_CACHE_DIR"] == cache
    assert f"-v sdxl-cache:{cache} " in sky_task["run"]


def test_scripts_are_executable():
    for name in ("build-image.sh", "install-skypilot.sh"):
        assert (DEPLOY / name).stat().st_mode & stat.S_IXUSR, name
