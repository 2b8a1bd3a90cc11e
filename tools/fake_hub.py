#!/usr/bin/env python3
"""A fake Hugging Face Hub for tests: serves local directory trees through the Hub's real HTTP API.

Endpoints (models only), with the headers huggingface_hub and sdxl-tigris rely on:
  GET  /api/models/{repo}/revision/{rev}        -> {"id", "sha", "siblings"}
  GET  /api/models/{repo}/tree/{rev}?recursive= -> JSON list, paginated with `Link: <..>; rel="next"`
  GET|HEAD /{repo}/resolve/{rev}/{path}         -> small files: 200 with ETag (git sha1),
       X-Repo-Commit; LFS files (weights): 302 to a second host/port (the "CDN") with
       X-Linked-Etag (sha256), X-Linked-Size, X-Repo-Commit. Both honour `Range`.
  GET  /_stats                                  -> request counters (for tests)
  POST /_config                                 -> change failure injection at run time (JSON body)

Behaviour switches (command line or /_config): gated and private repos, a token, rate limiting
(429 with RateLimit headers) for the first N requests, 5xx for the first N requests, a byte rate
limit on the CDN (to kill a download mid-way). The CDN refuses any request that carries an
Authorization header (a client must never forward the token to another host).

Usage: fake_hub.py --repo org/name=DIR [--repo ...] [--port 0] [--port-file F] [--token T]
       [--gated org/name] [--private org/name] [--page-size N] [--rate-limit-first N]
       [--fail-first N] [--cdn-bytes-per-sec N]
Also importable: FakeHub(...).start() / .stop(), .url, .stats().
"""
import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".onnx", ".onnx_data", ".msgpack", ".pth", ".pt",
                ".h5", ".xml", ".pdf", ".png", ".jpg", ".gguf")
LFS_MIN_SIZE = 10 * 1024 * 1024


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_digests(path):
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1()
    size = os.path.getsize(path)
    sha1.update(b"blob %d\0" % size)
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            sha256.update(b)
            sha1.update(b)
    return size, sha256.hexdigest(), sha1.hexdigest()


class Repo:
    def __init__(self, repo_id, root):
        self.repo_id = repo_id
        self.root = os.path.abspath(root)
        self.files = {}  # path -> dict(size, oid, lfs_sha256 or None, abs)
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                abs_path = os.path.join(dirpath, name)
                rel = os.path.relpath(abs_path, self.root).replace(os.sep, "/")
                size, sha256, sha1 = file_digests(abs_path)
                lfs = rel.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
                entry = {"size": size, "abs": abs_path, "lfs_sha256": sha256 if lfs else None}
                if lfs:
                    pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                               % (sha256, size)).encode()
                    entry["oid"] = git_blob_sha1(pointer)
                    entry["pointer_size"] = len(pointer)
                else:
                    entry["oid"] = sha1
                self.files[rel] = entry
        h = hashlib.sha1()
        for rel in sorted(self.files):
            h.update(("%s %s\n" % (rel, self.files[rel]["oid"])).encode())
        self.commit = h.hexdigest()
        self.blobs = {e["lfs_sha256"]: e["abs"] for e in self.files.values() if e["lfs_sha256"]}

    def tree_entries(self):
        dirs = set()
        for rel in self.files:
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        entries = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0,
                    "path": d} for d in dirs]
        for rel, e in self.files.items():
            item = {"type": "file", "oid": e["oid"], "size": e["size"], "path": rel}
            if e["lfs_sha256"]:
                item["lfs"] = {"oid": e["lfs_sha256"], "size": e["size"],
                               "pointerSize": e["pointer_size"]}
            entries.append(item)
        entries.sort(key=lambda x: x["path"])
        return entries


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.repos = {}
        self.token = None
        self.gated = set()
        self.private = set()
        self.page_size = 50
        self.rate_limit_first = 0
        self.fail_first = 0
        self.cdn_bytes_per_sec = 0
        self.stats = {"requests": 0, "api": 0, "resolve": 0, "cdn": 0, "cdn_bytes": 0,
                      "resolve_bytes": 0, "range_requests": 0, "auth_on_cdn": 0, "429": 0,
                      "5xx": 0, "paths": {}}

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def take_injected_failure(self):
        with self.lock:
            if self.rate_limit_first > 0:
                self.rate_limit_first -= 1
                self.stats["429"] += 1
                return 429
            if self.fail_first > 0:
                self.fail_first -= 1
                self.stats["5xx"] += 1
                return 503
        return None


def make_handler(state, cdn_url_fn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet
            if os.environ.get("FAKE_HUB_VERBOSE"):
                sys.stderr.write("fake_hub: " + fmt % args + "\n")

        # ---- helpers -------------------------------------------------------------------------
        def send_plain(self, status, body=b"", headers=None, content_type="application/json"):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_error_code(self, status, code, message, extra=None):
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            headers.update(extra or {})
            self.send_plain(status, json.dumps({"error": message}).encode(), headers)

        def token(self):
            auth = self.headers.get("Authorization", "")
            return auth[7:].strip() if auth.lower().startswith("bearer ") else None

        def check_access(self, repo_id):
            """Returns the Repo, or None after answering with the Hub's error."""
            tok = self.token()
            if tok is not None and state.token is not None and tok != state.token:
                self.send_error_code(401, None, "Invalid credentials in Authorization header")
                return None
            authed = tok is not None and tok == state.token
            repo = state.repos.get(repo_id)
            if repo is None or (repo_id in state.private and not authed):
                if authed:
                    self.send_error_code(404, "RepoNotFound", "Repository not found")
                else:
                    self.send_error_code(401, "RepoNotFound", "Invalid username or password.")
                return None
            # A gated repo stays closed to everyone until /_config ungates it ("access granted").
            if repo_id in state.gated:
                if not authed:
                    self.send_error_code(401, "GatedRepo",
                                         "Access to model %s is restricted. You must have access "
                                         "to it and be authenticated to access it." % repo_id)
                else:
                    self.send_error_code(403, "GatedRepo",
                                         "Access to model %s is restricted and you are not in the "
                                         "authorized list. Visit %s/%s to ask for access."
                                         % (repo_id, "https://huggingface.co", repo_id))
                return None
            return repo

        def check_revision(self, repo, rev):
            if rev in ("main", repo.commit):
                return True
            self.send_error_code(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
            return False

        def parse_range(self, size):
            rng = self.headers.get("Range")
            if not rng:
                return None
            m = re.match(r"bytes=(\d+)-(\d*)$", rng.strip())
            if not m:
                return None
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else size - 1
            return start, min(end, size - 1)

        def serve_file(self, path, headers, count_key):
            size = os.path.getsize(path)
            rng = self.parse_range(size)
            if rng is not None:
                state.count("range_requests")
                start, end = rng
                if start >= size:
                    self.send_plain(416, b"", dict(headers, **{"Content-Range": "bytes */%d" % size}))
                    return
                status = 206
                headers = dict(headers, **{"Content-Range": "bytes %d-%d/%d" % (start, end, size)})
            else:
                start, end, status = 0, size - 1, 200
            length = end - start + 1
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            rate = state.cdn_bytes_per_sec if count_key == "cdn_bytes" else 0
            with open(path, "rb") as f:
                f.seek(start)
                left = length
                chunk = 1 << 16 if rate == 0 else max(1024, min(1 << 16, rate // 10))
                while left > 0:
                    b = f.read(min(chunk, left))
                    if not b:
                        break
                    try:
                        self.wfile.write(b)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    state.count(count_key, len(b))
                    left -= len(b)
                    if rate:
                        time.sleep(len(b) / rate)

        # ---- routes --------------------------------------------------------------------------
        def do_HEAD(self):
            self.do_GET()

        def do_POST(self):
            if self.path == "/_config":
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                cfg = json.loads(body or b"{}")
                with state.lock:
                    for k in ("rate_limit_first", "fail_first", "cdn_bytes_per_sec", "page_size"):
                        if k in cfg:
                            setattr(state, k, int(cfg[k]))
                    if "token" in cfg:
                        state.token = cfg["token"]
                    if "gated" in cfg:
                        state.gated = set(cfg["gated"])
                    if "private" in cfg:
                        state.private = set(cfg["private"])
                self.send_plain(200, b"{}")
                return
            self.send_plain(405, b"{}")

        def do_GET(self):
            state.count("requests")
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            query = urllib.parse.parse_qs(url.query)
            if path == "/_stats":
                with state.lock:
                    body = json.dumps(state.stats).encode()
                self.send_plain(200, body)
                return
            if path.startswith("/cdn/"):
                return self.handle_cdn(path[len("/cdn/"):])
            with state.lock:
                state.stats["paths"][path] = state.stats["paths"].get(path, 0) + 1
            injected = state.take_injected_failure()
            if injected == 429:
                self.send_error_code(429, None, "Too many requests", {
                    "RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=500;w=300',
                    "Retry-After": "1"})
                return
            if injected:
                self.send_error_code(injected, None, "Service unavailable (injected)")
                return
            m = re.match(r"^/api/models/(.+)/revision/([^/]+)$", path)
            if m:
                state.count("api")
                return self.handle_revision(m.group(1), m.group(2))
            m = re.match(r"^/api/models/(.+)/tree/([^/]+)(/.*)?$", path)
            if m:
                state.count("api")
                return self.handle_tree(m.group(1), m.group(2), query, url.query)
            m = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
            if m:
                state.count("resolve")
                return self.handle_resolve(m.group(1), m.group(2), m.group(3))
            self.send_error_code(404, None, "Not found")

        def handle_revision(self, repo_id, rev):
            repo = self.check_access(repo_id)
            if repo is None or not self.check_revision(repo, rev):
                return
            body = {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": repo_id in state.private,
                    "gated": "manual" if repo_id in state.gated else False,
                    "siblings": [{"rfilename": p} for p in sorted(repo.files)]}
            self.send_plain(200, json.dumps(body).encode())

        def handle_tree(self, repo_id, rev, query, raw_query):
            repo = self.check_access(repo_id)
            if repo is None or not self.check_revision(repo, rev):
                return
            entries = repo.tree_entries()
            if query.get("recursive", ["false"])[0].lower() not in ("true", "1"):
                entries = [e for e in entries if "/" not in e["path"]]
            cursor = int(query.get("cursor", ["0"])[0])
            page = entries[cursor:cursor + state.page_size]
            headers = {}
            if cursor + state.page_size < len(entries):
                q = {k: v[0] for k, v in query.items()}
                q["cursor"] = str(cursor + state.page_size)
                next_url = "http://%s%s?%s" % (self.headers.get("Host"),
                                               urllib.parse.quote(self.path.split("?")[0]),
                                               urllib.parse.urlencode(q))
                headers["Link"] = '<%s>; rel="next"' % next_url
            self.send_plain(200, json.dumps(page).encode(), headers)

        def handle_resolve(self, repo_id, rev, file_path):
            repo = self.check_access(repo_id)
            if repo is None or not self.check_revision(repo, rev):
                return
            entry = repo.files.get(file_path)
            if entry is None:
                self.send_error_code(404, "EntryNotFound", "Entry not found",
                                     {"X-Repo-Commit": repo.commit})
                return
            headers = {"X-Repo-Commit": repo.commit, "ETag": '"%s"' % entry["oid"]}
            if entry["lfs_sha256"]:
                headers["X-Linked-Etag"] = '"%s"' % entry["lfs_sha256"]
                headers["X-Linked-Size"] = str(entry["size"])
                headers["Location"] = "%s/cdn/%s?X-Amz-Signature=fake&name=%s" % (
                    cdn_url_fn(), entry["lfs_sha256"], urllib.parse.quote(file_path, safe=""))
                self.send_plain(302, b"", headers, content_type="text/plain")
                return
            self.serve_file(entry["abs"], headers, "resolve_bytes")

        def handle_cdn(self, rest):
            state.count("cdn")
            if self.headers.get("Authorization"):
                state.count("auth_on_cdn")
                self.send_plain(400, b"Authorization header forwarded to the CDN", {},
                                content_type="text/plain")
                return
            sha = rest.split("?")[0]
            for repo in state.repos.values():
                if sha in repo.blobs:
                    self.serve_file(repo.blobs[sha], {"ETag": '"%s"' % sha}, "cdn_bytes")
                    return
            self.send_plain(404, b"NoSuchKey", {}, content_type="text/plain")

    return Handler


class FakeHub:
    """Two threaded HTTP servers on 127.0.0.1: the Hub API and the CDN it redirects to."""

    def __init__(self, repos, token=None, gated=(), private=(), page_size=50, rate_limit_first=0,
                 fail_first=0, cdn_bytes_per_sec=0, port=0, cdn_port=0):
        self.state = State()
        for repo_id, root in repos.items():
            self.state.repos[repo_id] = Repo(repo_id, root)
        self.state.token = token
        self.state.gated = set(gated)
        self.state.private = set(private)
        self.state.page_size = page_size
        self.state.rate_limit_first = rate_limit_first
        self.state.fail_first = fail_first
        self.state.cdn_bytes_per_sec = cdn_bytes_per_sec
        self.cdn = ThreadingHTTPServer(("127.0.0.1", cdn_port), make_handler(self.state, lambda: ""))
        cdn_url = "http://127.0.0.1:%d" % self.cdn.server_address[1]
        self.api = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self.state, lambda: cdn_url))
        self.api.daemon_threads = self.cdn.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.api.server_address[1]
        self.cdn_url = cdn_url
        self._threads = []

    def commit(self, repo_id):
        return self.state.repos[repo_id].commit

    def stats(self):
        with self.state.lock:
            return json.loads(json.dumps(self.state.stats))

    def configure(self, **cfg):
        with self.state.lock:
            for k, v in cfg.items():
                setattr(self.state, k, set(v) if k in ("gated", "private") else v)

    def start(self):
        for srv in (self.api, self.cdn):
            t = threading.Thread(target=srv.serve_forever, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for srv in (self.api, self.cdn):
            srv.shutdown()
            srv.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", action="append", default=[], help="org/name=DIR (repeatable)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cdn-port", type=int, default=0)
    ap.add_argument("--port-file", help="write the API URL here once listening")
    ap.add_argument("--token")
    ap.add_argument("--gated", action="append", default=[])
    ap.add_argument("--private", action="append", default=[])
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--rate-limit-first", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--cdn-bytes-per-sec", type=int, default=0)
    args = ap.parse_args()
    repos = {}
    for spec in args.repo:
        if "=" not in spec:
            ap.error("--repo wants org/name=DIR, got %r" % spec)
        rid, d = spec.split("=", 1)
        if not os.path.isdir(d):
            ap.error("--repo %s: %s is not a directory" % (rid, d))
        repos[rid] = d
    hub = FakeHub(repos, token=args.token, gated=args.gated, private=args.private,
                  page_size=args.page_size, rate_limit_first=args.rate_limit_first,
                  fail_first=args.fail_first, cdn_bytes_per_sec=args.cdn_bytes_per_sec,
                  port=args.port, cdn_port=args.cdn_port).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(hub.url)
        os.replace(tmp, args.port_file)
    print("fake hub at %s (cdn %s)" % (hub.url, hub.cdn_url), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()


if __name__ == "__main__":
    main()
