"""The HTTPS server every wire fake runs on: a WSGI app served on 127.0.0.1 under a test CA.

The Azure SDKs refuse bearer tokens over plain HTTP, and a tracker's private token should not
travel in the clear either, so the fakes speak TLS as the services do. Generating keys dominates
start-up, so the CA and its leaf certificate are made once per process; each server writes the
CA to a temporary folder of its own (`ca_path`) for the client's `connection_verify`.
"""

from __future__ import annotations

import functools
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import trustme
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["HttpsServer", "local_pki"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@functools.cache
def local_pki() -> tuple[trustme.CA, trustme.LeafCert]:
    """One CA per process, with a certificate for 127.0.0.1 and localhost."""
    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost")


class HttpsServer:
    """`app` served over HTTPS on a free port of 127.0.0.1 by a daemon thread, between `start`
    and `stop` (a fake's `__enter__` and `__exit__`)."""

    port: int
    ca_path: str

    def __init__(self, app: WsgiApp, name: str) -> None:
        self._app = app
        self._name = name
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """`https://127.0.0.1:PORT`, without a trailing slash."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        ca, certificate = local_pki()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self._tempdir = tempfile.TemporaryDirectory(prefix=f"{self._name}-")
        self.ca_path = str(Path(self._tempdir.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, ssl_context=context)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown waits up to one poll; keep teardown fast
            name=self._name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self._tempdir is not None:
            self._tempdir.cleanup()
