"""The GitHub credential: from Key Vault (managed identity) in Azure, from the environment locally.

Read through a small cache so an activity burst does not hammer the vault; `refresh=True` (after a
401) re-reads it, so a rotated secret takes effect without a restart. A value is never served
past the secret's own expiry (`expires_on`), and a read that fails leaves nothing cached, so the
next call asks the vault again and picks up a secret rotated in the meantime.

The vault serves expired and not-yet-valid secrets ("a secret's get operation will work for
not-yet-valid and expired secrets": Key Vault's "About secrets", date-time controlled
operations); checking `expires_on`/`not_before` is the caller's job, done here.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from pipeline.ports import SecretUnavailable

CACHE_SECONDS = 15 * 60
SECRETS_USER_ROLE = "Key Vault Secrets User"


@dataclass(frozen=True)
class SecretValue:
    """A secret's value and the moment it stops being valid, if it has one."""

    value: str
    expires_on: datetime | None = None


class CachedSecret:
    """A secret read through `fetch`, kept for `ttl` seconds (never past its expiry), re-read on
    demand and after any failed read."""

    def __init__(
        self,
        fetch: Callable[[], str | SecretValue],
        ttl: float = CACHE_SECONDS,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._now = now
        self._value: SecretValue | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, refresh: bool = False) -> str:
        with self._lock:
            cached = self._value
            stale = time.monotonic() - self._read_at > self._ttl
            expired = (
                cached is not None
                and cached.expires_on is not None
                and (cached.expires_on <= self._now())
            )
            if cached is None or refresh or stale or expired:
                self._value = None  # a failed read must not leave the old value to be served
                fetched = self._fetch()
                cached = fetched if isinstance(fetched, SecretValue) else SecretValue(fetched)
                self._value = cached
                self._read_at = time.monotonic()
            return cached.value


def key_vault_secret(
    vault_url: str,
    name: str,
    credential: TokenCredential,
    *,
    connection_verify: str | bool = True,
    verify_challenge_resource: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CachedSecret:
    """`verify_challenge_resource=False` only for a vault not under *.vault.azure.net (tests).
    The vault's SDK is imported here, on the first secret a process reads: the timer and the
    query triggers build these services but read no secret, and must not pay for its import."""
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(
        vault_url,
        credential,
        connection_verify=connection_verify,
        verify_challenge_resource=verify_challenge_resource,
    )

    def unavailable(why: str, reason: str) -> SecretUnavailable:
        return SecretUnavailable(
            f"secret {name} in {vault_url} {why}", reason=reason, vault_url=vault_url, name=name
        )

    def fetch() -> SecretValue:
        try:
            secret = client.get_secret(name)
        except ResourceNotFoundError:
            raise SecretUnavailable(
                f"secret {name} does not exist in {vault_url}",
                reason="missing",
                vault_url=vault_url,
                name=name,
            ) from None
        except HttpResponseError as error:
            if error.status_code == 403:
                raise _forbidden(error, unavailable) from error
            raise
        properties = secret.properties
        moment = now()
        if properties.enabled is False:
            raise unavailable("is disabled", "disabled")
        if properties.not_before is not None and properties.not_before > moment:
            raise unavailable(
                f"is not valid until {properties.not_before.isoformat()} (not_before); "
                "the version was set to start later",
                "not-yet-valid",
            )
        if properties.expires_on is not None and properties.expires_on <= moment:
            raise unavailable(
                f"expired at {properties.expires_on.isoformat()}: rotate it "
                "(set a new version with a later expiry)",
                "expired",
            )
        if not secret.value:
            raise unavailable("is empty", "empty")
        return SecretValue(secret.value, properties.expires_on)

    return CachedSecret(fetch, now=now)


def _forbidden(
    error: HttpResponseError, unavailable: Callable[[str, str], SecretUnavailable]
) -> SecretUnavailable:
    """Key Vault's 403s: `SecretDisabled`, `ForbiddenByRbac`, or another (firewall, policies)."""
    code = error.error.code if error.error else None
    inner = (error.error.innererror or {}).get("code") if error.error else None
    message = (error.error.message if error.error else None) or str(error.message or "")
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    if inner == "SecretDisabled" or "disabled secret" in message:
        return unavailable("is disabled: enable it or set a new version", "disabled")
    if inner == "ForbiddenByRbac":
        principal = re.search(r"oid=([0-9a-fA-F-]+)", message)
        action = re.search(r"Action: '([^']+)'", message)
        who = f"principal {principal.group(1)}" if principal else "this identity"
        return unavailable(
            f"may not be read by {who} (ForbiddenByRbac"
            + (f", action {action.group(1)}" if action else "")
            + f"): assign it the '{SECRETS_USER_ROLE}' role on the vault or the secret",
            "forbidden",
        )
    return unavailable(
        f"may not be read ({code or 'Forbidden'}/{inner or '-'}): {first_line[:200]}", "forbidden"
    )


REFRESH_AT_MOST_EVERY = 60.0


def refreshed_at_most_every(
    secret: Callable[[bool], str], seconds: float = REFRESH_AT_MOST_EVERY
) -> Callable[[bool], str]:
    """`secret`, whose `refresh=True` reads the vault again at most once every `seconds`: for a
    secret that anyone can ask to be refreshed (a webhook delivery whose signature does not
    verify may be signed with a rotated secret, or be forged), so that forgeries cannot turn
    each request into a vault read."""
    lock = threading.Lock()
    last = -math.inf

    def read(refresh: bool = False) -> str:
        nonlocal last
        with lock:
            allowed = refresh and time.monotonic() - last >= seconds
            if allowed:
                last = time.monotonic()
        return secret(allowed)

    return read


def environment_secret(
    value: str | None,
    setting: str,
    secret_setting: str = "FAULTLINE_GITHUB_TOKEN_SECRET",
    tracker: str = "GitHub",
) -> CachedSecret:
    """`value` from the environment (local runs); `secret_setting` names where Key Vault would
    hold it, and `tracker` whose credential it is."""

    def fetch() -> str:
        if not value:
            raise SecretUnavailable(
                f"no {tracker} credential: set {setting}, or FAULTLINE_KEY_VAULT_URL and "
                f"{secret_setting}",
                reason="not-configured",
                name=setting,
            )
        return value

    return CachedSecret(fetch)


def webhook_secret_variable(name: str) -> str:
    """The environment variable a webhook secret is read from without Key Vault (local runs):
    `FAULTLINE_WEBHOOK_SECRET_<NAME>`, upper case, `-` as `_`."""
    return "FAULTLINE_WEBHOOK_SECRET_" + name.upper().replace("-", "_")


class WebhookSecrets:
    """Alert webhooks' credentials by secret name, each read through its own cache (a rotated
    secret is picked up within `CACHE_SECONDS`, or at once after a failed check's `refresh`):
    from Key Vault when a vault is configured, else from `webhook_secret_variable(name)`."""

    def __init__(self, read: Callable[[str], CachedSecret]) -> None:
        self._read = read
        self._secrets: dict[str, CachedSecret] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        with self._lock:
            secret = self._secrets.get(name)
            if secret is None:
                secret = self._secrets[name] = self._read(name)
        return secret()

    @classmethod
    def from_vault(cls, vault_url: str, credential: TokenCredential) -> WebhookSecrets:
        return cls(lambda name: key_vault_secret(vault_url, name, credential))

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> WebhookSecrets:
        def read(name: str) -> CachedSecret:
            variable = webhook_secret_variable(name)

            def fetch() -> str:
                value = env.get(variable)
                if not value:
                    raise SecretUnavailable(
                        f"webhook secret {name}: set {variable}, or FAULTLINE_KEY_VAULT_URL "
                        "with the secret in that vault",
                        reason="not-configured",
                        name=variable,
                    )
                return value

            return CachedSecret(fetch)

        return cls(read)
