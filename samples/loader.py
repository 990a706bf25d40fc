"""Reads the sample shop's data files (data/*.yaml) into the types of model.py, checking each entry.

The files are read in DATA_FILES order. Any file may add to the named tables (assemblies, stacks,
faults, signals) that entries after it, there or in a later file, refer to by name. A bad entry
raises CatalogError with the file, the entry and what is wrong with it, so a mistake in the story
fails where it is loaded rather than as odd rows in the rendered telemetry.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, get_args

import yaml

from .blocks import (
    at,
    cs,
    gof,
    http_dep,
    invocation,
    js,
    jv,
    morgan,
    nginx,
    pg_dep,
    py,
    sb_details,
    spread,
    sql_dep,
    traffic,
    uvicorn,
)
from .model import (
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
