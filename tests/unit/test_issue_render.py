"""The rendered issue survives hostile log content: fences hold, nobody is pinged, secrets go."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.issue import (
    GITHUB_BODY_LIMIT,
    IssueView,
    fence,
    find_marker,
    hourly_counts,
    neutralise,
    redact,
    render_body,
    tally_hours,
    title,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def view(**changes: object) -> IssueView:
    base = dict(
        fingerprint="0123456789abcdef0123456789abcdef",
        fingerprint_version=2,
        definition="unhandled-exception",
        description="",
        severity="high",
        category="bug",
        table="AppExceptions",
        source="production",
        count=12,
        first_seen=T0,
        last_seen=T0 + timedelta(hours=2),
        threshold="1 in 1:00:00",
        message="Object reference not set to an instance of an object.",
        exception_type="System.NullReferenceException",
        stack_trace="   at Contoso.Orders.OrderService.PlaceAsync"
        " in /src/Orders/OrderService.cs:line 118",
        role="orders-api",
        operation_name="POST /orders",
        samples=["2026-11-20T03:00:00Z orders-api boom"],
        context={"order_id": "AB-12"},
        kql="AppExceptions\n| where SeverityLevel >= 3",
        portal_url=None,
        hourly=hourly_counts(
            tally_hours({}, [T0, T0 + timedelta(minutes=5)], T0), T0 + timedelta(hours=2)
        ),
        grouped_by=["exception type", "message template"],
    )
    base.update(changes)
    return IssueView(**base)  # type: ignore[arg-type]


def _outside_code(body: str) -> str:
    """The body with fenced blocks and inline code removed: what GitHub parses as prose."""
    without_blocks = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", body)
    return re.sub(r"`[^`\n]*`", "", without_blocks)


def test_body_carries_what_a_person_needs_and_the_marker() -> None:
    body = render_body(view())
    assert find_marker(body) == "0123456789abcdef0123456789abcdef"
    for part in (
        "**Occurrences** | 12",
        "2026-11-20 03:00:00 UTC",
        "```mermaid",
        "xychart-beta",
        "System.NullReferenceException",
        "OrderService.PlaceAsync",
        "```kusto",
        "**order_id** | `AB-12`",
        "Grouped by exception type, message template",
    ):
        assert part in body


@pytest.mark.parametrize(
    "hostile",
    [
        "```\n## Injected heading\n@octocat please look #123\n```",
        "````` five backticks then @org/team and closes #42",
        "<img src=x onerror=alert(1)> <details><summary>x</summary>",
        "line one\r\n\x00\x1b[31mred\x1b[0m @here",
    ],
)
def test_log_content_cannot_break_out_of_its_fence_or_ping_anyone(hostile: str) -> None:
    body = render_body(
        view(
            message=hostile,
            stack_trace=hostile,
            samples=[hostile, hostile],
            role=hostile,
            operation_name=hostile,
            context={"k": hostile},
        )
    )
    prose = _outside_code(body)
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9]", prose)
    assert not re.search(r"(?<![\w&`])#\d", prose)
    assert "<img" not in prose and "<details>" not in prose
    assert "## Injected heading" not in prose


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from(["`", "a", "\n", " ", "~"]), max_size=80))
def test_fence_is_longer_than_any_backtick_run(text: str) -> None:
    block = fence(text)
    opening = block.split("\n", 1)[0]
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    assert len(opening) > longest and block.endswith("\n" + opening)


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        (
            "header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
            "header",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=abc123def456==;",
            "AccountName=prod",
        ),
        ("postgres://admin:hunter2@db.internal:5432/orders", "db.internal"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", "leaked"),
        ("AKIAIOSFODNN7EXAMPLE used", "used"),
        ('{"password": "s3cr3t!", "user": "x"}', '"user"'),
        ("client_secret=Zm9vYmFyYmF6 in request", "in request"),
        ("mail ann.smith@contoso.com failed", "failed"),
        ("card 4111 1111 1111 1111 declined", "declined"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", ""),
    ],
)
def test_secrets_and_personal_data_are_redacted(secret: str, kept: str) -> None:
    cleaned = redact(secret)
    assert "REDACTED" in cleaned and kept in cleaned
    for leaked in (
        "hunter2",
        "abc123def456",
        "ghp_abc",
        "AKIAIOSFODNN7",
        "s3cr3t",
        "Zm9vYmFyYmF6",
        "ann.smith",
        "4111 1111",
        "MIIEpAIBAAKCAQEA",
        "eyJzdWIi",
    ):
        assert leaked not in cleaned


def test_ordinary_numbers_and_ids_survive_redaction() -> None:
    text = "order 20261120000102 for sku 1234567890123 took 1500 ms"
    assert redact(text) == text


def test_secrets_are_redacted_in_every_part_of_the_body() -> None:
    secret = "password=Pa55w0rd!x"
    body = render_body(
        view(message=secret, stack_trace=secret, samples=[secret], context={"k": secret})
    )
    assert "Pa55w0rd" not in body


def test_a_huge_body_is_trimmed_to_githubs_limit_samples_first() -> None:
    big = "x" * 30_000
    body = render_body(view(samples=[big] * 5, stack_trace="y" * 10_000))
    assert len(body) <= GITHUB_BODY_LIMIT
    assert "trimmed to fit" in body and "y" * 10_000 in body
    enormous = render_body(
        view(samples=[big] * 5, stack_trace="y" * 1_000_000, message="z" * 1_000_000)
    )
    assert len(enormous) <= GITHUB_BODY_LIMIT
    assert find_marker(enormous) is not None


def test_invalid_utf8_decoded_with_replacement_renders() -> None:
    text = b"bad \xff\xfe bytes".decode("utf-8", "replace")
    assert "bad" in render_body(view(message=text, samples=[text]))


def test_title_names_the_failure_and_is_safe() -> None:
    made = title("unhandled-exception", "User @alice hit #7 " + "x" * 400, "KeyError")
    assert made.startswith("[unhandled-exception] KeyError: User @\u200dalice hit #\u200d7")
    assert len(made) <= 256


def test_neutralise_leaves_emails_alone_and_breaks_mentions() -> None:
    assert (
        neutralise("ping @octocat about #12, mail a@b.io")
        == "ping @\u200doctocat about #\u200d12, mail a@b.io"
    )


def test_custom_template_overrides_the_layout() -> None:
    body = render_body(view(), "{{ marker }}\nCount: {{ count }}\n{{ error_block }}")
    assert body.splitlines()[1] == "Count: 12"


_moments = st.lists(
    st.integers(min_value=0, max_value=96 * 60).map(lambda m: T0 + timedelta(minutes=m)),
    max_size=40,
)


@given(st.lists(_moments, min_size=1, max_size=6))
def test_an_hourly_tally_kept_batch_by_batch_matches_one_kept_all_at_once(batches) -> None:
    everything = [moment for batch in batches for moment in batch]
    newest = T0
    tally: dict[datetime, int] = {}
    for batch in batches:
        newest = max([newest, *batch])
        tally = tally_hours(tally, batch, newest)
    assert tally == tally_hours({}, everything, newest)
    assert hourly_counts(tally, newest) == [
        (hour, sum(1 for m in everything if m.replace(minute=0) == hour))
        for hour, _ in hourly_counts({}, newest)
    ]
