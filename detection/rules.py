"""The rules file: one YAML document that says what Faultline watches and what it does.

The whole product's schema lives here, even where a later stage implements the behaviour, so a
user's file is validated once, at start-up, with every mistake listed on a line of its own that
names the bad field's path and the definition or source it is in, suggests the closest valid key,
operator or table, and blames a value set through `${NAME}` on the variable
(`detection.rule_errors`).
Loading is pure: the caller passes the text and the environment used for `${NAME}` substitution.

`${NAME}` and `${NAME:-default}` are replaced inside string values only, and only for variables
whose names start with `FAULTLINE_` and name no credential (no `TOKEN`, `SECRET`, `PASSWORD`,
`KEY`, `CONNECTION` ... word): the environment is every app setting, connection strings
included, and a value substituted into a label or an agent's instructions would be published.
Any other `${NAME}` is an error naming the field and the variable.

The text is untrusted input too: it is refused beyond `MAX_RULES_BYTES`, beyond `MAX_ALIASES`
YAML aliases, beyond `MAX_DEPTH` levels of nesting, or when its aliases would expand to more than
`MAX_NODES` nodes (a "billion laughs" document), before anything walks the expansion.

Regular expressions (conditions' `regex`, extractors) are RE2, the engine and syntax of KQL's
`matches regex`: `compile_regex` is the one place they are compiled, here to reject at load time
what RE2 does not accept, and in `detection.conditions` to evaluate them, so the compiled query
and the Python evaluator mean the same thing, in time linear in the text.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal, Protocol

import re2  # google-re2
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from detection.rule_errors import (
    Location,
    Substitution,
    closest,
    did_you_mean,
    explain,
    readable_path,
)

KNOWN_TABLES = frozenset(
    {
        "AppExceptions",
        "AppRequests",
        "AppTraces",
        "AppDependencies",
        "AppServiceConsoleLogs",
        "FunctionAppLogs",
        "ContainerLogV2",
    }
)
CUSTOM_TABLE_SUFFIX = "_CL"
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_DURATION_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_ENV_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

ENV_PREFIX = "FAULTLINE_"
"""Only variables named `FAULTLINE_*` are substituted into the rules file."""
CREDENTIAL_WORDS = frozenset(
    {
        "TOKEN",
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CONNECTION",
        "CONNECTIONSTRING",
        "CREDENTIAL",
        "CREDENTIALS",
        "SAS",
    }
)
"""`FAULTLINE_*` variables with one of these words in their name are not substituted either."""

MAX_RULES_BYTES = 512 * 1024
MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_NODES = 100_000
"""Nodes the document may expand to, aliases followed (the shipped file has a few hundred)."""


class RulesError(ValueError):
    """The rules file is unusable; the message lists every bad field by its path."""


class RegexMatch(Protocol):
    def group(self, *groups: int | str) -> Any: ...


class Regex(Protocol):
    """A compiled RE2 pattern (google-re2's `re`-like API)."""

    @property
    def pattern(self) -> str: ...

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    def search(self, text: str) -> RegexMatch | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error is raised with the pattern instead of logged by C++
    return options


_RE2_OPTIONS = _re2_options()


def compile_regex(pattern: str) -> Regex:
    """Compile with RE2, the engine of KQL's `matches regex`, so the service and Python agree on
    what a pattern means and matching takes time linear in the text (no backtracking).

    Raises ValueError naming the pattern when RE2 does not accept it: lookaround,
    backreferences, `\\Z`, possessive quantifiers, repetitions over 1000, too large a program.
    """
    try:
        compiled: Regex = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"invalid regular expression {pattern!r}: RE2, the syntax KQL's `matches regex` "
            f"uses, does not accept it ({reason})"
        ) from None
    return compiled


def parse_duration(value: object) -> timedelta:
    """Accept `90s`, `5m`, `1h30m`, `2d` (and timedeltas): durations as an operator writes them."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads `5` as a number: the missing unit is the mistake
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '90s', '5m', '1h30m' or '2d'")
    text = value.strip().lower()
    if text.isdigit():
        raise ValueError(
            f"{value!r} has no unit; expected a duration like {text}m (units: s, m, h, d)"
        )
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration; expected one like 90s, 5m, 1h30m or 2d")
    unit_seconds = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return timedelta(seconds=sum(int(n) * unit_seconds[u] for n, u in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
GITLAB_PREFIX = "gitlab:"
"""A repository named `gitlab:group/project` is a GitLab project; `owner/repo` is on GitHub."""
_GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
_GITLAB_PROJECT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+")


def _repository(value: str) -> str:
    """`owner/repo` on GitHub, or `gitlab:group/project` (subgroups allowed) on GitLab."""
    if value.startswith(GITLAB_PREFIX):
        if not _GITLAB_PROJECT.fullmatch(value.removeprefix(GITLAB_PREFIX)):
            raise ValueError(
                f"{value!r} is not a GitLab project path; expected gitlab:group/project or "
                "gitlab:group/subgroup/project (letters, digits, '_', '-', '.')"
            )
        return value
    if not _GITHUB_REPOSITORY.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a repository; expected owner/repo (GitHub) or "
            "gitlab:group/project (GitLab)"
        )
    return value


Repository = Annotated[str, AfterValidator(_repository)]
REPOSITORY_HELP = "`owner/repo` on GitHub, or `gitlab:group/project` (subgroups allowed) on GitLab."
Scalar = bool | int | float | str
ColumnName = Annotated[str, StringConstraints(pattern=rf"^{IDENTIFIER}$")]
"""A column or table name as KQL reads it bare: letters, digits and `_`."""


def _dynamic_key(key: str) -> str:
    """A key into a dynamic column; it reaches KQL only as an escaped string literal."""
    if not key:
        raise ValueError("empty key in a dynamic path")
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        raise ValueError(f"key {key!r} contains a control character")
    return key


DynamicKey = Annotated[str, AfterValidator(_dynamic_key)]


def true_or_false(value: object) -> object:
    """An `enabled` switch. A substituted variable arrives as text: only `true` and `false` (any
    case) are read, so a typo such as `ture` or a stray `0` names the field instead of meaning
    something."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"enabled is true or false, not {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldPath(_Model):
    """A column, optionally followed by keys into its dynamic (JSON) value: `Properties.tenant`."""

    column: ColumnName
    keys: tuple[DynamicKey, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FieldPath:
        column, *keys = text.split(".")
        if not re.fullmatch(IDENTIFIER, column):
            raise ValueError(f"{text!r}: a field starts with a column name like 'Message'")
        if any(not key for key in keys):
            raise ValueError(f"{text!r}: empty key in a dynamic path")
        return cls(column=column, keys=tuple(keys))

    def __str__(self) -> str:
        return ".".join((self.column, *self.keys))


def _field_path(value: object) -> object:
    return FieldPath.parse(value) if isinstance(value, str) else value


FieldRef = Annotated[FieldPath, BeforeValidator(_field_path)]

LEAF_OPERATORS = (
    "equals",
    "not_equals",
    "in_",
    "not_in",
    "contains",
    "regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
)
OPERATORS = frozenset(name.rstrip("_") for name in LEAF_OPERATORS)
"""The operators as the rules file spells them (`in`, not `in_`)."""


class Condition(_Model):
    """A test on a record: a leaf (`field` plus one operator) or `all` / `any` / `not` of others."""

    all_: tuple[Condition, ...] | None = Field(default=None, alias="all", min_length=1)
    any_: tuple[Condition, ...] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    field: FieldRef | None = None
    equals: Scalar | None = None
    not_equals: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[Scalar, ...] | None = Field(default=None, min_length=1)
    contains: str | None = None
    regex: str | None = Field(
        default=None,
        description=(
            "An RE2 regular expression (the syntax of KQL's `matches regex`) found anywhere in "
            "the field's text; RE2 has no lookaround or backreferences, `\\d` and `\\w` are "
            "ASCII, `$` is the end of the text."
        ),
    )
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    exists: bool | None = None
    case_sensitive: bool = False

    @field_validator("regex")
    @classmethod
    def _regex_is_re2(cls, pattern: str | None) -> str | None:
        """The pattern runs in KQL and in Python, both on RE2, so it must compile there."""
        if pattern is not None:
            compile_regex(pattern)
        return pattern

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        combinators = [n for n in ("all_", "any_", "not_") if n in self.model_fields_set]
        operators = [n for n in LEAF_OPERATORS if n in self.model_fields_set]
        if combinators:
            if len(combinators) > 1 or self.field is not None or operators:
                raise ValueError(
                    "a condition is exactly one of: all, any, not, or field + operator"
                )
            return self
        if self.field is None:
            raise ValueError("a condition needs 'field' with one operator, or all/any/not")
        if len(operators) != 1:
            names = ", ".join(n.rstrip("_") for n in LEAF_OPERATORS)
            raise ValueError(f"field {self.field} needs exactly one operator of: {names}")
        if getattr(self, operators[0]) is None:
            raise ValueError(
                f"field {self.field}: operator {operators[0].rstrip('_')} needs a value"
            )
        return self

    @property
    def operator(self) -> str:
        """The leaf's operator name (`in` without the trailing underscore)."""
        return next(n for n in LEAF_OPERATORS if n in self.model_fields_set).rstrip("_")

    @property
    def operand(self) -> Any:
        return getattr(self, next(n for n in LEAF_OPERATORS if n in self.model_fields_set))


class ColumnMap(_Model):
    """Which columns of a table carry the parts of a failure (custom tables must say)."""

    message: ColumnName | None = None
    level: ColumnName | None = None
    exception_type: ColumnName | None = None
    stack_trace: ColumnName | None = None
    operation_name: ColumnName | None = None
    operation_id: ColumnName | None = None
    role: ColumnName | None = None
    app_version: ColumnName | None = Field(
        default=None,
        description=(
            "The column with the app version the record came from (the Application Insights "
            "tables use `AppVersion` or `Application_Version` without it): shown on the issue, "
            "and compared with the version an issue was resolved in."
        ),
    )
    instance: ColumnName | None = None
    user: ColumnName | None = None


class TableSpec(_Model):
    name: str
    columns: ColumnMap = ColumnMap()
    record_id_column: ColumnName | None = Field(
        default=None,
        description="A column that uniquely identifies a record; default: a hash of the row.",
    )

    @model_validator(mode="after")
    def _known_or_custom(self) -> TableSpec:
        if self.name in KNOWN_TABLES:
            return self
        if not (re.fullmatch(IDENTIFIER, self.name) and self.name.endswith(CUSTOM_TABLE_SUFFIX)):
            raise ValueError(unknown_table(self.name))
        if self.columns.message is None:
            raise ValueError(
                f"custom table {self.name} needs columns.message, the column holding its text, "
                f"as in {{name: {self.name}, columns: {{message: Message}}}}"
            )
        return self


def unknown_table(name: str) -> str:
    """Why a table name is refused: the known tables nearest to it, and what a custom one needs
    (its rows have no default shape, see `detection.records.TABLE_SHAPES`)."""
    known = sorted(KNOWN_TABLES)
    hint = did_you_mean(closest(name, known, count=3))
    return (
        f"unknown table {name!r}{'; ' + hint if hint else '.'} Known tables: {', '.join(known)}; "
        f"a custom table's name ends in {CUSTOM_TABLE_SUFFIX} and it needs a `columns` map "
        "naming at least its message column"
    )


def _known_or_custom_name(name: str) -> str:
    if name not in KNOWN_TABLES and not name.endswith(CUSTOM_TABLE_SUFFIX):
        raise ValueError(unknown_table(name))
    return name


TableName = Annotated[ColumnName, AfterValidator(_known_or_custom_name)]
"""A table a failure definition reads: a known one, or a custom `*_CL` whose source maps it."""


def _table_spec(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


CLOUDWATCH_COLUMNS = ("Message", "LogStream", "LogGroup")
"""The text columns of a CloudWatch record (besides TimeGenerated and IngestionTime), which a
log group's `columns` map may name (`detection.insights`)."""
CLOUDWATCH_MAX_LATENESS = timedelta(days=14)
"""CloudWatch refuses events older than this (PutLogEvents), so no lookback needs more."""
LogGroupName = Annotated[str, StringConstraints(pattern=r"^[.\-_/#A-Za-z0-9]{1,512}$")]
"""A CloudWatch log group's name, as AWS allows it."""


def log_group_table(log_group: str) -> str:
    """The table name a log group's records carry (jobs, checkpoints, the ledger): `CW_` and the
    group's name with each character outside `[A-Za-z0-9_]` as `_`; a long name keeps its
    first 100 characters and a hash of the whole, so it fits a Table Storage key and a job."""
    key = "CW_" + re.sub(r"[^A-Za-z0-9_]", "_", log_group.strip("/"))
    if len(key) <= 120:
        return key
    digest = hashlib.blake2b(log_group.encode(), digest_size=6).hexdigest()
    return f"{key[:100]}_{digest}"


class LogGroup(_Model):
    """A CloudWatch log group a `cloudwatch` source polls, and where its records keep the parts
    of a failure (records have the columns `Message`, `LogStream` and `LogGroup`; a JSON or
    logfmt message is parsed as a structured line, as for a custom table)."""

    name: LogGroupName = Field(description="The log group's name, e.g. `/aws/lambda/orders`.")
    columns: ColumnMap = Field(
        default=ColumnMap(message="Message", instance="LogStream"),
        description=(
            "Which record columns (`Message`, `LogStream`, `LogGroup`) hold each part; "
            "default: the message in `Message`, the instance in `LogStream`."
        ),
    )

    @model_validator(mode="after")
    def _columns_exist(self) -> LogGroup:
        named = {k: v for k, v in self.columns.model_dump().items() if v is not None}
        unknown = {k: v for k, v in named.items() if v not in CLOUDWATCH_COLUMNS}
        if unknown:
            parts = ", ".join(f"{k}: {v}" for k, v in sorted(unknown.items()))
            raise ValueError(
                f"log group {self.name}: columns names what a CloudWatch record does not have "
                f"({parts}); its columns are {', '.join(CLOUDWATCH_COLUMNS)}"
            )
        if self.columns.message is None:
            raise ValueError(f"log group {self.name}: columns.message is required (Message)")
        return self

    @property
    def table(self) -> str:
        return log_group_table(self.name)

    @property
    def spec(self) -> TableSpec:
        """The log group as the table its records are normalized as. Its name is derived, not
        written by anyone, so it is built without TableSpec's check for known table names."""
        return TableSpec.model_construct(name=self.table, columns=self.columns)


class LogSource(_Model):
    """One Log Analytics workspace (`kind: log-analytics`, the default) or the CloudWatch log
    groups of one AWS account and region (`kind: cloudwatch`), and how to poll it incrementally
    on ingestion time."""

    name: Name
    kind: Literal["log-analytics", "cloudwatch"] = Field(
        default="log-analytics",
        description=(
            "`log-analytics` reads `tables` of `workspace_id`; `cloudwatch` reads `log_groups` "
            "in the account and region of the `FAULTLINE_AWS_*` app settings."
        ),
    )
    enabled: bool = Field(
        default=True,
        description=(
            "Whether the source is polled. A disabled source is still validated, and failure "
            "definitions and routes may name its tables, but the timer queues no query for it, "
            "replay refuses it and health leaves it out: a source that exists only in some "
            "deployments (the shipped `faultline-smoke` source is switched on by "
            "`FAULTLINE_SMOKE_ENABLED`) stays in the one rules file. Written as `true`/`false`, "
            "or a `${FAULTLINE_...}` variable holding one."
        ),
    )
    workspace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")] | None = Field(
        default=None, description="The Log Analytics workspace (required for log-analytics)."
    )
    workspace_resource_id: (
        Annotated[
            str,
            StringConstraints(
                pattern=r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                r"Microsoft\.OperationalInsights/workspaces/[^/]+$"
            ),
        ]
        | None
    ) = Field(default=None, description="Enables 'open in the Azure portal' links in issues.")
    tables: tuple[Annotated[TableSpec, BeforeValidator(_table_spec)], ...] = Field(
        default=(), description="The tables a log-analytics source polls (at least one)."
    )
    log_groups: tuple[LogGroup, ...] = Field(
        default=(), description="The log groups a cloudwatch source polls (at least one)."
    )
    poll_interval: Duration = Field(
        default=timedelta(minutes=5),
        description=(
            "How often the source is queried. The timer (`FAULTLINE_TIMER_SCHEDULE`) must fire "
            "at least this often; the interval is rounded up to whole timer periods."
        ),
    )
    lookback: Duration = Field(
        default=timedelta(hours=1),
        description=(
            "How far TimeGenerated may trail ingestion; older late records are missed. For "
            "CloudWatch, the maximum lateness its log groups may see (at most 14d, the oldest "
            "event CloudWatch accepts)."
        ),
    )
    ingestion_delay: Duration = Field(
        default=timedelta(minutes=2),
        description="How far behind now a window ends, so the newest ingestion has settled.",
    )
    max_window: Duration = timedelta(minutes=15)
    initial_backfill: Duration = timedelta(hours=1)
    max_slices_per_tick: int = Field(default=48, ge=1, le=1000)

    @field_validator("enabled", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        return true_or_false(value)

    @field_validator("workspace_resource_id", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        """`${FAULTLINE_WORKSPACE_RESOURCE_ID:-}` substitutes to empty where it is not set."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent_windows(self) -> LogSource:
        if self.max_window < timedelta(seconds=1):
            raise ValueError("max_window must be at least 1s")
        if self.lookback < self.ingestion_delay:
            raise ValueError("lookback must be at least ingestion_delay")
        if self.kind == "cloudwatch":
            self._cloudwatch_fields()
        else:
            if self.workspace_id is None:
                raise ValueError(f"source {self.name}: workspace_id is required (log-analytics)")
            if not self.tables:
                raise ValueError(f"source {self.name}: tables needs at least one table")
            if self.log_groups:
                raise ValueError(
                    f"source {self.name}: log_groups belong to a source of kind: cloudwatch"
                )
        names = [t.name for t in self.watched]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name} lists a table or log group twice")
        return self

    def _cloudwatch_fields(self) -> None:
        if not self.log_groups:
            raise ValueError(f"source {self.name}: log_groups needs at least one log group")
        stray = [n for n in ("workspace_id", "workspace_resource_id", "tables") if getattr(self, n)]
        if stray:
            raise ValueError(
                f"source {self.name} (cloudwatch) takes log_groups, not {', '.join(stray)}"
            )
        if self.lookback > CLOUDWATCH_MAX_LATENESS:
            raise ValueError(
                f"source {self.name}: lookback {self.lookback} exceeds the 14d CloudWatch "
                "accepts events for"
            )

    @property
    def watched(self) -> tuple[TableSpec, ...]:
        """What the source polls, each as a table: its tables, or its log groups'."""
        return self.tables or tuple(group.spec for group in self.log_groups)

    def table(self, name: str) -> TableSpec:
        for spec in self.watched:
            if spec.name == name:
                return spec
        raise KeyError(f"source {self.name} does not watch table {name}")

    def log_group(self, table: str) -> LogGroup:
        """The log group whose records carry `table` (`log_group_table`)."""
        for group in self.log_groups:
            if group.table == table:
                return group
        raise KeyError(f"source {self.name} does not watch a log group for {table}")


class Threshold(_Model):
    """N occurrences within M minutes before a failure deserves an issue."""

    count: int = Field(default=1, ge=1)
    within: Duration = timedelta(hours=1)


class Extractor(_Model):
    """A named value pulled out of a field by a regex with a `value` group (e.g. an order id)."""

    name: Annotated[str, StringConstraints(pattern=rf"^{IDENTIFIER}$")]
    field: FieldRef
    regex: str = Field(
        description="An RE2 regular expression with a named group `(?P<value>...)`.",
    )

    @field_validator("regex")
    @classmethod
    def _has_value_group(cls, pattern: str) -> str:
        if "value" not in compile_regex(pattern).groupindex:
            raise ValueError(f"{pattern!r} needs a named group (?P<value>...)")
        return pattern


class ContextSpec(_Model):
    extractors: tuple[Extractor, ...] = ()
    max_samples: int = Field(default=5, ge=0, le=50)


class FingerprintOverride(_Model):
    """Pin a definition's fingerprint to chosen fields, as Sentry's fingerprint rules allow."""

    fields: tuple[FieldRef, ...] = Field(min_length=1)


class FailureDefinition(_Model):
    name: Name
    tables: tuple[TableName, ...] = ()
    webhooks: tuple[Name, ...] = Field(
        default=(),
        description=(
            "Alert webhooks (by their `name` under `webhooks`) whose records this definition "
            "judges, as `tables` names tables; a definition names tables, webhooks or both."
        ),
    )
    log_groups: tuple[LogGroupName, ...] = Field(
        default=(),
        description=(
            "CloudWatch log groups (by name, as a cloudwatch source lists them) whose records "
            "this definition judges, as `tables` names tables."
        ),
    )
    when: Condition
    description: str = ""
    severity: Literal["critical", "high", "medium", "low"] = "medium"
    category: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")] = "bug"
    threshold: Threshold = Threshold()
    context: ContextSpec = ContextSpec()
    fingerprint: FingerprintOverride | None = None
    only_when_operation_fails: bool = Field(
        default=False,
        description=(
            "Count a row toward the threshold only when its operation failed too: a failed "
            "dependency call whose operation shows no failure of its own within "
            "`correlation.wait` (no failed request, exception or error line) was retried or "
            "worked around; it is still counted, but alone it never opens an issue."
        ),
    )

    @model_validator(mode="after")
    def _reads_something(self) -> FailureDefinition:
        if not self.tables and not self.webhooks and not self.log_groups:
            raise ValueError(
                "a failure definition names at least one of tables or webhooks (or log_groups)"
            )
        return self

    def reads(self, table: str) -> bool:
        """Whether records of this table (or webhook: its records' table is its name; or log
        group: `log_group_table` of its name) count."""
        return (
            table in self.tables
            or table in self.webhooks
            or any(log_group_table(group) == table for group in self.log_groups)
        )


AssigneeKind = Literal["copilot", "claude", "users", "none"]


class Assignment(_Model):
    kind: AssigneeKind = "none"
    users: tuple[str, ...] = Field(
        default=(),
        description=(
            "Logins to assign (`kind: users`): GitHub logins, or GitLab usernames on a GitLab "
            "route, where a GitLab Duo flow trigger's service account hands the issue to an agent."
        ),
    )
    claude_trigger: Literal["label", "mention", "both"] = "mention"
    claude_label: str = "claude"
    custom_instructions: str = ""
    base_branch: str | None = None
    custom_agent: str | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _users_when_needed(self) -> Assignment:
        if self.kind == "users" and not self.users:
            raise ValueError("assignment kind 'users' needs at least one user")
        return self


class AssignmentPolicy(_Model):
    default: Assignment = Assignment()
    outside_business_hours: Literal["assign", "unassigned", "defer"] = "assign"


class Route(_Model):
    """Send matching failures to a repository; every `when_*` given must match."""

    name: Name | None = Field(
        default=None, description="Names the route, for notification rules' `routes` filter."
    )
    when_definitions: tuple[str, ...] = ()
    when_tables: tuple[ColumnName, ...] = ()
    when_roles: tuple[str, ...] = ()
    when: Condition | None = None
    repository: Repository = Field(description=REPOSITORY_HELP)
    labels: tuple[str, ...] = ()
    assignment: Assignment | None = None


class Routing(_Model):
    """Where issues go: the first route that matches, else `default_repository`. A repository
    `owner/repo` is on GitHub; `gitlab:group/project` is a GitLab project (its instance is
    `FAULTLINE_GITLAB_API_URL`, its token `FAULTLINE_GITLAB_TOKEN_SECRET`), where Copilot cannot
    be assigned."""

    default_repository: Repository = Field(description=REPOSITORY_HELP)
    routes: tuple[Route, ...] = ()


class Labels(_Model):
    always: tuple[str, ...] = ("faultline",)
    severity_prefix: str = "severity:"
    category_prefix: str = "category:"


class Dedup(_Model):
    strategy: Literal["fingerprint", "fingerprint_and_repository"] = "fingerprint"
    comment_interval: Duration = timedelta(hours=6)
    update_interval: Duration = Field(
        default=timedelta(hours=1),
        description=(
            "How often at most an issue's body (counts, chart, samples) is refreshed; "
            "recurrences in between are gathered into the next refresh."
        ),
    )
    regression: Literal["reopen", "new_linked"] = "reopen"
    upgrade_transition: Duration = Field(
        default=timedelta(days=30),
        description=(
            "After an upgrade of the fingerprint algorithm, how long the previous version's "
            "fingerprint is computed too, so failures that have issues made under it find them "
            "(their counts and issues fold into the new groups)."
        ),
    )
    resolve_after_quiet: Duration | None = Field(
        default=None,
        description=(
            "Close as completed, with a comment saying why, the issues whose failure has not "
            "recurred for this long (for example `14d`); a daily pass decides. Issues labelled "
            "`faultline:keep-open` and muted ones are left alone. The next occurrence is a "
            "regression. Off when absent; at least an hour."
        ),
    )
    occurrence_retention: Duration = Field(
        default=timedelta(days=30),
        description=(
            "How long each occurrence's ledger row is kept (a daily clean-up deletes older ones; "
            "counts stay). The rows are what makes a record seen twice count once, so replays "
            "of older windows are refused."
        ),
    )

    @field_validator("resolve_after_quiet")
    @classmethod
    def _quiet_is_a_period(cls, quiet: timedelta | None) -> timedelta | None:
        """A shorter quiet period would close issues between two polls of a failure that is
        still happening."""
        if quiet is not None and quiet < timedelta(hours=1):
            raise ValueError(f"resolve_after_quiet must be at least 1h, not {quiet}")
        return quiet


class Escalation(_Model):
    """A failure whose hourly rate jumps well above its own normal: its issue is labelled
    `faultline:escalating` and says so once (audited, and the `escalated` notification event);
    the label comes off when the rate falls back."""

    factor: float | None = Field(
        default=None,
        gt=1,
        description=(
            "How many times its baseline a failure's hourly rate must exceed to escalate (for "
            "example `5`). Off when absent. The rate is the larger of the current and the "
            "previous hour's count."
        ),
    )
    baseline: Duration = Field(
        default=timedelta(days=7),
        description=(
            "The period before the previous hour whose median hourly count is the failure's "
            "baseline (hours without occurrences count as 0; hours before it was first seen do "
            "not count, and a failure seen for less than a day does not escalate). At most 7d, "
            "the hourly tally the ledger keeps."
        ),
    )
    min_count: int = Field(
        default=10,
        ge=1,
        description=(
            "The fewest occurrences in an hour that can escalate, so a failure that goes from "
            "1 to 3 an hour is not an escalation."
        ),
    )

    @field_validator("baseline")
    @classmethod
    def _baseline_within_the_tally(cls, baseline: timedelta) -> timedelta:
        if not timedelta(days=1) <= baseline <= timedelta(days=7):
            raise ValueError(f"baseline must be between 1d and 7d, not {baseline}")
        return baseline


class Correlation(_Model):
    """Rows of one failing operation (same operation, invocation or trace id, any table) are one
    incident: its most specific row is the root cause and decides the group; the others are
    evidence on that group's issue."""

    enabled: bool = True
    wait: Duration = Field(
        default=timedelta(minutes=30),
        description=(
            "How long rows that are only symptoms (a failed request or dependency call, an error "
            "line) wait for their operation's cause (an exception with in-app frames) to be "
            "ingested; a cause settles its operation at once. A cause ingested later than this "
            "counts as a failure of its own. Longer waits join later causes but delay issues "
            "whose operations have no cause row. Measured on ingestion time: symptoms settle "
            "once every watched table of their source has been read past their latest "
            "ingestion time plus this, so a table whose jobs run late cannot change the root."
        ),
    )
    max_hold: Duration = Field(
        default=timedelta(hours=4),
        description=(
            "How long, on the worker's clock, symptoms may wait for their source's tables to be "
            "read past their cause's bound. After it they settle anyway (logged as a warning "
            "naming the tables), so a table whose jobs keep failing never holds issues back "
            "forever. Must be longer than `wait`."
        ),
    )

    @model_validator(mode="after")
    def _hold_outlasts_wait(self) -> Correlation:
        if self.max_hold <= self.wait:
            raise ValueError(
                f"max_hold ({self.max_hold}) must be longer than wait ({self.wait}): symptoms "
                "wait at least `wait` for their cause"
            )
        return self


class Redaction(_Model):
    """What is removed from log text before it is stored or shown (secrets, keys, tokens,
    passwords, connection strings, JWTs, card numbers and e-mail addresses always go)."""

    ip_addresses: bool = Field(
        default=False,
        description="Also redact IPv4 and IPv6 addresses (personal data in some jurisdictions).",
    )


class RateLimits(_Model):
    issues_per_hour: int = Field(default=20, ge=1)
    issues_per_hour_per_repository: int = Field(default=10, ge=1)
    comments_per_hour: int = Field(default=60, ge=1)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""In `datetime.weekday()` order."""


class BusinessHours(_Model):
    timezone: str = "UTC"
    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {name!r} (use an IANA name)") from error
        return name

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("business hours start must be before end")
        return self


NOTIFICATION_EVENTS = (
    "issue-created",
    "issue-regressed",
    "assignment-failed",
    "escalated",
    "pull-request-opened",
    "job-poisoned",
    "query-lagging",
    "github-token-expiring",
    "github-token-refused",
)
"""What a notification rule can fire on. The last four are Faultline's own trouble: a poisoned
job, a table whose queries fell behind by more than `notifications.trouble.lag_bound`, a GitHub
token near its expiry, and a token GitHub refused."""
NotificationEventKind = Literal[
    "issue-created",
    "issue-regressed",
    "assignment-failed",
    "escalated",
    "pull-request-opened",
    "job-poisoned",
    "query-lagging",
    "github-token-expiring",
    "github-token-refused",
]
_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


def _secret_name(name: str) -> str:
    if not _SECRET_NAME.fullmatch(name):
        raise ValueError(
            "expected the name of a Key Vault secret (letters, digits and dashes), not the "
            "secret itself: store the URL or token in Key Vault and name it here"
        )
    return name


SecretName = Annotated[str, AfterValidator(_secret_name)]
"""A Key Vault secret's name: never the secret itself, so a URL or a token pasted here is
refused rather than kept in the rules file (and the message does not echo it)."""
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
_SECRET_HEADER_WORDS = ("authorization", "cookie", "token", "secret", "key", "password", "auth")


WebhookKind = Literal["sentry", "grafana", "alertmanager", "azure-monitor"]
WebhookAuth = Literal["signature", "bearer", "basic", "token"]
WEBHOOK_AUTH: Mapping[str, tuple[str, ...]] = {
    "sentry": ("signature",),
    "grafana": ("signature", "bearer"),
    "alertmanager": ("bearer", "basic"),
    "azure-monitor": ("token",),
}
"""How each sender can prove itself (`detection.webhook_auth`); the first is the default."""


class WebhookSource(_Model):
    """An alert webhook, `POST /api/alerts/<name>`: who sends it and the secret that proves it,
    which is never in this file: `secret` names it in Key Vault (without a vault, locally, the
    environment variable `FAULTLINE_WEBHOOK_SECRET_<SECRET>`, upper case with `_` for `-`)."""

    name: Name = Field(
        description=(
            "The webhook's path (`/api/alerts/<name>`) and the name its records' table takes, "
            "which failure definitions list under `webhooks`."
        ),
    )
    kind: WebhookKind = Field(description="The sender, which decides the payload and its proof.")
    secret: SecretName = Field(
        description=(
            "Key Vault secret holding the sender's credential: Sentry's client secret, "
            "Grafana's HMAC secret or bearer credential, Alertmanager's bearer credential or "
            "`user:password`, Azure Monitor's URL token."
        ),
    )
    auth: WebhookAuth | None = Field(
        default=None,
        description=(
            "How the sender proves itself: sentry `signature`; grafana `signature` (HMAC) or "
            "`bearer`; alertmanager `bearer` or `basic`; azure-monitor `token` (in the URL). "
            "Default: the first of these."
        ),
    )
    signature_header: HeaderName = Field(
        default="X-Grafana-Alert-Signature",
        description="Grafana: the HMAC signature header its contact point is configured with.",
    )
    timestamp_header: HeaderName | None = Field(
        default=None,
        description=(
            "Grafana: the HMAC timestamp header, when the contact point sets one (then "
            "`<timestamp>:<body>` is signed and the timestamp must be within `max_skew`)."
        ),
    )
    max_skew: Duration = Field(
        default=timedelta(minutes=5),
        description="Grafana with a timestamp header: how far its timestamp may be from now.",
    )
    source: Name | None = Field(
        default=None,
        description=(
            "Azure Monitor: the Log Analytics source whose tables a log search alert's window "
            "is re-read from, so its rows are detected by the failure definitions of those "
            "tables; without it, a log search alert is a record of its own."
        ),
    )

    @model_validator(mode="after")
    def _auth_fits_kind(self) -> WebhookSource:
        allowed = WEBHOOK_AUTH[self.kind]
        if self.auth is not None and self.auth not in allowed:
            raise ValueError(
                f"webhook {self.name} ({self.kind}) authenticates with "
                f"{' or '.join(allowed)}, not {self.auth}"
            )
        if self.source is not None and self.kind != "azure-monitor":
            raise ValueError(f"webhook {self.name}: only azure-monitor webhooks take a source")
        return self

    @property
    def authentication(self) -> str:
        return self.auth or WEBHOOK_AUTH[self.kind][0]


class SlackChannel(_Model):
    """Slack, through an incoming webhook (`webhook_url_secret`) or a bot token
    (`bot_token_secret` and `channel`: `chat.postMessage`, one thread per issue)."""

    kind: Literal["slack"]
    name: Name
    webhook_url_secret: SecretName | None = Field(
        default=None, description="Key Vault secret holding the incoming webhook's URL."
    )
    bot_token_secret: SecretName | None = Field(
        default=None,
        description="Key Vault secret holding a bot token (`xoxb-...`) with `chat:write`.",
    )
    channel: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9#_-]{1,80}$")] | None = Field(
        default=None, description="The conversation a bot token posts to (an id like C0123)."
    )

    @model_validator(mode="after")
    def _one_mode(self) -> SlackChannel:
        if (self.webhook_url_secret is None) == (self.bot_token_secret is None):
            raise ValueError("a slack channel has webhook_url_secret or bot_token_secret (one)")
        if self.bot_token_secret is not None and self.channel is None:
            raise ValueError("a slack channel with bot_token_secret needs `channel` (its id)")
        return self


class TeamsChannel(_Model):
    """Microsoft Teams, through a Workflows ("When a Teams webhook request is received")
    webhook, which posts an Adaptive Card (the Office 365 connectors are retired)."""

    kind: Literal["teams"]
    name: Name
    webhook_url_secret: SecretName = Field(
        description="Key Vault secret holding the Workflows webhook's URL (it carries its key)."
    )


class WebhookChannel(_Model):
    """Any HTTP receiver: a JSON body rendered from a Jinja2 template (sandboxed), signed with
    HMAC-SHA256 so the receiver can verify it came from Faultline."""

    kind: Literal["webhook"]
    name: Name
    url_secret: SecretName = Field(description="Key Vault secret holding the receiver's URL.")
    signing_secret: SecretName = Field(
        description=(
            "Key Vault secret holding the HMAC key: the body is signed as "
            "`X-Faultline-Signature-256: sha256=<hex of HMAC(key, timestamp + '.' + body)>` "
            "with `X-Faultline-Timestamp`."
        )
    )
    template: str | None = Field(
        default=None,
        description=(
            "Jinja2 template of the JSON body, rendered in a sandbox with `event` (and "
            "`held_back`); values are inserted with `| tojson`. Default: the event as JSON."
        ),
    )
    headers: dict[HeaderName, str] = Field(
        default_factory=dict, description="Extra headers with plain values (nothing secret)."
    )
    header_secrets: dict[HeaderName, SecretName] = Field(
        default_factory=dict,
        description="Extra headers whose values are Key Vault secrets (e.g. Authorization).",
    )

    @field_validator("headers")
    @classmethod
    def _nothing_secret(cls, headers: dict[str, str]) -> dict[str, str]:
        for header in headers:
            if any(word in header.lower() for word in _SECRET_HEADER_WORDS):
                raise ValueError(
                    f"header {header} looks like a credential: put it under header_secrets, "
                    "naming the Key Vault secret that holds its value"
                )
        return headers

    @field_validator("template")
    @classmethod
    def _template_compiles(cls, template: str | None) -> str | None:
        if template is not None:
            import jinja2.sandbox  # only a file with a webhook template pays for it

            try:
                jinja2.sandbox.ImmutableSandboxedEnvironment().parse(template)
            except jinja2.TemplateSyntaxError as error:
                raise ValueError(
                    f"the template is not valid Jinja2 (line {error.lineno}): {error.message}"
                ) from None
        return template


Channel = Annotated[SlackChannel | TeamsChannel | WebhookChannel, Field(discriminator="kind")]


class NotificationThrottle(_Model):
    """At most `count` messages per `within` for a rule on a channel; the rest are held and
    folded into one message that says how many were held back."""

    count: int = Field(default=5, ge=1, le=1000)
    within: Duration = timedelta(minutes=15)

    @field_validator("within")
    @classmethod
    def _positive(cls, within: timedelta) -> timedelta:
        if within < timedelta(seconds=1):
            raise ValueError("within must be at least 1s")
        return within


class NotificationRule(_Model):
    """Send events to channels; every filter given must match (an empty one matches all)."""

    name: Name
    enabled: bool = Field(
        default=True,
        description=(
            "Whether the rule fires; written as `true`/`false` or a `${FAULTLINE_...}` variable "
            "holding one (the shipped rules' example is switched on by "
            "`FAULTLINE_NOTIFICATIONS_ENABLED`, which the local run sets)."
        ),
    )
    events: tuple[NotificationEventKind, ...] = Field(min_length=1)
    channels: tuple[Name, ...] = Field(min_length=1)
    severities: tuple[Literal["critical", "high", "medium", "low"], ...] = ()
    definitions: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    repositories: tuple[Repository, ...] = ()
    throttle: NotificationThrottle = NotificationThrottle()

    @field_validator("enabled", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        return true_or_false(value)


class DigestSchedule(_Model):
    """A periodic digest: the failures of some repositories (or routes) over the last day or
    week, kept as one pinned issue in `repository`, updated in place, and sent to `channels`."""

    name: Name
    enabled: bool = Field(
        default=True,
        description="Whether the digest is made; `true`/`false` or a `${FAULTLINE_...}` variable.",
    )
    period: Literal["daily", "weekly"] = "weekly"
    weekday: Weekday = Field(
        default="mon",
        description="The day a weekly digest is made (it covers the 7 days before).",
    )
    hour: int = Field(
        default=7,
        ge=0,
        le=23,
        description="The hour (UTC) from which the digest is made, for the day(s) before.",
    )
    repository: Repository = Field(description="Where the digest's pinned issue lives.")
    repositories: tuple[Repository, ...] = Field(
        default=(),
        description="Whose failures it covers; with `routes` empty too, `repository`'s own.",
    )
    routes: tuple[str, ...] = Field(
        default=(), description="Routes (by `name`) whose repositories' failures it covers."
    )
    channels: tuple[Name, ...] = Field(
        default=(), description="Channels it is sent to (none: only the pinned issue)."
    )

    @field_validator("enabled", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        return true_or_false(value)

    def due(self, moment: datetime) -> bool:
        """Whether the digest is due at `moment`: from its hour to the end of its day (UTC), so
        an hourly run that failed or did not happen is made up for by the next one that day."""
        if moment.hour < self.hour:
            return False
        return self.period == "daily" or WEEKDAYS[moment.weekday()] == self.weekday

    def covered(self, made_at: datetime) -> tuple[datetime, datetime]:
        """The span [start, end) a digest made at `made_at` covers: the day, or the
        seven days, before midnight UTC."""
        end = made_at.replace(hour=0, minute=0, second=0, microsecond=0)
        return end - timedelta(days=1 if self.period == "daily" else 7), end


class TroubleBounds(_Model):
    """When Faultline's own state becomes trouble worth a message (`query-lagging`,
    `github-token-expiring`); what the rules then do with it is theirs to say."""

    lag_bound: Duration = Field(
        default=timedelta(hours=1),
        description=(
            "How far behind now a table's rows may be read (its read mark, by ingestion time) "
            "before `query-lagging` fires; beyond every source's `poll_interval` plus "
            "`ingestion_delay`, which a healthy table already lags by, and at least 5m."
        ),
    )
    token_warning: Duration = Field(
        default=timedelta(days=7),
        description=(
            "How long before its expiry (GitHub's `github-authentication-token-expiration` "
            "header) `github-token-expiring` fires, once per expiry date; 1h to 90d."
        ),
    )

    @field_validator("lag_bound")
    @classmethod
    def _lag_bound(cls, bound: timedelta) -> timedelta:
        if bound < timedelta(minutes=5):
            raise ValueError("lag_bound must be at least 5m")
        return bound

    @field_validator("token_warning")
    @classmethod
    def _token_warning(cls, warning: timedelta) -> timedelta:
        if not timedelta(hours=1) <= warning <= timedelta(days=90):
            raise ValueError("token_warning must be between 1h and 90d")
        return warning


class Notifications(_Model):
    """Who hears about what: channels (Slack, Teams, a webhook), the rules that feed them, the
    periodic digests, and the bounds of Faultline's own trouble."""

    channels: tuple[Channel, ...] = ()
    rules: tuple[NotificationRule, ...] = ()
    digests: tuple[DigestSchedule, ...] = ()
    trouble: TroubleBounds = TroubleBounds()

    def channel(self, name: str) -> SlackChannel | TeamsChannel | WebhookChannel:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(f"no notification channel named {name!r} in the rules file")

    def problems(self, definitions: list[str], routes: list[str]) -> list[str]:
        """Names that must resolve: channels, definitions and routes the rules refer to."""
        problems: list[str] = []
        for section, names in (
            ("notifications.channels", [c.name for c in self.channels]),
            ("notifications.rules", [r.name for r in self.rules]),
            ("notifications.digests", [d.name for d in self.digests]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                problems.append(
                    f"{section}: names must be unique; used twice: {', '.join(repeated)}"
                )
        channels = [c.name for c in self.channels]
        for index, rule in enumerate(self.rules):
            where = f"notifications.rules[{index}] ({rule.name})"
            for field_name, named, known in (
                ("channels", rule.channels, channels),
                ("definitions", rule.definitions, definitions),
                ("routes", rule.routes, routes),
            ):
                for unknown in named:
                    if unknown not in known:
                        hint = did_you_mean(closest(unknown, known))
                        problems.append(
                            f"{where}.{field_name}: names an unknown "
                            f"{field_name.rstrip('s')}: {unknown}" + (f"; {hint}" if hint else "")
                        )
        for index, digest in enumerate(self.digests):
            where = f"notifications.digests[{index}] ({digest.name})"
            for field_name, named, known in (
                ("channels", digest.channels, channels),
                ("routes", digest.routes, routes),
            ):
                for unknown in named:
                    if unknown not in known:
                        hint = did_you_mean(closest(unknown, known))
                        problems.append(
                            f"{where}.{field_name}: names an unknown "
                            f"{field_name.rstrip('s')}: {unknown}" + (f"; {hint}" if hint else "")
                        )
        return problems


class KnownIssueMatch(_Model):
    """What a known issue matches; every test given must hold (at least one is given)."""

    fingerprints: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")], ...] = Field(
        default=(), description="Groups (the fingerprint an issue's `/faultline why` shows)."
    )
    exception_types: tuple[Annotated[str, StringConstraints(min_length=1)], ...] = Field(
        default=(),
        description=(
            "Exception types, compared whole and case-sensitively (`System.TimeoutException`)."
        ),
    )
    message: str | None = Field(
        default=None,
        description=(
            "An RE2 regular expression found anywhere in the failure's (redacted) message, as a "
            "condition's `regex` is."
        ),
    )
    definitions: tuple[Name, ...] = Field(
        default=(), description="Failure definitions (by name) whose failures it covers."
    )

    @field_validator("message")
    @classmethod
    def _message_is_re2(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            compile_regex(pattern)
        return pattern

    @model_validator(mode="after")
    def _tests_something(self) -> KnownIssueMatch:
        if not (self.fingerprints or self.exception_types or self.message or self.definitions):
            raise ValueError(
                "a known issue matches by at least one of fingerprints, exception_types, "
                "message or definitions"
            )
        return self


class KnownIssue(_Model):
    """A failure whose cause is known: `suppress` counts it without an issue; `annotate` puts
    the cause, the workaround and links on its issue and in the coding agent's instructions."""

    name: Name
    match: KnownIssueMatch
    action: Literal["suppress", "annotate"]
    expires: date | None = Field(
        default=None,
        description=(
            "The last day (UTC) the entry applies; from the next day on its failures are "
            "handled as if it were not there."
        ),
    )
    cause: str = Field(default="", max_length=2000, description="What is known to cause it.")
    workaround: str = Field(
        default="", max_length=2000, description="What to do about it meanwhile."
    )
    links: tuple[HttpUrl, ...] = Field(
        default=(), max_length=10, description="Where to read more (a runbook, the tracking issue)."
    )

    @model_validator(mode="after")
    def _annotation_says_something(self) -> KnownIssue:
        if self.action == "annotate" and not (self.cause or self.workaround or self.links):
            raise ValueError("an annotate entry needs a cause, a workaround or links to show")
        return self


class Rules(_Model):
    """The validated rules file."""

    version: Literal[1] = 1
    sources: tuple[LogSource, ...] = Field(min_length=1)
    webhooks: tuple[WebhookSource, ...] = ()
    failures: tuple[FailureDefinition, ...] = Field(min_length=1)
    routing: Routing
    labels: Labels = Labels()
    dedup: Dedup = Dedup()
    escalation: Escalation = Escalation()
    assignment: AssignmentPolicy = AssignmentPolicy()
    rate_limits: RateLimits = RateLimits()
    business_hours: BusinessHours = BusinessHours()
    correlation: Correlation = Correlation()
    redaction: Redaction = Redaction()
    notifications: Notifications = Notifications()
    known_issues: tuple[KnownIssue, ...] = Field(
        default=(),
        description=(
            "Failures whose cause is known, each suppressed (counted, no issue) or annotated "
            "(its issue and the agent's instructions carry the cause and the workaround); the "
            "first entry that matches, and has not expired, applies."
        ),
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> Rules:
        """Names that refer across sections must resolve; every problem is reported, each on its
        own line starting with its path (see `detection.rule_errors.explain`)."""
        problems: list[str] = []
        for section, names in (
            ("sources", [s.name for s in self.sources]),
            ("failures", [d.name for d in self.failures]),
            ("webhooks", [w.name for w in self.webhooks]),
        ):
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                problems.append(
                    f"{section}: names must be unique; used twice: {', '.join(repeated)}"
                )
        if not self.enabled_sources:
            problems.append(
                "sources: every source is disabled (enabled: false), so nothing would be "
                "watched: enable at least one"
            )
        bound = self.notifications.trouble.lag_bound
        for index, source in enumerate(self.sources):  # a healthy source must not count as late
            if source.poll_interval + source.ingestion_delay >= bound:
                problems.append(
                    f"notifications.trouble.lag_bound: {bound} is not beyond sources[{index}] "
                    f"({source.name})'s poll_interval plus ingestion_delay, which a healthy "
                    "table already lags by; raise it"
                )
        watched = sorted({t.name for s in self.sources for t in s.tables})
        for index, definition in enumerate(self.failures):
            for table in definition.tables:
                if table not in watched:
                    fix = did_you_mean(closest(table, watched)) or "add it to a source's tables"
                    problems.append(
                        f"failures[{index}] ({definition.name}).tables: names tables no source "
                        f"watches: {table}; {fix}"
                    )
        groups = sorted({g.name for s in self.sources for g in s.log_groups})
        for index, definition in enumerate(self.failures):
            for group in definition.log_groups:
                if group not in groups:
                    fix = did_you_mean(closest(group, groups)) or (
                        "add it to a cloudwatch source's log_groups"
                    )
                    problems.append(
                        f"failures[{index}] ({definition.name}).log_groups: names log groups no "
                        f"source watches: {group}; {fix}"
                    )
        keys = [t.name for s in self.sources for t in s.watched]
        clashing = sorted({k for k in keys if keys.count(k) > 1 and k.startswith("CW_")})
        if clashing:
            problems.append(
                "sources: log groups whose names differ only in punctuation, or that two "
                f"sources list, would share their records' table: {', '.join(clashing)}"
            )
        hooks = [w.name for w in self.webhooks]
        for index, definition in enumerate(self.failures):
            for named in definition.webhooks:
                if named not in hooks:
                    fix = did_you_mean(closest(named, hooks)) or "add it under webhooks"
                    problems.append(
                        f"failures[{index}] ({definition.name}).webhooks: names no configured "
                        f"webhook: {named}; {fix}"
                    )
        source_names = [s.name for s in self.sources]
        for index, webhook in enumerate(self.webhooks):
            if webhook.source is not None and webhook.source not in source_names:
                fix = did_you_mean(closest(webhook.source, source_names)) or "name a source"
                problems.append(
                    f"webhooks[{index}] ({webhook.name}).source: no source named "
                    f"{webhook.source}; {fix}"
                )
        needed = max(s.lookback for s in self.sources) + max(
            d.threshold.within for d in self.failures
        )
        if self.dedup.occurrence_retention < needed:
            problems.append(
                f"dedup.occurrence_retention ({self.dedup.occurrence_retention}) must cover the "
                f"longest source lookback plus the longest threshold window ({needed})"
            )
        definition_names = [d.name for d in self.failures]
        for index, route in enumerate(self.routing.routes):
            for unknown in route.when_definitions:
                if unknown not in definition_names:
                    hint = did_you_mean(closest(unknown, definition_names))
                    problems.append(
                        f"routing.routes[{index}].when_definitions: names unknown failure "
                        f"definitions: {unknown}" + (f"; {hint}" if hint else "")
                    )
        problems += self._gitlab_assignments()
        routes = [route.name for route in self.routing.routes if route.name]
        problems.extend(self.notifications.problems(definition_names, routes))
        problems.extend(self._known_issue_problems(definition_names))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _known_issue_problems(self, definitions: list[str]) -> list[str]:
        names = [entry.name for entry in self.known_issues]
        repeated = sorted({n for n in names if names.count(n) > 1})
        problems = (
            [f"known_issues: names must be unique; used twice: {', '.join(repeated)}"]
            if repeated
            else []
        )
        for index, entry in enumerate(self.known_issues):
            for unknown in entry.match.definitions:
                if unknown not in definitions:
                    hint = did_you_mean(closest(unknown, definitions))
                    problems.append(
                        f"known_issues[{index}] ({entry.name}).match.definitions: names an "
                        f"unknown failure definition: {unknown}" + (f"; {hint}" if hint else "")
                    )
        return problems

    def _gitlab_assignments(self) -> list[str]:
        """Copilot's coding agent exists only on GitHub: a route to GitLab (or the default
        repository, when it is on GitLab) must assign someone GitLab knows."""
        fix = (
            "Copilot's coding agent exists only on GitHub; on GitLab assign users (a person, "
            "or the service account of a GitLab Duo flow trigger), claude or none"
        )
        problems = []
        for index, route in enumerate(self.routing.routes):
            chosen = route.assignment or self.assignment.default
            if route.repository.startswith(GITLAB_PREFIX) and chosen.kind == "copilot":
                where = "assignment" if route.assignment else "assignment (from assignment.default)"
                problems.append(f"routing.routes[{index}].{where}: {route.repository}: {fix}")
        default = self.routing.default_repository
        if default.startswith(GITLAB_PREFIX) and self.assignment.default.kind == "copilot":
            problems.append(f"assignment.default: routing.default_repository is {default}: {fix}")
        return problems

    @property
    def enabled_sources(self) -> tuple[LogSource, ...]:
        """The sources that are polled (`enabled`); the others are configured but idle."""
        return tuple(source for source in self.sources if source.enabled)

    def source(self, name: str) -> LogSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r} in the rules file")

    def definition(self, name: str) -> FailureDefinition:
        for definition in self.failures:
            if definition.name == name:
                return definition
        raise KeyError(f"no failure definition named {name!r} in the rules file")

    def definitions_for(self, table: str) -> tuple[FailureDefinition, ...]:
        """The definitions that judge a table's rows, or a webhook's records (by its name)."""
        return tuple(d for d in self.failures if d.reads(table))

    def webhook(self, name: str) -> WebhookSource:
        for hook in self.webhooks:
            if hook.name == name:
                return hook
        raise KeyError(f"no webhook named {name!r} in the rules file")

    def route_fields(self) -> tuple[FieldPath, ...]:
        """Every field a route's `when` reads: what a failure must carry to its routing."""
        found: dict[str, FieldPath] = {}

        def visit(condition: Condition | None) -> None:
            if condition is None:
                return
            for child in (*(condition.all_ or ()), *(condition.any_ or ()), condition.not_):
                visit(child)
            if condition.field is not None:
                found[str(condition.field)] = condition.field

        for route in self.routing.routes:
            visit(route.when)
        return tuple(found.values())

    def thresholds(self) -> dict[str, Threshold]:
        """Every definition's threshold by name (a group holds rows of several definitions)."""
        return {d.name: d.threshold for d in self.failures}


def substitutable(name: str) -> bool:
    """Whether `${name}` may be replaced: a `FAULTLINE_*` variable that names no credential."""
    return name.startswith(ENV_PREFIX) and not CREDENTIAL_WORDS.intersection(name.split("_"))


def substitute_environment(
    document: Any, env: Mapping[str, str]
) -> tuple[Any, dict[Location, tuple[Substitution, ...]]]:
    """Replace `${NAME}` / `${NAME:-default}` inside string values (never inside YAML structure),
    for `FAULTLINE_*` variables only (see the module docstring); raise RulesError listing every
    reference that is refused or unset, by path and variable.

    Returns the document and, for each value the environment changed, the variables that did: a
    value that turns out invalid is then blamed on its variable, which is where the mistake is,
    not on the file, which may be the shipped one."""
    substituter = _Substituter(env, document)
    substituted = substituter.visit(document, ())
    if substituter.problems:
        raise RulesError("\n".join(substituter.problems))
    return substituted, substituter.used


class _Substituter:
    def __init__(self, env: Mapping[str, str], document: Any) -> None:
        self.env, self.document = env, document
        self.problems: list[str] = []
        self.used: dict[Location, tuple[Substitution, ...]] = {}

    def visit(self, node: Any, location: Location) -> Any:
        if isinstance(node, dict):
            return {k: self.visit(v, (*location, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [self.visit(v, (*location, i)) for i, v in enumerate(node)]
        if not isinstance(node, str):
            return node
        used: list[Substitution] = []

        def replace(match: re.Match[str]) -> str:
            name, default = match.group("name"), match.group("default")
            path = readable_path(location, self.document)
            if not substitutable(name):
                self.problems.append(
                    f"{path}: ${{{name}}} is not substituted: the rules file may use only "
                    f"variables named {ENV_PREFIX}*, and none naming a credential "
                    f"({', '.join(sorted(CREDENTIAL_WORDS))})"
                )
            elif name in self.env:
                used.append(Substitution(name, self.env[name]))
                return self.env[name]
            elif default is not None:
                return default
            else:
                self.problems.append(
                    f"{path}: environment variable {name} is not set and has no default"
                )
            return match.group(0)

        substituted = _ENV_REFERENCE.sub(replace, node)
        if used:
            self.used[location] = tuple(used)
        return substituted


class _Refused(yaml.YAMLError):
    """The document is too big, too deep or expands too far to be read at all."""


def _line(mark: object) -> str:
    line = getattr(mark, "line", None)
    return f" (line {line + 1})" if isinstance(line, int) else ""


class _BoundedLoader(Composer, CParser, SafeConstructor, Resolver):
    """PyYAML's safe loader, counting aliases and depth while it composes the node graph.

    Composing is cheap even for a bomb (an alias is the anchor's node again, not a copy); what
    explodes is whatever walks the graph as a tree afterwards, so the graph is measured before
    anything is constructed from it. The events come from libyaml's parser (the app checks this
    file at every cold start, and the pure-Python scanner took 12 ms of it); the composing stays
    in Python, because libyaml's own composer recurses in C and crashes on deep nesting before
    any bound could be checked.
    """

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                where = _line(getattr(self.peek_event(), "start_mark", None))
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases{where}")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                where = _line(getattr(self.peek_event(), "start_mark", None))
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep{where}")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: Node) -> None:
    """Refuse a graph that, aliases followed, has more than MAX_NODES nodes or a cycle; each
    distinct node is visited once (sizes are memoized), so a bomb is measured in a moment."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                where = _line(node.start_mark)
                raise _Refused(f"its YAML aliases expand to more than {MAX_NODES} nodes{where}")
        elif key in open_nodes:
            where = _line(node.start_mark)
            raise _Refused(f"a YAML alias refers to a node that contains it{where}")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _parse(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def load_rules(text: str, env: Mapping[str, str], origin: str = "rules file") -> Rules:
    """Parse, substitute and validate; raise RulesError with `origin` on its first line and each
    mistake on a line of its own, by its path (see `detection.rule_errors.explain`)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_RULES_BYTES:
        raise RulesError(f"{origin}: refused: {size} bytes, more than {MAX_RULES_BYTES}")
    try:
        document = _parse(text)
    except _Refused as error:
        raise RulesError(f"{origin}: refused: {error}") from None
    except yaml.YAMLError as error:
        raise RulesError(f"{origin}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise RulesError(f"{origin}: expected a mapping at the top level")
    try:
        document, substitutions = substitute_environment(document, env)
        return Rules.model_validate(document)
    except RulesError as error:
        problems = str(error).splitlines()
    except ValidationError as error:
        problems = explain(error, document, Rules, substitutions, OPERATORS)
    raise RulesError(f"{origin} is invalid:\n" + "\n".join(f"  {line}" for line in problems))
