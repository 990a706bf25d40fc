"""GitLab webhook deliveries, read without trusting them: the token check, the delivery's id, and
an `Issue Hook` or `Note Hook` read into the `IssueEvent` GitHub's deliveries make, so the same
handler follows both trackers (status, labels, `/faultline` commands).

GitLab does not sign its deliveries: it sends the webhook's secret token as it is, in
`X-Gitlab-Token`, so the check is a constant-time comparison with the secret (over HTTPS only,
as the README's set-up says).

Which id makes a redelivery recognisable (docs.gitlab.com, "Webhooks", delivery headers; GitLab
merge request 160952): `Idempotency-Key` is the same on every retry of one event, automatic or
"Resend request", and is what a receiver should de-duplicate on; `X-Gitlab-Event-UUID` is new on
each attempt, and is the only id releases before the idempotency key send, where it still
recognises the very same request delivered twice.

The fields mapped (docs.gitlab.com, "Webhook events"): an Issue Hook's `object_attributes`
(`iid`, `state` `opened`/`closed`, `action` `open`/`close`/`reopen`/`update`, `description`,
`moved_to_id`), its top-level `labels` (the labels after the change), `project.
path_with_namespace` and `user` (who acted); a Note Hook's `object_attributes` (`id`, `note`,
`noteable_type`, `action` `create`/`update`) and the `issue` it is on. GitLab has no close reason,
so a closed issue is read as GitHub's closed as completed, as the workflow's sync reads it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from detection.rules import GITLAB_PREFIX
from detection.webhook import COMMENT_CHARACTERS, IssueEvent, NotAnIssueEvent

ISSUE_HOOKS = frozenset({"Issue Hook", "Confidential Issue Hook"})
NOTE_HOOKS = frozenset({"Note Hook", "Confidential Note Hook"})
"""The `X-Gitlab-Event` values acted on; anything else is acknowledged and ignored. A project's
webhook sends confidential issues' and internal notes' events under their own names."""

_ACTIONS = {"open": "opened", "close": "closed", "reopen": "reopened", "update": "edited"}
"""GitLab's issue actions in GitHub's words; the audit trail names them so."""
_STATES = {"opened": "open", "closed": "closed"}


class UnreadableDelivery(ValueError):
    """A verified delivery whose body is not a GitLab hook Faultline can read: answered 400 with
    the message, which names the problem."""


def token_valid(secret: bytes, header: str | None) -> bool:
    """Whether `X-Gitlab-Token` is the webhook's secret, compared in constant time. An empty
    secret never verifies: a webhook without a secret proves nothing."""
    if not secret or not header:
        return False
    return hmac.compare_digest(secret, header.encode())


def delivery_id(headers: Mapping[str, str]) -> str:
    """The id a redelivery repeats: `Idempotency-Key`, else (older GitLab) `X-Gitlab-Event-UUID`;
    `headers` with lower-case names. Empty when neither is sent."""
    return (headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or "").strip()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise UnreadableDelivery(f"the delivery has no {key} object")
    return value


def _issue_fields(issue: Mapping[str, Any], project: Mapping[str, Any]) -> tuple[str, int]:
    path = _text(project.get("path_with_namespace"))
    number = issue.get("iid")
    if "/" not in path or not isinstance(number, int) or isinstance(number, bool):
        raise UnreadableDelivery("the delivery names no project path and issue iid")
    return GITLAB_PREFIX + path, number


def _labels(value: Any) -> tuple[str, ...]:
    """Label objects (`{"title": ...}`, as hooks send them) or names."""
    items = value if isinstance(value, list) else []
    return tuple(
        _text(item.get("title")) if isinstance(item, dict) else _text(item) for item in items
    )


def read_hook(event: str, delivery: str, payload: Any) -> IssueEvent:
    """The fields Faultline acts on, from a verified Issue Hook or Note Hook on an issue.

    Raises NotAnIssueEvent for other hooks and for notes on merge requests, commits or snippets
    (acknowledged and dropped), UnreadableDelivery for a body that is not such a hook (400)."""
    if event not in ISSUE_HOOKS | NOTE_HOOKS:
        raise NotAnIssueEvent(f"{event!r} is not an issue or note hook")
    if not isinstance(payload, dict):
        raise UnreadableDelivery("the body is not a JSON object")
    attributes = _object(payload, "object_attributes")
    project = _object(payload, "project")
    user = payload.get("user")
    sender = _text(user.get("username")) if isinstance(user, dict) else ""
    if event in ISSUE_HOOKS:
        repository, number = _issue_fields(attributes, project)
        action = _ACTIONS.get(_text(attributes.get("action")), _text(attributes.get("action")))
        if attributes.get("moved_to_id") is not None:
            action = "transferred"  # a moved issue is closed here and lives on in another project
        labels = payload.get("labels", attributes.get("labels"))
        return IssueEvent(
            delivery=delivery,
            event="issues",
            action=action,
            repository=repository,
            number=number,
            state=_STATES.get(_text(attributes.get("state")), _text(attributes.get("state"))),
            state_reason=None,
            labels=_labels(labels),
            body_head=_text(attributes.get("description")).partition("\n")[0].rstrip("\r"),
            author="",
            sender=sender,
            sender_type="User",
        )
    if attributes.get("noteable_type") != "Issue":
        raise NotAnIssueEvent(f"{event} delivery {delivery} is not a note on an issue")
    issue = _object(payload, "issue")
    repository, number = _issue_fields(issue, project)
    note_id = attributes.get("id")
    if not isinstance(note_id, int) or isinstance(note_id, bool):
        raise UnreadableDelivery("the note has no id")
    # `action` came with GitLab 16; before it, a note hook was sent for new notes only
    created = _text(attributes.get("action")) in ("", "create")
    return IssueEvent(
        delivery=delivery,
        event="issue_comment",
        action="created" if created else "edited",
        repository=repository,
        number=number,
        state=_STATES.get(_text(issue.get("state")), _text(issue.get("state"))),
        state_reason=None,
        labels=_labels(issue.get("labels")),
        body_head=_text(issue.get("description")).partition("\n")[0].rstrip("\r"),
        author="",
        sender=sender,
        sender_type="User",
        comment_id=note_id,
        comment_body=_text(attributes.get("note"))[:COMMENT_CHARACTERS],
        comment_author=sender,
        comment_author_type="User",
    )
