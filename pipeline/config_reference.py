"""The configuration reference, generated from the pydantic models so it cannot drift.

`python -m pipeline.config_reference` writes `docs/configuration.md` from the app settings model
(`pipeline/settings.py`) and the rules-file models (`detection/rules.py`); a test fails when the
committed file differs from what this renders.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Iterable
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo

from detection.rules import FieldPath, Rules
from pipeline.settings import AppSettings

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
COMMAND = "python -m pipeline.config_reference"

SCALARS: set[Any] = {bool, int, float, str}
TYPE_NAMES: dict[Any, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "true/false",
    timedelta: "duration",
    time: "time of day (`HH:MM`)",
    FieldPath: "field path",
}


def _cell(text: str) -> str:
    """Safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0].replace("\n", " ")


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (not one inherited from BaseModel)."""
    return _first_paragraph(model.__dict__.get("__doc__"))


def _constraints(metadata: Iterable[Any]) -> list[str]:
    found = []
    for item in metadata:
        if isinstance(item, StringConstraints) and item.pattern:
            found.append(f"matches `{item.pattern}`")
        elif isinstance(item, annotated_types.Ge):
            found.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Gt):
            found.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Le):
            found.append(f"<= {item.le}")
        elif isinstance(item, annotated_types.Lt):
            found.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.MinLen):
            found.append(f"at least {item.min_length}")
        elif isinstance(item, annotated_types.MaxLen):
            found.append(f"at most {item.max_length}")
    return found


def _type(annotation: Any, models: list[type[BaseModel]]) -> str:
    """How an annotation reads to an operator; nested models are linked and queued."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        text = _type(base, models)
        constraints = _constraints(metadata)
        return f"{text}, {', '.join(constraints)}" if constraints else text
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if set(options) == SCALARS:
            return "text, number or true/false"
        return " or ".join(_type(option, models) for option in options)
    if origin is tuple:
        return f"list of {_type(get_args(annotation)[0], models)}"
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if annotation in TYPE_NAMES:
        return TYPE_NAMES[annotation]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        if annotation not in models:
            models.append(annotation)
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    return getattr(annotation, "__name__", str(annotation))


def _duration(value: timedelta) -> str:
    seconds, text = int(value.total_seconds()), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            text += f"{seconds // size}{unit}"
            seconds %= size
    return text or "0s"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "not set"
    if isinstance(value, BaseModel):
        return "its defaults"
    if value == "":
        return '`""`'
    return f"`{_value(value)}`"


def _table(model: type[BaseModel], header: str, models: list[type[BaseModel]]) -> list[str]:
    lines = [f"| {header} | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        constraints = _constraints(info.metadata)
        text = _type(info.annotation, models) + (
            f", {', '.join(constraints)}" if constraints else ""
        )
        cells = (f"`{key}`", text, _default(info), info.description or "")
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


NOTIFICATION_SETUPS: tuple[tuple[str, str, str], ...] = (
    (
        "Slack, incoming webhook",
        "Create an incoming webhook for the channel (a Slack app with *Incoming Webhooks*), and "
        "store its URL in Key Vault: `az keyvault secret set --vault-name <vault> --name "
        "slack-oncall-webhook --value https://hooks.slack.com/services/...`.",
        """notifications:
  channels:
    - {name: oncall, kind: slack, webhook_url_secret: slack-oncall-webhook}
  rules:
    - name: critical-failures
      events: [issue-created, issue-regressed]
      severities: [critical, high]
      channels: [oncall]
      throttle: {count: 5, within: 15m}
""",
    ),
    (
        "Slack, bot token (one thread per issue)",
        "A Slack app with the `chat:write` scope, invited to the channel; store its bot token "
        "(`xoxb-...`) in Key Vault and name the channel by id. The first message about an issue "
        "opens a thread; later ones (a regression, a failed assignment) reply in it.",
        """notifications:
  channels:
    - {name: oncall, kind: slack, bot_token_secret: slack-bot-token, channel: C0123ABCD}
  rules:
    - name: everything-about-issues
      events: [issue-created, issue-regressed, assignment-failed]
      channels: [oncall]
""",
    ),
    (
        "Microsoft Teams, Workflows webhook",
        "In the channel, add the *Post to a channel when a webhook request is received* "
        "workflow and store the URL it gives in Key Vault. Messages are Adaptive Cards (1.5).",
        """notifications:
  channels:
    - {name: orders-team, kind: teams, webhook_url_secret: teams-orders-workflow}
  rules:
    - name: orders-team
      events: [issue-created, issue-regressed, assignment-failed]
      routes: [orders]
      channels: [orders-team]
      throttle: {count: 10, within: 1h}
""",
    ),
    (
        "Generic webhook, signed",
        "Store the receiver's URL and a random signing key (`openssl rand -hex 32`) in Key "
        "Vault, and any secret header. Each request carries `X-Faultline-Timestamp` and "
        "`X-Faultline-Signature-256: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` with "
        "the key: recompute it, compare in constant time, and refuse a timestamp older than a "
        "few minutes. `X-Faultline-Delivery` is the same on every retry of one message, so a "
        "receiver can drop repeats. The template is Jinja2, rendered in a sandbox with `event`, "
        "`rule`, `channel` and `held_back`; strings are JSON-escaped, `| tojson` writes a value "
        "as JSON, and the result must be JSON.",
        """notifications:
  channels:
    - name: incident-bridge
      kind: webhook
      url_secret: incident-bridge-url
      signing_secret: incident-bridge-signing-key
      header_secrets: {Authorization: incident-bridge-authorization}
      template: |
        {"summary": "{{ event.title }}", "severity": "{{ event.severity }}",
         "issue": {{ event.issue_url | tojson }}, "held_back": {{ held_back }}}
  rules:
    - name: own-trouble
      events: [job-poisoned, query-lagging, github-token-expiring, github-token-refused]
      channels: [incident-bridge]
  trouble: {lag_bound: 1h, token_warning: 7d}
""",
    ),
    (
        "Agents' pull requests",
        "Every 15 minutes the `watch_pull_requests` timer reads the timeline of each issue still "
        "open (active or muted) on GitHub and announces each pull request linked to it once: "
        'named in a pull request\'s text ("Fixes #12", as coding agents write) or linked by '
        "hand in the issue's Development sidebar. The digest measures time to first pull "
        "request from it.",
        """notifications:
  channels:
    - {name: agents, kind: slack, webhook_url_secret: slack-agents-webhook}
  rules:
    - name: agent-pull-requests
      events: [pull-request-opened]
      channels: [agents]
""",
    ),
    (
        "A weekly digest",
        "One issue per digest in `repository`, found again by its hidden marker and updated in "
        "place each period (labelled `faultline:digest`; pin it once on GitHub), and one message "
        "to each channel listed: new, regressed, resolved and muted failures, the top recurring "
        "ones with their trend, issues by assignee with time to first pull request and to "
        "close, duplicates avoided, what known issues suppressed, notifications held back, and "
        "Faultline's own health. The "
        "hourly `send_digests` timer makes it once from `hour` (UTC) on `weekday` (every day "
        "for a `daily` one; a failed run is made up for later that day), over the 7 days (or "
        "the day) before midnight UTC.",
        """notifications:
  channels:
    - {name: leads, kind: teams, webhook_url_secret: teams-leads-workflow}
  digests:
    - name: shop-weekly
      period: weekly
      weekday: mon
      hour: 7
      repository: contoso/shop
      routes: [orders]
      channels: [leads]
""",
    ),
)
"""A minimal set-up per channel, as the reference shows it; a test loads each one."""


def _notification_setups() -> list[str]:
    lines = [
        "",
        "## Notifications: a minimal set-up per channel",
        "",
        "Channels name Key Vault secrets (the app reads them with its managed identity, which",
        "holds *Key Vault Secrets User*); the rules file never holds a URL or a token. Each rule",
        "sends at most `throttle.count` messages per `throttle.within` to each channel; what it",
        "holds back is counted and told in one later message. Events: `issue-created`,",
        "`issue-regressed`, `assignment-failed`, `pull-request-opened` (a pull request linked to",
        "an open issue), `escalated`, and Faultline's own trouble: `job-poisoned` (a poisoned",
        "query job or failure notice, or a workflow GitHub refused), `query-lagging` (a table",
        "read more than `notifications.trouble.lag_bound` behind, told once until it catches",
        "up), `github-token-expiring` (GitHub's `github-authentication-token-expiration` within",
        "`notifications.trouble.token_warning`, once per expiry date) and `github-token-refused`",
        "(a 401 after the token's refresh, once until GitHub takes the token again).",
    ]
    for title, prose, example in NOTIFICATION_SETUPS:
        lines += ["", f"### {title}", "", prose, "", "```yaml", example.rstrip("\n"), "```"]
    return lines


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        f"Generated by `{COMMAND}` from the pydantic models in `pipeline/settings.py` and",
        "`detection/rules.py`; do not edit by hand (a test fails when this file is stale).",
        "",
        "## App settings",
        "",
        _first_paragraph(sys.modules[AppSettings.__module__].__doc__),
        "Set them in `local.settings.json` locally and as app settings in Azure (`infra/`).",
        "An empty value counts as not set.",
        "",
        *_table(AppSettings, "setting", []),
        "",
        "## Rules file",
        "",
        "One YAML document (`faultline.yaml`, or the file `FAULTLINE_RULES_PATH` names).",
        "`${NAME}` and `${NAME:-default}` inside values are replaced from the environment, for",
        "`FAULTLINE_*` variables that name no credential only; regexes are RE2 (KQL's syntax).",
        "Unknown keys are errors. A *duration* is written `90s`, `5m`, `1h30m` or `2d`; a *field",
        "path* is a column name, optionally followed by keys into a dynamic (JSON) column, as in",
        "`Properties.tenant`.",
    ]
    models: list[type[BaseModel]] = [Rules]
    index = 0
    while index < len(models):  # breadth-first: each model once, in the order a reader meets it
        model = models[index]
        table = _table(model, "key", models)
        lines += ["", f"### {model.__name__}", ""]
        if summary := _summary(model):
            lines += [summary, ""]
        lines += table
        index += 1
    lines += _notification_setups()
    return "\n".join(lines) + "\n"


def main() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
