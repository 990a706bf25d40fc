"""The local run fires the app's daily timers when the simulated clock passes them, and stops
before it starts, with exit code 2 and a message to act on, when what it was asked cannot work."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_host.run import _next_daily, main, prepare, real_github
from tests.support.exports import as_az_cli

pytestmark = pytest.mark.unit

NIGHT = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)


def test_a_daily_schedule_fires_next_at_its_time_today_or_tomorrow() -> None:
    assert _next_daily("0 30 3 * * *", NIGHT) == NIGHT.replace(hour=3, minute=30)
    assert _next_daily("0 0 0 * * *", NIGHT) == datetime(2026, 11, 21, tzinfo=UTC)


def test_a_schedule_that_is_not_once_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="not a once-a-day schedule"):
        _next_daily("0 */5 * * * *", NIGHT)


ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "telemetry"
VARIABLES = (
    "FAULTLINE_GITHUB_TOKEN",
    "FAULTLINE_REPOSITORY",
    "FAULTLINE_POLL_INTERVAL",
    "FAULTLINE_LOGS_EXPORT_DIR",
    "FAULTLINE_RULES_PATH",
    "FAULTLINE_MAX_CONCURRENT_QUERIES",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment `main` reads, without the variables these tests set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run the local runner's `main` on a mistake: it must stop before Azurite starts, with
    exit code 2 and the message alone on stderr."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return captured.err.splitlines()


def test_a_bad_rules_file_is_printed_as_its_mistakes_without_a_traceback(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = tmp_path / "faultline.yaml"
    rules.write_text(
        (ROOT / "faultline.yaml")
        .read_text()
        .replace("{count: 3, within: 10m}", "{cuont: 3, within: 10m}")
        .replace("{field: Level, equals: Error}", "{field: Level, equal: Error}")
    )
    assert _refused(["--data", str(SAMPLE), "--rules", str(rules)], capsys) == [
        f"error: {rules} is invalid:",
        "  failures[1] (failed-request).threshold.cuont: unknown key; did you mean 'count'?",
        "  failures[6] (console-error).when.equal: unknown operator; did you mean 'equals'?",
        "  failures[7] (order-processing-failure).when.all[0].equal: unknown operator; "
        "did you mean 'equals'?",
        "  failures[8] (smoke-test).when.all[0].equal: unknown operator; did you mean 'equals'?",
    ]


def test_a_bad_poll_interval_is_blamed_on_the_variable_not_the_rules_file(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("FAULTLINE_POLL_INTERVAL", "5")
    assert _refused(["--data", str(SAMPLE)], capsys)[1:] == [
        "  FAULTLINE_POLL_INTERVAL=5 (from the environment, used at sources[0] (production)"
        ".poll_interval): '5' has no unit; expected a duration like 5m (units: s, m, h, d)"
    ]


def test_a_bad_app_setting_is_named_with_its_value_without_a_traceback(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("FAULTLINE_MAX_CONCURRENT_QUERIES", "10")
    lines = _refused(["--data", str(SAMPLE)], capsys)
    assert lines[0] == "error: app settings (environment variables) are invalid:"
    assert lines[1].startswith(
        "  FAULTLINE_MAX_CONCURRENT_QUERIES=10: expected a whole number from 1 to 5 ("
    )


def test_a_github_token_without_a_repository_is_refused_naming_both_variables(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to run dry without a word, writing Markdown files where issues were expected."""
    env.setenv("FAULTLINE_GITHUB_TOKEN", "github_pat_example")
    assert _refused(["--data", str(SAMPLE)], capsys) == [
        "error: FAULTLINE_GITHUB_TOKEN is set but FAULTLINE_REPOSITORY is not; the local run "
        "creates real GitHub issues only with both:",
        "  FAULTLINE_GITHUB_TOKEN  the token issues are created with (its owner needs Issues: "
        "read and write on the repositories)",
        "  FAULTLINE_REPOSITORY    owner/name of the repository issues go to (the shipped "
        "faultline.yaml reads it as routing.default_repository)",
        "Set FAULTLINE_REPOSITORY=owner/name to create real issues, or unset "
        "FAULTLINE_GITHUB_TOKEN for a dry run that writes each issue as a Markdown file.",
    ]


@pytest.mark.parametrize(
    ("variables", "github"),
    [
        ({}, False),
        ({"FAULTLINE_REPOSITORY": "acme/shop"}, False),
        (
            {
                "FAULTLINE_GITHUB_TOKEN": "github_pat_example",
                "FAULTLINE_REPOSITORY": "acme/shop",
            },
            True,
        ),
    ],
    ids=["neither", "repository-only", "both"],
)
def test_issues_go_to_github_only_with_a_token_and_a_repository(
    variables: dict[str, str], github: bool
) -> None:
    assert real_github(variables) is github


def test_a_misnamed_export_stops_the_run_with_exit_2_before_it_starts(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for export in SAMPLE.glob("*.json"):
        (tmp_path / export.name).write_bytes(export.read_bytes())
    (tmp_path / "AppTraces.json").rename(tmp_path / "AppTrace.json")
    lines = _refused(["--data", str(tmp_path)], capsys)
    assert lines[:3] == [
        f"error: {tmp_path}: no export for 1 of the 8 tables the rules file watches:",
        "  missing: AppTraces.json",
        "  found instead: AppTrace.json (rename to AppTraces.json?), labels.json",
    ]


def test_the_export_folder_may_come_from_the_app_setting_and_is_then_named_as_such(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env.setenv("FAULTLINE_LOGS_EXPORT_DIR", str(tmp_path / "exports"))
    lines = _refused([], capsys)
    assert lines[0] == f"error: {tmp_path}/exports: no such folder of exports."
    assert lines[-1] == f"(the folder is FAULTLINE_LOGS_EXPORT_DIR={tmp_path}/exports)"


def test_a_run_over_az_cli_exports_is_planned_like_one_over_query_api_exports(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for export in SAMPLE.glob("*.json"):
        if export.name != "labels.json":
            (tmp_path / export.name).write_text(
                json.dumps(as_az_cli(json.loads(export.read_text())))
            )
    out = tmp_path / "out"
    api = prepare(SAMPLE, None, out, None, os.environ)
    cli = prepare(tmp_path, None, out, None, os.environ)
    assert (cli.first, cli.last) == (api.first, api.last)
    assert cli.real_github is False
    assert cli.environment["FAULTLINE_DRY_RUN_DIR"] == str(out)
    assert cli.environment["FAULTLINE_LOGS_EXPORT_DIR"] == str(tmp_path)
