"""Local HTTPS fake of Azure Key Vault's secrets API for the real ``SecretClient``.

It exists so tests can prove the app reads its GitHub tokens at run time (and so picks up a
rotated secret without a restart) through the same challenge-based authentication the service
uses: unauthenticated requests get the 401 challenge naming tenant and resource, and only tokens
issued by the fake's credential are accepted.
"""

import functools
import json
import ssl
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import trustme
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.keyvault.secrets._shared import http_challenge_cache
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = [
    "Fault",
    "KeyVaultCredential",
    "KeyVaultFake",
    "RecordedRequest",
    "ServerError",
    "Throttle",
    "TokenRequest",
]

_FAR_FUTURE = 4_102_444_800  # 2100-01-01T00:00:00Z: the token never needs refreshing in a test.
_RESOURCE = "https://vault.azure.net"
_NOT_FOUND_HELP = (
    "If you recently deleted this secret you may be able to recover it using the correct"
    " recovery command. For help resolving this issue, please see"
    " https://go.microsoft.com/fwlink/?linkid=2125182"
)


@dataclass(frozen=True)
class TokenRequest:
    """What the client asked the credential for: the scope and tenant come from the challenge."""

    scopes: tuple[str, ...]
    tenant_id: str | None


class KeyVaultCredential:
    """Token credential whose tokens the fake accepts; records each token request."""

    def __init__(self) -> None:
        self.requests: list[TokenRequest] = []
        self.issued: set[str] = set()
        self._lock = threading.Lock()

    def _issue(self, scopes: tuple[str, ...], tenant_id: str | None) -> str:
        token = f"kv-{uuid.uuid4().hex}"
        with self._lock:
            self.requests.append(TokenRequest(scopes, tenant_id))
            self.issued.add(token)
        return token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._issue(scopes, tenant_id), _FAR_FUTURE)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        tenant_id = (options or {}).get("tenant_id")
        return AccessTokenInfo(self._issue(scopes, tenant_id), _FAR_FUTURE)


@dataclass(frozen=True)
class ServerError:
    """Answer the next authenticated request with this 5xx status."""

    status: int = 500


@dataclass(frozen=True)
class Throttle:
    """Answer the next authenticated request with 429 and ``Retry-After``."""

    retry_after: int = 1


Fault = ServerError | Throttle


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; ``authorized`` is False for challenge round trips."""

    method: str
    path: str
    api_version: str | None
    authorized: bool
    status: int


@dataclass(frozen=True)
class _Version:
    id: str
    value: str
    created: int
    content_type: str | None
    tags: dict[str, str] = field(default_factory=dict)


class _ServiceError(Exception):
    """An error answer in Key Vault's ``{"error": {"code", "message"}}`` shape."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}


_ROUTES = Map(
    [
        Rule("/secrets/<name>", endpoint="latest", methods=["GET"]),
        Rule("/secrets/<name>/", endpoint="latest", methods=["GET"]),
        Rule("/secrets/<name>/versions", endpoint="versions", methods=["GET"]),
        Rule("/secrets/<name>/<version>", endpoint="version", methods=["GET"]),
    ],
    strict_slashes=False,
)


@functools.cache
def _test_pki() -> tuple[trustme.CA, trustme.LeafCert]:
    """One CA per process: generating keys dominates start-up time otherwise."""
    ca = trustme.CA()
    return ca, ca.issue_cert("127.0.0.1", "localhost")


class KeyVaultFake:
    """HTTPS Key Vault on 127.0.0.1 for ``SecretClient``.

    Build the client as ``SecretClient(fake.vault_url, fake.credential,
    connection_verify=fake.ca_path, verify_challenge_resource=False)``; the last argument is
    needed because the vault's host is not under ``vault.azure.net``. The SDK caches the
    challenge per host and port for the whole process, so only the first request to a new fake
    is challenged; later clients go straight to the credential.
    """

    vault_url: str
    ca_path: str

    def __init__(self, tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47") -> None:
        self.tenant_id = tenant_id
        self.credential = KeyVaultCredential()
        self.requests: list[RecordedRequest] = []
        self._secrets: dict[str, list[_Version]] = {}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._created = 1_790_000_000  # epoch seconds; each version is one second newer
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        ca, certificate = _test_pki()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self._tempdir = tempfile.TemporaryDirectory(prefix="key-vault-fake-")
        self.ca_path = str(Path(self._tempdir.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=context)
        self.vault_url = f"https://127.0.0.1:{self._server.server_port}/"
        # A challenge cached for an earlier fake on this port would skip this fake's challenge.
        http_challenge_cache.remove_challenge_for_url(self.vault_url)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="key-vault-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Add a new current version of the secret (rotation) and return its version id."""
        version = uuid.uuid4().hex
        with self._lock:
            self._created += 1
            entry = _Version(version, value, self._created, content_type, dict(tags or {}))
            self._secrets.setdefault(name.lower(), []).append(entry)
        return version

    def fail_next(self, fault: Fault) -> None:
        """Queue a fault; each authenticated request consumes the oldest queued one."""
        with self._lock:
            self._faults.append(fault)

    def reads(self, name: str) -> int:
        """Authorized requests that read this secret (any version), whatever they answered."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.authorized and f"{r.path.lower()}/".startswith(f"/secrets/{name.lower()}/")
            )

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        authorized = token in self.credential.issued
        try:
            status, payload = self._answer(request, authorized)
            headers: dict[str, str] = {}
        except _ServiceError as error:
            status, headers = error.status, error.headers
            payload = {"error": {"code": error.code, "message": str(error)}}
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.args.get("api-version"),
                    authorized,
                    status,
                )
            )
        response = Response(
            json.dumps(payload),
            status=status,
            headers=headers,
            content_type="application/json; charset=utf-8",
        )
        return response(environ, start_response)

    def _answer(self, request: Request, authorized: bool) -> tuple[int, dict[str, Any]]:
        if not authorized:
            raise _ServiceError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                {
                    "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/'
                    f'{self.tenant_id}", resource="{_RESOURCE}"'
                },
            )
        if not request.args.get("api-version"):
            raise _ServiceError(400, "BadParameter", "The 'api-version' parameter is missing.")
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        match fault:
            case ServerError(status=status):
                raise _ServiceError(status, "InternalServerError", "An unexpected error occurred.")
            case Throttle(retry_after=seconds):
                raise _ServiceError(
                    429,
                    "Throttled",
                    "Request was not processed because too many requests were received.",
                    {"Retry-After": str(seconds)},
                )
        try:
            endpoint, args = _ROUTES.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            raise _ServiceError(
                exc.code or 404, "NotFound", "The requested path was not found."
            ) from None
        name = args["name"]
        with self._lock:
            versions = list(self._secrets.get(name.lower(), []))
        if not versions:
            raise _ServiceError(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key"
                f" vault. {_NOT_FOUND_HELP}",
            )
        if endpoint == "versions":
            return 200, {"value": [self._item(name, v) for v in versions], "nextLink": None}
        if endpoint == "latest":
            return 200, self._bundle(name, versions[-1])
        for version in versions:
            if version.id == args["version"].lower():
                return 200, self._bundle(name, version)
        raise _ServiceError(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {name}/{args['version']} was not found in this key vault."
            f" {_NOT_FOUND_HELP}",
        )

    def _item(self, name: str, version: _Version) -> dict[str, Any]:
        """A version's properties, as version listings return them (no value)."""
        item: dict[str, Any] = {
            "id": f"{self.vault_url}secrets/{name}/{version.id}",
            "attributes": {
                "enabled": True,
                "created": version.created,
                "updated": version.created,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
            "tags": version.tags,
        }
        if version.content_type is not None:
            item["contentType"] = version.content_type
        return item

    def _bundle(self, name: str, version: _Version) -> dict[str, Any]:
        return {"value": version.value, **self._item(name, version)}
