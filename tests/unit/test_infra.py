"""infra/: the checks a Bicep compiler would make, offline (no compiler can be installed here).

Every `.bicep` file parses (tree-sitter-bicep, errors reported with line numbers); every name an
expression uses is declared; modules exist, get every parameter they require and none they do not
declare; module outputs that are read exist; `main.parameters.json` and `azure.yaml` agree with
`main.bicep`; the app settings in Bicep are exactly what the code reads; every binding's
connection and `%SETTING%` resolves; `.funcignore` ships what the app imports and nothing else.
The security baseline is pinned resource by resource (basic publishing credentials off, optional
Entra ID authentication in front of the HTTP endpoints, Key Vault purge protection, no local auth
on the app's own workspace, Durable singleton starts), and so is every checkov skip and its reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest
import tree_sitter_bicep
import yaml
from tree_sitter import Language, Node, Parser

from local_host.host import FunctionTable
from pipeline.settings import setting_names

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
PARSER = Parser(Language(tree_sitter_bicep.language()))

DECLARATIONS = {
    "parameter_declaration",
    "variable_declaration",
    "resource_declaration",
    "module_declaration",
    "output_declaration",
    "type_declaration",
    "function_declaration",
    "import_statement",
}
# Namespaces and keywords the language provides without a declaration.
BUILT_INS = {"az", "sys", "existing"}


def _text(node: Node) -> str:
    return (node.text or b"").decode()


def _string_value(node: Node) -> str:
    """A plain string literal's value (no interpolation)."""
    assert node.type == "string", f"expected a string literal, got {node.type}: {_text(node)}"
    return "".join(_text(part) for part in node.named_children)


def _walk(node: Node) -> list[Node]:
    nodes = [node]
    for child in node.children:
        nodes.extend(_walk(child))
    return nodes


def _body(declaration: Node) -> Node | None:
    """The object a resource or module declaration assigns, through `if` and `for` forms."""
    for child in declaration.named_children:
        if child.type == "for_statement":
            child = child.child_by_field_name("body") or child
        elif child.type == "if_statement":
            child = next((c for c in child.named_children if c.type == "object"), child)
        if child.type == "object":
            return child
    return None


def _properties(obj: Node) -> dict[str, Node]:
    """An object literal's own properties: key -> value node."""
    found = {}
    for prop in obj.named_children:
        if prop.type != "object_property":
            continue
        key, value = prop.named_children[0], prop.named_children[-1]
        name = _string_value(key) if key.type == "string" else _text(key)
        found[name] = value
    return found


@dataclass
class BicepFile:
    path: Path
    tree_root: Node
    params: dict[str, bool] = field(default_factory=dict)  # name -> has a default
    outputs: set[str] = field(default_factory=set)
    variables: dict[str, Node] = field(default_factory=dict)
    modules: dict[str, Node] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))

    def syntax_errors(self) -> list[str]:
        return [
            f"{self.name}:{node.start_point[0] + 1}:{node.start_point[1] + 1}: "
            + ("missing " + node.type if node.is_missing else f"unexpected {_text(node)[:40]!r}")
            for node in _walk(self.tree_root)
            if node.is_error or node.is_missing
        ]

    def module_path(self, module: Node) -> Path:
        return (self.path.parent / _string_value(module.named_children[1])).resolve()

    def references(self) -> list[Node]:
        """Identifier nodes used as values (not declared names, keys or function names)."""
        used = []
        for node in _walk(self.tree_root):
            if node.type != "identifier" or node.parent is None:
                continue
            parent = node.parent
            first = parent.named_children[0] == node
            if parent.type in DECLARATIONS and first:
                continue
            if parent.type == "object_property" and first:
                continue
            if parent.type == "call_expression" and parent.child_by_field_name("function") == node:
                continue
            if parent.type == "lambda_expression" and parent.named_children[-1] != node:
                continue
            if parent.type == "for_statement" and parent.child_by_field_name("initializer") == node:
                continue
            used.append(node)
        return used

    def local_names(self) -> set[str]:
        """Loop variables and lambda parameters (checked file-wide, not by scope)."""
        names = set()
        for node in _walk(self.tree_root):
            if node.type in {"loop_variable", "loop_enumerator"}:
                names.add(_text(node))
            if node.type == "for_statement" and (item := node.child_by_field_name("initializer")):
                names.add(_text(item))
            if node.type == "lambda_expression":
                names.update(_text(n) for n in node.named_children[:-1] if n.type == "identifier")
        return names


@cache
def bicep(path: Path) -> BicepFile:
    root = PARSER.parse(path.read_bytes()).root_node
    parsed = BicepFile(path, root)
    for node in root.named_children:
        if node.type not in DECLARATIONS or not node.named_children:
            continue
        name = _text(node.named_children[0])
        parsed.declared.add(name)
        if node.type == "parameter_declaration":
            parsed.params[name] = len(node.named_children) > 2
        elif node.type == "output_declaration":
            parsed.outputs.add(name)
        elif node.type == "variable_declaration":
            parsed.variables[name] = node.named_children[-1]
        elif node.type == "module_declaration":
            parsed.modules[name] = node
    return parsed


MAIN = INFRA / "main.bicep"
API = INFRA / "app" / "api.bicep"
KEYVAULT = INFRA / "app" / "keyvault.bicep"
MONITORING = INFRA / "app" / "monitoring.bicep"
RBAC = INFRA / "app" / "rbac.bicep"


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(INFRA)) for p in paths]


def test_infra_has_the_azd_layout() -> None:
    assert MAIN in BICEP_FILES
    assert (INFRA / "main.parameters.json").is_file()
    assert len(BICEP_FILES) > 2, "main.bicep composes small modules under infra/app/"


@pytest.mark.parametrize("path", BICEP_FILES, ids=_ids(BICEP_FILES))
def test_bicep_parses_without_errors(path: Path) -> None:
    assert bicep(path).syntax_errors() == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=_ids(BICEP_FILES))
def test_every_name_used_is_declared(path: Path) -> None:
    parsed = bicep(path)
    known = parsed.declared | parsed.local_names() | BUILT_INS
    undeclared = [
        f"{parsed.name}:{node.start_point[0] + 1}: {_text(node)}"
        for node in parsed.references()
        if _text(node) not in known
    ]
    assert undeclared == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=_ids(BICEP_FILES))
def test_every_param_has_a_description(path: Path) -> None:
    parsed = bicep(path)
    undocumented = []
    for node in parsed.tree_root.named_children:
        if node.type != "parameter_declaration":
            continue
        decorators = node.prev_named_sibling
        text = _text(decorators) if decorators and decorators.type == "decorators" else ""
        if "@description(" not in text:
            undocumented.append(_text(node.named_children[0]))
    assert undocumented == []


def _module_cases() -> list[tuple[Path, str]]:
    return [(path, name) for path in BICEP_FILES for name in bicep(path).modules]


@pytest.mark.parametrize(
    ("path", "module"), _module_cases(), ids=[f"{p.stem}.{m}" for p, m in _module_cases()]
)
def test_module_exists_and_gets_exactly_its_parameters(path: Path, module: str) -> None:
    parsed = bicep(path)
    declaration = parsed.modules[module]
    target = parsed.module_path(declaration)
    assert target.is_file(), f"{parsed.name}: module {module} points at missing {target}"
    callee = bicep(target)
    body = _body(declaration)
    assert body is not None, f"{parsed.name}: module {module} has no body"
    params_node = _properties(body).get("params")
    passed = set(_properties(params_node)) if params_node is not None else set()
    required = {name for name, has_default in callee.params.items() if not has_default}
    assert sorted(required - passed) == [], f"{module}: required parameters not passed"
    assert sorted(passed - set(callee.params)) == [], f"{module}: parameters it does not declare"


@pytest.mark.parametrize("path", BICEP_FILES, ids=_ids(BICEP_FILES))
def test_module_outputs_that_are_read_exist(path: Path) -> None:
    parsed = bicep(path)
    missing = []
    for node in _walk(parsed.tree_root):
        # <module>.outputs.<name> or <module>[i].outputs.<name>
        if node.type != "member_expression" or _text(node).count(".outputs.") != 1:
            continue
        target = node.child_by_field_name("object")
        if target is None or not _text(target).endswith(".outputs"):
            continue
        holder = target.child_by_field_name("object")
        if holder is not None and holder.type == "subscript_expression":
            holder = holder.named_children[0]
        if holder is None or _text(holder) not in parsed.modules:
            continue
        output = _text(node.child_by_field_name("property") or node)
        callee = bicep(parsed.module_path(parsed.modules[_text(holder)]))
        if output not in callee.outputs:
            missing.append(f"{parsed.name}:{node.start_point[0] + 1}: {_text(node)}")
    assert missing == []


def test_main_targets_the_subscription_and_creates_the_resource_group() -> None:
    text = MAIN.read_text()
    assert "targetScope = 'subscription'" in text
    assert "'Microsoft.Resources/resourceGroups@" in text


def test_parameters_file_maps_azd_variables_onto_main_parameters() -> None:
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    params = bicep(MAIN).params
    assert sorted(set(mapped) - set(params)) == [], "parameters main.bicep does not declare"
    required = {name for name, has_default in params.items() if not has_default}
    assert sorted(required - set(mapped)) == [], "required parameters azd would not fill in"
    assert mapped["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert mapped["location"]["value"] == "${AZURE_LOCATION}"
    assert mapped["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_azure_yaml_deploys_this_folder_as_a_python_function_app() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["name"] and project["metadata"]["template"]
    service = project["services"]["api"]
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app to deploy to by its azd-service-name tag.
    assert "'azd-service-name': serviceName" in API.read_text()
    assert "param serviceName string = 'api'" in API.read_text()
    assert {"AZURE_FUNCTION_NAME", "AZURE_LOCATION", "AZURE_TENANT_ID"} <= bicep(MAIN).outputs


def test_flex_consumption_python_313_with_identity_only_storage() -> None:
    api = API.read_text()
    assert "name: 'FC1'" in api and "tier: 'FlexConsumption'" in api
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: '3.13'", api)
    assert "type: 'UserAssignedIdentity'" in api, "deployment container read with the identity"
    storage = (INFRA / "app" / "storage.bicep").read_text()
    for setting in (
        "allowSharedKeyAccess: false",
        "allowBlobPublicAccess: false",
        "minimumTlsVersion: 'TLS1_2'",
    ):
        assert setting in storage
    assert "DisableLocalAuth: true" in (INFRA / "app" / "monitoring.bicep").read_text()
    assert "enableRbacAuthorization: true" in (INFRA / "app" / "keyvault.bicep").read_text()


def test_durable_keeps_one_instance_ready_and_polls_often_unless_turned_off() -> None:
    """Flex Consumption's Durable guidance: an always-ready instance for the durable group and
    task hub polling at most every 10 s, so hour-long timers fire without a platform wake-up."""
    main, api = MAIN.read_text(), API.read_text()
    assert "param durableAlwaysReadyInstances int = 1" in main
    assert "param durableQueuePollingSeconds int = 10" in main
    assert "alwaysReady: durableAlwaysReadyInstances > 0 ? durableAlwaysReady : []" in api
    assert re.search(
        r"var durableAlwaysReady = \[\s*\{\s*name: 'durable'\s*"
        r"instanceCount: durableAlwaysReadyInstances\s*\}\s*\]",
        api,
    )
    assert re.search(
        r"storageProvider__maxQueuePollingInterval: '00:00:\$\{padLeft\("
        r"string\(durableQueuePollingSeconds\), 2, '0'\)\}'",
        api,
    )
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["durableAlwaysReadyInstances"]["value"] == (
        "${FAULTLINE_DURABLE_ALWAYS_READY=1}"
    )
    assert parameters["durableQueuePollingSeconds"]["value"] == (
        "${FAULTLINE_DURABLE_POLLING_SECONDS=10}"
    )


def test_scale_out_defaults_to_what_every_region_accepts() -> None:
    """Under 40 is refused in some regions; the query slots, not the instance cap, keep Log
    Analytics within its concurrent queries."""
    assert "param maximumInstanceCount int = 40" in MAIN.read_text()
    assert "param maximumInstanceCount int = 40" in API.read_text()
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["maximumInstanceCount"]["value"] == "${FAULTLINE_MAX_INSTANCES=40}"


def test_the_row_cap_follows_the_instance_memory() -> None:
    api = API.read_text()
    assert "FAULTLINE_MAX_ROWS_PER_QUERY: string(maxRowsPerQuery)" in api
    assert (
        "var maxRowsPerQuery = instanceMemoryMB >= 4096 ? 100000 : "
        "(instanceMemoryMB >= 2048 ? 50000 : 10000)"
    ) in api


def test_role_assignments_are_named_by_scope_principal_and_role() -> None:
    assignments = 0
    for path in BICEP_FILES:
        for node in bicep(path).tree_root.named_children:
            if node.type != "resource_declaration" or "roleAssignments@" not in _text(node):
                continue
            assignments += 1
            body = _body(node)
            assert body is not None
            props = _properties(body)
            name, scope = _text(props["name"]), _text(props["scope"])
            principal = _text(_properties(props["properties"])["principalId"])
            assert re.fullmatch(rf"guid\({scope}\.id, {principal}, [\w.]+\)", name), name
    assert assignments >= 6


# --- security baseline: the resources and properties a security review asked for ---------------


def _resource(path: Path, name: str) -> tuple[str, dict[str, Node]]:
    """A top-level resource's type and its body's properties (through `if` forms)."""
    for node in bicep(path).tree_root.named_children:
        if node.type == "resource_declaration" and _text(node.named_children[0]) == name:
            body = _body(node)
            assert body is not None, f"{path.name}: resource {name} has no body"
            return _string_value(node.named_children[1]), _properties(body)
    raise AssertionError(f"{path.name} declares no resource {name}")


def _at(props: dict[str, Node], *keys: str) -> Node:
    """The value at a path of nested object literals."""
    *parents, last = keys
    for key in parents:
        node = props[key]
        assert node.type == "object", f"{key} is {node.type}, not an object: {_text(node)}"
        props = _properties(node)
    return props[last]


def _param(path: Path, name: str) -> tuple[str, str, str]:
    """A parameter's type, default value (source text, '' for none) and decorators."""
    for node in bicep(path).tree_root.named_children:
        if node.type == "parameter_declaration" and _text(node.named_children[0]) == name:
            children = node.named_children
            default = _text(children[-1]) if len(children) > 2 else ""
            decorators = node.prev_named_sibling
            text = _text(decorators) if decorators and decorators.type == "decorators" else ""
            return _text(children[1]), default, text
    raise AssertionError(f"{path.name} declares no parameter {name}")


def _module_params(module: str) -> dict[str, str]:
    body = _body(bicep(MAIN).modules[module])
    assert body is not None
    return {key: _text(value) for key, value in _properties(_properties(body)["params"]).items()}


def _azd_variables() -> dict[str, str]:
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    return {name: entry["value"] for name, entry in mapped.items()}


def test_basic_publishing_credentials_are_off_and_deployment_uses_the_identity() -> None:
    # App Service's basic-auth switches, one resource each (top level with parent:, as checkov
    # reads them); `azd deploy` publishes to Flex Consumption with an Entra ID token instead.
    policies = {}
    for name in ("scmBasicAuth", "ftpBasicAuth"):
        kind, props = _resource(API, name)
        assert kind.startswith("Microsoft.Web/sites/basicPublishingCredentialsPolicies@")
        assert _text(props["parent"]) == "functionApp"
        policies[_string_value(props["name"])] = _text(_at(props, "properties", "allow"))
    assert policies == {"scm": "false", "ftp": "false"}
    # Flex Consumption refuses siteConfig.ftpsState in regions that enforce it (ARM 51021).
    _, site = _resource(API, "functionApp")
    assert "ftpsState" not in _properties(_at(site, "properties", "siteConfig"))
    # The platform reads the package from the deployment container with the app's identity.
    deployment = _at(site, "properties", "functionAppConfig", "deployment", "storage")
    authentication = _properties(_properties(deployment)["authentication"])
    assert _string_value(authentication["type"]) == "UserAssignedIdentity"
    assert _text(authentication["userAssignedIdentityResourceId"]) == "identityId"


def test_http_endpoints_can_require_entra_id_tokens_and_do_not_by_default() -> None:
    kind, props = _resource(API, "authSettings")
    assert kind.startswith("Microsoft.Web/sites/config@")
    assert _text(props["parent"]) == "functionApp"
    assert _string_value(props["name"]) == "authsettingsV2"
    # Declared unconditionally, switched by the client id: clearing it switches authentication off.
    assert _text(bicep(API).variables["httpAuthEnabled"]) == "!empty(httpAuthClientId)"
    assert _text(_at(props, "properties", "platform", "enabled")) == "httpAuthEnabled"
    validation = _properties(_at(props, "properties", "globalValidation"))
    assert _text(validation["requireAuthentication"]) == "httpAuthEnabled"
    assert _text(validation["unauthenticatedClientAction"]) == (
        "httpAuthEnabled ? 'Return401' : 'AllowAnonymous'"
    )
    # every HTTP function sits behind authentication but the webhooks, which their signatures,
    # tokens or secrets authenticate (GitHub, GitLab and the alert senders cannot send a token)
    assert re.findall(r"'([^']*)'", _text(validation["excludedPaths"])) == [
        "/api/github/webhook",
        "/api/gitlab/webhook",
        "/api/alerts/*",
    ]
    assert _text(_at(props, "properties", "httpSettings", "requireHttps")) == "true"
    assert _text(_at(props, "properties", "login", "tokenStore", "enabled")) == "false"

    providers = _at(props, "properties", "identityProviders")
    assert providers.type == "ternary_expression" and _text(providers.named_children[0]) == (
        "httpAuthEnabled"
    )
    on, off = providers.named_children[1], providers.named_children[2]
    assert _text(off) == "{}"
    entra = _properties(_properties(on)["azureActiveDirectory"])
    assert _text(entra["enabled"]) == "true"
    registration = _properties(entra["registration"])
    assert _text(registration["clientId"]) == "httpAuthClientId"
    # This tenant's v2.0 issuer, in whichever cloud the deployment runs.
    assert _text(registration["openIdIssuer"]) == (
        "'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'"
    )
    assert "clientSecretSettingName" not in registration, "validates tokens, signs nobody in"
    checks = _properties(entra["validation"])
    assert _text(checks["allowedAudiences"]) == "httpAuthAudiences"
    assert "httpAuthClientId" in _text(bicep(API).variables["httpAuthAudiences"])
    assert "'api://${httpAuthClientId}'" in _text(bicep(API).variables["httpAuthAudiences"])
    assert "allowedApplications: httpAuthAllowedClientIds" in _text(
        checks["defaultAuthorizationPolicy"]
    )

    # main.bicep: off unless the azd variable is set, documented, and handed to the app module.
    for name, variable in (
        ("httpAuthClientId", "FAULTLINE_HTTP_AUTH_CLIENT_ID"),
        ("httpAuthAllowedAudiences", "FAULTLINE_HTTP_AUTH_AUDIENCES"),
        ("httpAuthAllowedClientIds", "FAULTLINE_HTTP_AUTH_ALLOWED_CLIENT_IDS"),
    ):
        kind, default, decorators = _param(MAIN, name)
        assert (kind, default) == ("string", "''"), name
        assert variable in decorators, f"{name}'s description names its azd variable"
        assert _azd_variables()[name] == "${" + variable + "}"
    assert "401" in _param(MAIN, "httpAuthClientId")[2]
    assert _module_params("api")["httpAuthClientId"] == "httpAuthClientId"
    assert _module_params("api")["httpAuthAllowedAudiences"] == "httpAuthAudiences"
    assert _module_params("api")["httpAuthAllowedClientIds"] == "httpAuthClientIds"


def test_key_vault_purge_protection_is_on_by_default() -> None:
    _, props = _resource(KEYVAULT, "vault")
    vault = _properties(props["properties"])
    assert _text(vault["enableSoftDelete"]) == "true"
    assert _text(vault["softDeleteRetentionInDays"]) == "softDeleteRetentionInDays"
    assert _text(bicep(KEYVAULT).variables["softDeleteRetentionInDays"]) == "7"
    # Key Vault refuses false: off means leaving the property out.
    assert _text(vault["enablePurgeProtection"]) == "enablePurgeProtection ? true : null"
    assert _param(KEYVAULT, "enablePurgeProtection")[:2] == ("bool", "true")

    kind, default, decorators = _param(MAIN, "keyVaultPurgeProtection")
    assert (kind, default) == ("bool", "true")
    assert "FAULTLINE_KEY_VAULT_PURGE_PROTECTION" in decorators
    assert "cannot be reused" in decorators and "7-day" in decorators, "the cost is documented"
    assert _azd_variables()["keyVaultPurgeProtection"] == (
        "${FAULTLINE_KEY_VAULT_PURGE_PROTECTION=true}"
    )
    assert _module_params("keyVault")["enablePurgeProtection"] == "keyVaultPurgeProtection"


def test_own_workspace_has_no_local_auth_and_telemetry_is_sent_by_identity() -> None:
    _, workspace = _resource(MONITORING, "logAnalytics")
    assert _text(_at(workspace, "properties", "features", "disableLocalAuth")) == "true"
    _, insights = _resource(MONITORING, "applicationInsights")
    assert _text(_at(insights, "properties", "DisableLocalAuth")) == "true"
    assert _text(_at(insights, "properties", "WorkspaceResourceId")) == "logAnalytics.id"
    # Entra ID ingestion: Monitoring Metrics Publisher on the component for the app's identity...
    _, publisher = _resource(RBAC, "telemetryPublisher")
    assert _text(publisher["scope"]) == "applicationInsights"
    assert _text(_at(publisher, "properties", "principalId")) == "appPrincipalId"
    assert "roles.monitoringMetricsPublisher" in _text(
        _at(publisher, "properties", "roleDefinitionId")
    )
    publisher_role = _properties(bicep(RBAC).variables["roles"])["monitoringMetricsPublisher"]
    assert _string_value(publisher_role) == "3913510d-42f4-4e42-8a64-420c390055eb"
    # ...and the host told to authenticate as that identity.
    settings = _properties(bicep(API).variables["appSettings"])
    assert _text(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]) == (
        "'ClientId=${identityClientId};Authorization=AAD'"
    )


def _columns(node: Node) -> list[tuple[str, str]]:
    """An array literal of `{ name, type }` objects, or a `var` holding one."""
    assert node.type == "array", _text(node)
    return [
        (_string_value(props["name"]), _string_value(props["type"]))
        for props in (_properties(item) for item in node.named_children if item.type == "object")
    ]


def _smoke_columns(variable: str) -> list[tuple[str, str]]:
    """A `concat([<time column var>], smokeStringColumns)` variable of monitoring.bicep."""
    monitoring = bicep(MONITORING)
    text = _text(monitoring.variables[variable])
    match = re.fullmatch(r"concat\(\[(\w+)\], smokeStringColumns\)", text)
    assert match, text
    time = _properties(monitoring.variables[match.group(1)])
    return [
        (_string_value(time["name"]), _string_value(time["type"])),
        *_columns(monitoring.variables["smokeStringColumns"]),
    ]


def test_the_smoke_tests_rule_is_direct_and_lands_in_its_own_table_of_the_own_workspace() -> None:
    """The Logs Ingestion API path of scripts/smoke.py: a data collection rule of kind Direct (its
    own logsIngestion endpoint, no data collection endpoint), one stream passed through unchanged
    to FaultlineSmoke_CL in the app's own workspace, whose columns are the stream's."""
    monitoring = bicep(MONITORING)
    assert _string_value(monitoring.variables["smokeTableName"]) == "FaultlineSmoke_CL"
    assert _text(monitoring.variables["smokeStreamName"]) == "'Custom-${smokeTableName}'"

    kind, table = _resource(MONITORING, "smokeTable")
    assert kind == "Microsoft.OperationalInsights/workspaces/tables@2023-09-01"
    assert _text(table["parent"]) == "logAnalytics"
    assert _text(table["name"]) == "smokeTableName"
    assert _text(_at(table, "properties", "schema", "columns")) == "smokeTableColumns"

    kind, rule = _resource(MONITORING, "smokeRule")
    assert kind == "Microsoft.Insights/dataCollectionRules@2023-03-11"
    assert _string_value(rule["kind"]) == "Direct", "its own ingestion endpoint, no DCE"
    assert "dataCollectionEndpointId" not in _properties(rule["properties"])
    (stream,) = _properties(_at(rule, "properties", "streamDeclarations")).values()
    assert _text(_properties(stream)["columns"]) == "smokeStreamColumns"
    (destination,) = _at(rule, "properties", "destinations", "logAnalytics").named_children
    assert _text(_properties(destination)["workspaceResourceId"]) == "logAnalytics.id"
    (flow,) = _at(rule, "properties", "dataFlows").named_children
    flow_props = _properties(flow)
    assert _string_value(flow_props["transformKql"]) == "source", "records land as sent"
    assert _text(flow_props["outputStream"]) == "smokeStreamName"
    assert "smokeTable" in _text(rule["dependsOn"]), "the table exists before the rule sends"

    stream_columns, table_columns = (
        _smoke_columns("smokeStreamColumns"),
        _smoke_columns("smokeTableColumns"),
    )
    assert [(n, t.lower()) for n, t in stream_columns] == [(n, t.lower()) for n, t in table_columns]
    assert stream_columns[0] == ("TimeGenerated", "datetime")
    assert table_columns[0] == ("TimeGenerated", "dateTime"), "the table's spelling of the type"
    # what the rules file's faultline-smoke source reads from the table
    rules = yaml.safe_load((ROOT / "faultline.yaml").read_text())
    (source,) = [s for s in rules["sources"] if s["name"] == "faultline-smoke"]
    (spec,) = source["tables"]
    assert spec["name"] == "FaultlineSmoke_CL"
    assert set(spec["columns"].values()) <= {name for name, _ in stream_columns}

    # azd writes these outputs into the environment scripts/smoke.py reads
    outputs = {
        "FAULTLINE_SMOKE_INGESTION_ENDPOINT": "monitoring.outputs.smokeIngestionEndpoint",
        "FAULTLINE_SMOKE_DCR_IMMUTABLE_ID": "monitoring.outputs.smokeRuleImmutableId",
        "FAULTLINE_SMOKE_STREAM": "monitoring.outputs.smokeStreamName",
        "FAULTLINE_SMOKE_TABLE": "monitoring.outputs.smokeTableName",
        "FAULTLINE_SMOKE_WORKSPACE_ID": "monitoring.outputs.logAnalyticsCustomerId",
    }
    main = MAIN.read_text()
    for name, value in outputs.items():
        assert f"output {name} string = {value}\n" in main
    assert "smokeRule.properties.endpoints.logsIngestion" in MONITORING.read_text()
    assert "smokeRule.properties.immutableId" in MONITORING.read_text()


def test_the_smoke_test_is_off_unless_a_scratch_repository_is_given() -> None:
    kind, default, decorators = _param(MAIN, "smokeRepository")
    assert (kind, default) == ("string", "''")
    assert "FAULTLINE_SMOKE_REPOSITORY" in decorators
    assert _azd_variables()["smokeRepository"] == "${FAULTLINE_SMOKE_REPOSITORY}"
    assert _text(bicep(MAIN).variables["smokeEnabled"]) == "!empty(smokeRepository)"
    api = _module_params("api")
    assert api["smokeEnabled"] == "smokeEnabled"
    assert api["smokeWorkspaceId"] == "monitoring.outputs.logAnalyticsCustomerId"
    assert api["smokeRepository"] == "smokeEnabled ? smokeRepository : githubRepository"
    assert _module_params("rbac")["smokeEnabled"] == "smokeEnabled"
    settings = _properties(bicep(API).variables["appSettings"])
    assert _text(settings["FAULTLINE_SMOKE_ENABLED"]) == "smokeEnabled ? 'true' : 'false'"
    assert _text(settings["FAULTLINE_SMOKE_WORKSPACE_ID"]) == "smokeWorkspaceId"
    assert _text(settings["FAULTLINE_SMOKE_REPOSITORY"]) == "smokeRepository"
    smoke_settings = {name for name in settings if name.startswith("FAULTLINE_SMOKE_")}
    assert smoke_settings == {
        "FAULTLINE_SMOKE_ENABLED",
        "FAULTLINE_SMOKE_WORKSPACE_ID",
        "FAULTLINE_SMOKE_REPOSITORY",
    }
    assert smoke_settings <= set(rules_file_variables()), "the rules file reads what is set"


def test_the_smoke_test_roles_are_the_least_each_needs() -> None:
    roles = _properties(bicep(RBAC).variables["roles"])
    # the deployer sends through the rule: Monitoring Metrics Publisher on the rule only
    _, publisher = _resource(RBAC, "deployerSmokePublisher")
    assert _text(publisher["scope"]) == "smokeRule"
    assert _text(_at(publisher, "properties", "principalId")) == "deployerPrincipalId"
    assert _text(_at(publisher, "properties", "principalType")) == "deployerPrincipalType"
    assert "roles.monitoringMetricsPublisher" in _text(
        _at(publisher, "properties", "roleDefinitionId")
    )
    assert _string_value(roles["monitoringMetricsPublisher"]) == (
        "3913510d-42f4-4e42-8a64-420c390055eb"
    )
    # the app queries its own workspace only while the smoke test is on
    _, reader = _resource(RBAC, "ownWorkspaceReader")
    assert _text(reader["scope"]) == "ownWorkspace"
    assert _text(_at(reader, "properties", "principalId")) == "appPrincipalId"
    assert "roles.logAnalyticsReader" in _text(_at(reader, "properties", "roleDefinitionId"))
    assert _string_value(roles["logAnalyticsReader"]) == "73c42c96-874c-492b-b04d-ab87d138a893"
    assert _condition(RBAC, "ownWorkspaceReader") == "smokeEnabled"
    assert _condition(RBAC, "deployerSmokePublisher") == "!empty(deployerPrincipalId)"


def _condition(path: Path, name: str) -> str | None:
    """The `if (...)` of a conditional resource, None for an unconditional one."""
    for node in bicep(path).tree_root.named_children:
        if node.type == "resource_declaration" and _text(node.named_children[0]) == name:
            condition = next((c for c in node.named_children if c.type == "if_statement"), None)
            if condition is None:
                return None
            return _text(condition.named_children[0]).removeprefix("(").removesuffix(")")
    raise AssertionError(f"{path.name} declares no resource {name}")


def test_durable_singleton_starts_behave_on_azure_as_in_the_tests() -> None:
    """The workflow starts one orchestration per failure with a fixed instance id and expects a
    start to replace only a Completed, Failed or Terminated instance, and to fail with "already
    exists" while one is Pending, Running or Suspended (`REPLACEABLE` in adapters/durable.py,
    which the in-memory test backend honours). On Azure the Durable extension's gRPC endpoint
    decides with host.json's `overridableExistingInstanceStates` (older extension versions use only
    it, newer ones combine it with the request's policy): NonRunningStates dedupes exactly
    Running, ContinuedAsNew, Pending and Suspended. AnyState would replace a running instance."""
    from durabletask.internal import orchestrator_service_pb2 as pb

    from adapters.durable import REPLACEABLE

    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["durableTask"]["overridableExistingInstanceStates"] == (
        "NonRunningStates"
    )
    assert set(REPLACEABLE) == {
        pb.ORCHESTRATION_STATUS_COMPLETED,
        pb.ORCHESTRATION_STATUS_FAILED,
        pb.ORCHESTRATION_STATUS_TERMINATED,
    }
    # The GA bundle, whose Durable extension (3.x) serves azure-functions-durable 2.x over gRPC.
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }


# --- checkov: every skip is deliberate and explained; every file is one checkov can read -------

# (file, resource, check): each one has its reason next to it in the Bicep. A new finding is fixed,
# or skipped there with its reason and added here.
CHECKOV_SKIPS = {
    ("app/api.bicep", "plan", "CKV_AZURE_225"),
    ("app/api.bicep", "functionApp", "CKV_AZURE_222"),
    ("app/api.bicep", "functionApp", "CKV_AZURE_17"),
    ("app/api.bicep", "functionApp", "CKV_AZURE_78"),
    ("app/api.bicep", "functionApp", "CKV_AZURE_212"),
    ("app/api.bicep", "functionApp", "CKV_AZURE_213"),
    # checkov reads every Microsoft.Web/sites/config as the site's 'web' config.
    ("app/api.bicep", "authSettings", "CKV_AZURE_13"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_63"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_65"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_66"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_80"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_88"),
    ("app/api.bicep", "authSettings", "CKV_AZURE_222"),
    ("app/keyvault.bicep", "vault", "CKV_AZURE_109"),
    ("app/keyvault.bicep", "vault", "CKV_AZURE_189"),
    # False positives: purge protection is on by default (see the test above).
    ("app/keyvault.bicep", "vault", "CKV_AZURE_110"),
    ("app/keyvault.bicep", "vault", "CKV_AZURE_42"),
    ("app/keyvault.bicep", "githubTokenSecret", "CKV_AZURE_41"),
    ("app/keyvault.bicep", "githubTokenSecret", "CKV_AZURE_114"),
    ("app/storage.bicep", "storage", "CKV_AZURE_35"),
    ("app/storage.bicep", "storage", "CKV_AZURE_59"),
    ("app/storage.bicep", "storage", "CKV_AZURE_206"),
}
CHECKOV_SKIP = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _checkov_skips() -> list[tuple[str, str, str, str]]:
    found = []
    for path in BICEP_FILES:
        for node in _walk(bicep(path).tree_root):
            match = CHECKOV_SKIP.match(_text(node)) if node.type == "comment" else None
            if not match:
                continue
            holder = node.parent
            while holder is not None and holder.type != "resource_declaration":
                holder = holder.parent
            resource = _text(holder.named_children[0]) if holder is not None else "(no resource)"
            reason = (match.group(2) or "").strip()
            found.append((str(path.relative_to(INFRA)), resource, match.group(1), reason))
    return found


def test_every_checkov_skip_is_expected_and_explained() -> None:
    skips = _checkov_skips()
    unexplained = [f"{f} {r} {c}" for f, r, c, reason in skips if len(reason.split()) < 5]
    assert unexplained == [], "a skip states why the finding does not apply"
    assert sorted((f, r, c) for f, r, c, _ in skips) == sorted(CHECKOV_SKIPS)


TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"


@pytest.mark.skipif(not TOOLS_PYTHON.exists(), reason=".ci/run installs checkov in .venv-tools")
def test_checkov_can_parse_every_bicep_file() -> None:
    # checkov drops a file it cannot parse and still exits 0 ("Parsing errors: 1"), so a construct
    # its parser (pycep) lacks, such as an object literal inside a multi-line call, would silently
    # take that file's resources out of the scan.
    probe = (
        "import sys; from pathlib import Path; from pycep import BicepParser\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        BicepParser().parse(text=Path(name).read_text())\n"
        "    except Exception as error:\n"
        "        print(name, str(error).splitlines()[0])\n"
    )
    result = subprocess.run(
        [str(TOOLS_PYTHON), "-c", probe, *map(str, BICEP_FILES)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == []


# --- app settings: Bicep, local.settings.json.example and pipeline/settings.py agree -------------

# Set only in Azure, for the platform: identity-based host storage and the host's telemetry
# identity (Faultline's own telemetry reads APPLICATIONINSIGHTS_CONNECTION_STRING too).
PLATFORM_ONLY = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__blobServiceUri",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval",
}
# Set only locally: Core Tools needs the worker runtime; Flex Consumption sets it from
# functionAppConfig and rejects the setting.
LOCAL_HOST_ONLY = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}
# Read by the code but deliberately not set in Azure: the storage connection string (identity
# settings replace it) and plain GitHub and GitLab credentials (Key Vault holds them there).
NOT_IN_AZURE = {
    "AzureWebJobsStorage",
    "FAULTLINE_GITHUB_TOKEN",
    "FAULTLINE_GITLAB_TOKEN",
    "FAULTLINE_MARKER_KEY",
    "FAULTLINE_GITHUB_APP_PRIVATE_KEY",
    "FAULTLINE_GITHUB_ASSIGNMENT_TOKEN",
    "FAULTLINE_GITHUB_WEBHOOK_SECRET",
    "FAULTLINE_GITLAB_WEBHOOK_SECRET",
}
RULES_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def bicep_app_settings() -> set[str]:
    settings = bicep(API).variables["appSettings"]
    return set(_properties(settings))


def rules_file_variables() -> dict[str, bool]:
    """`${NAME}` references in the shipped rules file: name -> has a default."""
    text = (ROOT / "faultline.yaml").read_text()
    return {m.group(1): m.group(2) is not None for m in RULES_VARIABLE.finditer(text)}


def assert_same_names(have: set[str], want: set[str], where: str) -> None:
    missing, unexpected = sorted(want - have), sorted(have - want)
    assert not (missing or unexpected), (
        f"{where} lacks settings the code reads: {missing or 'none'}; "
        f"names settings the code does not read: {unexpected or 'none'}"
    )


def test_bicep_sets_every_setting_the_code_reads_and_nothing_it_does_not() -> None:
    faultline = bicep_app_settings() - PLATFORM_ONLY - set(rules_file_variables())
    assert_same_names(faultline, setting_names() - NOT_IN_AZURE, "infra/app/api.bicep appSettings")


def test_example_settings_name_what_the_code_reads() -> None:
    example = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    names = set(example) - LOCAL_HOST_ONLY
    assert_same_names(names, setting_names(), "local.settings.json.example")


def test_bicep_fills_in_the_rules_file_variables() -> None:
    variables = rules_file_variables()
    required = {name for name, has_default in variables.items() if not has_default}
    assert required <= bicep_app_settings(), "the rules file would fail to load in Azure"
    assert {"FAULTLINE_WORKSPACE_ID", "FAULTLINE_REPOSITORY"} <= bicep_app_settings()
    assert "FAULTLINE_RULES_PATH" in setting_names(), "the rules file can be pointed elsewhere"


def test_identity_storage_settings_cover_every_service_the_app_uses() -> None:
    settings = bicep_app_settings()
    assert "AzureWebJobsStorage" not in settings, "no connection string in Azure"
    for service in ("blob", "queue", "table"):  # table and queue: Faultline; all three: Durable
        assert f"AzureWebJobsStorage__{service}ServiceUri" in settings
    assert {"AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId"} <= settings


BINDING_SERVICE = {"queueTrigger": "queue", "queue": "queue", "blobTrigger": "blob", "blob": "blob"}
BINDING_SERVICE |= {"table": "table"}


def test_every_binding_resolves_to_a_setting_in_azure(functions: FunctionTable) -> None:
    settings = bicep_app_settings()
    unresolved = []
    for name, function in functions.functions.items():
        for binding in function.get_bindings_dict()["bindings"]:
            connection = binding.get("connection")
            if connection:
                service = BINDING_SERVICE.get(binding["type"], "queue")
                identity = {f"{connection}__{service}ServiceUri", f"{connection}__credential"}
                if connection not in settings and not identity <= settings:
                    unresolved.append(f"{name}: connection {connection}")
            for value in binding.values():
                for setting in re.findall(r"%([^%]+)%", value if isinstance(value, str) else ""):
                    if setting not in settings:
                        unresolved.append(f"{name}: %{setting}%")
    assert unresolved == []


# --- .funcignore: the package holds what the app imports, and no tests, infra or local files ---


def _funcignore() -> list[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def excluded(path: str) -> bool:
    """gitignore-style: a pattern with a slash anchors at the root, else matches any part."""
    parts = path.split("/")
    for pattern in _funcignore():
        anchored = pattern.strip("/")
        if "/" in pattern.rstrip("/"):
            if any(fnmatch("/".join(parts[:i]), anchored) for i in range(1, len(parts) + 1)):
                return True
        elif any(fnmatch(part, anchored) for part in parts):
            return True
    return False


@pytest.mark.parametrize(
    "path",
    [
        "tests/unit/test_infra.py",
        "infra/main.bicep",
        "docs/configuration.md",
        "samples/telemetry/AppRequests.json",
        "node_modules/azurite/package.json",
        ".venv/bin/python",
        ".venv-tools/bin/checkov",
        "local.settings.json",
        "local.settings.json.example",
        "__azurite_db_queue__.json",
        "bench/run.py",
        ".ci/run",
        "local_host/run.py",
        "scripts/smoke.py",
        "adapters/__pycache__/settings.cpython-313.pyc",
        "requirements-dev.txt",
    ],
)
def test_funcignore_keeps_development_files_out(path: str) -> None:
    assert excluded(path)


def test_funcignore_ships_the_app_its_modules_and_the_rules_file() -> None:
    # Import the app in a clean interpreter, as the host does, and list the project files it loads.
    probe = (
        "import sys, function_app; from pathlib import Path; root = Path.cwd().resolve()\n"
        "function_app.configuration_check.join()\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None)\n"
        "    if f and Path(f).resolve().is_relative_to(root):\n"
        "        print(Path(f).resolve().relative_to(root))\n"
    )
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "function_app.py" in loaded and any(p.startswith("detection/") for p in loaded)
    shipped = {"function_app.py", "host.json", "requirements.txt", "faultline.yaml", *loaded}
    assert sorted(p for p in shipped if ".venv" not in p and excluded(p)) == []


FAKE_AZ = """#!/usr/bin/env python3
import json, os, sys
state_path = os.environ["FAKE_AZ_STATE"]
state = json.load(open(state_path))
state["calls"].append(sys.argv[1:])
args = sys.argv[1:]
name = args[args.index("--name") + 1]
if state["forbidden"] > 0:
    state["forbidden"] -= 1
    json.dump(state, open(state_path, "w"))
    sys.exit("ERROR: (Forbidden) Caller is not authorized to perform action on resource.")
if args[:3] == ["keyvault", "secret", "show"]:
    json.dump(state, open(state_path, "w"))
    if name not in state["secrets"]:
        sys.exit("ERROR: (SecretNotFound) A secret with (name/id) %s was not found" % name)
    print("https://vault/secrets/" + name)
elif args[:3] == ["keyvault", "secret", "set"]:
    state["secrets"][name] = args[args.index("--value") + 1]
    json.dump(state, open(state_path, "w"))
"""


def _run_marker_key_hook(tmp_path: Path, secrets: dict[str, str], forbidden: int = 0) -> dict:
    """infra/hooks/marker-key.sh against an `az` that keeps its vault in a JSON file."""
    (tmp_path / "az").write_text(FAKE_AZ)
    (tmp_path / "az").chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"secrets": secrets, "calls": [], "forbidden": forbidden}))
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AZ_STATE": str(state),
        "AZURE_KEY_VAULT_NAME": "kv-faultline",
        "FAULTLINE_MARKER_KEY_SECRET": "marker-key",
        "FAULTLINE_HOOK_RETRY_SECONDS": "0",
    }
    subprocess.run(["sh", str(INFRA / "hooks" / "marker-key.sh")], env=env, check=True)
    return json.loads(state.read_text())


def test_azd_runs_the_marker_key_hook_after_provisioning() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]["postprovision"]
    assert hooks["posix"] == {"shell": "sh", "run": "./infra/hooks/marker-key.sh"}
    assert hooks["windows"] == {"shell": "pwsh", "run": "./infra/hooks/marker-key.ps1"}
    assert (INFRA / "hooks" / "marker-key.ps1").is_file()


def test_the_marker_key_is_created_once_with_256_random_bits(tmp_path: Path) -> None:
    created = _run_marker_key_hook(tmp_path, {})
    key = created["secrets"]["marker-key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    again = _run_marker_key_hook(tmp_path, {"marker-key": key})
    assert again["secrets"] == {"marker-key": key}, "an existing key is never replaced"
    assert [call[:3] for call in again["calls"]] == [["keyvault", "secret", "show"]]
    (tmp_path / "other").mkdir()
    other = _run_marker_key_hook(tmp_path / "other", {})
    assert other["secrets"]["marker-key"] != key


def test_the_marker_key_hook_waits_for_its_role_assignment(tmp_path: Path) -> None:
    created = _run_marker_key_hook(tmp_path, {}, forbidden=3)
    assert re.fullmatch(r"[0-9a-f]{64}", created["secrets"]["marker-key"])
    assert [call[:3] for call in created["calls"]].count(["keyvault", "secret", "show"]) == 4
