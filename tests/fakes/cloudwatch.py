"""Local HTTPS wire fake of CloudWatch Logs (JSON 1.1, `X-Amz-Target: Logs_20140328.<Op>`).

moto 5.2 implements `PutLogEvents` and `FilterLogEvents`, but its Logs Insights ignores `filter`
and has no `@ingestionTime`, which is exactly what Faultline's windows stand on, so this fake
speaks the operations the adapter and its tests use, as strictly as the service:

- every request must be SigV4-signed for the `logs` service (`Authorization:
  AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/logs/aws4_request, ...` and `X-Amz-Date`);
  the access key ids seen are kept (`access_keys`) so a test can tell which credentials signed;
- `PutLogEvents` stamps each event's `@ingestionTime` with the fake's clock (`now`), rejects
  events older than 14 days or more than 2 hours ahead (`rejectedLogEventsInfo`) and a batch out
  of chronological order (`InvalidParameterException`);
- `StartQuery` selects on event time (`startTime`/`endTime`, epoch seconds, inclusive), evaluates
  the query language subset Faultline emits (`fields`, `filter` with `and`/`or`/`not`,
  comparisons, `like /regex/`, `ispresent`, `sort`, `limit` up to 10,000, and the request's
  own `limit`; anything else is a `MalformedQueryException`), refuses more than
  `max_concurrent` queries in flight
  (`LimitExceededException`) and an unknown log group (`ResourceNotFoundException`);
- a query is `Scheduled`, then `Running`, then `Complete` on successive `GetQueryResults`
  (`polls_to_complete`), or stays `Running` until `StopQuery` cancels it (`hold_queries`);
- `throttle(operation, times)` answers the next calls with `ThrottlingException`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from werkzeug.wrappers import Request, Response

from tests.fakes.https import HttpsServer

ACCOUNT = "123456789012"
TARGET_PREFIX = "Logs_20140328."
ROW_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/\d{8}/[a-z0-9-]+/logs/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$"
)


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _display(ms: int) -> str:
    """How Logs Insights prints a time field: `2026-11-20 00:01:00.000`, UTC."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{ms % 1000:03d}"


@dataclass(frozen=True)
class Event:
    group: str
    stream: str
    timestamp: int
    ingestion_time: int
    message: str
    event_id: str

    def fields(self) -> dict[str, Any]:
        return {
            "@timestamp": self.timestamp,
            "@ingestionTime": self.ingestion_time,
            "@message": self.message,
            "@logStream": self.stream,
            "@log": f"{ACCOUNT}:{self.group}",
        }


# -- the query language subset -------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<regex>/(?:\\.|[^/\\\n])*/)|(?P<number>-?\d+)|(?P<name>@?[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<op>>=|<=|!=|[|(),<>=]))"
)
Predicate = Callable[[dict[str, Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ServiceError("MalformedQueryException", f"unexpected text at {position}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


@dataclass
class Query:
    fields: list[str] = field(default_factory=list)
    filters: list[Predicate] = field(default_factory=list)
    sort: tuple[str, bool] | None = None
    limit: int | None = None


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise ServiceError(
                "MalformedQueryException", f"expected {value or kind}, found {token}"
            )
        self.at += 1
        return token[1]

    def query(self) -> Query:
        query = Query()
        while True:
            command = self.take("name")
            if command == "fields":
                query.fields.append(self.take("name"))
                while self.peek() == ("op", ","):
                    self.at += 1
                    query.fields.append(self.take("name"))
            elif command == "filter":
                query.filters.append(self.disjunction())
            elif command == "sort":
                name = self.take("name")
                direction = self.take("name")
                if direction not in ("asc", "desc"):
                    raise ServiceError("MalformedQueryException", f"sort {direction}")
                query.sort = (name, direction == "desc")
            elif command == "limit":
                query.limit = int(self.take("number"))
                if not 1 <= query.limit <= ROW_LIMIT:
                    raise ServiceError(
                        "InvalidParameterException", f"limit must be 1 to {ROW_LIMIT}"
                    )
            else:
                raise ServiceError("MalformedQueryException", f"unsupported command {command}")
            if self.peek() is None:
                return query
            self.take("op", "|")

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("name", "or"):
            self.at += 1
            parts.append(self.conjunction())
        return lambda row: any(p(row) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == ("name", "and"):
            self.at += 1
            parts.append(self.factor())
        return lambda row: all(p(row) for p in parts)

    def factor(self) -> Predicate:
        token = self.peek()
        if token == ("name", "not"):
            self.at += 1
            inner = self.factor()
            return lambda row: not inner(row)
        if token == ("op", "("):
            self.at += 1
            inner = self.disjunction()
            self.take("op", ")")
            return inner
        name = self.take("name")
        if name == "ispresent":
            self.take("op", "(")
            target = self.take("name")
            self.take("op", ")")
            return lambda row: row.get(target) is not None
        token = self.peek()
        if token == ("name", "like"):
            self.at += 1
            literal = self.take("regex")[1:-1]
            try:
                pattern = re.compile(literal.replace("\\/", "/"))
            except re.error as error:
                raise ServiceError("MalformedQueryException", f"bad regex: {error}") from None
            return lambda row: isinstance(row.get(name), str) and bool(pattern.search(row[name]))
        operator = self.take("op")
        if operator not in (">=", "<=", "<", ">", "=", "!="):
            raise ServiceError("MalformedQueryException", f"unexpected {operator}")
        bound = int(self.take("number"))
        compare: dict[str, Callable[[int, int], bool]] = {
            ">=": lambda a, b: a >= b,
            "<=": lambda a, b: a <= b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
        }
        test = compare[operator]
        return lambda row: isinstance(row.get(name), int) and test(row[name], bound)


def parse_query(text: str) -> Query:
    return _Parser(text).query()


# -- the service ---------------------------------------------------------------------------------


@dataclass
class RunningQuery:
    query_id: str
    groups: list[str]
    start: int
    end: int
    text: str
    polls: int = 0
    limit: int = ROW_LIMIT
    status: str = "Scheduled"
    results: list[list[dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    operation: str
    status: int
    body: dict[str, Any]


class CloudWatchLogsFake:
    def __init__(self, now: datetime, *, max_concurrent: int = 30) -> None:
        self.now = now
        self.max_concurrent = max_concurrent
        self.polls_to_complete = 2
        self.hold_queries = False
        self.groups: dict[str, dict[str, list[Event]]] = {}
        self.queries: dict[str, RunningQuery] = {}
        self.calls: list[Call] = []
        self.access_keys: Counter[str] = Counter()
        self._throttles: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = HttpsServer(self._wsgi, "cloudwatch-logs-fake")

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()

    @property
    def endpoint(self) -> str:
        return self._server.origin

    @property
    def ca_path(self) -> str:
        return self._server.ca_path

    def throttle(self, operation: str, times: int = 1) -> None:
        self._throttles[operation] += times

    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]

    # -- the wire --

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        operation = request.headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        try:
            body = self._check(request)
            with self._lock:
                if self._throttles[operation] > 0:
                    self._throttles[operation] -= 1
                    raise ServiceError("ThrottlingException", "Rate exceeded")
                handler = getattr(self, f"_op_{operation}", None)
                if handler is None:
                    raise ServiceError("UnknownOperationException", operation or "no target")
                answer = handler(body)
            status, payload = 200, answer
        except ServiceError as error:
            status = error.status
            payload = {"__type": error.code, "message": error.message}
            body = {}
        self.calls.append(Call(operation, status, body))
        response = Response(
            json.dumps(payload),
            status=status,
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-RequestId": str(uuid.uuid4())},
        )
        return response(environ, start_response)

    def _check(self, request: Request) -> dict[str, Any]:
        if request.method != "POST" or request.path != "/":
            raise ServiceError("UnknownOperationException", f"{request.method} {request.path}")
        if request.headers.get("Content-Type") != "application/x-amz-json-1.1":
            raise ServiceError("SerializationException", "expected application/x-amz-json-1.1")
        auth = _AUTH.match(request.headers.get("Authorization", ""))
        if auth is None or not request.headers.get("X-Amz-Date"):
            raise ServiceError(
                "MissingAuthenticationTokenException", "Missing Authentication Token", 403
            )
        self.access_keys[auth.group("key")] += 1
        try:
            body = json.loads(request.get_data() or b"{}")
        except json.JSONDecodeError:
            raise ServiceError("SerializationException", "body is not JSON") from None
        if not isinstance(body, dict):
            raise ServiceError("SerializationException", "body is not an object")
        return body

    # -- log groups and events --

    def _group(self, name: Any) -> dict[str, list[Event]]:
        if name not in self.groups:
            raise ServiceError(
                "ResourceNotFoundException", f"The specified log group does not exist: {name}"
            )
        return self.groups[name]

    def _op_CreateLogGroup(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["logGroupName"]
        if name in self.groups:
            raise ServiceError("ResourceAlreadyExistsException", f"{name} already exists")
        self.groups[name] = {}
        return {}

    def _op_CreateLogStream(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body["logGroupName"])
        group.setdefault(body["logStreamName"], [])
        return {}

    def _op_PutLogEvents(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body["logGroupName"])
        stream = body["logStreamName"]
        if stream not in group:
            raise ServiceError("ResourceNotFoundException", f"no log stream {stream}")
        events = body["logEvents"]
        stamps = [e["timestamp"] for e in events]
        if stamps != sorted(stamps):
            raise ServiceError(
                "InvalidParameterException",
                "Log events in a single PutLogEvents request must be in chronological order.",
            )
        now = millis(self.now)
        oldest, newest = now - 14 * 86_400_000, now + 2 * 3_600_000
        too_old = sum(1 for s in stamps if s < oldest)
        too_new = next((i for i, s in enumerate(stamps) if s > newest), len(stamps))
        for event in events[too_old:too_new]:
            group[stream].append(
                Event(
                    body["logGroupName"],
                    stream,
                    event["timestamp"],
                    now,
                    event["message"],
                    uuid.uuid4().hex,
                )
            )
        rejected: dict[str, int] = {}
        if too_old:
            rejected["tooOldLogEventEndIndex"] = too_old
        if too_new < len(stamps):
            rejected["tooNewLogEventStartIndex"] = too_new
        return {"rejectedLogEventsInfo": rejected} if rejected else {}

    # -- Logs Insights --

    def _op_StartQuery(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("logGroupNames") or (
            [body["logGroupName"]] if "logGroupName" in body else []
        )
        if not names:
            raise ServiceError("InvalidParameterException", "a log group is required")
        for name in names:
            self._group(name)
        start, end = int(body["startTime"]), int(body["endTime"])
        if start > end:
            raise ServiceError("InvalidParameterException", "startTime is after endTime")
        parsed = parse_query(body["queryString"])  # a malformed query fails at start
        limit = body.get("limit")
        if limit is not None and not 1 <= int(limit) <= ROW_LIMIT:
            raise ServiceError("InvalidParameterException", f"limit must be 1 to {ROW_LIMIT}")
        in_flight = sum(1 for q in self.queries.values() if q.status in ("Scheduled", "Running"))
        if in_flight >= self.max_concurrent:
            raise ServiceError(
                "LimitExceededException",
                f"Account maximum query concurrency limit of [{self.max_concurrent}] reached.",
            )
        query = RunningQuery(uuid.uuid4().hex, list(names), start, end, body["queryString"])
        # the request's limit, else the service's 1,000; a `limit` command can only lower it
        query.limit = min(parsed.limit or ROW_LIMIT, int(limit) if limit is not None else 1000)
        self.queries[query.query_id] = query
        return {"queryId": query.query_id}

    def _op_GetQueryResults(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.queries.get(body.get("queryId", ""))
        if query is None:
            raise ServiceError("ResourceNotFoundException", "Query does not exist")
        if query.status in ("Scheduled", "Running"):
            query.polls += 1
            if query.polls >= self.polls_to_complete and not self.hold_queries:
                query.results = self._evaluate(query)
                query.status = "Complete"
            else:
                query.status = "Running"
        return {
            "status": query.status,
            "results": query.results,
            "statistics": {
                "recordsMatched": float(len(query.results)),
                "recordsScanned": 0.0,
                "bytesScanned": 0.0,
            },
        }

    def _op_StopQuery(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.queries.get(body.get("queryId", ""))
        if query is None:
            raise ServiceError("ResourceNotFoundException", "Query does not exist")
        if query.status not in ("Scheduled", "Running"):
            raise ServiceError("InvalidParameterException", f"query is {query.status}")
        query.status = "Cancelled"
        return {"success": True}

    def _evaluate(self, query: RunningQuery) -> list[list[dict[str, str]]]:
        parsed = parse_query(query.text)
        selected = [
            (event, event.fields())
            for name in query.groups
            for stream in self.groups[name].values()
            for event in stream
            if query.start * 1000 <= event.timestamp <= query.end * 1000 + 999
        ]
        kept = [(e, f) for e, f in selected if all(p(f) for p in parsed.filters)]
        if parsed.sort is not None:
            name, descending = parsed.sort
            kept.sort(key=lambda pair: pair[1].get(name) or 0, reverse=descending)
        rows = []
        for event, values in kept[: query.limit]:
            row = []
            for name in parsed.fields:
                value = values.get(name)
                if value is None:
                    continue
                text = _display(value) if name in ("@timestamp", "@ingestionTime") else value
                row.append({"field": name, "value": str(text)})
            row.append({"field": "@ptr", "value": event.event_id})
            rows.append(row)
        return rows
