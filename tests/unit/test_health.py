"""`GET /api/health`: a fixed error category per check (the detail only in the log), 503 when
storage is unreachable on any call, and `config.loaded` false when the configuration did not
load."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from adapters.tables import storage_error_category
from bootstrap import install
from detection.rules import RulesError, load_rules
from local_host.host import FunctionTable, http_request
from pipeline.health import health
from pipeline.settings import SettingsError

pytestmark = pytest.mark.unit

RULES = load_rules((Path(__file__).parents[2] / "faultline.yaml").read_text(), {})
SECRET = "AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0;TableEndpoint=https://prodfaultline.table.core"


def _raise(error: Exception):
    def fail(*args: object) -> None:
        raise error

    return fail


def _services(checkpoints: object) -> SimpleNamespace:
    return SimpleNamespace(
        rules=RULES,
        clock=SimpleNamespace(now=lambda: datetime(2026, 11, 20, 2, 0, tzinfo=UTC)),
        checkpoints=checkpoints,
        poisoned_jobs=SimpleNamespace(count=lambda kind="query-jobs": 0),
    )


def test_storage_down_after_start_up_is_a_503_with_a_category_not_the_exception_text(
    functions: FunctionTable, caplog
) -> None:
    broken = SimpleNamespace(all=_raise(ServiceRequestError(f"cannot reach {SECRET}")))
    install(_services(broken))
    try:
        with caplog.at_level(logging.ERROR):
            response = functions.user_function("health_check")(http_request("GET", "health"))
    finally:
        install(None)
    body = response.get_body().decode()
    assert response.status_code == 503
    assert json.loads(body)["storage"] == {"reachable": False, "error": "unreachable"}
    assert SECRET not in body and "prodfaultline" not in body
    assert SECRET in caplog.text, "the detail goes to the log"


@pytest.mark.parametrize(
    ("error", "report"),
    [
        (
            ServiceRequestError(f"Connection refused: {SECRET}"),
            {"config": {"loaded": True}, "storage": {"reachable": False, "error": "unreachable"}},
        ),
        (
            ClientAuthenticationError(f"403 for {SECRET}"),
            {"config": {"loaded": True}, "storage": {"reachable": False, "error": "denied"}},
        ),
        (
            RulesError(f"faultline.yaml is invalid:\n  labels.always[1]: {SECRET}"),
            {"config": {"loaded": False, "error": "invalid"}},
        ),
        (
            SettingsError(f"app settings are invalid:\n  AzureWebJobsStorage: {SECRET}"),
            {"config": {"loaded": False, "error": "invalid"}},
        ),
        (
            FileNotFoundError(f"rules file /home/site/{SECRET} cannot be read"),
            {"config": {"loaded": False, "error": "invalid"}},
        ),
    ],
)
def test_a_failure_while_the_services_are_first_built_is_reported_not_raised(
    error: Exception, report: dict
) -> None:
    healthy, answer = health(_raise(error), storage_error_category)
    assert not healthy, "unhealthy is a 503"
    assert answer == report
    assert SECRET not in json.dumps(answer)


def test_healthy_services_still_report_config_storage_and_lag() -> None:
    checkpoints = SimpleNamespace(all=lambda: [])
    healthy, answer = health(lambda: _services(checkpoints), storage_error_category)
    assert healthy and answer["config"]["loaded"] is True
    assert answer["storage"] == {
        "reachable": True,
        "poisoned_jobs": 0,
        "poisoned_notices": 0,
        "poisoned_github_events": 0,
    }
    assert len(answer["checkpoints"]) == 8
    assert answer["config"]["sources"] == ["production"]
    assert answer["config"]["disabled_sources"] == ["faultline-smoke", "aws"], "named, no lag"
    assert {c["source"] for c in answer["checkpoints"]} == {"production"}
    assert answer["config"]["known_issues"] == {"in_force": [], "expired": []}


def test_known_issues_in_force_and_expired_are_named() -> None:
    entry = {"match": {"definitions": ["unhandled-exception"]}, "action": "suppress"}
    rules = RULES.model_validate(
        {
            **RULES.model_dump(by_alias=True, exclude_unset=True),
            "known_issues": [
                {**entry, "name": "old", "expires": "2026-11-19"},
                {**entry, "name": "today", "expires": "2026-11-20"},
            ],
        }
    )
    services = SimpleNamespace(**{**vars(_services(SimpleNamespace(all=list))), "rules": rules})
    _, answer = health(services, storage_error_category)  # type: ignore[arg-type]
    assert answer["config"]["known_issues"] == {"in_force": ["today"], "expired": ["old"]}
