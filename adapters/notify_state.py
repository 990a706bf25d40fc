"""The notification dispatcher's state in one Azure Table: delivery claims, throttles, threads.

Four partitions: `claim` (one row per delivery, inserted if absent: a 409 means it was claimed
before), `throttle` (one row per rule and channel, its sends and held count as JSON, replaced
only under the ETag it was read with), `thread` (a Slack bot's `ts` per channel and issue),
`episode` (one row per trouble of Faultline's own while it lasts, inserted if absent, deleted
when the trouble is seen gone). Row
keys are hashes, since a key holds `/` and `#`, which Table Storage refuses in keys; the key itself
is kept beside it for people reading the table.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from detection.notify import ThrottleState


def _row(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=20).hexdigest()


def _dump(state: ThrottleState) -> str:
    return json.dumps(
        {
            "sent": [moment.isoformat() for moment in state.sent],
            "held": state.held,
            "held_since": state.held_since.isoformat() if state.held_since else None,
            "flush_due": state.flush_due.isoformat() if state.flush_due else None,
        }
    )


def _load(text: str) -> ThrottleState:
    data = json.loads(text)

    def moment(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return ThrottleState(
        sent=tuple(datetime.fromisoformat(value) for value in data["sent"]),
        held=int(data["held"]),
        held_since=moment(data["held_since"]),
        flush_due=moment(data["flush_due"]),
    )


class TableNotificationState:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def claim(self, key: str, at: datetime) -> bool:
        entity = {"PartitionKey": "claim", "RowKey": _row(key), "Key": key[:1000], "At": at}
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    def release(self, key: str) -> None:
        self._table.delete_entity(partition_key="claim", row_key=_row(key))

    def throttle(self, key: str) -> tuple[ThrottleState, str | None]:
        try:
            entity = self._table.get_entity(partition_key="throttle", row_key=_row(key))
        except ResourceNotFoundError:
            return ThrottleState(), None
        return _load(entity["State"]), entity.metadata["etag"]

    def save_throttle(self, key: str, state: ThrottleState, etag: str | None) -> bool:
        entity = {
            "PartitionKey": "throttle",
            "RowKey": _row(key),
            "Key": key,
            "State": _dump(state),
        }
        try:
            if etag is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    def thread(self, channel: str, issue: str) -> str | None:
        try:
            entity = self._table.get_entity("thread", _row(f"{channel}|{issue}"))
        except ResourceNotFoundError:
            return None
        return str(entity["Thread"])

    def save_thread(self, channel: str, issue: str, thread: str) -> None:
        key = f"{channel}|{issue}"
        entity = {"PartitionKey": "thread", "RowKey": _row(key), "Key": key, "Thread": thread}
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return  # the first message's thread stays the issue's thread

    def open_episode(self, key: str, since: datetime) -> datetime | None:
        entity = {"PartitionKey": "episode", "RowKey": _row(key), "Key": key, "Since": since}
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:
            return None
        return since

    def close_episode(self, key: str) -> None:
        self._table.delete_entity(partition_key="episode", row_key=_row(key))  # absent: no-op
