"""A headless Chromium started by a test and driven over the Chrome DevTools Protocol.

Debian's `chromium` package (installed by `.ci/setup`), not a browser a test framework downloads:
the browser is started with `--remote-debugging-port=0`, prints the WebSocket it listens on, and
one connection drives one page. What a test needs from a page is what a person would notice:
errors in the console (console.error, uncaught exceptions, resources that failed to load), the
DOM after its scripts ran, and a screenshot.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

EXECUTABLES = ("chromium", "chromium-browser")
STARTUP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    """Chromium could not be found or started, or a DevTools command failed."""


def chromium_executable() -> str:
    """The system's Chromium. Missing is an error, not a reason to skip: `.ci/setup` installs it,
    so a machine without it is a machine that was not set up."""
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(
        f"no Chromium on PATH (looked for {', '.join(EXECUTABLES)}); run `bash .ci/setup`, "
        "which installs Debian's chromium package"
    )


@dataclass
class PageVisit:
    """What one page did while it loaded and ran its scripts."""

    url: str
    errors: list[str] = field(default_factory=list)
    """console.error and console.assert calls, uncaught exceptions, failed resources."""
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for, itself included (to tell whether it needs a network)."""


class Chromium:
    """One headless browser process and a DevTools session on one page (tab)."""

    def __init__(self, process: subprocess.Popen[str], socket: ClientConnection) -> None:
        self._process = process
        self._socket = socket
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""

    def _send(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        """Send a command and wait for its answer, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError(f"no answer from Chromium to {waiting_for}")
        try:
            text = self._socket.recv(timeout=remaining)
        except TimeoutError as error:
            raise BrowserError(f"no answer from Chromium to {waiting_for}") from error
        return json.loads(text)

    def _wait_for_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        for index, event in enumerate(self._events):
            if event.get("method") == method:
                return self._events.pop(index)
        while True:
            message = self._receive(deadline, method)
            if message.get("method") == method:
                return message
            self._events.append(message)

    def _open_tab(self) -> None:
        target = self._send("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self._send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )
        self._session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable")
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )

    def visit(self, url: str) -> PageVisit:
        """Load `url` and wait for its load event; errors so far are in the visit."""
        self._events.clear()
        navigated = self._send("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        self._wait_for_event("Page.loadEventFired")
        visit = PageVisit(url)
        self._collect(visit)
        return visit

    def evaluate(self, expression: str, visit: PageVisit) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited); errors the
        page logs meanwhile are added to the visit."""
        result = self._send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        self._collect(visit)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {description}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """The viewport as PNG."""
        shot = self._send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])

    def _collect(self, visit: PageVisit) -> None:
        kept = []
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                text = " ".join(
                    str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
                )
                visit.errors.append(f"console.{params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                description = details.get("exception", {}).get("description") or details["text"]
                visit.errors.append(f"uncaught: {description}")
            elif method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                visit.errors.append(f"{entry['source']}: {entry['text']} ({entry.get('url', '')})")
            else:
                kept.append(event)
        self._events = kept


@contextmanager
def headless_chromium() -> Iterator[Chromium]:
    """Start Chromium with a throw-away profile, yield a session on a fresh tab, stop it."""
    executable = chromium_executable()
    with tempfile.TemporaryDirectory(prefix="faultline-chromium-") as profile:
        process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",  # tests may run as root (containers); the pages are our own
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            endpoint = _endpoint(process)
            with connect(endpoint, max_size=None, open_timeout=STARTUP_TIMEOUT) as socket:
                browser = Chromium(process, socket)
                browser._open_tab()
                yield browser
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _endpoint(process: subprocess.Popen[str]) -> str:
    """The browser's DevTools WebSocket, read from its stderr (which is then drained, so a
    chatty browser never blocks on a full pipe)."""
    lines: queue.Queue[str | None] = queue.Queue()
    stderr = process.stderr
    if stderr is None:
        raise BrowserError("Chromium's stderr is not captured")

    def read() -> None:
        for line in stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if match := _LISTENING.search(line):
            return match.group(1)
    process.kill()
    raise BrowserError(
        f"Chromium did not print its DevTools endpoint within {STARTUP_TIMEOUT:.0f} s; "
        f"its output:\n{''.join(seen[-30:])}"
    )


def page_url(path: Path) -> str:
    return path.resolve().as_uri()
