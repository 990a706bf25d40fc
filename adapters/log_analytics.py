"""Azure Log Analytics through the real `LogsQueryClient`, with the service's limits mapped.

Throttling (429, or 503 with Retry-After) becomes `Throttled`, a query the service refuses (400)
or a workspace it does not know (404) becomes `QueryRejected`, and so does an identity the
service will not let read the workspace (403: `QueryForbidden`, with the role to grant), since
no retry fixes that before someone grants it. Partial results and the row cap become an
incomplete outcome the caller splits. The SDK's own retries are off: a throttled job
goes back on the queue with a delay instead of sleeping inside the function.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsTable

from detection.records import Column
from pipeline.ports import QueryOutcome, QueryPlan, QueryRejected, Throttled

DEFAULT_RETRY_AFTER = timedelta(seconds=30)


def retry_after(headers: Any, now: datetime) -> timedelta:
    """Seconds or an HTTP date, as RFC 9110 allows; a sane default when absent or garbled."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not value:
        return DEFAULT_RETRY_AFTER
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return max(moment.astimezone(UTC) - now, timedelta(seconds=1))


class QueryForbidden(QueryRejected):
    """The service refused the identity (403): `code` is the service's error code
    (`InsufficientAccessError`: no Log Analytics Reader; `InvalidTokenError`: a token not for
    this API or tenant) and `hint` what to change."""

    def __init__(self, workspace_id: str, code: str, message: str, hint: str) -> None:
        super().__init__(
            f"Log Analytics refused access to workspace {workspace_id} ({code}: {message}); {hint}"
        )
        self.workspace_id = workspace_id
        self.code = code
        self.hint = hint


def _forbidden(workspace_id: str, error: HttpResponseError) -> QueryForbidden:
    code = (error.error.code if error.error else None) or "Forbidden"
    message = (error.error.message if error.error else None) or str(error.reason or "")
    if code == "InvalidTokenError":
        hint = (
            "the identity's token is not valid for Log Analytics: check that the credential is "
            "of the workspace's tenant and asks for https://api.loganalytics.io/.default"
        )
    else:
        hint = (
            f"grant the identity the Log Analytics Reader role on workspace {workspace_id} "
            "(or on its resource group)"
        )
    return QueryForbidden(workspace_id, code, message, hint)


def _columns(table: LogsTable) -> tuple[Column, ...]:
    return tuple(Column(n, t) for n, t in zip(table.columns, table.columns_types, strict=True))


class LogAnalyticsSource:
    def __init__(
        self,
        credential: TokenCredential,
        endpoint: str,
        *,
        server_timeout: int = 180,
        max_rows: int = 500_000,
        connection_verify: str | bool = True,
    ) -> None:
        self._client = LogsQueryClient(
            credential, endpoint=endpoint, retry_total=0, connection_verify=connection_verify
        )
        self._server_timeout = server_timeout
        self._max_rows = max_rows

    def run(self, plan: QueryPlan) -> QueryOutcome:
        try:
            result = self._client.query_workspace(
                plan.workspace_id,
                plan.kql,
                timespan=(plan.window.time_generated_from, plan.window.time_generated_to),
                server_timeout=self._server_timeout,
            )
        except HttpResponseError as error:
            status = error.status_code
            headers = getattr(error.response, "headers", None) or {}
            if status == 429 or (status == 503 and "Retry-After" in headers):
                raise Throttled(
                    retry_after(headers, datetime.now(UTC)), str(error.message)
                ) from error
            if status == 400:
                raise QueryRejected(f"Log Analytics refused the query: {error.message}") from error
            if status == 403:
                raise _forbidden(plan.workspace_id, error) from error
            if status == 404:
                raise QueryRejected(
                    f"workspace {plan.workspace_id} was not found: {error.message}"
                ) from error
            raise
        if isinstance(result, LogsQueryPartialResult):
            table = result.partial_data[0] if result.partial_data else None
            reason = f"partial result: {result.partial_error.code if result.partial_error else '?'}"
            if result.partial_error is not None and result.partial_error.message:
                reason += f" ({result.partial_error.message})"
            if table is None:
                return QueryOutcome((), [], reason)
            return QueryOutcome(_columns(table), [list(row) for row in table.rows], reason)
        table = result.tables[0]
        rows = [list(row) for row in table.rows]
        incomplete = (
            f"{len(rows)} rows reached the {self._max_rows}-row cap"
            if len(rows) >= self._max_rows
            else None
        )
        return QueryOutcome(_columns(table), rows, incomplete)
