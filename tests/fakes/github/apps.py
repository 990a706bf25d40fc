"""GitHub Apps in the fake: the App's JWT, its installations, and the installation tokens it mints.

As strict as GitHub, each rule from the page it follows:

- App-level endpoints (``GET /app``, ``GET /repos/{owner}/{repo}/installation``,
  ``POST /app/installations/{id}/access_tokens``) take only a JWT, sent as ``Bearer``: RS256,
  signed with the App's private key, ``iss`` its id or client id, ``iat`` not in the future
  beyond ``CLOCK_SKEW``, ``exp`` in the future and at most 10 minutes ahead
  (https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app).
  Anything else is 401 with GitHub's own messages ("A JSON web token could not be decoded",
  "'Expiration time' claim ('exp') is too far in the future": octokit/auth-app.js#698,
  actions/create-github-app-token#153, sigmavirus24/github3.py#1050).
- A repository's installation is 404 when the App is not installed on its owner
  (https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app).
- Installation tokens expire an hour after minting, as ``expires_at`` says
  (https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app); the
  server refuses an expired or revoked one with 401 "Bad credentials", one installation's
  token sees only its owner's repositories (404 elsewhere, as for a private repository), and
  an installation's tokens share its rate limits, so minting another resets nothing
  (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api, "Primary rate
  limit for GitHub App installations").
- Installation tokens act as ``<slug>[bot]``: they write issues and comments as the bot, and are
  refused ``GET /user`` ("Resource not accessible by integration", in ``handlers``).
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github.clock import FakeClock
from tests.fakes.github.payloads import DOCS, HTML, ApiError, Payloads, Result, _timestamp
from tests.fakes.github.state import Access, State, User

CLOCK_SKEW = 30.0  # seconds an `iat` may lie ahead of GitHub's clock
JWT_MAX_LIFETIME = 600.0  # `exp` at most 10 minutes ahead
TOKEN_LIFETIME = 3600.0
PERMISSIONS = {"issues": "write", "metadata": "read"}
_UNDECODABLE = "A JSON web token could not be decoded"
_EXP_INVALID = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)
_EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
_IAT_INVALID = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was "
    "issued"
)


@dataclass
class App:
    """A registered App: what its owner downloads (``private_key``) and what GitHub keeps."""

    id: int
    client_id: str
    slug: str
    private_key: str
    public_key: rsa.RSAPublicKey
    bot: User
    created_at: float
    installations: dict[str, int] = field(default_factory=dict)  # lower-case owner -> id
    owners: dict[int, str] = field(default_factory=dict)  # id -> owner as spelled


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    """The key as GitHub hands it out: PKCS#1 PEM (``BEGIN RSA PRIVATE KEY``)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


class Apps:
    """The Apps registered with the fake and the endpoints that take their JWT."""

    def __init__(self, state: State, clock: FakeClock, payloads: Payloads) -> None:
        self._state = state
        self._clock = clock
        self._payloads = payloads
        self.apps: list[App] = []

    def register(self, slug: str, bot: User) -> App:
        key = new_key()
        app = App(
            self._state.new_id(),
            "Iv23li" + secrets.token_hex(7),
            slug,
            pem(key),
            key.public_key(),
            bot,
            self._clock.now(),
        )
        self.apps.append(app)
        return app

    def install(self, app: App, owner: str) -> int:
        installation = self._state.new_id()
        app.installations[owner.lower()] = installation
        app.owners[installation] = owner
        return installation

    def authenticate(self, token: str | None) -> App:
        """The App whose valid JWT this is, or GitHub's 401."""
        if token is None:
            raise ApiError(401, "Requires authentication")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise ApiError(401, _UNDECODABLE) from None
        issuer = str(claims.get("iss", ""))
        app = next((a for a in self.apps if issuer in (str(a.id), a.client_id)), None)
        if app is None or header.get("alg") != "RS256":
            raise ApiError(401, _UNDECODABLE)
        try:
            jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise ApiError(401, _UNDECODABLE) from None
        now = self._clock.now()
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp <= now:
            raise ApiError(401, _EXP_INVALID)
        if exp > now + JWT_MAX_LIFETIME:
            raise ApiError(401, _EXP_TOO_FAR)
        if not isinstance(iat, int) or iat > now + CLOCK_SKEW:
            raise ApiError(401, _IAT_INVALID)
        return app

    def get_app(self, app: App) -> Result:
        return 200, self._app_payload(app), {}

    def repository_installation(self, app: App, owner: str, repo: str) -> Result:
        repository = self._state.repositories.get(f"{owner}/{repo}".lower())
        installation = app.installations.get(owner.lower())
        if repository is None or installation is None:
            raise ApiError(
                404,
                "Not Found",
                f"{DOCS}/apps/apps#get-a-repository-installation-for-the-authenticated-app",
            )
        return 200, self._installation_payload(app, installation), {}

    def access_token(self, app: App, installation: int, body: Any) -> Result:
        if installation not in app.owners:
            raise ApiError(
                404,
                "Not Found",
                f"{DOCS}/apps/apps#create-an-installation-access-token-for-an-app",
            )
        if body not in (None, {}):
            raise ApiError(422, "This fake mints tokens for the whole installation only")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
        expires_at = float(int(self._clock.now() + TOKEN_LIFETIME))
        self._state.actors[token] = app.bot
        self._state.access[token] = Access(
            app=True,
            expires_at=expires_at,
            owner=app.owners[installation],
            installation=installation,
        )
        payload = {
            "token": token,
            "expires_at": _timestamp(expires_at),
            "permissions": PERMISSIONS,
            "repository_selection": "all",
        }
        return 201, payload, {}

    def _app_payload(self, app: App) -> dict[str, Any]:
        owner = User(app.slug + "-owner", app.id + 1)
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": f"A_kwDO{app.id:08d}",
            "client_id": app.client_id,
            "owner": self._payloads.user(owner),
            "name": app.slug.title(),
            "description": "Turns production failures into issues",
            "external_url": "https://example.com/faultline",
            "html_url": f"{HTML}/apps/{app.slug}",
            "created_at": _timestamp(app.created_at),
            "updated_at": _timestamp(app.created_at),
            "permissions": PERMISSIONS,
            "events": [],
        }

    def _installation_payload(self, app: App, installation: int) -> dict[str, Any]:
        owner = app.owners[installation]
        account = User(owner, installation + 1, "Organization")
        api = self._payloads._api()
        return {
            "id": installation,
            "account": self._payloads.user(account),
            "repository_selection": "all",
            "access_tokens_url": f"{api}/app/installations/{installation}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": f"{HTML}/organizations/{owner}/settings/installations/{installation}",
            "app_id": app.id,
            "client_id": app.client_id,
            "target_id": account.id,
            "target_type": "Organization",
            "permissions": PERMISSIONS,
            "events": [],
            "created_at": _timestamp(app.created_at),
            "updated_at": _timestamp(app.created_at),
            "single_file_name": None,
            "app_slug": app.slug,
            "suspended_by": None,
            "suspended_at": None,
        }
