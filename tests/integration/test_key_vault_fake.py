"""The Key Vault fake, driven through the real ``SecretClient``.

These prove the client gets through the fake's authentication challenge exactly as it would
against the service, and that reads see rotation at once (no restart, no client-side cache).
"""

from collections.abc import Iterator
from typing import Any, cast

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpResponse
from azure.keyvault.secrets import SecretClient

from tests.fakes.key_vault import KeyVaultCredential, KeyVaultFake, ServerError, Throttle

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
