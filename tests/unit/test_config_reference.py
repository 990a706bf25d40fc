"""docs/configuration.md is what the models render now, and it documents every setting and key."""

import pytest

from detection.rules import Condition, LogSource, Rules
from pipeline.config_reference import COMMAND, OUTPUT, render
from pipeline.settings import setting_names

pytestmark = pytest.mark.unit


def test_committed_reference_is_up_to_date() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render(), (
        f"{OUTPUT.name} is stale: run `{COMMAND}` and commit the result"
    )


def test_reference_lists_every_app_setting() -> None:
    text = render()
    assert [name for name in sorted(setting_names()) if f"| `{name}` |" not in text] == []


@pytest.mark.parametrize("model", [Rules, LogSource, Condition])
def test_reference_documents_each_rules_model_and_its_keys(model: type) -> None:
    text = render()
    section = text.split(f"\n### {model.__name__}\n", 1)[1].split("\n### ", 1)[0]
    keys = [info.alias or name for name, info in model.model_fields.items()]
    assert [key for key in keys if f"| `{key}` |" not in section] == []


def test_reference_renders_types_defaults_and_constraints_as_an_operator_writes_them() -> None:
    text = render()
    assert "| `FAULTLINE_QUERY_TIMEOUT_SECONDS` | integer, >= 10, <= 600 | `180` |" in text
    assert "| `sources` | list of [LogSource](#logsource), at least 1 | **required** |" in text
    assert "| `poll_interval` | duration | `5m` |" in text
    assert "| `severity` | one of `critical`, `high`, `medium`, `low` | `medium` |" in text
    assert "| `in` | list of text, number or true/false, at least 1 | not set |" in text
