"""The dry-run channel: each message written as a JSON file, exactly as it would have been
posted, so a local run shows where notifications would have gone.

`<folder>/<NNNN>-<channel>-<event>.json`, numbered in the order they were sent across channels,
holds the channel, its kind, the rule, and the payload Slack, Teams or the webhook would have
received (a webhook's signature is left out: no key is read). A Slack bot's thread is the
number of the issue's first message, so replies show which they follow. The files sit one level
down from the run's folder, never at `<owner>/<repo>/<file>` where the dry-run issues are.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from detection.notify_payloads import (
    Message,
    TemplateOutputInvalid,
    message_kind,
    slack_blocks,
    teams_card,
    webhook_body,
)
from detection.rules import Channel
from pipeline.ports import DeliveryFailed, Sent


class NotificationFileSink:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    def deliver(
        self, channel: Channel, message: Message, *, thread: str | None, delivery_id: str
    ) -> Sent:
        if channel.kind == "slack":
            payload = slack_blocks(message)
        elif channel.kind == "teams":
            payload = teams_card(message)
        else:
            try:
                payload = json.loads(webhook_body(message, channel.template))
            except TemplateOutputInvalid as invalid:
                raise DeliveryFailed(str(invalid), attempts=0, permanent=True) from None
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            number = len(list(self.directory.glob("*.json"))) + 1
            event = message_kind(message)
            record = {
                "channel": channel.name,
                "kind": channel.kind,
                "rule": message.rule,
                "delivery": delivery_id,
                "thread": thread,
                "payload": payload,
            }
            path = self.directory / f"{number:04d}-{channel.name}-{event}.json"
            path.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        return Sent(status=0, attempts=1, thread=thread or f"{number:04d}")  # 0: not sent
