"""The end-to-end fault matrix, small: bench/e2e.py's workload and drivers with a few failures,
asserting its invariants (one issue per distinct failure, none duplicated or lost, every count
exact, the burst in one issue, at most one comment per interval). `python -m bench.e2e` runs the
same matrix at size and prints figures."""

from __future__ import annotations

import pytest

from bench.e2e import GITHUB_FAULTS, Faults, Size, generate, judge, run_scenario
from tests.fakes.github import TimeoutAfterSuccess

pytestmark = pytest.mark.e2e

SMALL = Size(failures=8, occurrences=200, healthy=600, burst=300)
SEED = 7


def test_a_clean_run_makes_one_issue_per_failure_with_exact_counts(
    azurite, functions, tmp_path
) -> None:
    outcome = run_scenario(azurite, functions, generate(SMALL, SEED), tmp_path)
    verdict = judge(outcome)
    assert verdict.problems == []
    assert verdict.issues == SMALL.failures
    assert (verdict.burst_issues, verdict.burst_count) == (1, SMALL.burst)
    assert verdict.burst_comments >= 1


def test_under_faults_nothing_is_duplicated_lost_or_miscounted(
    azurite, functions, tmp_path
) -> None:
    outcome = run_scenario(
        azurite,
        functions,
        generate(SMALL, SEED),
        tmp_path,
        Faults(github=8, github_faults=GITHUB_FAULTS),
    )
    verdict = judge(outcome)
    assert verdict.problems == []
    assert (verdict.issues, verdict.duplicates, verdict.lost) == (SMALL.failures, 0, 0)
    assert verdict.burst_count == SMALL.burst
    assert outcome.injected["worker killed"] == 2
    assert outcome.injected["overlapping replay"] >= 1


def test_a_comment_whose_response_was_lost_is_not_posted_twice(
    azurite, functions, tmp_path
) -> None:
    lost = ("POST", "/repos/contoso/shop/issues/*/comments", TimeoutAfterSuccess(2))
    only_that = Faults(
        log_analytics=0.0,
        github=3,
        github_faults=(lost,),
        worker_kills=0,
        redelivery=0.0,
        replay=0.0,
    )
    outcome = run_scenario(azurite, functions, generate(SMALL, SEED), tmp_path, only_that)
    assert judge(outcome).problems == []
