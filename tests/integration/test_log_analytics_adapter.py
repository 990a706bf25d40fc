"""`LogAnalyticsSource` through the real LogsQueryClient against the Log Analytics fake: access the
service refuses (403) is a `QueryRejected` with the service's code and what to grant, so the job
is set aside with that reason instead of being retried five times by the host."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from adapters.log_analytics import LogAnalyticsSource, QueryForbidden
from detection.windows import QueryWindow
from pipeline.ports import QueryPlan, QueryRejected
from tests.fakes.log_analytics import FakeCredential, LogAnalyticsFake

pytestmark = pytest.mark.integration

WS = "00000000-0000-0000-0000-000000000001"
T0 = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def la() -> Iterator[LogAnalyticsFake]:
    with LogAnalyticsFake() as fake:
        fake.add_table(
            WS,
            "AppRequests",
            [("TimeGenerated", "datetime"), ("Id", "string")],
            [["2026-11-20T00:01:00.000Z", "a"]],
            [T0 + timedelta(minutes=1, seconds=30)],
        )
        yield fake


def plan(workspace_id: str = WS) -> QueryPlan:
    return QueryPlan(
        workspace_id, "AppRequests", QueryWindow(T0, T0 + timedelta(hours=1)), (), "AppRequests"
    )


def source(la: LogAnalyticsFake, credential: FakeCredential) -> LogAnalyticsSource:
    return LogAnalyticsSource(credential, la.endpoint, connection_verify=la.ca_path)


def forbidden(logs: LogAnalyticsSource, workspace_id: str = WS) -> QueryForbidden:
    with pytest.raises(QueryRejected) as caught:
        logs.run(plan(workspace_id))
    assert isinstance(caught.value, QueryForbidden)
    assert isinstance(caught.value.__cause__, HttpResponseError)
    return caught.value


def test_an_identity_without_log_analytics_reader_is_told_what_to_grant(
    la: LogAnalyticsFake,
) -> None:
    identity = la.add_credential()
    logs = source(la, identity)
    error = forbidden(logs)
    assert (error.code, error.workspace_id) == ("InsufficientAccessError", WS)
    assert str(error) == (
        f"Log Analytics refused access to workspace {WS} (InsufficientAccessError: The provided "
        "credentials have insufficient access to perform the requested operation); grant the "
        f"identity the Log Analytics Reader role on workspace {WS} (or on its resource group)"
    )
    assert [r.status for r in la.requests] == [403]  # asked once: the SDK did not retry
    la.grant_reader(WS, identity)
    assert [row[1] for row in logs.run(plan()).rows] == ["a"]


def test_a_revoked_role_is_rejected_on_the_next_query(la: LogAnalyticsFake) -> None:
    logs = source(la, la.credential)
    assert logs.run(plan()).rows
    la.revoke_reader(WS)
    assert forbidden(logs).code == "InsufficientAccessError"


def test_a_token_not_for_log_analytics_is_rejected_with_its_own_hint(
    la: LogAnalyticsFake,
) -> None:
    error = forbidden(source(la, FakeCredential()))  # a token the service did not issue
    assert error.code == "InvalidTokenError"
    assert "asks for https://api.loganalytics.io/.default" in error.hint


def test_an_unknown_workspace_is_still_rejected_as_not_found(la: LogAnalyticsFake) -> None:
    with pytest.raises(QueryRejected, match="workspace not-a-workspace was not found") as caught:
        source(la, la.credential).run(plan("not-a-workspace"))
    assert not isinstance(caught.value, QueryForbidden)
