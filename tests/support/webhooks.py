"""GitHub webhook deliveries as GitHub sends them, for the use-case tests: the `issues` and
`issue_comment` payloads (the fields GitHub documents for each, around an issue the in-memory
tracker holds), signed with `X-Hub-Signature-256` and carrying GitHub's delivery headers. The
HTTP GitHub fake renders complete payloads from its own state (`GitHubFake.delivery`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from detection.webhook import signature
from pipeline.ports import IssueRef


def _user(login: str, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "id": abs(hash(login)) % 10**8, "type": kind, "site_admin": False}


def issue_payload(
    action: str,
    issue: IssueRef,
    sender: str,
    *,
    sender_type: str = "User",
    changes: dict[str, Any] | None = None,
    comment: tuple[str, str] | None = None,
    comment_type: str = "User",
    comment_id: int = 4242,
) -> dict[str, Any]:
    """An `issues` payload (or `issue_comment` with `comment` = (author, body))."""
    owner, name = issue.repository.split("/")
    payload: dict[str, Any] = {
        "action": action,
        "issue": {
            "id": issue.id,
            "number": issue.number,
            "html_url": issue.url,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": "a failure",
            "body": issue.body,
            "user": _user(issue.author, "Bot" if issue.author.endswith("[bot]") else "User"),
            "labels": [{"id": i, "name": label} for i, label in enumerate(issue.labels)],
            "assignees": [_user(login) for login in issue.assignees],
            "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
        },
        "repository": {
            "id": 1,
            "name": name,
            "full_name": issue.repository,
            "owner": _user(owner, "Organization"),
        },
        "sender": _user(sender, sender_type),
    }
    if changes is not None:
        payload["changes"] = changes
    if comment is not None:
        author, body = comment
        payload["comment"] = {"id": comment_id, "body": body, "user": _user(author, comment_type)}
    return payload


def signed(
    secret: bytes, event: str, payload: Any, delivery: str | None = None
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one delivery, as GitHub signs and labels it."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "123456789",
        "X-Hub-Signature-256": signature(secret, body),
    }
    return headers, body
