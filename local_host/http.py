"""Serve the app's HTTP functions on localhost, as the Functions host would: a request on
`/api/<route>` becomes a `func.HttpRequest` (route parameters, query, headers, body) for the
function whose route matches, and its `func.HttpResponse` goes back on the wire.

The Functions host cannot be installed here (PLATFORM.md), so tests and the local run reach the
HTTP triggers through this instead, with a real HTTP client: what a sender's request carries
(headers in any case, a query string, a body of any size) arrives as the host would hand it over.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from local_host.host import FunctionTable

MAX_REQUEST = 100 * 1024 * 1024
"""The host's own limit on a request body (`maxRequestBodySize`, 100 MB)."""


def _pattern(route: str) -> re.Pattern[str]:
    """`alerts/{source}` -> a regex with a named group per route parameter."""
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", route)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def http_routes(functions: FunctionTable) -> list[tuple[re.Pattern[str], set[str], str]]:
    """Every HTTP-triggered function: its route's pattern, its methods and its name."""
    routes = []
    for name, function in functions.functions.items():
        for binding in function.get_bindings_dict()["bindings"]:
            if binding["type"] == "httpTrigger":
                methods = {
                    str(getattr(m, "value", m)).upper()
                    for m in binding.get("methods") or ["GET", "POST"]
                }
                routes.append((_pattern(binding.get("route") or name), methods, name))
    return routes


@contextmanager
def serve_functions(functions: FunctionTable) -> Iterator[str]:
    """Serve the HTTP functions on a free local port; yields the base URL (`.../api`)."""
    routes = http_routes(functions)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the functions log what matters."""

        def _handle(self) -> None:
            url = urlsplit(self.path)
            path = url.path.removeprefix("/api/")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_REQUEST:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            for pattern, methods, name in routes:
                match = pattern.match(path)
                if match and self.command in methods:
                    request = func.HttpRequest(
                        method=self.command,
                        url=f"http://localhost{self.path}",
                        headers=dict(self.headers.items()),
                        params=dict(parse_qsl(url.query)),
                        route_params=match.groupdict(),
                        body=body,
                    )
                    response = functions.user_function(name)(request)
                    self._respond(response)
                    return
            self.send_error(404)

        def _respond(self, response: func.HttpResponse) -> None:
            payload = response.get_body()
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.mimetype or "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="faultline-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
