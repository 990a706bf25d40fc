"""The GitHub credential: from Key Vault (managed identity) in Azure, from the environment locally.

Read through a small cache so an activity burst does not hammer the vault; `refresh=True` (after a
401) re-reads it, so a rotated secret takes effect without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

CACHE_SECONDS = 15 * 60


class SecretUnavailable(RuntimeError):
    """No GitHub credential is configured, or the vault does not hold it."""


class CachedSecret:
    """A secret read through `fetch`, kept for `ttl` seconds, re-read on demand."""

    def __init__(self, fetch: Callable[[], str], ttl: float = CACHE_SECONDS) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, refresh: bool = False) -> str:
        with self._lock:
            stale = time.monotonic() - self._read_at > self._ttl
            if self._value is None or refresh or stale:
                self._value = self._fetch()
                self._read_at = time.monotonic()
            return self._value


def key_vault_secret(
    vault_url: str,
    name: str,
    credential: TokenCredential,
    *,
    connection_verify: str | bool = True,
    verify_challenge_resource: bool = True,
) -> CachedSecret:
    """`verify_challenge_resource=False` only for a vault not under *.vault.azure.net (tests)."""
    client = SecretClient(
        vault_url,
        credential,
        connection_verify=connection_verify,
        verify_challenge_resource=verify_challenge_resource,
    )

    def fetch() -> str:
        try:
            value = client.get_secret(name).value
        except ResourceNotFoundError:
            raise SecretUnavailable(f"secret {name} does not exist in {vault_url}") from None
        if not value:
            raise SecretUnavailable(f"secret {name} in {vault_url} is empty")
        return value

    return CachedSecret(fetch)


def environment_secret(value: str | None, setting: str) -> CachedSecret:
    def fetch() -> str:
        if not value:
            raise SecretUnavailable(
                f"no GitHub credential: set {setting}, or FAULTLINE_KEY_VAULT_URL and "
                "FAULTLINE_GITHUB_TOKEN_SECRET"
            )
        return value

    return CachedSecret(fetch)
