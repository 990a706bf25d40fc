"""The shapes scenarios are written with, so neither the data files nor the days spell them out.

When things happen (bursts), the lines a host or framework logs around an operation (the
Functions host, Fastify, access logs), frames of the shop's own code as each runtime names them,
and the dependency calls the shop makes most. The loader offers them to the data files by name
(`invocation:`, `{cs: [...]}`, `sql:`); the days' builders call them directly.
"""
# Log-line templates are kept whole on one line, as they appear in logs.
# ruff: noqa: E501

import zlib

from .model import (
    ELAPSED,
    Burst,
    Console,
    Container,
    Dep,
    Fault,
    FieldValue,
    Frame,
    FuncLog,
    Signal,
)

# --- bursts and lines -----------------------------------------------------------------------------


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


# --- frames and calls -----------------------------------------------------------------------------


def stable_line(key: str, low: int = 18, high: int = 380) -> int:
    """A stable line for a generated frame: one function stays on one line across occurrences."""
    return low + zlib.crc32(key.encode()) % (high - low)


def cs(cls: str, method: str, sync: bool = False) -> Frame:
    """A .NET frame of the shop's code; async methods as the compiler names their state machine."""
    names = cls.split(".")
    api = names[2] == "Api"
    project = f"{names[1]}.Api" if api else names[1]
    path = "/".join(names[3:] if api else names[2:])
    func = (
        f"{cls}.{method}"
        if sync
        else f"{cls}+<{method}>d__{stable_line(cls + method, 2, 40)}.MoveNext"
    )
    assembly = f"Contoso.{project}, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"
    return Frame(func, f"/src/{project}/{path}.cs", stable_line(cls + method), module=assembly)


def jv(cls: str, method: str) -> Frame:
    return Frame(f"{cls}.{method}", f"{cls.rsplit('.', 1)[1]}.java", stable_line(cls + method))


def py(func: str, file: str, code: str) -> Frame:
    return Frame(func, file, stable_line(file + func), code=code)


def js(func: str, file: str) -> Frame:
    return Frame(
        func, f"/home/site/wwwroot/src/{file}", stable_line(file + func), stable_line(func, 5, 40)
    )


def gof(func: str, file: str) -> Frame:
    return Frame(
        f"github.com/contoso/catalog/internal/{func}", f"/app/internal/{file}", stable_line(func)
    )


def http_dep(method: str, url: str, code: str = "200", ms: tuple[float, float] = (20, 300)) -> Dep:
    host = url.split("/")[2]
    path = "/" + url.split("/", 3)[3].split("?")[0]
    return Dep("HTTP", host, f"{method} {path}", url, code, True, ms)


SQL = "contoso-sql-prod.database.windows.net | orders"  # the orders database, as SqlClient names it


def sql_dep(statement: str, ms: tuple[float, float] = (2, 40)) -> Dep:
    return Dep("SQL", SQL, SQL, statement, "0", True, ms)


def pg_dep(target: str, name: str, statement: str, ms: tuple[float, float] = (1, 20)) -> Dep:
    return Dep("postgresql", target, name, statement, "", True, ms)
