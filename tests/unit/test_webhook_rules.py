"""Webhooks in the rules file: definitions name them as they name tables, and every mistake is
named by its path."""

from __future__ import annotations

import pytest

from detection.rules import RulesError, load_rules

pytestmark = pytest.mark.unit

BASE = """
sources:
  - {name: production, workspace_id: 5b1f6c3e-0c4a-4d8e-9f1e-2a7c1d9e8b10, tables: [AppTraces]}
routing: {default_repository: contoso/shop}
"""


def _load(extra: str) -> None:
    load_rules(BASE + extra, {})


def test_a_definition_may_read_webhooks_tables_or_both() -> None:
    rules = load_rules(
        BASE
        + """
webhooks:
  - name: grafana
    kind: grafana
    secret: grafana-hmac
    timestamp_header: X-Grafana-Alert-Timestamp
  - {name: azure-monitor, kind: azure-monitor, secret: azure-token, source: production}
failures:
  - {name: alerts, webhooks: [grafana], when: {field: Status, equals: firing}}
  - name: both
    tables: [AppTraces]
    webhooks: [azure-monitor]
    when: {field: Status, exists: true}
""",
        {},
    )
    assert [d.name for d in rules.definitions_for("grafana")] == ["alerts"]
    assert [d.name for d in rules.definitions_for("AppTraces")] == ["both"]
    assert rules.webhook("grafana").authentication == "signature"
    assert rules.webhook("azure-monitor").source == "production"


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            """
webhooks: [{name: grafana, kind: grafana, secret: s}]
failures: [{name: a, webhooks: [grafna], when: {field: Status, equals: firing}}]
""",
            "failures[0] (a).webhooks: names no configured webhook: grafna; "
            "did you mean 'grafana'?",
        ),
        (
            """
failures: [{name: a, when: {field: Status, equals: firing}}]
""",
            "names at least one of tables or webhooks",
        ),
        (
            """
webhooks: [{name: sentry, kind: sentry, secret: s, auth: bearer}]
failures: [{name: a, webhooks: [sentry], when: {field: Status, equals: firing}}]
""",
            "webhook sentry (sentry) authenticates with signature, not bearer",
        ),
        (
            """
webhooks: [{name: az, kind: azure-monitor, secret: s, source: prodution}]
failures: [{name: a, webhooks: [az], when: {field: Status, equals: firing}}]
""",
            "webhooks[0] (az).source: no source named prodution; did you mean 'production'?",
        ),
        (
            """
webhooks: [{name: am, kind: alertmanager, secret: "not/a vault name"}]
failures: [{name: a, webhooks: [am], when: {field: Status, equals: firing}}]
""",
            "webhooks[0] (am).secret",
        ),
        (
            """
webhooks: [{name: am, kind: alertmanager, secret: s}, {name: am, kind: grafana, secret: t}]
failures: [{name: a, webhooks: [am], when: {field: Status, equals: firing}}]
""",
            "webhooks: names must be unique; used twice: am",
        ),
    ],
)
def test_webhook_mistakes_are_named_by_their_path(extra: str, problem: str) -> None:
    with pytest.raises(RulesError) as error:
        _load(extra)
    assert problem in str(error.value)
