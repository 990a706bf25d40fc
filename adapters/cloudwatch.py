"""AWS CloudWatch Logs through boto3's Logs Insights (`StartQuery`, `GetQueryResults`).

The query and its window come from `detection.insights` (ingestion-time windows, the pushed-down
filter); this module runs it and maps what the service says onto the `LogSource` port:

- `ThrottlingException` (the per-account request rates of `StartQuery`/`GetQueryResults`) and
  `LimitExceededException` (too many queries in flight: 30 per account and region on the
  standard class) become `Throttled`, so the job goes back on the queue with a delay instead of
  sleeping in the function. AWS sends no Retry-After, so the delays are ours.
- A query the service refuses (`MalformedQueryException`, `InvalidParameterException`), a log
  group it does not know (`ResourceNotFoundException`) or an identity it will not serve
  (`AccessDeniedException`) becomes `QueryRejected`: no retry helps until someone fixes it.
- `Failed` and `Cancelled` raise, for the host's retries; `Timeout` (the service's 60 minutes)
  and our own wait bound (the query is stopped, freeing its concurrency slot) return an
  incomplete outcome, which the caller splits: a smaller window runs faster. A result at the
  row limit is incomplete as well.

botocore's own retries are off (one attempt), for the same reason as the Azure SDK's.

Credentials: in Azure, the Function App's managed identity gets a token for the federation
audience (`api://AzureADTokenExchange`) and STS `AssumeRoleWithWebIdentity` turns it into the
IAM role's temporary keys; botocore's deferred refreshable credentials fetch them on first use
and again before they expire. Where federation is not set up, an access key pair from Key Vault
is the fallback; with neither, botocore's default chain (environment, profile) applies, as in a
local run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleWithWebIdentityCredentialFetcher,
    CredentialProvider,
    Credentials,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import ClientError

from detection.insights import event_time_range
from detection.records import Column
from pipeline.ports import QueryOutcome, QueryPlan, QueryRejected, Throttled

THROTTLED_RETRY = timedelta(seconds=10)
"""How long a throttled request waits: the request-rate quotas are per second."""
CONCURRENCY_RETRY = timedelta(seconds=60)
"""How long a job waits when every query slot of the account is taken: queries run for seconds
to minutes."""
REJECTED = frozenset(
    {
        "MalformedQueryException",
        "InvalidParameterException",
        "ResourceNotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
    }
)
COLUMNS = (
    Column("TimeGenerated", "datetime"),
    Column("IngestionTime", "datetime"),
    Column("Message", "string"),
    Column("LogStream", "string"),
    Column("LogGroup", "string"),
)
_FIELDS = {"@timestamp": 0, "@ingestionTime": 1, "@message": 2, "@logStream": 3}


class QueryFailed(RuntimeError):
    """Logs Insights ended the query as Failed or Cancelled (by someone else): worth a retry."""


def _iso(value: str) -> str:
    """Logs Insights prints times as `2026-11-20 00:01:00.000` in UTC."""
    return value.replace(" ", "T", 1) + "+00:00"


def _row(result: list[Mapping[str, str]], log_group: str) -> list[Any]:
    row: list[Any] = [None, None, None, None, log_group]
    for cell in result:
        index = _FIELDS.get(cell.get("field", ""))
        if index is not None:
            value = cell.get("value")
            row[index] = _iso(value) if index < 2 and value else value
    return row


class CloudWatchLogsSource:
    def __init__(
        self,
        client: Any,
        *,
        max_rows: int,
        wait: timedelta = timedelta(minutes=2),
        poll_every: timedelta = timedelta(seconds=1),
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_rows = max_rows
        self._wait = wait.total_seconds()
        self._poll_every = poll_every.total_seconds()
        self._sleep = sleep
        self._monotonic = monotonic

    def run(self, plan: QueryPlan) -> QueryOutcome:
        if plan.log_group is None:
            raise QueryRejected(f"{plan.table}: a CloudWatch query needs a log group")
        start, end = event_time_range(plan.window)
        query_id = self._call(
            plan,
            "start_query",
            logGroupName=plan.log_group,
            startTime=start,
            endTime=end,
            queryString=plan.kql,
            limit=self._max_rows,
        )["queryId"]
        deadline = self._monotonic() + self._wait
        while True:
            try:
                answer = self._call(plan, "get_query_results", queryId=query_id)
            except Throttled:
                self._abandon(query_id)
                raise
            status = answer["status"]
            if status == "Complete":
                break
            if status in ("Failed", "Cancelled", "Unknown"):
                raise QueryFailed(f"Logs Insights query on {plan.log_group} ended {status}")
            if status == "Timeout":
                return QueryOutcome(COLUMNS, [], "the query timed out in Logs Insights")
            if self._monotonic() >= deadline:
                self._abandon(query_id)
                return QueryOutcome(
                    COLUMNS, [], f"the query did not complete within {self._wait:.0f}s"
                )
            self._sleep(self._poll_every)
        rows = [_row(result, plan.log_group) for result in answer.get("results", [])]
        incomplete = (
            f"{len(rows)} rows reached the {self._max_rows}-row limit"
            if len(rows) >= self._max_rows
            else None
        )
        return QueryOutcome(COLUMNS, rows, incomplete)

    def _abandon(self, query_id: str) -> None:
        """Stop a query whose results this job will not wait for, so it does not hold one of the
        account's concurrent queries until it finishes; if CloudWatch refuses that too, the query
        runs out on its own."""
        try:
            self._client.stop_query(queryId=query_id)
        except ClientError:
            return

    def _call(self, plan: QueryPlan, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client, operation)(**arguments)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            if code == "ThrottlingException":
                raise Throttled(
                    THROTTLED_RETRY, f"CloudWatch Logs {operation}: {message}"
                ) from error
            if code == "LimitExceededException":
                raise Throttled(
                    CONCURRENCY_RETRY, f"CloudWatch Logs {operation}: {message}"
                ) from error
            if code in REJECTED:
                raise QueryRejected(
                    f"CloudWatch Logs refused {operation} on log group {plan.log_group} "
                    f"({code}: {message})"
                ) from error
            raise
        return answer


# -- the client and its credentials --------------------------------------------------------------


class _FixedCredentials(CredentialProvider):
    """Puts Faultline's credentials first in botocore's chain."""

    METHOD = "faultline"
    CANONICAL_NAME = "custom-faultline"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def web_identity_credentials(
    role_arn: str,
    token: Callable[[], str],
    region: str,
    *,
    sts_endpoint: str | None = None,
    verify: str | bool = True,
    session_name: str = "faultline",
) -> Credentials:
    """The role's temporary credentials, from STS `AssumeRoleWithWebIdentity` with `token` (an
    Entra ID token for the federation audience), fetched on first use and refreshed by botocore
    before they expire."""
    sts_session = botocore.session.Session()

    def sts_client(service: str, **kwargs: Any) -> Any:
        return sts_session.create_client(
            service, region_name=region, endpoint_url=sts_endpoint, verify=verify, **kwargs
        )

    fetcher = AssumeRoleWithWebIdentityCredentialFetcher(
        sts_client, token, role_arn, extra_args={"RoleSessionName": session_name}
    )
    return DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role-with-web-identity"
    )


KEY_REREAD = timedelta(hours=1)
"""How long an access key pair from Key Vault is used before it is read again (a rotation)."""


def _key_pair(pair: str) -> tuple[str, str]:
    key_id, _, secret = pair.strip().partition(":")
    if not key_id or not secret:
        raise ValueError("the AWS key secret holds ACCESS_KEY_ID:SECRET_ACCESS_KEY")
    return key_id, secret


def access_key_credentials(read: Callable[[], str]) -> Credentials:
    """An access key pair as Key Vault holds it (`ACCESS_KEY_ID:SECRET_ACCESS_KEY`), read on
    first use and again every `KEY_REREAD`, so a rotated pair is picked up without a restart."""

    def fetch() -> dict[str, str | None]:
        key_id, secret = _key_pair(read())
        expiry = datetime.now(UTC) + KEY_REREAD
        return {
            "access_key": key_id,
            "secret_key": secret,
            "token": None,
            "expiry_time": expiry.isoformat(),
        }

    return DeferredRefreshableCredentials(refresh_using=fetch, method="faultline-key-vault")


def logs_client(
    region: str,
    credentials: Credentials | None,
    *,
    endpoint: str | None = None,
    verify: str | bool = True,
    timeout: float = 30,
) -> Any:
    """A CloudWatch Logs client making one attempt per call (throttling is the caller's)."""
    session = botocore.session.Session()
    if credentials is not None:
        resolver = session.get_component("credential_provider")
        resolver.insert_before("env", _FixedCredentials(credentials))
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=timeout,
        read_timeout=timeout,
    )
    return boto3.Session(botocore_session=session).client(
        "logs", region_name=region, endpoint_url=endpoint, verify=verify, config=config
    )
