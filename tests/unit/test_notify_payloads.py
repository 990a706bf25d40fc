"""What each channel is sent: Block Kit within Slack's limits, Adaptive Cards valid against the
Adaptive Card schema (1.5, from microsoft/AdaptiveCards, vendored under tests/fakes/schemas), a
webhook body that stays JSON whatever the log text, and a signature a receiver can verify; and
hostile log text made inert in every one of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft6Validator

from detection.notify import NotificationEvent
from detection.notify_payloads import (
    Message,
    TemplateOutputInvalid,
    sign,
    slack_blocks,
    teams_card,
    verify,
    webhook_body,
)

pytestmark = pytest.mark.unit

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fakes" / "schemas" / "adaptive-card-1.5.json").read_text()
)
CARDS = Draft6Validator(SCHEMA)
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
HOSTILE = (
    "<!channel> @here ＠everyone <@U024BE7LH> <https://evil.example|click> & *bold* "
    '[link](https://evil.example) \u202eesrever\u200b "quoted" `tick` {{ 7*7 }} '
    "token=ghp_0123456789abcdefghijABCDEFGHIJ012345"
)


def _event(**changes: Any) -> NotificationEvent:
    fields: dict[str, Any] = {
        "kind": "issue-created",
        "at": T0,
        "fingerprint": "fp1",
        "repository": "contoso/shop",
        "issue": 7,
        "issue_url": "https://github.com/contoso/shop/issues/7",
        "query_url": "https://portal.azure.com/#blade/query",
        "title": "KeyError in reservations.parse_reservation: <*>",
        "definition": "unhandled-exception",
        "severity": "critical",
        "count": 12,
        "first_seen": T0 - timedelta(hours=1),
        "last_seen": T0,
    }
    fields.update(changes)
    return NotificationEvent.model_validate(fields)


def _texts(node: Any) -> list[tuple[str, str]]:
    """Every text object in a Block Kit payload, as (type, text)."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
            found.append((node["type"], node["text"]))
        for value in node.values():
            found.extend(_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_texts(value))
    return found


def _check_block_kit(payload: dict[str, Any]) -> None:
    """Block Kit's documented shape and limits for the blocks Faultline uses."""
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in {"header", "section", "actions", "context"}
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
            assert len(block.get("text", {}).get("text", "")) <= 3000
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button" and button["text"]["type"] == "plain_text"
                assert len(button["text"]["text"]) <= 75 and len(button["url"]) <= 3000
        else:
            assert 1 <= len(block["elements"]) <= 10


def _inert_for_slack(payload: dict[str, Any]) -> None:
    for kind, text in [*_texts(payload), ("mrkdwn", payload["text"])]:
        lowered = text.lower()
        for broadcast in ("@here", "@channel", "@everyone", "＠everyone"):
            assert broadcast not in lowered
        if kind == "mrkdwn":
            assert "<" not in text and ">" not in text
            assert "&" not in text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
        assert "<!" not in text and "<@" not in text
        assert "ghp_0123456789" not in text
        assert "\u202e" not in text and "\u200b" not in text


def test_slack_message_shows_the_failure_and_links_to_issue_and_query() -> None:
    payload = slack_blocks(Message("critical", "oncall", _event()))
    _check_block_kit(payload)
    header, figures, buttons = payload["blocks"]
    assert (
        header["text"]["text"] == "🔴 New failure: KeyError in reservations.parse_reservation: <*>"
    )
    assert [f["text"].split("\n")[0] for f in figures["fields"]] == [
        "*Severity*",
        "*Occurrences*",
        "*First seen*",
        "*Last seen*",
        "*Issue*",
        "*Rule*",
    ]
    assert figures["fields"][4]["text"] == "*Issue*\ncontoso/shop#7"
    assert [b["url"] for b in buttons["elements"]] == [
        "https://github.com/contoso/shop/issues/7",
        "https://portal.azure.com/#blade/query",
    ]


def test_slack_message_makes_hostile_log_text_inert() -> None:
    event = _event(title=HOSTILE, reason=HOSTILE, kind="assignment-failed")
    payload = slack_blocks(Message("critical", "oncall", event, held_back=3, held_since=T0))
    _check_block_kit(payload)
    _inert_for_slack(payload)
    assert "&lt;\u2060!channel&gt;" in payload["text"]  # shown, escaped, not a broadcast
    assert "[REDACTED" in payload["blocks"][2]["text"]["text"]
    assert "3 more notification(s) were held back" in payload["blocks"][-1]["elements"][0]["text"]


def test_a_storm_summary_is_one_message_saying_how_many_were_held() -> None:
    payload = slack_blocks(Message("critical", "oncall", None, held_back=97, held_since=T0))
    _check_block_kit(payload)
    assert payload["blocks"][0]["text"]["text"] == "⏸ 97 notification(s) held back"
    assert "held back 97 notification(s) since 2026-12-01 03:00 UTC" in json.dumps(payload)
    card = teams_card(Message("critical", "ops", None, held_back=97, held_since=T0))
    assert not list(CARDS.iter_errors(card["attachments"][0]["content"]))


def test_teams_card_is_a_valid_adaptive_card_in_the_workflows_envelope() -> None:
    payload = teams_card(Message("critical", "ops", _event(reason="token refused")))
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert [e.message for e in CARDS.iter_errors(card)] == []
    assert card["version"] == "1.5"
    assert [a["url"] for a in card["actions"]] == [
        "https://github.com/contoso/shop/issues/7",
        "https://portal.azure.com/#blade/query",
    ]


def test_the_schema_check_catches_a_broken_card() -> None:
    card = teams_card(Message("critical", "ops", _event()))["attachments"][0]["content"]
    card["body"][1]["facts"][0]["titel"] = "typo"
    assert list(CARDS.iter_errors(card))


def test_teams_card_keeps_log_text_out_of_markdown() -> None:
    card = teams_card(Message("r", "ops", _event(title=HOSTILE, reason=HOSTILE)))
    content = card["attachments"][0]["content"]
    assert not list(CARDS.iter_errors(content))
    assert all(block["type"] != "TextBlock" for block in content["body"])
    runs = [
        i["text"] for b in content["body"] if b["type"] == "RichTextBlock" for i in b["inlines"]
    ]
    assert all("ghp_0123456789" not in run and "\u202e" not in run for run in runs)


TEMPLATE = '{"text": "{{ event.title }} ({{ event.count }})", "event": {{ event | tojson }}}'


def test_webhook_template_output_stays_json_whatever_the_title() -> None:
    body = webhook_body(Message("r", "pager", _event(title=HOSTILE)), TEMPLATE)
    parsed = json.loads(body)
    assert parsed["text"].startswith("<\u2060!channel> @\u2060here")
    assert parsed["event"]["issue"] == 7
    assert "ghp_0123456789" not in body.decode()


def test_webhook_default_body_is_the_event_with_the_throttle_figures() -> None:
    body = json.loads(
        webhook_body(Message("r", "pager", _event(), held_back=2, held_since=T0), None)
    )
    assert body["event"]["kind"] == "issue-created" and body["held_back"] == 2
    assert body["rule"] == "r" and body["channel"] == "pager"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{"x": "{{ "".__class__.__mro__ }}"}', "SecurityError"),
        ('{"x": {{ event.update({}) }}}', "SecurityError"),
        ('{"x": "{{ event.nope.deeper }}"}', "UndefinedError"),
    ],
)
def test_webhook_template_cannot_reach_python_or_undefined_names(
    template: str, expected: str
) -> None:
    with pytest.raises(TemplateOutputInvalid, match=f"pager webhook template failed: {expected}"):
        webhook_body(Message("r", "pager", _event()), template)


def test_webhook_template_that_renders_invalid_json_is_refused() -> None:
    with pytest.raises(TemplateOutputInvalid, match="pager webhook template rendered invalid JSON"):
        webhook_body(Message("r", "pager", _event()), '{"text": {{ event.title }}}')


def test_signature_verifies_and_binds_body_and_timestamp() -> None:
    body, key = b'{"a": 1}', b"k" * 32
    signature = sign(body, key, 1_764_558_000)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(body, key, 1_764_558_000, signature)
    assert not verify(body + b" ", key, 1_764_558_000, signature)
    assert not verify(body, key, 1_764_558_001, signature)
    assert not verify(body, b"other", 1_764_558_000, signature)


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=400), reason=st.text(max_size=200))
def test_any_log_text_gives_valid_payloads(title: str, reason: str) -> None:
    event = _event(title=title or "x", reason=reason)
    slack = slack_blocks(Message("r", "oncall", event, held_back=1, held_since=T0))
    _check_block_kit(slack)
    for kind, text in _texts(slack):
        if kind == "mrkdwn":
            assert "<" not in text and ">" not in text
    card = teams_card(Message("r", "ops", event))["attachments"][0]["content"]
    assert not list(CARDS.iter_errors(card))
    assert json.loads(webhook_body(Message("r", "pager", event), TEMPLATE))["event"]["count"] == 12
