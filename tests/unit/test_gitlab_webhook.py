"""GitLab's Issue and Note Hooks read into the event GitHub's deliveries make (the shapes of
docs.gitlab.com "Webhook events", trimmed to what is read), the token check and the delivery id."""

from __future__ import annotations

from typing import Any

import pytest

from detection.gitlab_webhook import UnreadableDelivery, delivery_id, read_hook, token_valid
from detection.webhook import IssueEvent, NotAnIssueEvent

pytestmark = pytest.mark.unit

MARKER = "<!-- faultline:fingerprint=abc -->"
PROJECT = {"id": 15, "path_with_namespace": "acme/platform/shop", "web_url": "https://x/y"}
USER = {"id": 51, "name": "Dana Dev", "username": "dana", "email": "[REDACTED]"}
ISSUE = {
    "id": 301,
    "iid": 23,
    "title": "KeyError in pricing",
    "description": f"{MARKER}\r\nThe body",
    "state": "closed",
    "labels": [{"id": 206, "title": "faultline", "type": "ProjectLabel"}],
    "moved_to_id": None,
}


def _issue_hook(action: str, **attributes: Any) -> dict[str, Any]:
    labels = [{"id": 206, "title": "faultline"}, {"id": 207, "title": "faultline:mute"}]
    return {
        "object_kind": "issue",
        "user": USER,
        "project": PROJECT,
        "object_attributes": {**ISSUE, "action": action, **attributes},
        "labels": labels,
        "changes": {"labels": {"previous": [], "current": labels}},
    }


def _note_hook(note: str, **attributes: Any) -> dict[str, Any]:
    return {
        "object_kind": "note",
        "user": USER,
        "project_id": 15,
        "project": PROJECT,
        "object_attributes": {
            "id": 1241,
            "note": note,
            "noteable_type": "Issue",
            "action": "create",
            **attributes,
        },
        "issue": {**ISSUE, "state": "opened"},
    }


def test_an_issue_hook_reads_as_githubs_issues_event() -> None:
    event = read_hook("Issue Hook", "d-1", _issue_hook("close"))
    assert event == IssueEvent(
        delivery="d-1",
        event="issues",
        action="closed",
        repository="gitlab:acme/platform/shop",
        number=23,
        state="closed",
        state_reason=None,
        labels=("faultline", "faultline:mute"),
        body_head=MARKER,
        author="",
        sender="dana",
        sender_type="User",
    )
    assert IssueEvent.from_json(event.to_json()) == event, "it travels on the queue"


@pytest.mark.parametrize(
    ("action", "attributes", "expected"),
    [
        ("reopen", {"state": "opened"}, ("reopened", "open")),
        ("update", {}, ("edited", "closed")),
        ("close", {"moved_to_id": 977}, ("transferred", "closed")),
    ],
)
def test_issue_actions_read_in_githubs_words(
    action: str, attributes: dict[str, Any], expected: tuple[str, str]
) -> None:
    event = read_hook("Confidential Issue Hook", "d", _issue_hook(action, **attributes))
    assert (event.action, event.state) == expected


def test_a_note_hook_on_an_issue_reads_as_a_created_comment() -> None:
    event = read_hook("Note Hook", "d-2", _note_hook("/faultline mute 7d\nplease"))
    assert (event.event, event.action, event.comment_id) == ("issue_comment", "created", 1241)
    assert (event.comment_body, event.comment_author) == ("/faultline mute 7d\nplease", "dana")
    assert (event.repository, event.number, event.state) == (
        "gitlab:acme/platform/shop",
        23,
        "open",
    )
    assert event.labels == ("faultline",) and event.body_head == MARKER


def test_an_edited_note_is_no_new_command_and_a_note_without_action_is_new() -> None:
    assert read_hook("Note Hook", "d", _note_hook("/faultline why", action="update")).action == (
        "edited"
    )
    older = _note_hook("/faultline why")
    del older["object_attributes"]["action"]  # GitLab before 16 sent hooks for new notes only
    assert read_hook("Note Hook", "d", older).action == "created"


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("Push Hook", {"object_kind": "push"}),
        ("Merge Request Hook", _issue_hook("open")),
        ("Note Hook", _note_hook("/faultline why", noteable_type="MergeRequest")),
    ],
)
def test_other_hooks_and_notes_elsewhere_are_not_issue_events(
    event: str, payload: dict[str, Any]
) -> None:
    with pytest.raises(NotAnIssueEvent):
        read_hook(event, "d", payload)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([1, 2], "not a JSON object"),
        ({"object_kind": "issue", "project": PROJECT}, "no object_attributes"),
        ({**_issue_hook("close"), "project": {"id": 15}}, "no project path and issue iid"),
        (
            {**_issue_hook("close"), "object_attributes": {**ISSUE, "iid": "23"}},
            "no project path and issue iid",
        ),
        ({**_note_hook("/faultline why"), "issue": None}, "no issue object"),
        (_note_hook("/faultline why", id=None), "the note has no id"),
    ],
)
def test_a_payload_that_is_not_a_readable_hook_names_the_problem(
    payload: Any, problem: str
) -> None:
    event = "Note Hook" if isinstance(payload, dict) and "issue" in payload else "Issue Hook"
    with pytest.raises(UnreadableDelivery, match=problem):
        read_hook(event, "d", payload)


@pytest.mark.parametrize(
    ("secret", "header", "valid"),
    [
        (b"s3cret", "s3cret", True),
        (b"s3cret", "s3cret ", False),
        (b"s3cret", "S3CRET", False),
        (b"s3cret", None, False),
        (b"s3cret", "", False),
        (b"", "", False),
    ],
)
def test_the_token_must_be_the_secret_exactly(
    secret: bytes, header: str | None, valid: bool
) -> None:
    assert token_valid(secret, header) is valid


def test_the_idempotency_key_is_the_delivery_id_before_the_per_attempt_uuid() -> None:
    both = {"idempotency-key": "k-1", "x-gitlab-event-uuid": "u-1"}
    assert delivery_id(both) == "k-1"
    assert delivery_id({"x-gitlab-event-uuid": "u-1"}) == "u-1"
    assert delivery_id({}) == ""
