"""Stack traces from .NET, Java/Kotlin, Python, Node.js and Go, reduced to what identifies a bug.

A trace is parsed into its chain of exceptions, outermost (the wrapper) first and innermost cause
last, whatever order the runtime prints them in (.NET prints inner exceptions' frames first,
Python prints the cause first, Java and Node print it last). Each exception keeps its type, the
first line of its own message, and its frames **crash end first** (the frame that raised, then
its caller, ...). A frame is `module.function`: no arguments, files, line numbers, columns,
addresses or compiler-generated names (async state machines, lambdas, closures, proxies), so a
release that moves code down a few lines, another build or another install path changes nothing.
For Python and JavaScript, whose frames carry a file rather than a namespace, the module is the
file's name (`pricing.apply_discount`, `totals.computeTotals`), the one part of the path that does
not depend on where the app is installed.

A frame is in-app unless a `FrameRules` rule says it belongs to a runtime, framework or library:
those frames say where the failure surfaced, not where the bug is. What identifies a bug is then:

- `root_cause`: the innermost exception raised by the app itself (its crash-end frame is in-app);
  failing that, the innermost one with any in-app frame; failing that, the innermost one. So a
  wrapper the host or a framework adds is skipped, and so is a cause that a library raised below
  the app's own exception (a timeout one time, a connection reset the next).
- `culprit_frames`: the root cause's innermost in-app function, plus its caller when that function
  is a throw helper or guard (`FrameRules.helper_methods` / `helper_types`), since a helper called
  from two places is two bugs.

Traces arrive in many wrappers, all handled here: a traceback inside a log line, the Azure
Functions host's `FunctionInvocationException` / `RpcException` around a Python, Node or .NET
isolated worker's failure (the worker's exception becomes the innermost element of the chain),
Node's `util.inspect` output with `[cause]`, Python exception groups, .NET aggregate exceptions,
the Application Insights portal's copy format, and App Insights' `Details` column
(`exception_text_from_details`). Parsing is a single pass over the lines with anchored patterns
and bounded nesting, so it is linear in the input, whatever the input.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_LINE = 4096
"""Longer lines are not frames (only their start is read as a header)."""
MAX_MESSAGE = 1000
MAX_NAME = 512
"""Longer function names are cut (real ones, generic arguments included, are shorter)."""
MAX_MEMBERS = 100
"""Members of one aggregate exception or exception group that are read; further ones are not."""
MAX_NESTING = 40
"""Inner exceptions, exception-group levels and embedded worker payloads deeper than this are
not followed (real traces nest a handful of levels; this keeps hostile input linear)."""
MAX_CULPRIT = 3
MAX_FRAMES = 1024
"""Frames kept an exception, from the crash end (the JVM's default MaxJavaStackTraceDepth); the
rest of a deeper trace is skipped unparsed."""


# --------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class FrameRules:
    """Which frames are framework or library code (everything else is in-app), and which in-app
    functions are throw helpers. Plain data: override any field to adapt it to an app."""

    library_prefixes: tuple[str, ...] = (
        # .NET
        "System.", "Microsoft.", "Azure.", "Newtonsoft.", "Npgsql.", "Grpc.", "Polly.", "Dapper.",
        "StackExchange.", "MediatR.", "Castle.", "Serilog.", "NLog.", "DurableTask.",
        # JVM: the platform, Kotlin and Scala, and widely used frameworks and clients
        "java.", "javax.", "jakarta.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.",
        "_COROUTINE.", "scala.", "akka.", "org.springframework.", "org.apache.", "org.hibernate.",
        "org.jetbrains.", "org.postgresql.", "org.slf4j.", "ch.qos.logback.", "org.junit.",
        "org.mockito.", "org.eclipse.", "org.glassfish.", "org.aspectj.", "io.netty.", "io.grpc.",
        "io.micrometer.", "io.opentelemetry.", "io.ktor.", "io.vertx.", "io.quarkus.",
        "io.micronaut.", "io.reactivex.", "reactor.", "okhttp3.", "retrofit2.", "feign.",
        "net.bytebuddy.", "com.fasterxml.", "com.google.", "com.zaxxer.", "com.mysql.",
        "com.mongodb.", "com.amazonaws.", "software.amazon.", "com.azure.", "com.microsoft.",
    )  # fmt: skip
    """Function-name prefixes of library code (namespaced runtimes: .NET, JVM)."""
    library_paths: tuple[str, ...] = (
        "site-packages/", "dist-packages/", "/lib/python", "<frozen ", "azure_functions_worker",
        "/azure-functions-host/", "/SiteExtensions/Functions/", "node_modules/", "<anonymous>",
        "/pkg/mod/", "/vendor/",
    )  # fmt: skip
    """Substrings of file paths of library code (Python, Node, Go)."""
    library_path_prefixes: tuple[str, ...] = ("node:", "internal/")
    """File-path prefixes of library code (Node's own modules)."""
    app_prefixes: tuple[str, ...] = ()
    """Function-name prefixes that are always in-app, whatever the library rules say (an app
    whose own namespace starts with `Microsoft.`, say)."""
    go_std_packages: tuple[str, ...] = (
        "archive", "bufio", "bytes", "cmp", "compress", "container", "context", "crypto",
        "database", "debug", "embed", "encoding", "errors", "expvar", "flag", "fmt", "go",
        "hash", "html", "image", "index", "internal", "io", "iter", "log", "maps", "math",
        "mime", "net", "os", "path", "plugin", "reflect", "regexp", "runtime", "slices", "sort",
        "strconv", "strings", "structs", "sync", "syscall", "testing", "text", "time",
        "unicode", "unique", "unsafe", "vendor", "weak",
    )  # fmt: skip
    """Go's standard library, by the first element of the import path."""
    plumbing_prefixes: tuple[str, ...] = (
        # .NET async and exception re-throw machinery between an awaiting method and its caller
        "System.Runtime.CompilerServices.", "System.Runtime.ExceptionServices.",
        "System.Threading.Tasks.", "System.Threading.ExecutionContext",
        # JVM reflection, proxies and coroutines between a caller and the method it invokes
        "jdk.internal.reflect.", "java.lang.reflect.", "sun.reflect.", "java.lang.invoke.",
        "org.springframework.aop.", "org.springframework.cglib.", "kotlin.coroutines.",
        "kotlinx.coroutines.", "_COROUTINE.",
        # Node: built-in higher-order functions calling an app callback, the task queue
        "Array.", "Promise.", "Generator.", "new Promise", "process.processTicksAndRejections",
        "processTicksAndRejections", "runMicrotasks",
        # Python: the functools, contextlib and asyncio glue of decorators and coroutines
        "functools.", "contextlib.", "asyncio.",
    )  # fmt: skip
    """Library frames that sit between two of the app's frames of one code path without
    starting a new one (async machinery, reflection, proxies, callbacks), unlike a framework's
    dispatch (an HTTP server or router calling a handler or middleware)."""
    helper_methods: tuple[str, ...] = (
        "throw", "raise", "assert", "ensure", "require", "invariant", "guard", "check", "must",
        "verify",
    )  # fmt: skip
    """A function is a throw helper when its own name starts with one of these words, followed
    by nothing, an upper-case letter, a digit or `_` (`ThrowIfNull`, `ensure_positive`,
    `requireNonNull`, `invariant`, `MustParse`; not `checkout` or `guardian`)."""
    helper_types: tuple[str, ...] = (
        "ThrowHelper", "Throw", "Guard", "Ensure", "Assert", "Precondition", "Require", "Check",
        "Verify", "Contract", "Invariant",
    )  # fmt: skip
    """...or when its class is one of these, optionally with one of `helper_type_suffixes`
    (`Guard.AgainstNull`, `Checks.notNull`, `Preconditions.checkState`)."""
    helper_type_suffixes: tuple[str, ...] = (
        "", "s", "ions", "Helper", "Helpers", "Extensions", "Clauses", "ClauseExtensions",
        "Utils", "Util",
    )  # fmt: skip

    def in_app(self, function: str, file: str = "") -> bool:
        """Whether a frame is the app's own code."""
        if self.app_prefixes and function.startswith(self.app_prefixes):
            return True
        if function.startswith(self.library_prefixes):
            return False
        path = file.replace("\\", "/")
        return not (
            path.startswith(self.library_path_prefixes)
            or any(part in path for part in self.library_paths)
        )

    def is_plumbing(self, frame: Frame) -> bool:
        """Whether a library frame only passes control between two app frames."""
        return frame.function.startswith(self.plumbing_prefixes)

    def is_go_std(self, function: str) -> bool:
        """Whether a Go function belongs to the standard library (`net/http.(*conn).serve`)."""
        first = re.split(r"[/.]", function, maxsplit=1)[0]
        return first in self.go_std_packages

    def is_helper(self, function: str) -> bool:
        """Whether a function only checks and throws, so its caller is where the bug is."""
        parts = function.split(".")
        method = parts[-1]
        for word in self.helper_methods:
            head, rest = method[: len(word)], method[len(word) :]
            if head.lower() == word and (not rest or not rest[0].islower()):
                return True
        if len(parts) > 1:
            owner = parts[-2]
            return any(
                owner == f"{base}{suffix}"
                for base in self.helper_types
                for suffix in self.helper_type_suffixes
            )
        return False


DEFAULT_RULES = FrameRules()


# ---------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Frame:
    """One frame: `module.function` (normalized), whether it is the app's code, and its source
    file without line or column (for display only)."""

    function: str
    in_app: bool
    file: str = ""


@dataclass(frozen=True)
class ChainedException:
    """One exception of the chain: its type, the first line of its own message, and its frames
    crash end first."""

    type: str
    message: str = ""
    frames: tuple[Frame, ...] = ()


@dataclass
class _Exc:
    """An exception while parsing; `causes[0]` is the primary cause (the one .NET calls
    `InnerException`, Python's `__cause__`, Java's `Caused by:`), others are siblings (aggregate
    and group members) in printed order."""

    type: str = ""
    message: str = ""
    frames: list[Frame] = field(default_factory=list)
    causes: list[_Exc] = field(default_factory=list)
    opened: bool = False
    """A Python traceback whose `Traceback (most recent call last):` line has been read."""
    caused: bool = False
    """Node: its `[cause]` has been read (an error has one)."""
    printed: list[tuple[str, str]] = field(default_factory=list)
    """Python: (file, function) of each frame as printed, outermost first."""


# ------------------------------------------------------------------------------ normalizing

_GENERATED: tuple[tuple[re.Pattern[str], str], ...] = (
    # .NET: local function `<Run>g__Local|0_0` -> Run.Local
    (re.compile(r"<(\w+)>g__(\w+)\|[\d_]+"), r"\1.\2"),
    # .NET: lambda `<Price>b__0`, `<Main>b__0_0` -> Price, Main
    (re.compile(r"<(\w+)>b__[\d_]+"), r"\1"),
    # .NET: async/iterator state machine `+<ApplyAsync>d__7.MoveNext`, `<<Main>b__0>d.MoveNext`
    (re.compile(r"[+.]?<([\w.]+)>d(?:__\d+)?\.MoveNext$"), r".\1"),
    # .NET: closure classes `<>c__DisplayClass4_0`, `<>c`, `<>c__22`1`
    (re.compile(r"[+.]<>c(?:__\w+?)?(?:`\d+)?(?=[+.])"), ""),
    # .NET: top-level statements `Program.<Main>$`
    (re.compile(r"<(\w+)>\$"), r"\1"),
    # .NET / Go generics: `List`1`, `Method[T]`, `Map[...]`
    (re.compile(r"`\d+"), ""),
    (re.compile(r"\[[^\[\]]*\]"), ""),
    # Java: Spring, CGLIB, Hibernate, Mockito proxies and lambda classes
    (
        re.compile(
            r"\$\$(?:SpringCGLIB|EnhancerBySpringCGLIB|FastClassBySpringCGLIB|EnhancerByCGLIB"
            r"|FastClassByCGLIB|EnhancerByMockitoWithCGLIB|MockitoMock)\$\$\w*"
        ),
        "",
    ),
    (re.compile(r"\$\$Lambda(?:\$\d+)?/(?:0x)?[0-9a-f]+"), ""),
    (re.compile(r"\$(?:HibernateProxy|MockitoMock|ByteBuddy)\$\w+"), ""),
    (re.compile(r"\.\$Proxy\d+(?=\.)"), ""),
    # Java: lambda body `lambda$capture$0` -> capture
    (re.compile(r"lambda\$(\w+)\$\d+"), r"\1"),
    # Go: closures `.func1.2`, `glob..func3`, go/defer wrappers, method values `-fm`
    (re.compile(r"\.?\.func\d+(?:\.\d+)*"), ""),
    (re.compile(r"\.(?:gowrap|deferwrap)\d+"), ""),
    (re.compile(r"-fm$"), ""),
    # Go: numbered package initializers `init.8`
    (re.compile(r"\.\.?\d+$"), ""),
)
_KOTLIN_LAMBDA = re.compile(r"\$([^$.\s][^$.]*)\$\d+(?=[.$])")
_KOTLIN_BRIDGE = re.compile(r"\.(?:invokeSuspend|invoke)$")
_ANONYMOUS_CLASS = re.compile(r"\$\d+(?=[.$]|$)")
_ANONYMOUS = ("<anonymous>", "<lambda>", "<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>")


def normalize_function(name: str) -> str:
    """A function's name without argument lists and compiler-generated parts: .NET state
    machines, lambdas, closures and generic arity; Java/Kotlin lambdas, proxies, anonymous and
    inner classes, coroutine continuations and name mangling; Go closures and generics."""
    name = name.strip()[:MAX_NAME]
    if name.startswith(("async ", "new ")):
        name = name.split(" ", 1)[1]
    for pattern, replacement in _GENERATED:
        name = pattern.sub(replacement, name)
    kotlin = _KOTLIN_LAMBDA.sub(r".\1", name)
    if kotlin != name:
        name = _KOTLIN_BRIDGE.sub("", kotlin)
    elif name.endswith(".invokeSuspend"):
        name = name[: -len(".invokeSuspend")]
    name = _ANONYMOUS_CLASS.sub("", name)
    owner, dot, method = name.rpartition(".")
    if "$" in method and not method.startswith("$"):
        method = method.split("$", 1)[0]
    name = f"{owner}{dot}{method}".replace("$", ".").replace("+", ".")
    return (
        re.sub(r"(?<=\w)\.{2,}(?=\w)", ".", name) if ".." in name and ".ctor" not in name else name
    )


# --------------------------------------------------------------------------------- frames

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]*)", line \d+, in (?P<fn>\S+)')
_PY_LIB_MODULE = re.compile(r"/lib/python\d*(?:\.\d+)?/(?P<rest>.+)$")
_JAVA_FRAME = re.compile(r"^at (?P<fn>[^()]*[^()\s])\((?P<src>[^()]*)\)(?:\s*~?\[[^\]]*\])?\s*$")
_JAVA_SOURCE = re.compile(r"[\w$.<>-]+(?::\d+)?|Native Method|Unknown Source")
_JAVA_MODULE = re.compile(r"[\w.-]*(?:@[\w.+-]*)?")
_DOTNET_NAME = re.compile(r"[\w.+<>`$\[\],|']+")
_POSITION = re.compile(r":\d+(?::\d+)?$")
_GO_FILE = re.compile(r"^\s+(?P<file>\S.*\.go):\d+(?: \+0x[0-9a-fA-F]+)?\s*$")
_JS_EXTENSIONS = (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx")
_JS_RECEIVERS = ("Object", "Module", "Function", "global", "globalThis")


def _strip_position(location: str) -> str:
    match = _POSITION.search(location)
    return location[: match.start()] if match else location


def _stem(path: str, extensions: tuple[str, ...]) -> str:
    """A file's module name: its base name without extension (its folder for an index file)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    if not parts:
        return ""
    base = parts[-1].split("?", 1)[0]
    for extension in extensions:
        if base.endswith(extension):
            base = base[: -len(extension)]
            break
    if base in ("__init__", "index") and len(parts) > 1:
        return parts[-2]
    return base


def _python_module(file: str) -> str:
    path = file.replace("\\", "/")
    if path.startswith("<"):
        return path.strip("<>").split(" ")[-1]
    rest = ""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            rest = path.rsplit(marker, 1)[1]
            break
    else:
        match = _PY_LIB_MODULE.search(path)
        rest = match["rest"] if match else ""
    if rest:
        rest = rest.removesuffix(".py").removesuffix("/__init__")
        return rest.replace("/", ".")
    return _stem(path, (".py",))


def _python_frame(file: str, name: str, rules: FrameRules) -> Frame:
    function = f"{_python_module(file)}.{name}"
    return Frame(function, rules.in_app(function, file), file)


def _java_parts(line: str) -> tuple[str, str] | None:
    """(function, file) of a JVM frame, `at [loader/][module@version/]pkg.Class.method(File:12)`."""
    match = _JAVA_FRAME.match(line.strip())
    if not match or not _JAVA_SOURCE.fullmatch(match["src"]):
        return None
    parts = match["fn"].split("/")
    start = 0
    while start < min(2, len(parts) - 1) and _JAVA_MODULE.fullmatch(parts[start]):
        start += 1
    raw = "/".join(parts[start:])
    if "." not in raw or " at " in raw:
        return None
    return raw, match["src"].split(":", 1)[0]


def _java_frame(line: str, rules: FrameRules) -> Frame | None:
    parts = _java_parts(line)
    if parts is None:
        return None
    function = normalize_function(parts[0])
    return Frame(function, rules.in_app(function, parts[1]), parts[1])


def _node_parts(line: str) -> tuple[str, str] | None:
    """(function, file) of a V8 frame line, either `at fn (file:l:c)` or `at file:l:c`."""
    text = line.strip()
    if not text.startswith("at "):
        return None
    rest = text[3:].strip().removesuffix(",").removesuffix(" {").strip()
    if rest.endswith(")") and " (" in rest:
        name, location = rest.split(" (", 1)
        location = location[:-1]
    else:
        name, location = "", rest
    if "Version=" in location or "PublicKeyToken=" in location or any(c in name for c in "():"):
        return None
    if location.startswith("eval at "):
        inner = location[location.find("(") + 1 : location.find(")")]
        file = _strip_position(inner)
    elif location in ("<anonymous>", "native") or location.startswith("index "):
        file = ""
    elif _POSITION.search(location) and " " not in re.split(r"[/\\]", location)[-1]:
        file = _strip_position(location)
    else:
        return None
    if not name and not file:
        return None
    return name, file


def _node_frame(line: str, rules: FrameRules) -> Frame | None:
    parts = _node_parts(line)
    if parts is None:
        return None
    name, file = parts
    name = name.split(" [as ", 1)[0]
    for prefix in ("async ", "new "):
        name = name.removeprefix(prefix)
    receiver, dot, rest = name.partition(".")
    if dot and receiver in _JS_RECEIVERS:
        name = rest
    if name in ("", "eval") and file:
        name = "<anonymous>"
    path = file
    for prefix in ("file://", "node:", "webpack-internal:///", "webpack:///"):
        path = path.removeprefix(prefix)
    module = _stem(path, _JS_EXTENSIONS) if path else ""
    function = f"{module}.{name}" if module else name
    # Node's own modules print as `node:fs` or, before Node 16, as a bare `fs.js`.
    builtin = not file or ("/" not in file and "\\" not in file)
    in_app = not builtin and rules.in_app(function, file)
    return Frame(function, in_app, file)


def _dotnet_parts(line: str) -> tuple[str, str] | None:
    """(function, file) of a .NET frame: `at N.T.M(args) in file:line 12`, the App Insights
    portal's `at N.T.M (Assembly, Version=...: file:12)`, or a bare `at N.T.M`."""
    text = line.strip()
    if not text.startswith("at "):
        return None
    rest = text[3:].strip().removeprefix("async ")
    file = ""
    at_line = rest.rfind(":line ")
    if at_line != -1 and rest[at_line + 6 :].strip().isdigit():
        cut = rest.rfind(" in ", 0, at_line)
        if cut != -1:
            file, rest = rest[cut + 4 : at_line], rest[:cut]
    elif rest.rfind(" : ") > rest.rfind(") at ") > 0 and rest.rsplit(" : ", 1)[1].isdigit():
        # Ben.Demystifier, used by the Functions host 2.x: `at N.T.M(args) at file : 12`
        cut = rest.rfind(") at ")
        file, rest = rest[cut + 5 : rest.rfind(" : ")], rest[: cut + 1]
    elif rest.endswith(")") and " (" in rest:
        name, inner = rest.split(" (", 1)
        if not any(key in inner for key in ("Version=", "Culture=", "PublicKeyToken=")):
            return None
        after = inner[:-1].rsplit(": ", 1)
        file = _strip_position(after[1]) if len(after) == 2 and "=" not in after[1] else ""
        rest = name
    signature = rest.split("(", 1)[0].strip()
    if " " in signature:
        signature = signature.rsplit(" ", 1)[1]
    if "." not in signature or not _DOTNET_NAME.fullmatch(signature):
        return None
    return signature, file


def _dotnet_frame(line: str, rules: FrameRules) -> Frame | None:
    parts = _dotnet_parts(line)
    if parts is None:
        return None
    function = normalize_function(parts[0])
    return Frame(function, rules.in_app(function, parts[1]), parts[1])


def _at_kind(line: str) -> str | None:
    """Which runtime an `at ...` frame line belongs to."""
    if _java_parts(line):
        return "java"
    if _node_parts(line):
        return "node"
    if _dotnet_parts(line):
        return "dotnet"
    return None


def _go_function(line: str) -> str | None:
    """The function of a Go frame's first line, `pkg.(*T).M(0x1, {0x2, 0x3})`."""
    text = line.rstrip()
    if not text or text[0].isspace() or not text.endswith(")") or " " in text.split("(", 1)[0]:
        return None
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                name = text[:index]
                if (
                    name
                    and not name.startswith(("/", "goroutine"))
                    and ("." in name or name == "panic")
                ):
                    return name
                return None
    return None


# --------------------------------------------------------------------------------- parsing

_TIMESTAMP_PREFIX = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?\] ?")
_PY_CAUSE = (
    "The above exception was the direct cause of the following exception",
    "During handling of the above exception, another exception occurred",
)
_PY_HEADER = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?:: ?(?P<msg>.*))?$")
_GO_GOROUTINE = re.compile(r"^goroutine \d+ \[[^\]]*\]:\s*$")
_JAVA_HEADER = re.compile(
    r"^(?:Exception in thread \"[^\"]*\" )?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)(?::\s?(?P<msg>.*))?$"
)
_NODE_HEADER = re.compile(
    r"^(?:Uncaught )?(?P<type>[A-Za-z_$][\w$]*)(?: \[[\w-]+\])?(?:: (?P<msg>.*))?$"
)
_NODE_BRACKETED = re.compile(r"^\[(?P<type>[A-Za-z_$][\w$]*)(?: \[[\w-]+\])?: (?P<msg>.*)\]")
_NODE_CAUSE = re.compile(r"^(?P<indent>\s*)\[cause\]: (?P<header>.*)$")
_NODE_ERRORS = re.compile(r"^(?P<indent>\s*)\[errors\]: \[\s*$")
_DOTNET_HEADER = re.compile(
    r"^(?:Unhandled [Ee]xception[.:] )?"
    r"(?P<type>[A-Za-z_][\w`]*(?:[.+][A-Za-z_][\w`]*)*)(?:\[[^\]]*\])?"
    r"(?: \((?:0x)?[0-9A-Fa-f]+\))?(?: ?:(?: (?P<msg>.*))?)?$"
)
_DOTNET_INNER_K = re.compile(r"^ ?---> \(Inner Exception #\d+\) ?(?P<header>.*)$")
_DOTNET_PORTAL_INNER = re.compile(r"^Inner exception (?P<type>\S+) handled at \S+:$")
_END_INNER = "--- End of inner exception stack trace ---"
_SPLIT_TYPE = re.compile(r"^(?P<type>[A-Za-z_$][\w$.`+]*)(?: \[[\w-]+\])?: (?P<msg>.*)$")


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()[:MAX_MESSAGE]


def _lines(text: str) -> list[str]:
    if "&" in text and ("&lt;" in text or "&gt;" in text or "&amp;" in text or "&#" in text):
        text = html.unescape(text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    stamped = sum(1 for line in lines if _TIMESTAMP_PREFIX.match(line))
    if stamped * 2 > len(lines):
        lines = [_TIMESTAMP_PREFIX.sub("", line) for line in lines]
    return lines


def _runtime(lines: Sequence[str]) -> str | None:
    """The runtime that printed a trace, from its first distinctive line."""
    payload = False
    for raw in lines:
        line = raw[:MAX_LINE]
        text = line.strip()
        if not text:
            continue
        if payload and text.startswith("Stack:"):
            return "rpc"
        if text.startswith("Exception: "):
            payload = True
        if text.endswith("Traceback (most recent call last):") or _PY_FRAME.match(line):
            return "python"
        if (
            _GO_GOROUTINE.match(text)
            or text.startswith(("panic: ", "fatal error: "))
            or "http: panic serving " in text
        ):
            return "go"
        if " ---> " in line or text.startswith(("--- End of", "---> ")):
            return "dotnet"
        if text.startswith("at "):
            kind = _at_kind(text)
            if kind:
                return kind
        if _DOTNET_PORTAL_INNER.match(text):
            return "dotnet"
    return None


def _parse(lines: Sequence[str], rules: FrameRules, depth: int = 0) -> _Exc | None:
    if depth > MAX_NESTING:
        return None
    runtime = _runtime(lines)
    if runtime == "python":
        return _parse_python(lines, rules, depth)
    if runtime == "java":
        return _parse_java(lines, rules)
    if runtime == "node":
        return _parse_node(lines, rules)
    if runtime == "go":
        return _parse_go(lines, rules)
    if runtime == "dotnet":
        return _parse_dotnet(lines, rules, depth)
    if runtime == "rpc":
        start = next(i for i, line in enumerate(lines) if line.strip().startswith("Exception: "))
        wrapper = _Exc()
        _rpc_payload(lines, start, wrapper, rules, depth)
        return wrapper.causes[0] if wrapper.causes else None
    return None


# Python ------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Lines of one level of Python's exception-group drawing, with nested groups in place."""

    depth: int
    items: list[str | _Group] = field(default_factory=list)


@dataclass
class _Group:
    blocks: list[_Block] = field(default_factory=list)
    standalone: bool = False
    """A group printed where a traceback would be (the cause or context of another exception),
    rather than the sub-exceptions of the group whose header precedes it."""


_PY_BOX = re.compile(r"^(?P<indent> *)(?P<mark>[|+])(?P<rest>.*)$")
_PY_SEPARATOR = re.compile(r"^-+ (?:\d+|\.\.\.) -+$")


def _python_blocks(lines: Sequence[str]) -> _Block:
    root = _Block(0)
    stack = [root]
    boxed = any("Exception Group Traceback (most recent call last)" in line for line in lines)

    def close_to(level: int) -> None:
        while len(stack) > 1 and stack[-1].depth > level:
            stack.pop()

    for raw in lines:
        line = raw[:MAX_LINE]
        match = _PY_BOX.match(line) if boxed else None
        if not match:
            close_to(0)
            root.items.append(line)
            continue
        level = min(len(match["indent"]) // 2, MAX_NESTING)
        mark, rest = match["mark"], match["rest"]
        if mark == "|" or rest.startswith(" "):
            close_to(level)
            if level > stack[-1].depth:
                block = _Block(level)
                stack[-1].items.append(_Group([block], standalone=True))
                stack.append(block)
            stack[-1].items.append(rest[1:] if rest.startswith(" ") else rest)
        elif rest.startswith("-+"):
            close_to(level)
            group = _Group()
            stack[-1].items.append(group)
            block = _Block(level + 1)
            group.blocks.append(block)
            stack.append(block)
        elif _PY_SEPARATOR.match(rest):
            close_to(level - 1)
            last = stack[-1].items[-1] if stack[-1].items else None
            group = last if isinstance(last, _Group) and not last.standalone else _Group()
            if group is not last:
                stack[-1].items.append(group)
            block = _Block(level)
            group.blocks.append(block)
            stack.append(block)
        else:
            close_to(level - 1)
    return root


_LAMBDA_HEADER = re.compile(r"\[ERROR\]\s+(?P<rest>[A-Za-z_][\w.]*(?::.*)?)$")
"""AWS Lambda's Python runtime logs an unhandled exception as `[ERROR] KeyError: 'sku'` and then
the traceback's frames, with no exception line after them."""


def _python_header(text: str) -> tuple[str, str]:
    match = _PY_HEADER.match(text)
    if match:
        return match["type"], (match["msg"] or "").strip()[:MAX_MESSAGE]
    return "", text[:MAX_MESSAGE]


def _python_block(block: _Block, rules: FrameRules, depth: int) -> _Exc | None:
    segments: list[_Exc] = []
    linked: list[bool] = []
    current: _Exc | None = None
    link = False
    announced: str | None = None

    def finish(segment: _Exc) -> None:
        nonlocal link
        # Python prints the most recent call last: the crash end is the last frame printed.
        crash_end_first = reversed(segment.printed[-MAX_FRAMES:])
        segment.frames = [_python_frame(file, fn, rules) for file, fn in crash_end_first]
        segments.append(segment)
        linked.append(link)
        link = False

    for item in block.items:
        if isinstance(item, _Group):
            if depth >= MAX_NESTING:
                continue
            members = [_python_block(b, rules, depth + 1) for b in item.blocks[:MAX_MEMBERS]]
            found = [m for m in members if m is not None]
            if item.standalone:
                if found:
                    segments.append(found[0])
                    linked.append(link)
                    link = False
            elif segments:
                segments[-1].causes[:0] = found
            continue
        text = item.strip()
        if text.endswith("Traceback (most recent call last):"):
            if current is not None and current.printed:
                finish(current)
            current = _Exc(opened=True)
            if announced:  # a header printed first; the line after the frames still wins
                current.type, current.message = _python_header(announced)
            continue
        lambda_header = _LAMBDA_HEADER.match(text)
        announced = lambda_header["rest"] if lambda_header and current is None else None
        if text.startswith(_PY_CAUSE):
            link = True
            continue
        match = _PY_FRAME.match(item)
        if match:
            current = current or _Exc()
            current.printed.append((match["file"], match["fn"]))
            continue
        header = current is not None and (current.printed or current.opened)
        if current is not None and header and text and not item[0].isspace():
            current.type, current.message = _python_header(text)
            finish(current)
            current = None
    if current is not None and current.printed:
        finish(current)
    if not segments:
        return None
    # Segments print cause first: each linked one is the cause of the one after it.
    outer = segments[0]
    for index in range(1, len(segments)):
        if not linked[index]:
            break
        segments[index].causes.append(outer)
        outer = segments[index]
    return outer


def _parse_python(lines: Sequence[str], rules: FrameRules, depth: int) -> _Exc | None:
    return _python_block(_python_blocks(lines), rules, depth)


# Java ----------------------------------------------------------------------------------------


def _java_header(text: str) -> tuple[str, str] | None:
    match = _JAVA_HEADER.match(text)
    if not match:
        return None
    return match["type"], (match["msg"] or "").strip()[:MAX_MESSAGE]


def _header_before(
    lines: Sequence[str], first_frame: int, parse: Callable[[str], tuple[str, str] | None]
) -> tuple[int, tuple[str, str]] | None:
    """Where the exception header printed before a trace's first frame is, and what it says: the
    first line after the last blank one that reads as a header, preferring one whose type ends
    in Error or Exception (log lines and source excerpts come before it)."""
    start = first_frame
    while start > 0 and lines[start - 1].strip():
        start -= 1
    found: list[tuple[int, tuple[str, str]]] = []
    for index in range(start, first_frame):
        header = parse(lines[index][:MAX_LINE].strip())
        if header:
            found.append((index, header))
    for index, header in found:
        if re.search(r"(?:Error|Exception|Rejection|Failure)$", header[0]):
            return index, header
    return found[0] if found else None


def _parse_java(lines: Sequence[str], rules: FrameRules) -> _Exc | None:
    first = next((i for i, line in enumerate(lines) if _java_parts(line[:MAX_LINE])), None)
    if first is None:
        return None
    header = _header_before(lines, first, _java_header)
    root = _Exc(*(header[1] if header else ("", "")))
    current = root
    suppressed: int | None = None
    for raw in lines[first:]:
        line = raw[:MAX_LINE]
        text = line.strip()
        indent = len(line) - len(line.lstrip())
        if suppressed is not None:
            if indent > suppressed or (
                indent == suppressed and text.startswith(("Caused by:", "Suppressed:"))
            ):
                continue
            suppressed = None
        if text.startswith("Suppressed: "):
            suppressed = indent
            continue
        if text.startswith("Caused by: "):
            cause = _Exc(*(_java_header(text[len("Caused by: ") :]) or ("", text[11:])))
            current.causes.append(cause)
            current = cause
            continue
        if len(current.frames) >= MAX_FRAMES and text.startswith("at "):
            continue
        frame = _java_frame(line, rules)
        if frame:
            current.frames.append(frame)
        elif text.startswith("..."):
            continue
        elif current.frames and text and indent == 0:
            break
    return root


# Node ----------------------------------------------------------------------------------------


def _node_header(text: str) -> tuple[str, str] | None:
    match = _NODE_HEADER.match(text) or _NODE_BRACKETED.match(text)
    if not match:
        return None
    return match["type"], (match["msg"] or "").strip()[:MAX_MESSAGE]


def _node_error(text: str) -> tuple[str, str] | None:
    """An `[errors]` member's header (not one of the error's own properties, `code: 'E'`)."""
    header = _node_header(text)
    return header if header and header[0].endswith(("Error", "Exception")) else None


def _parse_node(lines: Sequence[str], rules: FrameRules) -> _Exc | None:
    first = next((i for i, line in enumerate(lines) if _node_parts(line[:MAX_LINE])), None)
    if first is None:
        return None
    header = _header_before(lines, first, _node_header)
    root = _Exc(*(header[1] if header else ("", "")))
    current = root
    stack: list[tuple[int, _Exc]] = [(-1, root)]
    errors: int | None = None
    # An AggregateError prints its `[errors]: [` members before any frame.
    for raw in lines[header[0] + 1 if header else first :]:
        line = raw[:MAX_LINE]
        text = line.strip()
        if len(current.frames) >= MAX_FRAMES and text.startswith("at "):
            continue
        frame = _node_frame(line, rules)
        if frame:
            current.frames.append(frame)
            continue
        if not text:
            break
        cause = _NODE_CAUSE.match(line)
        errors_start = _NODE_ERRORS.match(line)
        indent = len(line) - len(line.lstrip())
        if cause and len(stack) <= MAX_NESTING:
            indent = len(cause["indent"])
            while len(stack) > 1 and stack[-1][0] >= indent:
                stack.pop()
            current = _Exc(*(_node_header(cause["header"].removesuffix(" {")) or ("", "")))
            parent = stack[-1][1]
            if not parent.caused:
                parent.caused = True
                parent.causes.insert(0, current)
            stack.append((indent, current))
        elif errors_start:
            errors = len(errors_start["indent"])
        elif errors is not None and indent > errors and _node_error(text.removesuffix(" {")):
            member = _Exc(*(_node_error(text.removesuffix(" {")) or ("", "")))
            while len(stack) > 1 and stack[-1][0] >= indent:
                stack.pop()
            if len(stack[-1][1].causes) < MAX_MEMBERS:
                stack[-1][1].causes.append(member)
            current = member
        elif errors is not None and indent <= errors and text.startswith("]"):
            errors = None
    return root


# Go ------------------------------------------------------------------------------------------


def _parse_go(lines: Sequence[str], rules: FrameRules) -> _Exc | None:
    exc = _Exc()
    start = 0
    for index, raw in enumerate(lines):
        text = raw[:MAX_LINE].strip()
        value = None
        if "http: panic serving " in text:
            value = text.split("http: panic serving ", 1)[1].partition(": ")[2]
        elif text.startswith(("panic: ", "fatal error: ")):
            value = text.split(": ", 1)[1]
            exc.type = "fatal error" if text.startswith("fatal") else ""
        elif text.startswith("runtime error: "):
            value = text
        if value is not None:
            value = value.rstrip()
            for suffix in (" [recovered]", " [recovered, repanicked]"):
                value = value.removesuffix(suffix)
            value = value.strip()
            exc.message = value[:MAX_MESSAGE]
            runtime_error = value.startswith("runtime error: ")
            exc.type = exc.type or ("runtime.Error" if runtime_error else "panic")
            start = index + 1
            break
    in_goroutine = False
    frames: list[Frame] = []
    index = start
    while index < len(lines):
        line = lines[index][:MAX_LINE]
        text = line.strip()
        if _GO_GOROUTINE.match(text):
            if in_goroutine:
                break
            in_goroutine = True
        elif in_goroutine and not text and frames:
            break
        elif in_goroutine and text.startswith("created by "):
            index += 2
            continue
        elif in_goroutine and len(frames) >= MAX_FRAMES:
            pass
        elif in_goroutine:
            name = _go_function(line)
            following = lines[index + 1][:MAX_LINE] if index + 1 < len(lines) else ""
            go_file = _GO_FILE.match(following)
            if name and go_file:
                function = normalize_function(name)
                in_app = not rules.is_go_std(name) and rules.in_app(function, go_file["file"])
                frames.append(Frame(function, in_app, go_file["file"]))
                index += 2
                continue
        index += 1
    # A recovered panic's stack starts in the recovering code: the crash is below `panic(...)`.
    last_panic = max(
        (i for i, f in enumerate(frames) if f.function in ("panic", "runtime.gopanic")), default=-1
    )
    exc.frames = frames[last_panic + 1 :]
    return exc if exc.type or exc.frames else None


# .NET ----------------------------------------------------------------------------------------


def _dotnet_header(text: str) -> tuple[str, str]:
    text = text.strip()
    match = _DOTNET_HEADER.match(text[:MAX_LINE])
    if match and ("." in match["type"] or match["type"].endswith(("Exception", "Error"))):
        return match["type"], (match["msg"] or "").strip()[:MAX_MESSAGE]
    return "", text[:MAX_MESSAGE]


def _explode_arrows(lines: Sequence[str]) -> list[str]:
    """.NET Framework prints `Outer: msg ---> Inner: msg` on one line: one exception a line."""
    out: list[str] = []
    for raw in lines:
        line = raw[:MAX_LINE]
        pieces = line.split(" ---> ")
        if pieces[0].strip() or len(pieces) == 1:
            out.append(pieces[0])
        out.extend(" ---> " + piece for piece in pieces[1:])
    return out


def _is_arrow(line: str) -> bool:
    return line.lstrip().startswith("--->") and not _DOTNET_INNER_K.match(line)


def _dotnet_structural(line: str) -> bool:
    text = line.strip()
    return bool(
        _is_arrow(line)
        or _DOTNET_INNER_K.match(line)
        or text.startswith("--- End of")
        or text.endswith("<---")
        or _DOTNET_PORTAL_INNER.match(text)
        or _dotnet_parts(text)
    )


def _embedded(
    exception: Sequence[str], stack: Sequence[str], rules: FrameRules, depth: int
) -> _Exc | None:
    """The worker's own exception from the host's `Exception: ...` / `Stack: ...` payload: the
    stack when it names its exception (Node's error.stack, Python's full traceback), else the
    exception text when it has frames (.NET isolated sends ToString()), else the exception
    line's type and message with the stack's frames (Python's frames-only stack)."""
    from_exception = _parse(exception, rules, depth + 1) if exception else None
    from_stack = _parse(stack, rules, depth + 1) if stack else None
    if from_stack is not None and from_stack.type:
        return from_stack
    if from_exception is not None and (from_exception.frames or from_exception.causes):
        return from_exception
    head = _first_line(exception[0]) if exception else ""
    match = _SPLIT_TYPE.match(head)
    frames = from_stack.frames if from_stack else []
    if not match and not frames:
        return None
    if match:
        return _Exc(match["type"], match["msg"].strip(), list(frames))
    return _Exc("", head, list(frames))


def _rpc_payload(
    lines: Sequence[str], index: int, owner: _Exc, rules: FrameRules, depth: int
) -> int:
    """Read `Exception: ...\\nStack: ...` from `index` (the host's RpcException message) and
    add the worker's exception as the owner's cause; return where the payload ends."""
    exception = [lines[index].strip()[len("Exception: ") :]]
    index += 1
    stack_at = next((i for i in range(index, len(lines)) if lines[i].startswith("Stack:")), None)
    while index < len(lines) and index != stack_at:
        if stack_at is None and lines[index].strip() == _END_INNER:
            break
        exception.append(lines[index])
        index += 1
    stack: list[str] = []
    if index < len(lines) and lines[index].startswith("Stack:"):
        first = lines[index][len("Stack:") :]
        stack.append(first[1:] if first.startswith(" ") else first)
        index += 1
        while index < len(lines):
            if lines[index].strip() == _END_INNER or _is_arrow(lines[index]):
                break
            stack.append(lines[index])
            index += 1
    if depth < MAX_NESTING:
        worker = _embedded(exception, stack, rules, depth)
        if worker is not None:
            owner.causes.append(worker)
    return index


def _dotnet_exception(
    lines: Sequence[str], index: int, header: str, rules: FrameRules, closing: bool, depth: int
) -> tuple[_Exc, int]:
    """One exception as .NET's ToString() prints it, from the line after its header: message
    lines, then ` ---> ` its inner exception and `--- End of inner exception stack trace ---`,
    then its own frames, then (AggregateException) `(Inner Exception #n) ...<---` siblings."""
    header = header.strip()
    ends_here = closing and header.endswith("<---")
    exc = _Exc(*_dotnet_header(header.removesuffix("<---")))
    if ends_here:
        return exc, index
    n = len(lines)
    # Message continuation; the Functions host's RpcException carries the worker's exception.
    while index < n and not _dotnet_structural(lines[index]):
        if exc.message.startswith("Result:") and lines[index].strip().startswith("Exception: "):
            index = _rpc_payload(lines, index, exc, rules, depth)
            break
        if lines[index].strip() == "<---" and closing:
            return exc, index + 1
        index += 1
    if index < n and _is_arrow(lines[index]) and depth < MAX_NESTING:
        inner, index = _dotnet_exception(
            lines, index + 1, lines[index].lstrip()[4:], rules, False, depth + 1
        )
        exc.causes.insert(0, inner)
        if index < n and lines[index].strip() == _END_INNER:
            index += 1
    while index < n:
        text = lines[index].strip()
        if text.startswith("--- End of stack trace from previous location"):
            index += 1
            continue
        if closing and text == "<---":
            return exc, index + 1
        body = text.removesuffix("<---") if closing else text
        if len(exc.frames) >= MAX_FRAMES and body.startswith("at "):
            index += 1
            if body != text:
                return exc, index
            continue
        frame = _dotnet_frame(body, rules)
        if frame is None:
            break
        exc.frames.append(frame)
        index += 1
        if body != text:
            return exc, index
    while index < n and depth < MAX_NESTING and len(exc.causes) <= MAX_MEMBERS:
        sibling = _DOTNET_INNER_K.match(lines[index])
        portal = _DOTNET_PORTAL_INNER.match(lines[index].strip())
        if sibling:
            member, index = _dotnet_exception(
                lines, index + 1, sibling["header"], rules, True, depth + 1
            )
            exc.causes.append(member)
        elif portal and not exc.causes:
            inner, index = _dotnet_exception(
                lines, index + 1, portal["type"], rules, False, depth + 1
            )
            exc.causes.append(inner)
        elif not lines[index].strip():
            index += 1
        else:
            break
    return exc, index


def _parse_dotnet(lines: Sequence[str], rules: FrameRules, depth: int) -> _Exc | None:
    exploded = _explode_arrows(lines)
    for index, line in enumerate(exploded):
        text = line.strip()
        if not text or _dotnet_structural(line):
            continue
        if _dotnet_header(text)[0]:
            exc, _ = _dotnet_exception(exploded, index + 1, text, rules, False, depth)
            return exc
    first = next((i for i, line in enumerate(exploded) if _dotnet_frame(line, rules)), None)
    if first is None:
        return None
    exc, _ = _dotnet_exception(exploded, first, "", rules, False, depth)
    return exc


# ------------------------------------------------------------------------------------ chain


def _linearize(root: _Exc) -> list[_Exc]:
    """Outermost first; the primary cause's line comes last, so it is the innermost."""
    chain: list[_Exc] = []
    pending = [root]
    while pending:
        exc = pending.pop()
        chain.append(exc)
        pending.extend(exc.causes)
    return chain


def _is_anonymous(function: str) -> bool:
    return function.endswith(_ANONYMOUS) and not function.endswith("<module>")


def _named(frames: Sequence[Frame]) -> tuple[Frame, ...]:
    """Anonymous functions (a JavaScript callback, a Python lambda) are named after the nearest
    in-app caller in the same file, the function that usually defines them, as .NET and Java
    name a lambda after its enclosing method."""
    out = list(frames)
    for index, frame in enumerate(out):
        if not (frame.in_app and frame.file and _is_anonymous(frame.function)):
            continue
        for position in range(index + 1, len(out)):
            caller = out[position]
            if not caller.in_app:
                continue
            if caller.file == frame.file and not _is_anonymous(caller.function):
                out[index] = Frame(caller.function, True, frame.file)
            break
    return tuple(out)


def parse_chain(text: str | None, rules: FrameRules = DEFAULT_RULES) -> list[ChainedException]:
    """The exceptions of a trace, outermost (the wrapper) first and the innermost cause last,
    each with its frames crash end first. Empty when the text holds no trace."""
    if not text:
        return []
    root = _parse(_lines(text), rules)
    if root is None:
        return []
    return [
        ChainedException(exc.type, exc.message, _named(exc.frames))
        for exc in _linearize(root)
        if exc.type or exc.frames
    ]


def root_cause(chain: Sequence[ChainedException]) -> ChainedException | None:
    """The innermost exception the app raised itself (its crash-end frame is in-app), else the
    innermost one with any in-app frame, else the innermost one."""
    for exception in reversed(chain):
        if exception.frames and exception.frames[0].in_app:
            return exception
    for exception in reversed(chain):
        if any(f.in_app for f in exception.frames):
            return exception
    return chain[-1] if chain else None


def culprit_frames(
    exception: ChainedException, rules: FrameRules = DEFAULT_RULES
) -> tuple[str, ...]:
    """The functions that identify the bug: the exception's innermost in-app function, and while
    that is a throw helper or guard (`FrameRules.is_helper`), its next in-app caller too (at most
    MAX_CULPRIT functions). Empty when no frame is in-app."""
    functions = [f.function for f in exception.frames if f.in_app]
    culprit: list[str] = []
    for function in functions[:MAX_CULPRIT]:
        culprit.append(function)
        if not rules.is_helper(function):
            break
    return tuple(culprit)


def entry_frame(exception: ChainedException, rules: FrameRules = DEFAULT_RULES) -> str | None:
    """Where the failing code path began: from the culprit outward, the last app frame before a
    framework's dispatch (an HTTP server, a router, a message listener, the Functions worker),
    crossing only runtime plumbing (async machinery, reflection, proxies, callbacks).

    The same shared function failing under two operations (two handlers a framework calls) is
    two failures; reached through two helpers of one operation, one. Middleware the framework
    calls around a handler is a code path of its own, so it does not hide the handler."""
    entry: str | None = None
    for frame in exception.frames:
        if frame.in_app:
            entry = frame.function
        elif entry is not None and not rules.is_plumbing(frame):
            break
    return entry


def looks_like_trace(text: str) -> bool:
    """Whether a message carries a stack trace (console and container logs often do)."""
    if "\n" not in text:
        return False
    lines = _lines(text[:200_000])
    for index, raw in enumerate(lines[:400]):
        line = raw[:MAX_LINE]
        text = line.strip()
        if text.endswith("Traceback (most recent call last):") or _GO_GOROUTINE.match(text):
            return True
        if _PY_FRAME.match(line) or (text.startswith("at ") and _at_kind(text)):
            return True
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _go_function(line) and _GO_FILE.match(following[:MAX_LINE]):
            return True
    return False


# ------------------------------------------------------------------- App Insights Details

_SOURCE_STYLES = (
    ("node", _JS_EXTENSIONS),
    ("python", (".py",)),
    ("java", (".java", ".kt", ".kts", ".scala", ".groovy")),
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _stack_frames(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    frames = [f for f in item.get("parsedStack") or [] if isinstance(f, Mapping)]
    return sorted(frames, key=lambda f: f["level"] if isinstance(f.get("level"), int) else 0)


def _style(items: Sequence[Mapping[str, Any]]) -> str:
    """The runtime the SDK reported from, by its frames' shape."""
    for item in items:
        for frame in _stack_frames(item):
            if _text(frame.get("assembly")).startswith("at "):
                return "node"
            name = _text(frame.get("fileName")).lower()
            for style, extensions in _SOURCE_STYLES:
                if name.endswith(extensions):
                    return style
        raw = _text(item.get("rawStack") or item.get("stack"))
        if raw:
            return _runtime(_lines(raw)) or "dotnet"
    return "dotnet"


def _frame_line(frame: Mapping[str, Any], style: str) -> str | None:
    method = _text(frame.get("method"))
    file = _text(frame.get("fileName"))
    line = frame.get("line") or 0
    if style == "node":
        assembly = _text(frame.get("assembly"))
        if assembly.startswith("at ") and _node_parts(assembly):
            return f"    {assembly}"
        if method and method != "<no_method>":
            return f"    at {method} ({file}:{line})" if file else f"    at {method} (<anonymous>)"
        return f"    at {file}:{line}" if file else None
    if not method:
        return None
    if style == "python":
        return f'  File "{file or "<unknown>"}", line {line}, in {method.rsplit(".", 1)[-1]}'
    if style == "java":
        source = file.replace("\\", "/").rsplit("/", 1)[-1] or "Unknown Source"
        return f"\tat {method}({source}{f':{line}' if line else ''})"
    return f"   at {method}" + (f" in {file}:line {line}" if file else "")


def _item_text(item: Mapping[str, Any], style: str) -> tuple[list[str], list[str]]:
    """(header lines, frame lines) of one Details item."""
    type_name = _text(item.get("type") or item.get("typeName"))
    message = _text(item.get("message"))
    header = f"{type_name}: {message}" if type_name and message else type_name or message
    raw = _text(item.get("rawStack") or item.get("stack"))
    if raw:
        raw_lines = raw.replace("\r\n", "\n").split("\n")
        root = _parse(_lines(raw), DEFAULT_RULES)
        if root is not None and root.type:
            return [], raw_lines
        return header.split("\n"), raw_lines
    frames = [_frame_line(f, style) for f in _stack_frames(item)]
    return header.split("\n"), [f for f in frames if f]


def _tree(items: Sequence[Mapping[str, Any]]) -> tuple[int, dict[int, list[int]]]:
    """The outermost item and each item's inner items (indexes), by `outerId` / `id`; items
    without usable ids are taken as a chain in array order."""
    ids = [_text(item.get("id")) for item in items]
    children: dict[int, list[int]] = {}
    if not all(ids) or len(set(ids)) != len(ids):
        for index in range(1, len(items)):
            children[index - 1] = [index]
        return 0, children
    position = {item_id: index for index, item_id in enumerate(ids)}
    roots = []
    for index, item in enumerate(items):
        outer = position.get(_text(item.get("outerId")))
        if outer is None or outer == index:
            roots.append(index)
        else:
            children.setdefault(outer, []).append(index)
    return (roots[0] if roots else 0), children


def _render_dotnet(
    items: Sequence[Mapping[str, Any]], index: int, children: Mapping[int, list[int]], depth: int
) -> list[str]:
    header, frames = _item_text(items[index], "dotnet")
    lines = list(header)
    kids = children.get(index, []) if depth < MAX_NESTING else []
    if kids:
        inner = _render_dotnet(items, kids[0], children, depth + 1)
        lines += [" ---> " + inner[0], *inner[1:], f"   {_END_INNER}"]
    lines += frames
    for number, kid in enumerate(kids[1:], 1):
        member = _render_dotnet(items, kid, children, depth + 1)
        member[0] = f" ---> (Inner Exception #{number}) {member[0]}"
        member[-1] += "<---"
        lines += member
    return lines or [""]


def _flatten(index: int, children: Mapping[int, list[int]]) -> list[int]:
    chain = [index]
    while len(chain) <= MAX_NESTING and children.get(chain[-1]):
        chain.append(children[chain[-1]][0])
    return chain


_PYTHON_CAUSE_SEPARATOR = (
    "\n\nThe above exception was the direct cause of the following exception:\n\n"
)


def exception_text_from_details(details: Any) -> str | None:
    """App Insights' `AppExceptions.Details` (one item per exception, inner ones pointing at their
    outer one by `outerId`) as the text the runtime would have printed, which `parse_chain` reads
    back: .NET's ToString() layout (` ---> ` inner exceptions, `(Inner Exception #n)` siblings),
    Java's `Caused by:`, Python's chained tracebacks, Node's V8 frames (the classic Node.js SDK's
    `assembly` holds the original frame line). `rawStack` (Java agent, OpenTelemetry exporters) is
    used as printed, under its header when it lacks one."""
    if not isinstance(details, list):
        return _text(details) or None
    items = [item for item in details if isinstance(item, Mapping)]
    if not items:
        return None
    root, children = _tree(items)
    style = _style(items)
    if style == "dotnet":
        text = "\n".join(_render_dotnet(items, root, children, 0))
    else:
        blocks = []
        for depth, index in enumerate(_flatten(root, children)):
            header, frames = _item_text(items[index], style)
            if style == "node" and depth:
                pad = "  " * depth
                block = [f"{pad}[cause]: {header[0] if header else ''}", *header[1:]]
                block += [pad + line for line in frames]
            else:
                prefix = "Caused by: " if style == "java" and depth and header else ""
                block = [prefix + line for line in header[:1]] + header[1:]
                if style == "python" and header:
                    block = ["Traceback (most recent call last):", *reversed(frames), *block]
                else:
                    block += frames
            blocks.append("\n".join(block))
        if style == "python":
            separator = (
                "\n\nThe above exception was the direct cause of the following exception:\n\n"
            )
            text = separator.join(reversed(blocks))
        else:
            text = "\n".join(blocks)
    return text.strip("\n") or None
