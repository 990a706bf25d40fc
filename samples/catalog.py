"""The sample shop as its data files describe it, and the three days built from it.

The files are loaded once, at import (a bad entry fails the import, naming its file and entry),
and their tables named here for the renderer (generate.py) and the days below. Kept apart from
the renderer so what breaks, when, how often and in which runtime reads as tables and can change
without touching row formatting.
"""
# Log-line templates are kept whole on one line, as they appear in logs.
# ruff: noqa: E501

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from string import Template

from .blocks import (
    at,
    fastify,
    invocation,
    logstash,
    nginx,
    pino,
    sb_details,
    stable_line,
    uvicorn,
    zap,
)
from .loader import load
from .model import (
    WINDOW_MINUTES,
    Burst,
    Console,
    Container,
    Dep,
    ErrorKind,
    Exc,
    Fault,
    Frame,
    FuncLog,
    Operation,
    OrdersLog,
    Part,
    Req,
    Scenario,
    Signal,
    Trace,
)

# --- the tables -----------------------------------------------------------------------------------

TABLES = load()

# AppVersion: ASP.NET Core reports the entry assembly's version, the Node.js SDK the app's
# package.json, the Java agent and OpenTelemetry `service.version`; the Go SDK what the build sets.
SERVICES = TABLES.services
DAYS_SERVICES = TABLES.days_services  # the night's, with the releases of the days and one more
HEALTHY = TABLES.healthy  # healthy traffic and near misses
FAILURES = TABLES.failures  # the night's hand-written root causes, and the near misses they mimic
SCENARIOS: tuple[Scenario, ...] = HEALTHY + FAILURES

# Frames and calls the days below build on.
RETHROW = TABLES.frame("rethrow")
GO_RECOVER = TABLES.frame("go-recover")
PY_WORKER = TABLES.frame("py-worker")  # the Functions Python worker, under every invocation
PROMO_EVALUATE = TABLES.signal("promo-evaluate", Req)
PROMO_LOOKUP = TABLES.signal("promo-lookup", Req)
PROMO_RULES = TABLES.signal("promo-rules", Dep)
PROMO_COUPON = TABLES.signal("promo-coupon", Dep)

PY_VERSIONS = TABLES.python_versions  # python3.X in a kind's library frames
KINDS = TABLES.kinds
PARTS = TABLES.parts
OPERATIONS = TABLES.operations
NIGHT_TWINS = TABLES.night_twins  # generated causes that would repeat one of the night's
ORDER_STAGES = TABLES.order_stages
NGINX_ERRORS = TABLES.nginx_errors
NGINX_ROUTES = TABLES.nginx_routes
HOURLY = TABLES.hourly  # traffic by hour of day in UTC (Amsterdam is UTC+1)
BUSINESS_HOURS = TABLES.business_hours
PROMO_FAILURES = TABLES.promo_failures


# --- the days: several hundred root causes built from parts --------------------------------------
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
    caller = op.entry[0]._replace(line=stable_line(op.key + part.key), code=part.call)
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
            address = f"10.244.{stable_line(upstream, 0, 4)}.{stable_line(route, 2, 250)}:{upstream.rsplit('-', 1)[1]}"
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
