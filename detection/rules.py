"""The rules file: one YAML document that says what Faultline watches and what it does.

The whole product's schema lives here, even where a later stage implements the behaviour, so a
user's file is validated once, at start-up, with errors that name the bad field's path.
Loading is pure: the caller passes the text and the environment used for `${NAME}` substitution.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
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
_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]")


class RulesError(ValueError):
    """The rules file is unusable; the message lists every bad field by its path."""


def parse_duration(value: object) -> timedelta:
    """Accept `90s`, `5m`, `1h30m`, `2d` (and timedeltas): durations as an operator writes them."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration is a string such as '90s', '5m', '1h30m' or '2d'")
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration such as '90s', '5m', '1h30m' or '2d'")
    unit_seconds = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return timedelta(seconds=sum(int(n) * unit_seconds[u] for n, u in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Repository = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")]
Scalar = bool | int | float | str


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldPath(_Model):
    """A column, optionally followed by keys into its dynamic (JSON) value: `Properties.tenant`."""

    column: str
    keys: tuple[str, ...] = ()

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
    regex: str | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    exists: bool | None = None
    case_sensitive: bool = False

    @field_validator("regex")
    @classmethod
    def _regex_compiles_everywhere(cls, pattern: str | None) -> str | None:
        """The pattern runs in KQL (RE2) and in Python, so it must mean the same in both."""
        if pattern is None:
            return None
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
        if _RE2_UNSUPPORTED.search(pattern):
            raise ValueError(
                f"{pattern!r} uses lookaround or backreferences, which KQL's RE2 does not support"
            )
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

    message: str | None = None
    level: str | None = None
    exception_type: str | None = None
    stack_trace: str | None = None
    operation_name: str | None = None
    operation_id: str | None = None
    role: str | None = None


class TableSpec(_Model):
    name: str
    columns: ColumnMap = ColumnMap()
    record_id_column: str | None = Field(
        default=None,
        description="A column that uniquely identifies a record; default: a hash of the row.",
    )

    @model_validator(mode="after")
    def _known_or_custom(self) -> TableSpec:
        if self.name in KNOWN_TABLES:
            return self
        if not (re.fullmatch(IDENTIFIER, self.name) and self.name.endswith(CUSTOM_TABLE_SUFFIX)):
            known = ", ".join(sorted(KNOWN_TABLES))
            raise ValueError(f"unknown table {self.name!r}: use one of {known} or a custom *_CL")
        if self.columns.message is None:
            raise ValueError(f"custom table {self.name} needs columns.message")
        return self


def _table_spec(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class LogSource(_Model):
    """One Log Analytics workspace and how to poll it incrementally."""

    name: Name
    workspace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")]
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
    tables: tuple[Annotated[TableSpec, BeforeValidator(_table_spec)], ...] = Field(min_length=1)
    poll_interval: Duration = timedelta(minutes=5)
    lookback: Duration = Field(
        default=timedelta(hours=1),
        description="How far TimeGenerated may trail ingestion; older late records are missed.",
    )
    ingestion_delay: Duration = Field(
        default=timedelta(minutes=2),
        description="How far behind now a window ends, so the newest ingestion has settled.",
    )
    max_window: Duration = timedelta(minutes=15)
    initial_backfill: Duration = timedelta(hours=1)
    max_slices_per_tick: int = Field(default=48, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent_windows(self) -> LogSource:
        if self.max_window < timedelta(seconds=1):
            raise ValueError("max_window must be at least 1s")
        if self.lookback < self.ingestion_delay:
            raise ValueError("lookback must be at least ingestion_delay")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name} lists a table twice")
        return self

    def table(self, name: str) -> TableSpec:
        for spec in self.tables:
            if spec.name == name:
                return spec
        raise KeyError(f"source {self.name} does not watch table {name}")


class Threshold(_Model):
    """N occurrences within M minutes before a failure deserves an issue."""

    count: int = Field(default=1, ge=1)
    within: Duration = timedelta(hours=1)


class Extractor(_Model):
    """A named value pulled out of a field by a regex with a `value` group (e.g. an order id)."""

    name: Annotated[str, StringConstraints(pattern=rf"^{IDENTIFIER}$")]
    field: FieldRef
    regex: str

    @field_validator("regex")
    @classmethod
    def _has_value_group(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
        if "value" not in compiled.groupindex:
            raise ValueError(f"{pattern!r} needs a named group (?P<value>...)")
        return pattern


class ContextSpec(_Model):
    extractors: tuple[Extractor, ...] = ()
    sample_fields: tuple[FieldRef, ...] = ()
    max_samples: int = Field(default=5, ge=0, le=50)


class FingerprintOverride(_Model):
    """Pin a definition's fingerprint to chosen fields, as Sentry's fingerprint rules allow."""

    fields: tuple[FieldRef, ...] = Field(min_length=1)


class FailureDefinition(_Model):
    name: Name
    tables: tuple[str, ...] = Field(min_length=1)
    when: Condition
    description: str = ""
    severity: Literal["critical", "high", "medium", "low"] = "medium"
    category: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")] = "bug"
    threshold: Threshold = Threshold()
    context: ContextSpec = ContextSpec()
    fingerprint: FingerprintOverride | None = None


AssigneeKind = Literal["copilot", "claude", "users", "none"]


class Assignment(_Model):
    kind: AssigneeKind = "none"
    users: tuple[str, ...] = ()
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

    when_definitions: tuple[str, ...] = ()
    when_tables: tuple[str, ...] = ()
    when_roles: tuple[str, ...] = ()
    when: Condition | None = None
    repository: Repository
    labels: tuple[str, ...] = ()
    assignment: Assignment | None = None


class Routing(_Model):
    default_repository: Repository
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
    occurrence_retention: Duration = Field(
        default=timedelta(days=30),
        description=(
            "How long each occurrence's ledger row is kept (a daily clean-up deletes older ones; "
            "counts stay). The rows are what makes a record seen twice count once, so replays "
            "of older windows are refused."
        ),
    )


class RateLimits(_Model):
    issues_per_hour: int = Field(default=20, ge=1)
    issues_per_hour_per_repository: int = Field(default=10, ge=1)
    comments_per_hour: int = Field(default=60, ge=1)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


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


class Rules(_Model):
    """The validated rules file."""

    version: Literal[1] = 1
    sources: tuple[LogSource, ...] = Field(min_length=1)
    failures: tuple[FailureDefinition, ...] = Field(min_length=1)
    routing: Routing
    labels: Labels = Labels()
    dedup: Dedup = Dedup()
    assignment: AssignmentPolicy = AssignmentPolicy()
    rate_limits: RateLimits = RateLimits()
    business_hours: BusinessHours = BusinessHours()

    @model_validator(mode="after")
    def _references_resolve(self) -> Rules:
        source_names = [s.name for s in self.sources]
        if len(set(source_names)) != len(source_names):
            raise ValueError("source names must be unique")
        definition_names = [d.name for d in self.failures]
        if len(set(definition_names)) != len(definition_names):
            raise ValueError("failure definition names must be unique")
        watched = {t.name for s in self.sources for t in s.tables}
        for index, definition in enumerate(self.failures):
            unwatched = sorted(set(definition.tables) - watched)
            if unwatched:
                raise ValueError(
                    f"failures[{index}] ({definition.name}) names tables no source watches: "
                    + ", ".join(unwatched)
                )
        needed = max(s.lookback for s in self.sources) + max(
            d.threshold.within for d in self.failures
        )
        if self.dedup.occurrence_retention < needed:
            raise ValueError(
                f"dedup.occurrence_retention ({self.dedup.occurrence_retention}) must cover the "
                f"longest source lookback plus the longest threshold window ({needed})"
            )
        for index, route in enumerate(self.routing.routes):
            unknown = sorted(set(route.when_definitions) - set(definition_names))
            if unknown:
                raise ValueError(
                    f"routing.routes[{index}] names unknown failure definitions: "
                    + ", ".join(unknown)
                )
        return self

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
        return tuple(d for d in self.failures if table in d.tables)


def substitute_environment(node: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Replace `${NAME}` / `${NAME:-default}` inside string values (never inside YAML structure)."""
    if isinstance(node, dict):
        return {
            k: substitute_environment(v, env, f"{path}.{k}" if path else str(k))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [substitute_environment(v, env, f"{path}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise RulesError(f"{path}: environment variable {name} is not set and has no default")

    return _ENV_REFERENCE.sub(replace, node)


def _error_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")) or part in {
            "str",
            "int",
            "float",
            "bool",
        }:
            continue
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def load_rules(text: str, env: Mapping[str, str], origin: str = "rules file") -> Rules:
    """Parse, substitute and validate; raise RulesError listing every bad field by its path."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulesError(f"{origin}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise RulesError(f"{origin}: expected a mapping at the top level")
    try:
        return Rules.model_validate(substitute_environment(document, env))
    except ValidationError as error:
        lines = sorted({f"  {_error_path(e['loc'])}: {e['msg']}" for e in error.errors()})
        raise RulesError(f"{origin} is invalid:\n" + "\n".join(lines)) from None
