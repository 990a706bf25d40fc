"""Secrets and personal data out of log text, in time linear in its length.

Log text goes into GitHub issues that people and an AI agent read, so every secret in it is
replaced by a placeholder that says what was removed (`[REDACTED aws key]`). The rules are data:
`RULES` is a table, most specific first, of named finders. Where detect-secrets knows a format,
its plugin's own pattern is used (`Rule.origin` says which); Faultline's rules cover the rest:
Azure keys, SAS signatures, Functions keys, Entra ID client secrets, credential headers and
cookies, key=value forms in Python reprs, JSON, query strings, connection strings, command lines
and XML, PEM blocks (also cut short), JWTs, URL credentials, e-mail addresses, payment cards
(Luhn) and, on request, IP addresses.

Every finder takes time linear in the length of the text, whatever the text (a review found the
old patterns took 9 s on 16,000 characters of `a-`). What keeps them so:
- every unbounded run is possessive (`*+`, `++`), so a failed match never backtracks into it;
- a run that could start anywhere may start only where its character class starts (a
  lookbehind excludes the class), so no run is scanned again from each of its characters;
- other repeats are bounded by a small constant, and so is every value that a check in Python
  may still reject (`token: expired`), so looking again inside a rejected match costs little;
  a kept value is then followed to its real end;
- each finder resumes after its last match, so its matches never overlap.
And what keeps them fast: every pattern opens with a literal or a small character set, so the
regex engine skips ahead instead of trying each position (boundary lookbehinds come after that
literal), case-insensitive patterns run over a lower-cased copy of the text (an `re.IGNORECASE`
pattern cannot skip ahead, and costs ten times as much), and checks that need Python (Luhn, a
base64 decode, `ipaddress`) see only candidates the pattern could not rule out.

detect-secrets' patterns are used as they are, with the token boundary checked after a match
(or, for its unbounded PyPI pattern, before). Its JWT, npm and OpenAI patterns backtrack
quadratically on adversarial input (`sk-sk-sk-...`), so Faultline's own rules for those formats
stand in for them. `tests/unit/test_redaction.py` times adversarial inputs and checks that time
grows linearly with their length.

Where findings overlap they merge into one placeholder, named by the finding that covers most
of it (`Authorization: Bearer <jwt>` is `[REDACTED authorization]`), or on a tie by the earlier,
more specific rule (`password='sk_live_...'` is `[REDACTED stripe key]`).

Redaction is deliberately eager: a false positive costs a little context in an issue, a false
negative leaks a credential. The test corpus states the false-positive rate accepted.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector

__all__ = [
    "IP_RULES",
    "RULES",
    "Finding",
    "Rule",
    "find_secrets",
    "placeholder",
    "redact",
    "redact_then_clip",
]

# A finder yields (start, end, label) for each secret in (text, lower-cased text); an empty
# label means the rule's own.
Found = tuple[int, int, str]
Finder = Callable[[str, str], Iterator[Found]]


def placeholder(label: str) -> str:
    """What stands in for a secret: `[REDACTED aws key]`."""
    return f"[REDACTED {label}]"


@dataclass(frozen=True)
class Rule:
    """One kind of secret: what its placeholder calls it, how it is found, whose pattern."""

    name: str
    label: str
    find: Finder
    origin: str = "faultline"


@dataclass(frozen=True)
class Finding:
    """Characters `start:end` of the text (control characters removed) hold a `label`."""

    start: int
    end: int
    label: str
    rule: str


# --------------------------------------------------------------------------------------------
# How finders are made from patterns.


def _regex(
    pattern: re.Pattern[str],
    *,
    lower: bool = False,
    group: int | str = 0,
    left: str = "",
    back: int = 0,
    skip: int = 0,
    extend: re.Pattern[str] | Callable[[re.Match[str], str], int] | None = None,
    accept: Callable[[re.Match[str], str], bool] | None = None,
    label_of: Callable[[re.Match[str]], str] | None = None,
    trigger: Sequence[str] = (),
) -> Finder:
    """The spans of `group` in the matches of `pattern`.

    `lower`: match against the lower-cased text (the pattern is written in lower case).
    `left`: characters that may not come just before the match (the token goes on to the left).
    `back`: the span starts this many characters before the match (a lookbehind matched them).
    `skip`: leading characters of the match that stay visible (`AccountKey=`).
    `extend`: continue the span over what this matches (a token longer than its documented
    minimum), or a function giving the span's end; applied only to a kept match.
    `accept(match, text)`: keep the match. `label_of(match)`: the placeholder's label.
    `trigger`: lower-case strings one of which every match contains; when the text holds none,
    the pattern is not run (for patterns that open with a broad character class).
    Each search resumes after the last match, so the matches of one finder never overlap. After
    a rejected match it resumes at the match's value (or next character): patterns that reject
    keep their values bounded, so a rejection costs a bounded rescan.
    """

    def find(text: str, lowered: str) -> Iterator[Found]:
        if trigger and not any(literal in lowered for literal in trigger):
            return
        haystack = lowered if lower else text
        position = 0
        while True:
            match = pattern.search(haystack, position)
            if match is None:
                return
            start, end = match.span(group)
            if group == 0:
                start -= back
            kept = (
                start >= 0
                and not (left and start > 0 and haystack[start - 1] in left)
                and (accept is None or accept(match, text))
            )
            if not kept:
                # A rejected match may hold the start of another (`token=Secret('...')`):
                # look again from its value, or from the next character.
                retry = match.start(group) if group != 0 else -1
                position = retry if retry > match.start() else match.start() + 1
                continue
            if isinstance(extend, re.Pattern):
                more = extend.match(text, end)
                end = more.end() if more is not None else end
            elif extend is not None:
                end = extend(match, text)
            position = max(match.end(), end, match.start() + 1)
            if group == 0:
                start = max(start, match.start() - back + skip)
            if end > start:
                yield start, end, label_of(match) if label_of is not None else ""

    return find


def _lit(literal: str, left: str) -> str:
    """`literal`, not preceded by a character of the class `left`: the literal comes first so
    the regex engine can skip ahead to it, the boundary check after it."""
    escaped = re.escape(literal)
    return f"{escaped}(?<![{left}]{escaped})"


def _lowercase(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A case-insensitive detect-secrets pattern, rewritten to run on lower-cased text."""
    source = pattern.pattern
    if re.search(r"\\[A-Z]", source):  # `\S` would become `\s`
        raise ValueError(f"cannot lower-case the pattern {source!r}")
    return re.compile(source.lower(), pattern.flags & ~re.IGNORECASE)


def _ds_origin(plugin: type) -> str:
    return f"detect-secrets {plugin.__name__}"


_ALNUM = "A-Za-z0-9"
_WORDISH = "A-Za-z0-9_"
_URLSAFE = "A-Za-z0-9_-"
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_.-]*+")
_ALNUM_TAIL = re.compile(r"[A-Za-z0-9]*+")
_LEFT_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LEFT_WORDISH = _LEFT_ALNUM + "_"
_LEFT_URLSAFE = _LEFT_WORDISH + "-"
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")


# --------------------------------------------------------------------------------------------
# Private keys. The headers are detect-secrets' list plus PKCS#8 encrypted keys. A block runs to
# its END line or, when that was cut off, over every character a key body can hold (base64,
# header fields, real or escaped newlines): over-redacting beats showing half a key.

_PEM_MARKERS = [p.pattern for p in PrivateKeyDetector.denylist] + ["BEGIN ENCRYPTED PRIVATE KEY"]
_PEM_HEADER = re.compile(
    "(?:" + "|".join(re.escape(m) for m in _PEM_MARKERS) + r")[ A-Z0-9-]{0,40}+"
)
_PEM_END = re.compile(r"-{2,5} ?END [A-Z0-9 ]{0,40}+-{2,5}|Private-MAC: ?[0-9a-fA-F]{0,128}+")
_PEM_BODY = re.compile(
    r"(?:(?!-{2,5} ?END |Private-MAC:)(?:[A-Za-z0-9+/=:,. \t\r\n()-]|\\[rnt/]))*+"
)


def _private_keys(text: str, _lowered: str) -> Iterator[Found]:
    position = 0
    while True:
        header = _PEM_HEADER.search(text, position)
        if header is None:
            return
        start = header.start()  # and the `-----` (or `---- `) before `BEGIN`
        dashes = start - 1 if start > 0 and text[start - 1] == " " else start
        while dashes > 0 and start - dashes < 6 and text[dashes - 1] == "-":
            dashes -= 1
        if dashes < start and text[dashes] == "-":
            start = dashes
        body = _PEM_BODY.match(text, header.end())
        end = body.end() if body else header.end()
        closing = _PEM_END.match(text, end)
        if closing is not None:
            end = closing.end()
        else:
            while end > header.end() and text[end - 1] in " \t\r\n":
                end -= 1
        yield start, end, ""
        position = max(end, header.end())


# --------------------------------------------------------------------------------------------
# Tokens with a recognisable shape.

_JWT = re.compile(_lit("eyJ", _URLSAFE) + r"[A-Za-z0-9_-]{8,}+(?:\.[A-Za-z0-9_-]++){1,4}\.?")

_WEBHOOKS: Sequence[tuple[str, re.Pattern[str]]] = (
    (
        "teams-webhook",
        re.compile(
            r"https://[a-z0-9.-]{0,80}?(?:webhook\.office\.com|outlook\.office(?:365)?\.com)"
            r"/webhook(?:b2)?/(?P<value>[^\s\"'<>)\]}]++)"
        ),
    ),
    (
        "discord-webhook",
        re.compile(
            r"https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api(?:/v[0-9]{1,2})?/webhooks/"
            r"(?P<value>[0-9]++/[a-z0-9_-]++)"
        ),
    ),
    (
        "slack-webhook",
        re.compile(
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<value>[a-z0-9_/-]++)"
        ),
    ),
)

# Key shapes from Microsoft's identifiable-key formats, each with a fixed signature: the
# signature is matched first and what comes before it by a lookbehind (`back` in the table).
_AZURE_IDENTIFIABLE: Sequence[tuple[re.Pattern[str], int]] = tuple(
    (re.compile(pattern), back)
    for pattern, back in (
        # Functions keys: 44 characters, `AzFu`, 5, one of AQgw, `==`.
        (r"AzFu(?<=(?<![A-Za-z0-9+/_-])[A-Za-z0-9_-]{44}AzFu)[A-Za-z0-9_-]{5}[AQgw]==", 44),
        # IoT Hub, Service Bus, Event Hubs, Relay keys (44 characters ending `=`).
        (
            r"(?:AIoT|\+ASb|\+AEh|\+ARm)(?<=(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/]{33}....)"
            r"[A-P][A-Za-z0-9+/]{5}=",
            33,
        ),
        (r"AzSe(?<=(?<![A-Za-z0-9_-])[A-Za-z0-9]{42}AzSe)[A-D][A-Za-z0-9]{5}", 42),  # AI Search
        (r"\+ACR(?<=(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/]{42}\+ACR)[A-D][A-Za-z0-9+/]{5}", 42),
        (r"AzCa(?<=(?<![A-Za-z0-9_-])[A-Za-z0-9]{33}AzCa)[A-P][A-Za-z0-9]{5}=", 33),  # Redis
    )
)
# An 88-character base64 string ending `==` holds 64 bytes: a storage account key (also the
# size of Cosmos DB, APIM and Batch keys). SHA-512 digests have that shape too; the `sha512-`
# integrity strings of package locks are let through.
_BARE_STORAGE_KEY = re.compile(
    r"==(?<=(?<![A-Za-z0-9+/=_-])(?<!sha512-)[A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])"
)
# Entra ID (Azure AD) client secrets: three characters, a digit, `Q~`, then 31 to 34 more.
_ENTRA_SECRET = re.compile(
    r"Q~(?<=(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~)[A-Za-z0-9_~.-]{31,34}"
    r"(?![A-Za-z0-9_~.-])"
)
# ASP.NET Core Data Protection payloads: auth, session and antiforgery cookies.
_ASPNET_PROTECTED = re.compile(_lit("CfDJ8", _URLSAFE) + r"[A-Za-z0-9_-]{40,}+")

_ANTHROPIC = re.compile(_lit("sk-ant-", _URLSAFE) + r"[a-z0-9]{2,12}-[A-Za-z0-9_-]{20,}+")
# OpenAI: `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-` keys, with at least 20 more characters
# that mix letters and digits (detect-secrets' pattern needs `T3BlbkFJ` and is quadratic).
_OPENAI = re.compile(_lit("sk-", _URLSAFE) + r"(?!ant-)(?P<value>[A-Za-z0-9_-]{20,}+)")
_STRIPE = re.compile(
    r"[sr]k(?<![A-Za-z0-9_][sr]k)_(?:live|test)_[A-Za-z0-9]{10,}+"
    r"|" + _lit("whsec_", _WORDISH) + r"[A-Za-z0-9+/=]{24,}+"
)
_GOOGLE_API_KEY = re.compile(_lit("AIza", _URLSAFE) + r"[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")
_NPM = re.compile(_lit("npm_", _WORDISH) + r"[A-Za-z0-9]{36}(?![A-Za-z0-9])")
# GitHub: ghp_ (classic PAT), gho_ (OAuth), ghu_ (user-to-server), ghs_ (server-to-server, now
# also longer with `.`, `_` and `-`), ghr_ (refresh) and github_pat_ (fine-grained PAT).
_GITHUB = re.compile(
    r"gh(?<![A-Za-z0-9_]gh)[pousr]_[A-Za-z0-9_.-]{30,}+"
    r"|" + _lit("github_pat_", _WORDISH) + r"[A-Za-z0-9_]{30,}+"
)
_SLACK = re.compile(
    _lit("xox", _URLSAFE)
    + r"[a-z](?:\.xox[a-z])?-[a-z0-9-]{10,}+|"
    + _lit("xapp-", _URLSAFE)
    + r"[a-z0-9-]{10,}+"
)


def _mixes_letters_and_digits(match: re.Match[str], _text: str) -> bool:
    value = match.group("value")
    return bool(_DIGIT.search(value)) and bool(_LETTER.search(value))


# --------------------------------------------------------------------------------------------
# Secrets named by their key: `password=...`, `"client_secret": "..."`, `Cookie: ...`. These
# patterns run on the lower-cased text.

# Words that name a secret at the end of a key, whatever comes before them (`db_password`,
# `clientsecret`, `accesstoken`, `accountkey`, `x-functions-key`).
_KEY_KINDS = (
    "api", "access", "account", "secret", "private", "subscription", "functions?",
    "shared[_-]?access", "master", "signing", "encryption", "storage", "primary", "secondary",
    "auth", "client", "app", "admin", "host", "system", "service", "sas", "consumer",
    "session", "webhook",
)  # fmt: skip
_FREE_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "credentials?", "signature",
    "cookies?", "sess(?:ion)?[_-]?id", *(f"{kind}[_-]?key" for kind in _KEY_KINDS),
)  # fmt: skip
# Short words that count only as a whole word or a camelCase part (`pass`, `dbPass`, not
# `bypass`; `sig`, not `config`): `_word_boundary` checks the original text.
_BOUNDED_WORDS = ("pass", "pwd", "pw", "sig", "auth", "session", "sid", "creds")


def _first_letters(words: Sequence[str]) -> str:
    """A lookahead for the first letters of `words`: with it the regex engine skips ahead to
    candidates (an alternation of groups alone makes it try every position, ten times slower)."""
    return "(?=[" + "".join(sorted({word[0] for word in words})) + "])"


_WORD = (
    _first_letters((*_FREE_WORDS, *_BOUNDED_WORDS))
    + f"(?:(?P<free>{'|'.join(_FREE_WORDS)})|(?P<bounded>{'|'.join(_BOUNDED_WORDS)}))"
)
_KEY_END = r"(?![a-z0-9]|[_.-][a-z0-9])"
_KEY_QUOTE = r"(?:\\{0,3}[\"'])?"
# Values are matched to at most `_VALUE_BOUND` characters, so that a rejected match (a
# placeholder, prose after `token:`) costs a bounded rescan; a kept value is then followed to
# its end by `_value_end`.
_VALUE_BOUND = 64
_QUOTED = (
    rf"\\{{1,3}}\"(?:[^\"\\\r\n]|\\[^\"\r\n]){{0,{_VALUE_BOUND}}}+(?:\\{{1,3}}\")?"
    rf"|\"(?:[^\"\\\r\n]|\\.){{0,{_VALUE_BOUND}}}+\"?"
    rf"|'(?:[^'\\\r\n]|\\.){{0,{_VALUE_BOUND}}}+'?"
)
# A bare value stops at blank space, quotes, separators and brackets (and, once kept, at an
# URL-encoded `&`, `%26`).
_BARE_CLASS = r"[^\s\"'`,;&|<>(){}\[\]\\]"
_BARE = rf"{_BARE_CLASS}{{1,{_VALUE_BOUND}}}+"
# `auth=('user', 'password')`: the whole tuple goes.
_TUPLE = rf"\([^()\r\n]{{1,{_VALUE_BOUND * 2}}}+\)"
_REST_CHAR = r"(?:[^\r\n\"'\\]|\\(?![rnt\"'\\]))"
_REST = rf"[^\r\n\"'\\]{{1,{_VALUE_BOUND}}}+"
_VALUE_TAILS = {
    "\\": re.compile(r"(?:[^\"\\\r\n]|\\[^\"\r\n])*+(?:\\{1,3}\")?"),
    '"': re.compile(r'(?:[^"\\\r\n]|\\.)*+"?'),
    "'": re.compile(r"(?:[^'\\\r\n]|\\.)*+'?"),
}
_BARE_TAIL = re.compile(rf"{_BARE_CLASS}*+")
_ENCODED_AMPERSAND = re.compile(r"%(?:25)?26", re.IGNORECASE)
_REST_TAIL = re.compile(rf"{_REST_CHAR}*+")


def _value_end(match: re.Match[str], text: str, bare_tail: re.Pattern[str] = _BARE_TAIL) -> int:
    """Where a kept value really ends: past `_VALUE_BOUND`, to its closing quote or last
    character."""
    start, end = match.span("value")
    value = text[start:end]
    opener = value[:1]
    if opener in _VALUE_TAILS:
        closed = len(value) > 1 and value.endswith(opener if opener != "\\" else '"')
        if closed:
            return end
        tail = _VALUE_TAILS[opener].match(text, end)
        return tail.end() if tail else end
    if value.startswith(("${", "(", "{")):
        return end  # `${VAR}`, a tuple, a braced value: matched whole
    tail = bare_tail.match(text, end)
    end = tail.end() if tail else end
    if bare_tail is _BARE_TAIL:
        ampersand = _ENCODED_AMPERSAND.search(text, start, end)
        end = ampersand.start() if ampersand else end
    return end


def _rest_end(match: re.Match[str], text: str) -> int:
    return _value_end(match, text, _REST_TAIL)


# `key = value` (also `key: value`, `"key": "value"`, `key=>value`, `key%3Dvalue`), and
# `Secret(value='...')` / `SecretStr('...')`, where the value must be quoted.
_KEY_VALUE = re.compile(
    rf"{_WORD}(?:{_KEY_END}{_KEY_QUOTE}[ \t]{{0,16}}(?P<op>=>|:=|==?|:|%3d|%253d)[ \t]{{0,16}}"
    rf"|[a-z]{{0,12}}\([ \t]{{0,8}}"
    rf"(?:(?:value|secret|secret_value|password|token|key)[ \t]{{0,8}}=[ \t]{{0,8}})?"
    rf"(?=[\"'\\]))(?P<value>{_QUOTED}|\$\{{[^}}\s]{{0,100}}+\}}|{_TUPLE}|{_BARE})"
)
_COMMAND_LINE = re.compile(
    _lit("-", _URLSAFE)
    + rf"-?[a-z0-9-]{{0,30}}?(?P<free>password|passwd|pass|pwd|secret|token|api-?key|key)"
    rf"{_KEY_END}[ \t]+(?P<value>{_QUOTED}|(?!-){_BARE})"
)
_XML_ELEMENT = re.compile(
    rf"<[a-z0-9_:.-]{{0,40}}?{_WORD}(?:[ \t][^<>]{{0,200}}+)?>(?P<value>[^<]++)</"
)
# In a connection string a value runs to the next `;`, blanks and all (`Password=a b;`), or is
# wrapped in braces (`PWD={a;b}`).
_CONNECTION_STRING = re.compile(
    r";[ \t]{0,8}(?P<free>password|pwd|accountkey|sharedaccesskey|accesskey|secret)"
    r"[ \t]{0,8}=[ \t]{0,8}(?P<value>\{[^}\r\n]{0,256}+\}|[^;\r\n\"']++)"
)
# HTTP headers whose value is a credential: it runs to the end of the line (or of the quoted
# string, or of a JSON-escaped line).
_HEADER_NAMES = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-functions-key",
    "ocp-apim-subscription-key", "x-api-key", "api-key", "x-goog-api-key", "private-token",
    "x-auth-token", "x-access-token", "x-amz-security-token", "x-vault-token", "x-csrf-token",
    "x-xsrf-token",
)  # fmt: skip
_HEADER = re.compile(
    _first_letters(_HEADER_NAMES)
    # not part of a longer name, nor a URL's user (`https://x-access-token:...@`)
    + r"(?<![a-z0-9_/-])"
    + rf"(?P<free>{'|'.join(_HEADER_NAMES)})(?![a-z0-9_-])"
    rf"{_KEY_QUOTE}[ \t]{{0,16}}[:=][ \t]{{0,16}}"
    rf"(?P<value>{_QUOTED}|{_REST})"
)
_BEARER = re.compile(
    r"(?P<scheme>"
    + _lit("bearer", _URLSAFE)
    + "|"
    + _lit("basic", _URLSAFE)
    + r")[ \t]+(?P<value>[a-z0-9._~+/-]{8,}+=*+)(?![a-z0-9._~+/=-])"
)
# A SAS signature or a Functions key in a query string, also URL-encoded once or twice
# (`sig%3D...%26se%3D`); the value stops at the next parameter, encoded or not.
_QUERY_VALUE = r"(?:[a-z0-9+/=_.~-]|%(?!(?:25)?26)(?:25)?[0-9a-f]{2})++"
_SAS_SIGNATURE = re.compile(
    r"sig(?:(?<![a-z0-9]sig)|(?<=%26sig)|(?<=%3fsig)|(?<=%2526sig))(?:=|%3d|%253d)"
    rf"(?P<value>{_QUERY_VALUE})"
)
# `?code=` is an Azure Functions key; a bare `?key=` is an API key for many services (Bing
# Maps, YouTube, ...), which a query string has no other use for.
_QUERY_KEY = re.compile(
    r"(?=[?&%])(?:[?&]|%3f|%26|%253f|%2526)(?P<param>code|key)(?:=|%3d|%253d)"
    rf"(?P<value>{_QUERY_VALUE})"
)

_PASSWORD_WORDS = ("pass", "pwd", "pw")
_PLACEHOLDER = re.compile(
    r"(?i)none|null|nil|undefined|true|false|empty|n/a|hidden|masked|redacted|\*+|x{3,}|\.{3}|…"
    r"|managedidentity|workloadidentity"  # `AzureWebJobsStorage__credential=managedidentity`
    r"|<[^>]*>|\[REDACTED[^\]]*\]?|\$\{[^}]*\}?|\{\{.*|%\(?\w*\)?s"
    r"|(?-i:\$[A-Z_][A-Z0-9_]*)"  # `$DB_PASSWORD`, not `$ecret1`
)


def _word_group(match: re.Match[str]) -> str:
    """Which group holds the key word: `free` or `bounded` (see `_WORD`)."""
    return "free" if match.groupdict().get("free") is not None else "bounded"


def _key_name(match: re.Match[str]) -> str:
    """The whole key a key word ends (`aws_secret_access_key`), from the lower-cased text."""
    word = _word_group(match)
    start = match.start(word)
    head = start
    while head > 0 and start - head < 40 and match.string[head - 1] in _KEY_CHARS:
        head -= 1
    return match.string[head : match.end(word)]


_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _key_label(match: re.Match[str]) -> str:
    """`[REDACTED password]`, `[REDACTED token]`, ...: what kind of secret the key names."""
    key = _key_name(match).replace("_", "").replace("-", "")
    word = match.group(_word_group(match)).replace("_", "").replace("-", "")
    if word.startswith(_PASSWORD_WORDS):
        return "password"
    if "secret" in key:
        return "secret"
    if word.endswith("key"):
        return "key"
    if word.endswith("token"):
        return "token"
    if word.endswith(("sig", "signature")):
        return "signature"
    if word.endswith(("cookie", "cookies", "session", "sessionid", "sessid", "sid")):
        return "session"
    return "credentials"


def _header_label(match: re.Match[str]) -> str:
    name = match.group("free")
    if name.endswith("authorization"):
        return "authorization"
    if name.endswith("cookie"):
        return "cookie"
    if "functions" in name:
        return "function key"
    if "subscription" in name:
        return "subscription key"
    return "api key"


def _word_boundary(match: re.Match[str], text: str) -> bool:
    """A short key word (`pass`, `sig`) must start a word or a camelCase part."""
    if _word_group(match) != "bounded":
        return True
    start = match.start("bounded")
    if start == 0 or not text[start - 1].isalpha():
        return True
    return text[start - 1].islower() and text[start].isupper()


def _plausible_value(match: re.Match[str], text: str) -> bool:
    """Keep `password=None`, `${DB_PASSWORD}`, `token=***`, a call (`credential=Cred(...)`) and,
    after a bare `:`, prose such as `token: expired`; everything else is redacted."""
    start, end = match.span("value")
    raw = text[start:end]
    bare = raw[:1] not in ("'", '"', "\\", "{", "(")
    word = match.group(_word_group(match))
    if bare and match.groupdict().get("op") == ":" and not _is_password_word(word):
        # `token: expired`, `auth: ok`: a value after a bare colon must look like a secret.
        if len(raw) < 8:
            return False
        if not (_DIGIT.search(raw) and _LETTER.search(raw)) and not (
            len(raw) >= 16 and _UPPER.search(raw) and _LOWER.search(raw)
        ):
            return False
    value = raw.strip("\\\"' \t")
    if not value or _PLACEHOLDER.fullmatch(value):
        return False
    if bare and text[end : end + 1] == "(":
        return False
    if not _word_boundary(match, text):
        return False
    key = _key_name(match)
    if "public" in key:
        return False  # `PublicKeyToken=b77a5c561934e089` in .NET assembly names, `public_key`
    key_start = match.end(_word_group(match)) - len(key)
    return not match.string.endswith("//", 0, key_start)  # a URL's user: URL credentials


def _is_password_word(word: str) -> bool:
    return word.startswith(_PASSWORD_WORDS) or word.endswith(("password", "passwd", "passphrase"))


def _keyed(
    pattern: re.Pattern[str],
    *,
    accept: Callable[[re.Match[str], str], bool] = _plausible_value,
    label_of: Callable[[re.Match[str]], str] = _key_label,
    extend: Callable[[re.Match[str], str], int] = _value_end,
) -> Finder:
    """The value group of `pattern` on the lower-cased text, without its quotes (they stay, so
    `password="[REDACTED password]"` still reads as a string), labelled by its key."""
    find_raw = _regex(
        pattern, lower=True, group="value", accept=accept, label_of=label_of, extend=extend
    )

    def find(text: str, lowered: str) -> Iterator[Found]:
        for start, end, label in find_raw(text, lowered):
            while start < end and text[start] in "\\\"'":
                start += 1
            while end > start and text[end - 1] in "\\\"' \t":
                end -= 1
            if end > start:
                yield start, end, label

    return find


def _header_ok(match: re.Match[str], text: str) -> bool:
    value = text[match.start("value") : match.end("value")].strip("\\\"' \t")
    return bool(value) and not _PLACEHOLDER.fullmatch(value)


def _bearer_ok(match: re.Match[str], text: str) -> bool:
    start, end = match.span("value")
    value = text[start:end]
    if match.group("scheme") == "basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return False
        return b":" in decoded
    return any(c.isdigit() for c in value) or len(value) >= 24


# URL credentials, `scheme://user:password@host`, by detect-secrets' pattern; the user goes too.
_USERINFO = re.compile(BasicAuthDetector.denylist[0].pattern)


def _url_credentials(text: str, _lowered: str) -> Iterator[Found]:
    for match in _USERINFO.finditer(text):
        yield match.start() + 3, match.end() - 1, ""


# --------------------------------------------------------------------------------------------
# Personal data.

_EMAIL_DOMAIN = re.compile(r"(?:@|%40)(?:[\w-]{1,63}\.){1,8}[^\W\d_]{2,63}(?![\w-]|\.\w)")
_LOCAL_PART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def _emails(text: str, _lowered: str) -> Iterator[Found]:
    """The domain is matched forwards from `@`, the local part read backwards from it (at most
    64 characters), so no position is tried as the start of an address."""
    for match in _EMAIL_DOMAIN.finditer(text):
        at = match.start()
        start = at
        while (
            start > 0
            and at - start < 64
            and (text[start - 1] in _LOCAL_PART or (text[start - 1].isalnum()))
        ):
            start -= 1
        if start == at:
            continue
        before = text[start - 1] if start else ""
        if before and (before in _LOCAL_PART or before == "%" or before.isalnum()):
            continue  # longer than a local part can be
        if before == ":" and _in_url_userinfo(text, start):
            continue
        yield start, match.end(), ""


def _in_url_userinfo(text: str, start: int) -> bool:
    """`https://user:pass@host.com` is URL credentials (its own rule), not an address."""
    token_start = start
    while token_start > 0 and start - token_start < 256 and not text[token_start - 1].isspace():
        token_start -= 1
    return "://" in text[token_start:start]


# Payment cards: 13 to 19 digits starting 2-6 (Mastercard, Visa, Amex, Discover, JCB, Diners,
# UnionPay), written in one piece, as 4-4-4-x groups or as Amex's 4-6-5, that pass the Luhn
# check. Candidates are runs of digit groups of at most `_CARD_RUN` characters: a card stands
# alone, while a longer run (a hex dump, a list of ids) is not one, and skipping it keeps a
# megabyte of `4111 4111 ...` from costing a Luhn check at every group. A run must open with
# a card's first digit and hold 13 digits, so short numbers never reach Python.
_DIGIT_RUN = re.compile(
    r"[2-6](?<![\w.-][2-6])(?=(?:[ -]?[0-9]){12})[0-9]*+(?:[ -][0-9]++)*+(?![\w-]|[.,][0-9])"
)
_CARD_RUN = 40
_GROUP_SEPARATOR = re.compile(r"[ -]")


def _luhn(digits: str) -> bool:
    """Payment card numbers pass the Luhn check; other long numbers (ids, times) stay."""
    odd = sum(map(int, digits[-1::-2]))
    even = sum(_DOUBLED[int(d)] for d in digits[-2::-2])
    return (odd + even) % 10 == 0


def _card_groups(groups: list[str], separators: list[str], first: int) -> int:
    """How many groups from `first` on make a card number's shape, or 0."""
    head = groups[first]
    if head[0] not in "23456":
        return 0
    if 13 <= len(head) <= 19:
        return 1
    for shape in ((4, 4, 4, 0), (4, 6, 5)):
        count = len(shape)
        rest = groups[first : first + count]
        if len(rest) < count or len(set(separators[first : first + count - 1])) != 1:
            continue
        lengths = [len(group) for group in rest]
        if lengths[:-1] == list(shape[:-1]) and (
            1 <= lengths[-1] <= 7 if shape[-1] == 0 else lengths[-1] == shape[-1]
        ):
            return count
    return 0


def _cards(text: str, _lowered: str) -> Iterator[Found]:
    for run in _DIGIT_RUN.finditer(text):
        if run.end() - run.start() > _CARD_RUN:
            continue
        groups = _GROUP_SEPARATOR.split(run.group())
        separators = _GROUP_SEPARATOR.findall(run.group())
        starts = [run.start()]
        for group in groups[:-1]:
            starts.append(starts[-1] + len(group) + 1)
        first = 0
        while first < len(groups):
            count = _card_groups(groups, separators, first)
            if count and _luhn("".join(groups[first : first + count])):
                last = first + count - 1
                yield starts[first], starts[last] + len(groups[last]), ""
                first += count
            else:
                first += 1


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # the digit sum of twice each digit


_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")


def _ipv4_ok(match: re.Match[str], _text: str) -> bool:
    return all(int(part) <= 255 for part in match.group().split("."))


# An IPv6 candidate is found at its first `:` (preceded by up to four hex digits that start a
# token) followed, within four more hex digits, by a second `:`; `ipaddress` decides.
_IPV6 = re.compile(
    r":(?:(?<=[^\w:.%]:)|(?<=^:)"
    + "".join(f"|(?<=(?<![\\w:.%])[0-9a-f]{{{n}}}:)" for n in range(1, 5))
    + r")(?=:|[0-9a-f:.]{0,40}::|(?:[0-9a-f]{0,4}:){5})"
    + r"[0-9a-f]{0,4}:[0-9a-f:.]{0,40}+(?![\w:.]|\.\w)"
)


def _ip_addresses_v6(text: str, lowered: str) -> Iterator[Found]:
    for match in _IPV6.finditer(lowered):
        start = match.start()
        while start > 0 and match.start() - start < 4 and lowered[start - 1] in "0123456789abcdef":
            start -= 1
        candidate = lowered[start : match.end()].rstrip(".:")
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield start, start + len(candidate), ""


# --------------------------------------------------------------------------------------------
# The table. Order is priority: where spans overlap, the earlier rule names the placeholder.


def _identifiable(text: str, lowered: str) -> Iterator[Found]:
    for pattern, back in _AZURE_IDENTIFIABLE:
        yield from _regex(pattern, back=back)(text, lowered)


RULES: Sequence[Rule] = (
    Rule(
        "private-key",
        "private key",
        _private_keys,
        _ds_origin(PrivateKeyDetector) + " headers",
    ),
    Rule("jwt", "jwt", _regex(_JWT)),
    Rule("url-credentials", "url credentials", _url_credentials, _ds_origin(BasicAuthDetector)),
    *(
        Rule(name, "webhook url", _regex(pattern, lower=True, group="value"))
        for name, pattern in _WEBHOOKS
    ),
    Rule(
        "slack-webhook-ds",
        "webhook url",
        _regex(
            _lowercase(SlackDetector.denylist[1]),
            lower=True,
            skip=len("https://hooks.slack.com/services/"),
        ),
        _ds_origin(SlackDetector),
    ),
    Rule(
        "aws-key",
        "aws key",
        _regex(AWSKeyDetector.denylist[0], left=_LEFT_ALNUM),
        _ds_origin(AWSKeyDetector),
    ),
    Rule(
        "aws-secret",
        "aws secret",
        _regex(_lowercase(AWSKeyDetector.denylist[1]), lower=True, group=1),
        _ds_origin(AWSKeyDetector),
    ),
    Rule("github-token", "github token", _regex(_GITHUB)),
    Rule(
        "github-token-ds",
        "github token",
        _regex(GitHubTokenDetector.denylist[0], left=_LEFT_WORDISH, extend=_TOKEN_TAIL),
        _ds_origin(GitHubTokenDetector),
    ),
    *(
        Rule(
            f"gitlab-token-{index}",
            "gitlab token",
            _regex(pattern, left=_LEFT_URLSAFE),
            _ds_origin(GitLabTokenDetector),
        )
        for index, pattern in enumerate(GitLabTokenDetector.denylist)
    ),
    Rule("anthropic-key", "anthropic key", _regex(_ANTHROPIC)),
    Rule("openai-key", "openai key", _regex(_OPENAI, accept=_mixes_letters_and_digits)),
    Rule("stripe-key", "stripe key", _regex(_STRIPE)),
    Rule(
        "stripe-key-ds",
        "stripe key",
        _regex(
            StripeDetector.denylist[0],
            left=_LEFT_WORDISH,
            extend=_ALNUM_TAIL,
            trigger=("k_live_",),
        ),
        _ds_origin(StripeDetector),
    ),
    Rule("slack-token", "slack token", _regex(_SLACK, lower=True)),
    Rule(
        "slack-token-ds",
        "slack token",
        _regex(
            _lowercase(SlackDetector.denylist[0]),
            lower=True,
            left=_LEFT_URLSAFE,
            extend=_TOKEN_TAIL,
        ),
        _ds_origin(SlackDetector),
    ),
    Rule("google-api-key", "google api key", _regex(_GOOGLE_API_KEY)),
    Rule("npm-token", "npm token", _regex(_NPM)),
    Rule(
        "sendgrid-key",
        "sendgrid key",
        _regex(SendGridDetector.denylist[0], left=_LEFT_WORDISH),
        _ds_origin(SendGridDetector),
    ),
    Rule(
        "mailchimp-key",
        "mailchimp key",
        _regex(MailchimpDetector.denylist[0], left=_LEFT_ALNUM, trigger=("-us",)),
        _ds_origin(MailchimpDetector),
    ),
    Rule(
        "square-secret",
        "square secret",
        _regex(SquareOAuthDetector.denylist[0], left=_LEFT_WORDISH),
        _ds_origin(SquareOAuthDetector),
    ),
    *(
        Rule(
            f"pypi-token-{index}",
            "pypi token",
            # Unbounded, so the boundary is checked before the run, not after it.
            _regex(re.compile(f"(?<![{_WORDISH}])(?:{pattern.pattern})"), trigger=("pypi-",)),
            _ds_origin(PypiTokenDetector),
        )
        for index, pattern in enumerate(PypiTokenDetector.denylist)
    ),
    Rule(
        "telegram-token",
        "telegram token",
        _regex(TelegramBotTokenDetector.denylist[0], left=_LEFT_WORDISH + ":", trigger=(":",)),
        _ds_origin(TelegramBotTokenDetector),
    ),
    Rule(
        "discord-token",
        "discord token",
        _regex(DiscordBotTokenDetector.denylist[0], left=_LEFT_URLSAFE + ".", trigger=(".",)),
        _ds_origin(DiscordBotTokenDetector),
    ),
    Rule("azure-key", "azure key", _identifiable),
    Rule(
        "azure-storage-key-ds",
        "azure storage key",
        _regex(AzureStorageKeyDetector.denylist[0], left=_LEFT_WORDISH, skip=len("AccountKey=")),
        _ds_origin(AzureStorageKeyDetector),
    ),
    Rule("azure-storage-key", "azure storage key", _regex(_BARE_STORAGE_KEY, back=86)),
    Rule("entra-client-secret", "entra client secret", _regex(_ENTRA_SECRET, back=4)),
    Rule("aspnet-protected", "aspnet protected data", _regex(_ASPNET_PROTECTED)),
    Rule("sas-signature", "sas signature", _regex(_SAS_SIGNATURE, lower=True, group="value")),
    Rule(
        "query-key",
        "function key",
        _regex(
            _QUERY_KEY,
            lower=True,
            group="value",
            label_of=lambda m: "" if m.group("param") == "code" else "key",
        ),
    ),
    Rule(
        "header",
        "credentials",
        _keyed(_HEADER, accept=_header_ok, label_of=_header_label, extend=_rest_end),
    ),
    Rule(
        "bearer",
        "bearer token",
        _regex(
            _BEARER,
            lower=True,
            group="value",
            accept=_bearer_ok,
            label_of=lambda m: "basic credentials" if m.group("scheme") == "basic" else "",
        ),
    ),
    Rule("connection-string", "secret", _keyed(_CONNECTION_STRING)),
    Rule("key-value", "secret", _keyed(_KEY_VALUE)),
    Rule("command-line", "secret", _keyed(_COMMAND_LINE)),
    Rule("xml-element", "secret", _keyed(_XML_ELEMENT)),
    Rule("email", "email", _emails),
    Rule("card-number", "card number", _cards),
)
IP_RULES: Sequence[Rule] = (
    Rule("ipv4", "ip address", _regex(_IPV4, accept=_ipv4_ok)),
    Rule("ipv6", "ip address", _ip_addresses_v6),
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lowered(text: str) -> str:
    """`text` in lower case, character for character (`str.lower` turns `İ` into two)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


def find_secrets(text: str, *, redact_ips: bool = False) -> list[Finding]:
    """Every secret in `text`, merged where they overlap. A merged span is named by the finding
    that covers most of it (`Authorization: Bearer <jwt>` is an authorization), or on a tie by
    the earlier, more specific rule (`password='sk_live_...'` is a stripe key).

    Offsets are into `text` as given: remove control characters first, as `redact` does.
    """
    lowered = _lowered(text)
    rules = (*RULES, *IP_RULES) if redact_ips else RULES
    found: list[tuple[int, int, int, str, str]] = []
    for priority, rule in enumerate(rules):
        found.extend(
            (start, end, priority, label or rule.label, rule.name)
            for start, end, label in rule.find(text, lowered)
        )
    found.sort(key=lambda item: (item[0], -item[1], item[2]))
    merged: list[tuple[int, int, int, int, str, str]] = []  # start, end, width, priority, ...
    for start, end, priority, label, name in found:
        if merged and start < merged[-1][1]:
            m_start, m_end, width, m_priority, m_label, m_name = merged[-1]
            if (end - start, -priority) > (width, -m_priority):
                width, m_priority, m_label, m_name = end - start, priority, label, name
            merged[-1] = (m_start, max(m_end, end), width, m_priority, m_label, m_name)
            continue
        merged.append((start, end, end - start, priority, label, name))
    return [Finding(start, end, label, name) for start, end, _, _, label, name in merged]


def _redact(text: str, redact_ips: bool) -> tuple[str, list[tuple[int, int]]]:
    """The redacted text and where in it each placeholder sits."""
    cleaned = _CONTROL.sub("", text)
    out: list[str] = []
    placed: list[tuple[int, int]] = []
    position = 0
    size = 0
    for finding in find_secrets(cleaned, redact_ips=redact_ips):
        out.append(cleaned[position : finding.start])
        size += finding.start - position
        mark = placeholder(finding.label)
        out.append(mark)
        placed.append((size, size + len(mark)))
        size += len(mark)
        position = finding.end
    out.append(cleaned[position:])
    return "".join(out), placed


def redact(text: str, *, redact_ips: bool = False) -> str:
    """`text` with each secret and piece of personal data replaced by `[REDACTED <what>]`.

    Control characters other than tab, newline and carriage return are removed first. IP
    addresses (IPv4, and IPv6 in every compressed form) go only when `redact_ips` is set.
    """
    return _redact(text, redact_ips)[0]


def redact_then_clip(
    text: str, limit: int, *, redact_ips: bool = False, ellipsis: str = "…"
) -> str:
    """At most `limit` characters of `redact(text)`, ending in `ellipsis` when cut.

    The whole text is redacted before it is cut, so a secret straddling the cut is never shown
    in part (a secret whose tail was cut off no longer matches its pattern), and the cut never
    splits a placeholder.
    """
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    redacted, placed = _redact(text, redact_ips)
    if len(redacted) <= limit:
        return redacted
    cut = max(0, limit - len(ellipsis))
    for start, end in placed:
        if start < cut < end:
            cut = start
            break
    return redacted[:cut] + ellipsis[: max(0, limit - cut)]
