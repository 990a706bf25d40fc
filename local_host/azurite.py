"""Start Azurite (from the project's npm install) on free ports, in memory, and stop it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _executable() -> str:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError("Azurite is not installed: run `npm ci` in the project root")


@dataclass
class Azurite:
    """A running Azurite; `connection_string` reaches its queues and tables."""

    process: subprocess.Popen[bytes]
    blob_port: int
    queue_port: int
    table_port: int
    workspace: tempfile.TemporaryDirectory[str]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.workspace.cleanup()

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azurite(timeout: float = 30.0) -> Azurite:
    """Start Azurite in memory, telemetry off (it would reach the internet), and wait for it."""
    ports = [free_port() for _ in range(3)]
    workspace = tempfile.TemporaryDirectory(prefix="faultline-azurite-")
    process = subprocess.Popen(
        [
            _executable(),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(ports[0]),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(ports[1]),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(ports[2]),
        ],
        cwd=workspace.name,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    azurite = Azurite(process, ports[0], ports[1], ports[2], workspace)
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            workspace.cleanup()
            raise RuntimeError(f"Azurite exited with {process.returncode}: {error.strip()}")
        if time.monotonic() > deadline:
            azurite.stop()
            raise TimeoutError(f"Azurite did not listen on {pending} within {timeout}s")
        try:
            with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.2):
                pending.pop(0)
        except OSError:
            time.sleep(0.05)
    return azurite
