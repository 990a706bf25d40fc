"""Slack, Teams and a webhook receiver on loopback (Werkzeug), speaking their wire formats.

As strict as the services on what Faultline relies on:

- Slack incoming webhook (`POST /slack/webhook/<id>`): JSON with `text` or `blocks`, else 400
  `invalid_payload`; an unknown webhook 404 `no_service`; success is 200 with the body `ok`.
- Slack Web API `chat.postMessage` (`POST /slack/api/chat.postMessage`): a bearer token it
  knows, else 200 `{"ok": false, "error": "invalid_auth"}`; `channel` it knows, else
  `channel_not_found`; a `thread_ts` must be a message in that channel (`thread_not_found`);
  success is `{"ok": true, "channel", "ts"}` with a fresh `ts`.
- Teams Workflows webhook (`POST /teams/<id>`): the `message` envelope with one Adaptive Card
  attachment, the card valid against the Adaptive Card 1.5 schema, else 400; success is 202.
- Webhook (`POST /hook/<id>`): `X-Faultline-Signature-256` must verify over the timestamp and
  the body with the receiver's key and the timestamp be within five minutes, else 401; the body
  must be JSON; a delivery id seen before is acknowledged and not taken again, as a receiver
  that dedupes does.

Faults are queued per path (`fail(path, ...)`): a status with optional `Retry-After`, or a delay
before answering (longer than the client's timeout). Every request is recorded; `taken` lists
the messages each receiver accepted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from jsonschema import Draft6Validator
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from detection.notify_payloads import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

CARDS = Draft6Validator(
    json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text())
)


@dataclass(frozen=True)
class Fault:
    status: int = 0
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class Taken:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receivers:
    """What each path accepts; built with the keys and tokens the test configures."""

    slack_webhooks: set[str] = field(default_factory=set)
    slack_tokens: set[str] = field(default_factory=set)
    slack_channels: set[str] = field(default_factory=set)
    teams_webhooks: set[str] = field(default_factory=set)
    hook_keys: dict[str, bytes] = field(default_factory=dict)
    now: Any = time.time


class NotificationReceivers:
    def __init__(self, receivers: Receivers) -> None:
        self.config = receivers
        self.taken: list[Taken] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._threads: dict[str, list[str]] = defaultdict(list)
        self._deliveries: set[str] = set()
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._serving: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the receivers are not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def fail(self, path: str, *faults: Fault) -> None:
        with self._lock:
            self._faults[path].extend(faults)

    def taken_at(self, path: str) -> list[Taken]:
        with self._lock:
            return [t for t in self.taken if t.path == path]

    def __enter__(self) -> Self:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._serving = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._serving.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _wsgi(self, environ: dict[str, Any], start: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start)

    def _handle(self, request: Request) -> Response:
        path = request.path
        with self._lock:
            self.requests.append((path, dict(request.headers)))
            fault = self._faults[path].popleft() if self._faults[path] else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return Response("fault", status=fault.status, headers=headers)
        if request.method != "POST":
            return Response("method not allowed", status=405)
        raw = request.get_data()
        try:
            body = json.loads(raw)
        except ValueError:
            return Response("invalid_payload", status=400)
        kind, _, name = path.strip("/").partition("/")
        if kind == "slack" and name == "api/chat.postMessage":
            return self._chat_post_message(request, body)
        if kind == "slack" and name.startswith("webhook/"):
            if name.removeprefix("webhook/") not in self.config.slack_webhooks:
                return Response("no_service", status=404)
            if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
                return Response("invalid_payload", status=400)
            return self._take(path, request, body, Response("ok", status=200))
        if kind == "teams":
            return self._teams(request, name, body)
        if kind == "hook":
            return self._hook(request, name, raw, body)
        return Response("not found", status=404)

    def _take(self, path: str, request: Request, body: Any, response: Response) -> Response:
        with self._lock:
            self.taken.append(Taken(path, dict(request.headers), body))
        return response

    def _chat_post_message(self, request: Request, body: Any) -> Response:
        def answer(payload: dict[str, Any]) -> Response:
            return Response(json.dumps(payload), status=200, mimetype="application/json")

        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.config.slack_tokens:
            return answer({"ok": False, "error": "invalid_auth"})
        channel = body.get("channel")
        if channel not in self.config.slack_channels:
            return answer({"ok": False, "error": "channel_not_found"})
        if not (body.get("text") or body.get("blocks")):
            return answer({"ok": False, "error": "no_text"})
        with self._lock:
            thread = body.get("thread_ts")
            if thread is not None and thread not in self._threads[channel]:
                return answer({"ok": False, "error": "thread_not_found"})
            ts = f"{1764558000 + len(self._threads[channel])}.000100"
            self._threads[channel].append(ts)
        return self._take(
            request.path, request, body, answer({"ok": True, "channel": channel, "ts": ts})
        )

    def _teams(self, request: Request, name: str, body: Any) -> Response:
        if name not in self.config.teams_webhooks:
            return Response("not found", status=404)
        attachments = body.get("attachments") if isinstance(body, dict) else None
        if body.get("type") != "message" or not isinstance(attachments, list) or not attachments:
            return Response("bad envelope", status=400)
        for attachment in attachments:
            if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
                return Response("not an adaptive card", status=400)
            errors = [e.message for e in CARDS.iter_errors(attachment.get("content"))]
            if errors:
                return Response("invalid card: " + "; ".join(errors[:3]), status=400)
        return self._take(request.path, request, body, Response("", status=202))

    def _hook(self, request: Request, name: str, raw: bytes, body: Any) -> Response:
        key = self.config.hook_keys.get(name)
        if key is None:
            return Response("not found", status=404)
        try:
            timestamp = int(request.headers.get(TIMESTAMP_HEADER, ""))
        except ValueError:
            return Response("no timestamp", status=401)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if abs(self.config.now() - timestamp) > 300 or not verify(raw, key, timestamp, signature):
            return Response("bad signature", status=401)
        delivery = request.headers.get("X-Faultline-Delivery", "")
        with self._lock:
            if delivery in self._deliveries:
                return Response("", status=200)
            self._deliveries.add(delivery)
        return self._take(request.path, request, body, Response("", status=204))


def closed_port_url() -> str:
    """A loopback URL nobody listens on: a receiver that is gone."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"
