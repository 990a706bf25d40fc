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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Runtime = Literal["dotnet", "java", "python", "node", "go"]
Hosting = Literal["appservice-windows", "appservice-linux", "aks", "functions"]
Kind = Literal["failure", "near-miss", "healthy"]
Corruption = Literal["null-time", "bad-time", "bad-json"]

WINDOW_MINUTES = 360


@dataclass(frozen=True)
class Service:
    """One deployable; a release replaces its instances and shifts its own stack-frame lines."""

    role: str
    runtime: Runtime
    hosting: Hosting
    sdk: str = ""
    base_url: str = ""
    instances: int = 2
    release_minute: float | None = None
    namespace: str = "shop"
    container: str = ""


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
    """A ContainerLogV2 row: plain text, or a structured object when `fields` is given."""

    message: str
    level: str = "info"
    stream: str = "stdout"
    fields: Mapping[str, str | int | float | bool] | None = None
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


def sb_details() -> FuncLog:
    return FuncLog(
        "Information",
        "Trigger Details: MessageId: {MessageId}, SequenceNumber: {Sequence}, DeliveryCount: 1, "
        "EnqueuedTimeUtc: {IsoClock}, LockedUntilUtc: {LockClock}, SessionId: (null)",
        "Function.reserve_stock",
        "reserve_stock",
    )


def logstash(logger: str, **extra: str) -> dict[str, str | int | float | bool]:
    return {"logger_name": logger, **extra}


def zap(caller: str, **extra: str | int | float | bool) -> dict[str, str | int | float | bool]:
    return {"caller": caller, **extra}


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

SERVICES: dict[str, Service] = {s.role: s for s in (
    Service("orders-api", "dotnet", "appservice-windows", "aspnet5c:2.22.0-997",
            "https://orders-api.contoso-shop.com", release_minute=185),
    Service("orders-processor", "dotnet", "aks"),
    Service("checkout-web", "node", "appservice-linux", "node:2.9.6", "https://shop.contoso-shop.com"),
    Service("catalog-svc", "go", "aks", "go:0.4.4", "http://catalog-svc.shop.svc.cluster.local:8080",
            instances=3, release_minute=150),
    Service("payments-worker", "java", "aks", "java:3.6.2", "https://payments.contoso-shop.com"),
    Service("inventory-func", "python", "functions", "ulm_py3.11.9:otel1.27.0:ext1.6.4",
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
