"""App settings: every environment variable the app reads, validated in one model.

The aliases are the setting names; they match `local.settings.json.example` and the Bicep
`appSettings` exactly (a test checks all three agree).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import annotated_types
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from detection.rules import CREDENTIAL_WORDS


class SettingsError(ValueError):
    """An app setting is missing or invalid; the message names it."""


class AppSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    storage_connection_string: str | None = Field(
        default=None,
        alias="AzureWebJobsStorage",
        description="Storage connection string (local runs); in Azure the identity settings.",
    )
    storage_queue_uri: str | None = Field(
        default=None,
        alias="AzureWebJobsStorage__queueServiceUri",
        description="Queue endpoint reached with the managed identity.",
    )
    storage_table_uri: str | None = Field(
        default=None,
        alias="AzureWebJobsStorage__tableServiceUri",
        description="Table endpoint reached with the managed identity.",
    )
    storage_client_id: str | None = Field(
        default=None,
        alias="AzureWebJobsStorage__clientId",
        description=(
            "Client id of the user-assigned identity (storage, Log Analytics, Key Vault, "
            "Application Insights)."
        ),
    )
    timer_schedule: str = Field(
        default="0 */5 * * * *",
        alias="FAULTLINE_TIMER_SCHEDULE",
        description=(
            "NCRONTAB schedule of the fan-out and settle timers; it must fire at least as often "
            "as the shortest `poll_interval` in the rules file."
        ),
    )
    query_queue: str = Field(
        default="faultline-query-jobs",
        alias="FAULTLINE_QUERY_QUEUE",
        description="Queue of query jobs; its poison queue is `<name>-poison`.",
    )
    failure_queue: str = Field(
        default="faultline-failures",
        alias="FAULTLINE_FAILURE_QUEUE",
        description="Queue of failures handed to the issue workflow.",
    )
    alert_queue: str = Field(
        default="faultline-alerts",
        alias="FAULTLINE_ALERT_QUEUE",
        description="Queue of alert webhook deliveries waiting to be detected on.",
    )
    notify_queue: str = Field(
        default="faultline-notifications",
        alias="FAULTLINE_NOTIFY_QUEUE",
        description=(
            "Queue of notifications (events the issue workflow emits, and storms' delayed "
            "flushes); its poison queue is `<name>-poison`."
        ),
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        alias="FAULTLINE_SLACK_API_URL",
        description="Slack Web API base that a bot-token channel posts `chat.postMessage` to.",
    )
    github_event_queue: str = Field(
        default="faultline-github-events",
        alias="FAULTLINE_GITHUB_WEBHOOK_QUEUE",
        description=(
            "Queue of GitHub and GitLab webhook events (`issues`, `issue_comment`; Issue and "
            "Note Hooks) between `POST /api/github/webhook` or `POST /api/gitlab/webhook` and "
            "their handler; its poison queue is `<name>-poison`."
        ),
    )
    rules_path: str = Field(
        default="faultline.yaml",
        alias="FAULTLINE_RULES_PATH",
        description="The rules file, relative to the app root or absolute.",
    )
    table_prefix: str = Field(
        default="Faultline",
        alias="FAULTLINE_TABLE_PREFIX",
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,40}$",
        description="Prefix of the Table Storage tables.",
    )
    logs_endpoint: str = Field(
        default="https://api.loganalytics.io/v1",
        alias="FAULTLINE_LOGS_ENDPOINT",
        description="Log Analytics query endpoint (differs in sovereign clouds).",
    )
    logs_export_dir: str | None = Field(
        default=None,
        alias="FAULTLINE_LOGS_EXPORT_DIR",
        description=(
            "Read exported query results from this folder instead: a `<Table>.json` per table, "
            "the query API's response or `az monitor log-analytics query -o json` output (a "
            "log group's: `aws logs filter-log-events -o json`). Several folders, separated by "
            "`os.pathsep` (`:`; `;` on Windows), are searched in order for each table's file."
        ),
    )
    logs_ca_bundle: str | None = Field(
        default=None,
        alias="FAULTLINE_LOGS_CA_BUNDLE",
        description="CA bundle for the query endpoint (a corporate proxy).",
    )
    aws_region: str | None = Field(
        default=None,
        alias="FAULTLINE_AWS_REGION",
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="AWS region of the CloudWatch log groups (required by a cloudwatch source).",
    )
    aws_role_arn: str | None = Field(
        default=None,
        alias="FAULTLINE_AWS_ROLE_ARN",
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$",
        description=(
            "IAM role the managed identity assumes (`AssumeRoleWithWebIdentity`) to read "
            "CloudWatch Logs; its trust policy names the Entra ID tenant as an OIDC provider."
        ),
    )
    aws_web_identity_audience: str = Field(
        default="api://AzureADTokenExchange",
        alias="FAULTLINE_AWS_WEB_IDENTITY_AUDIENCE",
        description="Audience of the Entra ID token given to STS (the IAM OIDC provider's).",
    )
    aws_keys_secret: str | None = Field(
        default=None,
        alias="FAULTLINE_AWS_KEYS_SECRET",
        description=(
            "Fallback without a role: Key Vault secret holding an IAM user's "
            "`ACCESS_KEY_ID:SECRET_ACCESS_KEY` (re-read hourly, so a rotation takes effect)."
        ),
    )
    aws_sts_endpoint: str | None = Field(
        default=None,
        alias="FAULTLINE_AWS_STS_ENDPOINT",
        description="STS endpoint (default: the region's).",
    )
    cloudwatch_endpoint: str | None = Field(
        default=None,
        alias="FAULTLINE_CLOUDWATCH_ENDPOINT",
        description="CloudWatch Logs endpoint (default: the region's; a VPC endpoint).",
    )
    cloudwatch_ca_bundle: str | None = Field(
        default=None,
        alias="FAULTLINE_CLOUDWATCH_CA_BUNDLE",
        description="CA bundle for the CloudWatch Logs and STS endpoints (a corporate proxy).",
    )
    cloudwatch_query_wait_seconds: int = Field(
        default=120,
        ge=5,
        le=600,
        alias="FAULTLINE_CLOUDWATCH_QUERY_WAIT_SECONDS",
        description=(
            "How long a job waits for a Logs Insights query; one still running is stopped and "
            "its window split."
        ),
    )
    query_timeout_seconds: int = Field(
        default=180,
        ge=10,
        le=600,
        alias="FAULTLINE_QUERY_TIMEOUT_SECONDS",
        description="Server-side query timeout.",
    )
    max_rows_per_query: int = Field(
        default=50_000,
        ge=1,
        le=500_000,
        alias="FAULTLINE_MAX_ROWS_PER_QUERY",
        description=(
            "Most rows one query returns (`take`); a result this large is treated as capped, and"
            " its window split. Bounds a job's memory: about 6 MB per 1,000 rows of exceptions"
            " with stack traces (`python -m bench.memory`)."
        ),
    )
    max_concurrent_queries: int = Field(
        default=3,
        ge=1,
        le=5,
        alias="FAULTLINE_MAX_CONCURRENT_QUERIES",
        description=(
            "Queries in flight at once across every instance, held as leases in Table Storage. "
            "Log Analytics allows 5 per identity; lower it when other apps share the identity."
        ),
    )
    query_slot_wait_seconds: int = Field(
        default=15,
        ge=1,
        le=600,
        alias="FAULTLINE_QUERY_SLOT_WAIT_SECONDS",
        description="How long a job waits, back on the queue, when every query slot is held.",
    )
    max_throttled_attempts: int = Field(
        default=20,
        ge=1,
        alias="FAULTLINE_MAX_THROTTLED_ATTEMPTS",
        description="Delayed retries of a throttled query job before it is poisoned.",
    )
    github_api_url: str = Field(
        default="https://api.github.com/",
        alias="FAULTLINE_GITHUB_API_URL",
        description="GitHub REST API base (GitHub Enterprise Server: `https://host/api/v3/`).",
    )
    github_ca_bundle: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_CA_BUNDLE",
        description="CA bundle for the GitHub API (GitHub Enterprise Server under a private CA).",
    )
    github_token: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_TOKEN",
        description="GitHub token for local runs; in Azure the token comes from Key Vault.",
    )
    key_vault_url: str | None = Field(
        default=None,
        alias="FAULTLINE_KEY_VAULT_URL",
        description="Key Vault holding the GitHub token (read with the managed identity).",
    )
    marker_key: str | None = Field(
        default=None,
        min_length=32,
        alias="FAULTLINE_MARKER_KEY",
        description=(
            "Key that signs the marker in each issue body, for local runs; in Azure it comes "
            "from Key Vault. Without one, markers are unsigned and only their author is checked."
        ),
    )
    marker_key_secret: str = Field(
        default="marker-key",
        alias="FAULTLINE_MARKER_KEY_SECRET",
        description=(
            "Name of the Key Vault secret with the marker key (azd's postprovision hook makes "
            "it once); empty for unsigned markers."
        ),
    )
    github_webhook_secret: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_WEBHOOK_SECRET",
        description=(
            "The GitHub webhook's secret, for local runs; in Azure it comes from Key Vault. "
            "Without one, `POST /api/github/webhook` refuses every delivery (401)."
        ),
    )
    github_webhook_secret_name: str = Field(
        default="github-webhook-secret",
        alias="FAULTLINE_GITHUB_WEBHOOK_SECRET_NAME",
        description=(
            "Name of the Key Vault secret with the GitHub webhook's secret (the one entered in "
            "the repository's webhook settings)."
        ),
    )
    gitlab_webhook_secret: str | None = Field(
        default=None,
        alias="FAULTLINE_GITLAB_WEBHOOK_SECRET",
        description=(
            "The GitLab webhook's secret token, for local runs; in Azure it comes from Key "
            "Vault. Without one, `POST /api/gitlab/webhook` refuses every delivery (401)."
        ),
    )
    gitlab_webhook_secret_name: str = Field(
        default="gitlab-webhook-secret",
        alias="FAULTLINE_GITLAB_WEBHOOK_SECRET_NAME",
        description=(
            "Name of the Key Vault secret with the GitLab webhook's secret token (the one "
            "entered in the project's or group's webhook settings)."
        ),
    )
    github_token_secret: str = Field(
        default="github-token",
        alias="FAULTLINE_GITHUB_TOKEN_SECRET",
        description="Name of the Key Vault secret with the GitHub token.",
    )
    github_app_id: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_APP_ID",
        pattern=r"^([1-9][0-9]*|Iv[0-9A-Za-z.]{6,})$",
        description=(
            "Authenticate as this GitHub App (its App ID, or its client ID `Iv...`) instead of "
            "with a personal token: issues are written by `<slug>[bot]`."
        ),
    )
    github_app_key_secret: str = Field(
        default="github-app-private-key",
        alias="FAULTLINE_GITHUB_APP_KEY_SECRET",
        description="Name of the Key Vault secret with the GitHub App's private key (PEM).",
    )
    github_app_private_key: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_APP_PRIVATE_KEY",
        description=(
            "The GitHub App's private key (PEM; `\\n` for line breaks) for local runs; in Azure "
            "it comes from Key Vault."
        ),
    )
    github_app_installations: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_APP_INSTALLATIONS",
        description=(
            "The App's installation per owner, `owner=id,owner=id`; owners left out are looked "
            "up (`GET /repos/{owner}/{repo}/installation`)."
        ),
    )
    github_assignment_token: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_ASSIGNMENT_TOKEN",
        description=(
            "A user token used only to assign issues, for local runs (Copilot's coding agent "
            "cannot be assigned by a GitHub App); in Azure it comes from Key Vault."
        ),
    )
    github_assignment_token_secret: str | None = Field(
        default=None,
        alias="FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET",
        description=(
            "Name of the Key Vault secret with that user token; unset for none (with a GitHub "
            "App, Copilot assignment is then reported as impossible)."
        ),
    )
    github_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=120,
        alias="FAULTLINE_GITHUB_TIMEOUT_SECONDS",
        description="Timeout of one GitHub request.",
    )
    gitlab_api_url: str = Field(
        default="https://gitlab.com/api/v4",
        alias="FAULTLINE_GITLAB_API_URL",
        description=(
            "GitLab REST API base, for routes to `gitlab:group/project` (self-managed: "
            "`https://HOST/api/v4`, or `https://HOST/PATH/api/v4` under a relative URL root)."
        ),
    )
    gitlab_token: str | None = Field(
        default=None,
        alias="FAULTLINE_GITLAB_TOKEN",
        description="GitLab access token for local runs; in Azure the token comes from Key Vault.",
    )
    gitlab_token_secret: str = Field(
        default="gitlab-token",
        alias="FAULTLINE_GITLAB_TOKEN_SECRET",
        description="Name of the Key Vault secret with the GitLab access token (scope `api`).",
    )
    gitlab_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=120,
        alias="FAULTLINE_GITLAB_TIMEOUT_SECONDS",
        description="Timeout of one GitLab request.",
    )
    gitlab_ca_bundle: str | None = Field(
        default=None,
        alias="FAULTLINE_GITLAB_CA_BUNDLE",
        description="CA bundle for a self-managed GitLab whose certificate a private CA signed.",
    )
    github_write_spacing_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        alias="FAULTLINE_GITHUB_WRITE_SPACING_SECONDS",
        description=(
            "Least time between two writes to GitHub from one instance (GitHub asks for a "
            "second); 0 only where GitHub is a local fake."
        ),
    )
    issue_template_path: str | None = Field(
        default=None,
        alias="FAULTLINE_ISSUE_TEMPLATE",
        description="A Jinja2 template replacing the built-in issue body.",
    )
    dry_run_dir: str | None = Field(
        default=None,
        alias="FAULTLINE_DRY_RUN_DIR",
        description="Write issues as Markdown files in this folder instead of creating them.",
    )
    workflow_recheck_seconds: int = Field(
        default=3_600,
        ge=1,
        le=86_400,
        alias="FAULTLINE_WORKFLOW_RECHECK_SECONDS",
        description=(
            "Longest durable wait before a waiting workflow decides again (business hours, "
            "GitHub's Retry-After, the next body refresh; it picks up changed rules). A held "
            "budget slot is waited for in full."
        ),
    )
    telemetry_connection_string: str | None = Field(
        default=None,
        alias="APPLICATIONINSIGHTS_CONNECTION_STRING",
        description=(
            "Application Insights that Faultline's own metrics and use-case logs go to, sent "
            "with the managed identity (the Functions host reads it too)."
        ),
    )
    metrics_file: str | None = Field(
        default=None,
        alias="FAULTLINE_METRICS_FILE",
        description=(
            "Append every metric to this JSON-lines file instead of sending it to Application "
            "Insights (the local run names one and sums it into `out/metrics.json`)."
        ),
    )
    notice_requeue_seconds: int = Field(
        default=60,
        ge=0,
        le=3_600,
        alias="FAULTLINE_NOTICE_REQUEUE_SECONDS",
        description=(
            "How long a failure notice that arrived while its workflow runs stays queued "
            "before it is tried again."
        ),
    )

    @model_validator(mode="after")
    def _storage_is_reachable_somehow(self) -> AppSettings:
        identity = self.storage_queue_uri and self.storage_table_uri
        if not (self.storage_connection_string or identity):
            raise ValueError(
                "set AzureWebJobsStorage (a connection string) or both "
                "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri"
            )
        return self

    @field_validator("github_app_private_key")
    @classmethod
    def _a_pem_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "\n" not in value:  # one line, as an environment variable often holds it
            value = value.replace("\\n", "\n")
        if not re.match(r"^\s*-----BEGIN (RSA )?PRIVATE KEY-----\n", value):
            raise ValueError(
                "expected the PEM file GitHub gave for the App, from -----BEGIN RSA PRIVATE "
                "KEY----- to its END line"
            )
        return value.strip() + "\n"

    @field_validator("github_app_installations")
    @classmethod
    def _owner_ids(cls, value: str | None) -> str | None:
        if value is not None:
            _installations(value)
        return value

    @model_validator(mode="after")
    def _github_app_is_complete(self) -> AppSettings:
        if self.github_app_id is None:
            strays = [
                alias
                for alias, value in (
                    ("FAULTLINE_GITHUB_APP_PRIVATE_KEY", self.github_app_private_key),
                    ("FAULTLINE_GITHUB_APP_INSTALLATIONS", self.github_app_installations),
                )
                if value is not None
            ]
            if strays:
                raise ValueError(
                    f"{' and '.join(strays)} set without FAULTLINE_GITHUB_APP_ID: set the App's "
                    "ID (or client ID) to authenticate as the App"
                )
        elif not (self.key_vault_url or self.github_app_private_key):
            raise ValueError(
                "FAULTLINE_GITHUB_APP_ID is set but not where its private key is: set "
                "FAULTLINE_KEY_VAULT_URL (the key in the secret FAULTLINE_GITHUB_APP_KEY_SECRET "
                "names) or, locally, FAULTLINE_GITHUB_APP_PRIVATE_KEY"
            )
        return self

    @property
    def installations(self) -> dict[str, int]:
        """`FAULTLINE_GITHUB_APP_INSTALLATIONS` as owner -> installation id."""
        return _installations(self.github_app_installations or "")

    @property
    def poison_queue(self) -> str:
        """The Functions host's name for the query queue's poison queue."""
        return f"{self.query_queue}-poison"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppSettings:
        """The settings in `env`; raise SettingsError naming each bad variable, its value (unless
        it is a credential) and what it should be, one per line."""
        try:
            return cls.model_validate({k: v for k, v in env.items() if v != ""})
        except ValidationError as error:
            problems = "\n".join(f"  {_problem(e)}" for e in error.errors())
            raise SettingsError(
                f"app settings (environment variables) are invalid:\n{problems}"
            ) from None


def _installations(text: str) -> dict[str, int]:
    """`owner=id,owner=id` (spaces allowed) as a mapping; a ValueError names the bad part."""
    pairs: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        owner, _, number = (piece.strip() for piece in part.partition("="))
        if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", owner) or not (
            number.isdigit() and int(number) > 0
        ):
            raise ValueError(
                f"{part!r} is not owner=installation-id (e.g. acme=12345678); the id is in the "
                "URL of the installation's settings page"
            )
        pairs[owner] = int(number)
    return pairs


def _problem(detail: ErrorDetails) -> str:
    """`NAME=value: expected ...`: the variable is what the person sets, so it leads."""
    message = detail["msg"].removeprefix("Value error, ")
    if not detail["loc"]:
        return message  # the model's own check names the variables it needs
    name = str(detail["loc"][0])
    field = next((f for f in AppSettings.model_fields.values() if f.alias == name), None)
    if field is None:
        return f"{name}: {message}"
    value = detail["input"]
    shown = f"{value}" if not _is_secret(name) else f"<{len(str(value))} characters, not shown>"
    purpose = f" ({field.description})" if field.description else ""
    if detail["type"] == "value_error":  # a validator's own words say what is wrong
        return f"{name}={shown}: {message}{purpose}"
    return f"{name}={shown}: expected {_expected(field)}{purpose}"


def _is_secret(name: str) -> bool:
    """Whether a setting's value must stay out of messages (they reach logs): the storage
    connection string, or a name with a credential word in it (TOKEN, KEY, SECRET ...), which
    also hides the harmless value of a setting that only names a Key Vault secret."""
    return name == "AzureWebJobsStorage" or bool(CREDENTIAL_WORDS.intersection(name.split("_")))


def _expected(field: FieldInfo) -> str:
    """What a setting takes, read from its type and constraints: `a whole number from 1 to 5`."""
    kinds: dict[Any, str] = {int: "a whole number", float: "a number"}
    text = kinds.get(field.annotation, "text")
    low = high = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"{item.ge}"
        elif isinstance(item, annotated_types.Gt):
            text += f" above {item.gt}"
        elif isinstance(item, annotated_types.Le):
            high = f"{item.le}"
        elif isinstance(item, annotated_types.MinLen):
            text += f" of at least {item.min_length} characters"
        elif getattr(item, "pattern", None):
            text += f" matching {item.pattern}"
    if low is not None and high is not None:
        return f"{text} from {low} to {high}"
    if low is not None:
        return f"{text}, at least {low}"
    if high is not None:
        return f"{text}, at most {high}"
    return text


def setting_names() -> set[str]:
    """Every setting name the model reads."""
    return {field.alias for field in AppSettings.model_fields.values() if field.alias}
