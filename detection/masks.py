"""Message parameterization: values that vary between occurrences become named placeholders.

The masks are data (a table of named regular expressions, in priority order, as Sentry's
parameterization is), compiled into one alternation and applied in a single left-to-right pass.
Masking works token by token (a token is a run of non-whitespace): log values rarely contain
spaces, a token's masked form can be cached (repeated words cost one dictionary lookup), and the
work per line stays linear whatever its length. Whitespace runs collapse to one space.

Every placeholder is `<name>`; `template_key` turns them all into `<*>`, because the same position
can hold an `<int>` one time and a `<hex>` the next (both are just values).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WILDCARD = "<*>"
_MAX_TOKEN = 512
_CACHE_LIMIT = 200_000

_DIGIT = r"(?=[^\s]*\d)"
_START = r"(?<![\w-])(?<!\w\.)"
_END = r"(?![\w-])(?!\.\w)"
_HOST_SUFFIXES = (
    "com|net|org|edu|gov|mil|int|io|dev|app|cloud|local|localdomain|internal|lan|corp|"
    "us|uk|de|fr|nl|be|eu|jp|cn|in|ru|br|au|ca|ch|se|no|es|it|pl|at|dk|fi|info|biz|co"
)

MASKS: Sequence[tuple[str, str]] = (
    ("url", r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+"),
    ("email", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("uuid", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    (
        "datetime",
        r"\d{4}-\d{2}-\d{2}(?:[T_]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    ),
    ("time", r"(?<![\w:.])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])"),
    (
        "mac",
        r"(?<![\w:-])[0-9a-fA-F]{2}(?:(?::[0-9a-fA-F]{2}){5,}|(?:-[0-9a-fA-F]{2}){5,})(?![\w:-])",
    ),
    ("ip", r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])"),
    (
        "ip",
        r"(?:" + _DIGIT + r"|(?=(?:[0-9a-fA-F]{1,4}:){3}))"
        r"(?<![\w:])(?:[0-9a-fA-F]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4})"
        r"(?![\w:])",
    ),
    ("ip", r"(?<![\w:])::(?![\w:])"),
    ("path", r"(?:[A-Za-z]:)?[\\/][\w.~%@+$-]+(?:[\\/][\w.~%@+$-]*)+"),
    ("path", r"(?<![\w/\\])(?:\.\.?|~)[\\/][\w.~%@+$-]+(?:[\\/][\w.~%@+$-]+)*"),
    ("path", r"(?<![\w/\\])[\w.~%@+$-]+(?:[\\/][\w.~%@+$-]+){2,}"),
    ("host", r"(?<![\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:" + _HOST_SUFFIXES + r")(?![\w.-])"),
    ("empty", r"\(\)|\[\]|\{\}|''|\"\""),
    ("hex", r"(?<![\w-])0[xX][0-9a-fA-F]+(?![\w-])"),
    ("hex", _DIGIT + r"(?<![\w-])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{6,}(?![\w-])"),
    ("value", r"(?<=[\w\]])=(?!=)[^\s,;&)\]}>]+"),
    ("quoted", r"'[^'\s]+'|\"[^\"\s]+\"|`[^`\s]+`"),
    (
        "quantity",
        _START + r"-?\d+(?:\.\d+)?(?i:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hrs|d|b|kb|mb|gb|tb|"
        r"kib|mib|gib|k|%)" + _END,
    ),
    ("float", _START + r"-?\d+\.\d+(?:[eE][+-]?\d+)?" + _END),
    ("int", _START + r"-?\d+" + _END),
    ("id", _START + r"(?:[\w-]+\.)*[\w-]*\d[\w-]*(?:\.[\w-]+)*"),
    ("weekday", r"(?<![\w.-])(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?![\w.-])"),
    (
        "month",
        r"(?<![\w.-])(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)(?![\w.-])",
    ),
)

_PATTERN = re.compile("|".join(f"(?P<m{i}>{pattern})" for i, (_, pattern) in enumerate(MASKS)))
_NAMES = {f"m{i}": name for i, (name, _) in enumerate(MASKS)}
_PLACEHOLDER = re.compile(r"<[a-z*]+>")
_VALUE_ONLY = re.compile(r"[^\w]*(?:<\*>[^\w]*)+")


_USER_WORDS = ("user", "user:", "username", "username:", "login:", "account")
_CALENDAR = frozenset(
    ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    + ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec")
)
UNITS = (
    ("b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "bytes", "ns", "us", "µs", "ms", "s")
    + ("sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs")
    + ("hour", "hours", "day", "days", "%")
)

# Shapes whose key is known without running every mask (a plain word; a word with a digit, an
# IPv4 with port or an absolute path, each one value; key=value): same result, much faster.
_ONE_VALUE = (
    r"[\"'(\[{/#]*(?:[\w-]+\.)*[\w-]*\d[\w-]*(?:\.[\w-]+)*[\"')\]},.;:!?]*"
    r"|/?\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?[,.;:]?"
    r"|[\\/][\w.~%@+$-]+(?:[\\/][\w.~%@+$-]*)+[,;:]?"
)
_VALUE_TOKEN = re.compile(_ONE_VALUE)
_PLAIN_WORD = re.compile(r"[(\[]?([A-Za-z_-]+)[,.:;!?)\]]*")
_KEY_VALUE = re.compile(r"([A-Za-z_][A-Za-z_.-]*)=[^\s,;&)\]}>=<\"']+")
_QUOTED_PHRASE = re.compile(r"(?<![\w'])'[^'\n]{0,63}\s[^'\n]{0,63}'(?![\w'])")
"""A single-quoted value with spaces in it (`'1011 AB'`): one value, not several tokens."""
_USER_TOKENS = frozenset(
    variant for word in _USER_WORDS for variant in (word, word.capitalize(), word.upper())
)
_VALUE_RUN = re.compile(
    r"<\*>(?: (?:<\*>|(?i:" + "|".join(map(re.escape, UNITS)) + r")[,;:.)\]}]*)(?!\S))+"
)


def _replace(match: re.Match[str]) -> str:
    name = _NAMES[match.lastgroup or ""]
    return "=<value>" if name == "value" else f"<{name}>"


# Masks depend on where digits are, never on which digits they are: every digit reads as 0
# first, so values of one shape share one cache entry.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_tokens: dict[str, str] = {}
_lines: dict[str, str] = {}


def _token_key(token: str) -> str:
    """A token with every value as `<*>` (a token that is only values is one `<*>`)."""
    word = _PLAIN_WORD.fullmatch(token)
    if word and word.group(1) not in _CALENDAR:
        key = token
    elif _VALUE_TOKEN.fullmatch(token):
        key = WILDCARD
    elif pair := _KEY_VALUE.fullmatch(token):
        key = f"{pair.group(1)}={WILDCARD}"
    else:
        display = _PATTERN.sub(_replace, token) if len(token) <= _MAX_TOKEN else "<long>"
        key = _PLACEHOLDER.sub(WILDCARD, display) if "<" in display else display
        if _VALUE_ONLY.fullmatch(key):
            key = WILDCARD
    if len(_tokens) >= _CACHE_LIMIT:
        _tokens.clear()
    _tokens[token] = key
    return key


def mask(message: str) -> str:
    """The message with every masked value replaced by `<name>`, whitespace collapsed.

    A word right after `user` (or `username`, `login:`, `account`) is a user name.
    """
    masked: list[str] = []
    after_user = False
    for token in message.split():
        display = _PATTERN.sub(_replace, token) if len(token) <= _MAX_TOKEN else "<long>"
        if after_user:
            display = display if "<" in display else "<user>"
            after_user = False
        else:
            after_user = token in _USER_TOKENS
        masked.append(display)
    return " ".join(masked)


def _mask_user_names(tokens: list[str], words: list[str]) -> None:
    index = 0
    while index < len(tokens) - 1:
        if tokens[index] in _USER_TOKENS:
            words[index + 1] = WILDCARD
            index += 1
        index += 1


def template_key(message: str) -> str:
    """The message's template as grouping compares it: kinds erased, one `<*>` per value.

    Tokens are separated by one space. A token that is only values and punctuation
    (`<ip>,<ip>`, `(<id>)`) is one value, a quoted word or single-quoted phrase is a value (a key,
    a name), a unit after a value belongs to it (`12 KB`), a user name is a value, and a run of
    values is one value (a date written as five tokens, a list of block ids of any length).
    """
    message = (
        message.encode("utf-8", "surrogatepass").translate(_ZEROS).decode("utf-8", "surrogatepass")
    )
    known = _lines.get(message)
    if known is not None:
        return known
    get = _tokens.get
    if "'" in message:
        message = _QUOTED_PHRASE.sub(WILDCARD, message)
    tokens = message.split()
    words = [get(t) or _token_key(t) for t in tokens]
    if not _USER_TOKENS.isdisjoint(tokens):
        _mask_user_names(tokens, words)
    template = " ".join(words)
    if "<*> " in template:
        template = _VALUE_RUN.sub(WILDCARD, template)
    if len(message) <= _MAX_TOKEN:
        if len(_lines) >= _CACHE_LIMIT:
            _lines.clear()
        _lines[message] = template
    return template


def clear_caches() -> None:
    """Forget cached tokens and lines (results never depend on them; benchmarks start cold)."""
    _tokens.clear()
    _lines.clear()
