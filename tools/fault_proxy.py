#!/usr/bin/env python3
"""A fault-injecting HTTP/1.1 proxy for S3 tests.

`FaultProxy` listens on 127.0.0.1 and forwards every request, byte for byte, to one upstream
(e.g. SeaweedFS). Request lines and headers are passed through untouched (the Host header stays
what the client signed, so SigV4 and presigned URLs keep working). Rules decide which requests get
a fault instead of a clean response:

  action      what the client sees
  ---------   --------------------------------------------------------------------------------
  error       an S3 error: HTTP `status` (default 503) with an XML body <Error><Code>..</Code>
              (SlowDown for 503, InternalError for 500, or `code`); with forward=True the request
              is first executed upstream and only the response is replaced (an "ambiguous" fault)
  reset       the request is forwarded, then `after_bytes` bytes of the response body are relayed
              and the connection is reset (RST); after_bytes=-1 resets before any response byte
              (with forward=False the request never reaches the server)
  truncate    the response headers (with the full Content-Length) and `after_bytes` bytes of the
              body are relayed, then the connection is closed cleanly (FIN)
  stall       the response headers and `after_bytes` bytes are relayed, then nothing for `seconds`
              (default: until the client gives up or the proxy stops), then the connection closes
              (for truncate/stall, after_bytes=-1 means not even the status line is sent)
  delay       sleep `seconds`, then forward normally

A rule matches on `method` (None = any), `path` (a regex searched in the raw request target,
query string included, e.g. r"partNumber=2" or r"/bucket/key$") and fires on matching requests
number skip+1 .. skip+times (times=None: forever). Each rule counts its own matches.

Control, from Python (in-process):

    proxy = FaultProxy("127.0.0.1", upstream_port).start()
    proxy.add_rule(method="GET", path=r"/big$", action="reset", after_bytes=1 << 20, times=2)
    ... proxy.log (list of dicts: method, target, action, status) ... proxy.clear()
    proxy.stop()

or over HTTP on the proxy's own port (bucket names cannot start with "_", so no S3 clash):

    POST   /__fault__/rules   JSON object (one rule) or list of them -> {"ids": [...]}
    DELETE /__fault__/rules   remove all rules and reset the log
    GET    /__fault__/log     JSON list of handled requests
    GET    /__fault__/rules   JSON list of rules with their hit counts

Command line: python3 tools/fault_proxy.py --upstream 127.0.0.1:8333 [--port 0]
Thread-safe: rules and log are guarded by a lock; one thread per client connection.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

CONTROL_PREFIX = "/__fault__/"
_ACTIONS = ("error", "reset", "truncate", "stall", "delay")
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_DEFAULT_CODES = {500: ("InternalError", "We encountered an internal error. Please try again."),
                  503: ("SlowDown", "Please reduce your request rate."),
                  502: ("BadGateway", "Bad gateway (injected by fault proxy).")}
_MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Rule:
    action: str
    method: str | None = None
    path: str | None = None
    skip: int = 0
    times: int | None = 1
    status: int = 503
    code: str | None = None
    forward: bool = False
    after_bytes: int = 0
    seconds: float | None = None
    id: int = 0
    matched: int = 0
    fired: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.action not in _ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; use one of {_ACTIONS}")
        self._regex = re.compile(self.path) if self.path else None

    def public(self) -> dict:
        d = asdict(self)
        d.pop("_regex", None)
        return d


class _Closed(Exception):
    """The peer closed the connection."""


def _read_head(f: BinaryIO) -> bytes:
    """Reads a request/response head up to and including the blank line; b"" on clean EOF."""
    lines = []
    size = 0
    while True:
        line = f.readline(_MAX_HEADER_BYTES + 1)
        if not line:
            if lines:
                raise _Closed("connection closed inside HTTP head")
            return b""
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerate stray CRLF between messages
        lines.append(line)
        size += len(line)
        if size > _MAX_HEADER_BYTES:
            raise _Closed("HTTP head too large")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _parse_headers(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k == name:
            return v
    return None


def _copy_exact(src: BinaryIO, write, n: int, limit: int | None = None) -> int:
    """Copies n bytes from src via write(); stops after `limit` bytes. Returns bytes written."""
    done = 0
    while done < n:
        want = min(256 * 1024, n - done)
        if limit is not None:
            want = min(want, limit - done)
            if want <= 0:
                return done
        chunk = src.read(want) if hasattr(src, "read") else None
        if not chunk:
            raise _Closed("connection closed inside body")
        write(chunk)
        done += len(chunk)
    return done


def _read_chunked(src: BinaryIO):
    """Yields the raw bytes of a chunked body (size lines, data, trailers) piece by piece."""
    while True:
        line = src.readline(1024)
        if not line:
            raise _Closed("connection closed inside chunked body")
        yield line
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers until blank line
                t = src.readline(_MAX_HEADER_BYTES)
                if not t:
                    raise _Closed("connection closed inside chunk trailers")
                yield t
                if t in (b"\r\n", b"\n"):
                    return
        left = size + 2  # data + CRLF
        while left:
            chunk = src.read(min(left, 256 * 1024))
            if not chunk:
                raise _Closed("connection closed inside chunk")
            left -= len(chunk)
            yield chunk


def _reset(sock: socket.socket) -> None:
    """Closes with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def s3_error_body(code: str, message: str, resource: str) -> bytes:
    from xml.sax.saxutils import escape
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<Resource>{escape(resource)}</Resource>"
            "<RequestId>FAULTPROXY0000001</RequestId></Error>").encode()


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1",
                 port: int = 0):
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._next_id = 1
        self.log: list[dict] = []
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name="fault-proxy-accept")

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ control API

    def start(self) -> "FaultProxy":
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._accept_thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(timeout=5)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_rule(self, action: str, **kwargs) -> Rule:
        rule = Rule(action=action, **kwargs)
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Removes every rule and empties the log."""
        with self._lock:
            self._rules.clear()
            self.log.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [r.public() for r in self._rules]

    def requests(self, method: str | None = None, path: str | None = None) -> list[dict]:
        """Logged requests, optionally filtered by method and a regex on the target."""
        with self._lock:
            entries = [dict(e) for e in self.log]
        return [e for e in entries if (method is None or e["method"] == method)
                and (path is None or re.search(path, e["target"]))]

    def faults_fired(self) -> int:
        with self._lock:
            return sum(r.fired for r in self._rules)

    def _match(self, method: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method and rule.method.upper() != method:
                    continue
                if rule._regex and not rule._regex.search(target):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                rule.fired += 1
                return rule
        return None

    def _record(self, **entry) -> dict:
        with self._lock:
            self.log.append(entry)
        return entry

    # ------------------------------------------------------------------ serving

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                 name="fault-proxy-conn")
            with self._lock:
                self._conns.add(conn)
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
            t.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        cin = client.makefile("rb", buffering=256 * 1024)
        uin = None
        try:
            while not self._stop.is_set():
                head = _read_head(cin)
                if not head:
                    return
                request_line, headers = _parse_headers(head)
                parts = request_line.split(" ")
                if len(parts) != 3:
                    client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                   b"Connection: close\r\n\r\n")
                    return
                method, target, _version = parts
                if target.startswith(CONTROL_PREFIX):
                    if not self._control(client, cin, method, target, headers):
                        return
                    continue
                rule = self._match(method, target)
                if rule and rule.action == "delay":
                    time.sleep(rule.seconds or 1.0)
                if rule and rule.action == "error" and not rule.forward:
                    keep = self._drain_request_body(client, cin, headers)
                    self._send_error(client, rule, target, close=not keep)
                    self._record(method=method, target=target, action="error", status=rule.status)
                    if not keep:
                        return
                    continue
                if rule and rule.action == "reset" and not rule.forward and rule.after_bytes < 0:
                    self._record(method=method, target=target, action="reset", status=None)
                    _reset(client)
                    return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=300)
                    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    uin = upstream.makefile("rb", buffering=256 * 1024)
                upstream.sendall(head)
                self._relay_request_body(cin, upstream, headers)
                keep = self._relay_response(client, uin, method, target, headers, rule)
                if not keep:
                    return
        except (_Closed, ConnectionError, OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(client)
            for f in (cin, uin):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
            if upstream is not None:
                upstream.close()
            try:
                client.close()
            except OSError:
                pass

    def _drain_request_body(self, client, cin, headers) -> bool:
        """Consumes the request body; returns False when the connection must close instead."""
        if (_header(headers, "expect") or "").lower() == "100-continue":
            return False  # answer before the body is sent, then close
        length = _header(headers, "content-length")
        if (_header(headers, "transfer-encoding") or "").lower() == "chunked":
            for _ in _read_chunked(cin):
                pass
        elif length:
            _copy_exact(cin, lambda b: None, int(length))
        return True

    @staticmethod
    def _relay_request_body(cin, upstream, headers) -> None:
        if (_header(headers, "transfer-encoding") or "").lower() == "chunked":
            for piece in _read_chunked(cin):
                upstream.sendall(piece)
            return
        length = int(_header(headers, "content-length") or 0)
        if length:
            _copy_exact(cin, upstream.sendall, length)

    def _send_error(self, client, rule: Rule, target: str, close: bool) -> None:
        code, message = _DEFAULT_CODES.get(rule.status, ("InternalError", "Injected fault."))
        if rule.code:
            code = rule.code
        body = s3_error_body(code, message, target.split("?")[0])
        reason = _REASONS.get(rule.status, "Error")
        head = (f"HTTP/1.1 {rule.status} {reason}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(body)}\r\nx-amz-request-id: FAULTPROXY0000001\r\n")
        if rule.status == 503:
            head += "Retry-After: 0\r\n"
        if close:
            head += "Connection: close\r\n"
        client.sendall(head.encode() + b"\r\n" + body)

    def _relay_response(self, client, uin, method, target, req_headers, rule) -> bool:
        """Relays one response (skipping 1xx), applying `rule`. Returns keep-alive."""
        while True:
            head = _read_head(uin)
            if not head:
                raise _Closed("upstream closed before responding")
            status_line, headers = _parse_headers(head)
            status = int(status_line.split(" ")[1])
            if 100 <= status < 200:
                continue  # we already sent the whole body; interim responses are not relayed
            break
        if rule and rule.action == "error":  # forward=True: executed upstream, answer replaced
            self._skip_body(uin, method, status, headers)
            self._send_error(client, rule, target, close=True)
            self._record(method=method, target=target, action="error+forwarded",
                         status=rule.status, upstream_status=status)
            return False
        if rule and rule.action == "reset" and rule.after_bytes < 0:
            self._record(method=method, target=target, action="reset", status=status)
            _reset(client)
            return False
        limit = rule.after_bytes if rule and rule.action in ("reset", "truncate", "stall") else None
        # Logged before the body is relayed, so a client that has its answer sees the entry.
        entry = {"method": method, "target": target, "status": status, "body_bytes": None,
                 "action": rule.action if limit is not None else "pass"}
        entry = self._record(**entry)
        if limit is not None and limit < 0:  # nothing at all, not even the status line
            self._skip_body(uin, method, status, headers)
            sent = 0
        else:
            client.sendall(head)
            sent = self._relay_body(uin, client, method, status, headers, limit)
        entry["body_bytes"] = sent
        if limit is None:
            close = ((_header(headers, "connection") or "").lower() == "close" or
                     (_header(req_headers, "connection") or "").lower() == "close")
            return not close
        if rule.action == "reset":
            _reset(client)
        elif rule.action == "truncate":
            client.shutdown(socket.SHUT_RDWR)
        elif rule.action == "stall":
            deadline = None if rule.seconds is None else time.monotonic() + rule.seconds
            client.settimeout(0.2)
            while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
                try:  # wait for the client to give up (EOF/RST) or the timer to run out
                    if client.recv(65536) == b"":
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
        return False

    @staticmethod
    def _has_body(method, status) -> bool:
        return not (method == "HEAD" or status in (204, 304) or 100 <= status < 200)

    def _skip_body(self, uin, method, status, headers) -> None:
        self._relay_body(uin, None, method, status, headers, None)

    def _relay_body(self, uin, client, method, status, headers, limit) -> int:
        """Relays the response body; with `limit`, stops after that many body bytes."""
        write = (lambda b: None) if client is None else client.sendall
        if not self._has_body(method, status):
            return 0
        if (_header(headers, "transfer-encoding") or "").lower() == "chunked":
            sent = 0
            for piece in _read_chunked(uin):
                if limit is not None and sent + len(piece) > limit:
                    write(piece[:max(0, limit - sent)])
                    return limit
                write(piece)
                sent += len(piece)
            return sent
        length = _header(headers, "content-length")
        if length is not None:
            return _copy_exact(uin, write, int(length), limit)
        sent = 0  # until close
        while True:
            chunk = uin.read(256 * 1024)
            if not chunk:
                return sent
            if limit is not None and sent + len(chunk) > limit:
                write(chunk[:limit - sent])
                return limit
            write(chunk)
            sent += len(chunk)

    def _control(self, client, cin, method, target, headers) -> bool:
        length = int(_header(headers, "content-length") or 0)
        body = cin.read(length) if length else b""
        path = target.split("?")[0]
        status, payload = 200, None
        try:
            if path == CONTROL_PREFIX + "rules" and method == "POST":
                spec = json.loads(body or b"{}")
                specs = spec if isinstance(spec, list) else [spec]
                payload = {"ids": [self.add_rule(**s).id for s in specs]}
            elif path == CONTROL_PREFIX + "rules" and method == "DELETE":
                self.clear()
                payload = {"ok": True}
            elif path == CONTROL_PREFIX + "rules" and method == "GET":
                payload = self.rules()
            elif path == CONTROL_PREFIX + "log" and method == "GET":
                payload = self.requests()
            else:
                status, payload = 404, {"error": f"no control route {method} {path}"}
        except (ValueError, TypeError) as e:
            status, payload = 400, {"error": str(e)}
        data = json.dumps(payload).encode()
        client.sendall(f"HTTP/1.1 {status} {_REASONS.get(status, 'X')}\r\nContent-Type: "
                       f"application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        return True


def main() -> int:
    ap = argparse.ArgumentParser(description="Fault-injecting HTTP proxy for S3 tests")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0 = free)")
    args = ap.parse_args()
    host, _, port = args.upstream.rpartition(":")
    proxy = FaultProxy(host or "127.0.0.1", int(port), port=args.port).start()
    print(f"fault proxy on {proxy.endpoint} -> {args.upstream}; control at "
          f"{proxy.endpoint}{CONTROL_PREFIX}rules", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
