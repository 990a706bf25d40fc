"""The dispatcher's state in Table Storage (Azurite): a claim is taken once, a throttle saved
only under the ETag it was read with (two dispatchers converge), an issue's first thread stays,
a trouble's episode opened once while it lasts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from adapters.notify_state import TableNotificationState
from adapters.tables import ensure_table
from detection.notify import ThrottleState
from local_host.azurite import Azurite

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
KEY = "issue-created|fp1|contoso/shop|7||critical|oncall"  # `/` and `|`: not a valid row key


@pytest.fixture
def state(azurite: Azurite) -> TableNotificationState:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    return TableNotificationState(ensure_table(service, f"N{uuid.uuid4().hex[:12]}"))


def test_a_delivery_is_claimed_once(state: TableNotificationState) -> None:
    assert state.claim(KEY, T0)
    assert not state.claim(KEY, T0 + timedelta(minutes=5))
    assert state.claim(KEY.replace("oncall", "ops"), T0)
    state.release(KEY)  # a failure before sending gives it back
    assert state.claim(KEY, T0 + timedelta(minutes=6))


def test_a_throttle_is_saved_only_under_the_etag_it_was_read_with(
    state: TableNotificationState,
) -> None:
    empty, etag = state.throttle("critical|oncall")
    assert (empty, etag) == (ThrottleState(), None)
    first = ThrottleState(sent=(T0,), held=0)
    assert state.save_throttle("critical|oncall", first, None)
    assert not state.save_throttle("critical|oncall", first, None)  # someone created it first
    read, etag = state.throttle("critical|oncall")
    assert read == first and etag is not None
    held = ThrottleState(sent=(T0,), held=2, held_since=T0, flush_due=T0 + timedelta(minutes=10))
    assert state.save_throttle("critical|oncall", held, etag)
    assert not state.save_throttle("critical|oncall", first, etag)  # a stale read loses
    assert state.throttle("critical|oncall")[0] == held


def test_an_issues_first_thread_stays_its_thread(state: TableNotificationState) -> None:
    assert state.thread("bot", "contoso/shop#7") is None
    state.save_thread("bot", "contoso/shop#7", "1764558000.000100")
    state.save_thread("bot", "contoso/shop#7", "1764558999.000100")
    assert state.thread("bot", "contoso/shop#7") == "1764558000.000100"
    assert state.thread("bot", "contoso/shop#8") is None


def test_a_trouble_episode_opens_once_and_again_after_it_closed(
    state: TableNotificationState,
) -> None:
    episode = "lag|production/AppExceptions"
    state.close_episode(episode)  # nothing open: a no-op
    assert state.open_episode(episode, T0) == T0
    assert state.open_episode(episode, T0 + timedelta(minutes=5)) is None  # still open
    assert state.open_episode("lag|production/AppRequests", T0) == T0  # each its own
    state.close_episode(episode)
    assert state.open_episode(episode, T0 + timedelta(hours=2)) == T0 + timedelta(hours=2)
