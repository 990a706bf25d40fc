"""GitHub webhook deliveries, read without trusting them: the signature check, and the few fields
of an `issues` or `issue_comment` event that Faultline acts on, cut down to fit a queue message.

A delivery is hostile until its `X-Hub-Signature-256` proves it came from GitHub (HMAC-SHA256 of
the raw body with the webhook's secret, compared in constant time). Even then the issue it names
may not be Faultline's: whoever can open an issue can paste a marker into it, so the event
carries the issue's first body line and the handler checks the marker (and its signature) and the
state table before it acts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

SIGNATURE_PREFIX = "sha256="

MAX_BODY_BYTES = 1_048_576
"""The largest delivery accepted (1 MiB). GitHub caps payloads at 25 MB, but the two events
Faultline subscribes to carry at most an issue body and a comment body, each limited to 65,536
characters (at most 256 KiB in UTF-8), plus the repository, issue and sender objects (tens of
KiB): about 600 KiB at worst. Anything larger is not one of them, and is refused (413) before
the signature is even computed, so a flood of huge bodies costs little."""

EVENTS = frozenset({"issues", "issue_comment"})
"""The events the handler acts on; GitHub's `ping` is answered, anything else ignored."""

COMMENT_CHARACTERS = 2_000
"""How much of a comment's text travels on the queue: a command is its first line, and a queue
message holds 64 KiB, which a whole comment (65,536 characters) could overflow."""


def signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` signed with `secret`."""
    return SIGNATURE_PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret`, in constant time. An empty
    secret never verifies: a webhook without a secret proves nothing."""
    if not secret or not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


@dataclass(frozen=True)
class IssueEvent:
    """What Faultline needs of a delivery: the issue it is about and what happened to it. In
    GitHub's terms (`issues` / `issue_comment`, `closed`, `created`...), which GitLab's hooks are
    read into too (`detection.gitlab_webhook`), so one handler follows both trackers.

    `body_head` is the first line of the issue's body (where the marker is); `labels` the issue's
    labels after the change; `moved_to` (`owner/name#number`) the issue's new place after a
    transfer; `comment_*` the comment of an `issue_comment` event.
    """

    delivery: str
    event: str
    action: str
    repository: str
    number: int
    state: str
    state_reason: str | None
    labels: tuple[str, ...]
    body_head: str
    author: str
    sender: str
    sender_type: str
    moved_to: str | None = None
    comment_id: int | None = None
    comment_body: str = ""
    comment_author: str = ""
    comment_author_type: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> IssueEvent:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a GitHub event message must be a JSON object")
        data["labels"] = tuple(data.get("labels") or ())
        return cls(**data)


class NotAnIssueEvent(ValueError):
    """A signed delivery that is not an issue event Faultline can read (a pull request's comment,
    a payload without an issue): acknowledged and dropped."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _login(user: Any) -> tuple[str, str]:
    if not isinstance(user, dict):
        return "", ""
    return _text(user.get("login")), _text(user.get("type"))


def read_event(event: str, delivery: str, payload: Any) -> IssueEvent:
    """The fields Faultline acts on, from a verified `issues` or `issue_comment` payload."""
    if event not in EVENTS or not isinstance(payload, dict):
        raise NotAnIssueEvent(f"{event!r} is not an issue event")
    issue, repository = payload.get("issue"), payload.get("repository")
    if not isinstance(issue, dict) or not isinstance(repository, dict):
        raise NotAnIssueEvent(f"{event} delivery {delivery} names no issue and repository")
    if issue.get("pull_request") is not None:
        raise NotAnIssueEvent(f"{event} delivery {delivery} is about a pull request")
    number, full_name = issue.get("number"), _text(repository.get("full_name"))
    if not isinstance(number, int) or "/" not in full_name:
        raise NotAnIssueEvent(f"{event} delivery {delivery} has no issue number or repository")
    labels = tuple(
        _text(label.get("name")) if isinstance(label, dict) else _text(label)
        for label in issue.get("labels") or ()
    )
    author, _ = _login(issue.get("user"))
    sender, sender_type = _login(payload.get("sender"))
    moved_to = None
    changes = payload.get("changes")
    if isinstance(changes, dict) and isinstance(changes.get("new_issue"), dict):
        new_repository = changes.get("new_repository")
        new_name = _text(
            new_repository.get("full_name") if isinstance(new_repository, dict) else ""
        )
        new_number = changes["new_issue"].get("number")
        if new_name and isinstance(new_number, int):
            moved_to = f"{new_name}#{new_number}"
    comment = payload.get("comment") if event == "issue_comment" else None
    comment_author, comment_type = _login(comment.get("user") if comment else None)
    return IssueEvent(
        delivery=delivery,
        event=event,
        action=_text(payload.get("action")),
        repository=full_name,
        number=number,
        state=_text(issue.get("state")),
        state_reason=_text(issue.get("state_reason")) or None,
        labels=labels,
        body_head=_text(issue.get("body")).partition("\n")[0].rstrip("\r"),
        author=author,
        sender=sender,
        sender_type=sender_type,
        moved_to=moved_to,
        comment_id=comment.get("id") if comment and isinstance(comment.get("id"), int) else None,
        comment_body=_text(comment.get("body"))[:COMMENT_CHARACTERS] if comment else "",
        comment_author=comment_author,
        comment_author_type=comment_type,
    )
