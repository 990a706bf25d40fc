"""The sample shop as data: its services, their faults, and the scenarios that write telemetry.

Kept apart from the renderer (generate.py) so the story of the night -- what breaks, when, how
often and in which runtime -- reads as tables and can change without touching row formatting.
Templates use `{Name}` placeholders (see SLOTS) filled once per occurrence, so the rows one
occurrence writes to several tables share ids, e-mails and order numbers; `{{`/`}}` are braces.
"""
# Stack frames, SQL and log lines are kept whole on one line each, as they appear in real logs.
# ruff: noqa: E501

import random
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from string import Template
from typing import Literal, NamedTuple

Runtime = Literal["dotnet", "java", "python", "node", "go"]
Hosting = Literal["appservice-windows", "appservice-linux", "aks", "functions"]
Kind = Literal["failure", "near-miss", "healthy"]
Corruption = Literal["null-time", "bad-time", "bad-json"]

WINDOW_MINUTES = 360


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
    """`size` occurrences at random times within `span` minutes from `start` (minutes after 00:00)."""

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


# --- value generators --------------------------------------------------------------------------


def hex_id(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def _email(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}{rng.choice(('', '', str(rng.randint(1, 99))))}"
    return f"{name}@{rng.choice(('example.com', 'example.net', 'example.org'))}"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not number:
            return digits


def _json_position(rng: random.Random) -> str:
    column = rng.randint(1, 240)
    return f"line 1 column {column} (char {column - 1})"


# --- building blocks ---------------------------------------------------------------------------


def traffic(n: int) -> tuple[Burst, ...]:
    """Night traffic that picks up towards morning: 40% in the first three hours."""
    early = n * 2 // 5
    return (Burst(0, early, 180), Burst(180, n - early, 178))


def spread(n: int) -> tuple[Burst, ...]:
    return (Burst(0, n, 358),)


def at(*minutes: float) -> tuple[Burst, ...]:
    """One occurrence right at each given minute (timers, restarts)."""
    return tuple(Burst(m, 1, 0.02) for m in minutes)


def invocation(
    function: str, reason: str, *body: Signal, fault: Fault | None = None
) -> tuple[Signal, ...]:
    """The Executing/Executed pair the Functions host logs around an invocation's own signals."""
    category = f"Function.{function}"
    start = FuncLog(
        "Information",
        f"Executing 'Functions.{function}' (Reason='{reason}', Id={{InvocationId}})",
        category,
        function,
    )
    if fault is None:
        end = FuncLog(
            "Information",
            f"Executed 'Functions.{function}' (Succeeded, Id={{InvocationId}}, "
            "Duration={DurationMs}ms)",
            category,
            function,
        )
    else:
        end = FuncLog(
            "Error",
            f"Executed 'Functions.{function}' (Failed, Id={{InvocationId}}, Duration={{DurationMs}}ms)",
            category,
            function,
            fault,
        )
    return (start, *body, end)


def sb_details(function: str = "reserve_stock") -> FuncLog:
    return FuncLog(
        "Information",
        "Trigger Details: MessageId: {MessageId}, SequenceNumber: {Sequence}, DeliveryCount: 1, "
        "EnqueuedTimeUtc: {IsoClock}, LockedUntilUtc: {LockClock}, SessionId: (null)",
        f"Function.{function}",
        function,
    )


def logstash(logger: str, **extra: str) -> dict[str, str | int | float | bool]:
    return {"logger_name": logger, **extra}


def zap(caller: str, **extra: str | int | float | bool) -> dict[str, str | int | float | bool]:
    return {"caller": caller, **extra}


def pino(
    message: str, level: str = "info", fault: Fault | None = None, **extra: FieldValue
) -> Container:
    """A line from a Fastify request's logger (pino): its `reqId` binding, then the line's fields."""
    return Container(message, level, fields={"reqId": "{ReqId}", **extra}, fault=fault)


def fastify(method: str, path: str, status: int, *work: Signal) -> tuple[Signal, ...]:
    """The lines Fastify logs around every request it serves, and what the handler does between."""
    request = {
        "method": method,
        "url": path,
        "hostname": "promotions-svc:3000",
        "remoteAddress": "{PodIp}",
    }
    return (
        pino("incoming request", req=request),
        *work,
        pino("request completed", res={"statusCode": status}, responseTime=ELAPSED),
    )


def morgan(method: str, path: str, status: int) -> Console:
    return Console(
        "Informational",
        f'{{ClientIp}} - - [{{AccessClock}}] "{method} {path} HTTP/1.1" {status} {{Bytes}} '
        '"https://shop.contoso-shop.com/cart" "{UserAgent}"',
    )


def uvicorn(method: str, path: str, status: str) -> Container:
    return Container(f'INFO:     {{PodIp}}:{{Port}} - "{method} {path} HTTP/1.1" {status}')


def nginx(method: str, path: str, status: int, upstream: str) -> Container:
    return Container(
        f'{{PodIp}} - - [{{AccessClock}}] "{method} {path} HTTP/2.0" {status} {{Bytes}} '
        f'"https://shop.contoso-shop.com/" "{{UserAgent}}" 412 0.{{ElapsedMs}} [{upstream}] [] '
        f"10.244.1.23:8080 {{Bytes}} 0.{{ElapsedMs}} {status} {{MessageId}}"
    )


# --- data: laid out as tables, so the formatter leaves it alone ------------------------------
# fmt: off

FIRST_NAMES = ("anna", "bram", "chloe", "daan", "emma", "finn", "lotte", "lucas", "mila", "noah", "sophie", "thijs",
               "yara", "lena", "jonas", "marie", "elias")
LAST_NAMES = ("devries", "jansen", "bakker", "visser", "smit", "meyer", "schmidt", "peeters", "dubois", "maes", "muller",
              "weber", "janssens", "fischer")

# Placeholders: `{Name}` in a template draws SLOTS[Name] once per occurrence.
SLOTS: dict[str, Callable[[random.Random], str]] = {
    "Attempt": lambda r: str(r.randint(1, 4)),
    "BatchId": lambda r: f"rb-{r.randint(20261119000, 20261120999)}",
    "Bytes": lambda r: str(r.randint(180, 48000)),
    "Carrier": lambda r: r.choice(("PostNL", "DHL", "DPD", "UPS", "bpost")),
    "CartId": lambda r: f"cart_{hex_id(r, 12)}",
    "CommaAmount": lambda r: f"{r.randint(5, 480)},{r.randint(0, 99):02d}",
    "ClientIp": lambda r: f"{r.choice((31, 77, 81, 84, 145, 178, 213))}.{r.randint(1, 254)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    "ConnNo": lambda r: str(r.randint(1000, 999999)),
    "CorrelationId": guid,
    "Count": lambda r: str(r.randint(12, 180)),
    "Country": lambda r: r.choice(("NL", "BE", "DE", "FR", "AT")),
    "CouponCode": lambda r: r.choice(("WINTER26", "BLACKFRIDAY", "WELCOME10", "FREESHIP", "VIP15")),
    "CustomerEmail": _email,
    "CustomerId": guid,
    "DeclineReason": lambda r: r.choice(("card_expired", "stolen_card", "do_not_honor", "fraud_suspected")),
    "ElapsedMs": lambda r: str(r.randint(3, 900)),
    "EventId": lambda r: f"evt_{_alnum(r, 24)}",
    "Failures": lambda r: str(r.randint(5, 12)),
    "InvocationId": guid,
    "ItemCount": lambda r: str(r.randint(1, 7)),
    "JavaThread": lambda r: r.choice(("boundedElastic-3", "boundedElastic-7", "receiver-payment-requests-1",
                                      "receiver-payment-requests-2", "scheduling-1")),
    "JsonPos": _json_position,
    "Length": lambda r: str(r.randint(1, 6)),
    "Locale": lambda r: r.choice(("de-DE", "fr-BE", "de-AT", "fr-FR")),
    "MessageId": lambda r: hex_id(r, 32),
    "Minutes": lambda r: str(r.randint(16, 55)),
    "OrderId": lambda r: f"{r.choice(('NL', 'NL', 'DE', 'BE', 'FR', 'AT'))}-{r.randint(100000, 999999)}",
    "PaymentId": lambda r: f"pay_{_alnum(r, 16)}",
    "Pid": lambda r: str(r.randint(18, 96)),
    "PodIp": lambda r: f"10.244.{r.randint(0, 3)}.{r.randint(2, 250)}",
    "Port": lambda r: str(r.randint(32768, 60999)),
    "PostalCode": lambda r: r.choice(("1000 AB", "75O01", "10115-", "B-1000", "00000")),
    "Quantity": lambda r: str(r.randint(1, 5)),
    "Region": lambda r: r.choice(("westeurope", "westeurope", "westeurope", "northeurope")),
    "ReqId": lambda r: f"req-{_base36(r.randint(1, 60000))}",
    "ReservationId": guid,
    "RetryAfterMs": lambda r: str(r.randint(200, 4800)),
    "Sequence": lambda r: str(r.randint(100000, 9999999)),
    "SessionId": lambda r: f"cs_{_alnum(r, 20)}",
    "ShipmentId": lambda r: f"SHP-{r.randint(1000000, 9999999)}",
    "Sku": lambda r: f"SKU-{r.randint(10000, 99999)}",
    "SnapshotId": lambda r: f"pf-{r.randint(1000, 9999)}",
    "Total": lambda r: f"{r.uniform(9, 480):.2f}",
    "TrackingNo": lambda r: f"3SCTO{r.randint(100000000, 999999999)}",
    "Transition": lambda r: r.choice(("Pending -> Paid", "Paid -> Picking", "Picking -> Shipped",
                                      "Shipped -> Delivered", "Pending -> Cancelled")),
    "UserAgent": lambda r: r.choice((
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    )),
    "Waiting": lambda r: str(r.randint(8, 64)),
    "WaitMs": lambda r: str(r.randint(30000, 30012)),
    "Warehouse": lambda r: r.choice(("AMS1", "FRA2", "BRU1")),
}

# --- services ----------------------------------------------------------------------------------

# AppVersion: ASP.NET Core reports the entry assembly's version, the Node.js SDK the app's
# package.json, the Java agent and OpenTelemetry `service.version`; the Go SDK what the build sets.
SERVICES: dict[str, Service] = {s.role: s for s in (
    Service("orders-api", "dotnet", "appservice-windows", "aspnet5c:2.22.0-997",
            "https://orders-api.contoso-shop.com", release_minute=185, version="4.18.0.0", released="4.19.0.0"),
    Service("orders-processor", "dotnet", "aks"),
    Service("checkout-web", "node", "appservice-linux", "node:2.9.6", "https://shop.contoso-shop.com",
            version="3.8.2", end_users=True),
    Service("catalog-svc", "go", "aks", "go:0.4.4", "http://catalog-svc.shop.svc.cluster.local:8080",
            instances=3, release_minute=150, version="v1.42.0", released="v1.43.0"),
    Service("payments-worker", "java", "aks", "java:3.6.2", "https://payments.contoso-shop.com", version="2.32.0"),
    # Functions: the host writes the rows (worker logs reach it over RPC) and sets no AppVersion.
    Service("inventory-func", "python", "functions", "azurefunctions: 4.1036.1.23224",
            "https://inventory-func.azurewebsites.net"),
    Service("notifications-func", "dotnet", "functions", "azurefunctions: 4.1036.1.23224"),
    Service("shipping-svc", "python", "aks"),
    Service("ingress-nginx-controller", "go", "aks", namespace="ingress-nginx", container="controller"),
)}

# --- shared texts ------------------------------------------------------------------------------

SQL = "contoso-sql-prod.database.windows.net | orders"
PG = "contoso-pg-prod.postgres.database.azure.com | payments"
REDIS = "contoso-cache.redis.cache.windows.net:6380"
PSP = "api.payhub.example"
COSMOS = "contoso-inventory.documents.azure.com | inventory | stock"

CORELIB = "System.Private.CoreLib, Version=8.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e"
HTTP_ASM = "System.Net.Http, Version=8.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a"
MVC_ASM = "Microsoft.AspNetCore.Mvc.Core, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60"
SQLCLIENT_ASM = "Microsoft.Data.SqlClient, Version=5.0.0.0, Culture=neutral, PublicKeyToken=23ec7fc2d6eaa4a5"
EF_ASM = "Microsoft.EntityFrameworkCore.Relational, Version=8.0.10.0, Culture=neutral, PublicKeyToken=adb9793829ddae60"
EF_CORE_ASM = "Microsoft.EntityFrameworkCore, Version=8.0.10.0, Culture=neutral, PublicKeyToken=adb9793829ddae60"
WEBJOBS_ASM = "Microsoft.Azure.WebJobs.Host, Version=3.0.41.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35"
ORDERS_ASM = "Contoso.Orders, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"
ORDERS_API_ASM = "Contoso.Orders.Api, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"
NOTIFY_ASM = "Contoso.Notifications, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"

MVC_EXECUTE = Frame("Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor+TaskOfIActionResultExecutor+<Execute>d__0.MoveNext",
                    module=MVC_ASM)
RETHROW = Frame("System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw", module=CORELIB)
CREATE_ORDER = Frame("Contoso.Orders.Api.Controllers.OrdersController+<Create>d__5.MoveNext",
                     "/src/Orders.Api/Controllers/OrdersController.cs", 64, module=ORDERS_API_ASM)
ENSURE_SUCCESS = Frame("System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode", module=HTTP_ASM)

JAVA_SB_LISTENER = (
    Frame("com.contoso.payments.capture.CaptureHandler.handle", "CaptureHandler.java", 53),
    Frame("com.azure.spring.messaging.implementation.listener.adapter.MessagingMessageListenerAdapter.invokeHandler",
          "MessagingMessageListenerAdapter.java", 81),
    Frame("com.azure.spring.messaging.servicebus.implementation.core.listener.adapter.ServiceBusMessageListenerAdapter.onMessage",
          "ServiceBusMessageListenerAdapter.java", 56),
    Frame("com.azure.messaging.servicebus.ServiceBusProcessorClient$1.onNext", "ServiceBusProcessorClient.java", 430),
    Frame("java.base/java.lang.Thread.run", "Thread.java", 1583),
)
PY_WORKER = Frame("_handle__invocation_request",
                  "/azure-functions-host/workers/python/3.11/LINUX/X64/azure_functions_worker/dispatcher.py", 604,
                  code="call_result = await self._loop.run_in_executor(")
GO_HTTP_SERVE = (
    Frame("net/http.HandlerFunc.ServeHTTP", "/usr/local/go/src/net/http/server.go", 2171),
    Frame("github.com/contoso/catalog/internal/api.(*Server).withTelemetry.func1", "/app/internal/api/middleware.go", 52),
    Frame("net/http.HandlerFunc.ServeHTTP", "/usr/local/go/src/net/http/server.go", 2171),
    Frame("net/http.serverHandler.ServeHTTP", "/usr/local/go/src/net/http/server.go", 3142),
    Frame("net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", 2044),
    Frame("created by net/http.(*Server).Serve in goroutine 1", "/usr/local/go/src/net/http/server.go", 3290),
)

# --- faults ------------------------------------------------------------------------------------

COUPON_NULLREF = Fault("System.NullReferenceException", "Object reference not set to an instance of an object.", (
    Frame("Contoso.Orders.Pricing.CouponCalculator.Apply", "/src/Orders/Pricing/CouponCalculator.cs", 57, module=ORDERS_ASM),
    Frame("Contoso.Orders.Pricing.PriceCalculator.Calculate", "/src/Orders/Pricing/PriceCalculator.cs", 88, module=ORDERS_ASM),
    Frame("Contoso.Orders.OrderService+<PlaceAsync>d__12.MoveNext", "/src/Orders/OrderService.cs", 118, module=ORDERS_ASM),
    RETHROW, CREATE_ORDER, MVC_EXECUTE,
))

SQL_TIMEOUT = Fault(
    "Microsoft.Data.SqlClient.SqlException",
    "Execution Timeout Expired.  The timeout period elapsed prior to completion of the operation or the server is not responding.",
    (
        Frame("Microsoft.Data.SqlClient.SqlCommand+<>c.<ExecuteDbDataReaderAsync>b__211_0", module=SQLCLIENT_ASM),
        Frame("System.Threading.Tasks.ContinuationResultTaskFromResultTask`2.InnerInvoke", module=CORELIB),
        RETHROW,
        Frame("Microsoft.EntityFrameworkCore.Storage.RelationalCommand+<ExecuteReaderAsync>d__19.MoveNext", module=EF_ASM),
        Frame("Microsoft.EntityFrameworkCore.Query.Internal.SingleQueryingEnumerable`1+AsyncEnumerator+<MoveNextAsync>d__20.MoveNext",
              module=EF_ASM),
        Frame("Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions+<ToListAsync>d__67`1.MoveNext", module=EF_CORE_ASM),
        Frame("Contoso.Orders.Data.OrderRepository+<GetOpenOrdersForCustomerAsync>d__9.MoveNext",
              "/src/Orders/Data/OrderRepository.cs", 73, module=ORDERS_ASM),
        Frame("Contoso.Orders.Api.Controllers.OrdersController+<List>d__4.MoveNext",
              "/src/Orders.Api/Controllers/OrdersController.cs", 41, module=ORDERS_API_ASM),
        MVC_EXECUTE,
    ),
    cause=Fault("System.ComponentModel.Win32Exception", "The wait operation timed out.", ()),
)

INVENTORY_503 = Fault("System.Net.Http.HttpRequestException",
                      "Response status code does not indicate success: 503 (Service Unavailable).", (
    ENSURE_SUCCESS,
    Frame("Contoso.Orders.Inventory.InventoryClient+<ReserveAsync>d__6.MoveNext",
          "/src/Orders/Inventory/InventoryClient.cs", 49, module=ORDERS_ASM),
    RETHROW,
    Frame("Contoso.Orders.OrderService+<PlaceAsync>d__12.MoveNext", "/src/Orders/OrderService.cs", 131, module=ORDERS_ASM),
    RETHROW, CREATE_ORDER, MVC_EXECUTE,
))

CONCURRENCY = Fault(
    "Microsoft.EntityFrameworkCore.DbUpdateConcurrencyException",
    "The database operation was expected to affect 1 row(s), but actually affected 0 row(s); data may have been modified "
    "or deleted since entities were loaded. See https://go.microsoft.com/fwlink/?LinkId=527962 for information on "
    "understanding and handling optimistic concurrency exceptions.",
    (
        Frame("Microsoft.EntityFrameworkCore.Update.AffectedCountModificationCommandBatch+<ThrowAggregateUpdateConcurrencyExceptionAsync>d__10.MoveNext",
              module=EF_ASM),
        Frame("Microsoft.EntityFrameworkCore.Update.Internal.BatchExecutor+<ExecuteAsync>d__9.MoveNext", module=EF_ASM),
        Frame("Microsoft.EntityFrameworkCore.DbContext+<SaveChangesAsync>d__63.MoveNext", module=EF_CORE_ASM),
        Frame("Contoso.Orders.Data.OrderRepository+<UpdateStatusAsync>d__11.MoveNext",
              "/src/Orders/Data/OrderRepository.cs", 102, module=ORDERS_ASM),
        Frame("Contoso.Orders.Api.Controllers.OrdersController+<Cancel>d__7.MoveNext",
              "/src/Orders.Api/Controllers/OrdersController.cs", 93, module=ORDERS_API_ASM),
        MVC_EXECUTE,
    ),
)

CLIENT_CANCELED = Fault("System.Threading.Tasks.TaskCanceledException", "A task was canceled.", (
    Frame("Microsoft.Data.SqlClient.SqlCommand+<>c.<ExecuteDbDataReaderAsync>b__211_0", module=SQLCLIENT_ASM),
    Frame("Contoso.Orders.Data.OrderRepository+<GetOpenOrdersForCustomerAsync>d__9.MoveNext",
          "/src/Orders/Data/OrderRepository.cs", 73, module=ORDERS_ASM),
    Frame("Contoso.Orders.Api.Controllers.OrdersController+<List>d__4.MoveNext",
          "/src/Orders.Api/Controllers/OrdersController.cs", 41, module=ORDERS_API_ASM),
))

TOTALS_TYPEERROR = Fault("TypeError", "Cannot read properties of undefined (reading 'total')", (
    Frame("computeTotals", "/home/site/wwwroot/src/cart/totals.js", 42, 31),
    Frame("Array.reduce", "<anonymous>"),
    Frame("buildSummary", "/home/site/wwwroot/src/cart/summary.js", 17, 18),
    Frame("async submitCheckout", "/home/site/wwwroot/src/routes/checkout.js", 88, 21),
))

SESSION_FETCH = Fault(
    "FetchError",
    "request to https://payments.contoso-shop.com/v1/sessions failed, reason: socket hang up",
    (
        Frame("ClientRequest.<anonymous>", "/home/site/wwwroot/node_modules/node-fetch/lib/index.js", 1501, 11),
        Frame("ClientRequest.emit", "node:events", 518, 28),
        Frame("TLSSocket.socketOnEnd", "node:_http_client", 524, 9),
        Frame("TLSSocket.emit", "node:events", 530, 35),
        Frame("endReadableNT", "node:internal/streams/readable", 1696, 12),
        Frame("process.processTicksAndRejections", "node:internal/process/task_queues", 82, 21),
    ),
)

CSRF = Fault("ForbiddenError", "invalid csrf token", (
    Frame("csrf", "/home/site/wwwroot/node_modules/csurf/index.js", 112, 19),
    Frame("Layer.handle [as handle_request]", "/home/site/wwwroot/node_modules/express/lib/router/layer.js", 95, 5),
    Frame("trim_prefix", "/home/site/wwwroot/node_modules/express/lib/router/index.js", 328, 13),
    Frame("", "/home/site/wwwroot/node_modules/express/lib/router/index.js", 286, 9),
))

NIL_PRICE = Fault(
    "runtime.Error", "runtime error: invalid memory address or nil pointer dereference",
    (
        Frame("net/http.(*conn).serve.func1", "/usr/local/go/src/net/http/server.go", 1947),
        Frame("panic", "/usr/local/go/src/runtime/panic.go", 785),
        Frame("github.com/contoso/catalog/internal/pricing.(*Service).PriceFor", "/app/internal/pricing/service.go", 88),
        Frame("github.com/contoso/catalog/internal/api.(*Server).getProduct", "/app/internal/api/products.go", 142),
        *GO_HTTP_SERVE,
    ),
    headline="http: panic serving {PodIp}:{Port}: runtime error: invalid memory address or nil pointer dereference",
)

FEED_INDEX = Fault(
    "runtime.boundsError", "runtime error: index out of range [3] with length 3",
    (
        Frame("github.com/contoso/catalog/internal/feed.(*Refresher).apply", "/app/internal/feed/refresher.go", 121),
        Frame("github.com/contoso/catalog/internal/feed.(*Refresher).run", "/app/internal/feed/refresher.go", 88),
        Frame("created by github.com/contoso/catalog/internal/feed.(*Refresher).Start in goroutine 1",
              "/app/internal/feed/refresher.go", 64),
    ),
)

PSP_TIMEOUT = Fault(
    "com.contoso.payments.psp.PspClientException",
    "Capture request for payment {PaymentId} timed out after 10000 ms",
    (
        Frame("com.contoso.payments.psp.PspClient.capture", "PspClient.java", 142),
        Frame("com.contoso.payments.capture.CaptureService.capture", "CaptureService.java", 77),
        *JAVA_SB_LISTENER,
    ),
    cause=Fault("java.net.SocketTimeoutException", "Read timed out", (
        Frame("java.base/sun.nio.ch.NioSocketImpl.timedRead", "NioSocketImpl.java", 288),
        Frame("java.base/sun.nio.ch.NioSocketImpl.implRead", "NioSocketImpl.java", 314),
        Frame("java.base/sun.nio.ch.NioSocketImpl.read", "NioSocketImpl.java", 355),
        Frame("java.base/java.net.Socket$SocketInputStream.read", "Socket.java", 1099),
        Frame("org.apache.hc.core5.http.impl.io.SessionInputBufferImpl.fillBuffer", "SessionInputBufferImpl.java", 149),
        Frame("com.contoso.payments.psp.PspClient.capture", "PspClient.java", 138),
    )),
)

REFUND_NPE = Fault(
    "java.lang.NullPointerException",
    'Cannot invoke "com.contoso.payments.model.Refund.getAmount()" because "refund" is null',
    (
        Frame("com.contoso.payments.refund.RefundService.reconcile", "RefundService.java", 118),
        Frame("com.contoso.payments.refund.RefundService.lambda$reconcileAll$2", "RefundService.java", 96),
        Frame("java.base/java.util.stream.ReferencePipeline$3$1.accept", "ReferencePipeline.java", 197),
        Frame("java.base/java.util.ArrayList$ArrayListSpliterator.forEachRemaining", "ArrayList.java", 1708),
        Frame("java.base/java.util.stream.AbstractPipeline.copyInto", "AbstractPipeline.java", 509),
        Frame("com.contoso.payments.refund.RefundReconciliationJob.run", "RefundReconciliationJob.java", 41),
        Frame("org.springframework.scheduling.support.ScheduledMethodRunnable.run", "ScheduledMethodRunnable.java", 130),
        Frame("java.base/java.lang.Thread.run", "Thread.java", 1583),
    ),
)

DB_POOL = Fault(
    "org.springframework.dao.DataAccessResourceFailureException",
    "Unable to acquire JDBC Connection [HikariPool-1 - Connection is not available, request timed out after {WaitMs}ms "
    "(total=20, active=20, idle=0, waiting={Waiting})] [n/a]",
    (
        Frame("org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException",
              "HibernateJpaDialect.java", 277),
        Frame("org.springframework.orm.jpa.JpaTransactionManager.doBegin", "JpaTransactionManager.java", 466),
        Frame("com.contoso.payments.capture.CaptureService.capture", "CaptureService.java", 61),
        *JAVA_SB_LISTENER,
    ),
    cause=Fault(
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after {WaitMs}ms "
        "(total=20, active=20, idle=0, waiting={Waiting})",
        (
            Frame("com.zaxxer.hikari.pool.HikariPool.createTimeoutException", "HikariPool.java", 686),
            Frame("com.zaxxer.hikari.pool.HikariPool.getConnection", "HikariPool.java", 179),
            Frame("com.zaxxer.hikari.HikariDataSource.getConnection", "HikariDataSource.java", 100),
        ),
        cause=Fault("org.postgresql.util.PSQLException",
                    "FATAL: remaining connection slots are reserved for roles with the SUPERUSER attribute", (
            Frame("org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication", "ConnectionFactoryImpl.java", 698),
            Frame("org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl", "ConnectionFactoryImpl.java", 207),
        )),
    ),
)

IDEMPOTENT_409 = Fault(
    "com.contoso.payments.psp.IdempotencyConflictException",
    "Idempotency key capture-{PaymentId} was already used for a completed request",
    (Frame("com.contoso.payments.psp.PspClient.capture", "PspClient.java", 151),
     Frame("com.contoso.payments.capture.CaptureService.capture", "CaptureService.java", 77),
     *JAVA_SB_LISTENER),
)

SKU_KEYERROR = Fault("KeyError", "'sku'", (
    Frame("parse_reservation", "/home/site/wwwroot/inventory/reservations.py", 31, code='sku = payload["sku"]'),
    Frame("reserve_stock", "/home/site/wwwroot/function_app.py", 57,
          code="reservation = parse_reservation(msg.get_json())"),
))

INVALID_JSON = Fault(
    "ValueError", "invalid reservation payload in message {MessageId}",
    (Frame("parse_body", "/home/site/wwwroot/inventory/reservations.py", 26,
           code='raise ValueError(f"invalid reservation payload in message {msg_id}") from exc'),
     Frame("reserve_stock", "/home/site/wwwroot/function_app.py", 55, code="body = parse_body(msg)")),
    cause=Fault("json.decoder.JSONDecodeError", "Expecting value: {JsonPos}", (
        Frame("raw_decode", "/usr/local/lib/python3.11/json/decoder.py", 355,
              code='raise JSONDecodeError("Expecting value", s, err.value) from None'),
        Frame("decode", "/usr/local/lib/python3.11/json/decoder.py", 337, code="obj, end = self.raw_decode(s, idx=_w(s, 0).end())"),
        Frame("loads", "/usr/local/lib/python3.11/json/__init__.py", 346, code="return _default_decoder.decode(s)"),
        Frame("parse_body", "/home/site/wwwroot/inventory/reservations.py", 24, code="return json.loads(msg.get_body())"),
    )),
)

SYNC_TIMEOUT = Fault(
    "Microsoft.Azure.WebJobs.Host.FunctionTimeoutException",
    "Timeout value of 00:10:00 was exceeded by function: Functions.sync_warehouse_stock",
    (Frame("Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor+<TryHandleTimeoutAsync>d__33.MoveNext", module=WEBJOBS_ASM),
     Frame("Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor+<InvokeWithTimeoutAsync>d__32.MoveNext", module=WEBJOBS_ASM),
     Frame("Microsoft.Azure.WebJobs.Host.Executors.FunctionExecutor+<ExecuteWithWatchersAsync>d__31.MoveNext", module=WEBJOBS_ASM)),
)

SENDGRID_401 = Fault("System.Net.Http.HttpRequestException",
                     "Response status code does not indicate success: 401 (Unauthorized).", (
    ENSURE_SUCCESS,
    Frame("Contoso.Notifications.Email.SendGridEmailSender+<SendAsync>d__4.MoveNext",
          "/src/Notifications/Email/SendGridEmailSender.cs", 52, module=NOTIFY_ASM),
    RETHROW,
    Frame("Contoso.Notifications.Functions.SendOrderConfirmation+<Run>d__3.MoveNext",
          "/src/Notifications/Functions/SendOrderConfirmation.cs", 38, module=NOTIFY_ASM),
))

MISSING_TEMPLATE = Fault("System.IO.FileNotFoundException",
                         "Could not find file '/home/site/wwwroot/Templates/order-shipped.{Locale}.liquid'.", (
    Frame("Microsoft.Win32.SafeHandles.SafeFileHandle.Open", module=CORELIB),
    Frame("System.IO.File+<InternalReadAllTextAsync>d__69.MoveNext", module=CORELIB),
    Frame("Contoso.Notifications.Templates.TemplateStore+<LoadAsync>d__5.MoveNext",
          "/src/Notifications/Templates/TemplateStore.cs", 29, module=NOTIFY_ASM),
    Frame("Contoso.Notifications.Functions.SendShipmentNotification+<Run>d__3.MoveNext",
          "/src/Notifications/Functions/SendShipmentNotification.cs", 44, module=NOTIFY_ASM),
))

CARRIER_RESET = Fault(
    "httpx.ConnectError", "[Errno 104] Connection reset by peer",
    (
        Frame("map_httpcore_exceptions", "/usr/local/lib/python3.12/site-packages/httpx/_transports/default.py", 89,
              code="raise mapped_exc(message) from exc"),
        Frame("handle_async_request", "/usr/local/lib/python3.12/site-packages/httpx/_transports/default.py", 376,
              code="with map_httpcore_exceptions():"),
        Frame("post", "/usr/local/lib/python3.12/site-packages/httpx/_client.py", 1905, code="return await self.request("),
        Frame("create_label", "/app/shipping/carriers/postnl.py", 88,
              code='resp = await self._client.post("/shipment/v2_2/label", json=body)'),
        Frame("create_label", "/app/shipping/api/labels.py", 41, code="label = await carrier.create_label(shipment)"),
        Frame("run_asgi", "/usr/local/lib/python3.12/site-packages/uvicorn/protocols/http/httptools_impl.py", 409,
              code="result = await app(  # type: ignore[func-returns-value]"),
    ),
    cause=Fault("httpcore.ConnectError", "[Errno 104] Connection reset by peer", (
        Frame("map_exceptions", "/usr/local/lib/python3.12/site-packages/httpcore/_exceptions.py", 14, code="raise to_exc(exc) from exc"),
        Frame("connect_tcp", "/usr/local/lib/python3.12/site-packages/httpcore/_backends/anyio.py", 113,
              code="with map_exceptions(exc_map):"),
        Frame("handle_async_request", "/usr/local/lib/python3.12/site-packages/httpcore/_async/connection_pool.py", 216,
              code="raise exc from None"),
    )),
)

LABEL_FONT = Fault(
    "reportlab.pdfbase.ttfonts.TTFError", "Can't open file \"/app/fonts/NotoSans-Bold.ttf\"",
    (
        Frame("TTFOpenFile", "/usr/local/lib/python3.12/site-packages/reportlab/pdfbase/ttfonts.py", 151,
              code='raise TTFError("Can\'t open file \\"%s\\"" % fn)'),
        Frame("register_fonts", "/app/shipping/labels/render.py", 31,
              code='pdfmetrics.registerFont(TTFont("NotoSans-Bold", FONT_DIR / "NotoSans-Bold.ttf"))'),
        Frame("render_pdf", "/app/shipping/labels/render.py", 54, code="register_fonts()"),
    ),
)

SQL_GET_ORDER = ("SELECT TOP(1) [o].[Id], [o].[CustomerId], [o].[Status], [o].[Total], [o].[CreatedAt] "
                 "FROM [Orders] AS [o] WHERE [o].[Id] = @__id_0")
SQL_LIST_ORDERS = ("SELECT [o].[Id], [o].[CreatedAt], [o].[Status], [o].[Total] FROM [Orders] AS [o] "
                   "WHERE [o].[CustomerId] = @__customerId_0 ORDER BY [o].[CreatedAt] DESC "
                   "OFFSET @__p_1 ROWS FETCH NEXT @__p_2 ROWS ONLY")
SQL_INSERT_ORDER = ("SET IMPLICIT_TRANSACTIONS OFF; SET NOCOUNT ON; INSERT INTO [Orders] ([Id], [CustomerId], [Status], "
                    "[Total], [CreatedAt]) OUTPUT INSERTED.[RowVersion] VALUES (@p0, @p1, @p2, @p3, @p4);")
SQL_CART = ("SELECT [c].[Id], [c].[CouponCode], [l].[Sku], [l].[Quantity], [l].[UnitPrice] FROM [Carts] AS [c] "
            "LEFT JOIN [CartLines] AS [l] ON [c].[Id] = [l].[CartId] WHERE [c].[Id] = @__cartId_0 ORDER BY [c].[Id]")
SQL_CANCEL = "SET NOCOUNT ON; UPDATE [Orders] SET [Status] = @p0 OUTPUT 1 WHERE [Id] = @p1 AND [RowVersion] = @p2;"

GET_ORDER_SQL = Dep("SQL", SQL, SQL, SQL_GET_ORDER, "0", True, (1.5, 25))
LIST_ORDERS_SQL = Dep("SQL", SQL, SQL, SQL_LIST_ORDERS, "0", True, (3, 60))
CART_SQL = Dep("SQL", SQL, SQL, SQL_CART, "0", True, (2, 30))
RESERVE_HTTP = Dep("HTTP", "inventory-func.azurewebsites.net", "POST /api/reservations",
                   "https://inventory-func.azurewebsites.net/api/reservations", "201", True, (40, 380))
PG_SELECT = Dep("postgresql", PG, "SELECT payments",
                "select p1_0.id,p1_0.amount,p1_0.currency,p1_0.status from payments p1_0 where p1_0.id=?", "", True, (1, 12))
PG_UPDATE = Dep("postgresql", PG, "UPDATE payments", "update payments set status=?,updated_at=? where id=?", "", True, (1, 15))
REDIS_GET = Dep("Redis", REDIS, "GET", "GET product:{Sku}", "", True, (0.4, 4))
PG_PRODUCT = Dep("postgresql", "catalog-pg.postgres.database.azure.com | catalog", "SELECT catalog.products",
                 "SELECT id, name, price_cents, currency, stock_status FROM products WHERE sku = $1", "", True, (2, 20))
CHECKOUT_CART = Dep("HTTP", "orders-api.contoso-shop.com", "GET /api/carts/{CartId}",
                    "https://orders-api.contoso-shop.com/api/carts/{CartId}", "200", True, (15, 120))
CAPTURE = Dep("HTTP", PSP, "POST /v1/payments/{PaymentId}/captures",
              "https://api.payhub.example/v1/payments/{PaymentId}/captures", "201", True, (120, 900))
COSMOS_UPSERT = Dep("Azure DocumentDB", COSMOS, "Upsert Document", "", "200", True, (4, 25))

JAVA_CAPTURE_LOGGER = "com.contoso.payments.capture.CaptureHandler"
PLACE_ORDER_TRACE = Trace("Order {OrderId} placed for {CustomerEmail} ({ItemCount} items, total {Total} EUR)", 1,
                          "Contoso.Orders.OrderService")

# --- the night ---------------------------------------------------------------------------------

CHECKOUT_RESTARTS = (72.0, 197.0, 301.0)

HEALTHY: tuple[Scenario, ...] = (
    Scenario("orders-get", "healthy", "orders-api", traffic(220), (
        Req("GET Orders/Get [id]", "/api/orders/{OrderId}", "200", (3, 30)), GET_ORDER_SQL)),
    Scenario("orders-list", "healthy", "orders-api", traffic(90), (
        Req("GET Orders/List", "/api/orders?customerId={CustomerId}", "200", (3, 30)), LIST_ORDERS_SQL)),
    Scenario("orders-create", "healthy", "orders-api", traffic(110), (
        Req("POST Orders/Create", "/api/orders", "201", (5, 40)), CART_SQL, RESERVE_HTTP,
        Dep("SQL", SQL, SQL, SQL_INSERT_ORDER, "0", True, (3, 40)),
        Dep("Azure Service Bus", "contoso-shop.servicebus.windows.net | order-events", "Message", "", "", True, (5, 40)),
        PLACE_ORDER_TRACE)),
    Scenario("orders-not-found", "near-miss", "orders-api", traffic(25), (
        Req("GET Orders/Get [id]", "/api/orders/{OrderId}", "404", (2, 10)), GET_ORDER_SQL,
        Trace("Order {OrderId} was not found", 2, "Contoso.Orders.Api.Controllers.OrdersController"))),
    Scenario("orders-health", "healthy", "orders-api", traffic(50), (
        Req("GET /health", "/health", "200", (1, 5)), Dep("SQL", SQL, SQL, "SELECT 1", "0", True, (0.8, 6)),
        Trace("Health check 'sql' completed after {ElapsedMs}ms with status Healthy", 0,
              "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService"))),
    Scenario("orders-sb-retry", "healthy", "orders-api", spread(6), (
        Trace("Retrying Service Bus send for message {MessageId} after a transient error (attempt {Attempt} of 3)", 2,
              "Contoso.Orders.Messaging.OutboxDispatcher"),), operation="OutboxDispatcher"),
    Scenario("orders-state", "healthy", "orders-processor", traffic(170), (
        OrdersLog("Information", "Order {OrderId} transitioned {Transition}", {"orderId": "{OrderId}"}),)),
    Scenario("orders-shipped", "healthy", "orders-processor", traffic(50), (
        OrdersLog("Information", "Order {OrderId} handed to {Carrier} (tracking {TrackingNo})",
                  {"orderId": "{OrderId}", "carrier": "{Carrier}"}),)),
    Scenario("orders-cancelled", "healthy", "orders-processor", spread(12), (
        OrdersLog("Information", "Order {OrderId} cancelled by customer; refund for {PaymentId} issued",
                  {"orderId": "{OrderId}", "retryable": False}),)),
    Scenario("orders-payment-pending", "healthy", "orders-processor", spread(10), (
        OrdersLog("Warning", "Payment for order {OrderId} still pending after {Minutes} minutes; reminder sent",
                  {"orderId": "{OrderId}", "retryable": False}),)),
    Scenario("checkout-page", "healthy", "checkout-web", traffic(130), (
        Req("GET /checkout", "/checkout", "200", (8, 60)), CHECKOUT_CART, morgan("GET", "/checkout", 200))),
    Scenario("checkout-submit", "healthy", "checkout-web", traffic(70), (
        Req("POST /checkout/submit", "/checkout/submit", "303", (10, 80)), CHECKOUT_CART,
        Dep("HTTP", "orders-api.contoso-shop.com", "POST /api/orders", "https://orders-api.contoso-shop.com/api/orders",
            "201", True, (80, 600)),
        morgan("POST", "/checkout/submit", 303))),
    Scenario("checkout-csrf", "near-miss", "checkout-web", spread(9), (
        Req("POST /checkout/submit", "/checkout/submit", "403", (1, 6)), Exc(CSRF, 1),
        Console("Warning", "ForbiddenError: invalid csrf token (session {SessionId})"))),
    Scenario("checkout-cache-warm", "near-miss", "checkout-web", at(*(m + 0.3 for m in CHECKOUT_RESTARTS)), (
        Console("Informational", "[cache] warmup complete: {Count} entries, 0 errors"),), operation="startup"),
    Scenario("catalog-product", "healthy", "catalog-svc", traffic(170), (
        Req("GET /api/products/:sku", "/api/products/{Sku}", "200", (1, 12)), REDIS_GET,
        Container("request served", fields=zap("api/products.go:97", method="GET", path="/api/products/{Sku}",
                                                status=200, latency="{DurationMs}ms")))),
    Scenario("catalog-product-miss", "healthy", "catalog-svc", traffic(40), (
        Req("GET /api/products/:sku", "/api/products/{Sku}", "200", (2, 20)), REDIS_GET, PG_PRODUCT,
        Dep("Azure blob", "contososhopmedia.blob.core.windows.net", "HEAD product-images/{Sku}.webp",
            "https://contososhopmedia.blob.core.windows.net/product-images/{Sku}.webp", "200", True, (4, 30)),
        Trace("cache miss for product:{Sku}, loaded from database", 1, "catalog/cache"))),
    Scenario("catalog-image-missing", "near-miss", "catalog-svc", spread(16), (
        Req("GET /api/products/:sku", "/api/products/{Sku}", "200", (2, 20)), REDIS_GET,
        Dep("Azure blob", "contososhopmedia.blob.core.windows.net", "HEAD product-images/{Sku}.webp",
            "https://contososhopmedia.blob.core.windows.net/product-images/{Sku}.webp", "404", False, (4, 30)),
        Container("product image missing, serving placeholder", "warning",
                  fields=zap("api/images.go:41", sku="{Sku}", errors=0)))),
    Scenario("catalog-startup", "near-miss", "catalog-svc", at(0.5, 150.2, 150.6, 151.0), (
        Container("config loaded", fields=zap("cmd/catalog/main.go:48", panic_on_missing_price=False,
                                              cache_ttl="10m0s", error_budget=0.001)),
        Container("listening", fields=zap("cmd/catalog/main.go:77", addr=":8080")))),
    Scenario("payments-capture", "healthy", "payments-worker", traffic(80), (
        Req("payment-requests process", "", "0", (3, 30)), PG_SELECT, CAPTURE, PG_UPDATE,
        Trace("Captured payment {PaymentId} for order {OrderId}: {Total} EUR", 1, JAVA_CAPTURE_LOGGER),
        Container("Captured payment {PaymentId} for order {OrderId}: {Total} EUR",
                  fields=logstash(JAVA_CAPTURE_LOGGER, paymentId="{PaymentId}")))),
    Scenario("payments-jvm-stats", "near-miss", "payments-worker", spread(12), (
        Container("jvm stats: heap_used=412MB threads=58 gc_pauses_ms=14 unhandled exceptions=0",
                  fields=logstash("com.contoso.payments.ops.JvmStatsReporter")),), operation="JvmStatsReporter"),
    Scenario("payments-hikari-warn", "near-miss", "payments-worker", spread(4), (
        Container("HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=1m{Minutes}s).", "warning",
                  fields=logstash("com.zaxxer.hikari.pool.HikariPool")),), operation="HikariPool"),
    Scenario("payments-idempotent", "near-miss", "payments-worker", spread(8), (
        Req("payment-requests process", "", "0", (3, 30)), PG_SELECT,
        Dep("HTTP", PSP, "POST /v1/payments/{PaymentId}/captures",
            "https://api.payhub.example/v1/payments/{PaymentId}/captures", "409", False, (60, 300)),
        Exc(IDEMPOTENT_409, 2),
        Container("Capture for payment {PaymentId} already processed (idempotency key reused), skipping", "warning",
                  fields=logstash(JAVA_CAPTURE_LOGGER, paymentId="{PaymentId}")))),
    Scenario("inventory-reserve", "healthy", "inventory-func", traffic(85), invocation(
        "reserve_stock", "(null)", sb_details(), COSMOS_UPSERT,
        FuncLog("Information", "Reserved {Quantity} x {Sku} for order {OrderId}", "Function.reserve_stock.User",
                "reserve_stock"),
        Trace("Reserved {Quantity} x {Sku} for order {OrderId}", 1, "inventory.reservations"))),
    Scenario("inventory-stock", "healthy", "inventory-func", traffic(30), (
        Req("get_stock", "/api/stock/{Sku}", "200", (5, 40)),
        *invocation("get_stock", "This function was programmatically called via the host APIs.",
                    Dep("Azure DocumentDB", COSMOS, "Read Document", "", "200", True, (3, 18))))),
    Scenario("inventory-sync", "healthy", "inventory-func", at(*(m for m in range(0, 360, 15) if m not in (120, 240))),
             invocation("sync_warehouse_stock", "Timer fired at {IsoClock}", Pause((20000, 70000)),
                        FuncLog("Information", "Synced {Count} stock levels from warehouse {Warehouse}, 0 errors",
                                "Function.sync_warehouse_stock.User", "sync_warehouse_stock"))),
    Scenario("inventory-host", "healthy", "inventory-func", at(2.0, 161.0), (
        FuncLog("Information", "Host lock lease acquired by instance ID '{MessageId}'.",
                "Host.Startup"),
        FuncLog("Information", "Worker process started and initialized.", "Host.Function.Console"))),
    Scenario("notifications-confirm", "healthy", "notifications-func", traffic(60), invocation(
        "SendOrderConfirmation", "(null)",
        Dep("HTTP", "api.sendgrid.com", "POST /v3/mail/send", "https://api.sendgrid.com/v3/mail/send", "202", True, (60, 400)),
        FuncLog("Information", "Sent order confirmation for order {OrderId} to {CustomerEmail}",
                "Function.SendOrderConfirmation.User", "SendOrderConfirmation"))),
    Scenario("shipping-get", "healthy", "shipping-svc", traffic(110), (uvicorn("GET", "/api/shipments/{ShipmentId}", "200 OK"),)),
    Scenario("shipping-label", "healthy", "shipping-svc", traffic(40), (uvicorn("POST", "/api/labels", "201 Created"),)),
    Scenario("shipping-batch", "near-miss", "shipping-svc", spread(12), (
        Container("INFO:     label batch complete: {Count} labels, 0 errors"),)),
    Scenario("ingress-ok", "healthy", "ingress-nginx-controller", traffic(120), (
        nginx("GET", "/api/products/{Sku}", 200, "shop-catalog-svc-8080"),)),
    Scenario("ingress-404", "near-miss", "ingress-nginx-controller", spread(14), (
        nginx("GET", "/api/products/{Sku}", 404, "shop-catalog-svc-8080"),)),
)

FAILURES: tuple[Scenario, ...] = (
    # orders-api (.NET, parsedStack)
    Scenario("orders-coupon-nullref", "failure", "orders-api",
             (Burst(35, 3, 15), Burst(160, 2, 20), Burst(250, 5, 40)), (
        Req("POST Orders/Create", "/api/orders", "500", (4, 20)), CART_SQL, Exc(COUPON_NULLREF),
        Trace("Pricing failed for cart {CartId} with coupon {CouponCode}", 3, "Contoso.Orders.Pricing.PriceCalculator"))),
    Scenario("orders-sql-timeout", "failure", "orders-api", (Burst(100, 7, 13), Burst(310, 2, 6)), (
        Req("GET Orders/List", "/api/orders?customerId={CustomerId}", "500", (2, 10)),
        Dep("SQL", SQL, SQL, SQL_LIST_ORDERS, "-2", False, (30000, 30040)), Exc(SQL_TIMEOUT),
        Trace("Listing orders for customer {CustomerId} failed after 30 s; database did not respond", 3,
              "Contoso.Orders.Api.Controllers.OrdersController"))),
    Scenario("orders-sql-healthcheck", "failure", "orders-api", (Burst(101, 3, 12),), (
        Req("GET /health", "/health", "503", (1, 5)), Dep("SQL", SQL, SQL, "SELECT 1", "-2", False, (5000, 5010)),
        Trace("Health check 'sql' completed after 5003ms with status Unhealthy and description 'Timeout'", 4,
              "Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService"))),
    Scenario("orders-inventory-503", "failure", "orders-api", (Burst(203, 6, 11),), (
        Req("POST Orders/Create", "/api/orders", "500", (4, 20)), CART_SQL,
        Dep("HTTP", "inventory-func.azurewebsites.net", "POST /api/reservations",
            "https://inventory-func.azurewebsites.net/api/reservations", "503", False, (20, 120)),
        Exc(INVENTORY_503))),
    Scenario("orders-concurrency-conflict", "failure", "orders-api", spread(3), (
        Req("POST Orders/Cancel", "/api/orders/{OrderId}/cancel", "500", (3, 20)),
        Dep("SQL", SQL, SQL, SQL_CANCEL, "0", True, (2, 20)), Exc(CONCURRENCY))),
    Scenario("orders-client-canceled", "near-miss", "orders-api", spread(6), (
        Req("GET Orders/List", "/api/orders?customerId={CustomerId}", "499", (1, 5)), LIST_ORDERS_SQL,
        Exc(CLIENT_CANCELED, 2))),
    # orders-processor (OrdersService_CL)
    Scenario("orders-payment-declined", "failure", "orders-processor", spread(6), (
        OrdersLog("Error", "Payment for order {OrderId} was declined permanently (reason: {DeclineReason}); cancelling order",
                  {"orderId": "{OrderId}", "paymentId": "{PaymentId}", "retryable": False}),), corrupt={2: "bad-json"}),
    Scenario("orders-reservation-expired", "failure", "orders-processor", (Burst(205, 3, 12), Burst(330, 1, 2)), (
        OrdersLog("Error", "Stock reservation {ReservationId} for order {OrderId} expired before payment was confirmed; "
                  "order moved to manual review", {"orderId": "{OrderId}", "retryable": False}),),
             corrupt={1: "null-time"}),
    Scenario("orders-invalid-address", "failure", "orders-processor", spread(3), (
        OrdersLog("Error", "Address validation failed for order {OrderId}: postal code '{PostalCode}' is not valid for "
                  "country {Country}", {"orderId": "{OrderId}", "retryable": False}),), corrupt={0: "bad-time"}),
    Scenario("orders-duplicate-fulfillment", "failure", "orders-processor", spread(3), (
        OrdersLog("Error", "Fulfillment request for order {OrderId} rejected by warehouse {Warehouse}: duplicate shipment "
                  "{ShipmentId}", {"orderId": "{OrderId}", "warehouse": "{Warehouse}", "retryable": False}),),
             corrupt={1: "bad-json"}),
    Scenario("orders-capture-retry", "near-miss", "orders-processor", (Burst(259, 8, 15),), (
        OrdersLog("Error", "Payment capture for order {OrderId} timed out; retry {Attempt}/5 scheduled",
                  {"orderId": "{OrderId}", "retryable": True}),)),
    Scenario("orders-projection", "near-miss", "orders-processor", spread(3), (
        OrdersLog("Error", "Read model projection for order {OrderId} failed; it will be rebuilt by the nightly job",
                  {"orderId": "{OrderId}"}),)),
    # checkout-web (Node.js, rawStack; App Service console)
    Scenario("checkout-totals-typeerror", "failure", "checkout-web",
             (Burst(20, 2, 10), Burst(130, 3, 20), Burst(280, 3, 15), Burst(340, 2, 10)), (
        Req("POST /checkout/submit", "/checkout/submit", "500", (3, 15)), CHECKOUT_CART, Exc(TOTALS_TYPEERROR),
        Console("Error", "", TOTALS_TYPEERROR))),
    Scenario("checkout-unhandled-rejection", "failure", "checkout-web", at(*CHECKOUT_RESTARTS), (
        Exc(SESSION_FETCH, 4),
        Console("Error", "node:internal/process/promises:391\n    triggerUncaughtException(err, true /* fromPromise */);\n"
                "    ^\n\n[UnhandledPromiseRejection: This error originated either by throwing inside of an async function "
                "without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected "
                'with the reason "FetchError: request to https://payments.contoso-shop.com/v1/sessions failed, reason: '
                "socket hang up\".] {{\n  code: 'ERR_UNHANDLED_REJECTION'\n}}\n\nNode.js v20.18.0"),
        Console("Informational", "\n> checkout-web@3.8.2 start\n> node server.js\n"),
        Console("Informational", "checkout-web listening on port 8080 (NODE_ENV=production)")), operation="process"),
    Scenario("checkout-punycode-deprecation", "failure", "checkout-web", at(*(m + 0.1 for m in CHECKOUT_RESTARTS)), (
        Console("Error", "(node:{Pid}) [DEP0040] DeprecationWarning: The `punycode` module is deprecated. Please use a "
                "userland alternative instead.\n(Use `node --trace-deprecation ...` to show where the warning was created)"),),
             operation="startup"),
    Scenario("checkout-payments-502", "failure", "checkout-web", spread(4), (
        Req("POST /checkout/submit", "/checkout/submit", "502", (3, 15)), CHECKOUT_CART,
        Dep("HTTP", "payments.contoso-shop.com", "POST /v1/sessions", "https://payments.contoso-shop.com/v1/sessions",
            "502", False, (30, 200)),
        Console("Warning", "payment session for cart {CartId} failed with 502, showing retry page"))),
    # catalog-svc (Go, rawStack; AKS)
    Scenario("catalog-nil-price-panic", "failure", "catalog-svc",
             (Burst(155, 4, 20), Burst(230, 3, 10), Burst(300, 2, 30)), (
        Req("GET /api/products/:sku", "/api/products/{Sku}", "500", (1, 6)), REDIS_GET, PG_PRODUCT, Exc(NIL_PRICE, 4),
        Container("", "unknown", "stderr", fault=NIL_PRICE)), corrupt={2: "null-time"}),
    Scenario("catalog-redis-timeout", "failure", "catalog-svc", (Burst(50, 8, 12), Burst(262, 6, 9)), (
        Req("GET /api/products/:sku", "/api/products/{Sku}", "200", (2, 10)),
        Dep("Redis", REDIS, "GET", "GET product:{Sku}", "", False, (3000, 3006)),
        Trace("cache lookup failed for key product:{Sku}: dial tcp 10.0.4.12:6380: i/o timeout", 3, "catalog/cache"),
        Container("cache lookup failed", "error",
                  fields=zap("cache/redis.go:88", key="product:{Sku}", error="dial tcp 10.0.4.12:6380: i/o timeout")),
        PG_PRODUCT), corrupt={5: "bad-time"}),
    Scenario("catalog-feed-index-panic", "failure", "catalog-svc", at(122.4), (
        Container("refreshing price feed", fields=zap("feed/refresher.go:79", snapshot="{SnapshotId}")),
        Container("", "unknown", "stderr", fault=FEED_INDEX),
        Container("config loaded", fields=zap("cmd/catalog/main.go:48", panic_on_missing_price=False,
                                              cache_ttl="10m0s", error_budget=0.001))), operation="feed-refresher"),
    Scenario("catalog-price-feed-stale", "failure", "catalog-svc", at(127.9), (
        Trace("price feed snapshot {SnapshotId} is {Minutes} minutes old; serving stale prices", 3, "catalog/feed"),),
             operation="feed-refresher"),
    # payments-worker (Java, rawStack with Caused by; AKS)
    Scenario("payments-psp-timeout", "failure", "payments-worker", (Burst(18, 1, 2), Burst(258, 9, 14)), (
        Req("payment-requests process", "", "0", (3, 20), ok=False), PG_SELECT,
        Dep("HTTP", PSP, "POST /v1/payments/{PaymentId}/captures",
            "https://api.payhub.example/v1/payments/{PaymentId}/captures", "", False, (10000, 10004)),
        Exc(PSP_TIMEOUT),
        Trace("Capture failed for payment {PaymentId} (order {OrderId})", 3, JAVA_CAPTURE_LOGGER),
        Container("Capture failed for payment {PaymentId} (order {OrderId})", "error",
                  fields=logstash(JAVA_CAPTURE_LOGGER, paymentId="{PaymentId}"), fault=PSP_TIMEOUT)),
             corrupt={3: "bad-json"}),
    Scenario("payments-refund-npe", "failure", "payments-worker", at(45.2, 105.2, 165.2, 225.2, 285.2), (
        Exc(REFUND_NPE),
        Trace("Refund reconciliation failed for batch {BatchId}", 3, "com.contoso.payments.refund.RefundReconciliationJob"),
        Container("Refund reconciliation failed for batch {BatchId}", "error",
                  fields=logstash("com.contoso.payments.refund.RefundReconciliationJob"), fault=REFUND_NPE)),
             operation="RefundReconciliationJob.run"),
    Scenario("payments-db-pool-exhausted", "failure", "payments-worker", (Burst(175, 6, 8),), (
        Req("payment-requests process", "", "0", (30000, 30020), ok=False), Exc(DB_POOL),
        Trace("Capture failed for payment {PaymentId} (order {OrderId})", 3, JAVA_CAPTURE_LOGGER),
        Container("Capture failed for payment {PaymentId} (order {OrderId})", "error",
                  fields=logstash(JAVA_CAPTURE_LOGGER, paymentId="{PaymentId}"), fault=DB_POOL))),
    Scenario("payments-webhook-signature", "failure", "payments-worker", (Burst(118, 4, 20),), (
        Req("POST /webhooks/psp", "/webhooks/psp", "401", (1, 4)),
        Trace("Rejected PSP webhook {EventId}: HMAC signature mismatch (key id psp-webhook-2026-10)", 3,
              "com.contoso.payments.webhooks.PspWebhookController"),
        Container("Rejected PSP webhook {EventId}: HMAC signature mismatch (key id psp-webhook-2026-10)", "error",
                  fields=logstash("com.contoso.payments.webhooks.PspWebhookController", eventId="{EventId}"))),
             corrupt={2: "bad-json"}),
    # inventory-func (Python Functions)
    Scenario("inventory-keyerror-sku", "failure", "inventory-func", spread(6), invocation(
        "reserve_stock", "(null)", sb_details(),
        FuncLog("Error", "Failed to reserve stock for message {MessageId}", "Function.reserve_stock.User", "reserve_stock"),
        Trace("Failed to reserve stock for message {MessageId}", 3, "inventory.reservations"),
        Exc(SKU_KEYERROR), fault=SKU_KEYERROR)),
    Scenario("inventory-invalid-json", "failure", "inventory-func", spread(3), invocation(
        "reserve_stock", "(null)", sb_details(), Exc(INVALID_JSON), fault=INVALID_JSON)),
    Scenario("inventory-cosmos-throttled", "failure", "inventory-func", (Burst(196, 14, 12),), invocation(
        "reserve_stock", "(null)", sb_details(),
        Dep("Azure DocumentDB", COSMOS, "Upsert Document", "", "429", False, (3, 20)),
        FuncLog("Warning", "Cosmos DB request rate too large; retrying in {RetryAfterMs} ms", "Function.reserve_stock.User",
                "reserve_stock"),
        Trace("Cosmos DB request rate too large; retrying in {RetryAfterMs} ms", 2, "inventory.store"),
        Pause((200, 4800)), COSMOS_UPSERT)),
    Scenario("inventory-sync-timeout", "failure", "inventory-func", at(120, 240), invocation(
        "sync_warehouse_stock", "Timer fired at {IsoClock}", Pause((600000, 600000)),
        FuncLog("Error", "Timeout value of 00:10:00 exceeded by function 'Functions.sync_warehouse_stock' "
                "(Id: '{InvocationId}'). Initiating cancellation.", "Function.sync_warehouse_stock", "sync_warehouse_stock"),
        fault=SYNC_TIMEOUT)),
    # notifications-func (.NET isolated Functions)
    Scenario("notifications-sendgrid-401", "failure", "notifications-func", (Burst(300, 10, 56),), invocation(
        "SendOrderConfirmation", "(null)",
        Dep("HTTP", "api.sendgrid.com", "POST /v3/mail/send", "https://api.sendgrid.com/v3/mail/send", "401", False, (40, 200)),
        FuncLog("Error", "Failed to send order confirmation for order {OrderId} to {CustomerEmail}",
                "Function.SendOrderConfirmation.User", "SendOrderConfirmation"),
        Exc(SENDGRID_401), fault=SENDGRID_401)),
    Scenario("notifications-missing-template", "failure", "notifications-func", spread(2), invocation(
        "SendShipmentNotification", "(null)", Exc(MISSING_TEMPLATE), fault=MISSING_TEMPLATE)),
    # shipping-svc (Python FastAPI on AKS, container logs only)
    Scenario("shipping-carrier-reset", "failure", "shipping-svc", (Burst(88, 5, 10), Burst(212, 3, 6)), (
        Container("ERROR:    Exception in ASGI application", "error", "stderr", fault=CARRIER_RESET),
        uvicorn("POST", "/api/labels", "500 Internal Server Error"))),
    Scenario("shipping-label-font-missing", "failure", "shipping-svc", at(64.7, 233.1), (
        Container("WARNING:  label PDF for shipment {ShipmentId} fell back to raster rendering:", "warning",
                  fault=LABEL_FONT),)),
    # ingress-nginx
    Scenario("ingress-upstream-timeout", "failure", "ingress-nginx-controller", (Burst(52, 4, 10),), (
        Container('{Clock} [error] 38#38: *{ConnNo} upstream timed out (110: Operation timed out) while reading response '
                  'header from upstream, client: {PodIp}, server: api.contoso-shop.com, request: "GET /api/products/{Sku} '
                  'HTTP/2.0", upstream: "http://10.244.1.23:8080/api/products/{Sku}", host: "api.contoso-shop.com"',
                  "error", "stderr"),
        nginx("GET", "/api/products/{Sku}", 504, "shop-catalog-svc-8080"))),
)

# fmt: on

SCENARIOS: tuple[Scenario, ...] = HEALTHY + FAILURES


# --- the days: several hundred root causes built from parts -----------------------------------
# A generated root cause is an operation of a service, one part of the app it calls (a repository,
# a client, a calculator) and a way that part fails in the service's runtime (an ErrorKind). Each
# piece is real -- frames named the way the runtime names them, library frames and messages as the
# libraries raise them, the dependency call the part makes -- so their product reads like the
# night's hand-written causes without writing four hundred of them.

DAYS_SEED = 20261117
DAYS_START = datetime(2026, 11, 17, tzinfo=UTC)  # Tuesday; the committed night follows the days
DAYS = 3
DAYS_MINUTES = DAYS * 1440
DAYS_CAUSES = 360  # sampled from the product, besides the night's causes, orders and ingress ones
HEALTHY_SCALE = 6.0  # the days' healthy traffic, as a multiple of the night's
OPERATION_TRAFFIC = 50  # healthy requests a day for operations the night does not have

Layer = Literal["sql", "sqlw", "http", "cache", "bus", "nosql", "blob", "logic"]


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


def _line(key: str, low: int = 18, high: int = 380) -> int:
    """A stable line for a generated frame: one function stays on one line across occurrences."""
    return low + zlib.crc32(key.encode()) % (high - low)


def cs(cls: str, method: str, sync: bool = False) -> Frame:
    """A .NET frame of the shop's code; async methods as the compiler names their state machine."""
    names = cls.split(".")
    api = names[2] == "Api"
    project = f"{names[1]}.Api" if api else names[1]
    path = "/".join(names[3:] if api else names[2:])
    func = (
        f"{cls}.{method}" if sync else f"{cls}+<{method}>d__{_line(cls + method, 2, 40)}.MoveNext"
    )
    assembly = f"Contoso.{project}, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"
    return Frame(func, f"/src/{project}/{path}.cs", _line(cls + method), module=assembly)


def jv(cls: str, method: str) -> Frame:
    return Frame(f"{cls}.{method}", f"{cls.rsplit('.', 1)[1]}.java", _line(cls + method))


def py(func: str, file: str, code: str) -> Frame:
    return Frame(func, file, _line(file + func), code=code)


def js(func: str, file: str) -> Frame:
    return Frame(func, f"/home/site/wwwroot/src/{file}", _line(file + func), _line(func, 5, 40))


def gof(func: str, file: str) -> Frame:
    return Frame(
        f"github.com/contoso/catalog/internal/{func}", f"/app/internal/{file}", _line(func)
    )


def http_dep(method: str, url: str, code: str = "200", ms: tuple[float, float] = (20, 300)) -> Dep:
    host = url.split("/")[2]
    path = "/" + url.split("/", 3)[3].split("?")[0]
    return Dep("HTTP", host, f"{method} {path}", url, code, True, ms)


def sql_dep(statement: str, ms: tuple[float, float] = (2, 40)) -> Dep:
    return Dep("SQL", SQL, SQL, statement, "0", True, ms)


def pg_dep(target: str, name: str, statement: str, ms: tuple[float, float] = (1, 20)) -> Dep:
    return Dep("postgresql", target, name, statement, "", True, ms)


# fmt: off

LINQ_ASM = "System.Linq, Version=8.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a"
JSON_ASM = "System.Text.Json, Version=8.0.0.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51"
HTTP_JSON_ASM = "System.Net.Http.Json, Version=8.0.0.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51"
REDIS_ASM = "StackExchange.Redis, Version=2.0.0.0, Culture=neutral, PublicKeyToken=c219ff1ca8c2ce46"
SB_ASM = "Azure.Messaging.ServiceBus, Version=7.18.1.0, Culture=neutral, PublicKeyToken=92742159e12e44c8"
SB_HOST = "contoso-shop.servicebus.windows.net"
CATALOG_PG = "catalog-pg.postgres.database.azure.com | catalog"
SHIPPING_PG = "shipping-pg.postgres.database.azure.com | shipping"
WMS = "https://wms.contoso-logistics.example/api/v3"
PY_LIB = "/usr/local/lib/python3.X/"  # X: the service's Python (3.11 on Functions, 3.12 on AKS)
PY_VERSIONS = {"inventory-func": "3.11", "shipping-svc": "3.12"}

SQL_QUERY = (
    Frame("Microsoft.Data.SqlClient.SqlCommand+<>c.<ExecuteDbDataReaderAsync>b__211_0", module=SQLCLIENT_ASM),
    Frame("System.Threading.Tasks.ContinuationResultTaskFromResultTask`2.InnerInvoke", module=CORELIB),
    RETHROW,
    Frame("Microsoft.EntityFrameworkCore.Storage.RelationalCommand+<ExecuteReaderAsync>d__19.MoveNext", module=EF_ASM),
    Frame("Microsoft.EntityFrameworkCore.Query.Internal.SingleQueryingEnumerable`1+AsyncEnumerator+<MoveNextAsync>d__20.MoveNext",
          module=EF_ASM),
)
SQL_SAVE = (
    Frame("Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch+<ExecuteAsync>d__50.MoveNext", module=EF_ASM),
    Frame("Microsoft.EntityFrameworkCore.Update.Internal.BatchExecutor+<ExecuteAsync>d__9.MoveNext", module=EF_ASM),
    Frame("Microsoft.EntityFrameworkCore.DbContext+<SaveChangesAsync>d__63.MoveNext", module=EF_CORE_ASM),
)
SQL_OPEN = (
    Frame("Microsoft.Data.SqlClient.SqlInternalConnection.OnError", module=SQLCLIENT_ASM),
    Frame("Microsoft.Data.ProviderBase.DbConnectionPool.TryGetConnection", module=SQLCLIENT_ASM),
    Frame("Microsoft.Data.SqlClient.SqlConnection+<InternalOpenAsync>d__198.MoveNext", module=SQLCLIENT_ASM),
    Frame("Microsoft.EntityFrameworkCore.Storage.RelationalConnection+<OpenInternalAsync>d__70.MoveNext", module=EF_ASM),
)
HTTP_SEND = (
    Frame("System.Net.Http.HttpClient.HandleFailure", module=HTTP_ASM),
    Frame("System.Net.Http.HttpClient+<<SendAsync>g__Core|83_0>d.MoveNext", module=HTTP_ASM),
)
HTTP_CONNECT = (
    Frame("System.Net.Http.HttpConnectionPool+<ConnectToTcpHostAsync>d__103.MoveNext", module=HTTP_ASM),
    Frame("System.Net.Http.HttpConnectionPool+<ConnectAsync>d__102.MoveNext", module=HTTP_ASM),
    Frame("System.Net.Http.HttpConnectionPool+<CreateHttp11ConnectionAsync>d__104.MoveNext", module=HTTP_ASM),
    Frame("System.Net.Http.HttpClient+<<SendAsync>g__Core|83_0>d.MoveNext", module=HTTP_ASM),
)
SB_SEND = (
    Frame("Azure.Messaging.ServiceBus.Amqp.AmqpSender+<SendBatchInternalAsync>d__24.MoveNext", module=SB_ASM),
    Frame("Azure.Messaging.ServiceBus.ServiceBusRetryPolicy+<RunOperation>d__21`2.MoveNext", module=SB_ASM),
    Frame("Azure.Messaging.ServiceBus.ServiceBusSender+<SendMessagesAsync>d__36.MoveNext", module=SB_ASM),
)
JAVA_JPA = (
    Frame("org.springframework.orm.jpa.vendor.HibernateJpaDialect.convertHibernateAccessException", "HibernateJpaDialect.java", 296),
    Frame("org.springframework.orm.jpa.AbstractEntityManagerFactoryBean.translateExceptionIfPossible",
          "AbstractEntityManagerFactoryBean.java", 560),
    Frame("org.springframework.dao.support.DataAccessUtils.translateIfNecessary", "DataAccessUtils.java", 343),
    Frame("org.springframework.dao.support.PersistenceExceptionTranslationInterceptor.invoke",
          "PersistenceExceptionTranslationInterceptor.java", 160),
)
JAVA_PG_EXECUTE = (
    Frame("org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse", "QueryExecutorImpl.java", 2725),
    Frame("org.postgresql.core.v3.QueryExecutorImpl.processResults", "QueryExecutorImpl.java", 2412),
    Frame("org.postgresql.core.v3.QueryExecutorImpl.execute", "QueryExecutorImpl.java", 371),
    Frame("org.postgresql.jdbc.PgStatement.executeInternal", "PgStatement.java", 502),
    Frame("com.zaxxer.hikari.pool.HikariProxyPreparedStatement.executeQuery", "HikariProxyPreparedStatement.java", 52),
)
JAVA_REST_STATUS = (
    Frame("org.springframework.web.client.DefaultResponseErrorHandler.handleError", "DefaultResponseErrorHandler.java", 158),
    Frame("org.springframework.web.client.DefaultRestClient$DefaultResponseSpec.applyStatusHandlers", "DefaultRestClient.java", 770),
    Frame("org.springframework.web.client.DefaultRestClient.readWithMessageConverters", "DefaultRestClient.java", 200),
    Frame("org.springframework.web.client.DefaultRestClient$DefaultResponseSpec.body", "DefaultRestClient.java", 723),
)
JAVA_REST_IO = (
    Frame("org.springframework.web.client.DefaultRestClient$DefaultRequestBodyUriSpec.createResourceAccessException",
          "DefaultRestClient.java", 580),
    Frame("org.springframework.web.client.DefaultRestClient$DefaultRequestBodyUriSpec.exchangeInternal", "DefaultRestClient.java", 474),
    Frame("org.springframework.web.client.DefaultRestClient$DefaultResponseSpec.body", "DefaultRestClient.java", 723),
)
JAVA_SOCKET_READ = (
    Frame("java.base/sun.nio.ch.NioSocketImpl.timedRead", "NioSocketImpl.java", 288),
    Frame("java.base/sun.nio.ch.NioSocketImpl.implRead", "NioSocketImpl.java", 314),
    Frame("java.base/java.net.Socket$SocketInputStream.read", "Socket.java", 1099),
    Frame("org.apache.hc.core5.http.impl.io.SessionInputBufferImpl.fillBuffer", "SessionInputBufferImpl.java", 149),
)
JAVA_SB_SEND = (
    Frame("com.azure.messaging.servicebus.ServiceBusSenderAsyncClient.lambda$sendBatchInternal$20", "ServiceBusSenderAsyncClient.java", 883),
    Frame("com.azure.messaging.servicebus.ServiceBusSenderClient.sendMessage", "ServiceBusSenderClient.java", 218),
)
JAVA_WEB = (
    Frame("org.springframework.web.method.support.InvocableHandlerMethod.doInvoke", "InvocableHandlerMethod.java", 255),
    Frame("org.springframework.web.servlet.mvc.method.annotation.ServletInvocableHandlerMethod.invokeAndHandle",
          "ServletInvocableHandlerMethod.java", 118),
    Frame("org.springframework.web.servlet.DispatcherServlet.doDispatch", "DispatcherServlet.java", 1089),
    Frame("org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run", "ThreadPoolExecutor.java", 659),
    Frame("java.base/java.lang.Thread.run", "Thread.java", 1583),
)
JAVA_SCHEDULED = (
    Frame("org.springframework.scheduling.support.ScheduledMethodRunnable.run", "ScheduledMethodRunnable.java", 130),
    Frame("java.base/java.util.concurrent.ScheduledThreadPoolExecutor$ScheduledFutureTask.run", "ScheduledThreadPoolExecutor.java", 304),
    Frame("java.base/java.lang.Thread.run", "Thread.java", 1583),
)
HTTPX_SEND = (
    Frame("map_httpcore_exceptions", PY_LIB + "site-packages/httpx/_transports/default.py", 89, code="raise mapped_exc(message) from exc"),
    Frame("handle_async_request", PY_LIB + "site-packages/httpx/_transports/default.py", 376, code="with map_httpcore_exceptions():"),
    Frame("_send_single_request", PY_LIB + "site-packages/httpx/_client.py", 1730,
          code="response = await transport.handle_async_request(request)"),
    Frame("request", PY_LIB + "site-packages/httpx/_client.py", 1585,
          code="return await self.send(request, auth=auth, follow_redirects=follow_redirects)"),
)
COSMOS_REQUEST = (
    Frame("_Request", PY_LIB + "site-packages/azure/cosmos/_synchronized_request.py", 169,
          code="raise exceptions.CosmosHttpResponseError(message=data, response=response)"),
    Frame("Execute", PY_LIB + "site-packages/azure/cosmos/_retry_utility.py", 97,
          code="result = ExecuteFunction(function, global_endpoint_manager, *args, **kwargs)"),
    Frame("SynchronizedRequest", PY_LIB + "site-packages/azure/cosmos/_synchronized_request.py", 222,
          code="return _retry_utility.Execute("),
)
SQLALCHEMY_EXECUTE = (
    Frame("_handle_exception", PY_LIB + "site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", 789,
          code="raise translated_error from error"),
    Frame("_exec_single_context", PY_LIB + "site-packages/sqlalchemy/engine/base.py", 1967,
          code="self.dialect.do_execute("),
    Frame("execute", PY_LIB + "site-packages/sqlalchemy/ext/asyncio/session.py", 463,
          code="result = await greenlet_spawn("),
)
BLOB_DOWNLOAD = (
    Frame("process_storage_error", PY_LIB + "site-packages/azure/storage/blob/_shared/response_handlers.py", 186,
          code="exec(\"raise error from None\")"),
    Frame("download_blob", PY_LIB + "site-packages/azure/storage/blob/aio/_blob_client_async.py", 606,
          code="await downloader._setup()"),
)
NODE_FETCH = (
    Frame("ClientRequest.<anonymous>", "/home/site/wwwroot/node_modules/node-fetch/lib/index.js", 1501, 11),
    Frame("ClientRequest.emit", "node:events", 518, 28),
    Frame("process.processTicksAndRejections", "node:internal/process/task_queues", 95, 5),
)
IOREDIS = (
    Frame("Socket.<anonymous>", "/home/site/wwwroot/node_modules/ioredis/built/redis/event_handler.js", 182, 37),
    Frame("Object.onceWrapper", "node:events", 634, 26),
    Frame("Socket.emit", "node:events", 519, 28),
)
GO_PANIC = Frame("panic", "/usr/local/go/src/runtime/panic.go", 785)
GO_RECOVER = Frame("net/http.(*conn).serve.func1", "/usr/local/go/src/net/http/server.go", 1947)
PG_TIMEOUT = Fault("org.postgresql.util.PSQLException", "ERROR: canceling statement due to statement timeout", JAVA_PG_EXECUTE)
READ_TIMED_OUT = Fault("java.net.SocketTimeoutException", "Read timed out", JAVA_SOCKET_READ)
HTTPCORE_TIMEOUT = Fault("httpcore.ReadTimeout", "The read operation timed out", (
    Frame("map_exceptions", PY_LIB + "site-packages/httpcore/_exceptions.py", 14, code="raise to_exc(exc) from exc"),
    Frame("read", PY_LIB + "site-packages/httpcore/_backends/anyio.py", 32, code="with map_exceptions(exc_map):"),
))

KINDS: tuple[ErrorKind, ...] = (
    # .NET (orders-api, notifications-func)
    ErrorKind("sql-timeout", "dotnet", ("sql", "sqlw"), "Microsoft.Data.SqlClient.SqlException", SQL_TIMEOUT.message, SQL_QUERY,
         Fault("System.ComponentModel.Win32Exception", "The wait operation timed out.", ()), "-2", (30000, 30040)),
    ErrorKind("sql-deadlock", "dotnet", ("sql", "sqlw"), "Microsoft.Data.SqlClient.SqlException",
         "Transaction (Process ID {Pid}) was deadlocked on lock resources with another process and has been chosen as the "
         "deadlock victim. Rerun the transaction.", SQL_QUERY, dep_code="1205", dep_ms=(200, 4000)),
    ErrorKind("sql-unreachable", "dotnet", ("sql", "sqlw"), "Microsoft.Data.SqlClient.SqlException",
         "A network-related or instance-specific error occurred while establishing a connection to SQL Server. The server was "
         "not found or was not accessible. Verify that the instance name is correct and that SQL Server is configured to allow "
         "remote connections. (provider: TCP Provider, error: 40 - Could not open a connection to SQL Server)", SQL_OPEN,
         dep_code="53", dep_ms=(15000, 15040)),
    ErrorKind("sql-dbnull", "dotnet", ("sql",), "System.InvalidCastException",
         "Unable to cast object of type 'System.DBNull' to type 'System.String'.", (
             Frame("Microsoft.Data.SqlClient.SqlBuffer.get_String", module=SQLCLIENT_ASM),
             Frame("Microsoft.Data.SqlClient.SqlDataReader.GetString", module=SQLCLIENT_ASM),
             *SQL_QUERY[3:])),
    ErrorKind("sql-duplicate", "dotnet", ("sqlw",), "Microsoft.EntityFrameworkCore.DbUpdateException",
         "An error occurred while saving the entity changes. See the inner exception for details.", SQL_SAVE,
         Fault("Microsoft.Data.SqlClient.SqlException",
               "Cannot insert duplicate key row in object 'dbo.$attr' with unique index 'IX_${attr}_ExternalReference'. "
               "The duplicate key value is ({OrderId}).\nThe statement has been terminated.", ()), "2601"),
    ErrorKind("http-503", "dotnet", ("http",), "System.Net.Http.HttpRequestException",
         "Response status code does not indicate success: 503 (Service Unavailable).", (ENSURE_SUCCESS,), dep_code="503"),
    ErrorKind("http-500", "dotnet", ("http",), "System.Net.Http.HttpRequestException",
         "Response status code does not indicate success: 500 (Internal Server Error).", (ENSURE_SUCCESS,), dep_code="500"),
    ErrorKind("http-timeout", "dotnet", ("http",), "System.Threading.Tasks.TaskCanceledException",
         "The request was canceled due to the configured HttpClient.Timeout of 30 seconds elapsing.", HTTP_SEND,
         Fault("System.TimeoutException", "The operation was canceled.", ()), "", (30000, 30010)),
    ErrorKind("http-refused", "dotnet", ("http",), "System.Net.Http.HttpRequestException", "Connection refused ($host:443)",
         HTTP_CONNECT, Fault("System.Net.Sockets.SocketException", "Connection refused", ()), "", (1, 30)),
    ErrorKind("http-json", "dotnet", ("http",), "System.Text.Json.JsonException",
         "The JSON value could not be converted to System.Decimal. Path: $$.$attr | LineNumber: 0 | BytePositionInLine: {Bytes}.", (
             Frame("System.Text.Json.ThrowHelper.ReThrowWithPath", module=JSON_ASM),
             Frame("System.Text.Json.Serialization.JsonConverter`1.ReadCore", module=JSON_ASM),
             Frame("System.Net.Http.Json.HttpContentJsonExtensions+<ReadFromJsonAsyncCore>d__12`1.MoveNext", module=HTTP_JSON_ASM))),
    ErrorKind("redis-timeout", "dotnet", ("cache",), "StackExchange.Redis.RedisTimeoutException",
         "Timeout performing GET ($attr) (5000ms), next: GET $attr, inst: 4, qu: 0, qs: {Waiting}, aw: False, bw: SpinningDown, "
         "rs: ReadAsync, ws: Idle, in: 0, serverEndpoint: contoso-cache.redis.cache.windows.net:6380, mc: 1/1/0, "
         "mgr: 10 of 10 available, IOCP: (Busy=0,Free=1000,Min=1,Max=1000), WORKER: (Busy={Count},Free=32655,Min=2,Max=32767), "
         "v: 2.7.33.41805", (Frame("StackExchange.Redis.ConnectionMultiplexer.ExecuteAsyncImpl[T]", module=REDIS_ASM),),
         dep_code="", dep_ms=(5000, 5004)),
    ErrorKind("redis-unavailable", "dotnet", ("cache",), "StackExchange.Redis.RedisConnectionException",
         "No connection is active/available to service this operation: GET $attr; It was not possible to connect to the redis "
         "server(s). ConnectTimeout, inst: 0, qu: 0, qs: 0, aw: False, bw: Inactive, rs: NotStarted, ws: Idle, in: 0, "
         "serverEndpoint: contoso-cache.redis.cache.windows.net:6380, mc: 1/1/0, mgr: 10 of 10 available, v: 2.7.33.41805",
         (Frame("StackExchange.Redis.ConnectionMultiplexer.ThrowFailed[T]", module=REDIS_ASM),), dep_code="", dep_ms=(0.2, 2)),
    ErrorKind("sb-not-found", "dotnet", ("bus",), "Azure.Messaging.ServiceBus.ServiceBusException",
         f"The messaging entity 'sb://{SB_HOST}/$attr' could not be found. To know more visit "
         "https://aka.ms/sbResourceMgrExceptions.  TrackingId:{MessageId}, SystemTracker:" + SB_HOST + ":$attr, "
         "Timestamp:{IsoClock} (MessagingEntityNotFound)", SB_SEND, dep_code="", dep_ms=(20, 200)),
    ErrorKind("sb-timeout", "dotnet", ("bus",), "Azure.Messaging.ServiceBus.ServiceBusException",
         "The operation did not complete within the allocated time 00:01:00 for object sender{ConnNo}. (ServiceTimeout)",
         SB_SEND, dep_code="", dep_ms=(60000, 60010)),
    ErrorKind("nullref", "dotnet", ("logic",), "System.NullReferenceException", "Object reference not set to an instance of an object."),
    ErrorKind("no-elements", "dotnet", ("logic",), "System.InvalidOperationException", "Sequence contains no elements", (
        Frame("System.Linq.ThrowHelper.ThrowNoElementsException", module=LINQ_ASM),
        Frame("System.Linq.Enumerable.First[TSource]", module=LINQ_ASM))),
    ErrorKind("key-missing", "dotnet", ("logic",), "System.Collections.Generic.KeyNotFoundException",
         "The given key '$attr' was not present in the dictionary.", (
             Frame("System.ThrowHelper.ThrowKeyNotFoundException[T]", module=CORELIB),
             Frame("System.Collections.Generic.Dictionary`2.get_Item", module=CORELIB))),
    ErrorKind("no-value", "dotnet", ("logic",), "System.InvalidOperationException", "Nullable object must have a value.", (
        Frame("System.ThrowHelper.ThrowInvalidOperationException_InvalidOperation_NoValue", module=CORELIB),
        Frame("System.Nullable`1.get_Value", module=CORELIB))),
    ErrorKind("format", "dotnet", ("logic",), "System.FormatException", "The input string '{CommaAmount}' was not in a correct format.", (
        Frame("System.Number.ThrowFormatException[TChar]", module=CORELIB), Frame("System.Decimal.Parse", module=CORELIB))),
    ErrorKind("divide", "dotnet", ("logic",), "System.DivideByZeroException", "Attempted to divide by zero.", (
        Frame("System.Decimal+DecCalc.VarDecDiv", module=CORELIB), Frame("System.Decimal.op_Division", module=CORELIB))),
    ErrorKind("arg-null", "dotnet", ("logic",), "System.ArgumentNullException", "Value cannot be null. (Parameter 'source')", (
        Frame("System.ArgumentNullException.Throw", module=CORELIB),
        Frame("System.Linq.Enumerable.Select[TSource,TResult]", module=LINQ_ASM))),
    # Java (payments-worker)
    ErrorKind("pg-timeout", "java", ("sql", "sqlw"), "org.springframework.dao.QueryTimeoutException",
         "JDBC exception executing SQL [$data] [ERROR: canceling statement due to statement timeout] [n/a]; SQL [n/a]",
         JAVA_JPA, PG_TIMEOUT, "", (30000, 30030)),
    ErrorKind("pg-deadlock", "java", ("sqlw",), "org.springframework.dao.CannotAcquireLockException",
         "could not execute statement [ERROR: deadlock detected\n  Detail: Process {Pid}12 waits for ShareLock on transaction "
         "{ConnNo}; blocked by process {Pid}47.] [$data]; SQL [$data]", JAVA_JPA,
         Fault("org.postgresql.util.PSQLException", "ERROR: deadlock detected", JAVA_PG_EXECUTE), "", (1000, 1040)),
    ErrorKind("pg-unique", "java", ("sqlw",), "org.springframework.dao.DataIntegrityViolationException",
         "could not execute statement [ERROR: duplicate key value violates unique constraint \"${attr}_pkey\"\n  Detail: Key (id)=("
         "{PaymentId}) already exists.] [$data]; SQL [$data]; constraint [${attr}_pkey]", JAVA_JPA,
         Fault("org.postgresql.util.PSQLException", "ERROR: duplicate key value violates unique constraint \"${attr}_pkey\"",
               JAVA_PG_EXECUTE)),
    ErrorKind("pg-refused", "java", ("sql", "sqlw"), "org.springframework.transaction.CannotCreateTransactionException",
         "Could not open JPA EntityManager for transaction", (
             Frame("org.springframework.orm.jpa.JpaTransactionManager.doBegin", "JpaTransactionManager.java", 466),
             Frame("org.springframework.transaction.support.AbstractPlatformTransactionManager.startTransaction",
                   "AbstractPlatformTransactionManager.java", 531)),
         Fault("org.postgresql.util.PSQLException", "Connection to contoso-pg-prod.postgres.database.azure.com:5432 refused. "
               "Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.", (
                   Frame("org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl", "ConnectionFactoryImpl.java", 346),
                   Frame("com.zaxxer.hikari.pool.HikariPool.createPoolEntry", "HikariPool.java", 476))), "", (1, 20)),
    ErrorKind("rest-timeout", "java", ("http",), "org.springframework.web.client.ResourceAccessException",
         "I/O error on POST request for \"$url\": Read timed out", JAVA_REST_IO, READ_TIMED_OUT, "", (10000, 10004)),
    ErrorKind("rest-503", "java", ("http",), "org.springframework.web.client.HttpServerErrorException$ServiceUnavailable",
         "503 Service Unavailable: \"{{\"error\":\"upstream_unavailable\",\"request_id\":\"{MessageId}\"}}\"", JAVA_REST_STATUS,
         dep_code="503"),
    ErrorKind("rest-429", "java", ("http",), "org.springframework.web.client.HttpClientErrorException$TooManyRequests",
         "429 Too Many Requests: \"{{\"error\":\"rate_limited\",\"retry_after\":{Attempt}}}\"", JAVA_REST_STATUS, dep_code="429"),
    ErrorKind("rest-body", "java", ("http",), "org.springframework.web.client.RestClientException",
         "Error while extracting response for type [class $attr] and content type [application/json]", JAVA_REST_STATUS[2:],
         Fault("com.fasterxml.jackson.databind.exc.InvalidFormatException",
               "Cannot deserialize value of type `java.math.BigDecimal` from String \"{CommaAmount}\": not a valid representation", (
                   Frame("com.fasterxml.jackson.databind.exc.InvalidFormatException.from", "InvalidFormatException.java", 67),
                   Frame("com.fasterxml.jackson.databind.DeserializationContext.handleWeirdStringValue",
                         "DeserializationContext.java", 1959)))),
    ErrorKind("sb-send-timeout", "java", ("bus",), "com.azure.messaging.servicebus.ServiceBusException",
         "The operation did not complete within the allocated time 00:01:00 for object sender-$attr. (ServiceTimeout)",
         JAVA_SB_SEND, dep_code="", dep_ms=(60000, 60010)),
    ErrorKind("npe", "java", ("logic",), "java.lang.NullPointerException",
         "Cannot invoke \"java.math.BigDecimal.compareTo(java.math.BigDecimal)\" because the return value of \"$attr()\" is null"),
    ErrorKind("no-value", "java", ("logic",), "java.util.NoSuchElementException", "No value present",
         (Frame("java.base/java.util.Optional.orElseThrow", "Optional.java", 377),)),
    ErrorKind("non-terminating", "java", ("logic",), "java.lang.ArithmeticException",
         "Non-terminating decimal expansion; no exact representable decimal result.",
         (Frame("java.base/java.math.BigDecimal.divide", "BigDecimal.java", 1780),)),
    ErrorKind("bad-decimal", "java", ("logic",), "java.lang.NumberFormatException",
         "Character , is neither a decimal digit number, decimal point, nor \"e\" notation exponential mark.", (
             Frame("java.base/java.math.BigDecimal.<init>", "BigDecimal.java", 608),
             Frame("java.base/java.math.BigDecimal.<init>", "BigDecimal.java", 497),
             Frame("java.base/java.math.BigDecimal.<init>", "BigDecimal.java", 903))),
    ErrorKind("empty-list", "java", ("logic",), "java.lang.IndexOutOfBoundsException", "Index 0 out of bounds for length 0", (
        Frame("java.base/jdk.internal.util.Preconditions.outOfBounds", "Preconditions.java", 100),
        Frame("java.base/java.util.Objects.checkIndex", "Objects.java", 385),
        Frame("java.base/java.util.ArrayList.get", "ArrayList.java", 427))),
    # Python (inventory-func, shipping-svc)
    ErrorKind("cosmos-429", "python", ("nosql",), "azure.cosmos.exceptions.CosmosHttpResponseError",
         "(TooManyRequests) Message: {{\"Errors\":[\"Request rate is large. More Request Units may be needed, so no changes were "
         "made. Please retry this request later. Learn more: http://aka.ms/cosmosdb-error-429\"]}}\nActivityId: {CorrelationId}, "
         "Microsoft.Azure.Documents.Common/2.14.0\nCode: TooManyRequests", COSMOS_REQUEST, dep_code="429"),
    ErrorKind("cosmos-not-found", "python", ("nosql",), "azure.cosmos.exceptions.CosmosResourceNotFoundError",
         "(NotFound) Entity with the specified id does not exist in the system. More info: https://aka.ms/cosmosdb-tsg-not-found\n"
         "ActivityId: {CorrelationId}, Microsoft.Azure.Documents.Common/2.14.0\nCode: NotFound", COSMOS_REQUEST, dep_code="404"),
    ErrorKind("cosmos-precondition", "python", ("nosql",), "azure.cosmos.exceptions.CosmosAccessConditionFailedError",
         "(PreconditionFailed) Operation cannot be performed because one of the specified precondition is not met.\n"
         "ActivityId: {CorrelationId}, Microsoft.Azure.Documents.Common/2.14.0\nCode: PreconditionFailed", COSMOS_REQUEST,
         dep_code="412"),
    ErrorKind("read-timeout", "python", ("http",), "httpx.ReadTimeout", "The read operation timed out", HTTPX_SEND,
         HTTPCORE_TIMEOUT, "", (10000, 10010)),
    ErrorKind("dns", "python", ("http",), "httpx.ConnectError", "[Errno -3] Temporary failure in name resolution", HTTPX_SEND,
         Fault("httpcore.ConnectError", "[Errno -3] Temporary failure in name resolution", HTTPCORE_TIMEOUT.frames), "", (1, 40)),
    ErrorKind("status-503", "python", ("http",), "httpx.HTTPStatusError",
         "Server error '503 Service Unavailable' for url '$url'\n"
         "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/503",
         (Frame("raise_for_status", PY_LIB + "site-packages/httpx/_models.py", 829,
                code="raise HTTPStatusError(message, request=request, response=self)"),), dep_code="503"),
    ErrorKind("bad-json", "python", ("http",), "json.decoder.JSONDecodeError", "Expecting value: {JsonPos}", (
        Frame("raw_decode", PY_LIB + "json/decoder.py", 355, code='raise JSONDecodeError("Expecting value", s, err.value) from None'),
        Frame("decode", PY_LIB + "json/decoder.py", 337, code="obj, end = self.raw_decode(s, idx=_w(s, 0).end())"),
        Frame("loads", PY_LIB + "json/__init__.py", 346, code="return _default_decoder.decode(s)"),
        Frame("json", PY_LIB + "site-packages/httpx/_models.py", 832, code="return jsonlib.loads(self.content, **kwargs)"))),
    ErrorKind("pg-timeout", "python", ("sql", "sqlw"), "sqlalchemy.exc.DBAPIError",
         "(sqlalchemy.dialects.postgresql.asyncpg.Error) <class 'asyncpg.exceptions.QueryCanceledError'>: canceling statement "
         "due to statement timeout\n[SQL: $data]\n(Background on this error at: https://sqlalche.me/e/20/dbapi)",
         SQLALCHEMY_EXECUTE, dep_code="", dep_ms=(30000, 30020)),
    ErrorKind("pg-unique", "python", ("sqlw",), "sqlalchemy.exc.IntegrityError",
         "(sqlalchemy.dialects.postgresql.asyncpg.IntegrityError) <class 'asyncpg.exceptions.UniqueViolationError'>: duplicate "
         "key value violates unique constraint \"${attr}_pkey\"\nDETAIL:  Key (id)=({ShipmentId}) already exists.\n[SQL: $data]\n"
         "(Background on this error at: https://sqlalche.me/e/20/gkpj)", SQLALCHEMY_EXECUTE),
    ErrorKind("pg-refused", "python", ("sql", "sqlw"), "ConnectionRefusedError", "[Errno 111] Connect call failed ('10.0.6.4', 5432)", (
        Frame("sock_connect", PY_LIB + "asyncio/selector_events.py", 651, code="return await fut"),
        Frame("_create_ssl_connection", PY_LIB + "site-packages/asyncpg/connect_utils.py", 777,
              code="tr, pr = await loop.create_connection("),
        *SQLALCHEMY_EXECUTE[1:])),
    ErrorKind("blob-missing", "python", ("blob",), "azure.core.exceptions.ResourceNotFoundError",
         "The specified blob does not exist.\nRequestId:{CorrelationId}\nTime:{IsoClock}\nErrorCode:BlobNotFound", BLOB_DOWNLOAD),
    ErrorKind("blob-auth", "python", ("blob",), "azure.core.exceptions.ClientAuthenticationError",
         "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including "
         "the signature.\nRequestId:{CorrelationId}\nTime:{IsoClock}\nErrorCode:AuthenticationFailed", BLOB_DOWNLOAD),
    ErrorKind("key-error", "python", ("logic",), "KeyError", "'$attr'", code='value = payload["$attr"]'),
    ErrorKind("none-subscript", "python", ("logic",), "TypeError", "'NoneType' object is not subscriptable", code='return record["$attr"]'),
    ErrorKind("none-attribute", "python", ("logic",), "AttributeError", "'NoneType' object has no attribute '$attr'",
         code="return item.$attr"),
    ErrorKind("decimal-float", "python", ("logic",), "TypeError", "unsupported operand type(s) for *: 'decimal.Decimal' and 'float'",
         code='return Decimal(row["$attr"]) * factor'),
    ErrorKind("int-literal", "python", ("logic",), "ValueError", "invalid literal for int() with base 10: '{Quantity}.0'",
         code='return int(row["$attr"])'),
    ErrorKind("zero-division", "python", ("logic",), "ZeroDivisionError", "division by zero", code='return reserved / totals["$attr"]'),
    ErrorKind("isoformat", "python", ("logic",), "ValueError", "Invalid isoformat string: '{Clock}'",
         code='return datetime.fromisoformat(doc["$attr"])'),
    # Node.js (checkout-web)
    ErrorKind("undefined-read", "node", ("logic",), "TypeError", "Cannot read properties of undefined (reading '$attr')"),
    ErrorKind("null-read", "node", ("logic",), "TypeError", "Cannot read properties of null (reading '$attr')"),
    ErrorKind("not-a-function", "node", ("logic",), "TypeError", "$attr.map is not a function"),
    ErrorKind("invalid-time", "node", ("logic",), "RangeError", "Invalid time value", (Frame("Date.toISOString", "<anonymous>"),)),
    ErrorKind("stack-overflow", "node", ("logic",), "RangeError", "Maximum call stack size exceeded"),
    ErrorKind("hang-up", "node", ("http",), "FetchError", "request to $url failed, reason: socket hang up", NODE_FETCH,
         dep_code="", dep_ms=(100, 3000)),
    ErrorKind("refused", "node", ("http",), "FetchError", "request to $url failed, reason: connect ECONNREFUSED {PodIp}:443", NODE_FETCH,
         dep_code="", dep_ms=(1, 20)),
    ErrorKind("fetch-timeout", "node", ("http",), "FetchError", "network timeout at: $url", NODE_FETCH, dep_code="",
         dep_ms=(8000, 8010)),
    ErrorKind("upstream-502", "node", ("http",), "UpstreamError", "$host responded 502 Bad Gateway", dep_code="502", status="502"),
    ErrorKind("html-body", "node", ("http",), "SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON", (
        Frame("JSON.parse", "<anonymous>"),
        Frame("", "/home/site/wwwroot/node_modules/node-fetch/lib/index.js", 273, 15),
        Frame("process.processTicksAndRejections", "node:internal/process/task_queues", 95, 5))),
    ErrorKind("redis-retries", "node", ("cache",), "MaxRetriesPerRequestError",
         "Reached the max retries per request limit (which is 20). Refer to \"maxRetriesPerRequest\" option for details.",
         IOREDIS, dep_code="", dep_ms=(2000, 9000)),
    ErrorKind("redis-closed", "node", ("cache",), "Error", "Connection is closed.", (
        Frame("close", "/home/site/wwwroot/node_modules/ioredis/built/redis/event_handler.js", 189, 25), *IOREDIS[1:]),
         dep_code="", dep_ms=(0.2, 3)),
    # Go (catalog-svc): panics with goroutine dumps, or errors wrapped on their way up and logged
    ErrorKind("nil-pointer", "go", ("logic", "sql", "cache", "http"), "runtime.Error",
         "runtime error: invalid memory address or nil pointer dereference",
         (GO_PANIC, Frame("runtime.panicmem", "/usr/local/go/src/runtime/panic.go", 262),
          Frame("runtime.sigpanic", "/usr/local/go/src/runtime/signal_unix.go", 917))),
    ErrorKind("index-range", "go", ("logic",), "runtime.boundsError", "runtime error: index out of range [{Length}] with length {Length}",
         (GO_PANIC, Frame("runtime.goPanicIndex", "/usr/local/go/src/runtime/panic.go", 115))),
    ErrorKind("nil-map", "go", ("logic",), "runtime.plainError", "assignment to entry in nil map",
         (GO_PANIC, Frame("runtime.mapassign_faststr", "/usr/local/go/src/runtime/map_faststr.go", 224))),
    ErrorKind("interface-nil", "go", ("logic",), "runtime.TypeAssertionError", "interface conversion: interface {{}} is nil, not string",
         (GO_PANIC, Frame("runtime.panicdottypeE", "/usr/local/go/src/runtime/iface.go", 262))),
    ErrorKind("no-rows", "go", ("sql",), "", "sql: no rows in result set", panic=False),
    ErrorKind("statement-timeout", "go", ("sql",), "", "pq: canceling statement due to statement timeout", dep_code="",
         dep_ms=(5000, 5020), panic=False),
    ErrorKind("pg-refused", "go", ("sql",), "", "dial tcp 10.0.5.7:5432: connect: connection refused", dep_code="", dep_ms=(0.5, 3),
         panic=False),
    ErrorKind("pool-timeout", "go", ("cache",), "", "redis: connection pool timeout", dep_code="", dep_ms=(4000, 4004), panic=False),
    ErrorKind("io-timeout", "go", ("cache",), "", "dial tcp 10.0.4.12:6380: i/o timeout", dep_code="", dep_ms=(3000, 3006), panic=False),
    ErrorKind("deadline", "go", ("http",), "", "Get \"$url\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
         dep_code="", dep_ms=(2000, 2004), status="504", panic=False),
    ErrorKind("status-503", "go", ("http",), "", "unexpected status 503 Service Unavailable", dep_code="503", status="502",
         panic=False),
    ErrorKind("unmarshal", "go", ("http",), "", "json: cannot unmarshal string into Go struct field Stock.available of type int",
         panic=False),
    ErrorKind("parse-float", "go", ("logic",), "", "strconv.ParseFloat: parsing \"{CommaAmount}\": invalid syntax", panic=False),
)

# --- the days' services, their parts and operations ----------------------------------------------

PROMOTIONS = "http://promotions-svc.shop.svc.cluster.local:3000"

DAYS_SERVICES: dict[str, Service] = {
    **SERVICES,
    # Wed 09:05 Amsterdam; the night's release (4.19) follows this one
    "orders-api": replace(SERVICES["orders-api"], release_minute=1440 + 485, version="4.17.1.0", released="4.18.0.0"),
    "catalog-svc": replace(SERVICES["catalog-svc"], release_minute=2880 + 810, version="v1.41.2", released="v1.42.0"),
    "payments-worker": replace(SERVICES["payments-worker"], release_minute=1440 + 840, version="2.31.4",
                               released="2.32.0"),
    # Node.js on AKS: Fastify's pino logger, the Azure Monitor OpenTelemetry distro and the pino
    # instrumentation (trace context in each line; its log sending to App Insights switched off)
    "promotions-svc": Service("promotions-svc", "node", "aks", "klm_node20:otel1.30.1:dst1.11.0", PROMOTIONS,
                              version="1.7.3"),
}

ORDERS_API = "https://orders-api.contoso-shop.com"
PAYMENTS = "https://payments.contoso-shop.com"
SHIPPING_API = "http://shipping-svc.shop.svc.cluster.local:8000"

PARTS: dict[str, Part] = {p.key: p for p in (
    # orders-api
    Part("cart-load", "sql", cs("Contoso.Orders.Data.CartRepository", "GetAsync"), CART_SQL, "Carts"),
    Part("order-load", "sql", cs("Contoso.Orders.Data.OrderRepository", "GetAsync"), GET_ORDER_SQL, "Orders"),
    Part("order-page", "sql", cs("Contoso.Orders.Data.OrderRepository", "ListForCustomerAsync"), LIST_ORDERS_SQL, "Orders"),
    Part("address-load", "sql", cs("Contoso.Orders.Data.AddressRepository", "GetDefaultAsync"), sql_dep(
        "SELECT TOP(1) [a].[Id], [a].[Street], [a].[PostalCode], [a].[City], [a].[Country] FROM [Addresses] AS [a] "
        "WHERE [a].[CustomerId] = @__customerId_0 AND [a].[IsDefault] = CAST(1 AS bit)"), "Addresses"),
    Part("order-insert", "sqlw", cs("Contoso.Orders.Data.OrderRepository", "InsertAsync"), sql_dep(SQL_INSERT_ORDER), "Orders"),
    Part("order-status", "sqlw", cs("Contoso.Orders.Data.OrderRepository", "UpdateStatusAsync"), sql_dep(SQL_CANCEL), "Orders"),
    Part("return-insert", "sqlw", cs("Contoso.Orders.Data.ReturnRepository", "InsertAsync"), sql_dep(
        "SET IMPLICIT_TRANSACTIONS OFF; SET NOCOUNT ON; INSERT INTO [Returns] ([Id], [OrderId], [Reason], [CreatedAt]) "
        "VALUES (@p0, @p1, @p2, @p3);"), "Returns"),
    Part("inventory-reserve", "http", cs("Contoso.Orders.Inventory.InventoryClient", "ReserveAsync"), RESERVE_HTTP, "expiresAt"),
    Part("inventory-release", "http", cs("Contoso.Orders.Inventory.InventoryClient", "ReleaseAsync"),
         http_dep("DELETE", "https://inventory-func.azurewebsites.net/api/reservations/{ReservationId}", "204"), "released"),
    Part("refund-request", "http", cs("Contoso.Orders.Payments.PaymentsClient", "RefundAsync"),
         http_dep("POST", PAYMENTS + "/v1/payments/{PaymentId}/refunds", "201"), "amount"),
    Part("rates-fetch", "http", cs("Contoso.Orders.Shipping.ShippingClient", "GetRatesAsync"),
         http_dep("GET", SHIPPING_API + "/api/rates?country={Country}"), "price"),
    Part("cart-cache", "cache", cs("Contoso.Orders.Caching.CartCache", "GetAsync"),
         Dep("Redis", REDIS, "GET", "GET cart:{CartId}", "", True, (0.4, 4)), "cart:{CartId}"),
    Part("pricing", "logic", cs("Contoso.Orders.Pricing.PriceCalculator", "Calculate", sync=True), attr="{Sku}"),
    Part("tax", "logic", cs("Contoso.Orders.Pricing.TaxCalculator", "RateFor", sync=True), attr="{Country}"),
    Part("shipping-fee", "logic", cs("Contoso.Orders.Pricing.ShippingFeeCalculator", "Calculate", sync=True), attr="{Country}"),
    Part("order-mapper", "logic", cs("Contoso.Orders.Api.Mapping.OrderMapper", "ToDto", sync=True), attr="{OrderId}"),
    Part("return-policy", "logic", cs("Contoso.Orders.Returns.ReturnPolicy", "Evaluate", sync=True), attr="{Sku}"),
    Part("outbox", "bus", cs("Contoso.Orders.Messaging.OutboxPublisher", "PublishAsync"),
         Dep("Azure Service Bus", f"{SB_HOST} | order-events", "Message", "", "", True, (5, 40)), "order-events"),
    # notifications-func
    Part("mail-send", "http", cs("Contoso.Notifications.Email.SendGridEmailSender", "SendAsync"),
         http_dep("POST", "https://api.sendgrid.com/v3/mail/send", "202", (60, 400)), "message_id"),
    Part("sms-send", "http", cs("Contoso.Notifications.Sms.TwilioSmsSender", "SendAsync"),
         http_dep("POST", "https://api.twilio.com/2010-04-01/Accounts/AC3f1c2b7e/Messages.json", "201", (80, 500)), "price"),
    Part("order-fetch", "http", cs("Contoso.Notifications.Orders.OrdersApiClient", "GetOrderAsync"),
         http_dep("GET", ORDERS_API + "/api/orders/{OrderId}"), "total"),
    Part("template-render", "logic", cs("Contoso.Notifications.Templates.LiquidRenderer", "Render", sync=True), attr="{Locale}"),
    Part("recipient", "logic", cs("Contoso.Notifications.Recipients.RecipientResolver", "Resolve", sync=True),
         attr="{CustomerId}"),
    Part("abandoned-carts", "sql", cs("Contoso.Notifications.Data.CartQueries", "AbandonedSinceAsync"), sql_dep(
        "SELECT [c].[Id], [c].[CustomerId], [c].[UpdatedAt] FROM [Carts] AS [c] WHERE [c].[UpdatedAt] < @__since_0 "
        "AND [c].[ReminderSentAt] IS NULL"), "Carts"),
    # payments-worker
    Part("payment-load", "sql", jv("com.contoso.payments.store.PaymentStore", "load"), PG_SELECT, "payments"),
    Part("payment-save", "sqlw", jv("com.contoso.payments.store.PaymentStore", "save"), PG_UPDATE, "payments"),
    Part("refund-insert", "sqlw", jv("com.contoso.payments.store.RefundStore", "insert"), pg_dep(
        PG, "INSERT refunds", "insert into refunds (amount,currency,payment_id,reason,id) values (?,?,?,?,?)"), "refunds"),
    Part("settlement-query", "sql", jv("com.contoso.payments.settlement.SettlementQueries", "capturedBetween"), pg_dep(
        PG, "SELECT payments", "select p1_0.id,p1_0.amount,p1_0.fee from payments p1_0 where p1_0.captured_at between ? and ?",
        (40, 900)), "payments"),
    Part("psp-capture", "http", jv("com.contoso.payments.psp.PspClient", "capture"), CAPTURE,
         "com.contoso.payments.psp.CaptureResponse"),
    Part("psp-refund", "http", jv("com.contoso.payments.psp.PspClient", "refund"),
         http_dep("POST", "https://api.payhub.example/v1/payments/{PaymentId}/refunds", "201", (120, 900)),
         "com.contoso.payments.psp.RefundResponse"),
    Part("fraud-score", "http", jv("com.contoso.payments.fraud.FraudClient", "score"),
         http_dep("POST", "https://fraud.contoso-shop.com/v2/score", "200", (30, 250)), "com.contoso.payments.fraud.Score"),
    Part("ledger-post", "http", jv("com.contoso.payments.ledger.LedgerClient", "post"),
         http_dep("POST", "https://ledger.contoso-shop.com/v1/entries", "201", (20, 180)),
         "com.contoso.payments.ledger.LedgerEntry"),
    Part("net-amount", "logic", jv("com.contoso.payments.money.AmountCalculator", "netAmount"),
         attr="com.contoso.payments.model.Payment.getAmount"),
    Part("fee", "logic", jv("com.contoso.payments.money.FeeCalculator", "fee"),
         attr="com.contoso.payments.model.Merchant.getFeeRate"),
    Part("fx", "logic", jv("com.contoso.payments.fx.CurrencyConverter", "toEur"),
         attr="com.contoso.payments.fx.RateTable.rateFor"),
    Part("payment-events", "bus", jv("com.contoso.payments.events.PaymentEventPublisher", "publish"),
         Dep("Azure Service Bus", f"{SB_HOST} | payment-events", "Message", "", "", True, (5, 40)), "payment-events"),
    # inventory-func
    Part("stock-read", "nosql", py("read_level", "/home/site/wwwroot/inventory/store.py",
                                   "return container.read_item(item=sku, partition_key=warehouse)"),
         Dep("Azure DocumentDB", COSMOS, "Read Document", "", "200", True, (3, 18)), call="level = store.read_level(sku, warehouse)"),
    Part("stock-write", "nosql", py("write_level", "/home/site/wwwroot/inventory/store.py",
                                    "return container.upsert_item(doc, etag=etag, match_condition=MatchConditions.IfNotModified)"),
         COSMOS_UPSERT, call="store.write_level(level)"),
    Part("wms-levels", "http", py("fetch_levels", "/home/site/wwwroot/inventory/warehouse.py",
                                  "resp = await client.get(f\"/stock-levels?warehouse={warehouse}\")"),
         http_dep("GET", WMS + "/stock-levels?warehouse={Warehouse}", "200", (200, 4000)), call="levels = await wms.fetch_levels(warehouse)"),
    Part("reservation-parse", "logic", py("parse_reservation", "/home/site/wwwroot/inventory/reservations.py", ""), attr="quantity",
         call="reservation = parse_reservation(msg.get_json())"),
    Part("availability", "logic", py("available_after", "/home/site/wwwroot/inventory/stock.py", ""), attr="on_hand",
         call="available = available_after(level, reservation)"),
    Part("expiry", "logic", py("is_expired", "/home/site/wwwroot/inventory/reservations.py", ""), attr="expires_at",
         call="if is_expired(reservation, now):"),
    # shipping-svc
    Part("postnl-label", "http", py("create_label", "/app/shipping/carriers/postnl.py",
                                    "resp = await self._client.post(\"/shipment/v2_2/label\", json=body)"),
         http_dep("POST", "https://api.postnl.nl/shipment/v2_2/label"), call="label = await carrier.create_label(shipment)"),
    Part("dhl-rates", "http", py("quote", "/app/shipping/carriers/dhl.py", "resp = await self._client.get(\"/rates\", params=query)"),
         http_dep("GET", "https://express.api.dhl.com/mydhlapi/rates"), call="quotes = await dhl.quote(parcel)"),
    Part("tracking-fetch", "http", py("track", "/app/shipping/carriers/tracking.py",
                                      "resp = await self._client.get(f\"/track/{tracking_no}\")"),
         http_dep("GET", "https://api.aftership.com/tracking/2024-10/trackings/{TrackingNo}"),
         call="events = await tracker.track(shipment.tracking_no)"),
    Part("shipment-load", "sql", py("get", "/app/shipping/store.py", "result = await session.execute(stmt)"),
         pg_dep(SHIPPING_PG, "SELECT shipments", "SELECT shipments.id, shipments.order_id, shipments.carrier, shipments.status "
                "FROM shipments WHERE shipments.id = $1::VARCHAR"), "shipments", "shipment = await store.get(shipment_id)"),
    Part("shipment-insert", "sqlw", py("add", "/app/shipping/store.py", "await session.commit()"),
         pg_dep(SHIPPING_PG, "INSERT shipments", "INSERT INTO shipments (id, order_id, carrier, weight_kg, status) VALUES "
                "($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::NUMERIC, $5::VARCHAR)"), "shipments",
         "await store.add(shipment)"),
    Part("label-blob", "blob", py("load_label", "/app/shipping/labels/storage.py",
                                  "stream = await container.download_blob(f\"{shipment_id}.pdf\")"),
         attr="labels", call="pdf = await storage.load_label(shipment.id)"),
    Part("parcel-weight", "logic", py("billable_weight", "/app/shipping/parcels.py", ""), attr="weight_kg",
         call="weight = billable_weight(parcel)"),
    Part("address-normalize", "logic", py("normalize", "/app/shipping/addresses.py", ""), attr="postal_code",
         call="address = normalize(payload.address)"),
    Part("customs", "logic", py("customs_lines", "/app/shipping/customs.py", ""), attr="hs_code",
         call="lines = customs_lines(order)"),
    # checkout-web
    Part("cart-fetch", "http", js("async fetchCart", "clients/orders.js"), CHECKOUT_CART, "items"),
    Part("order-submit", "http", js("async submitOrder", "clients/orders.js"),
         http_dep("POST", ORDERS_API + "/api/orders", "201", (80, 600)), "orderId"),
    Part("payment-session", "http", js("async createPaymentSession", "clients/payments.js"),
         http_dep("POST", PAYMENTS + "/v1/sessions", "201", (30, 200)), "redirectUrl"),
    Part("rates-lookup", "http", js("async fetchShippingRates", "clients/shipping.js"),
         http_dep("GET", ORDERS_API + "/api/shipping/quote?cartId={CartId}"), "options"),
    Part("session-load", "cache", js("async loadSession", "session/store.js"),
         Dep("Redis", REDIS, "GET", "GET sess:{SessionId}", "", True, (0.3, 3)), "sess"),
    Part("totals", "logic", js("computeTotals", "cart/totals.js"), attr="total"),
    Part("summary", "logic", js("buildSummary", "cart/summary.js"), attr="lines"),
    Part("address-format", "logic", js("formatAddress", "checkout/address.js"), attr="postalCode"),
    Part("delivery-estimate", "logic", js("estimateDelivery", "checkout/delivery.js"), attr="cutoff"),
    Part("promotion", "logic", js("applyPromotion", "cart/promotions.js"), attr="discount"),
    # catalog-svc
    Part("price-query", "sql", gof("pricing.(*Store).ForSKU", "pricing/store.go"), pg_dep(
        CATALOG_PG, "SELECT catalog.prices", "SELECT amount_cents, currency, valid_from FROM prices WHERE sku = $1 "
        "AND valid_from <= now() ORDER BY valid_from DESC LIMIT 1"), "query price"),
    Part("product-query", "sql", gof("catalog.(*Store).Product", "catalog/store.go"), PG_PRODUCT, "load product"),
    Part("search-query", "sql", gof("search.(*Index).Query", "search/index.go"), pg_dep(
        CATALOG_PG, "SELECT catalog.products", "SELECT sku, name, price_cents FROM products WHERE search @@ "
        "websearch_to_tsquery('dutch', $1) LIMIT 48", (5, 400)), "search products"),
    Part("category-query", "sql", gof("catalog.(*Store).Category", "catalog/store.go"), pg_dep(
        CATALOG_PG, "SELECT catalog.categories", "SELECT id, slug, parent_id, name FROM categories WHERE slug = $1"),
         "load category"),
    Part("product-cache", "cache", gof("cache.(*Redis).Get", "cache/redis.go"), REDIS_GET, "read cache"),
    Part("stock-lookup", "http", gof("inventory.(*Client).Stock", "inventory/client.go"),
         http_dep("GET", "https://inventory-func.azurewebsites.net/api/stock/{Sku}", "200", (5, 120)), "fetch stock"),
    Part("price-format", "logic", gof("pricing.Format", "pricing/format.go"), attr="format price"),
    Part("variant-pick", "logic", gof("catalog.pickVariant", "catalog/variants.go"), attr="pick variant"),
    Part("category-path", "logic", gof("catalog.(*Tree).Path", "catalog/tree.go"), attr="build category path"),
    Part("facet-count", "logic", gof("search.countFacets", "search/facets.go"), attr="count facets"),
)}


OPERATIONS: tuple[Operation, ...] = (
    Operation("orders-create", "orders-api", (cs("Contoso.Orders.OrderService", "PlaceAsync"), CREATE_ORDER, MVC_EXECUTE),
              ("cart-load", "pricing", "tax", "shipping-fee", "inventory-reserve", "order-insert", "outbox"),
              "Placing order for cart {CartId}", Req("POST Orders/Create", "/api/orders", "201", (5, 40))),
    Operation("orders-get", "orders-api", (cs("Contoso.Orders.Api.Controllers.OrdersController", "Get"), MVC_EXECUTE),
              ("order-load", "order-mapper"), "Loading order {OrderId}",
              Req("GET Orders/Get [id]", "/api/orders/{OrderId}", "200", (3, 30))),
    Operation("orders-list", "orders-api", (cs("Contoso.Orders.Api.Controllers.OrdersController", "List"), MVC_EXECUTE),
              ("order-page", "order-mapper"), "Listing orders for customer {CustomerId}",
              Req("GET Orders/List", "/api/orders?customerId={CustomerId}", "200", (3, 30))),
    Operation("orders-cancel", "orders-api", (cs("Contoso.Orders.OrderService", "CancelAsync"),
                                              cs("Contoso.Orders.Api.Controllers.OrdersController", "Cancel"), MVC_EXECUTE),
              ("order-load", "order-status", "inventory-release", "refund-request", "outbox"), "Cancelling order {OrderId}",
              Req("POST Orders/Cancel", "/api/orders/{OrderId}/cancel", "200", (3, 30))),
    Operation("returns-create", "orders-api", (cs("Contoso.Orders.Returns.ReturnService", "OpenAsync"),
                                               cs("Contoso.Orders.Api.Controllers.ReturnsController", "Create"), MVC_EXECUTE),
              ("order-load", "return-policy", "return-insert", "refund-request"), "Opening return for order {OrderId}",
              Req("POST Returns/Create", "/api/orders/{OrderId}/returns", "201", (5, 40))),
    Operation("shipping-quote", "orders-api", (cs("Contoso.Orders.Shipping.QuoteService", "QuoteAsync"),
                                               cs("Contoso.Orders.Api.Controllers.ShippingController", "Quote"), MVC_EXECUTE),
              ("cart-cache", "address-load", "rates-fetch", "shipping-fee", "tax"), "Quoting shipping for cart {CartId}",
              Req("GET Shipping/Quote", "/api/shipping/quote?cartId={CartId}", "200", (5, 60))),
    Operation("carts-get", "orders-api", (cs("Contoso.Orders.Api.Controllers.CartsController", "Get"), MVC_EXECUTE),
              ("cart-cache", "cart-load", "pricing"), "Loading cart {CartId}",
              Req("GET Carts/Get [id]", "/api/carts/{CartId}", "200", (2, 20))),
    Operation("notify-confirmation", "notifications-func",
              (cs("Contoso.Notifications.Functions.SendOrderConfirmation", "Run"),),
              ("order-fetch", "recipient", "template-render", "mail-send"), "Sending order confirmation for order {OrderId}",
              function="SendOrderConfirmation"),
    Operation("notify-shipped", "notifications-func", (cs("Contoso.Notifications.Functions.SendShipmentNotification", "Run"),),
              ("order-fetch", "template-render", "mail-send", "sms-send"),
              "Sending shipment notification for order {OrderId}", function="SendShipmentNotification"),
    Operation("notify-return-label", "notifications-func", (cs("Contoso.Notifications.Functions.SendReturnLabel", "Run"),),
              ("order-fetch", "recipient", "template-render", "mail-send"), "Sending return label for order {OrderId}",
              function="SendReturnLabel"),
    Operation("notify-abandoned", "notifications-func", (cs("Contoso.Notifications.Functions.RemindAbandonedCarts", "Run"),),
              ("abandoned-carts", "recipient", "template-render", "mail-send"), "Sending abandoned cart reminders",
              function="RemindAbandonedCarts", reason="Timer fired at {IsoClock}", schedule=(480.0, 1080.0)),
    Operation("payments-capture", "payments-worker",
              (jv("com.contoso.payments.capture.CaptureService", "capture"), *JAVA_SB_LISTENER),
              ("payment-load", "fraud-score", "fx", "fee", "psp-capture", "payment-save", "ledger-post", "payment-events"),
              "Capturing payment {PaymentId} (order {OrderId})", Req("payment-requests process", "", "0", (3, 30))),
    Operation("payments-refund", "payments-worker",
              (jv("com.contoso.payments.refund.RefundService", "refund"),
               jv("com.contoso.payments.refund.RefundHandler", "handle"), *JAVA_SB_LISTENER[1:]),
              ("payment-load", "net-amount", "psp-refund", "refund-insert", "ledger-post", "payment-events"),
              "Refunding payment {PaymentId} (order {OrderId})", Req("refund-requests process", "", "0", (3, 30))),
    Operation("payments-get", "payments-worker",
              (jv("com.contoso.payments.api.PaymentController", "get"), *JAVA_WEB),
              ("payment-load", "fx", "net-amount"), "Loading payment {PaymentId}",
              Req("GET /api/payments/{id}", "/api/payments/{PaymentId}", "200", (2, 20))),
    Operation("payments-settlement", "payments-worker",
              (jv("com.contoso.payments.settlement.SettlementReportJob", "run"), *JAVA_SCHEDULED),
              ("settlement-query", "fee", "fx", "net-amount", "ledger-post"), "Building settlement report {BatchId}",
              schedule=(60.0, 780.0)),
    Operation("inventory-reserve", "inventory-func", (py("reserve_stock", "/home/site/wwwroot/function_app.py", ""),),
              ("reservation-parse", "stock-read", "availability", "stock-write"),
              "Reserving stock for message {MessageId}", function="reserve_stock"),
    Operation("inventory-release", "inventory-func", (py("release_stock", "/home/site/wwwroot/function_app.py", ""),),
              ("reservation-parse", "stock-read", "stock-write"), "Releasing reservation {ReservationId}",
              function="release_stock"),
    Operation("inventory-stock", "inventory-func", (py("get_stock", "/home/site/wwwroot/function_app.py", ""),),
              ("stock-read", "availability"), "Looking up stock for {Sku}",
              Req("get_stock", "/api/stock/{Sku}", "200", (5, 40)), function="get_stock",
              reason="This function was programmatically called via the host APIs."),
    Operation("inventory-expire", "inventory-func", (py("expire_reservations", "/home/site/wwwroot/function_app.py", ""),),
              ("stock-read", "expiry", "stock-write"), "Expiring reservations", function="expire_reservations",
              reason="Timer fired at {IsoClock}", schedule=tuple(float(m) for m in range(7, 1440, 30))),
    Operation("inventory-wms", "inventory-func", (py("import_levels", "/home/site/wwwroot/function_app.py", ""),),
              ("wms-levels", "availability", "stock-write"), "Importing warehouse levels", function="import_levels",
              reason="Timer fired at {IsoClock}", schedule=tuple(float(m) for m in range(50, 1440, 180))),
    Operation("shipping-label", "shipping-svc", (py("create_label", "/app/shipping/api/labels.py", ""),),
              ("shipment-load", "parcel-weight", "address-normalize", "postnl-label", "label-blob"), "Creating label",
              Req("POST /api/labels", "/api/labels", "201")),
    Operation("shipping-rates", "shipping-svc", (py("get_rates", "/app/shipping/api/rates.py", ""),),
              ("parcel-weight", "dhl-rates", "address-normalize"), "Quoting rates", Req("GET /api/rates", "/api/rates", "200")),
    Operation("shipping-create", "shipping-svc", (py("create_shipment", "/app/shipping/api/shipments.py", ""),),
              ("address-normalize", "customs", "parcel-weight", "shipment-insert"), "Creating shipment",
              Req("POST /api/shipments", "/api/shipments", "201")),
    Operation("shipping-track", "shipping-svc", (py("get_tracking", "/app/shipping/api/tracking.py", ""),),
              ("shipment-load", "tracking-fetch"), "Tracking shipment",
              Req("GET /api/tracking/{id}", "/api/tracking/{TrackingNo}", "200")),
    Operation("checkout-page", "checkout-web", (js("async renderCheckout", "routes/checkout.js"),),
              ("session-load", "cart-fetch", "summary", "delivery-estimate", "address-format"), "",
              Req("GET /checkout", "/checkout", "200", (8, 60))),
    Operation("checkout-submit", "checkout-web", (js("async submitCheckout", "routes/checkout.js"),),
              ("session-load", "cart-fetch", "totals", "promotion", "order-submit", "payment-session"), "",
              Req("POST /checkout/submit", "/checkout/submit", "303", (10, 80))),
    Operation("cart-page", "checkout-web", (js("async renderCart", "routes/cart.js"),),
              ("session-load", "cart-fetch", "totals", "summary", "promotion"), "", Req("GET /cart", "/cart", "200", (5, 50))),
    Operation("cart-promo", "checkout-web", (js("async applyPromoCode", "routes/cart.js"),),
              ("cart-fetch", "promotion", "totals"), "", Req("POST /cart/promo", "/cart/promo", "200", (5, 50))),
    Operation("checkout-shipping", "checkout-web", (js("async shippingOptions", "routes/checkout.js"),),
              ("session-load", "rates-lookup", "delivery-estimate", "address-format"), "",
              Req("GET /checkout/shipping", "/checkout/shipping", "200", (10, 90))),
    Operation("catalog-product", "catalog-svc", (gof("api.(*Server).getProduct", "api/products.go"), *GO_HTTP_SERVE),
              ("product-cache", "product-query", "price-query", "stock-lookup", "variant-pick", "price-format"), "get product {Sku}",
              Req("GET /api/products/:sku", "/api/products/{Sku}", "200", (1, 12))),
    Operation("catalog-list", "catalog-svc", (gof("api.(*Server).listProducts", "api/products.go"), *GO_HTTP_SERVE),
              ("category-query", "search-query", "price-query", "price-format", "facet-count"), "list products",
              Req("GET /api/products", "/api/products?category={Country}", "200", (2, 40))),
    Operation("catalog-search", "catalog-svc", (gof("api.(*Server).search", "api/search.go"), *GO_HTTP_SERVE),
              ("search-query", "product-cache", "facet-count", "price-format"), "search",
              Req("GET /api/search", "/api/search?q={Sku}", "200", (3, 80))),
    Operation("catalog-category", "catalog-svc", (gof("api.(*Server).getCategory", "api/categories.go"), *GO_HTTP_SERVE),
              ("category-query", "category-path", "product-cache"), "get category",
              Req("GET /api/categories/:slug", "/api/categories/{Locale}", "200", (1, 15))),
)

# Generated causes that would repeat one of the night's hand-written ones.
NIGHT_TWINS = frozenset({
    "orders-list-order-page-sql-timeout", "orders-create-inventory-reserve-http-503", "checkout-submit-totals-undefined-read",
    "catalog-product-product-cache-io-timeout", "payments-capture-psp-capture-rest-timeout",
    "inventory-reserve-reservation-parse-key-error", "checkout-submit-payment-session-upstream-502",
    "notify-confirmation-mail-send-http-500",
})

# orders-processor: a stage of order handling and why it gave up, written to OrdersService_CL
ORDER_STAGES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("payment", "Payment capture for order {OrderId}", (
        ("authorization-expired", "authorization {PaymentId} expired before capture"),
        ("amount-mismatch", "captured amount differs from order total {Total} EUR"),
        ("currency", "merchant account contoso-eu does not accept currency CHF"))),
    ("reservation", "Stock reservation for order {OrderId}", (
        ("discontinued", "SKU {Sku} is discontinued"),
        ("no-location", "warehouse {Warehouse} has no stock location for SKU {Sku}"),
        ("released", "reservation {ReservationId} was released by another order"))),
    ("fulfillment", "Fulfillment request for order {OrderId}", (
        ("unknown-sku", "warehouse {Warehouse} does not know SKU {Sku}"),
        ("carrier-country", "carrier {Carrier} does not deliver to {Country}"),
        ("too-many-lines", "pick list has more than 50 lines"))),
    ("invoice", "Invoice for order {OrderId}", (
        ("vat", "no VAT rate configured for country {Country}"),
        ("sequence", "invoice number sequence INV-2026 is exhausted"),
        ("billing-address", "customer {CustomerId} has no billing address"))),
    ("shipment", "Shipment booking for order {OrderId}", (
        ("overweight", "parcel exceeds the 31.5 kg limit of {Carrier}"),
        ("service-point", "service point for postal code {PostalCode} is closed"))),
    ("refund", "Refund for order {OrderId}", (
        ("over-refund", "refund exceeds the captured amount of payment {PaymentId}"),
        ("too-old", "payment {PaymentId} was captured more than 180 days ago"))),
    ("loyalty", "Loyalty points for order {OrderId}", (
        ("not-enrolled", "customer {CustomerId} is not enrolled in the loyalty programme"),)),
    ("fraud", "Fraud screening for order {OrderId}", (
        ("blocked-email", "e-mail domain of {CustomerEmail} is on the block list"),
        ("velocity", "more than 5 orders from {ClientIp} within 10 minutes"))),
)

# ingress-nginx: what went wrong with the upstream, and the routes it happened on
NGINX_ERRORS: tuple[tuple[str, str, int], ...] = (
    ("timeout", "upstream timed out (110: Operation timed out) while reading response header from upstream", 504),
    ("refused", "connect() failed (111: Connection refused) while connecting to upstream", 502),
    ("closed", "upstream prematurely closed connection while reading response header from upstream", 502),
    ("reset", "recv() failed (104: Connection reset by peer) while reading response header from upstream", 502),
    ("no-live", "no live upstreams while connecting to upstream", 502),
)
NGINX_ROUTES: tuple[tuple[str, str, str, str, str], ...] = (
    ("product", "GET", "/api/products/{Sku}", "shop-catalog-svc-8080", "api.contoso-shop.com"),
    ("search", "GET", "/api/search?q={Sku}", "shop-catalog-svc-8080", "api.contoso-shop.com"),
    ("webhook", "POST", "/webhooks/psp", "shop-payments-worker-8080", "payments.contoso-shop.com"),
    ("label", "POST", "/api/labels", "shop-shipping-svc-8000", "shipping.contoso-shop.com"),
    ("tracking", "GET", "/api/tracking/{TrackingNo}", "shop-shipping-svc-8000", "shipping.contoso-shop.com"),
)

# Traffic by hour of day in UTC: quiet nights, business hours, the evening peak (Amsterdam is UTC+1).
HOURLY = (0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.0, 1.0, 1.0, 1.05, 1.0, 0.95, 0.95, 0.9, 0.85, 0.9, 1.1, 1.2,
          1.15, 0.8, 0.45, 0.25)
BUSINESS_HOURS = range(7, 17)

# promotions-svc (Node.js on AKS): its routes log one line of their own on any failure, so a `msg`
# stands for several root causes; the `err` pino serializes and its stack tell them apart.
PROMO_PG = "promotions-pg.postgres.database.azure.com | promotions"
PROMO_RULES = Dep("Redis", REDIS, "GET", "GET promo:rules:{Country}", "", True, (0.3, 3))
PROMO_COUPON = pg_dep(PROMO_PG, "SELECT promotions.coupons",
                      "SELECT code, percent_off, valid_until, conditions FROM coupons WHERE code = $1", (1, 15))
PROMO_EVALUATE = Req("POST /v1/evaluate", "/v1/evaluate", "200", (2, 25))
PROMO_LOOKUP = Req("GET /v1/coupons/:code", "/v1/coupons/{CouponCode}", "200", (1, 12))
EVALUATE_ROUTE = Frame("async Object.evaluateRoute", "/app/src/routes/evaluate.js", 18, 32)

THRESHOLD_UNDEFINED = Fault("TypeError", "Cannot read properties of undefined (reading 'minSpend')", (
    Frame("thresholdDiscount", "/app/src/rules/threshold.js", 23, 31),
    Frame("Array.map", "<anonymous>"),
    Frame("evaluateCart", "/app/src/evaluate.js", 41, 28),
    EVALUATE_ROUTE,
))
STACKING_OVERFLOW = Fault("RangeError", "Maximum call stack size exceeded", (  # V8 keeps 10 frames
    Frame("resolveStacking", "/app/src/rules/stacking.js", 58, 12),
    *(Frame("resolveStacking", "/app/src/rules/stacking.js", 64, 14),) * 9,
))
RULES_REDIS = Fault(
    "MaxRetriesPerRequestError",
    'Reached the max retries per request limit (which is 20). Refer to "maxRetriesPerRequest" option for details.', (
        Frame("Socket.<anonymous>", "/app/node_modules/ioredis/built/redis/event_handler.js", 182, 37),
        Frame("Object.onceWrapper", "node:events", 634, 26),
        Frame("Socket.emit", "node:events", 519, 28),
        Frame("TCP.<anonymous>", "node:net", 339, 12),
    ),
)
COUPON_TIMEOUT = Fault("Error", "Query read timeout", (
    Frame("Timeout._onTimeout", "/app/node_modules/pg/lib/client.js", 545, 21),
    Frame("listOnTimeout", "node:internal/timers", 594, 17),
    Frame("process.processTimers", "node:internal/timers", 529, 7),
))
COUPON_CONDITIONS = Fault("SyntaxError", "Unexpected end of JSON input", (
    Frame("JSON.parse", "<anonymous>"),
    Frame("parseConditions", "/app/src/coupons/conditions.js", 12, 15),
    Frame("validateCoupon", "/app/src/coupons/validate.js", 30, 22),
    Frame("async Object.couponRoute", "/app/src/routes/coupons.js", 23, 26),
))

# (cause, route's request, its dependency call as it went, the fault, the route's own log line)
PROMO_FAILURES: tuple[tuple[str, Req, Dep, Fault, str], ...] = (
    ("promotions-threshold-undefined", PROMO_EVALUATE, PROMO_RULES, THRESHOLD_UNDEFINED, "promotion evaluation failed"),
    ("promotions-stacking-overflow", PROMO_EVALUATE, PROMO_RULES, STACKING_OVERFLOW, "promotion evaluation failed"),
    ("promotions-rules-redis", PROMO_EVALUATE, replace(PROMO_RULES, ok=False, ms=(2000, 9000)), RULES_REDIS,
     "promotion evaluation failed"),
    ("promotions-coupon-timeout", PROMO_LOOKUP, replace(PROMO_COUPON, ok=False, ms=(5000, 5010)), COUPON_TIMEOUT,
     "coupon lookup failed"),
    ("promotions-coupon-conditions", PROMO_LOOKUP, PROMO_COUPON, COUPON_CONDITIONS, "coupon lookup failed"),
)

# fmt: on


# --- building the days --------------------------------------------------------------------------


def _bound(text: str, part: Part) -> str:
    """A kind's text about one part: `$attr`, `$url`, `$host`, `$data` filled in."""
    dep = part.dep
    return Template(text).substitute(
        attr=part.attr,
        url=dep.data if dep else "",
        host=dep.target if dep else "",
        data=dep.data if dep else "",
    )


def _python_lib(frames: Iterable[Frame], service: str) -> tuple[Frame, ...]:
    version = PY_VERSIONS.get(service, "3.12")
    return tuple(f._replace(file=f.file.replace("python3.X", f"python{version}")) for f in frames)


def _bound_fault(fault: Fault, part: Part, service: str) -> Fault:
    cause = _bound_fault(fault.cause, part, service) if fault.cause else None
    frames = _python_lib(fault.frames, service)
    return replace(fault, message=_bound(fault.message, part), frames=frames, cause=cause)


def _fault(op: Operation, part: Part, kind: ErrorKind) -> Fault:
    """The exception: the kind's library frames, the part's, then the operation's own ones."""
    own = part.frame._replace(code=_bound(kind.code, part)) if kind.code else part.frame
    caller = op.entry[0]._replace(line=_line(op.key + part.key), code=part.call)
    glue = (RETHROW,) if own.func.endswith("MoveNext") else ()
    frames = (*kind.frames, own, *glue, caller, *op.entry[1:])
    message = _bound(kind.message, part)
    headline = ""
    if kind.runtime == "go" and op.req is not None:  # net/http recovers it and logs this line
        frames = (GO_RECOVER, *frames)
        headline = f"http: panic serving {{PodIp}}:{{Port}}: {message}"
    cause = _bound_fault(kind.cause, part, op.service) if kind.cause else None
    return Fault(kind.type, message, _python_lib(frames, op.service), cause, headline)


def _class_of(func: str) -> str:
    return func.split("+<")[0] if "+<" in func else func.rsplit(".", 1)[0]


def _failure_signals(op: Operation, part: Part, kind: ErrorKind) -> tuple[Signal, ...]:
    """What one occurrence writes, in the shape the service's runtime and hosting write it."""
    fault = _fault(op, part, kind)
    deps: tuple[Signal, ...] = ()
    if part.dep is not None:
        failed = replace(part.dep, code=kind.dep_code or "", ok=False, ms=kind.dep_ms)
        deps = (part.dep if kind.dep_code is None else failed,)
    reqs: tuple[Req, ...] = ()
    if op.req is not None:
        reqs = (
            replace(op.req, ok=False) if op.req.code == "0" else replace(op.req, code=kind.status),
        )
    logged = f"{op.action} failed: {fault.message.splitlines()[0]}"
    match op.service:
        case "orders-api":
            return (*reqs, *deps, Exc(fault), Trace(logged, 3, _class_of(op.entry[0].func)))
        case "notifications-func":
            user = FuncLog("Error", logged, f"Function.{op.function}.User", op.function)
            return invocation(op.function, op.reason, *deps, user, Exc(fault), fault=fault)
        case "inventory-func":
            trigger = (sb_details(op.function),) if op.reason == "(null)" else ()
            user = FuncLog("Error", logged, f"Function.{op.function}.User", op.function)
            return (
                *reqs,
                *invocation(
                    op.function,
                    op.reason,
                    *trigger,
                    *deps,
                    user,
                    Trace(logged, 3, "function_app"),
                    Exc(fault),
                    fault=fault,
                ),
            )
        case "checkout-web":
            return (*reqs, *deps, Exc(fault), Console("Error", "", fault))
        case "payments-worker":
            logger = _class_of(op.entry[0].func)
            line = f"{op.action} failed"  # SLF4J: the message, the exception goes separately
            return (
                *reqs,
                *deps,
                Exc(fault),
                Trace(line, 3, logger),
                Container(line, "error", fields=logstash(logger), fault=fault),
            )
        case "shipping-svc" if op.req is not None:
            asgi = Container(
                "ERROR:    Exception in ASGI application", "error", "stderr", fault=fault
            )
            return (asgi, uvicorn(op.req.name.split()[0], op.req.path, "500 Internal Server Error"))
        case "catalog-svc" if kind.panic:
            return (*reqs, *deps, Exc(fault, 4), Container("", "unknown", "stderr", fault=fault))
        case "catalog-svc" if op.req is not None:
            wrapped = f"{op.action}: {part.attr}: {fault.message}"
            handler = op.entry[0]
            caller = f"{handler.file.removeprefix('/app/internal/')}:{handler.line + 3}"
            fields = zap(
                caller,
                method=op.req.name.split()[0],
                path=op.req.path,
                status=int(kind.status),
                error=wrapped,
            )
            return (
                *reqs,
                *deps,
                Trace(wrapped, 3, "catalog/api"),
                Container("request failed", "error", fields=fields),
            )
    raise ValueError(f"{op.key}: no failure shape for {op.service}")


def _healthy_signals(op: Operation) -> tuple[Signal, ...]:
    deps = tuple(dep for key in op.parts if (dep := PARTS[key].dep) is not None)
    reqs = (op.req,) if op.req is not None else ()
    match op.service:
        case "notifications-func":
            return invocation(op.function, op.reason, *deps)
        case "inventory-func":
            trigger = (sb_details(op.function),) if op.reason == "(null)" else ()
            return (*reqs, *invocation(op.function, op.reason, *trigger, *deps))
        case "shipping-svc" if op.req is not None:
            status = "201 Created" if op.req.code == "201" else "200 OK"
            return (uvicorn(op.req.name.split()[0], op.req.path, status),)
    return (*reqs, *deps)


def _slots(days: Iterable[int], hours: Iterable[int] = range(24), after: float = 0) -> list[int]:
    """Hours of the window (counted from its start) on the given days and hours of day."""
    return [slot for d in days for h in hours if (slot := d * 24 + h) * 60 >= after]


def _spread(rng: random.Random, count: int, slots: list[int]) -> tuple[Burst, ...]:
    """`count` occurrences over the given hours, following the day's traffic."""
    picks = Counter(rng.choices(slots, [HOURLY[s % 24] for s in slots], k=count))
    return tuple(Burst(s * 60, n, 60) for s, n in sorted(picks.items()))


def _pattern(rng: random.Random, release: float | None) -> tuple[Burst, ...]:
    """How a root cause recurs: chronic, office hours, an incident, once, a regression, new."""
    every_hour = _slots(range(DAYS))
    roll = rng.random()
    if roll < 0.3:
        return _spread(rng, rng.randint(4, 30), every_hour)
    if roll < 0.45:  # back-office flows
        return _spread(rng, rng.randint(3, 16), _slots(range(DAYS), BUSINESS_HOURS))
    if roll < 0.65:
        starts = rng.choices(every_hour, [HOURLY[s % 24] for s in every_hour], k=rng.randint(1, 2))
        return tuple(
            Burst(s * 60 + rng.uniform(0, 50), rng.randint(3, 12), rng.uniform(4, 30))
            for s in sorted(starts)
        )
    if roll < 0.8:
        return _spread(rng, rng.randint(1, 2), every_hour)
    if roll < 0.92:  # fixed on the second day, back on the third
        return _spread(rng, rng.randint(4, 18), _slots((0, 2)))
    start = release if release is not None else rng.uniform(1440, 2 * 1440 + 720)
    return _spread(rng, rng.randint(4, 18), _slots(range(DAYS), after=start))


def _timer_pattern(rng: random.Random, op: Operation) -> tuple[Burst, ...]:
    """A timer's failing runs: every run or some of them, on some of the days."""
    days = rng.choice(((0, 1, 2), (0, 1, 2), (0, 2), (1, 2), (2,), (0,)))
    runs = [d * 1440 + m for d in days for m in op.schedule]
    share = rng.choice((1.0, 0.5, 0.2, 0.05))
    chosen = sorted(rng.sample(runs, max(1, round(len(runs) * share))))
    return tuple(Burst(m + 0.05, 1, 0.02) for m in chosen)


def _tile(when: tuple[Burst, ...], blocks: Iterable[int]) -> tuple[Burst, ...]:
    return tuple(Burst(b.start + k * WINDOW_MINUTES, b.size, b.span) for k in blocks for b in when)


def _night(rng: random.Random) -> list[Scenario]:
    """The night's scenarios over three days: timers and restarts keep their clock, traffic follows
    the day, and each hand-written failure replays its night in a few of the days' six hours."""
    blocks = range(DAYS_MINUTES // WINDOW_MINUTES)
    story: list[Scenario] = []
    for s in SCENARIOS:
        if all(b.size == 1 and b.span < 0.05 for b in s.when):
            when = _tile(s.when, blocks)
        elif s.kind == "failure":
            when = _tile(s.when, sorted(rng.sample(blocks, rng.randint(2, 6))))
        else:
            count = round(sum(b.size for b in s.when) * HEALTHY_SCALE)
            when = _spread(rng, count, _slots(range(DAYS)))
        story.append(replace(s, when=when))
    return story


def _operation_traffic(rng: random.Random) -> list[Scenario]:
    """Healthy runs of the operations the night does not already serve."""
    served = {
        (s.service, sig.name if isinstance(sig, Req) else sig.function)
        for s in HEALTHY
        for sig in s.signals
        if isinstance(sig, Req) or (isinstance(sig, FuncLog) and sig.function)
    }
    story: list[Scenario] = []
    for op in OPERATIONS:
        if (op.service, op.req.name if op.req else op.function) in served:
            continue
        if op.schedule:
            when = tuple(Burst(d * 1440 + m, 1, 0.02) for d in range(DAYS) for m in op.schedule)
        elif op.req is not None or op.function:
            when = _spread(rng, OPERATION_TRAFFIC * DAYS, _slots(range(DAYS)))
        else:
            continue
        story.append(Scenario(f"{op.key}-ok", "healthy", op.service, when, _healthy_signals(op)))
    return story


def _order_failures(rng: random.Random) -> list[Scenario]:
    """orders-processor gives up on an order: each stage with each of its reasons."""
    return [
        Scenario(
            f"orders-{stage}-{key}",
            "failure",
            "orders-processor",
            _pattern(rng, None),
            (
                OrdersLog(
                    "Error",
                    f"{subject} failed permanently: {reason}; order moved to manual review",
                    {"orderId": "{OrderId}", "stage": stage, "retryable": False},
                ),
            ),
        )
        for stage, subject, reasons in ORDER_STAGES
        for key, reason in reasons
    ]


def _ingress_failures(rng: random.Random) -> list[Scenario]:
    """The ingress controller's error log and access line: each upstream error on each route."""
    story: list[Scenario] = []
    for error, text, status in NGINX_ERRORS:
        for route, method, path, upstream, host in NGINX_ROUTES:
            if (error, route) == ("timeout", "product"):  # the night's ingress-upstream-timeout
                continue
            address = f"10.244.{_line(upstream, 0, 4)}.{_line(route, 2, 250)}:{upstream.rsplit('-', 1)[1]}"
            target = upstream if error == "no-live" else address
            line = (
                f"{{Clock}} [error] 38#38: *{{ConnNo}} {text}, client: {{PodIp}}, server: {host}, "
                f'request: "{method} {path} HTTP/2.0", upstream: "http://{target}{path}", host: "{host}"'
            )
            story.append(
                Scenario(
                    f"ingress-{route}-{error}",
                    "failure",
                    "ingress-nginx-controller",
                    _pattern(rng, None),
                    (Container(line, "error", "stderr"), nginx(method, path, status, upstream)),
                )
            )
    return story


def _generated_failures(rng: random.Random) -> list[Scenario]:
    """DAYS_CAUSES root causes drawn from operations x parts x kinds of the service's runtime.

    At most one kind per exception type at one place in the code: a stack-based fingerprint could
    not tell a SQL timeout from a deadlock thrown by the same repository call, nor could a person.
    """
    sites: dict[tuple[str, str, str], list[tuple[str, Operation, Part, ErrorKind]]] = {}
    for op in OPERATIONS:
        for key in op.parts:
            for kind in KINDS:
                if (
                    kind.runtime == DAYS_SERVICES[op.service].runtime
                    and PARTS[key].layer in kind.layers
                ):
                    site = sites.setdefault((op.key, key, kind.type or kind.key), [])
                    site.append((f"{op.key}-{key}-{kind.key}", op, PARTS[key], kind))
    candidates = [
        rng.choice(site) for site in sites.values() if not any(c[0] in NIGHT_TWINS for c in site)
    ]
    return [
        Scenario(
            cause,
            "failure",
            op.service,
            _timer_pattern(rng, op)
            if op.schedule
            else _pattern(rng, DAYS_SERVICES[op.service].release_minute),
            _failure_signals(op, part, kind),
            operation=op.key,
        )
        for cause, op, part, kind in sorted(rng.sample(candidates, DAYS_CAUSES))
    ]


def _promotions(rng: random.Random) -> list[Scenario]:
    """promotions-svc: its traffic, a pod's own lines outside any request, and its failures."""
    every_hour = _slots(range(DAYS))
    method, path = PROMO_LOOKUP.name.split()[0], PROMO_LOOKUP.path
    story = [
        Scenario(
            "promotions-evaluate",
            "healthy",
            "promotions-svc",
            _spread(rng, 150 * DAYS, every_hour),
            (PROMO_EVALUATE, *fastify("POST", PROMO_EVALUATE.path, 200, PROMO_RULES)),
        ),
        Scenario(
            "promotions-coupon",
            "healthy",
            "promotions-svc",
            _spread(rng, 60 * DAYS, every_hour),
            (PROMO_LOOKUP, *fastify(method, path, 200, PROMO_COUPON)),
        ),
        Scenario(
            "promotions-coupon-expired",
            "near-miss",
            "promotions-svc",
            _spread(rng, 30, every_hour),
            (
                replace(PROMO_LOOKUP, code="422"),
                *fastify(
                    method,
                    path,
                    422,
                    PROMO_COUPON,
                    pino("coupon rejected", "warning", coupon="{CouponCode}", reason="expired"),
                ),
            ),
        ),
        Scenario(
            "promotions-startup",
            "healthy",
            "promotions-svc",
            at(0.3, 1890.5, 3612.8),
            (Container("Server listening at http://{PodIp}:3000", fields={}),),
            operation="startup",
        ),
        Scenario(
            "promotions-rules-refresh",
            "near-miss",
            "promotions-svc",
            tuple(Burst(m, 1, 0.02) for m in range(20, DAYS_MINUTES, 60)),
            (Container("promotion rules refreshed", fields={"rules": "{Count}", "failed": 0}),),
            operation="rules-refresh",
        ),
    ]
    for cause, req, dep, fault, line in PROMO_FAILURES:
        method = req.name.split()[0]
        subject = {"cart": "{CartId}"} if req is PROMO_EVALUATE else {"coupon": "{CouponCode}"}
        signals = (
            replace(req, code="500"),
            *fastify(method, req.path, 500, dep, Exc(fault), pino(line, "error", fault, **subject)),
        )
        story.append(Scenario(cause, "failure", "promotions-svc", _pattern(rng, None), signals))
    return story


def days_scenarios() -> tuple[Scenario, ...]:
    """The days profile's story; the same every call (its own seeded Random)."""
    rng = random.Random(f"story-{DAYS_SEED}")
    return (
        *_night(rng),
        *_operation_traffic(rng),
        *_order_failures(rng),
        *_ingress_failures(rng),
        *_generated_failures(rng),
        *_promotions(rng),
    )
