"""The rules file: the shipped one loads, and every kind of mistake names its path."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from detection.rules import RulesError, load_rules, parse_duration

pytestmark = pytest.mark.unit

SHIPPED = (Path(__file__).parents[2] / "faultline.yaml").read_text()


def _minimal(**overrides: object) -> dict:
    document: dict = {
        "sources": [
            {
                "name": "prod",
                "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                "tables": ["AppRequests"],
            }
        ],
        "failures": [
            {
                "name": "failed-request",
                "tables": ["AppRequests"],
                "when": {"field": "Success", "equals": False},
            }
        ],
        "routing": {"default_repository": "contoso/shop"},
    }
    document.update(overrides)
    return document


def _load(document: dict, env: dict[str, str] | None = None):
    return load_rules(yaml.safe_dump(document), env or {}, origin="rules.yaml")


def test_shipped_rules_file_loads_with_every_section() -> None:
    rules = load_rules(SHIPPED, {})
    assert [s.name for s in rules.sources] == ["production", "faultline-smoke", "aws"]
    assert [s.name for s in rules.enabled_sources] == ["production"], (
        "smoke and CloudWatch are off by default"
    )
    assert {t.name for t in rules.sources[0].tables} >= {
        "AppExceptions",
        "ContainerLogV2",
        "OrdersService_CL",
    }
    assert rules.definitions_for("AppRequests")[0].threshold.within == timedelta(minutes=10)
    assert rules.dedup.comment_interval == timedelta(hours=6)
    assert rules.assignment.default.kind == "copilot"
    assert rules.business_hours.timezone == "Europe/Amsterdam"


def test_shipped_cloudwatch_source_is_switched_on_by_its_variable() -> None:
    """What the local run sets to replay the bundled CloudWatch export beside the night."""
    rules = load_rules(SHIPPED, {"FAULTLINE_CLOUDWATCH_ENABLED": "true"})
    assert [s.name for s in rules.enabled_sources] == ["production", "aws"]
    [definition] = rules.definitions_for("CW_aws_lambda_orders")
    assert definition.name == "lambda-error"


def test_environment_substitution_with_defaults() -> None:
    rules = load_rules(SHIPPED, {"FAULTLINE_REPOSITORY": "acme/api"})
    assert rules.routing.default_repository == "acme/api"
    assert rules.sources[0].workspace_id == "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10"


def test_shipped_smoke_source_is_switched_on_and_routed_by_its_variables() -> None:
    """What `azd up` sets when FAULTLINE_SMOKE_REPOSITORY is given (infra/app/api.bicep)."""
    from detection.routing import route_failure

    env = {
        "FAULTLINE_SMOKE_ENABLED": "true",
        "FAULTLINE_SMOKE_WORKSPACE_ID": "0f4e7f6a-57c1-4c8e-9b1f-6f3c2a1d0e99",
        "FAULTLINE_SMOKE_REPOSITORY": "acme/faultline-smoke",
        "FAULTLINE_REPOSITORY": "acme/shop",
    }
    rules = load_rules(SHIPPED, env)
    smoke = rules.source("faultline-smoke")
    assert smoke in rules.enabled_sources
    assert smoke.workspace_id == env["FAULTLINE_SMOKE_WORKSPACE_ID"]
    assert [t.name for t in smoke.tables] == ["FaultlineSmoke_CL"]
    assert smoke.tables[0].columns.operation_id is None, "uncorrelated: counted at once"
    definition = rules.definition("smoke-test")
    assert definition.tables == ("FaultlineSmoke_CL",) and definition.threshold.count == 1
    route = route_failure(
        rules,
        definition="smoke-test",
        table="FaultlineSmoke_CL",
        role="faultline-smoke",
        severity=definition.severity,
        category=definition.category,
    )
    assert route.repository == "acme/faultline-smoke"
    assert route.assignment.kind == "none", "a smoke issue is never handed to a coding agent"
    assert "faultline-smoke" in route.labels
    production = route_failure(
        rules,
        definition="unhandled-exception",
        table="AppExceptions",
        role=None,
        severity="high",
        category="bug",
    )
    assert production.repository == "acme/shop", "the smoke route takes nothing else"


def test_missing_environment_variable_names_path_and_variable() -> None:
    document = _minimal(routing={"default_repository": "${FAULTLINE_REPO}"})
    with pytest.raises(
        RulesError, match=r"routing\.default_repository: environment variable FAULTLINE_REPO"
    ):
        _load(document)


def test_substitution_cannot_inject_structure() -> None:
    document = _minimal(routing={"default_repository": "${FAULTLINE_REPO}"})
    rules = _load(document, {"FAULTLINE_REPO": "a/b"})
    assert rules.routing.default_repository == "a/b"
    with pytest.raises(RulesError, match="default_repository"):
        _load(document, {"FAULTLINE_REPO": "a/b\nx: 1"})


SWITCH = "${FAULTLINE_SMOKE_ENABLED:-false}"


def _two_sources(enabled: object) -> dict:
    document = _minimal()
    document["sources"].append(
        {
            "name": "smoke",
            "enabled": enabled,
            "workspace_id": "00000000-0000-0000-0000-000000000000",
            "tables": ["AppTraces"],
        }
    )
    return document


@pytest.mark.parametrize(
    ("enabled", "env", "polled"),
    [
        (True, {}, ["prod", "smoke"]),
        (False, {}, ["prod"]),
        (SWITCH, {}, ["prod"]),
        (SWITCH, {"FAULTLINE_SMOKE_ENABLED": "true"}, ["prod", "smoke"]),
        (SWITCH, {"FAULTLINE_SMOKE_ENABLED": " TRUE "}, ["prod", "smoke"]),
    ],
)
def test_a_source_can_be_switched_off_by_a_variable(enabled, env, polled) -> None:
    rules = _load(_two_sources(enabled), env)
    assert [s.name for s in rules.enabled_sources] == polled
    assert [s.name for s in rules.sources] == ["prod", "smoke"], "a disabled source still loads"


@pytest.mark.parametrize("value", ["ture", "1", "yes", ""])
def test_enabled_is_true_or_false_and_nothing_else(value: str) -> None:
    document = _two_sources("${FAULTLINE_SMOKE_ENABLED}")
    with pytest.raises(RulesError, match=r"sources\[1\] \(smoke\)\.enabled.*true or false"):
        _load(document, {"FAULTLINE_SMOKE_ENABLED": value})


def test_a_rules_file_whose_every_source_is_disabled_is_refused() -> None:
    document = _minimal()
    document["sources"][0]["enabled"] = False
    with pytest.raises(RulesError, match="every source is disabled"):
        _load(document)


SECRET = "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0c2VjcmV0;"
APP_SETTINGS = {
    "AzureWebJobsStorage": SECRET,
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000;",
    "FAULTLINE_GITHUB_TOKEN": "ghp_notarealtoken",
    "FAULTLINE_STORAGE_CONNECTION": SECRET,
    "REPO": "a/b",
    "FAULTLINE_TEAM": "payments",
}


@pytest.mark.parametrize(
    ("reference", "variable"),
    [
        ("${AzureWebJobsStorage}", "AzureWebJobsStorage"),
        ("see ${APPLICATIONINSIGHTS_CONNECTION_STRING:-nothing}", "APPLICATIONINSIGHTS_"),
        ("${FAULTLINE_GITHUB_TOKEN}", "FAULTLINE_GITHUB_TOKEN"),
        ("${FAULTLINE_STORAGE_CONNECTION}", "FAULTLINE_STORAGE_CONNECTION"),
        ("${REPO}", "REPO"),
    ],
)
def test_only_faultline_variables_that_name_no_credential_are_substituted(
    reference: str, variable: str
) -> None:
    document = _minimal(
        labels={"always": ["faultline", reference]},
        assignment={"default": {"kind": "copilot", "custom_instructions": reference}},
    )
    with pytest.raises(RulesError) as raised:
        _load(document, APP_SETTINGS)
    message = str(raised.value)
    assert f"labels.always[1]: ${{{variable}" in message
    assert "FAULTLINE_*" in message
    assert SECRET not in message and "ghp_" not in message


def test_documented_variables_are_substituted() -> None:
    document = _minimal(labels={"always": ["faultline", "team:${FAULTLINE_TEAM}"]})
    assert _load(document, APP_SETTINGS).labels.always == ("faultline", "team:payments")


BAD_FILES = [
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "Success", "equals": False, "contains": "y"},
                }
            ]
        },
        r"failures\[0\] \(x\)\.when: .*exactly one operator",
    ),
    (
        {
            "failures": [
                {"name": "x", "tables": ["AppRequests"], "when": {"field": "Url", "regex": "("}}
            ]
        },
        r"failures\[0\] \(x\)\.when\.regex: .*invalid regular expression",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "Url", "regex": "a(?=b)"},
                }
            ]
        },
        r"failures\[0\] \(x\)\.when\.regex: .*RE2",
    ),
    *(
        (
            {"failures": [{"name": "x", "tables": ["AppRequests"], "when": when}]},
            r"failures\[0\] \(x\)\.when\.(any\[1\]\.)?regex: .*RE2, the syntax KQL's `matches",
        )
        for when in (
            {"field": "Url", "regex": r"(\w)\1"},
            {"field": "Url", "regex": r"timeout\Z"},
            {"field": "Url", "regex": r"a++"},
            {"field": "Url", "regex": r"(?<!x)y"},
            {"field": "Url", "regex": r"x{1001}"},
            {"any": [{"field": "Url", "exists": True}, {"field": "Url", "regex": "(?=x)"}]},
        )
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "context": {
                        "extractors": [
                            {"name": "order", "field": "Url", "regex": r"(?P<value>\d+)(?=/)"}
                        ]
                    },
                }
            ]
        },
        r"failures\[0\] \(x\)\.context\.extractors\[0\] \(order\)\.regex: .*RE2",
    ),
    (
        {
            "routing": {
                "default_repository": "contoso/shop",
                "routes": [
                    {"when": {"field": "Url", "regex": r"(a)\1"}, "repository": "contoso/web"}
                ],
            }
        },
        r"routing\.routes\[0\]\.when\.regex: .*RE2",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "context": {"sample_fields": ["Url"]},
                }
            ]
        },
        r"failures\[0\] \(x\)\.context\.sample_fields: unknown key; the keys here are extractors, "
        r"max_samples",
    ),
    (
        {
            "failures": [
                {"name": "x", "tables": ["AppRequests"], "when": {"all": [{"field": "Url"}]}}
            ]
        },
        r"failures\[0\] \(x\)\.when\.all\[0\]: .*exactly one operator",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "threshold": {"count": 0},
                }
            ]
        },
        r"failures\[0\] \(x\)\.threshold\.count: .*greater than or equal to 1",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "threshold": {"within": "5 minutes"},
                }
            ]
        },
        r"failures\[0\] \(x\)\.threshold\.within: .*not a duration",
    ),
    (
        {
            "failures": [
                {
                    "name": "x",
                    "tables": ["AppRequests"],
                    "when": {"field": "A", "equals": 1},
                    "severty": "high",
                }
            ]
        },
        r"failures\[0\] \(x\)\.severty: unknown key; did you mean 'severity'\?",
    ),
    (
        {"failures": [{"name": "x", "tables": ["AppTraces"], "when": {"field": "A", "equals": 1}}]},
        r"names tables no source watches: AppTraces",
    ),
    (
        {
            "sources": [
                {
                    "name": "prod",
                    "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                    "tables": ["Nope"],
                }
            ]
        },
        r"sources\[0\] \(prod\)\.tables\[0\]: .*unknown table 'Nope'",
    ),
    (
        {
            "sources": [
                {
                    "name": "prod",
                    "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                    "tables": ["Orders_CL"],
                }
            ]
        },
        r"custom table Orders_CL needs columns\.message",
    ),
    (
        {"sources": [{"name": "prod", "workspace_id": "not-a-guid", "tables": ["AppRequests"]}]},
        r"sources\[0\] \(prod\)\.workspace_id",
    ),
    (
        {
            "routing": {
                "default_repository": "contoso/shop",
                "routes": [{"when_definitions": ["nope"], "repository": "a/b"}],
            }
        },
        r"routing\.routes\[0\]\.when_definitions: names unknown failure definitions: nope",
    ),
    (
        {"business_hours": {"timezone": "Mars/Olympus"}},
        r"business_hours\.timezone: .*unknown time zone",
    ),
    ({"business_hours": {"start": "18:00", "end": "09:00"}}, r"start must be before end"),
    ({"version": 2}, r"version: "),
    (
        {"dedup": {"occurrence_retention": "1h"}},
        r"dedup\.occurrence_retention \(1:00:00\) must cover the longest source lookback plus "
        r"the longest threshold window \(2:00:00\)",
    ),
]


@pytest.mark.parametrize(("override", "expected"), BAD_FILES)
def test_bad_files_fail_with_the_path_of_the_bad_field(override: dict, expected: str) -> None:
    with pytest.raises(RulesError, match=expected):
        _load(_minimal(**override))


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules("sources: [", {})
    with pytest.raises(RulesError, match="mapping at the top level"):
        load_rules("- a\n- b\n", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        (" 1H ", timedelta(hours=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "m5", "1h-3m", 5])
def test_bad_durations(text: str | int) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


INJECTED = "X) | take 1 | union (SecurityEvent"


def _definition(**fields: object) -> dict:
    return {"name": "x", "tables": ["AppRequests"], "when": {"field": "A", "equals": 1}, **fields}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"failures": [_definition(when={"field": {"column": INJECTED}, "equals": 1})]},
            r"failures\[0\] \(x\)\.when\.field\.column: String should match pattern",
        ),
        (
            {
                "failures": [
                    _definition(
                        when={"not": {"field": {"column": INJECTED, "keys": ["a"]}, "exists": True}}
                    )
                ]
            },
            r"failures\[0\] \(x\)\.when\.not\.field\.column: String should match pattern",
        ),
        (
            {"failures": [_definition(fingerprint={"fields": [{"column": INJECTED}]})]},
            r"failures\[0\] \(x\)\.fingerprint\.fields\[0\]\.column: String should match pattern",
        ),
        (
            {
                "failures": [
                    _definition(
                        context={
                            "extractors": [
                                {
                                    "name": "order",
                                    "field": {"column": INJECTED},
                                    "regex": "(?P<value>x)",
                                }
                            ]
                        }
                    )
                ]
            },
            r"failures\[0\] \(x\)\.context\.extractors\[0\] \(order\)\.field\.column: String",
        ),
        (
            {"failures": [_definition(when={"field": {"column": "A", "keys": [""]}, "exists": 1})]},
            r"failures\[0\] \(x\)\.when\.field\.keys\[0\]: .*empty key",
        ),
        (
            {"failures": [_definition(when={"field": "Properties.a\x00b", "exists": True})]},
            r"failures\[0\] \(x\)\.when\.field\.keys\[0\]: .*control character",
        ),
        (
            {
                "sources": [
                    {
                        "name": "prod",
                        "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                        "tables": [
                            "AppRequests",
                            {"name": "Orders_CL", "columns": {"message": INJECTED}},
                        ],
                    }
                ]
            },
            r"sources\[0\] \(prod\)\.tables\[1\] \(Orders_CL\)\.columns\.message: String",
        ),
        (
            {
                "sources": [
                    {
                        "name": "prod",
                        "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                        "tables": [
                            {"name": "AppRequests", "columns": {"operation_id": "Id\n| take 1"}},
                        ],
                    }
                ]
            },
            r"sources\[0\] \(prod\)\.tables\[0\] \(AppRequests\)\.columns\.operation_id: String",
        ),
        (
            {
                "sources": [
                    {
                        "name": "prod",
                        "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                        "tables": [{"name": "AppRequests", "record_id_column": INJECTED}],
                    }
                ]
            },
            r"sources\[0\] \(prod\)\.tables\[0\] \(AppRequests\)\.record_id_column: String should",
        ),
        (
            {
                "sources": [
                    {
                        "name": "prod",
                        "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                        "tables": ["AppRequests", {"name": "X_CL | take 1 | Y_CL"}],
                    }
                ]
            },
            r"sources\[0\] \(prod\)\.tables\[1\] \(X_CL \| take 1 \| Y_CL\): unknown table "
            r"'X_CL \| take 1 \| Y_CL'",
        ),
        (
            {"failures": [_definition(tables=["AppRequests", f"{INJECTED}_CL"])]},
            r"failures\[0\] \(x\)\.tables\[1\]: String should match pattern",
        ),
    ],
)
def test_every_column_and_table_name_is_an_identifier_however_it_is_written(
    override: dict, expected: str
) -> None:
    with pytest.raises(RulesError, match=expected):
        _load(_minimal(**override))


def test_keys_of_a_dynamic_path_reach_kql_only_as_escaped_string_literals() -> None:
    from detection.kql import compile_condition
    from detection.rules import Condition

    key = 'a"] | take 1 | union (SecurityEvent) | where ["'
    condition = Condition.model_validate(
        {"field": {"column": "Properties", "keys": [key, "b\\"]}, "equals": "v"}
    )
    kql = compile_condition(condition)
    assert kql == (
        'tostring(Properties["a\\"] | take 1 | union (SecurityEvent) | where [\\""]["b\\\\"]) '
        '=~ "v"'
    )


def _document_with(extra: str) -> str:
    return yaml.safe_dump(_minimal()) + extra


BILLION_LAUGHS = """
lol:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_document_with(BILLION_LAUGHS), r"aliases expand to more than 100000 nodes \(line \d+\)"),
        (
            _document_with("lol:\n  a: &a [x]\n  b: [" + ", ".join(["*a"] * 101) + "]\n"),
            r"more than 100 YAML aliases \(line \d+\)",
        ),
        (
            _document_with("lol: &a [x, *a]\n"),
            r"a YAML alias refers to a node that contains it \(line 15\)",
        ),
        (_document_with("lol: " + "[" * 200 + "]" * 200 + "\n"), r"nested more than 64 levels"),
        (_document_with("# " + "x" * 600_000 + "\n"), r"\d+ bytes, more than 524288"),
    ],
    ids=["billion-laughs", "too-many-aliases", "recursive-alias", "too-deep", "too-large"],
)
def test_hostile_yaml_is_refused_fast_and_clearly(text: str, expected: str) -> None:
    started = time.process_time()
    with pytest.raises(RulesError, match=r"^rules\.yaml: refused: .*" + expected):
        load_rules(text, {}, origin="rules.yaml")
    assert time.process_time() - started < 1.0


def test_anchors_and_aliases_within_bounds_still_load() -> None:
    text = """
sources:
  - name: prod
    workspace_id: 5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10
    tables: [AppRequests, AppDependencies]
failures:
  - name: failed-request
    tables: [AppRequests]
    when: &failed {field: Success, equals: false}
    threshold: &often {count: 3, within: 10m}
  - name: failed-dependency
    tables: [AppDependencies]
    when: *failed
    threshold: *often
routing: {default_repository: contoso/shop}
"""
    rules = load_rules(text, {})
    assert rules.failures[0].when == rules.failures[1].when
    assert rules.failures[1].threshold.count == 3


def _problems(document: dict, env: dict[str, str] | None = None) -> list[str]:
    """The lines of the error a bad file gives, under its first line (the file's path)."""
    with pytest.raises(RulesError) as raised:
        _load(document, env)
    header, *lines = str(raised.value).splitlines()
    assert header == "rules.yaml is invalid:"
    return [line.strip() for line in lines]


def _with_failure(**fields: object) -> dict:
    failure = {
        "name": "failed-request",
        "tables": ["AppRequests"],
        "when": {"field": "Success", "equals": False},
        **fields,
    }
    return _minimal(failures=[_definition(), failure])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"threshold": {"cuont": 3}},
            "failures[1] (failed-request).threshold.cuont: unknown key; did you mean 'count'?",
        ),
        (
            {"severty": "high"},
            "failures[1] (failed-request).severty: unknown key; did you mean 'severity'?",
        ),
        (
            {"when": {"field": "Success", "equal": False}},
            "failures[1] (failed-request).when.equal: unknown operator; did you mean 'equals'?",
        ),
        (
            {"when": {"all": [{"field": "Url", "exists": True}, {"field": "Url", "regexp": "x"}]}},
            "failures[1] (failed-request).when.all[1].regexp: unknown operator; "
            "did you mean 'regex'?",
        ),
        (
            {"when": {"not": {"field": "ResultCode", "In": ["404"]}}},
            "failures[1] (failed-request).when.not.In: unknown operator; did you mean 'in'?",
        ),
        (
            {"severity": "hihg"},
            "failures[1] (failed-request).severity: Input should be 'critical', 'high', "
            "'medium' or 'low'; did you mean 'high'?",
        ),
        (
            {"when": {"field": "ResultCode", "in": [{"code": 500}]}},
            "failures[1] (failed-request).when.in[0]: Input should be a valid boolean, integer, "
            "number or string",
        ),
    ],
    ids=["key", "top-level-key", "operator", "nested-operator", "case", "choice", "union"],
)
def test_a_mistake_names_its_definition_and_suggests_the_closest_valid_word(
    fields: dict, expected: str
) -> None:
    assert _problems(_with_failure(**fields)) == [expected]


def test_every_mistake_is_listed_one_per_line_under_the_file_path() -> None:
    document = _with_failure(threshold={"cuont": 3, "within": "10 minutes"})
    document["sources"][0]["poll_intervall"] = "5m"
    document["correlation"] = {"wiat": "30m"}
    assert _problems(document) == [
        "sources[0] (prod).poll_intervall: unknown key; did you mean 'poll_interval'?",
        "failures[1] (failed-request).threshold.within: '10 minutes' is not a duration; "
        "expected one like 90s, 5m, 1h30m or 2d",
        "failures[1] (failed-request).threshold.cuont: unknown key; did you mean 'count'?",
        "correlation.wiat: unknown key; did you mean 'wait'?",
    ]


def test_an_unknown_key_without_a_close_match_lists_the_valid_ones() -> None:
    problems = _problems(_with_failure(threshold={"limit": 3}))
    assert problems == [
        "failures[1] (failed-request).threshold.limit: unknown key; the keys here are count, within"
    ]


KNOWN = (
    "Known tables: AppDependencies, AppExceptions, AppRequests, AppServiceConsoleLogs, "
    "AppTraces, ContainerLogV2, FunctionAppLogs; a custom table's name ends in _CL and it needs "
    "a `columns` map naming at least its message column"
)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            _minimal(
                sources=[
                    {
                        "name": "prod",
                        "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                        "tables": ["AppExeptions"],
                    }
                ]
            ),
            "sources[0] (prod).tables[0]: unknown table 'AppExeptions'; did you mean "
            f"'AppExceptions'? {KNOWN}",
        ),
        (
            _with_failure(tables=["AppRequests", "appexceptions"]),
            "failures[1] (failed-request).tables[1]: unknown table 'appexceptions'; did you mean "
            f"'AppExceptions'? {KNOWN}",
        ),
        (
            _with_failure(tables=["Orders"]),
            f"failures[1] (failed-request).tables[0]: unknown table 'Orders'. {KNOWN}",
        ),
    ],
    ids=["source", "definition", "no-close-match"],
)
def test_an_unknown_table_is_called_unknown_with_the_closest_known_ones(
    document: dict, expected: str
) -> None:
    """pydantic alone also said `sources: Tuple should have at least 1 item`, the echo of the
    one table failing, which sent people looking for an empty list."""
    assert _problems(document) == [expected]


def test_a_watched_table_or_a_definition_spelled_differently_is_suggested() -> None:
    document = _minimal(
        sources=[
            {
                "name": "prod",
                "workspace_id": "5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10",
                "tables": ["AppRequests", {"name": "Orders_CL", "columns": {"message": "Text"}}],
            }
        ],
        failures=[_definition(name="orders", tables=["Order_CL"])],
        routing={
            "default_repository": "contoso/shop",
            "routes": [{"when_definitions": ["order"], "repository": "contoso/orders"}],
        },
    )
    assert _problems(document) == [
        "failures[0] (orders).tables: names tables no source watches: Order_CL; "
        "did you mean 'Orders_CL'?",
        "routing.routes[0].when_definitions: names unknown failure definitions: order; "
        "did you mean 'orders'?",
    ]


def test_an_invalid_value_from_the_environment_is_blamed_on_the_variable() -> None:
    document = _minimal()
    document["sources"][0]["poll_interval"] = "${FAULTLINE_POLL_INTERVAL:-5m}"
    assert _problems(document, {"FAULTLINE_POLL_INTERVAL": "5"}) == [
        "FAULTLINE_POLL_INTERVAL=5 (from the environment, used at sources[0] (prod)"
        ".poll_interval): '5' has no unit; expected a duration like 5m (units: s, m, h, d)"
    ]
    assert _load(document, {"FAULTLINE_POLL_INTERVAL": "15m"}).sources[0].poll_interval == (
        timedelta(minutes=15)
    )


def test_a_default_written_in_the_file_is_blamed_on_the_file() -> None:
    document = _minimal()
    document["sources"][0]["poll_interval"] = "${FAULTLINE_POLL_INTERVAL:-5}"
    assert _problems(document) == [
        "sources[0] (prod).poll_interval: '5' has no unit; expected a duration like 5m "
        "(units: s, m, h, d)"
    ]


@pytest.mark.parametrize(
    "repository",
    ["contoso/shop", "gitlab:contoso/shop", "gitlab:contoso/platform/shop.web", "gitlab:a_b/c-d"],
)
def test_a_repository_is_on_github_or_on_gitlab_by_its_name(repository: str) -> None:
    rules = _load(_minimal(routing={"default_repository": repository}))
    assert rules.routing.default_repository == repository


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("gitlab:contoso", "'gitlab:contoso' is not a GitLab project path; expected gitlab:group"),
        ("gitlab:contoso//shop", "is not a GitLab project path"),
        ("gitlab:/contoso/shop", "is not a GitLab project path"),
        ("contoso/platform/shop", "expected owner/repo (GitHub) or gitlab:group/project"),
        ("github:contoso/shop", "'github:contoso/shop' is not a repository"),
    ],
)
def test_a_malformed_repository_is_named_with_both_forms(repository: str, message: str) -> None:
    routes = [{"when_definitions": ["failed-request"], "repository": repository}]
    with pytest.raises(RulesError) as raised:
        _load(_minimal(routing={"default_repository": "contoso/shop", "routes": routes}))
    assert "routing.routes[0].repository" in str(raised.value)
    assert message in str(raised.value)


def test_copilot_on_a_gitlab_route_is_refused_by_name() -> None:
    """Copilot's coding agent is GitHub's; on GitLab the hand-off is a named user (a person, or
    the service account a GitLab Duo flow trigger runs as)."""
    document = _minimal(
        routing={
            "default_repository": "gitlab:contoso/shop",
            "routes": [
                {"when_tables": ["AppRequests"], "repository": "gitlab:contoso/orders"},
                {
                    "when_definitions": ["failed-request"],
                    "repository": "gitlab:contoso/web",
                    "assignment": {"kind": "copilot"},
                },
                {"when_tables": ["AppRequests"], "repository": "contoso/api"},
            ],
        },
        assignment={"default": {"kind": "copilot"}},
    )
    with pytest.raises(RulesError) as raised:
        _load(document)
    problems = [line for line in str(raised.value).splitlines() if "Copilot" in line]
    assert len(problems) == 3, "each GitLab route and the GitLab default, not the GitHub route"
    assert (
        "routing.routes[0].assignment (from assignment.default): gitlab:contoso/orders"
        in (problems[0])
    )
    assert "routing.routes[1].assignment: gitlab:contoso/web" in problems[1]
    assert "assignment.default: routing.default_repository is gitlab:contoso/shop" in problems[2]
    assert "service account of a GitLab Duo flow trigger" in problems[0]


def test_a_gitlab_route_may_assign_named_users() -> None:
    document = _minimal(
        routing={
            "default_repository": "contoso/shop",
            "routes": [
                {
                    "when_tables": ["AppRequests"],
                    "repository": "gitlab:contoso/orders",
                    "assignment": {"kind": "users", "users": ["duo-developer"]},
                }
            ],
        },
        assignment={"default": {"kind": "copilot"}},
    )
    assert _load(document).routing.routes[0].assignment is not None


def test_lifecycle_settings_are_refused_by_name() -> None:
    """The quiet period, escalation: each mistake names its field and says what is accepted."""
    document = yaml.safe_load((Path(__file__).parents[2] / "faultline.yaml").read_text())
    document["dedup"]["resolve_after_quiet"] = "10m"
    document["escalation"] = {"factor": 0.5, "baseline": "30d", "min_count": 0}
    with pytest.raises(RulesError) as refused:
        load_rules(yaml.safe_dump(document), {})
    assert str(refused.value).splitlines()[1:] == [
        "  dedup.resolve_after_quiet: resolve_after_quiet must be at least 1h, not 0:10:00",
        "  escalation.factor: Input should be greater than 1",
        "  escalation.baseline: baseline must be between 1d and 7d, not 30 days, 0:00:00",
        "  escalation.min_count: Input should be greater than or equal to 1",
    ]
