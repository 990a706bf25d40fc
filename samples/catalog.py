"""The sample shop: the loader of its story, and the days.

The story itself -- services, their faults and stacks, the scenarios that write telemetry, the
parts the days' causes are built from -- lives in data/*.yaml; this module checks it into the
types of model.py as it loads (a bad entry fails the import, naming its file and entry). Kept
apart from the renderer (generate.py) so what breaks, when, how often and in which runtime reads
as tables and can change without touching row formatting. Templates use `{Name}` placeholders,
filled once per occurrence (placeholders.py).
"""
# Log-line templates are kept whole on one line, as they appear in logs.
# ruff: noqa: E501

import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any, NoReturn, get_args

import yaml

from .blocks import (
    at,
    cs,
    fastify,
    gof,
    http_dep,
    invocation,
    js,
    jv,
    logstash,
    morgan,
    nginx,
    pg_dep,
    pino,
    py,
    sb_details,
    spread,
    sql_dep,
    stable_line,
    traffic,
    uvicorn,
    zap,
)
from .model import (
    WINDOW_MINUTES,
    Burst,
    Console,
    Container,
    Corruption,
    Dep,
    ErrorKind,
    Exc,
    Fault,
    FieldValue,
    Frame,
    FuncLog,
    Hosting,
    Kind,
    Layer,
    Operation,
    OrdersLog,
    Part,
    Pause,
    Req,
    Runtime,
    Scenario,
    Service,
    Signal,
    Trace,
)

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


# --- loading the data files ----------------------------------------------------------------------
# The shop itself lives in data/*.yaml, read in DATA_FILES order. Any file may add to the named
# tables (assemblies, stacks, faults, signals) that entries after it, there or in a later file,
# refer to by name. Every entry is checked as it is read into the types of model.py; a bad one
# stops the import with the file, the entry and what is wrong with it.

DATA = Path(__file__).parent / "data"
DATA_FILES = ("services.yaml", "night.yaml", "days.yaml")
# libyaml's safe loader where PyYAML was built with it (5x faster), else the pure-Python one
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogError(ValueError):
    """A data file entry that does not describe what its place in the file expects."""


type Yaml = object  # a value as the safe loader returns it, before it is checked


def _is_number(value: Yaml) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Reader:
    """Turns the entries of the data files into the types of model.py, remembering named ones."""

    def __init__(self) -> None:
        self.assemblies: dict[str, str] = {}
        self.stacks: dict[str, tuple[Frame, ...]] = {}
        self.faults: dict[str, Fault] = {}
        self.signals: dict[str, Signal] = {}
        self.services: dict[str, Service] = {}
        self.data: dict[str, Any] = {}  # the other sections, read
        self.where = ""

    @property
    def tables(self) -> "_Tables":
        return _Tables(**self.data, stacks=self.stacks, signals=self.signals)

    def fail(self, problem: str) -> NoReturn:
        raise CatalogError(f"{self.where}: {problem}")

    # --- values

    def mapping(self, value: Yaml, what: str) -> dict[str, Yaml]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.fail(f"{what} should be a mapping, got {value!r}")
        return value

    def fields(
        self, value: Yaml, what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict[str, Yaml]:
        entry = self.mapping(value, what)
        unknown = [k for k in entry if k not in required and k not in optional]
        missing = [k for k in required if k not in entry]
        if unknown or missing:
            self.fail(f"{what} has unknown keys {unknown} / lacks {missing}: {value!r}")
        return entry

    def items(self, value: Yaml, what: str) -> list[Yaml]:
        if not isinstance(value, list):
            self.fail(f"{what} should be a list, got {value!r}")
        return value

    def text(self, value: Yaml, what: str) -> str:
        if not isinstance(value, str):
            self.fail(f"{what} should be text, got {value!r} (quote it)")
        return value

    def whole(self, value: Yaml, what: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{what} should be a whole number, got {value!r}")
        return value

    def number(self, value: Yaml, what: str) -> float:
        if not _is_number(value):
            self.fail(f"{what} should be a number, got {value!r}")
        return value  # type: ignore[return-value]  # int or float, kept as written

    def flag(self, value: Yaml, what: str) -> bool:
        if not isinstance(value, bool):
            self.fail(f"{what} should be true or false, got {value!r}")
        return value

    def choice(self, value: Yaml, what: str, allowed: object) -> Any:
        """`value`, one of the strings of the Literal `allowed`."""
        options = get_args(allowed)
        if value not in options:
            self.fail(f"{what} should be one of {options}, got {value!r}")
        return value

    def span(self, value: Yaml, what: str) -> tuple[float, float]:
        pair = self.items(value, what)
        if len(pair) != 2:
            self.fail(f"{what} should be [low, high], got {value!r}")
        return (self.number(pair[0], what), self.number(pair[1], what))

    def named[T](self, table: Mapping[str, T], value: Yaml, what: str) -> T:
        name = self.text(value, what)
        if name not in table:
            self.fail(f"{what} names {name!r}, which is not defined (above or in an earlier file)")
        return table[name]

    def field_values(self, value: Yaml, what: str) -> dict[str, FieldValue]:
        out: dict[str, FieldValue] = {}
        for key, item in self.mapping(value, what).items():
            if isinstance(item, dict):
                out[key] = self.field_values(item, f"{what}.{key}")
            elif isinstance(item, str | int | float | bool):
                out[key] = item
            else:
                self.fail(f"{what}.{key} should be text, a number, a flag or a mapping")
        return out

    # --- frames and faults

    def frame(self, value: Yaml) -> Frame:
        entry = self.mapping(value, "a frame")
        helpers: dict[str, Callable[..., Frame]] = {
            "cs": cs,
            "jv": jv,
            "py": py,
            "js": js,
            "go": gof,
        }
        helper = next((h for h in helpers if h in entry), None)
        if helper is not None:
            sync = ("sync",) if helper == "cs" else ()
            entry = self.fields(value, f"a {helper} frame", (helper,), sync)
            args = [
                self.text(a, f"a {helper} frame's argument")
                for a in self.items(entry[helper], helper)
            ]
            extra = {"sync": self.flag(entry["sync"], "sync")} if "sync" in entry else {}
            try:
                return helpers[helper](*args, **extra)
            except TypeError as error:
                self.fail(f"{helper} frame {args}: {error}")
        entry = self.fields(value, "a frame", ("func",), ("file", "line", "col", "module", "code"))
        return Frame(
            self.text(entry["func"], "func"),
            self.text(entry.get("file", ""), "file"),
            self.whole(entry.get("line", 0), "line"),
            self.whole(entry.get("col", 0), "col"),
            self.named(self.assemblies, entry["module"], "module") if "module" in entry else "",
            self.text(entry.get("code", ""), "code"),
        )

    def frames(self, value: Yaml) -> tuple[Frame, ...]:
        """Frames innermost first; a name stands for a named stack, {stack, first} for its tail."""
        out: list[Frame] = []
        for item in self.items(value, "frames"):
            if isinstance(item, str):
                out += self.named(self.stacks, item, "a stack")
            elif isinstance(item, dict) and "stack" in item:
                entry = self.fields(item, "a stack's tail", ("stack", "first"))
                stack = self.named(self.stacks, entry["stack"], "a stack")
                out += stack[self.whole(entry["first"], "first") :]
            else:
                out.append(self.frame(item))
        return tuple(out)

    def fault(self, value: Yaml) -> Fault:
        if isinstance(value, str):
            return self.named(self.faults, value, "a fault")
        entry = self.fields(value, "a fault", ("type", "message", "frames"), ("cause", "headline"))
        return Fault(
            self.text(entry["type"], "type"),
            self.text(entry["message"], "message"),
            self.frames(entry["frames"]),
            self.fault(entry["cause"]) if "cause" in entry else None,
            self.text(entry.get("headline", ""), "headline"),
        )

    # --- signals

    def dep(self, value: Yaml) -> Dep:
        """A dependency call: named, a named one changed (`like`), a helper's, or written out."""
        if isinstance(value, str):
            named = self.named(self.signals, value, "a dependency call")
            if not isinstance(named, Dep):
                self.fail(f"{value!r} is not a dependency call")
            return named
        entry = self.mapping(value, "a dependency call")
        if "like" in entry:
            entry = self.fields(value, "a changed dependency call", ("like",), ("ok", "ms", "code"))
            changes: dict[str, Any] = {}
            if "ok" in entry:
                changes["ok"] = self.flag(entry["ok"], "ok")
            if "ms" in entry:
                changes["ms"] = self.span(entry["ms"], "ms")
            if "code" in entry:
                changes["code"] = self.text(entry["code"], "code")
            return replace(self.dep(entry["like"]), **changes)
        if len(entry) == 1 and next(iter(entry)) in ("sql", "http", "pg"):
            signal = self.signal(entry)
            assert isinstance(signal, Dep)
            return signal
        entry = self.fields(value, "a dependency call", DEP_FIELDS)
        type_, target, name, data, code = (self.text(entry[k], k) for k in DEP_FIELDS[:5])
        ok, ms = self.flag(entry["ok"], "ok"), self.span(entry["ms"], "ms")
        return Dep(type_, target, name, data, code, ok, ms)

    def req(self, value: Yaml) -> Req:
        if isinstance(value, str):
            named = self.named(self.signals, value, "a request")
            if not isinstance(named, Req):
                self.fail(f"{value!r} is not a request")
            return named
        entry = self.fields(value, "a request", ("name", "path", "code"), ("ms", "ok"))
        name, path, code = (self.text(entry[k], k) for k in ("name", "path", "code"))
        return Req(
            name,
            path,
            code,
            self.span(entry["ms"], "ms") if "ms" in entry else (2.0, 40.0),
            self.flag(entry["ok"], "ok") if "ok" in entry else None,
        )

    def signal(self, value: Yaml) -> Signal:
        return self.signal_list([value])[0]

    def signal_list(self, value: Yaml) -> tuple[Signal, ...]:
        """What an operation writes, in order; `invocation` wraps its body in the host's lines."""
        out: list[Signal] = []
        for item in self.items(value, "signals"):
            if isinstance(item, str):
                out.append(self.named(self.signals, item, "a signal"))
                continue
            entry = self.mapping(item, "a signal")
            if len(entry) != 1:
                self.fail(f"a signal is one of {sorted(SIGNAL_FORMS)} with its fields: {item!r}")
            form, body = next(iter(entry.items()))
            if form not in SIGNAL_FORMS:
                self.fail(f"unknown signal {form!r}; expected one of {sorted(SIGNAL_FORMS)}")
            required, optional = SIGNAL_FORMS[form]
            args = self.fields(body, form, required, optional)
            out += self.make_signal(form, args)
        return tuple(out)

    def make_signal(self, form: str, a: dict[str, Yaml]) -> tuple[Signal, ...]:
        fault = self.fault(a["fault"]) if "fault" in a else None
        t = self.text
        match form:
            case "req":
                return (self.req(a),)
            case "dep":
                return (self.dep(a),)
            case "trace":
                message, category = t(a["message"], "message"), t(a["category"], "category")
                return (Trace(message, self.whole(a["severity"], "severity"), category),)
            case "exc":
                assert fault is not None
                return (Exc(fault, self.whole(a.get("severity", 3), "severity")),)
            case "func_log":
                return (
                    FuncLog(
                        t(a["level"], "level"),
                        t(a["message"], "message"),
                        t(a["category"], "category"),
                        t(a.get("function", ""), "function"),
                        fault,
                    ),
                )
            case "container":
                fields = self.field_values(a["fields"], "fields") if "fields" in a else None
                level, stream = t(a.get("level", "info"), "level"), t(a.get("stream", "stdout"), "")
                return (Container(t(a["message"], "message"), level, stream, fields, fault),)
            case "console":
                return (Console(t(a["level"], "level"), t(a["message"], "message"), fault),)
            case "orders_log":
                props: dict[str, str | int | bool] = {}
                for key, item in self.mapping(a.get("props", {}), "props").items():
                    if not isinstance(item, str | int | bool):
                        self.fail(f"props.{key} should be text, a whole number or a flag")
                    props[key] = item
                return (OrdersLog(t(a["level"], "level"), t(a["message"], "message"), props),)
            case "pause":
                return (Pause(self.span(a["ms"], "ms")),)
            case "invocation":
                body = self.signal_list(a.get("body", []))
                return invocation(
                    t(a["function"], "function"), t(a["reason"], "reason"), *body, fault=fault
                )
            case "sb_details":
                function = [t(a["function"], "function")] if "function" in a else []
                return (sb_details(*function),)
            case "morgan":
                status = self.whole(a["status"], "status")
                return (morgan(t(a["method"], "method"), t(a["path"], "path"), status),)
            case "uvicorn":
                return (
                    uvicorn(
                        t(a["method"], "method"), t(a["path"], "path"), t(a["status"], "status")
                    ),
                )
            case "nginx":
                method, path, upstream = (t(a[k], k) for k in ("method", "path", "upstream"))
                return (nginx(method, path, self.whole(a["status"], "status"), upstream),)
            case "sql":
                ms = {"ms": self.span(a["ms"], "ms")} if "ms" in a else {}
                return (sql_dep(t(a["statement"], "statement"), **ms),)
            case "http":
                extra: dict[str, Any] = {"ms": self.span(a["ms"], "ms")} if "ms" in a else {}
                if "code" in a:
                    extra["code"] = t(a["code"], "code")
                return (http_dep(t(a["method"], "method"), t(a["url"], "url"), **extra),)
            case "pg":
                ms = {"ms": self.span(a["ms"], "ms")} if "ms" in a else {}
                target, name, statement = (t(a[k], k) for k in ("target", "name", "statement"))
                return (pg_dep(target, name, statement, **ms),)
        raise AssertionError(form)

    # --- scenarios

    def when(self, value: Yaml) -> tuple[Burst, ...]:
        """Bursts as [start, size, span]; or {traffic: n}, {spread: n}, {at: [minutes], plus}."""
        if isinstance(value, list):
            bursts = []
            for item in value:
                triple = self.items(item, "a burst")
                if len(triple) != 3:
                    self.fail(f"a burst is [start, size, span], got {item!r}")
                start, size = self.number(triple[0], "start"), self.whole(triple[1], "size")
                bursts.append(Burst(start, size, self.number(triple[2], "span")))
            return tuple(bursts)
        entry = self.mapping(value, "when")
        if "traffic" in entry or "spread" in entry:
            form = "traffic" if "traffic" in entry else "spread"
            self.fields(value, "when", (form,))
            return (traffic if form == "traffic" else spread)(self.whole(entry[form], form))
        entry = self.fields(value, "when", ("at",), ("plus",))
        minutes = [self.number(m, "at") for m in self.items(entry["at"], "at")]
        if "plus" in entry:
            plus = self.number(entry["plus"], "plus")
            minutes = [m + plus for m in minutes]
        return at(*minutes)

    def scenario(self, value: Yaml) -> Scenario:
        entry = self.fields(
            value,
            "a scenario",
            ("id", "kind", "service", "when", "signals"),
            ("operation", "corrupt"),
        )
        self.where += f" {entry['id']!r}"
        corrupt: dict[int, Corruption] = {}
        corrupted = entry.get("corrupt", {})
        if not isinstance(corrupted, dict):
            self.fail(f"corrupt maps occurrence numbers to malformations, got {corrupted!r}")
        for number, how in corrupted.items():
            corrupt[self.whole(number, "an occurrence number")] = self.choice(
                how, "corrupt", Corruption
            )
        return Scenario(
            self.text(entry["id"], "id"),
            self.choice(entry["kind"], "kind", Kind),
            self.named(self.services, entry["service"], "service").role,
            self.when(entry["when"]),
            self.signal_list(entry["signals"]),
            self.text(entry.get("operation", ""), "operation"),
            corrupt,
        )

    def service(self, role: str, value: Yaml, base: Service | None) -> Service:
        entry = self.fields(
            value,
            "a service",
            () if base else ("runtime", "hosting"),
            SERVICE_FIELDS if base else SERVICE_FIELDS[2:],
        )
        values: dict[str, Any] = {}
        for key, item in entry.items():
            match key:
                case "runtime":
                    values[key] = self.choice(item, key, Runtime)
                case "hosting":
                    values[key] = self.choice(item, key, Hosting)
                case "instances":
                    values[key] = self.whole(item, key)
                case "release_minute":
                    values[key] = self.number(item, key)
                case "end_users":
                    values[key] = self.flag(item, key)
                case _:
                    values[key] = self.text(item, key)
        return replace(base, **values) if base else Service(role, **values)

    # --- the days

    def part(self, key: str, value: Yaml) -> Part:
        entry = self.fields(value, "a part", ("layer", "frame"), ("dep", "attr", "call"))
        return Part(
            key,
            self.choice(entry["layer"], "layer", Layer),
            self.frame(entry["frame"]),
            self.dep(entry["dep"]) if "dep" in entry else None,
            self.text(entry.get("attr", ""), "attr"),
            self.text(entry.get("call", ""), "call"),
        )

    def operation(
        self, key: str, value: Yaml, parts: Mapping[str, Part], services: Mapping[str, Service]
    ) -> Operation:
        entry = self.fields(
            value,
            "an operation",
            ("service", "entry", "parts", "action"),
            ("req", "function", "reason", "schedule"),
        )
        schedule: tuple[float, ...] = ()
        if isinstance(entry.get("schedule"), dict):
            every = self.fields(entry["schedule"], "schedule", ("first", "every"))
            first, step = self.whole(every["first"], "first"), self.whole(every["every"], "every")
            schedule = tuple(float(m) for m in range(first, 1440, step))
        elif "schedule" in entry:
            schedule = tuple(self.number(m, "schedule") for m in self.items(entry["schedule"], ""))
        return Operation(
            key,
            self.named(services, entry["service"], "service").role,
            self.frames(entry["entry"]),
            tuple(self.named(parts, p, "a part").key for p in self.items(entry["parts"], "parts")),
            self.text(entry["action"], "action"),
            self.req(entry["req"]) if "req" in entry else None,
            self.text(entry.get("function", ""), "function"),
            self.text(entry.get("reason", "(null)"), "reason"),
            schedule,
        )

    def kind(self, value: Yaml) -> ErrorKind:
        entry = self.fields(
            value,
            "an error kind",
            ("key", "runtime", "layers", "type", "message"),
            ("frames", "cause", "dep_code", "dep_ms", "status", "code", "panic"),
        )
        self.where += f" {entry['key']!r}"
        return ErrorKind(
            self.text(entry["key"], "key"),
            self.choice(entry["runtime"], "runtime", Runtime),
            tuple(self.choice(v, "layers", Layer) for v in self.items(entry["layers"], "layers")),
            self.text(entry["type"], "type"),
            self.text(entry["message"], "message"),
            self.frames(entry.get("frames", [])),
            self.fault(entry["cause"]) if "cause" in entry else None,
            self.text(entry["dep_code"], "dep_code") if "dep_code" in entry else None,
            self.span(entry["dep_ms"], "dep_ms") if "dep_ms" in entry else (5, 80),
            self.text(entry.get("status", "500"), "status"),
            self.text(entry.get("code", ""), "code"),
            self.flag(entry.get("panic", True), "panic"),
        )


DEP_FIELDS = ("type", "target", "name", "data", "code", "ok", "ms")
SERVICE_FIELDS = (
    "runtime",
    "hosting",
    "sdk",
    "base_url",
    "instances",
    "release_minute",
    "namespace",
    "container",
    "version",
    "released",
    "end_users",
)
# signal form: (required fields, optional fields)
SIGNAL_FORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "req": (("name", "path", "code"), ("ms", "ok")),
    "dep": (DEP_FIELDS, ()),
    "trace": (("message", "severity", "category"), ()),
    "exc": (("fault",), ("severity",)),
    "func_log": (("level", "message", "category"), ("function", "fault")),
    "container": (("message",), ("level", "stream", "fields", "fault")),
    "console": (("level", "message"), ("fault",)),
    "orders_log": (("level", "message"), ("props",)),
    "pause": (("ms",), ()),
    "invocation": (("function", "reason"), ("body", "fault")),
    "sb_details": ((), ("function",)),
    "morgan": (("method", "path", "status"), ()),
    "uvicorn": (("method", "path", "status"), ()),
    "nginx": (("method", "path", "status", "upstream"), ()),
    "sql": (("statement",), ("ms",)),
    "http": (("method", "url"), ("code", "ms")),
    "pg": (("target", "name", "statement"), ("ms",)),
}


@dataclass(frozen=True)
class _Tables:
    """Everything the data files define, checked and typed."""

    services: dict[str, Service]
    days_services: dict[str, Service]
    healthy: tuple[Scenario, ...]
    failures: tuple[Scenario, ...]
    stacks: Mapping[str, tuple[Frame, ...]]
    signals: Mapping[str, Signal]
    python_versions: dict[str, str]
    kinds: tuple[ErrorKind, ...]
    parts: dict[str, Part]
    operations: tuple[Operation, ...]
    night_twins: frozenset[str]
    order_stages: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    nginx_errors: tuple[tuple[str, str, int], ...]
    nginx_routes: tuple[tuple[str, str, str, str, str], ...]
    hourly: tuple[float, ...]
    business_hours: range
    promo_failures: tuple[tuple[str, Req, Dep, Fault, str], ...]

    def frame(self, name: str) -> Frame:
        """The one frame of a named stack that code refers to."""
        stack = self.stacks.get(name, ())
        if len(stack) != 1:
            raise CatalogError(f"{DATA_FILES}: stacks need {name!r} with one frame, got {stack}")
        return stack[0]

    def signal[S: Signal](self, name: str, kind: type[S]) -> S:
        """A named signal that code refers to, of the kind it expects."""
        signal = self.signals.get(name)
        if not isinstance(signal, kind):
            raise CatalogError(f"{DATA_FILES}: signals need {name!r}, a {kind.__name__}")
        return signal


def load(folder: Path = DATA) -> _Tables:
    """Read and check the data files; raise CatalogError naming the file and entry at fault."""
    r = _Reader()
    sections: dict[str, Yaml] = {}
    for name in DATA_FILES:
        path = folder / name
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        except (OSError, yaml.YAMLError) as error:
            raise CatalogError(f"{path}: {error}") from error
        r.where = str(path)
        for section, value in r.mapping(document, "the file").items():
            if section not in SECTIONS:
                r.fail(f"unknown section {section!r}; expected some of {sorted(SECTIONS)}")
            if section in sections and section not in NAMED:
                r.fail(f"section {section!r} appears in two files")
            sections[section] = value
            r.where = f"{path.name}: {section}"
            _read(r, path.name, section, value)
    missing = [s for s in SECTIONS if s not in sections]
    if missing:
        raise CatalogError(f"{folder}: no file has the sections {missing}")
    return r.tables


NAMED = ("assemblies", "stacks", "faults", "signals")  # tables each file may add to
SECTIONS = (
    *NAMED,
    "services",
    "days_services",
    "healthy",
    "failures",
    "python_versions",
    "kinds",
    "parts",
    "operations",
    "night_twins",
    "order_stages",
    "nginx_errors",
    "nginx_routes",
    "hourly",
    "business_hours",
    "promo_failures",
)


def _read(r: _Reader, file: str, section: str, value: Yaml) -> None:
    """Read one section into `r`, naming each entry in `r.where` while it is read."""
    try:
        _read_section(r, file, section, value)
    except CatalogError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise CatalogError(f"{r.where}: {error!r}") from error


def _read_section(r: _Reader, file: str, section: str, value: Yaml) -> None:
    named: dict[str, tuple[dict[str, Any], Callable[[Yaml], object]]] = {
        "assemblies": (r.assemblies, lambda v: r.text(v, "an assembly")),
        "stacks": (r.stacks, r.frames),
        "faults": (r.faults, r.fault),
        "signals": (r.signals, r.signal),
    }
    entries = _entries(r, file, section, value)
    if section in named:
        table, read = named[section]
        for key, entry in entries:
            if key in table:
                r.fail(f"{section} {key!r} is defined twice")
            table[key] = read(entry)
        return
    data = r.data
    match section:
        case "services":
            r.services = {role: r.service(role, entry, None) for role, entry in entries}
            data[section] = r.services
        case "days_services":
            days = dict(r.services)
            for role, entry in entries:
                days[role] = r.service(role, entry, r.services.get(role))
            data[section] = days
        case "healthy" | "failures":
            data[section] = tuple(r.scenario(entry) for _, entry in entries)
        case "python_versions":
            data[section] = {role: r.text(v, "a Python version") for role, v in entries}
        case "kinds":
            data[section] = tuple(r.kind(entry) for _, entry in entries)
        case "parts":
            data[section] = {key: r.part(key, entry) for key, entry in entries}
        case "operations":
            parts, services = data["parts"], data["days_services"]
            data[section] = tuple(r.operation(k, e, parts, services) for k, e in entries)
        case "night_twins":
            data[section] = frozenset(r.text(v, "a cause") for _, v in entries)
        case "order_stages":
            stages = []
            for _, entry in entries:
                stage = r.fields(entry, "a stage", ("stage", "subject", "reasons"))
                reasons = r.mapping(stage["reasons"], "reasons").items()
                stages.append(
                    (
                        r.text(stage["stage"], "stage"),
                        r.text(stage["subject"], "subject"),
                        tuple((key, r.text(why, "a reason")) for key, why in reasons),
                    )
                )
            data[section] = tuple(stages)
        case "nginx_errors":
            errors = []
            for key, entry in entries:
                error = r.fields(entry, "an upstream error", ("text", "status"))
                errors.append((key, r.text(error["text"], "text"), r.whole(error["status"], "")))
            data[section] = tuple(errors)
        case "nginx_routes":
            keys = ("method", "path", "upstream", "host")
            routes = []
            for key, entry in entries:
                route = r.fields(entry, "a route", keys)
                method, path, upstream, host = (r.text(route[k], k) for k in keys)
                routes.append((key, method, path, upstream, host))
            data[section] = tuple(routes)
        case "hourly":
            hourly = tuple(r.number(v, "an hour's share") for _, v in entries)
            if len(hourly) != 24:
                r.fail(f"hourly needs 24 values, one per hour of the day, not {len(hourly)}")
            data[section] = hourly
        case "business_hours":
            hours = r.fields(value, "business hours", ("first", "last"))
            data[section] = range(r.whole(hours["first"], "first"), r.whole(hours["last"], "") + 1)
        case "promo_failures":
            failures = []
            for _, entry in entries:
                f = r.fields(
                    entry, "a promotions failure", ("cause", "request", "dep", "fault", "line")
                )
                cause, line = r.text(f["cause"], "cause"), r.text(f["line"], "line")
                r.where += f" {cause!r}"
                failures.append(
                    (cause, r.req(f["request"]), r.dep(f["dep"]), r.fault(f["fault"]), line)
                )
            data[section] = tuple(failures)


def _entries(r: _Reader, file: str, section: str, value: Yaml) -> Iterable[tuple[str, Yaml]]:
    """A section's entries (a mapping's items, or a list's), each named in `r.where` in turn."""
    if isinstance(value, dict):
        pairs = [(str(k), v) for k, v in r.mapping(value, section).items()]
    elif isinstance(value, list):
        pairs = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        return iter(())

    def named() -> Iterable[tuple[str, Yaml]]:
        for key, entry in pairs:
            r.where = f"{file}: {section} {key}"
            yield key, entry

    return named()


TABLES = load()

# AppVersion: ASP.NET Core reports the entry assembly's version, the Node.js SDK the app's
# package.json, the Java agent and OpenTelemetry `service.version`; the Go SDK what the build sets.
SERVICES = TABLES.services
DAYS_SERVICES = TABLES.days_services  # the night's, with the releases of the days and one more
HEALTHY = TABLES.healthy  # healthy traffic and near misses
FAILURES = TABLES.failures  # the night's hand-written root causes, and the near misses they mimic
SCENARIOS: tuple[Scenario, ...] = HEALTHY + FAILURES

# Frames and calls the days' code below builds on.
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
