"""A loopback HTTP proxy that adds a fixed latency to every call, in front of a moto server.

Real AWS calls take tens of milliseconds; moto answers in one or two. The proxy sleeps
`--latency-ms` before forwarding, counts every request it forwards (retries included) and
answers the one read call moto does not implement (`ListMonitoringSchedules`, `ListGuardrails`)
with AWS's empty-list shape, as an account without monitoring schedules or guardrails would.

    python bench/latency_proxy.py --upstream 127.0.0.1:5000 --port 5001 --latency-ms 40

`GET /__bench/stats` returns {"requests": N, "by_operation": {...}}; `POST /__bench/reset` zeroes it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SCOPE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")

EMPTY_ANSWERS: dict[str, dict[str, list[Any]]] = {
    "ListMonitoringSchedules": {"MonitoringScheduleSummaries": []},
}


def make_handler(upstream: tuple[str, int], latency: float) -> type[BaseHTTPRequestHandler]:
    counter: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive towards the client, as AWS does

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.startswith("/__bench/"):
                if self.command == "POST":
                    with lock:
                        counter.clear()
                with lock:
                    stats = {"requests": sum(counter.values()), "by_operation": dict(counter)}
                self._reply(200, {"Content-Type": "application/json"}, json.dumps(stats).encode())
                return
            match = _SCOPE.search(self.headers.get("Authorization", ""))
            service = match.group(2) if match else "?"
            target = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            operation = target or f"{self.command} {self.path.split('?')[0].split('/')[1][:20]}"
            if (
                service == "bedrock"
                and self.command == "GET"
                and self.path.startswith("/guardrails")
            ):
                operation = "ListGuardrails"
            with lock:
                counter[f"{service}:{operation}"] += 1
            time.sleep(latency)
            if operation in EMPTY_ANSWERS:
                body_out = json.dumps(EMPTY_ANSWERS[operation]).encode()
                self._reply(200, {"Content-Type": "application/x-amz-json-1.1"}, body_out)
                return
            if operation == "ListGuardrails":
                self._reply(200, {"Content-Type": "application/json"}, b'{"guardrails": []}')
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            connection = getattr(local, "connection", None)
            for _ in range(2):
                if connection is None:
                    connection = http.client.HTTPConnection(*upstream, timeout=60)
                try:
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    break
                except (ConnectionError, http.client.HTTPException):
                    connection.close()
                    connection = None
            else:
                self._reply(502, {}, b"upstream failed")
                return
            if response.getheader("connection", "").lower() == "close":
                connection.close()
                connection = None
            local.connection = connection
            skip = {"connection", "transfer-encoding", "content-length", "keep-alive"}
            self._reply(
                response.status,
                {k: v for k, v in response.getheaders() if k.lower() not in skip},
                data,
            )

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True, help="host:port of the moto server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler((host, int(port)), args.latency_ms / 1000)
    )
    server.daemon_threads = True
    server.request_queue_size = 128
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
