"""Message parameterization: values that vary between occurrences become named placeholders.

The masks are data: a table of named, commented regular expressions (verbose syntax), in
priority order, as Sentry's parameterization is. A `Masker` compiles the table into one
alternation and applies it in a single left-to-right pass. Masking works token by token (a token
is a run of non-whitespace): log values rarely contain spaces, a token's masked form can be
cached (repeated words cost one dictionary lookup), and the work per line stays linear whatever
its length. Whitespace runs collapse to one space.

Every placeholder is `<name>`; `template_key` turns them all into `<*>`, because the same position
can hold an `<int>` one time and a `<hex>` the next (both are just values).

The table is part of the fingerprint: changing what a mask matches regroups everything (see
`detection.fingerprint`'s version and changelog).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

WILDCARD = "<*>"
_MAX_TOKEN = 512
"""A longer token is one `<long>` value: regular expressions stay cheap on blobs and dumps."""
_CACHE_LIMIT = 200_000
"""Entries per cache before it is emptied (a cache is a speed-up, never a memory leak)."""


@dataclass(frozen=True)
class Mask:
    """One kind of value: its placeholder's name and a verbose regular expression finding it."""

    name: str
    pattern: str


# Fragments shared by several masks (verbose syntax, like the masks).
_DIGIT = r"""
    (?=[^\s]*\d)    # a digit ahead in the token: a word of letters alone is no value
"""
_START = r"""
    (?<![\w-])  # not inside a word or a dashed name (`sha-256`)
    (?<!\w\.)   # nor after `x.` (the `3` of `1.2.3`)
"""
_END = r"""
    (?![\w-])   # not followed by more of a word or name
    (?!\.\w)    # nor by `.x` (`1.2.3` is one id, not a float and an int)
"""
_HOST_SUFFIXES = (
    "com|net|org|edu|gov|mil|int|io|dev|app|cloud|local|localdomain|internal|lan|corp|"
    "us|uk|de|fr|nl|be|eu|jp|cn|in|ru|br|au|ca|ch|se|no|es|it|pl|at|dk|fi|info|biz|co"
)

MASKS: Sequence[Mask] = (
    # A URL of any scheme (https, amqp, jdbc:sqlserver, ...), query string included: the path and
    # query carry ids, and a route is named from the request itself, not from a log line's text.
    Mask(
        "url",
        r"""
        [a-zA-Z][a-zA-Z0-9+.-]*://  # scheme
        [^\s\"'<>]+                 # up to whitespace, a quote or an angle bracket
        """,
    ),
    # An e-mail address (plus tags and sub-domains too): a customer or a mailbox, never the failure.
    Mask(
        "email",
        r"""
        [\w.+-]+          # local part, `ann.lee+shop`
        @[\w-]+           # domain
        (?:\.[\w-]+)+     # one or more sub-domains and the suffix
        """,
    ),
    # A UUID or GUID in its 8-4-4-4-12 form: request, operation, tenant and entity ids.
    Mask(
        "uuid",
        r"""
        [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}
        """,
    ),
    # An ISO 8601 date, with its time and zone if any (`2026-11-20T00:01:02.123Z`, or `_` between
    # date and time as file names have it): when it happened is never what happened.
    Mask(
        "datetime",
        r"""
        \d{4}-\d{2}-\d{2}                     # date
        (?:[T_]\d{2}:\d{2}                    # time, hours and minutes
            (?::\d{2}(?:[.,]\d+)?)?           # seconds and a fraction (`.` or `,`)
            (?:Z|[+-]\d{2}:?\d{2})?           # zone
        )?
        """,
    ),
    # A clock reading or duration with seconds (`10:00:00`, `12:03:04.5`), standing alone: a date
    # written as several tokens leaves its time here. Without seconds it is not caught (a known
    # miss, see tests/unit/test_masks.py).
    Mask(
        "time",
        r"""
        (?<![\w:.])             # not the end of an IPv6 address, a longer clock or a version
        \d{1,2}:\d{2}:\d{2}
        (?:[.,]\d+)?            # fraction of a second
        (?![\w:])
        """,
    ),
    # A MAC address, colon- or dash-separated (`00:1A:2B:3C:4D:5E`, Windows' `00-1A-...`): a
    # machine's card. Before the IPv6 masks, which would read the colon form as an address.
    Mask(
        "mac",
        r"""
        (?<![\w:-])
        [0-9a-fA-F]{2}
        (?:(?::[0-9a-fA-F]{2}){5,}      # 00:1A:2B:3C:4D:5E (or longer, EUI-64)
          |(?:-[0-9a-fA-F]{2}){5,})     # 00-1A-2B-3C-4D-5E
        (?![\w:-])
        """,
    ),
    # An IPv4 address, with its port if any: which replica or client failed is not the failure.
    Mask(
        "ip",
        r"""
        (?<![\w.])              # not the end of a version or a longer dotted number
        \d{1,3}(?:\.\d{1,3}){3}
        (?::\d{1,5})?           # port
        (?![\w.])
        """,
    ),
    # An IPv6 address, compressed or not, IPv4-mapped too (`fe80::1ff:fe23:4567:890a`,
    # `2001:db8::1`, `::ffff:10.0.0.1`). It must hold a digit or at least three groups, so
    # `std::vector` or `a:b` (a key and a value) stays text.
    Mask(
        "ip",
        r"(?:"
        + _DIGIT
        + r"""
        |(?=(?:[0-9a-fA-F]{1,4}:){3}))          # ... or three hex groups
        (?<![\w:])
        (?:[0-9a-fA-F]{0,4}:){2,7}              # groups, `::` as an empty one
        (?:\d{1,3}(?:\.\d{1,3}){3}              # an IPv4 tail
          |[0-9a-fA-F]{0,4})                    # or the last group
        (?![\w:])
        """,
    ),
    # The IPv6 any address `::` alone (`bind :: failed`).
    Mask(
        "ip",
        r"""
        (?<![\w:])::(?![\w:])
        """,
    ),
    # An absolute path, POSIX or Windows (`/var/lib/app/data.db`, `C:\Users\svc\config.json`):
    # install roots and data files differ between hosts and releases.
    Mask(
        "path",
        r"""
        (?:[A-Za-z]:)?                  # a Windows drive
        [\\/][\w.~%@+$-]+               # the first segment
        (?:[\\/][\w.~%@+$-]*)+          # more segments (a trailing separator too)
        """,
    ),
    # A path relative to here or home (`./conf/app.yaml`, `../x`, `~/data`).
    Mask(
        "path",
        r"""
        (?<![\w/\\])
        (?:\.\.?|~)[\\/]                # ./  ../  ~/
        [\w.~%@+$-]+
        (?:[\\/][\w.~%@+$-]+)*
        """,
    ),
    # A relative path of three segments or more (`src/app/main.py`); two (`a/b`) reads as a pair
    # of words too often (`read/write`, `and/or`) to be a value.
    Mask(
        "path",
        r"""
        (?<![\w/\\])
        [\w.~%@+$-]+
        (?:[\\/][\w.~%@+$-]+){2,}
        """,
    ),
    # A host name under a known suffix (`db-7.internal`, `api.contoso.com`), lower case only so
    # `Contoso.Orders.Pricing` (a .NET namespace) stays text. Masking hosts merges two services'
    # calls into one template: a known misgrouping, see tests/unit/test_masks.py.
    Mask(
        "host",
        r"""
        (?<![\w.-])
        [a-z0-9-]+(?:\.[a-z0-9-]+)*     # labels
        \.(?:"""
        + _HOST_SUFFIXES
        + r""")                         # a known top-level or private suffix
        (?![\w.-])
        """,
    ),
    # An empty value (`()`, `[]`, `{}`, `''`, `""`): a list or argument that is empty this time.
    Mask(
        "empty",
        r"""
        \(\) | \[\] | \{\} | '' | \"\"
        """,
    ),
    # A hexadecimal number written as such (`0x7ffd5e8c`): pointers, handles, error codes' bits.
    Mask(
        "hex",
        r"""
        (?<![\w-])0[xX][0-9a-fA-F]+(?![\w-])
        """,
    ),
    # A bare hex string of six digits or more, with at least one digit and one letter a-f
    # (commit hashes, trace ids, ETags); `deadbeef` or `cafe42`-like words with no digit stay.
    Mask(
        "hex",
        _DIGIT
        + r"""
        (?<![\w-])
        (?=[0-9]*[a-fA-F])              # a letter a-f somewhere, or it is an integer
        [0-9a-fA-F]{6,}
        (?![\w-])
        """,
    ),
    # The value of `key=value` (`attempt=3`, `user=root`): the key says what it is and stays.
    Mask(
        "value",
        r"""
        (?<=[\w\]])=(?!=)               # after a key (or `[0]=`), not `==`
        [^\s,;&)\]}>]+                  # up to a separator or a closing bracket
        """,
    ),
    # A quoted word (`'sku'`, `"price"`, `` `id` ``): a key, a name, a user's input.
    Mask(
        "quoted",
        r"""
        '[^'\s]+' | \"[^\"\s]+\" | `[^`\s]+`
        """,
    ),
    # A number with its unit (`30s`, `512MB`, `99%`): durations, sizes, ratios.
    Mask(
        "quantity",
        _START
        + r"""
        -?\d+(?:\.\d+)?
        (?i:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hrs|d|b|kb|mb|gb|tb|kib|mib|gib|k|%)
        """
        + _END,
    ),
    # A decimal number, exponent included (`0.25`, `-1.5e-3`).
    Mask(
        "float",
        _START
        + r"""
        -?\d+\.\d+(?:[eE][+-]?\d+)?
        """
        + _END,
    ),
    # An integer (`1042`, `-2`); a digit inside a word is the `id` mask's.
    Mask(
        "int",
        _START
        + r"""
        -?\d+
        """
        + _END,
    ),
    # An identifier with a digit in it, dotted or dashed (`BE-807041`, `blk_-42`, `pay_p3hd`,
    # `node-7.pool`): order numbers, block ids, pod names. A name with no digit stays.
    Mask(
        "id",
        _START
        + r"""
        (?:[\w-]+\.)*
        [\w-]*\d[\w-]*                  # the part with a digit
        (?:\.[\w-]+)*
        """,
    ),
    # An English weekday as syslog and ctime write dates (`Wed Jun 29 03:22:23 2005`).
    Mask(
        "weekday",
        r"""
        (?<![\w.-])(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)(?![\w.-])
        """,
    ),
    # An English month name, the same dates' other word.
    Mask(
        "month",
        r"""
        (?<![\w.-])
        (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)
        (?![\w.-])
        """,
    ),
)

_USER_WORDS = ("user", "user:", "username", "username:", "login:", "account")
_USER_TOKENS = frozenset(
    variant for word in _USER_WORDS for variant in (word, word.capitalize(), word.upper())
)
"""The words after which a token is a user name (`Invalid user alice from 1.2.3.4`)."""
_CALENDAR = frozenset(
    ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    + ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec")
)
UNITS = (
    ("b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "bytes", "ns", "us", "µs", "ms", "s")
    + ("sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs")
    + ("hour", "hours", "day", "days", "%")
)

# Shortcuts: tokens whose key is known without running the table, with the same result, much
# faster. Each must agree with the table (tests/unit/test_masks.py and the grouping tests check).
_ONE_VALUE = r"""
    # A word with a digit, in quotes or brackets and before punctuation (`(BE-807041),`): one id.
    [\"'(\[{/#]*(?:[\w-]+\.)*[\w-]*\d[\w-]*(?:\.[\w-]+)*[\"')\]},.;:!?]*
    # An IPv4 address with its port, after a slash as Hadoop writes it (`/10.0.0.1:50010`).
  | /?\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?[,.;:]?
    # An absolute POSIX or Windows path without a drive.
  | [\\/][\w.~%@+$-]+(?:[\\/][\w.~%@+$-]*)+[,;:]?
"""
_PLAIN_WORD = r"""
    # A word of letters, `_` and `-` only, maybe bracketed and punctuated: text, kept as it is
    # (unless it is a weekday or month name, which the table masks).
    [(\[]?([A-Za-z_-]+)[,.:;!?)\]]*
"""
_KEY_VALUE = r"""
    # `key=value` as one token (`attempt=3`): the key stays, the value is one value.
    ([A-Za-z_][A-Za-z_.-]*)=[^\s,;&)\]}>=<\"']+
"""
_QUOTED_PHRASE = r"""
    # A single-quoted value with spaces in it (`'1011 AB'`, `'Amsterdam Centraal'`): one value,
    # not several tokens. Up to 63 characters each side of a space, on one line.
    (?<![\w'])'[^'\n]{0,63}\s[^'\n]{0,63}'(?![\w'])
"""
_VALUE_RUN = (
    r"""
    # A value followed by more values or units (`<*> <*> <*>`, `<*> KB,`): one value, so a date
    # written as five tokens or a list of ids of any length is one position in the template.
    <\*>
    (?:\ (?:<\*>|(?i:"""
    + "|".join(map(re.escape, UNITS))
    + r""")[,;:.)\]}]*)
       (?!\S))+
"""
)
_PLACEHOLDER = r"<[a-z*]+>  # any placeholder, named or erased"
_VALUE_ONLY = r"""
    # Values and punctuation only (`<*>,<*>`, `(<*>)`): the token is one value.
    [^\w]*(?:<\*>[^\w]*)+
"""

# Masks depend on where digits are, never on which digits they are: every digit reads as 0
# first, so values of one shape share one cache entry.
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


def _mask_user_names(tokens: list[str], words: list[str]) -> None:
    index = 0
    while index < len(tokens) - 1:
        if tokens[index] in _USER_TOKENS:
            words[index + 1] = WILDCARD
            index += 1
        index += 1


class Masker:
    """The mask table compiled, with its caches of masked tokens and lines.

    Results never depend on the caches (a cache holds what the table computed). One instance,
    `MASKER`, serves the process, so every caller shares its caches.
    """

    def __init__(self) -> None:
        self._table = re.compile(
            "|".join(f"(?P<m{i}>{mask.pattern})" for i, mask in enumerate(MASKS)), re.VERBOSE
        )
        self._names = {f"m{i}": mask.name for i, mask in enumerate(MASKS)}
        self._value_token = re.compile(_ONE_VALUE, re.VERBOSE)
        self._plain_word = re.compile(_PLAIN_WORD, re.VERBOSE)
        self._key_value = re.compile(_KEY_VALUE, re.VERBOSE)
        self._quoted_phrase = re.compile(_QUOTED_PHRASE, re.VERBOSE)
        self._value_run = re.compile(_VALUE_RUN, re.VERBOSE)
        self._placeholder = re.compile(_PLACEHOLDER, re.VERBOSE)
        self._value_only = re.compile(_VALUE_ONLY, re.VERBOSE)
        self._tokens: dict[str, str] = {}
        self._lines: dict[str, str] = {}

    def _replace(self, match: re.Match[str]) -> str:
        name = self._names[match.lastgroup or ""]
        return "=<value>" if name == "value" else f"<{name}>"

    def _display(self, token: str) -> str:
        """The token with each value as `<name>` (a token too long to mask is `<long>`)."""
        return self._table.sub(self._replace, token) if len(token) <= _MAX_TOKEN else "<long>"

    def _token_key(self, token: str) -> str:
        """A token with every value as `<*>` (a token that is only values is one `<*>`)."""
        word = self._plain_word.fullmatch(token)
        if word and word.group(1) not in _CALENDAR:
            key = token
        elif self._value_token.fullmatch(token):
            key = WILDCARD
        elif pair := self._key_value.fullmatch(token):
            key = f"{pair.group(1)}={WILDCARD}"
        else:
            display = self._display(token)
            key = self._placeholder.sub(WILDCARD, display) if "<" in display else display
            if self._value_only.fullmatch(key):
                key = WILDCARD
        if len(self._tokens) >= _CACHE_LIMIT:
            self._tokens.clear()
        self._tokens[token] = key
        return key

    def mask(self, message: str) -> str:
        """The message with every masked value replaced by `<name>`, whitespace collapsed.

        A word right after `user` (or `username`, `login:`, `account`) is a user name.
        """
        masked: list[str] = []
        after_user = False
        for token in message.split():
            display = self._display(token)
            if after_user:
                display = display if "<" in display else "<user>"
                after_user = False
            else:
                after_user = token in _USER_TOKENS
            masked.append(display)
        return " ".join(masked)

    def template_key(self, message: str) -> str:
        """The message's template as grouping compares it: kinds erased, one `<*>` per value.

        Tokens are separated by one space. A token that is only values and punctuation
        (`<ip>,<ip>`, `(<id>)`) is one value, a quoted word or single-quoted phrase is a value (a
        key, a name), a unit after a value belongs to it (`12 KB`), a user name is a value, and a
        run of values is one value (a date written as five tokens, a list of block ids of any
        length).
        """
        message = (
            message.encode("utf-8", "surrogatepass")
            .translate(_ZEROS)
            .decode("utf-8", "surrogatepass")
        )
        known = self._lines.get(message)
        if known is not None:
            return known
        get = self._tokens.get
        if "'" in message:
            message = self._quoted_phrase.sub(WILDCARD, message)
        tokens = message.split()
        words = [get(t) or self._token_key(t) for t in tokens]
        if not _USER_TOKENS.isdisjoint(tokens):
            _mask_user_names(tokens, words)
        template = " ".join(words)
        if "<*> " in template:
            template = self._value_run.sub(WILDCARD, template)
        if len(message) <= _MAX_TOKEN:
            if len(self._lines) >= _CACHE_LIMIT:
                self._lines.clear()
            self._lines[message] = template
        return template

    def clear_caches(self) -> None:
        """Forget cached tokens and lines (results never depend on them; benchmarks start cold)."""
        self._tokens.clear()
        self._lines.clear()


MASKER = Masker()
