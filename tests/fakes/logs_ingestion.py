"""Local HTTPS fake of the Azure Monitor Logs Ingestion API, feeding the Log Analytics fake.

It exists so the smoke test (`scripts/smoke.py`) can be driven through the real
``azure.monitor.ingestion.LogsIngestionClient`` and then find its record with the real
``LogsQueryClient``: what a data collection rule accepts here becomes rows of a table in a
``LogAnalyticsFake`` workspace, ``lag`` seconds later on the fake's clock, as ingestion takes
seconds to minutes in Azure.

It is meant to be at least as strict as the service. Where the documentation says what the
service does, the fake does that; where it does not, the fake picks the stricter reading and says
so next to the rule (those are unverified against a live subscription):

- ``POST {endpoint}/dataCollectionRules/{immutable id}/streams/{stream}?api-version=2023-01-01``,
  204 with no body on success (the REST specification, ``specification/monitor/data-plane/
  ingestion/stable/2023-01-01/DataCollectionRules.json``; "you should see an HTTP - 204
  response", learn.microsoft.com ``azure-monitor/logs/tutorial-logs-ingestion-code``).
- Errors in the Azure Core shape ``{"error": {"code", "message"}}`` with ``x-ms-error-code``
  (the same specification's default response).
- A bearer token is required; one the fake did not issue is 401. A token of an identity without
  Monitoring Metrics Publisher on the rule is 403 ``OperationFailed`` with the service's message
  ("The authentication token provided does not have access to ingest data for the data
  collection rule with immutable Id ...": the SDK's TROUBLESHOOTING.md).
- At most 1 MB per call, "both compressed and uncompressed data" (Azure Monitor service limits,
  "Logs Ingestion API"), else 413 (the tutorial's troubleshooting table). 1 MB is read as
  1,048,576 bytes, the size the Python SDK splits its uploads at; the 413 error code is the fake's.
- ``Content-Encoding: gzip`` is accepted (the SDK always compresses); a body that says gzip and
  is not is 400, and so is any other encoding.
- An unknown rule is 404 and a stream the rule does not declare is 400 ``InvalidStream``
  (codes not documented for this API: ``InvalidStream`` is what ARM answers for a bad stream).
- The body is a JSON array of objects, else 400 ``InvalidPayload``.
- Field values longer than 64 KB are truncated (service limits). Fields the stream does not
  declare are dropped, and a value that does not fit its column becomes null; a record without a
  TimeGenerated that parses is dropped after the 204, so it never becomes queryable (the
  documentation describes none of these three cases: the fake takes the reading under which a
  bad record is never silently mistaken for a good one).
- ``fail_next(Throttle(...))`` answers 429 with ``Retry-After`` (12,000 requests or 2 GB per
  minute per rule), ``fail_next(ServerError(...))`` a 5xx.
"""

import json
import re
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.https import HttpsServer

# The Log Analytics fake's own time format, so both fakes agree on it.
from tests.fakes.log_analytics import (
    LogAnalyticsFake,
    ServerError,
    Throttle,
    _format_ticks,
    _parse_ticks,
)

__all__ = [
    "API_VERSION",
    "MAX_CALL_BYTES",
    "IngestionCredential",
    "LogsIngestionFake",
    "RecordedUpload",
    "ServerError",
    "Throttle",
]

API_VERSION = "2023-01-01"
MAX_CALL_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024
_FAR_FUTURE = 4_102_444_800  # 2100-01-01T00:00:00Z
_STREAM_TYPES = {  # a stream declaration's column types -> the table's wire types
    "string": "string",
    "int": "int",
    "long": "long",
    "real": "real",
    "boolean": "bool",
    "datetime": "datetime",
    "dynamic": "dynamic",
}
_BEARER = re.compile(r"Bearer\s+(\S+)", re.IGNORECASE)
_ROUTES = Map(
    [Rule("/dataCollectionRules/<rule_id>/streams/<stream>", endpoint="upload", methods=["POST"])]
)


class IngestionCredential:
    """Token credential for the fake: one identity, which remembers the scopes it was asked for
    (the SDK asks for ``https://monitor.azure.com/.default``)."""

    def __init__(self) -> None:
        self.token = f"ingest-{uuid.uuid4().hex}"
        self.scopes: list[str] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(self.token, _FAR_FUTURE)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        self.scopes.extend(scopes)
        return AccessTokenInfo(self.token, _FAR_FUTURE)


@dataclass(frozen=True)
class RecordedUpload:
    """One call as the fake received it, with the status it answered."""

    rule_id: str
    stream: str
    api_version: str | None
    content_encoding: str | None
    body_bytes: int
    records: int
    status: int


@dataclass
class _Rule:
    immutable_id: str
    stream: str
    columns: list[tuple[str, str]]  # stream declaration: (name, stream type)
    workspace_id: str
    table: str
    publishers: set[str] = field(default_factory=set)  # tokens with Monitoring Metrics Publisher


@dataclass
class _Pending:
    rule: _Rule
    rows: list[list[Any]]
    due: datetime | None  # None: accepted, never queryable


class _Refused(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def response(self) -> Response:
        return Response(
            json.dumps({"error": {"code": self.code, "message": self.message}}),
            status=self.status,
            headers={"x-ms-error-code": self.code, **self.headers},
            content_type="application/json; charset=utf-8",
        )


class LogsIngestionFake:
    """HTTPS Logs Ingestion endpoint on 127.0.0.1 for the real ``LogsIngestionClient``.

    Use as a context manager; ``endpoint``, ``ca_path`` and ``credential`` are what the client
    needs (``credential`` holds Monitoring Metrics Publisher on every rule ``add_rule`` makes).
    Accepted records reach ``log_analytics`` ``lag`` seconds after the call on ``clock`` (None:
    never), checked before every query the Log Analytics fake answers and every upload here.
    ``max_call_bytes`` is the service's 1 MB; a test may lower it to reach the 413 with a small
    body.
    """

    endpoint: str
    ca_path: str

    def __init__(
        self,
        log_analytics: LogAnalyticsFake,
        *,
        lag: float | None = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_call_bytes: int = MAX_CALL_BYTES,
    ) -> None:
        self.log_analytics = log_analytics
        self.lag = lag
        self.clock = clock
        self.max_call_bytes = max_call_bytes
        self.credential = IngestionCredential()
        self.requests: list[RecordedUpload] = []
        self._issued: set[str] = {self.credential.token}
        self._rules: dict[str, _Rule] = {}
        self._pending: list[_Pending] = []
        self._faults: deque[Throttle | ServerError] = deque()
        self._lock = threading.Lock()
        self._https = HttpsServer(self._wsgi, "logs-ingestion-fake")
        log_analytics.before_each_query(self.deliver_due)

    def __enter__(self) -> Self:
        self._https.start()
        self.ca_path = self._https.ca_path
        self.endpoint = self._https.origin
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._https.stop()

    # -- set-up and inspection ------------------------------------------------------------

    def add_rule(
        self,
        immutable_id: str,
        stream: str,
        columns: Sequence[tuple[str, str]],
        *,
        workspace_id: str,
        table: str,
    ) -> None:
        """A data collection rule (kind Direct, transform ``source``) sending ``stream`` to
        ``table``, which is created empty in the Log Analytics fake, as the Bicep creates it."""
        unknown = sorted({kind for _, kind in columns} - set(_STREAM_TYPES))
        if unknown:
            raise ValueError(f"not stream column types: {unknown}")
        if not stream.startswith("Custom-"):
            raise ValueError(f"a custom stream's name starts with Custom-, not {stream!r}")
        rule = _Rule(immutable_id, stream, list(columns), workspace_id, table)
        rule.publishers.add(self.credential.token)
        with self._lock:
            self._rules[immutable_id] = rule
        wire = [(name, _STREAM_TYPES[kind]) for name, kind in columns]
        self.log_analytics.add_table(workspace_id, table, wire, [], [])

    def add_credential(self, *, publisher_on: Iterable[str] = ()) -> IngestionCredential:
        """Another identity, with Monitoring Metrics Publisher only on the rules named."""
        credential = IngestionCredential()
        with self._lock:
            self._issued.add(credential.token)
            for rule_id in publisher_on:
                self._rules[rule_id].publishers.add(credential.token)
        return credential

    def grant_publisher(self, rule_id: str, credential: Any) -> None:
        """Assign Monitoring Metrics Publisher on the rule to an identity another fake issued
        (anything with a ``token``): one operator who both sends and queries."""
        with self._lock:
            self._issued.add(credential.token)
            self._rules[rule_id].publishers.add(credential.token)

    def fail_next(self, fault: Throttle | ServerError) -> None:
        """Queue a fault; each upload consumes the oldest queued one."""
        with self._lock:
            self._faults.append(fault)

    def deliver_due(self) -> int:
        """Make every accepted record whose lag has passed queryable; returns how many."""
        now = self.clock()
        with self._lock:
            due = [(p, p.due) for p in self._pending if p.due is not None and p.due <= now]
            self._pending = [p for p in self._pending if p.due is None or p.due > now]
        for batch, at in due:
            wire = [(name, _STREAM_TYPES[kind]) for name, kind in batch.rule.columns]
            # the row's ingestion_time() is when it became queryable
            self.log_analytics.add_table(
                batch.rule.workspace_id, batch.rule.table, wire, batch.rows, [at] * len(batch.rows)
            )
        return sum(len(batch.rows) for batch, _ in due)

    @property
    def pending(self) -> int:
        """Records accepted and not yet queryable."""
        with self._lock:
            return sum(len(p.rows) for p in self._pending)

    # -- HTTP -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        records = 0
        rule_id = stream = ""
        try:
            _, args = _ROUTES.bind_to_environ(environ).match()
            rule_id, stream = args["rule_id"], args["stream"]
            records = self._accept(request, rule_id, stream)
            response = Response(status=204)
        except HTTPException:
            response = _Refused(404, "NotFound", "The requested path does not exist").response()
        except _Refused as refused:
            response = refused.response()
        with self._lock:
            self.requests.append(
                RecordedUpload(
                    rule_id,
                    stream,
                    request.args.get("api-version"),
                    request.headers.get("Content-Encoding"),
                    len(request.get_data()),
                    records,
                    response.status_code,
                )
            )
        self.deliver_due()
        return response(environ, start_response)

    def _accept(self, request: Request, rule_id: str, stream: str) -> int:
        """Check the call as the service would, in the order a gateway would: authentication,
        the API version, a queued fault, the rule and the caller's role on it, size, encoding,
        the stream, the body. Returns how many records were accepted."""
        match = _BEARER.fullmatch(request.headers.get("Authorization", "").strip())
        with self._lock:
            token = match.group(1) if match else None
            if token is None or token not in self._issued:
                raise _Refused(
                    401,
                    "InvalidAuthenticationToken",
                    "The authentication token is missing or not valid for this API",
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            fault = self._faults.popleft() if self._faults else None
            rule = self._rules.get(rule_id)
        version = request.args.get("api-version")
        if version != API_VERSION:
            raise _Refused(
                400,
                "InvalidApiVersion",
                f"api-version {version!r} is not supported; use {API_VERSION}",
            )
        if isinstance(fault, Throttle):
            raise _Refused(
                429,
                "TooManyRequests",
                "The data collection rule is receiving more than its limit; retry after "
                f"{fault.retry_after} seconds",
                {"Retry-After": str(fault.retry_after)},
            )
        if isinstance(fault, ServerError):
            raise _Refused(fault.status, "InternalServerError", "Something went wrong.")
        if rule is None:
            raise _Refused(
                404,
                "NotFound",
                f"Data collection rule with immutable Id '{rule_id}' not found",
            )
        if token not in rule.publishers:
            raise _Refused(
                403,
                "OperationFailed",
                "The authentication token provided does not have access to ingest data for the "
                f"data collection rule with immutable Id '{rule_id}'.",
            )
        raw = request.get_data()
        limit = self.max_call_bytes
        if len(raw) > limit:
            raise _too_large(len(raw), limit, "compressed" if raw[:2] == b"\x1f\x8b" else "")
        body = _decode(raw, request.headers.get("Content-Encoding"), limit)
        if len(body) > limit:
            raise _too_large(len(body), limit, "uncompressed")
        if stream != rule.stream:
            raise _Refused(
                400,
                "InvalidStream",
                f"Stream '{stream}' is not declared by data collection rule '{rule_id}'",
            )
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _Refused(415, "UnsupportedMediaType", "Content-Type must be application/json")
        try:
            records = json.loads(body)
        except ValueError as error:
            raise _Refused(400, "InvalidPayload", f"The body is not JSON: {error}") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _Refused(400, "InvalidPayload", "The body must be a JSON array of objects")
        rows = [row for row in (_row(rule.columns, record) for record in records) if row]
        due = None if self.lag is None else self.clock() + timedelta(seconds=self.lag)
        with self._lock:
            self._pending.append(_Pending(rule, rows, due))
        return len(records)


def _too_large(size: int, limit: int, kind: str) -> _Refused:
    what = f"{size} bytes{f' {kind}' if kind else ''}"
    return _Refused(
        413,
        "RequestEntityTooLarge",
        f"The request is {what}; a call may carry at most {limit} bytes, compressed "
        "or uncompressed",
    )


def _decode(raw: bytes, encoding: str | None, limit: int) -> bytes:
    if not encoding:
        return raw
    if encoding.strip().lower() != "gzip":
        raise _Refused(400, "InvalidContentEncoding", f"Content-Encoding {encoding!r}: use gzip")
    try:
        # never inflate more than the limit allows, whatever the body claims
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = inflater.decompress(raw, limit + 1)
        if not inflater.eof and len(body) <= limit:
            raise EOFError("truncated gzip stream")
    except (zlib.error, EOFError) as error:
        raise _Refused(
            400, "InvalidContentEncoding", f"The body is not valid gzip: {error}"
        ) from None
    return body


def _row(columns: Sequence[tuple[str, str]], record: dict[str, Any]) -> list[Any] | None:
    """One record as a row of the table (wire form), or None when it has no usable
    TimeGenerated."""
    row = [_cell(kind, record.get(name)) for name, kind in columns]
    names = [name for name, _ in columns]
    if "TimeGenerated" not in names or row[names.index("TimeGenerated")] is None:
        return None
    return row


def _cell(kind: str, value: Any) -> Any:
    """A value in its column's wire form; what does not fit the column is null."""
    if value is None:
        return None
    match kind:
        case "string":
            text = value if isinstance(value, str) else json.dumps(value)
            return text[:MAX_FIELD_CHARS]
        case "datetime":
            if not isinstance(value, str):
                return None
            try:
                return _format_ticks(_parse_ticks(value))
            except ValueError:
                return None
        case "int" | "long":
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        case "real":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return value if ok else None
        case "boolean":
            return value if isinstance(value, bool) else None
        case "dynamic":
            return json.dumps(value)[:MAX_FIELD_CHARS]
    raise ValueError(f"unknown column type {kind!r}")
