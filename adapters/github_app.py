"""GitHub App authentication: the App's JWT, its bot login, and an installation token per owner.

An organisation installs the App once per account (user or organisation), so a token is kept per
owner: the installation is the one configured for the owner, else found with
`GET /repos/{owner}/{repo}/installation`. Tokens live an hour
(`POST /app/installations/{id}/access_tokens` says when in `expires_at`) and are replaced
`refresh_before` their expiry, so no request is sent with a token about to lapse; a 401 all the
same (a revoked token) makes `token(..., refused=...)` mint another.

githubkit's own `AppInstallationAuthStrategy` is not used: it reads the system clock, renews one
minute before expiry, needs the installation id up front, and keeps its tokens in a cache the
adapter cannot invalidate after a 401. Minting here is one request under a lock per owner, so
concurrent activities in one process share a token rather than each minting its own.

The JWT (RS256, `iat` 60 s in the past against clock drift, `exp` 9 minutes ahead, under GitHub's
10-minute ceiling, `iss` the App id or client id) is made for each App-level request: signing is
cheap and a fresh one never lapses between making and sending. A JWT GitHub refuses (401) may
mean a rotated private key: the key is read again once before the refusal stands.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from githubkit import GitHub, UnauthAuthStrategy
from githubkit.exception import RequestFailed

from pipeline.ports import TrackerRefused

log = logging.getLogger(__name__)

JWT_BACKDATE = timedelta(seconds=60)
JWT_LIFETIME = timedelta(minutes=9)  # from now; GitHub refuses an `exp` over 10 minutes ahead
REFRESH_BEFORE = timedelta(minutes=5)


@dataclass(frozen=True)
class InstallationToken:
    value: str
    expires_at: float  # epoch seconds


class GitHubApp:
    """One GitHub App's credentials for a process: thread-safe, tokens cached per owner.

    `private_key` is the PEM (a `CachedSecret` from Key Vault in Azure; `True` asks it to read
    the secret again). `installations` maps owners to installation ids where they are known;
    other owners' installations are looked up once. `now` is the epoch clock JWTs and expiries
    are measured on."""

    def __init__(
        self,
        app_id: str,
        private_key: Callable[[bool], str],
        base_url: str = "https://api.github.com/",
        *,
        installations: Mapping[str, int] | None = None,
        timeout: float = 20.0,
        now: Callable[[], float] = time.time,
        refresh_before: timedelta = REFRESH_BEFORE,
        ssl_verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.app_id = app_id
        self._ssl_verify = ssl_verify
        self._private_key = private_key
        self._base_url = base_url
        self._timeout = timeout
        self._now = now
        self._refresh_before = refresh_before.total_seconds()
        self._installations = {o.casefold(): i for o, i in (installations or {}).items()}
        self._tokens: dict[str, InstallationToken] = {}
        self._owner_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._bot_login: str | None = None

    def jwt(self, refresh_key: bool = False) -> str:
        now = int(self._now())
        claims = {
            "iat": now - int(JWT_BACKDATE.total_seconds()),
            "exp": now + int(JWT_LIFETIME.total_seconds()),
            "iss": self.app_id,
        }
        try:
            return jwt.encode(claims, self._private_key(refresh_key), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as error:  # not an RSA key in PEM
            raise TrackerRefused(
                401,
                f"the GitHub App {self.app_id}'s private key cannot sign its JWT "
                f"({type(error).__name__}): the secret must hold the .pem GitHub generated",
                what="sign the GitHub App's JWT",
                kind="credentials",
            ) from error

    def bot_login(self) -> str:
        """`<slug>[bot]`, the login the App's installation tokens write issues and comments as
        (`GET /app`, asked once)."""
        with self._lock:
            if self._bot_login is not None:
                return self._bot_login
        app = self._as_app(lambda gh, headers: gh.rest.apps.get_authenticated(headers=headers))
        slug = app.parsed_data.slug
        if not slug:
            raise TrackerRefused(
                200,
                f"GET /app did not name the App {self.app_id}'s slug",
                what="who am I",
                kind="invalid",
            )
        with self._lock:
            self._bot_login = f"{slug}[bot]"
            return self._bot_login

    def token(self, repository: str, *, refused: str | None = None) -> str:
        """An installation token for the repository's owner, valid for `refresh_before` at
        least. `refused` is a token GitHub refused (401): it is replaced, unless a concurrent
        caller has replaced it already."""
        owner = repository.split("/", 1)[0].casefold()
        with self._lock:
            owner_lock = self._owner_locks.setdefault(owner, threading.Lock())
        with owner_lock:
            cached = self._tokens.get(owner)
            if (
                cached is not None
                and cached.value != refused
                and cached.expires_at - self._now() > self._refresh_before
            ):
                return cached.value
            minted = self._mint(repository, owner)
            with self._lock:
                self._tokens[owner] = minted
            return minted.value

    def _mint(self, repository: str, owner: str) -> InstallationToken:
        installation = self._installation(repository, owner)
        response = self._as_app(
            lambda gh, headers: gh.rest.apps.create_installation_access_token(
                installation, headers=headers
            )
        )
        token = response.parsed_data
        expires = datetime.fromisoformat(token.expires_at.replace("Z", "+00:00")).timestamp()
        log.info(
            "minted a GitHub App installation token for %s (installation %d), valid until %s",
            owner,
            installation,
            token.expires_at,
        )
        return InstallationToken(token.token, expires)

    def _installation(self, repository: str, owner: str) -> int:
        with self._lock:
            known = self._installations.get(owner)
        if known is not None:
            return known
        owner_name, _, name = repository.partition("/")
        try:
            found = self._as_app(
                lambda gh, headers: gh.rest.apps.get_repo_installation(
                    owner_name, name, headers=headers
                )
            )
        except RequestFailed as error:
            if error.response.status_code != 404:
                raise
            raise TrackerRefused(
                404,
                f"the GitHub App {self.app_id} is not installed on {owner_name} (or not on "
                f"{repository}): install it there, or name the installation in "
                "FAULTLINE_GITHUB_APP_INSTALLATIONS",
                what=f"find the App's installation for {repository}",
                kind="not-found",
            ) from error
        installation = found.parsed_data.id
        with self._lock:
            self._installations[owner] = installation
        return installation

    def _as_app(self, request: Callable[[GitHub[Any], dict[str, str]], Any]) -> Any:
        """Send an App-level request with a fresh JWT; when GitHub refuses it (or the key
        cannot sign), once more with the private key read again (it may have been rotated)."""
        for attempt in range(2):
            try:
                headers = {"Authorization": f"Bearer {self.jwt(refresh_key=attempt > 0)}"}
            except TrackerRefused:
                if attempt > 0:
                    raise
                continue  # the secret may have been corrected since it was read
            with GitHub(
                UnauthAuthStrategy(),
                base_url=self._base_url,
                auto_retry=False,
                timeout=self._timeout,
                http_cache=False,
                ssl_verify=self._ssl_verify,
            ) as gh:
                try:
                    return request(gh, headers)
                except RequestFailed as error:
                    if error.response.status_code != 401 or attempt > 0:
                        raise
                    log.warning("GitHub refused the App's JWT; reading the private key again")
        raise AssertionError("unreachable")
