"""The loopback HTTP proxy in front of a moto server, for the tests and the benchmarks.

Every request is forwarded to moto unchanged unless a rule answers it. A rule sees the request
and returns None (next rule), a canned `Reply` (an error AWS would send, an operation moto lacks)
or a `Fault`: the connection reset, a stall, or moto's own answer mangled on the way back (cut
short, with or without a Content-Length that admits it, corrupted, replaced by an error page).
boto3 is never patched: it only sees AWS_ENDPOINT_URL.

`latency_s` delays every answer as a real AWS round trip would (the collection benchmark uses
40 ms); `keep_alive` speaks HTTP/1.1 to the client and reuses one upstream connection per
thread, as AWS endpoints do. `GET /__proxy/stats` answers {"requests": N, "by_operation": {...}}
and `POST /__proxy/reset` zeroes it (the rules stay), for a proxy run in another process:

    python -m devtools.aws_proxy --latency-ms 40   # starts moto too; prints both ports
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from auditor.demo.moto import local_moto, reset_moto

_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")

Reply = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def region(self) -> str | None:
        match = _SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else None

    @property
    def service(self) -> str | None:
        match = _SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(2) if match else None

    @property
    def target(self) -> str:
        """The operation of JSON-protocol services (X-Amz-Target: SageMaker.ListModels)."""
        return self.headers.get("X-Amz-Target", "").rpartition(".")[2]

    @property
    def operation(self) -> str:
        """The operation, as far as the wire says: JSON target, query Action, or the S3 path."""
        if self.target:
            return self.target
        if self.body and b"Action=" in self.body:
            action = parse_qs(self.body.decode("utf-8", "replace")).get("Action")
            if action:
                return action[0]
        return f"{self.method} {self.path.split('?')[0]}" + (
            f"?{self.path.split('?', 1)[1].split('=')[0]}" if "?" in self.path else ""
        )


@dataclass(frozen=True)
class Fault:
    """Something other than a well-formed answer. `kind` names it in the proof records."""

    kind: str
    stall_s: float = 0.0  # sleep before anything else
    reset: bool = False  # close the connection with RST instead of answering
    mangle: Callable[[Reply], tuple[Reply, int | None]] | None = None  # reply, declared length
    reply: Reply | None = None  # answer this instead of forwarding


Rule = Callable[[Request], "Reply | Fault | None"]


@dataclass
class Proxy:
    url: str
    upstream: tuple[str, int]
    rules: list[Rule] = field(default_factory=list)
    seen: list[Request] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    latency_s: float = 0.0
    keep_alive: bool = False
    by_operation: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": len(self.seen), "by_operation": dict(self.by_operation)}

    def zero(self) -> None:
        """Every record cleared; the rules stay."""
        with self.lock:
            self.seen.clear()
            self.faults.clear()
            self.by_operation.clear()

    def clear(self) -> None:
        """Every rule and record cleared (moto is left as it is)."""
        self.rules.clear()
        self.zero()


def json_error(code: str, message: str, status: int = 400) -> Reply:
    body = json.dumps({"__type": code, "message": message}).encode()
    return (
        status,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
        body,
    )


def json_reply(payload: dict[str, Any]) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def xml_error(code: str, message: str, status: int = 400) -> Reply:
    """A query/rest-xml protocol error (STS, IAM, S3 all read this shape)."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error></ErrorResponse>"
    ).encode()
    return status, {"Content-Type": "text/xml"}, body


# ---------------------------------------------------------------- fault makers


def cut_short(keep: float = 0.5, *, admit: bool = False) -> Fault:
    """moto's answer cut to `keep` of its bytes; the Content-Length admits it or claims all."""

    def mangle(reply: Reply) -> tuple[Reply, int | None]:
        status, headers, body = reply
        short = body[: int(len(body) * keep)]
        return (status, headers, short), (None if admit else len(body))

    return Fault("truncated" if not admit else "truncated_consistent", mangle=mangle)


def corrupt(kind: str = "garbage") -> Fault:
    """moto's 200 answer replaced: `garbage` bytes, a bare `message` object, or an empty body."""

    def mangle(reply: Reply) -> tuple[Reply, int | None]:
        status, headers, body = reply
        if status >= 300:
            return reply, None
        if kind == "message":
            new = b'{"message": "upstream request timeout"}'
        elif kind == "empty":
            new = b"{}" if body.lstrip().startswith(b"{") else b""
        else:
            new = body[: len(body) // 3] + b"\x00<<\xff}]" + body[len(body) // 3 :][::-1][:40]
        return (status, headers, new), None

    return Fault(f"malformed_{kind}", mangle=mangle)


def reset_connection() -> Fault:
    return Fault("reset", reset=True)


def stall(seconds: float) -> Fault:
    return Fault("stall", stall_s=seconds)


def throttle(service_json: bool = True) -> Fault:
    reply = (
        json_error("ThrottlingException", "Rate exceeded")
        if service_json
        else xml_error("Throttling", "Rate exceeded")
    )
    return Fault("throttle", reply=reply)


def server_error(status: int = 503) -> Fault:
    return Fault(f"http{status}", reply=json_error("ServiceUnavailable", "try again", status))


def denied(json_protocol: bool = True) -> Fault:
    reply = (
        json_error("AccessDeniedException", "not authorized", 400)
        if json_protocol
        else xml_error("AccessDenied", "not authorized", 403)
    )
    return Fault("denied", reply=reply)


def no_monitoring_schedules(request: Request) -> Reply | None:
    """moto has no ListMonitoringSchedules: answer AWS's empty list, as an account without
    monitoring schedules would."""
    if request.target == "ListMonitoringSchedules":
        return json_reply({"MonitoringScheduleSummaries": []})
    return None


def no_guardrails(request: Request) -> Reply | None:
    """moto has no Bedrock guardrails: answer ListGuardrails with AWS's empty list."""
    path = request.path.split("?")[0]
    if request.service == "bedrock" and request.method == "GET" and path == "/guardrails":
        return json_reply({"guardrails": []})
    return None


# ---------------------------------------------------------------- the server


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    local = threading.local()  # one upstream connection per thread when keep_alive

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if proxy.keep_alive else "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def _upstream(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            if not proxy.keep_alive:
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                upstream.request(
                    self.command, self.path, body=request.body or None, headers=headers
                )
                response = upstream.getresponse()
                data = response.read()
                upstream.close()
                return response.status, response.getheaders(), data
            connection = getattr(local, "connection", None)
            for attempt in range(2):
                if connection is None:
                    connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    connection.request(
                        self.command, self.path, body=request.body or None, headers=headers
                    )
                    response = connection.getresponse()
                    data = response.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    connection.close()
                    connection = None
                    if attempt:
                        raise
            assert connection is not None
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = None
            local.connection = connection
            return response.status, response.getheaders(), data

        def _forward(self, request: Request) -> Reply:
            status, headers, data = self._upstream(request)
            hop = {"connection", "transfer-encoding", "content-length", "keep-alive"}
            return status, {k: v for k, v in headers if k.lower() not in hop}, data

        def _control(self) -> None:
            """/__proxy/stats and /__proxy/reset, for a proxy in another process."""
            if self.command == "POST" and self.path.startswith("/__proxy/reset"):
                proxy.zero()
            body = json.dumps(proxy.stats()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__proxy/"):
                self._control()
                return
            request = Request(self.command, self.path, dict(self.headers.items()), body)
            with proxy.lock:
                proxy.seen.append(request)
                proxy.by_operation[f"{request.service}:{request.operation}"] += 1
            if proxy.latency_s:
                time.sleep(proxy.latency_s)
            answer: Reply | Fault | None = None
            for rule in list(proxy.rules):
                answer = rule(request)
                if answer is not None:
                    break
            declared: int | None = None
            if isinstance(answer, Fault):
                with proxy.lock:
                    proxy.faults[answer.kind] += 1
                if answer.stall_s:
                    time.sleep(answer.stall_s)
                if answer.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                reply = answer.reply or self._forward(request)
                if answer.mangle is not None:
                    reply, declared = answer.mangle(reply)
            elif answer is None:
                reply = self._forward(request)
            else:
                reply = answer
            status, headers, data = reply
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(declared or len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError:
                pass  # the client gave up (its read timeout): nothing to answer
            if declared is not None and declared != len(data):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def start_proxy(
    upstream: str, *, latency_s: float = 0.0, keep_alive: bool = False, port: int = 0
) -> tuple[Proxy, Callable[[], None]]:
    """The proxy on 127.0.0.1 in front of the moto server at `upstream` (its URL); returns the
    proxy and a stop function (moto keeps running)."""
    parts = urlsplit(upstream)
    state = Proxy(
        url="",
        upstream=(parts.hostname or "127.0.0.1", parts.port or 80),
        latency_s=latency_s,
        keep_alive=keep_alive,
    )
    front = ThreadingHTTPServer(("127.0.0.1", port), _handler(state))
    front.daemon_threads = True
    front.request_queue_size = 128
    front.handle_error = lambda request, address: None  # type: ignore[method-assign,assignment]
    state.url = f"http://127.0.0.1:{front.server_address[1]}"
    threading.Thread(target=front.serve_forever, daemon=True).start()

    def stop() -> None:
        front.shutdown()
        front.server_close()

    return state, stop


def reset(proxy: Proxy) -> None:
    """moto emptied, every rule and record cleared."""
    reset_moto(f"http://{proxy.upstream[0]}:{proxy.upstream[1]}")
    proxy.clear()


def main(argv: list[str] | None = None) -> int:
    """moto and the proxy in front of it, in this process until it is killed: for benchmarks
    that measure the collecting process alone."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="the proxy's port (default: free)")
    parser.add_argument("--latency-ms", type=float, default=40.0)
    args = parser.parse_args(argv)
    import logging

    for name in ("werkzeug", "moto", "flask.app"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with local_moto() as moto_url:
        proxy, _stop = start_proxy(
            moto_url, latency_s=args.latency_ms / 1000, keep_alive=True, port=args.port
        )
        proxy.rules += [no_monitoring_schedules, no_guardrails]  # what moto lacks
        print(f"moto {moto_url} proxy {proxy.url}", flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
