"""Frozen copy used by fingerprint version 2 (do not change; see detection.fingerprint_v2).

Stack traces from .NET, Java, Python, JavaScript/Node and Go, reduced to what identifies a bug.

A trace is split into its chain of exceptions (`--->` inner exceptions in .NET, `Caused by:` in
Java, chained tracebacks in Python); each keeps its type and its frames as `module.function`,
without files, line numbers, columns, addresses or compiler-generated names (async state machines,
lambdas, closures), so a release that moves code down a few lines, or another build, changes
nothing. A frame is in-app unless a `FrameRules` rule says it belongs to a framework or library:
those frames say where the failure surfaced, not where the bug is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_DOTNET = re.compile(r"^\s*at (?P<fn>[^\s(]+)\(.*?\)(?: in (?P<file>.+?):line \d+)?\s*$")
_DOTNET_BARE = re.compile(r"^\s*at (?P<fn>[\w.+<>`$\[\],]+)\s*(?: in (?P<file>.+?):line \d+)?$")
_JAVA = re.compile(r"^\s*at (?:[\w.$-]+/)*(?P<fn>[\w.$<>]+)\((?P<file>[^)]*)\)\s*$")
_NODE = re.compile(
    r"^\s*at (?:async )?(?:new )?(?P<fn>[^\s(]+(?: \[as \w+\])?) \((?P<file>[^)]*)\)\s*$"
    r"|^\s*at (?:async )?(?P<file2>(?:/|[A-Za-z]:\\|file:|node:)\S*?)(?::\d+)+\s*$"
)
_PYTHON = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<fn>\S+)')
_GO_FUNC = re.compile(r"^(?P<fn>(?:[\w.-]+/)*[\w.-]+\.(?:\(\*?[\w.]+\)\.)?[\w.]+)\(.*\)$")
_GO_FILE = re.compile(r"^\s+(?P<file>\S+\.go):\d+(?: \+0x[0-9a-f]+)?$")
_EXCEPTION_HEADER = re.compile(
    r"^(?:Caused by: |Exception: |panic: |Uncaught |Unhandled (?:exception|rejection)\.? )?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:[.:][\w$]+)*(?:Error|Exception|Exit|Interrupt|Warning|Panic|"
    r"Fault|Failure|Rejection|error)\b)(?: ?: ?| |$)"
)
_CHAINED = re.compile(
    r"^(?: ?---> |Caused by: |During handling of the above exception"
    r"|The above exception was the direct cause)"
)
_GENERATED = (
    (re.compile(r"\+<(\w+)>d__\d+\.MoveNext$"), r".\1"),  # .NET async state machine
    (re.compile(r"<(\w+)>[a-z]__\w+"), r"\1"),  # .NET lambda / local function
    (re.compile(r"[+.]<>c(?:__DisplayClass\w+)?(?=[+.])"), ""),  # .NET closure class
    (re.compile(r"\$\$(?:Enhancer|FastClass|Lambda|SpringCGLIB)\w*(?:\$\$\w+)?"), ""),  # Java
    (re.compile(r"lambda\$(\w+)\$\d+"), r"\1"),  # Java lambda
    (re.compile(r"\$(?:Proxy)?\d+\b"), ""),  # Java anonymous / proxy classes
    (re.compile(r"\.func\d+(?:\.\d+)*$"), ""),  # Go closure
    (re.compile(r"\.\.?\d+$"), ""),  # Python/Go numbered inner names
)


@dataclass(frozen=True)
class FrameRules:
    """Which frames are framework or library code (everything else is in-app)."""

    library_prefixes: tuple[str, ...] = (
        "System.",
        "Microsoft.",
        "Azure.",
        "Newtonsoft.",
        "Npgsql.",
        "Grpc.",
        "Polly.",
        "java.",
        "javax.",
        "jdk.",
        "sun.",
        "com.sun.",
        "kotlin.",
        "kotlinx.",
        "scala.",
        "org.springframework.",
        "org.apache.",
        "org.hibernate.",
        "io.netty.",
        "reactor.",
        "io.grpc.",
        "okhttp3.",
        "com.fasterxml.",
        "com.azure.",
        "com.microsoft.",
        "io.micrometer.",
        "runtime.",
        "net/http.",
        "net.",
        "reflect.",
        "sync.",
        "syscall.",
        "internal/",
        "testing.",
        "encoding/",
        "database/sql.",
    )
    library_paths: tuple[str, ...] = (
        "site-packages/",
        "dist-packages/",
        "/lib/python",
        "<frozen ",
        "azure_functions_worker",
        "node_modules/",
        "node:",
        "<anonymous>",
        "/usr/local/go/",
        "/go/pkg/mod/",
    )

    def in_app(self, function: str, file: str) -> bool:
        return not (
            function.startswith(self.library_prefixes)
            or file.startswith("internal/")
            or any(part in file for part in self.library_paths)
        )


DEFAULT_RULES = FrameRules()


@dataclass(frozen=True)
class Frame:
    function: str
    in_app: bool


@dataclass(frozen=True)
class ChainedException:
    """One exception of the chain, outermost first."""

    type: str
    frames: tuple[Frame, ...]


def normalize_function(function: str) -> str:
    """The function's name without compiler-generated parts or argument lists."""
    for pattern, replacement in _GENERATED:
        function = pattern.sub(replacement, function)
    return function.replace("+", ".")


def _python_function(file: str, function: str) -> str:
    module = re.sub(r"\.py$", "", file.replace("\\", "/"))
    for marker in ("site-packages/", "dist-packages/", "wwwroot/", "/app/", "/src/"):
        if marker in module:
            module = module.rsplit(marker, 1)[1]
            break
    else:
        module = module.rsplit("/", 1)[-1]
    return f"{module.strip('/').replace('/', '.')}.{function}"


def _frame(line: str, following: str, rules: FrameRules) -> Frame | None:
    """A frame from one line (Go puts the file on the following line)."""
    match = _PYTHON.match(line)
    if match:
        file, function = match["file"], _python_function(match["file"], match["fn"])
        return Frame(normalize_function(function), rules.in_app(function, file))
    match = _JAVA.match(line)
    if match and "." in match["fn"] and " " not in match["file"]:
        return Frame(normalize_function(match["fn"]), rules.in_app(match["fn"], match["file"]))
    match = _DOTNET.match(line) or _DOTNET_BARE.match(line)
    if match and not line.lstrip().startswith("at async ") and "/" not in match["fn"]:
        file = match["file"] or ""
        if not file.endswith((".js", ".ts", ".mjs", ".cjs")):
            return Frame(normalize_function(match["fn"]), rules.in_app(match["fn"], file))
    match = _NODE.match(line)
    if match:
        file = match["file"] or match["file2"] or ""
        function = match["fn"] or "<anonymous>"
        if function == "<anonymous>" and file:
            function = re.sub(r"(?::\d+)+$", "", file).rsplit("/", 1)[-1]
        return Frame(normalize_function(function), rules.in_app(function, file))
    match = _GO_FUNC.match(line.strip())
    go_file = _GO_FILE.match(following)
    if match and go_file:
        function = match["fn"]
        stdlib = "." not in function.split("/", 1)[0] and not function.startswith("main.")
        in_app = not stdlib and rules.in_app(function, go_file["file"])
        return Frame(normalize_function(function), in_app)
    return None


def parse_chain(text: str | None, rules: FrameRules = DEFAULT_RULES) -> list[ChainedException]:
    """The exceptions in a trace, outermost first, each with its frames top first."""
    if not text:
        return []
    chain: list[ChainedException] = []
    current_type = ""
    frames: list[Frame] = []
    python_chain = False
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        frame = _frame(line, following, rules)
        if frame is not None:
            frames.append(frame)
            continue
        stripped = line.strip()
        if _CHAINED.match(line) or _CHAINED.match(stripped):
            python_chain = python_chain or stripped.startswith(("During", "The above"))
            chain.append(ChainedException(current_type, tuple(frames)))
            current_type, frames = "", []
            stripped = re.sub(r"^(?:---> |Caused by: )", "", stripped)
        header = _EXCEPTION_HEADER.match(stripped)
        if header and not current_type:
            current_type = header["type"]
        elif stripped.startswith("panic: ") and not current_type:
            current_type = "panic"
    chain.append(ChainedException(current_type, tuple(frames)))
    chain = [c for c in chain if c.type or c.frames]
    # Python prints the cause first; every other runtime prints the outermost first.
    return list(reversed(chain)) if python_chain else chain


def root_cause(chain: Sequence[ChainedException]) -> ChainedException | None:
    """The innermost exception that has in-app frames (else the innermost)."""
    for exception in reversed(chain):
        if any(f.in_app for f in exception.frames):
            return exception
    return chain[-1] if chain else None


def looks_like_trace(text: str) -> bool:
    """Whether a message carries a stack trace (console and container logs often do)."""
    if "\n" not in text:
        return False
    lines = text.split("\n")[:80]
    return any(
        line.startswith(("Traceback", "goroutine "))
        or _frame(line, lines[i + 1] if i + 1 < len(lines) else "", DEFAULT_RULES) is not None
        for i, line in enumerate(lines)
    )
