"""The rules file's `notifications` section: channels whose secrets are Key Vault names, rules
that name channels, definitions and routes that exist, each mistake named by its path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from detection.rules import RulesError, load_rules
from pipeline.config_reference import NOTIFICATION_SETUPS

pytestmark = pytest.mark.unit

BASE: dict = {
    "sources": [
        {
            "name": "prod",
            "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
            "tables": ["AppRequests"],
        }
    ],
    "failures": [
        {
            "name": "failed-request",
            "tables": ["AppRequests"],
            "when": {"field": "Success", "equals": False},
        }
    ],
    "routing": {
        "default_repository": "contoso/shop",
        "routes": [
            {
                "name": "orders",
                "when_definitions": ["failed-request"],
                "repository": "contoso/orders",
            }
        ],
    },
}
CHANNELS = [
    {"name": "oncall", "kind": "slack", "webhook_url_secret": "slack-oncall-webhook"},
    {"name": "bot", "kind": "slack", "bot_token_secret": "slack-bot-token", "channel": "C0123"},
    {"name": "ops", "kind": "teams", "webhook_url_secret": "teams-ops-workflow"},
    {
        "name": "pager",
        "kind": "webhook",
        "url_secret": "pager-url",
        "signing_secret": "pager-signing-key",
        "headers": {"X-Tenant": "shop"},
        "header_secrets": {"Authorization": "pager-authorization"},
        "template": '{"title": {{ event.title | tojson }}}',
    },
]


def _load(notifications: dict) -> object:
    return load_rules(yaml.safe_dump({**BASE, "notifications": notifications}), {}, origin="r.yaml")


def test_a_full_section_loads() -> None:
    rules = _load(
        {
            "channels": CHANNELS,
            "rules": [
                {
                    "name": "critical",
                    "events": ["issue-created", "issue-regressed", "escalated"],
                    "severities": ["critical"],
                    "definitions": ["failed-request"],
                    "routes": ["orders"],
                    "channels": ["oncall", "ops", "pager"],
                    "throttle": {"count": 3, "within": "10m"},
                }
            ],
        }
    )
    notifications = rules.notifications  # type: ignore[attr-defined]
    assert [c.kind for c in notifications.channels] == ["slack", "slack", "teams", "webhook"]
    assert notifications.rules[0].throttle.within == timedelta(minutes=10)
    assert notifications.channel("bot").channel == "C0123"


def test_no_section_means_no_notifications() -> None:
    rules = load_rules(yaml.safe_dump(BASE), {})
    assert rules.notifications.rules == () and rules.notifications.channels == ()


@pytest.mark.parametrize(
    ("notifications", "expected"),
    [
        (
            {
                "channels": [
                    {
                        "name": "ops",
                        "kind": "teams",
                        "webhook_url_secret": "https://x.example/webhook",
                    }
                ]
            },
            "notifications.channels[0] (ops).teams.webhook_url_secret: expected the name of a "
            "Key Vault secret",
        ),
        (
            {"channels": [{"name": "s", "kind": "slack"}]},
            "notifications.channels[0] (s).slack: a slack channel has "
            "webhook_url_secret or bot_token_secret (one)",
        ),
        (
            {"channels": [{"name": "s", "kind": "slack", "bot_token_secret": "t"}]},
            "a slack channel with bot_token_secret needs `channel`",
        ),
        (
            {"channels": [{**CHANNELS[3], "headers": {"Authorization": "Bearer abc"}}]},
            "notifications.channels[0] (pager).webhook.headers: header Authorization "
            "looks like a credential",
        ),
        (
            {"channels": [{**CHANNELS[3], "template": "{{ event.title "}]},
            "notifications.channels[0] (pager).webhook.template: the template is not "
            "valid Jinja2 (line 1)",
        ),
        (
            {
                "channels": CHANNELS[:1],
                "rules": [{"name": "r", "events": ["issue-creatd"], "channels": ["oncall"]}],
            },
            "notifications.rules[0] (r).events[0]: Input should be",
        ),
        (
            {
                "channels": CHANNELS[:1],
                "rules": [{"name": "r", "events": ["issue-created"], "channels": ["oncal"]}],
            },
            "notifications.rules[0] (r).channels: names an unknown channel: oncal; did you mean "
            "'oncall'?",
        ),
        (
            {
                "channels": CHANNELS[:1],
                "rules": [
                    {
                        "name": "r",
                        "events": ["issue-created"],
                        "channels": ["oncall"],
                        "definitions": ["failed-reqest"],
                        "routes": ["order"],
                    }
                ],
            },
            "notifications.rules[0] (r).routes: names an unknown route: order; "
            "did you mean 'orders'?",
        ),
        (
            {
                "channels": CHANNELS[:1],
                "rules": [
                    {
                        "name": "r",
                        "events": ["issue-created"],
                        "channels": ["oncall"],
                        "throtle": {},
                    }
                ],
            },
            "notifications.rules[0] (r).throtle: unknown key; did you mean 'throttle'?",
        ),
        (
            {"channels": CHANNELS[:1] * 2},
            "notifications.channels: names must be unique; used twice: oncall",
        ),
        (
            {"trouble": {"lag_bound": "2m"}},
            "notifications.trouble.lag_bound: lag_bound must be at least 5m",
        ),
        (
            {"trouble": {"lag_bound": "6m"}},  # prod polls every 5m, 2m after ingestion
            "notifications.trouble.lag_bound: 0:06:00 is not beyond sources[0] (prod)'s "
            "poll_interval plus ingestion_delay",
        ),
        (
            {"trouble": {"token_warning": "180d"}},
            "notifications.trouble.token_warning: token_warning must be between 1h and 90d",
        ),
    ],
)
def test_mistakes_are_named_by_path(notifications: dict, expected: str) -> None:
    with pytest.raises(RulesError) as error:
        _load(notifications)
    assert expected in str(error.value)


def test_a_pasted_secret_is_not_echoed() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
    with pytest.raises(RulesError) as error:
        _load({"channels": [{"name": "s", "kind": "slack", "webhook_url_secret": url}]})
    assert "XXXXXXXX" not in str(error.value)


@pytest.mark.parametrize(
    ("title", "example"), [(t, e) for t, _, e in NOTIFICATION_SETUPS], ids=lambda v: v[:20]
)
def test_each_documented_set_up_loads(title: str, example: str) -> None:
    section = yaml.safe_load(example)["notifications"]
    rules = _load(section)
    notifications = rules.notifications  # type: ignore[attr-defined]
    assert notifications.rules or notifications.digests


def test_the_readmes_set_up_loads() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    after = readme.split("A minimal set-up, one channel of each kind", 1)[1]
    example = after.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = _load(yaml.safe_load(example)["notifications"])
    assert {c.kind for c in rules.notifications.channels} == {"slack", "teams", "webhook"}  # type: ignore[attr-defined]


def test_the_readmes_digest_loads_with_its_channels() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    minimal = readme.split("A minimal set-up, one channel of each kind", 1)[1]
    channels = yaml.safe_load(minimal.split("```yaml\n", 1)[1].split("```", 1)[0])
    digest = readme.split("#### The digest", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    section = {**channels["notifications"], **yaml.safe_load(digest)["notifications"]}
    (schedule,) = _load(section).notifications.digests  # type: ignore[attr-defined]
    assert (schedule.period, schedule.routes) == ("weekly", ("orders",))


DIGEST = {"name": "shop-weekly", "repository": "contoso/shop", "channels": ["oncall"]}


@pytest.mark.parametrize(
    ("digest", "problem"),
    [
        (
            {**DIGEST, "channels": ["oncal"]},
            "notifications.digests[0] (shop-weekly).channels: names an unknown channel: oncal",
        ),
        (
            {**DIGEST, "routes": ["order"]},
            "notifications.digests[0] (shop-weekly).routes: names an unknown route: order",
        ),
        ({**DIGEST, "period": "monthly"}, "notifications.digests[0] (shop-weekly).period"),
        ({**DIGEST, "hour": 24}, "notifications.digests[0] (shop-weekly).hour"),
        ({**DIGEST, "weekday": "monday"}, "notifications.digests[0] (shop-weekly).weekday"),
        (
            {**DIGEST, "repository": "not a repository"},
            "notifications.digests[0] (shop-weekly).repository: 'not a repository' is not",
        ),
    ],
)
def test_a_bad_digest_is_named(digest: dict, problem: str) -> None:
    with pytest.raises(RulesError) as error:
        _load({"channels": CHANNELS, "digests": [digest, {**DIGEST, "name": "other"}]})
    assert problem in str(error.value)


def test_digest_names_are_unique() -> None:
    with pytest.raises(RulesError) as error:
        _load({"channels": CHANNELS, "digests": [DIGEST, DIGEST]})
    assert "notifications.digests: names must be unique; used twice: shop-weekly" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("period", "moment", "due", "covered"),
    [
        ("weekly", datetime(2026, 11, 23, 7, 5, tzinfo=UTC), True, (16, 23)),  # a Monday
        ("weekly", datetime(2026, 11, 24, 7, 5, tzinfo=UTC), False, (17, 24)),
        ("weekly", datetime(2026, 11, 23, 6, 59, tzinfo=UTC), False, (16, 23)),
        ("weekly", datetime(2026, 11, 23, 23, 5, tzinfo=UTC), True, (16, 23)),  # made up for
        ("daily", datetime(2026, 11, 24, 7, 59, tzinfo=UTC), True, (23, 24)),
    ],
)
def test_a_digest_is_due_at_its_hour_and_covers_the_days_before(
    period: str, moment: datetime, due: bool, covered: tuple[int, int]
) -> None:
    rules = _load({"channels": CHANNELS, "digests": [{**DIGEST, "period": period}]})
    (schedule,) = rules.notifications.digests  # type: ignore[attr-defined]
    assert schedule.due(moment) is due
    start, end = schedule.covered(moment)
    assert (start.day, end.day) == covered and start.hour == end.hour == 0


def test_troubles_bounds_have_defaults_and_can_be_set() -> None:
    default = _load({}).notifications.trouble  # type: ignore[attr-defined]
    assert (default.lag_bound, default.token_warning) == (timedelta(hours=1), timedelta(days=7))
    chosen = _load({"trouble": {"lag_bound": "30m", "token_warning": "3d"}})
    trouble = chosen.notifications.trouble  # type: ignore[attr-defined]
    assert (trouble.lag_bound, trouble.token_warning) == (timedelta(minutes=30), timedelta(days=3))
