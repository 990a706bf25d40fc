"""Local HTTPS fake of Azure Key Vault's secrets API for the real ``SecretClient``.

It exists so tests can prove the app reads its GitHub tokens at run time (and so picks up a
rotated secret without a restart) through the same challenge-based authentication the service
uses: unauthenticated requests get the 401 challenge naming tenant and resource, and only tokens
issued by a credential registered with the fake are accepted. It is meant to be at least as
strict as the service, each rule naming the page it follows:

- Azure RBAC: an authenticated caller without a role that allows the operation gets 403
  ``Forbidden`` / ``ForbiddenByRbac`` (``add_credential``, ``assign_role``).
- A disabled secret version answers 403 ``Forbidden`` / ``SecretDisabled`` to get.
- Expired (``exp`` in the past) and not-yet-valid (``nbf`` in the future) secrets are returned,
  as the service returns them, with ``exp``/``nbf`` in their attributes: checking them is the
  caller's job.
- Versions: each ``set_secret`` adds a version; each version has its own attributes.
"""

import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.keyvault.secrets._shared import http_challenge_cache
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.https import HttpsServer

__all__ = [
    "READER",
    "SECRETS_OFFICER",
    "SECRETS_USER",
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
_VAULT_NAME, _LOCATION = "faultline-kv", "westeurope"
_SUBSCRIPTION = "00000000-0000-0000-0000-00000000f417"

# Built-in Key Vault data-plane roles and the secret actions they allow:
# https://learn.microsoft.com/azure/key-vault/general/rbac-guide ("Azure built-in roles for Key
# Vault data plane operations"): Secrets User reads secret contents, Reader reads metadata only.
SECRETS_USER = "Key Vault Secrets User"
SECRETS_OFFICER = "Key Vault Secrets Officer"
READER = "Key Vault Reader"
_GET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
_READ_METADATA = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
_ROLE_ACTIONS = {
    SECRETS_USER: {_GET, _READ_METADATA},
    SECRETS_OFFICER: {_GET, _READ_METADATA},
    "Key Vault Administrator": {_GET, _READ_METADATA},
    READER: {_READ_METADATA},
}
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
        self.object_id = str(uuid.uuid4())  # the principal a role is assigned to
        self.app_id = str(uuid.uuid4())
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
    enabled: bool = True
    expires: int | None = None  # ``exp``, epoch seconds
    not_before: int | None = None  # ``nbf``, epoch seconds
    updated: int | None = None


class _ServiceError(Exception):
    """An error answer in Key Vault's ``{"error": {"code", "message", "innererror"}}`` shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        inner_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}
        self.inner_code = inner_code

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.inner_code is not None:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}


def _epoch(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"give a timezone-aware datetime, not {moment!r}")
    return int(moment.timestamp())


_ROUTES = Map(
    [
        Rule("/secrets/<name>", endpoint="latest", methods=["GET"]),
        Rule("/secrets/<name>/", endpoint="latest", methods=["GET"]),
        Rule("/secrets/<name>/versions", endpoint="versions", methods=["GET"]),
        Rule("/secrets/<name>/<version>", endpoint="version", methods=["GET"]),
    ],
    strict_slashes=False,
)


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
        self._credentials = [self.credential]
        self._roles: dict[str, str | None] = {self.credential.object_id: SECRETS_USER}
        self.requests: list[RecordedRequest] = []
        self._secrets: dict[str, list[_Version]] = {}
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._created = 1_790_000_000  # epoch seconds; each version is one second newer
        self._https = HttpsServer(self._wsgi, "key-vault-fake")

    def __enter__(self) -> Self:
        self._https.start()
        self.ca_path = self._https.ca_path
        self.vault_url = f"{self._https.origin}/"
        # A challenge cached for an earlier fake on this port would skip this fake's challenge.
        http_challenge_cache.remove_challenge_for_url(self.vault_url)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._https.stop()

    def add_credential(self, role: str | None = None) -> KeyVaultCredential:
        """A credential of the vault's tenant (its tokens authenticate) with ``role``, or none."""
        credential = KeyVaultCredential()
        with self._lock:
            self._credentials.append(credential)
        self.assign_role(credential, role)
        return credential

    def assign_role(self, credential: KeyVaultCredential, role: str | None) -> None:
        """Give the credential's principal this data-plane role on the vault (None removes it)."""
        if role is not None and role not in _ROLE_ACTIONS:
            raise ValueError(f"role must be one of {sorted(_ROLE_ACTIONS)}, not {role!r}")
        with self._lock:
            self._roles[credential.object_id] = role

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        tags: dict[str, str] | None = None,
        enabled: bool = True,
        expires_on: datetime | None = None,
        not_before: datetime | None = None,
    ) -> str:
        """Add a new current version of the secret (rotation) and return its version id."""
        version = uuid.uuid4().hex
        with self._lock:
            self._created += 1
            entry = _Version(
                version,
                value,
                self._created,
                content_type,
                dict(tags or {}),
                enabled,
                _epoch(expires_on),
                _epoch(not_before),
            )
            self._secrets.setdefault(name.lower(), []).append(entry)
        return version

    def update_secret(
        self,
        name: str,
        version: str | None = None,
        *,
        enabled: bool | None = None,
        expires_on: datetime | None = None,
        not_before: datetime | None = None,
    ) -> None:
        """Change a version's attributes (the current version unless ``version`` is given)."""
        with self._lock:
            versions = self._secrets[name.lower()]
            index = next((i for i, v in enumerate(versions) if v.id == version), len(versions) - 1)
            current = versions[index]
            self._created += 1
            versions[index] = replace(
                current,
                enabled=current.enabled if enabled is None else enabled,
                expires=current.expires if expires_on is None else _epoch(expires_on),
                not_before=current.not_before if not_before is None else _epoch(not_before),
                updated=self._created,
            )

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
        with self._lock:
            caller = next((c for c in self._credentials if token and token in c.issued), None)
        authorized = caller is not None
        try:
            status, payload = self._answer(request, caller)
            headers: dict[str, str] = {}
        except _ServiceError as error:
            status, headers = error.status, error.headers
            payload = error.payload()
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

    def _answer(
        self, request: Request, caller: KeyVaultCredential | None
    ) -> tuple[int, dict[str, Any]]:
        if caller is None:
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
        self._authorize(caller, _READ_METADATA if endpoint == "versions" else _GET, name)
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

    def _authorize(self, caller: KeyVaultCredential, action: str, name: str) -> None:
        """403 ``Forbidden`` with inner ``ForbiddenByRbac`` when no role allows the action, with
        the service's message (https://github.com/piyushsachdeva/Terraform_AKS/issues/2,
        https://github.com/hashicorp/terraform-provider-azurerm/issues/27817)."""
        with self._lock:
            role = self._roles.get(caller.object_id)
        if role is not None and action in _ROLE_ACTIONS[role]:
            return
        resource = (
            f"/subscriptions/{_SUBSCRIPTION}/resourcegroups/faultline/providers"
            f"/microsoft.keyvault/vaults/{_VAULT_NAME}/secrets/{name.lower()}"
        )
        raise _ServiceError(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.\r\n"
            "If role assignments, deny assignments or role definitions were changed recently,"
            " please observe propagation time.\r\n"
            f"Caller: appid={caller.app_id};oid={caller.object_id};"
            f"iss=https://sts.windows.net/{self.tenant_id}/\r\n"
            f"Action: '{action}'\r\n"
            f"Resource: '{resource}'\r\n"
            "Assignment: (not found)\r\n"
            "DenyAssignmentId: null\r\n"
            "DecisionReason: 'DeniedWithNoValidRBAC' \r\n"
            f"Vault: {_VAULT_NAME};location={_LOCATION}\r\n",
            inner_code="ForbiddenByRbac",
        )

    def _item(self, name: str, version: _Version) -> dict[str, Any]:
        """A version's properties, as version listings return them (no value)."""
        attributes: dict[str, Any] = {
            "enabled": version.enabled,
            "created": version.created,
            "updated": version.updated or version.created,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }
        if version.expires is not None:
            attributes["exp"] = version.expires
        if version.not_before is not None:
            attributes["nbf"] = version.not_before
        item: dict[str, Any] = {
            "id": f"{self.vault_url}secrets/{name}/{version.id}",
            "attributes": attributes,
            "tags": version.tags,
        }
        if version.content_type is not None:
            item["contentType"] = version.content_type
        return item

    def _bundle(self, name: str, version: _Version) -> dict[str, Any]:
        """A version with its value. Get refuses a disabled version with 403 ``Forbidden`` /
        ``SecretDisabled`` (https://github.com/Azure/azure-sdk-for-js/issues/24756,
        https://github.com/ansible-collections/azure/issues/1989), but returns expired and
        not-yet-valid ones: "A secret's get operation will work for not-yet-valid and expired
        secrets" (https://learn.microsoft.com/azure/key-vault/secrets/about-secrets, "Date-time
        controlled operations"; observed: https://github.com/Azure/AzureKeyVault/issues/19)."""
        if not version.enabled:
            raise _ServiceError(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                inner_code="SecretDisabled",
            )
        return {"value": version.value, **self._item(name, version)}
