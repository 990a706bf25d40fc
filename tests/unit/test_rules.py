"""The rules file: the shipped one loads, and every kind of mistake names its path."""

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from detection.rules import RulesError, load_rules, parse_duration

pytestmark = pytest.mark.unit

SHIPPED = (Path(__file__).parents[2] / "faultline.yaml").read_text()


def _minimal(**overrides: object) -> dict:
    document: dict = {
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
        "routing": {"default_repository": "contoso/shop"},
    }
    document.update(overrides)
    return document


def _load(document: dict, env: dict[str, str] | None = None):
    return load_rules(yaml.safe_dump(document), env or {}, origin="rules.yaml")


def test_shipped_rules_file_loads_with_every_section() -> None:
    rules = load_rules(SHIPPED, {})
    assert [s.name for s in rules.sources] == ["production"]
    assert {t.name for t in rules.sources[0].tables} >= {
        "AppExceptions",
        "ContainerLogV2",
        "OrdersService_CL",
    }
    assert rules.definitions_for("AppRequests")[0].threshold.within == timedelta(minutes=10)
    assert rules.dedup.comment_interval == timedelta(hours=6)
    assert rules.assignment.default.kind == "copilot"
    assert rules.business_hours.timezone == "Europe/Amsterdam"


def test_environment_substitution_with_defaults() -> None:
    rules = load_rules(SHIPPED, {"FAULTLINE_REPOSITORY": "acme/api"})
    assert rules.routing.default_repository == "acme/api"
    assert rules.sources[0].workspace_id == "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"


def test_missing_environment_variable_names_path_and_variable() -> None:
    document = _minimal(routing={"default_repository": "${REPO}"})
    with pytest.raises(RulesError, match=r"routing\.default_repository: environment variable REPO"):
        _load(document)


def test_substitution_cannot_inject_structure() -> None:
    rules = _load(_minimal(routing={"default_repository": "${REPO}"}), {"REPO": "a/b"})
    assert rules.routing.default_repository == "a/b"
    with pytest.raises(RulesError, match="default_repository"):
        _load(_minimal(routing={"default_repository": "${REPO}"}), {"REPO": "a/b\nx: 1"})


BAD_FILES = [
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "Success", "equals": False, "contains": "y"},
                }
            ]
        },
        r"failures\[0\]\.when: .*exactly one operator",
    ),
    (
        {
            "failures": [
                {"name": "x", "tables": ["AppRequests"], "when": {"field": "Url", "regex": "("}}
            ]
        },
        r"failures\[0\]\.when\.regex: .*invalid regular expression",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "Url", "regex": "a(?=b)"},
                }
            ]
        },
        r"failures\[0\]\.when\.regex: .*RE2",
    ),
    (
        {
            "failures": [
                {"name": "x", "tables": ["AppRequests"], "when": {"all": [{"field": "Url"}]}}
            ]
        },
        r"failures\[0\]\.when\.all\[0\]: .*exactly one operator",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "threshold": {"count": 0},
                }
            ]
        },
        r"failures\[0\]\.threshold\.count: .*greater than or equal to 1",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "threshold": {"within": "5 minutes"},
                }
            ]
        },
        r"failures\[0\]\.threshold\.within: .*not a duration",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "severty": "high",
                }
            ]
        },
        r"failures\[0\]\.severty: Extra inputs are not permitted",
    ),
    (
        {"failures": [{"name": "x", "tables": ["AppTraces"], "when": {"field": "A", "equals": 1}}]},
        r"names tables no source watches: AppTraces",
    ),
    (
        {
            "sources": [
                {
                    "name": "prod",
                    "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                    "tables": ["Nope"],
                }
            ]
        },
        r"sources\[0\]\.tables\[0\]: .*unknown table 'Nope'",
    ),
    (
        {
            "sources": [
                {
                    "name": "prod",
                    "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                    "tables": ["Orders_CL"],
                }
            ]
        },
        r"custom table Orders_CL needs columns\.message",
    ),
    (
        {"sources": [{"name": "prod", "workspace_id": "not-a-guid", "tables": ["AppRequests"]}]},
        r"sources\[0\]\.workspace_id",
    ),
    (
        {
            "routing": {
                "default_repository": "contoso/shop",
                "routes": [{"when_definitions": ["nope"], "repository": "a/b"}],
            }
        },
        r"routing\.routes\[0\] names unknown failure definitions: nope",
    ),
    (
        {"business_hours": {"timezone": "Mars/Olympus"}},
        r"business_hours\.timezone: .*unknown time zone",
    ),
    ({"business_hours": {"start": "18:00", "end": "09:00"}}, r"start must be before end"),
    ({"version": 2}, r"version: "),
    (
        {"dedup": {"occurrence_retention": "1h"}},
        r"dedup\.occurrence_retention \(1:00:00\) must cover the longest source lookback plus "
        r"the longest threshold window \(2:00:00\)",
    ),
]


@pytest.mark.parametrize(("override", "expected"), BAD_FILES)
def test_bad_files_fail_with_the_path_of_the_bad_field(override: dict, expected: str) -> None:
    with pytest.raises(RulesError, match=expected):
        _load(_minimal(**override))


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules("sources: [", {})
    with pytest.raises(RulesError, match="mapping at the top level"):
        load_rules("- a\n- b\n", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        (" 1H ", timedelta(hours=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m5", "1h-3m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
