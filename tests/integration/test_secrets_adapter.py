"""`key_vault_secret` through the real SecretClient against the Key Vault fake: what it refuses to
serve as the GitHub token, and why it says so.

The vault serves expired and not-yet-valid secrets with their dates (checking them is the
caller's job), refuses a disabled version (403 `SecretDisabled`) and a caller without an RBAC role
(403 `ForbiddenByRbac`). Each becomes `SecretUnavailable` naming the vault, the secret and the
reason, and nothing stays cached, so the next call sees a rotated or re-enabled secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError

from adapters.github import GitHubIssues
from adapters.secrets import CachedSecret, key_vault_secret
from pipeline.ports import SecretUnavailable
from tests.fakes.key_vault import READER, KeyVaultCredential, KeyVaultFake

pytestmark = pytest.mark.integration

NAME = "github-token"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def vault() -> Iterator[KeyVaultFake]:
    with KeyVaultFake() as fake:
        yield fake


def secret(
    vault: KeyVaultFake, clock: Clock | None = None, credential: KeyVaultCredential | None = None
) -> CachedSecret:
    return key_vault_secret(
        vault.vault_url,
        NAME,
        credential or vault.credential,
        connection_verify=vault.ca_path,
        verify_challenge_resource=False,
        now=clock or Clock(),
    )


def unavailable(read: CachedSecret, refresh: bool = False) -> SecretUnavailable:
    with pytest.raises(SecretUnavailable) as caught:
        read(refresh)
    assert not isinstance(caught.value, HttpResponseError)
    return caught.value


def test_an_expired_secret_is_not_served_and_a_rotated_one_is(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_old", expires_on=NOW - timedelta(days=1))
    read = secret(vault)
    error = unavailable(read)
    assert (error.reason, error.vault_url, error.name) == ("expired", vault.vault_url, NAME)
    assert str(error) == (
        f"secret {NAME} in {vault.vault_url} expired at 2026-11-19T09:00:00+00:00: rotate it "
        "(set a new version with a later expiry)"
    )
    assert "ghp_old" not in str(error)
    vault.set_secret(NAME, "ghp_new", expires_on=NOW + timedelta(days=30))
    assert read() == "ghp_new"  # nothing was cached: the next call read again
    assert vault.reads(NAME) == 2


def test_a_secret_not_yet_valid_is_not_served_until_it_is(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_next", not_before=NOW + timedelta(hours=1))
    clock = Clock()
    read = secret(vault, clock)
    error = unavailable(read)
    assert error.reason == "not-yet-valid"
    assert "is not valid until 2026-11-20T10:00:00+00:00 (not_before)" in str(error)
    clock.now += timedelta(hours=1)
    assert read() == "ghp_next"


def test_a_cached_value_is_not_served_past_its_expiry(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_one", expires_on=NOW + timedelta(minutes=5))
    clock = Clock()
    read = secret(vault, clock)
    assert read() == "ghp_one"
    clock.now += timedelta(minutes=4)
    assert read() == "ghp_one"  # cached (15 minutes) and still valid
    assert vault.reads(NAME) == 1
    clock.now += timedelta(minutes=1)
    assert unavailable(read).reason == "expired"  # asked again at its expiry, not 15 min on
    vault.set_secret(NAME, "ghp_two")
    assert read() == "ghp_two"
    assert vault.reads(NAME) == 3


def test_a_disabled_secret_says_so(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_one", enabled=False)
    error = unavailable(secret(vault))
    assert (error.reason, str(error)) == (
        "disabled",
        f"secret {NAME} in {vault.vault_url} is disabled: enable it or set a new version",
    )
    assert isinstance(error.__cause__, HttpResponseError)  # the service's answer, for the log


def test_a_failed_refresh_does_not_leave_the_old_value_to_be_served(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_one")
    read = secret(vault)
    assert read() == "ghp_one"
    vault.update_secret(NAME, enabled=False)
    assert unavailable(read, refresh=True).reason == "disabled"
    assert unavailable(read).reason == "disabled"  # read again, not the cached ghp_one
    vault.update_secret(NAME, enabled=True)
    assert read() == "ghp_one"
    assert vault.reads(NAME) == 4


@pytest.mark.parametrize("role", [None, READER], ids=["no-role", "reader"])
def test_a_missing_rbac_role_names_the_role_to_grant(vault: KeyVaultFake, role: str | None) -> None:
    vault.set_secret(NAME, "ghp_one")
    outsider = vault.add_credential(role)
    error = unavailable(secret(vault, credential=outsider))
    assert error.reason == "forbidden"
    assert str(error) == (
        f"secret {NAME} in {vault.vault_url} may not be read by principal {outsider.object_id} "
        "(ForbiddenByRbac, action Microsoft.KeyVault/vaults/secrets/getSecret/action): assign "
        "it the 'Key Vault Secrets User' role on the vault or the secret"
    )


def test_github_never_sees_an_expired_token(vault: KeyVaultFake) -> None:
    vault.set_secret(NAME, "ghp_old", expires_on=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(SecretUnavailable, match="expired at"):
        GitHubIssues(
            key_vault_secret(
                vault.vault_url,
                NAME,
                vault.credential,
                connection_verify=vault.ca_path,
                verify_challenge_resource=False,
            ),
            "http://127.0.0.1:9/",  # never reached
        )
