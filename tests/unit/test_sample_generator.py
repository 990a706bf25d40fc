"""The sample generator: the committed night stays byte for byte; the days keep their promises."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detection.rules import load_rules
from samples.catalog import DAYS_SERVICES, days_scenarios
from samples.generate import COLUMNS, RULES, generate, is_malformed, rendered

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "samples" / "telemetry"
DAYS_START = datetime(2026, 11, 17, tzinfo=UTC)
DAYS_END = DAYS_START + timedelta(days=3)


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("days")
    generate("days", out)
    return out


def test_a_rendered_sample_is_reused_until_the_generator_changes(tmp_path: Path) -> None:
    out = tmp_path / "night"
    assert rendered("hours", out) == out
    first = (out / "AppRequests.json").stat().st_mtime_ns
    rendered("hours", out)
    assert (out / "AppRequests.json").stat().st_mtime_ns == first
    stamp = out / ".rendered-by"
    stamp.write_text(stamp.read_text().replace("hours ", "hours stale"))
    rendered("hours", out)
    assert (out / "AppRequests.json").stat().st_mtime_ns != first
    assert (out / "AppRequests.json").read_bytes() == (COMMITTED / "AppRequests.json").read_bytes()


def _table(folder: Path, table: str) -> tuple[list[str], list[list[Any]]]:
    result = json.loads((folder / f"{table}.json").read_text(encoding="utf-8"))["tables"][0]
    return [c["name"] for c in result["columns"]], result["rows"]


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value[:26] + "+00:00")


def test_the_default_profile_reproduces_the_committed_files(tmp_path: Path) -> None:
    generate("hours", tmp_path)
    committed = sorted(p.name for p in COMMITTED.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_days_has_the_committed_layout_and_a_reasonable_size(days: Path) -> None:
    assert sorted(p.name for p in days.iterdir()) == sorted(p.name for p in COMMITTED.iterdir())
    for table in COLUMNS:
        head = (days / f"{table}.json").read_text(encoding="utf-8").split("\n", 1)[0]
        assert head == (COMMITTED / f"{table}.json").read_text(encoding="utf-8").split("\n", 1)[0]
    rows = {table: len(_table(days, table)[1]) for table in COLUMNS}
    assert all(count > 1000 for count in rows.values()), rows
    assert 40_000 <= sum(rows.values()) <= 80_000
    assert sum(p.stat().st_size for p in days.iterdir()) < 40_000_000


def test_days_labels_follow_the_rules_file(days: Path) -> None:
    """labels.json agrees with the independent reading of faultline.yaml's `when` conditions."""
    rules = load_rules((ROOT / "faultline.yaml").read_text(encoding="utf-8"), {})
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    for table, (definition, rule) in RULES.items():
        assert [d.name for d in rules.definitions_for(table)] == [definition]
        names, rows = _table(days, table)
        malformed, failing = [], []
        for index, values in enumerate(rows):
            row = dict(zip(names, values, strict=True))
            if is_malformed(table, row):
                malformed.append(index)
            elif rule(row):
                failing.append(index)
        assert labels[table]["malformed"] == malformed, table
        assert labels[table]["failing"] == {definition: failing}, table
        grouped = sorted(
            i for ids in labels[table]["root_causes"][definition].values() for i in ids
        )
        assert grouped == failing, table
    malformed_tables = {t for t, label in labels.items() if label["malformed"]}
    assert malformed_tables == {"OrdersService_CL", "ContainerLogV2"}


def test_days_has_hundreds_of_root_causes_in_every_runtime(days: Path) -> None:
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    causes = {
        cause
        for label in labels.values()
        for by_cause in label["root_causes"].values()
        for cause in by_cause
    }
    assert 300 <= len(causes) <= 500
    service = {s.id: s.service for s in days_scenarios() if s.kind == "failure"}
    assert set(service) == causes
    runtimes = Counter(DAYS_SERVICES[service[c]].runtime for c in causes)
    assert set(runtimes) == {"dotnet", "java", "python", "node", "go"}
    assert min(runtimes.values()) >= 30, runtimes


def test_days_times_lateness_and_recurrence(days: Path) -> None:
    labels = json.loads((days / "labels.json").read_text(encoding="utf-8"))
    lags: list[timedelta] = []
    days_seen: dict[str, set[int]] = defaultdict(set)
    occurrences: Counter[str] = Counter()
    by_hour: Counter[int] = Counter()
    for table in COLUMNS:
        names, rows = _table(days, table)
        generated, ingested = names.index("TimeGenerated"), names.index("IngestionTime")
        assert [r[ingested] for r in rows] == sorted(r[ingested] for r in rows)
        malformed = set(labels[table]["malformed"])
        valid = [r for i, r in enumerate(rows) if i not in malformed]
        for row in valid:
            moment = _moment(row[generated])
            assert DAYS_START <= moment < DAYS_END
            lags.append(_moment(row[ingested]) - moment)
        for by_cause in labels[table]["root_causes"].values():
            for cause, indexes in by_cause.items():
                for index in indexes:
                    moment = _moment(rows[index][generated])
                    days_seen[cause].add((moment - DAYS_START).days)
                    by_hour[moment.hour] += 1
                occurrences[cause] = max(occurrences[cause], len(indexes))
    late = [lag for lag in lags if lag >= timedelta(minutes=10)]
    assert 0.06 <= len(late) / len(lags) <= 0.10
    assert min(lags) >= timedelta(seconds=20)
    assert max(lags) < timedelta(minutes=50)
    assert max(late) >= timedelta(minutes=40)
    chronic = [c for c, seen in days_seen.items() if seen == {0, 1, 2}]
    regressions = [c for c, seen in days_seen.items() if seen == {0, 2}]
    one_offs = [c for c, count in occurrences.items() if count <= 2]
    assert len(chronic) >= 60 and len(regressions) >= 20 and len(one_offs) >= 30
    business = sum(by_hour[h] for h in range(8, 16)) / 8
    night = sum(by_hour[h] for h in range(0, 5)) / 5
    assert business > 3 * night
