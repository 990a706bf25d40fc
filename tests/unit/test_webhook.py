"""GitHub as the control surface, on in-memory ports: the webhook's answers (signature, size,
redelivery, events), what the queued event does to the issue's state, and the same state read by
the workflow when no webhook is configured. The wire (the real trigger, githubkit against the
GitHub fake, Azurite) is in `tests/integration/test_webhook.py`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.lifecycle import Steering, interpret, muted, parse_until
from detection.markers import marker
from detection.webhook import (
    MAX_BODY_BYTES,
    IssueEvent,
    NotAnIssueEvent,
    read_event,
    signature,
    signature_valid,
)
from local_host.host import FunctionTable
from pipeline.messages import FailureNotice
from pipeline.ports import (
    Counted,
    IssueRef,
    SecretUnavailable,
    TrackerRateLimited,
    TrackerRefused,
)
from pipeline.webhook import handle, receive, receive_gitlab, record_poisoned_event
from pipeline.workflow.messages import Synced
from tests.support.webhooks import issue_payload, signed
from tests.unit.test_issue_workflow import SHOP, Flow

pytestmark = pytest.mark.unit

SECRET = b"webhook-secret-for-tests"


# -- the signature and the event, pure ----------------------------------------------------------


def test_a_signature_verifies_only_its_own_body_under_its_own_secret() -> None:
    body = b'{"action":"closed"}'
    good = signature(SECRET, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert signature_valid(SECRET, body, good)
    assert not signature_valid(SECRET, body + b" ", good)
    assert not signature_valid(b"another secret", body, good)
    assert not signature_valid(SECRET, body, good.removeprefix("sha256="))
    assert not signature_valid(SECRET, body, None)
    assert not signature_valid(b"", body, signature(b"", body)), "no secret proves nothing"


def _issue(flow: Flow) -> IssueRef:
    return flow.tracker.get(SHOP, 1)


def test_an_issue_event_keeps_what_faultline_acts_on_and_fits_a_queue_message() -> None:
    flow = _with_issue()
    ref = _issue(flow)
    payload = issue_payload("closed", ref, "alice")
    payload["issue"]["body"] = ref.body + "\n" + "x" * 200_000
    event = read_event("issues", "d-1", payload)
    assert (event.repository, event.number, event.action, event.sender) == (
        SHOP,
        1,
        "closed",
        "alice",
    )
    assert event.body_head == ref.body.partition("\n")[0]
    assert len(event.to_json()) < 2_000
    assert IssueEvent.from_json(event.to_json()) == event


def test_a_pull_requests_comment_is_not_an_issue_event() -> None:
    flow = _with_issue()
    payload = issue_payload("created", _issue(flow), "alice", comment=("alice", "hi"))
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/contoso/shop/pulls/1"}
    with pytest.raises(NotAnIssueEvent):
        read_event("issue_comment", "d-2", payload)


NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "reason", "labels", "expected"),
    [
        ("open", None, (), Steering("active")),
        ("open", "reopened", ("faultline", "severity:high"), Steering("active")),
        ("closed", "completed", (), Steering("resolved")),
        ("closed", None, (), Steering("resolved")),  # closed before GitHub recorded reasons
        ("closed", "duplicate", (), Steering("resolved")),
        ("closed", "not_planned", (), Steering("muted")),
        ("closed", "not_planned", ("faultline:keep-open",), Steering("muted", None, True)),
        ("open", None, ("faultline:mute",), Steering("muted")),
        ("open", None, ("Faultline:Mute",), Steering("muted")),  # GitHub labels ignore case
        (
            "open",
            None,
            ("faultline:mute-until:2026-12-31",),
            Steering("muted", datetime(2027, 1, 1, tzinfo=UTC)),
        ),
        (
            "open",
            None,
            ("faultline:mute", "faultline:mute-until:2026-12-08T06:30Z"),
            Steering("muted", datetime(2026, 12, 8, 6, 30, tzinfo=UTC)),
        ),
        ("open", None, ("faultline:mute-until:someday",), Steering("active")),
        ("closed", "completed", ("faultline:mute",), Steering("muted")),  # never reopened
        ("open", None, ("faultline:keep-open",), Steering("active", None, True)),
    ],
)
def test_what_people_set_on_an_issue_means_one_thing(
    state: str, reason: str | None, labels: tuple[str, ...], expected: Steering
) -> None:
    assert interpret(state, reason, labels) == expected


def test_a_mute_ends_at_its_time_or_at_its_count() -> None:
    until = Steering("muted", NOW + timedelta(days=7))
    assert muted(until, NOW) and not muted(until, NOW + timedelta(days=7))
    assert muted(Steering("muted"), NOW, count=99, mute_until_count=100)
    assert not muted(Steering("muted"), NOW, count=100, mute_until_count=100)
    assert not muted(Steering("resolved"), NOW)
    assert parse_until("2026-02-30") is None


# -- the HTTP answer -----------------------------------------------------------------------------


def _with_issue() -> Flow:
    flow = Flow()
    flow.sync(flow.occur("checkout", 3))
    return flow


def answer(flow: Flow, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
    answer = receive(flow.services, headers, body)
    return answer.status, answer.payload


def test_a_signed_issue_event_is_queued_and_answered_202() -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "issues", issue_payload("closed", _issue(flow), "alice"))
    assert answer(flow, headers, body)[0] == 202
    ((message, _),) = flow.memory.github_event_queue.sent
    assert IssueEvent.from_json(message).delivery == headers["X-GitHub-Delivery"]


def test_a_redelivery_is_acknowledged_and_has_no_effect() -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "issues", issue_payload("closed", _issue(flow), "alice"))
    assert answer(flow, headers, body)[0] == 202
    status, payload = answer(flow, headers, body)
    assert (status, payload["status"]) == (200, "duplicate")
    assert len(flow.memory.github_event_queue.sent) == 1


@pytest.mark.parametrize("forgery", ["missing", "wrong secret", "body changed", "no secret set"])
def test_a_forged_delivery_is_refused_401_and_changes_nothing(forgery: str) -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "issues", issue_payload("closed", _issue(flow), "mallory"))
    if forgery == "missing":
        del headers["X-Hub-Signature-256"]
    elif forgery == "wrong secret":
        headers["X-Hub-Signature-256"] = signature(b"guessed", body)
    elif forgery == "body changed":
        body = body.replace(b"mallory", b"alice__")
    else:
        flow.memory.github_webhook_secret = None
    assert answer(flow, headers, body)[0] == 401
    assert flow.memory.github_event_queue.sent == [] and flow.memory.github_deliveries.taken == {}


def test_a_body_over_the_bound_is_refused_413_before_anything_else() -> None:
    flow = _with_issue()
    body = b"{" + b" " * MAX_BODY_BYTES + b"}"
    headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256": signature(SECRET, body)}
    assert answer(flow, headers, body)[0] == 413
    assert flow.memory.github_event_queue.sent == []


def test_ping_is_answered_and_other_events_are_ignored() -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert answer(flow, headers, body) == (200, {"status": "pong"})
    headers, body = signed(SECRET, "push", {"ref": "refs/heads/main"})
    assert answer(flow, headers, body)[0] == 202
    assert flow.memory.github_event_queue.sent == []


def test_a_queue_that_fails_releases_the_delivery_for_githubs_redelivery() -> None:
    flow = _with_issue()

    def refuse(body: str, delay: timedelta | None = None) -> None:
        raise ConnectionError("queue unreachable")

    flow.services.github_event_queue.send = refuse  # type: ignore[method-assign]
    headers, body = signed(SECRET, "issues", issue_payload("closed", _issue(flow), "alice"))
    with pytest.raises(ConnectionError):
        answer(flow, headers, body)
    assert flow.memory.github_deliveries.taken == {}


# -- what the queued event does -----------------------------------------------------------------


def deliver(flow: Flow, event: str, payload: dict[str, object]) -> None:
    """Through the endpoint and the queue, as the two functions run it."""
    headers, body = signed(SECRET, event, payload)
    assert answer(flow, headers, body)[0] in (200, 202)
    while flow.memory.github_event_queue.sent:
        message, _ = flow.memory.github_event_queue.sent.pop(0)
        handle(flow.services, message)


def _state(flow: Flow, notice: FailureNotice | None = None):  # type: ignore[no-untyped-def]
    group = notice.fingerprint if notice else next(iter(flow.memory.issues.states))[0]
    state = flow.memory.issues.peek(group, SHOP)
    assert state is not None
    return state


def test_closed_as_not_planned_mutes_and_reopened_makes_it_active_again() -> None:
    flow = _with_issue()
    closed = flow.tracker.edit(SHOP, 1, state="closed", state_reason="not_planned")
    deliver(flow, "issues", issue_payload("closed", closed, "alice"))
    assert _state(flow).status == "muted"
    reopened = flow.tracker.edit(SHOP, 1, state="open")
    deliver(flow, "issues", issue_payload("reopened", reopened, "alice"))
    assert _state(flow).status == "active"
    steered = [e.reason for e in flow.memory.audit.rows if e.action == "steered"]
    assert steered == [
        "closed by alice: muted: occurrences are counted, the issue is left alone",
        "reopened by alice: active",
    ]


def test_labels_mute_until_a_date_and_keep_an_issue_open() -> None:
    flow = _with_issue()
    flow.tracker.add_labels(SHOP, 1, ["faultline:mute-until:2026-12-31", "faultline:keep-open"])
    deliver(flow, "issues", issue_payload("labeled", _issue(flow), "alice"))
    state = _state(flow)
    assert (state.status, state.muted_until, state.keep_open) == (
        "muted",
        datetime(2027, 1, 1, tzinfo=UTC),
        True,
    )


@pytest.mark.parametrize("action", ["transferred", "deleted"])
def test_a_transferred_or_deleted_issue_is_forgotten_so_the_next_occurrence_opens_one(
    action: str,
) -> None:
    flow = _with_issue()
    changes = (
        {
            "new_issue": {"number": 7},
            "new_repository": {"full_name": "contoso/archive"},
        }
        if action == "transferred"
        else None
    )
    deliver(flow, "issues", issue_payload(action, _issue(flow), "alice", changes=changes))
    assert _state(flow).number is None
    (forgotten,) = [e for e in flow.memory.audit.rows if e.action == "forgotten"]
    assert forgotten.issue == 1 and forgotten.reason.startswith(action)
    if action == "deleted":
        flow.tracker.delete(SHOP, 1)
    else:
        flow.tracker.transfer(SHOP, 1, "contoso/archive")
    flow.clock.moment += timedelta(hours=2)
    created = flow.sync(flow.occur("checkout", 5))
    assert isinstance(created, Synced) and created.action == "created" and created.number == 2


def test_events_about_issues_faultline_does_not_track_change_nothing() -> None:
    flow = _with_issue()
    notice = flow.occur("checkout", 3)
    pasted = flow.tracker.open_as("mallory", SHOP, "copied", marker(notice.fingerprint))
    plain = flow.tracker.open_as("bob", SHOP, "a bug", "no marker here")
    before = dict(flow.memory.issues.states)
    for issue in (pasted, plain):
        closed = flow.tracker.edit(SHOP, issue.number, state="closed", state_reason="not_planned")
        deliver(flow, "issues", issue_payload("closed", closed, "mallory"))
    assert flow.memory.issues.states == before
    assert "steered" not in flow.actions()


def test_a_redelivered_event_is_applied_once() -> None:
    flow = _with_issue()
    closed = flow.tracker.edit(SHOP, 1, state="closed", state_reason="not_planned")
    headers, body = signed(SECRET, "issues", issue_payload("closed", closed, "alice"))
    for _ in range(2):
        answer(flow, headers, body)
    assert len(flow.memory.github_event_queue.sent) == 1
    message, _ = flow.memory.github_event_queue.sent[0]
    handle(flow.services, message)
    handle(flow.services, message)  # the queue's own redelivery after a lost completion
    assert flow.actions().count("steered") == 1


# -- the same state without the webhook: the workflow reads it ---------------------------------


def recur(flow: Flow, total: int) -> FailureNotice:
    """`total` occurrences, the later ones now (after whatever a person did)."""
    group = next(iter(flow.memory.issues.states))[0]
    founder = flow.services.ledger.summary(group).founder  # type: ignore[union-attr]
    assert founder is not None
    have = flow.services.ledger.summary(group).count  # type: ignore[union-attr]
    later = [
        Counted(
            founder.__class__(
                **{**founder.__dict__, "record_id": f"later-{i}", "time": flow.clock.moment}
            ),
            True,
        )
        for i in range(total - have)
    ]
    entry = flow.services.ledger.record(group, later, flow.services.rules.thresholds())
    return FailureNotice.of(entry)


def test_without_the_webhook_a_not_planned_close_is_read_by_the_next_sync_and_mutes() -> None:
    flow = _with_issue()
    flow.clock.moment += timedelta(hours=1)
    flow.tracker.edit(SHOP, 1, state="closed", state_reason="not_planned")
    flow.clock.moment += timedelta(hours=7)
    requests = len(flow.tracker.edits)
    outcome = flow.sync(recur(flow, 9))
    assert isinstance(outcome, Synced) and outcome.action == "unchanged"
    assert not outcome.needs_assignment
    assert len(flow.tracker.edits) == requests, "no update, no reopen"
    assert _issue(flow).state == "closed" and len(flow.comments(1)) == 0
    assert _state(flow).status == "muted"
    assert flow.services.ledger.summary(_state(flow).fingerprint).count == 9  # type: ignore[union-attr]


def test_without_the_webhook_a_completed_close_makes_the_next_occurrence_a_regression() -> None:
    flow = _with_issue()
    flow.clock.moment += timedelta(hours=1)
    flow.tracker.edit(SHOP, 1, state="closed", state_reason="completed")
    flow.clock.moment += timedelta(hours=1)
    outcome = flow.sync(recur(flow, 4))
    assert isinstance(outcome, Synced) and outcome.action == "reopened"
    assert _state(flow).status == "active"


def test_a_mute_label_whose_date_passed_comes_off_and_the_issue_is_followed_again() -> None:
    flow = _with_issue()
    until = flow.clock.moment + timedelta(days=1)
    flow.tracker.add_labels(SHOP, 1, [f"faultline:mute-until:{until:%Y-%m-%dT%H:%MZ}"])
    flow.clock.moment += timedelta(hours=7)
    assert flow.sync(recur(flow, 5)).action == "unchanged"  # type: ignore[union-attr]
    assert _state(flow).status == "muted"
    flow.clock.moment += timedelta(days=1)
    outcome = flow.sync(recur(flow, 6))
    assert isinstance(outcome, Synced) and outcome.action in ("updated", "commented")
    assert _issue(flow).labels == ("faultline", "severity:high")
    assert _state(flow).status == "active"
    assert "unmuted" in flow.actions()


def test_the_webhook_and_the_workflow_read_an_issue_the_same_way() -> None:
    """One interpretation: the state the webhook writes is the state the next sync reads."""
    by_webhook, by_sync = _with_issue(), _with_issue()
    for flow in (by_webhook, by_sync):
        flow.tracker.add_labels(SHOP, 1, ["faultline:mute", "faultline:keep-open"])
    deliver(by_webhook, "issues", issue_payload("labeled", _issue(by_webhook), "alice"))
    by_sync.clock.moment += timedelta(hours=7)
    by_sync.sync(recur(by_sync, 5))
    fields = ("status", "muted_until", "keep_open", "mute_until_count")
    assert [getattr(_state(by_webhook), f) for f in fields] == [
        getattr(_state(by_sync), f) for f in fields
    ]


def test_queued_messages_are_the_events_own_json() -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "issues", issue_payload("labeled", _issue(flow), "alice"))
    answer(flow, headers, body)
    message = json.loads(flow.memory.github_event_queue.sent[0][0])
    assert set(message) >= {"delivery", "event", "action", "repository", "number", "labels"}


def test_an_event_that_failed_every_attempt_is_kept_for_operators() -> None:
    flow = _with_issue()
    headers, body = signed(SECRET, "issues", issue_payload("labeled", _issue(flow), "alice"))
    answer(flow, headers, body)
    message, _ = flow.memory.github_event_queue.sent[0]
    record_poisoned_event(flow.services, message)
    record_poisoned_event(flow.services, "not json")
    kept = {key: entry[0] for (kind, key), entry in flow.memory.poisoned.entries.items()}
    assert kept[headers["X-GitHub-Delivery"]] == "issues.labeled on contoso/shop#1"
    assert [d for k, d in kept.items() if k.startswith("unreadable-")] == ["(not a GitHub event)"]
    assert flow.memory.poisoned.count("github-events") == 2


@pytest.mark.parametrize("what", ["deleted", "transferred"])
def test_without_the_webhook_a_deleted_or_transferred_issue_is_forgotten_by_the_next_sync(
    what: str,
) -> None:
    flow = _with_issue()
    if what == "deleted":
        flow.tracker.delete(SHOP, 1)
    else:
        flow.tracker.transfer(SHOP, 1, "contoso/archive")
    flow.clock.moment += timedelta(hours=7)
    outcome = flow.sync(recur(flow, 5))
    assert isinstance(outcome, Synced) and outcome.action == "created"
    assert outcome.number == 2, "a new issue in the routed repository"
    assert _state(flow).number == outcome.number
    (forgotten,) = [e.reason for e in flow.memory.audit.rows if e.action == "forgotten"]
    assert forgotten.startswith(f"#1 was {'deleted' if what == 'deleted' else 'moved to'}")


def test_an_unavailable_secret_answers_503_so_github_shows_the_failed_delivery() -> None:
    flow = _with_issue()

    def unavailable(refresh: bool = False) -> bytes | None:
        raise SecretUnavailable("disabled in Key Vault", reason="disabled")

    flow.services.github_webhook_secret = unavailable
    headers, body = signed(SECRET, "issues", issue_payload("closed", _issue(flow), "alice"))
    assert answer(flow, headers, body)[0] == 503
    assert flow.memory.github_event_queue.sent == []


def test_a_github_rate_limit_puts_the_event_back_for_exactly_the_wait() -> None:
    flow = _with_issue()
    flow.tracker.roles["alice"] = "write"
    payload = issue_payload("created", _issue(flow), "alice", comment=("alice", "/faultline why"))
    headers, body = signed(SECRET, "issue_comment", payload)
    answer(flow, headers, body)
    message, _ = flow.memory.github_event_queue.sent.pop()
    wait = timedelta(seconds=37)

    def limited(repository: str, number: int, body: str) -> None:
        raise TrackerRateLimited(wait, "secondary rate limit", secondary=True, repeat=1)

    flow.tracker.comment = limited  # type: ignore[method-assign]
    handle(flow.services, message)
    assert flow.memory.github_event_queue.sent == [(message, wait)]


def test_a_permanent_refusal_is_audited_and_the_event_dropped() -> None:
    flow = _with_issue()
    flow.tracker.roles["alice"] = "write"
    payload = issue_payload("created", _issue(flow), "alice", comment=("alice", "/faultline why"))
    headers, body = signed(SECRET, "issue_comment", payload)
    answer(flow, headers, body)
    message, _ = flow.memory.github_event_queue.sent.pop()

    def locked(repository: str, number: int, body: str) -> None:
        raise TrackerRefused(403, "Issue is locked", what="comment", kind="forbidden")

    flow.tracker.comment = locked  # type: ignore[method-assign]
    handle(flow.services, message)
    (refused,) = [e for e in flow.memory.audit.rows if e.action == "refused"]
    assert "Issue is locked" in refused.reason and flow.memory.github_event_queue.sent == []


def test_a_muted_issue_closed_as_completed_is_not_reopened_until_the_mute_ends() -> None:
    flow = _with_issue()
    flow.tracker.add_labels(SHOP, 1, ["faultline:mute"])
    flow.clock.moment += timedelta(hours=1)
    flow.tracker.edit(SHOP, 1, state="closed", state_reason="completed")
    flow.clock.moment += timedelta(hours=7)
    outcome = flow.sync(recur(flow, 6))
    assert isinstance(outcome, Synced) and outcome.action == "unchanged"
    assert _issue(flow).state == "closed"


def test_a_rotated_secret_is_read_again_when_a_signature_does_not_verify() -> None:
    flow = _with_issue()
    reads: list[bool] = []

    def vault(refresh: bool = False) -> bytes | None:
        reads.append(refresh)
        return b"rotated secret" if refresh else SECRET

    flow.services.github_webhook_secret = vault
    headers, body = signed(b"rotated secret", "issues", issue_payload("closed", _issue(flow), "a"))
    assert answer(flow, headers, body)[0] == 202
    assert reads == [False, True]
    headers, body = signed(SECRET, "issues", issue_payload("reopened", _issue(flow), "a"))
    assert answer(flow, headers, body)[0] == 202
    assert reads == [False, True, False], "a good signature costs no second read"


def _gitlab_hook(token: str | None) -> tuple[dict[str, str], bytes]:
    """A GitLab Issue Hook, as little of one as `receive_gitlab` reads."""
    payload = {
        "object_kind": "issue",
        "user": {"id": 51, "username": "dana"},
        "project": {"id": 15, "path_with_namespace": "acme/shop"},
        "object_attributes": {"iid": 1, "state": "closed", "action": "close", "description": ""},
        "labels": [],
    }
    headers = {
        "X-Gitlab-Event": "Issue Hook",
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    return ({**headers, "X-Gitlab-Token": token} if token else headers), json.dumps(
        payload
    ).encode()


def test_gitlabs_token_is_checked_against_a_rotated_secret_only_when_it_does_not_match() -> None:
    flow = _with_issue()
    reads: list[bool] = []

    def vault(refresh: bool = False) -> bytes | None:
        reads.append(refresh)
        return b"rotated token" if refresh else b"gitlab-token-for-tests"

    flow.services.gitlab_webhook_secret = vault
    assert receive_gitlab(flow.services, *_gitlab_hook("rotated token")).status == 202
    assert reads == [False, True]
    assert receive_gitlab(flow.services, *_gitlab_hook("gitlab-token-for-tests")).status == 202
    assert reads == [False, True, False], "a matching token costs no second read"
    assert receive_gitlab(flow.services, *_gitlab_hook(None)).status == 401
    assert reads == [False, True, False, False], "no token, no second read"
    assert len(flow.memory.github_event_queue.sent) == 2


def test_an_unavailable_gitlab_secret_answers_503_so_gitlab_retries() -> None:
    flow = _with_issue()

    def unavailable(refresh: bool = False) -> bytes | None:
        raise SecretUnavailable("disabled in Key Vault", reason="disabled")

    flow.services.gitlab_webhook_secret = unavailable
    assert receive_gitlab(flow.services, *_gitlab_hook("gitlab-token-for-tests")).status == 503
    assert flow.memory.github_event_queue.sent == []


def test_only_the_webhooks_are_anonymous_and_take_only_post(functions: FunctionTable) -> None:
    """GitHub and GitLab cannot send a function key: the signature (GitHub) or the token
    (GitLab) is the webhook's authentication, and every other HTTP function keeps its key."""
    levels = {
        name: functions.binding(name, "httpTrigger")["authLevel"].value
        for name, fn in functions.functions.items()
        if any(b["type"] == "httpTrigger" for b in fn.get_bindings_dict()["bindings"])
    }
    anonymous = {name for name, level in levels.items() if level == "anonymous"}
    assert anonymous == {"github_webhook", "gitlab_webhook"}
    for tracker in ("github", "gitlab"):
        webhook = functions.binding(f"{tracker}_webhook", "httpTrigger")
        route = (webhook["route"], [m.value for m in webhook["methods"]])
        assert route == (f"{tracker}/webhook", ["POST"])
    events = functions.binding("handle_github_event", "queueTrigger")
    assert events["queueName"] == "%FAULTLINE_GITHUB_WEBHOOK_QUEUE%"


@given(
    st.sampled_from(["open", "closed"]),
    st.sampled_from([None, "completed", "not_planned", "duplicate", "reopened"]),
    st.lists(
        st.sampled_from(
            [
                "faultline",
                "bug",
                "faultline:mute",
                "FAULTLINE:MUTE",
                "faultline:keep-open",
                "faultline:mute-until:2026-12-31",
                "faultline:mute-until:nonsense",
            ]
        ),
        max_size=4,
    ),
)
def test_the_interpretation_follows_its_table_for_any_state_and_labels(
    state: str, reason: str | None, labels: list[str]
) -> None:
    steering = interpret(state, reason, labels)
    folded = {label.casefold() for label in labels}
    mute_label = "faultline:mute" in folded or "faultline:mute-until:2026-12-31" in folded
    expected = (
        "muted"
        if mute_label or (state == "closed" and reason == "not_planned")
        else "resolved"
        if state == "closed"
        else "active"
    )
    assert steering.status == expected
    assert steering.keep_open == ("faultline:keep-open" in folded)
    assert (steering.muted_until is not None) == (
        "faultline:mute-until:2026-12-31" in folded and expected == "muted"
    )
