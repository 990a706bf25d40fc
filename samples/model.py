"""The sample shop's types: what its story is told in, shared by the loader, days and renderer.

Services, the faults they throw, the rows (signals) an operation writes and when it runs
(scenarios), and the pieces the days' causes are built from (parts, operations, error kinds).
Text in them may hold `{Name}` placeholders (placeholders.py), filled once per occurrence.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Runtime = Literal["dotnet", "java", "python", "node", "go"]
Hosting = Literal["appservice-windows", "appservice-linux", "aks", "functions"]
Kind = Literal["failure", "near-miss", "healthy"]
Corruption = Literal["null-time", "bad-time", "bad-json"]
Layer = Literal["sql", "sqlw", "http", "cache", "bus", "nosql", "blob", "logic"]

WINDOW_MINUTES = 360  # the night: six hours from 00:00


@dataclass(frozen=True)
class Service:
    """One deployable; a release replaces its instances and shifts its own stack-frame lines.

    `version` is what its App Insights rows carry as AppVersion, `released` the version from
    `release_minute` on (empty where nothing sets it: the Functions host writes none).
    `end_users`: its requests come from a browser, so they carry the visitor's ids.
    """

    role: str
    runtime: Runtime
    hosting: Hosting
    sdk: str = ""
    base_url: str = ""
    instances: int = 2
    release_minute: float | None = None
    namespace: str = "shop"
    container: str = ""
    version: str = ""
    released: str = ""
    end_users: bool = False


class Elapsed:
    """A structured log field holding the operation's elapsed milliseconds, as a number."""


ELAPSED = Elapsed()
type FieldValue = str | int | float | bool | Elapsed | Mapping[str, FieldValue]


class Frame(NamedTuple):
    """A stack frame; `col` is used by Node, `module` (assembly) by .NET, `code` by Python."""

    func: str
    file: str = ""
    line: int = 0
    col: int = 0
    module: str = ""
    code: str = ""


@dataclass(frozen=True)
class Fault:
    """An exception with its innermost-first frames and the exception that caused it."""

    type: str
    message: str
    frames: tuple[Frame, ...]
    cause: "Fault | None" = None
    headline: str = ""  # Go: replaces the "panic: ..." header (net/http's recovered-panic line)


@dataclass(frozen=True)
class Req:
    """An AppRequests row; Success follows the status code unless `ok` says otherwise."""

    name: str
    path: str
    code: str
    ms: tuple[float, float] = (2.0, 40.0)
    ok: bool | None = None


@dataclass(frozen=True)
class Dep:
    """An AppDependencies row; its duration moves the operation's clock forward."""

    type: str
    target: str
    name: str
    data: str
    code: str
    ok: bool
    ms: tuple[float, float]


@dataclass(frozen=True)
class Trace:
    """An AppTraces row; `category` is the logger name."""

    message: str
    severity: int
    category: str


@dataclass(frozen=True)
class Exc:
    """An AppExceptions row."""

    fault: Fault
    severity: int = 3


@dataclass(frozen=True)
class FuncLog:
    """A FunctionAppLogs row; a fault fills the Exception* columns."""

    level: str
    message: str
    category: str
    function: str = ""
    fault: Fault | None = None


@dataclass(frozen=True)
class Container:
    """A ContainerLogV2 row: plain text, or a structured object when `fields` is given.

    Structured lines are written by the runtime's logger (zap, logback's LogstashEncoder, pino);
    inside an operation the OpenTelemetry instrumentation adds its trace context to them.
    """

    message: str
    level: str = "info"
    stream: str = "stdout"
    fields: Mapping[str, FieldValue] | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class Console:
    """An AppServiceConsoleLogs row; a fault appends its stack as the runtime prints it."""

    level: str
    message: str
    fault: Fault | None = None


@dataclass(frozen=True)
class OrdersLog:
    """An OrdersService_CL row."""

    level: str
    message: str
    props: Mapping[str, str | int | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Pause:
    """Time passing inside an operation without a row (a timer job working, a timeout)."""

    ms: tuple[float, float]


Signal = Req | Dep | Trace | Exc | FuncLog | Container | Console | OrdersLog | Pause


class Burst(NamedTuple):
    """`size` occurrences at random times in `span` minutes from `start` (minutes after 00:00)."""

    start: float
    size: int
    span: float


@dataclass(frozen=True)
class Scenario:
    """What one operation writes, and when; a failure's id is its root-cause id in labels.json.

    `near-miss` scenarios look like failures (a 404, retryable errors, "0 errors") but must match
    no definition; `corrupt` maps occurrence numbers to the malformation their rows get.
    """

    id: str
    kind: Kind
    service: str
    when: tuple[Burst, ...]
    signals: tuple[Signal, ...]
    operation: str = ""
    corrupt: Mapping[int, Corruption] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    """A method of the app that an operation calls: where a fault starts, and the call it makes.

    `attr` is what its failures name (a field, table, cache key, queue or, in Go, the wrapping
    phrase); `call` is the Python line that calls it.
    """

    key: str
    layer: Layer
    frame: Frame
    dep: Dep | None = None
    attr: str = ""
    call: str = ""


@dataclass(frozen=True)
class Operation:
    """An entry point (request, message, timer) and the parts it calls.

    `entry` holds the handler's frames innermost first (the first one calls the part); `req` is
    the request it answers when healthy; `schedule` the minutes of the day a timer runs it.
    """

    key: str
    service: str
    entry: tuple[Frame, ...]
    parts: tuple[str, ...]
    action: str
    req: Req | None = None
    function: str = ""
    reason: str = "(null)"
    schedule: tuple[float, ...] = ()


@dataclass(frozen=True)
class ErrorKind:
    """One way a part fails in a runtime: the exception and what its dependency call records.

    `message` is a string.Template over the part ($attr, $url, $host, $data); `frames` are the
    library frames the fault passes before the app's, innermost first; `dep_code` is the failed
    call's ResultCode (None: the call itself succeeded); `code` the Python line that raised; Go
    kinds without `panic` are error values that get logged, not goroutine dumps.
    """

    key: str
    runtime: Runtime
    layers: tuple[Layer, ...]
    type: str
    message: str
    frames: tuple[Frame, ...] = ()
    cause: Fault | None = None
    dep_code: str | None = None
    dep_ms: tuple[float, float] = (5, 80)
    status: str = "500"
    code: str = ""
    panic: bool = True
