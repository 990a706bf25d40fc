"""The local run fires the app's daily timers when the simulated clock passes them, and stops
before it starts, with exit code 2 and a message to act on, when what it was asked cannot work.
By default it replays the bundled night (`--days` the three-day sample), and it ends by naming
what to open."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import local_host.run as local_run
from local_host.run import (
    DAYS_DATA,
    NIGHT_DATA,
    LocalRunError,
    Plan,
    _next_daily,
    _next_hourly,
    data_folder,
    main,
    prepare,
    real_github,
)
from tests.support.exports import as_az_cli

pytestmark = pytest.mark.unit

NIGHT = datetime(2026, 11, 20, 0, 5, tzinfo=UTC)


def test_a_daily_schedule_fires_next_at_its_time_today_or_tomorrow() -> None:
    assert _next_daily("0 30 3 * * *", NIGHT) == NIGHT.replace(hour=3, minute=30)
    assert _next_daily("0 0 0 * * *", NIGHT) == datetime(2026, 11, 21, tzinfo=UTC)


def test_a_schedule_that_is_not_once_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="not a once-a-day schedule"):
        _next_daily("0 */5 * * * *", NIGHT)


def test_an_hourly_schedule_fires_next_at_its_minute_this_hour_or_the_next() -> None:
    assert _next_hourly("0 5 * * * *", NIGHT) == NIGHT.replace(hour=1)  # 00:05 itself has run
    assert _next_hourly("0 30 * * * *", NIGHT) == NIGHT.replace(minute=30)
    with pytest.raises(ValueError, match="not a once-an-hour schedule"):
        _next_hourly("0 30 3 * * *", NIGHT)


ROOT = Path(__file__).parents[2]
SAMPLE = ROOT / "samples" / "telemetry"
VARIABLES = (
    "FAULTLINE_GITHUB_TOKEN",
    "FAULTLINE_GITHUB_APP_ID",
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
        ".poll_interval): '5' has no unit; expected a duration like 5m (units: s, m, h, d)",
        "  FAULTLINE_POLL_INTERVAL=5 (from the environment, used at sources[2] (aws)"
        ".poll_interval): '5' has no unit; expected a duration like 5m (units: s, m, h, d)",
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
        "read and write on the repositories), or FAULTLINE_GITHUB_APP_ID with "
        "FAULTLINE_GITHUB_APP_PRIVATE_KEY for a GitHub App",
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
        ({"FAULTLINE_GITHUB_APP_ID": "123456", "FAULTLINE_REPOSITORY": "acme/shop"}, True),
    ],
    ids=["neither", "repository-only", "both", "app-and-repository"],
)
def test_issues_go_to_github_only_with_a_token_and_a_repository(
    variables: dict[str, str], github: bool
) -> None:
    assert real_github(variables) is github


def test_a_github_app_without_a_repository_is_refused_by_name() -> None:
    with pytest.raises(LocalRunError, match="^FAULTLINE_GITHUB_APP_ID is set but FAULTLINE_REP"):
        real_github({"FAULTLINE_GITHUB_APP_ID": "123456"})


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


def test_the_night_replays_the_bundled_cloudwatch_export_beside_its_tables(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    night = prepare(SAMPLE, None, tmp_path, None, os.environ)
    assert night.environment["FAULTLINE_CLOUDWATCH_ENABLED"] == "true"
    folders = night.environment["FAULTLINE_LOGS_EXPORT_DIR"].split(os.pathsep)
    assert folders == [str(SAMPLE), str(ROOT / "samples" / "cloudwatch")]
    for export in SAMPLE.glob("*.json"):
        (tmp_path / export.name).write_text(export.read_text())
    other = prepare(tmp_path, None, tmp_path / "out", None, os.environ)
    assert "FAULTLINE_CLOUDWATCH_ENABLED" not in other.environment, "only the night's sample"
    assert other.environment["FAULTLINE_LOGS_EXPORT_DIR"] == str(tmp_path)


class Planned:
    """Stands in for `run`: keeps the plan `main` made, and leaves what a run leaves in `out`."""

    def __init__(self, leaves: tuple[str, ...] = ()) -> None:
        self.plans: list[Plan] = []
        self.leaves = leaves

    def __call__(self, plan: Plan) -> int:
        self.plans.append(plan)
        for name in self.leaves:
            (plan.out / name).parent.mkdir(parents=True, exist_ok=True)
            (plan.out / name).write_text("written by the run")
        return 0


@pytest.fixture
def planned(env: pytest.MonkeyPatch) -> Planned:
    stand_in = Planned()
    env.setattr(local_run, "run", stand_in)
    return stand_in


@pytest.fixture
def renders(env: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Rendering the three days takes seconds and writes samples/days/; here it is noted, and
    the night's folder (a complete export) stands in for what it would render."""
    calls: list[tuple[str, Path]] = []

    def render(profile: str, out: Path) -> Path:
        calls.append((profile, out))
        return SAMPLE

    env.setattr(local_run, "rendered", render)
    return calls


def test_make_run_replays_the_bundled_night(
    planned: Planned, renders: list[tuple[str, Path]], tmp_path: Path
) -> None:
    """The first command a newcomer runs must show the product within a couple of minutes."""
    assert main(["--out", str(tmp_path / "out")]) == 0
    [plan] = planned.plans
    assert plan.data == NIGHT_DATA == SAMPLE
    assert renders == [], "the three days are not rendered for the night"


def test_days_selects_the_three_day_sample(
    planned: Planned, renders: list[tuple[str, Path]], tmp_path: Path
) -> None:
    assert main(["--days", "--out", str(tmp_path / "out")]) == 0
    assert renders == [("days", DAYS_DATA)]
    assert DAYS_DATA == ROOT / "samples" / "days"


@pytest.mark.parametrize(
    ("data", "days", "setting", "replayed"),
    [
        (None, False, None, "night"),
        (None, True, None, "days"),
        (None, False, "exports", "exports"),
        (None, True, "exports", "days"),  # the option asked on the command line wins
        ("chosen", False, "exports", "chosen"),
    ],
    ids=["default", "days", "app-setting", "days-over-app-setting", "data-over-app-setting"],
)
def test_what_is_replayed_comes_from_data_days_the_app_setting_or_else_the_night(
    data: str | None,
    days: bool,
    setting: str | None,
    replayed: str,
    renders: list[tuple[str, Path]],
    tmp_path: Path,
) -> None:
    expected = {"night": NIGHT_DATA, "days": SAMPLE}.get(replayed, tmp_path / replayed)
    env = {"FAULTLINE_LOGS_EXPORT_DIR": str(tmp_path / setting)} if setting else {}
    chosen = tmp_path / data if data else None
    assert data_folder(chosen, days, env) == expected


def test_days_and_data_together_are_refused(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--days", "--data", str(SAMPLE)])
    assert stopped.value.code == 2
    assert "argument --data: not allowed with argument --days" in capsys.readouterr().err


def test_the_run_ends_with_what_to_open_and_the_report_once_written(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The last lines are printed after the run returns, so a report it wrote is named."""
    out = tmp_path / "out"
    env.chdir(tmp_path)
    env.setattr(local_run, "run", Planned(("contoso/shop/1.md", "contoso/shop/1.json")))
    assert main(["--data", str(SAMPLE), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        " " * 20 + "(N.md: issue N as GitHub would show it; N.json: what GitHub would be sent)",
        "  the first issue:  out/contoso/shop/1.md",
    ]
    env.setattr(local_run, "run", Planned(("contoso/shop/1.md", "index.html")))
    assert main(["--data", str(SAMPLE), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "  the whole run:    out/index.html (open it in a browser)"
    )
