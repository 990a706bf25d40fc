"""Azure Storage Queues: where query jobs and failure notices wait for their trigger."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

MAX_VISIBILITY_DELAY = timedelta(days=7)


class StorageQueue:
    """Sends base64 text messages, the encoding the Functions queue trigger expects."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    @classmethod
    def open(cls, service: QueueServiceClient, name: str) -> StorageQueue:
        client = service.get_queue_client(name, message_encode_policy=TextBase64EncodePolicy())
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        return cls(client)

    @property
    def name(self) -> str:
        return self._client.queue_name

    def send(self, body: str, delay: timedelta | None = None) -> None:
        """Enqueue; a delay keeps the message invisible that long (how throttled jobs wait)."""
        seconds = None
        if delay is not None:
            seconds = int(min(max(delay, timedelta(0)), MAX_VISIBILITY_DELAY).total_seconds())
        self._client.send_message(body, visibility_timeout=seconds)
