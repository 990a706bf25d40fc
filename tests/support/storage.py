"""Helpers for tests on Azurite and the Log Analytics fake."""

from __future__ import annotations

from datetime import datetime

from local_host.azurite import Azurite


def queued_bodies(azurite: Azurite, queue_name: str) -> list[str]:
    """Every visible message on a queue, decoded the way the host decodes them (and consumed)."""
    from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

    queue = QueueClient.from_connection_string(
        azurite.connection_string, queue_name, message_decode_policy=BinaryBase64DecodePolicy()
    )
    bodies: list[str] = []
    while batch := list(queue.receive_messages(max_messages=32, visibility_timeout=300)):
        bodies.extend(m.content.decode() for m in batch)
    return bodies


def wire_time(moment: datetime) -> str:
    """A datetime as Log Analytics puts it on the wire."""
    return moment.isoformat().replace("+00:00", "Z")
