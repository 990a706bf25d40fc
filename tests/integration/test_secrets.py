"""The GitHub credential from Key Vault through the real SecretClient: cached, refreshed on 401."""

from __future__ import annotations

import pytest

from adapters.github import GitHubIssues
from adapters.secrets import environment_secret, key_vault_secret
from pipeline.ports import SecretUnavailable
from tests.fakes.github import GitHubFake
from tests.fakes.key_vault import KeyVaultFake

pytestmark = pytest.mark.integration


@pytest.fixture
def vault():
    with KeyVaultFake() as fake:
        yield fake


def _secret(vault: KeyVaultFake, name: str = "github-token"):
    return key_vault_secret(
        vault.vault_url,
        name,
        vault.credential,
        connection_verify=vault.ca_path,
        verify_challenge_resource=False,
    )


def test_the_secret_is_read_once_then_served_from_cache(vault) -> None:
    vault.set_secret("github-token", "first")
    secret = _secret(vault)
    assert [secret(), secret(), secret()] == ["first"] * 3
    assert vault.reads("github-token") == 1


def test_refresh_reads_the_rotated_version(vault) -> None:
    vault.set_secret("github-token", "first")
    secret = _secret(vault)
    assert secret() == "first"
    vault.set_secret("github-token", "second")
    assert secret() == "first"
    assert secret(refresh=True) == "second"


def test_a_missing_secret_says_which_and_where(vault) -> None:
    with pytest.raises(SecretUnavailable, match="secret github-token does not exist in https://"):
        _secret(vault)()


def test_a_rotated_token_is_picked_up_when_github_answers_401(vault) -> None:
    with GitHubFake() as github:
        github.add_repository("contoso", "shop")
        vault.set_secret("github-token", "revoked-token")
        issues = GitHubIssues(_secret(vault), github.base_url, timeout=5)
        vault.set_secret("github-token", github.user_token)
        created = issues.create("contoso/shop", "[x] boom", "body", ["faultline"])
        assert created.number == 1
        assert [c.status for c in github.calls("POST", "/repos/contoso/shop/issues")] == [401, 201]
        assert vault.reads("github-token") == 2


def test_without_a_vault_the_environment_token_is_required() -> None:
    assert environment_secret("tok", "FAULTLINE_GITHUB_TOKEN")() == "tok"
    with pytest.raises(SecretUnavailable, match="set FAULTLINE_GITHUB_TOKEN"):
        environment_secret(None, "FAULTLINE_GITHUB_TOKEN")()
