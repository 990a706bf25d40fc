"""The Key Vault fake, driven through the real ``SecretClient``.

These prove the client gets through the fake's authentication challenge exactly as it would
against the service, that reads see rotation at once (no restart, no client-side cache), and
that the fake refuses what the service refuses: callers without an RBAC role, disabled secrets.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpResponse
from azure.keyvault.secrets import SecretClient

from tests.fakes.key_vault import (
    READER,
    SECRETS_USER,
    KeyVaultCredential,
    KeyVaultFake,
    ServerError,
    Throttle,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def vault() -> Iterator[KeyVaultFake]:
    with KeyVaultFake() as fake:
        yield fake


def secret_client(vault: KeyVaultFake, **options: Any) -> SecretClient:
    return SecretClient(
        vault.vault_url,
        options.pop("credential", vault.credential),
        connection_verify=vault.ca_path,
        verify_challenge_resource=False,
        **options,
    )


def test_challenge_then_get(vault: KeyVaultFake) -> None:
    version = vault.set_secret("github-token", "ghp_one", content_type="text/plain")
    with secret_client(vault) as client:
        secret = client.get_secret("github-token")
        assert (secret.value, secret.properties.version) == ("ghp_one", version)
        assert secret.properties.content_type == "text/plain"
        assert secret.properties.enabled is True
        assert secret.id == f"{vault.vault_url}secrets/github-token/{version}"
        client.get_secret("github-token")
    # One challenge round trip, then the cached token is reused.
    assert [(r.authorized, r.status) for r in vault.requests] == [
        (False, 401),
        (True, 200),
        (True, 200),
    ]
    assert all(r.api_version for r in vault.requests)
    assert [(t.scopes, t.tenant_id) for t in vault.credential.requests] == [
        (("https://vault.azure.net/.default",), vault.tenant_id)
    ]
    assert vault.reads("github-token") == 2


def test_versions_and_rotation(vault: KeyVaultFake) -> None:
    first = vault.set_secret("github-token", "ghp_one")
    with secret_client(vault) as client:
        assert client.get_secret("github-token").value == "ghp_one"
        second = vault.set_secret("github-token", "ghp_two")
        assert client.get_secret("github-token").value == "ghp_two"
        assert client.get_secret("github-token", first).value == "ghp_one"
        assert client.get_secret("github-token", second).value == "ghp_two"
        listed = client.list_properties_of_secret_versions("github-token")
        assert sorted(p.version or "" for p in listed) == sorted([first, second])


def test_unknown_secret_or_version_is_404(vault: KeyVaultFake) -> None:
    vault.set_secret("github-token", "ghp_one")
    with secret_client(vault) as client:
        with pytest.raises(ResourceNotFoundError) as missing:
            client.get_secret("nope")
        assert missing.value.error is not None
        assert missing.value.error.code == "SecretNotFound"
        assert missing.value.status_code == 404
        with pytest.raises(ResourceNotFoundError):
            client.get_secret("github-token", "0" * 32)


def test_foreign_token_is_refused(vault: KeyVaultFake) -> None:
    vault.set_secret("github-token", "ghp_one")
    stranger = KeyVaultCredential()  # its tokens were not issued for this vault
    with (
        secret_client(vault, credential=stranger) as client,
        pytest.raises(ClientAuthenticationError),
    ):
        client.get_secret("github-token")


def test_faults(vault: KeyVaultFake) -> None:
    vault.set_secret("github-token", "ghp_one")
    with secret_client(vault, retry_total=0) as client:
        client.get_secret("github-token")  # past the challenge: faults hit real reads
        vault.fail_next(ServerError(503))
        with pytest.raises(HttpResponseError) as failed:
            client.get_secret("github-token")
        assert failed.value.status_code == 503
        vault.fail_next(Throttle(retry_after=2))
        with pytest.raises(HttpResponseError) as throttled:
            client.get_secret("github-token")
        response = cast(HttpResponse, throttled.value.response)
        assert response.headers["Retry-After"] == "2"
    # azure-core's default policy retries a 5xx, the first time without waiting.
    vault.fail_next(ServerError(500))
    with secret_client(vault) as client:
        assert client.get_secret("github-token").value == "ghp_one"
    assert [r.status for r in vault.requests if r.authorized][-2:] == [500, 200]


def _forbidden(client: SecretClient, *args: str) -> dict[str, Any]:
    with pytest.raises(HttpResponseError) as refused:
        client.get_secret(*args)
    assert refused.value.status_code == 403
    assert refused.value.error is not None and refused.value.error.code == "Forbidden"
    return cast(dict[str, Any], cast(HttpResponse, refused.value.response).json()["error"])


def test_a_caller_without_an_rbac_role_is_forbidden(vault: KeyVaultFake) -> None:
    vault.set_secret("github-token", "ghp_one")
    outsider = vault.add_credential()  # of the vault's tenant, so it gets past the challenge
    with secret_client(vault, credential=outsider) as client:
        error = _forbidden(client, "github-token")
        assert error["innererror"] == {"code": "ForbiddenByRbac"}
        message = error["message"]
        assert message.startswith("Caller is not authorized to perform action on resource.\r\n")
        assert f"oid={outsider.object_id}" in message
        assert "Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'" in message
        assert "DecisionReason: 'DeniedWithNoValidRBAC'" in message
        _forbidden(client, "no-such-secret")  # authorization comes before the lookup
        vault.assign_role(outsider, READER)  # metadata, never values
        assert len(list(client.list_properties_of_secret_versions("github-token"))) == 1
        _forbidden(client, "github-token")
        vault.assign_role(outsider, SECRETS_USER)
        assert client.get_secret("github-token").value == "ghp_one"
    vault.assign_role(vault.credential, None)  # a role removed takes effect on the next read
    with secret_client(vault) as client:
        _forbidden(client, "github-token")
    with pytest.raises(ValueError, match="role must be one of"):
        vault.assign_role(outsider, "Owner")


def test_a_disabled_secret_version_is_refused(vault: KeyVaultFake) -> None:
    first = vault.set_secret("github-token", "ghp_one")
    second = vault.set_secret("github-token", "ghp_two", enabled=False)
    with secret_client(vault) as client:
        error = _forbidden(client, "github-token")
        assert error == {
            "code": "Forbidden",
            "message": "Operation get is not allowed on a disabled secret.",
            "innererror": {"code": "SecretDisabled"},
        }
        _forbidden(client, "github-token", second)
        assert client.get_secret("github-token", first).value == "ghp_one"
        listed = {
            p.version: p.enabled for p in client.list_properties_of_secret_versions("github-token")
        }
        assert listed == {first: True, second: False}
        vault.update_secret("github-token", enabled=True)
        assert client.get_secret("github-token").value == "ghp_two"
        vault.update_secret("github-token", first, enabled=False)
        _forbidden(client, "github-token", first)


def test_expired_and_not_yet_valid_secrets_are_returned_with_their_dates(
    vault: KeyVaultFake,
) -> None:
    """The service serves them: the caller has to read ``expires_on``/``not_before`` itself."""
    now = datetime.now(UTC).replace(microsecond=0)
    vault.set_secret("expired", "ghp_old", expires_on=now - timedelta(days=1))
    vault.set_secret("early", "ghp_new", not_before=now + timedelta(days=1))
    with secret_client(vault) as client:
        expired = client.get_secret("expired")
        assert (expired.value, expired.properties.expires_on) == (
            "ghp_old",
            now - timedelta(days=1),
        )
        early = client.get_secret("early")
        assert (early.value, early.properties.not_before) == ("ghp_new", now + timedelta(days=1))
        assert client.get_secret("early").properties.expires_on is None


def test_each_version_keeps_its_own_attributes(vault: KeyVaultFake) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    first = vault.set_secret("github-token", "ghp_one", expires_on=soon)
    second = vault.set_secret("github-token", "ghp_two", content_type="text/plain")
    with secret_client(vault) as client:
        old, new = client.get_secret("github-token", first), client.get_secret("github-token")
        assert (old.properties.expires_on, old.properties.content_type) == (soon, None)
        assert (new.properties.version, new.properties.expires_on) == (second, None)
        assert new.properties.content_type == "text/plain"
