"""App settings: one model, the same names as local.settings.json.example, host.json in step."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.log_analytics import DEFAULT_RETRY_AFTER, retry_after
from pipeline.ingest import HOST_MAX_DEQUEUE_COUNT
from pipeline.settings import AppSettings, SettingsError, setting_names

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
HOST_ONLY = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}


def test_example_settings_name_exactly_what_the_model_reads() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert set(example) - HOST_ONLY == setting_names()


def test_example_settings_validate() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    settings = AppSettings.from_env(example)
    assert settings.poison_queue == "faultline-query-jobs-poison"
    assert settings.logs_export_dir is None


def test_host_json_dequeue_count_matches_what_the_code_announces() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["maxDequeueCount"] == HOST_MAX_DEQUEUE_COUNT
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set AzureWebJobsStorage"),
        (
            {"AzureWebJobsStorage": "x", "FAULTLINE_MAX_ROWS_PER_QUERY": "600000"},
            "FAULTLINE_MAX_ROWS_PER_QUERY=600000: expected a whole number from 1 to 500000",
        ),
        (
            {"AzureWebJobsStorage": "x", "FAULTLINE_TABLE_PREFIX": "bad-prefix"},
            "FAULTLINE_TABLE_PREFIX",
        ),
        (
            {"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net"},
            "tableServiceUri",
        ),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        AppSettings.from_env(env)


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        AppSettings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **env})
    header, *lines = str(raised.value).splitlines()
    assert header == "app settings (environment variables) are invalid:"
    return [line.strip() for line in lines]


def test_each_bad_setting_is_named_with_its_value_and_what_it_takes_one_per_line() -> None:
    assert _problems(
        {
            "FAULTLINE_QUERY_TIMEOUT_SECONDS": "3m",
            "FAULTLINE_MAX_CONCURRENT_QUERIES": "10",
            "FAULTLINE_GITHUB_TIMEOUT_SECONDS": "0",
            "FAULTLINE_TABLE_PREFIX": "my-app",
        }
    ) == [
        "FAULTLINE_TABLE_PREFIX=my-app: expected text matching ^[A-Za-z][A-Za-z0-9]{0,40}$ "
        "(Prefix of the Table Storage tables.)",
        "FAULTLINE_QUERY_TIMEOUT_SECONDS=3m: expected a whole number from 10 to 600 "
        "(Server-side query timeout.)",
        "FAULTLINE_MAX_CONCURRENT_QUERIES=10: expected a whole number from 1 to 5 (Queries in "
        "flight at once across every instance, held as leases in Table Storage. Log Analytics "
        "allows 5 per identity; lower it when other apps share the identity.)",
        "FAULTLINE_GITHUB_TIMEOUT_SECONDS=0: expected a number above 0, at most 120 (Timeout of "
        "one GitHub request.)",
    ]


def test_a_bad_credential_setting_is_named_but_its_value_is_not_shown() -> None:
    key = "k3y-" + "x" * 20
    [problem] = _problems({"FAULTLINE_MARKER_KEY": key})
    assert problem.startswith(
        "FAULTLINE_MARKER_KEY=<24 characters, not shown>: expected text of at least 32 characters"
    )
    assert key not in problem


PEM_ONE_LINE = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"FAULTLINE_GITHUB_APP_ID": "123456"},
            "FAULTLINE_GITHUB_APP_ID is set but not where its private key is: set "
            "FAULTLINE_KEY_VAULT_URL",
        ),
        (
            {"FAULTLINE_GITHUB_APP_ID": "my-app", "FAULTLINE_KEY_VAULT_URL": "https://kv/"},
            "FAULTLINE_GITHUB_APP_ID=my-app: expected text matching",
        ),
        (
            {"FAULTLINE_GITHUB_APP_PRIVATE_KEY": PEM_ONE_LINE},
            "FAULTLINE_GITHUB_APP_PRIVATE_KEY set without FAULTLINE_GITHUB_APP_ID",
        ),
        (
            {"FAULTLINE_GITHUB_APP_ID": "123456", "FAULTLINE_GITHUB_APP_PRIVATE_KEY": "ghp_x"},
            "FAULTLINE_GITHUB_APP_PRIVATE_KEY=<5 characters, not shown>: expected the PEM file",
        ),
        (
            {
                "FAULTLINE_GITHUB_APP_ID": "Iv23liAbCdEf12",
                "FAULTLINE_KEY_VAULT_URL": "https://kv/",
                "FAULTLINE_GITHUB_APP_INSTALLATIONS": "acme=12, contoso",
            },
            "FAULTLINE_GITHUB_APP_INSTALLATIONS=acme=12, contoso: 'contoso' is not "
            "owner=installation-id",
        ),
    ],
    ids=["no-key", "bad-id", "key-without-app", "not-a-pem", "bad-installations"],
)
def test_a_github_app_missing_a_piece_is_named(env: dict[str, str], problem: str) -> None:
    [line] = _problems(env)
    assert line.startswith(problem)


def test_a_github_app_key_on_one_line_and_its_installations_are_read() -> None:
    settings = AppSettings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "FAULTLINE_GITHUB_APP_ID": "123456",
            "FAULTLINE_GITHUB_APP_PRIVATE_KEY": PEM_ONE_LINE,
            "FAULTLINE_GITHUB_APP_INSTALLATIONS": " acme=12 , Contoso=345",
        }
    )
    assert settings.github_app_private_key == (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
    )
    assert settings.installations == {"acme": 12, "Contoso": 345}
    assert settings.github_assignment_token_secret is None


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "17"}, timedelta(seconds=17)),
        ({"retry-after": " 5 "}, timedelta(seconds=5)),
        ({"Retry-After": "Fri, 20 Nov 2026 12:01:30 GMT"}, timedelta(seconds=90)),
        ({"Retry-After": "Fri, 20 Nov 2026 11:00:00 GMT"}, timedelta(seconds=1)),
        ({"Retry-After": "soon"}, DEFAULT_RETRY_AFTER),
        ({}, DEFAULT_RETRY_AFTER),
        (None, DEFAULT_RETRY_AFTER),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(
    headers: dict | None, expected: timedelta
) -> None:
    assert retry_after(headers, NOW) == expected


def test_the_largest_failure_notice_fits_a_storage_queue_message() -> None:
    """A notice names its group and carries only bounded fields, so no log line can push it over
    the queue's 64 KiB (base64-encoded, as the host expects)."""
    import base64
    from datetime import UTC, datetime

    from pipeline.messages import FailureNotice

    moment = datetime(2026, 11, 20, tzinfo=UTC)
    notice = FailureNotice(
        fingerprint="f" * 32,
        fingerprint_version=3,
        definition="d" * 63,
        table="T" * 200,
        source="s" * 63,
        count=10**12,
        first_seen=moment,
        last_seen=moment,
        threshold_crossed_at=moment,
        role="r" * 500,
        fields={f"Properties.k{i}": "v" * 400 for i in range(32)},
    )
    encoded = base64.b64encode(notice.model_dump_json().encode())
    assert len(encoded) <= 64 * 1024
