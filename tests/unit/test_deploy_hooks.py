"""The azd hooks around a deployment: the pre-flight (`infra/hooks/preflight.py`, preprovision)
and the post-deploy check (`infra/hooks/postdeploy.py`).

Their logic is tested directly (ARM wildcard matching, the shapes `az` prints, the settings they
validate), and each hook is run as azd runs it, as a subprocess, against a fake `az` on PATH that
answers from a JSON file describing the Azure it pretends to be.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from detection.rules import Repository
from local_host.host import FunctionTable

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "infra" / "hooks"


def _load(name: str) -> ModuleType:
    """A hook script as a module (infra/hooks is not a package: azd runs the files)."""
    spec = importlib.util.spec_from_file_location(f"hooks_{name}", HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


preflight = _load("preflight")
postdeploy = _load("postdeploy")

ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
DEPLOYMENT_WRITE = "Microsoft.Resources/deployments/write"

# Built-in role definitions' permissions, as the Permissions API lists them (one entry per role
# the caller holds at the scope).
OWNER = {"actions": ["*"], "notActions": [], "dataActions": [], "notDataActions": []}
CONTRIBUTOR = {
    "actions": ["*"],
    "notActions": [
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
        "Microsoft.Subscription/cancel/action",
        "Microsoft.Subscription/enable/action",
    ],
    "dataActions": [],
    "notDataActions": [],
}
READER = {"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}
USER_ACCESS_ADMINISTRATOR = {
    "actions": ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    "notActions": [],
}
RBAC_ADMINISTRATOR = {
    "actions": [
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
        "*/read",
        "Microsoft.Support/*",
    ],
    "notActions": [],
}


# --- ARM wildcard matching --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("*", ROLE_ASSIGNMENT_WRITE, True),
        ("Microsoft.Authorization/*", ROLE_ASSIGNMENT_WRITE, True),
        ("Microsoft.Authorization/*/Write", ROLE_ASSIGNMENT_WRITE, True),
        ("microsoft.authorization/ROLEASSIGNMENTS/write", ROLE_ASSIGNMENT_WRITE, True),
        ("*/write", ROLE_ASSIGNMENT_WRITE, True),
        ("Microsoft.Authorization/roleAssignments/*", ROLE_ASSIGNMENT_WRITE, True),
        ("Microsoft.Auth*", ROLE_ASSIGNMENT_WRITE, True),
        ("*/read", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Authorization/roleAssignments/read", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Authorization/roleAssignments", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Authorization/roleAssignments/write/x", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Authorization/*/Delete", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Resources/*", ROLE_ASSIGNMENT_WRITE, False),
        # A dot is a dot, not a regex wildcard.
        ("Microsoft.Authorization/roleAssignments.write", ROLE_ASSIGNMENT_WRITE, False),
        ("Microsoft.Resources/deployments/*", DEPLOYMENT_WRITE, True),
    ],
)  # fmt: skip
def test_arm_wildcards(pattern: str, action: str, matches: bool) -> None:
    assert preflight.action_matches(pattern, action) is matches


@pytest.mark.parametrize(
    ("roles", "action", "allowed"),
    [
        ([OWNER], ROLE_ASSIGNMENT_WRITE, True),
        ([USER_ACCESS_ADMINISTRATOR], ROLE_ASSIGNMENT_WRITE, True),
        ([RBAC_ADMINISTRATOR], ROLE_ASSIGNMENT_WRITE, True),
        ([READER], ROLE_ASSIGNMENT_WRITE, False),
        ([CONTRIBUTOR], ROLE_ASSIGNMENT_WRITE, False),
        ([CONTRIBUTOR, READER], ROLE_ASSIGNMENT_WRITE, False),
        # A role's notActions take away only from that role's own actions.
        ([CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR], ROLE_ASSIGNMENT_WRITE, True),
        ([], ROLE_ASSIGNMENT_WRITE, False),
        ([{"Actions": ["*"], "NotActions": []}], ROLE_ASSIGNMENT_WRITE, True),
        ([{"actions": ["*"]}], ROLE_ASSIGNMENT_WRITE, True),
        ([{"notActions": []}], ROLE_ASSIGNMENT_WRITE, False),
        ([CONTRIBUTOR], DEPLOYMENT_WRITE, True),
        ([OWNER], DEPLOYMENT_WRITE, True),
        ([RBAC_ADMINISTRATOR], DEPLOYMENT_WRITE, False),
        ([USER_ACCESS_ADMINISTRATOR, READER], DEPLOYMENT_WRITE, False),
    ],
)
def test_effective_permissions_per_role(roles: list[dict], action: str, allowed: bool) -> None:
    assert preflight.allows(roles, action) is allowed


def test_permissions_follow_next_link(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = {
        "/sub/rg/providers/Microsoft.Authorization/permissions?api-version=2022-04-01": {
            "value": [READER],
            "nextLink": "https://management.azure.com/next",
        },
        "https://management.azure.com/next": {"value": [USER_ACCESS_ADMINISTRATOR]},
    }

    def fake_az(*args: str) -> object:
        url = args[args.index("--url") + 1]
        return preflight.Answer(True, json.dumps(pages[url]), "")

    monkeypatch.setattr(preflight, "az", fake_az)
    entries, answer = preflight.caller_permissions("/sub/rg")
    assert answer.ok and entries == [READER, USER_ACCESS_ADMINISTRATOR]
    assert preflight.allows(entries, ROLE_ASSIGNMENT_WRITE)


# --- what az prints ---------------------------------------------------------------------------


def cli_runtime(version: str, name: str = "python") -> dict:
    """One entry of `az functionapp list-flexconsumption-runtimes` output: azure-cli's
    `_FlexFunctionAppStackRuntimeHelper.Runtime` (appservice/custom.py) as its `todict` prints
    it, the `sku` being the Functions stacks API's FC1 sku, passed through."""
    return {
        "name": name,
        "version": version,
        "appInsights": True,
        "default": version == "3.12",
        "sku": {
            "skuCode": "FC1",
            "instanceMemoryMB": [
                {"size": 512, "isDefault": False},
                {"size": 2048, "isDefault": True},
                {"size": 4096, "isDefault": False},
            ],
            "maximumInstanceCount": {"lowestMaximumInstanceCount": 1, "defaultValue": 100},
            "functionAppConfigProperties": {"runtime": {"name": name, "version": version}},
        },
        "endOfLifeDate": "2029-10-31T00:00:00Z",
        "githubActionsProperties": {"isSupported": True, "supportedVersion": version},
    }


PYTHON_RUNTIMES = [cli_runtime(v) for v in ("3.13", "3.12", "3.11", "3.10")]
OLD_PYTHON_RUNTIMES = [cli_runtime(v) for v in ("3.12", "3.11", "3.10")]


@pytest.mark.parametrize(
    ("printed", "versions"),
    [
        pytest.param(PYTHON_RUNTIMES, {(3, 13), (3, 12), (3, 11), (3, 10)}, id="azure-cli"),
        pytest.param(OLD_PYTHON_RUNTIMES, {(3, 12), (3, 11), (3, 10)}, id="azure-cli-no-3.13"),
        pytest.param([], set(), id="empty"),
        # `--query "[].{version:version}"`, as the Flex migration guide runs it
        pytest.param([{"version": "3.13"}, {"version": "3.12"}], {(3, 13), (3, 12)}, id="query"),
        # Get-AzFunctionAppFlexConsumptionRuntime | ConvertTo-Json
        pytest.param(
            [{"Name": "python", "Version": "3.13", "IsDefault": False, "Sku": {"SkuCode": "FC1"}}],
            {(3, 13)},
            id="az-powershell",
        ),
        pytest.param({"value": OLD_PYTHON_RUNTIMES}, {(3, 12), (3, 11), (3, 10)}, id="wrapped"),
        # Only the nested functionAppConfigProperties.runtime carries the version.
        pytest.param(
            [
                {
                    "sku": {
                        "functionAppConfigProperties": {
                            "runtime": {"name": "python", "version": "3.13"}
                        }
                    }
                }
            ],
            {(3, 13)},
            id="nested-only",
        ),
        # `list-flexconsumption-locations --show-details`: regions, then runtimes per language
        pytest.param(
            [
                {
                    "name": "eastasia",
                    "details": [
                        {"runtime": "python", "runtime-details": [cli_runtime("3.13")]},
                        {"runtime": "node", "runtime-details": [cli_runtime("3.11", "node")]},
                    ],
                }
            ],
            {(3, 13)},
            id="locations-with-details",
        ),
        # Other languages' versions do not count, nested or not.
        pytest.param(
            [cli_runtime("22", "node"), cli_runtime("8.0", "dotnet-isolated")], set(), id="others"
        ),
        pytest.param(None, set(), id="not-json"),
    ],
)
def test_python_versions_from_the_runtime_list(printed: object, versions: set) -> None:
    assert preflight.python_versions(printed) == versions


def test_flex_regions_are_normalized_as_azd_writes_them() -> None:
    printed = [{"name": "eastus"}, {"name": "East US 2"}, "swedencentral", {"other": 1}]
    assert preflight.location_names(printed) == ["eastus", "eastus2", "swedencentral"]
    assert preflight.location_names({"error": "x"}) == []


@pytest.mark.parametrize(
    "value",
    [
        "contoso/shop",
        "Contoso-Org/shop.api_v2",
        "",
        "contoso",
        "contoso/shop/extra",
        "https://github.com/contoso/shop",
        "contoso/ shop",
        "contoso/shop ",
        "con_toso/shop",
    ],
)
def test_repository_check_accepts_what_the_rules_file_accepts(value: str) -> None:
    """FAULTLINE_REPOSITORY becomes `routing.default_repository`; the app refuses to start with
    a value its rules model rejects, so the pre-flight rejects exactly those."""
    try:
        TypeAdapter(Repository).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert (preflight.repository_problem(value) is None) is accepted


SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-monitoring"
WORKSPACE = f"{GROUP}/providers/Microsoft.OperationalInsights/workspaces/law-prod"
OTHER_GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-legacy"
OTHER_WORKSPACE = f"{OTHER_GROUP}/providers/Microsoft.OperationalInsights/workspaces/law-legacy"


def test_workspace_ids_are_read_as_main_bicep_reads_them() -> None:
    lowercase = WORKSPACE.replace("Microsoft.OperationalInsights", "microsoft.operationalinsights")
    workspaces, problems = preflight.parse_workspace_ids(f" {WORKSPACE} , {lowercase}")
    assert problems == []
    assert [(w.subscription, w.group, w.name) for w in workspaces] == [
        (SUBSCRIPTION, "rg-monitoring", "law-prod")
    ] * 2
    assert workspaces[0].group_id == GROUP


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{WORKSPACE},", "entry 2 is empty (a stray comma)"),
        (f"{WORKSPACE}/", "entry 1"),
        (WORKSPACE.replace(SUBSCRIPTION, "my-subscription"), "entry 1"),
        (f"{GROUP}/providers/Microsoft.Storage/storageAccounts/stfaultline", "entry 1"),
        ("law-prod", "entry 1, 'law-prod', is not a workspace resource id"),
        ("1c6a2f45-2c31-4f0d-9a9d-6f5b7a3b9c10", "entry 1"),  # a workspace id, not a resource id
    ],
)
def test_entries_that_are_not_workspace_resource_ids(value: str, problem: str) -> None:
    workspaces, problems = preflight.parse_workspace_ids(value)
    assert len(problems) == 1 and problems[0].startswith(problem)
    assert len(workspaces) == value.count(",")


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "ERROR: (ResourceNotFound) The Resource 'Microsoft.OperationalInsights/workspaces/"
            "law-prod' under resource group 'rg-monitoring' was not found. For more details "
            "please go to https://aka.ms/ARMResourceNotFoundFix\nCode: ResourceNotFound",
            "missing",
        ),
        ("ERROR: (ResourceGroupNotFound) Resource group 'rg-x' could not be found.", "missing"),
        (
            "ERROR: (AuthorizationFailed) The client 'dev@contoso.com' with object id '...' does "
            "not have authorization to perform action 'Microsoft.OperationalInsights/workspaces/"
            "read' over scope '...' or the scope is invalid.",
            "denied",
        ),
        ('ERROR: Forbidden({"error":{"code":"AuthorizationFailed","message":"..."}})', "denied"),
        ("ERROR: (InvalidAuthenticationTokenTenant) The access token is from the wrong issuer",
         "denied"),
        ("ERROR: HTTPSConnectionPool(host='management.azure.com', port=443): timed out", "other"),
    ],
)  # fmt: skip
def test_arm_failures_are_told_apart(message: str, kind: str) -> None:
    assert preflight.failure_kind(preflight.Answer(False, "", message)) == kind


def test_function_names_from_the_listing() -> None:
    listing = "func-faultline-x/health_check\r\nfunc-faultline-x/sync_issue\n\nreplay_window\n"
    assert postdeploy.function_names(listing) == {"health_check", "sync_issue", "replay_window"}
    everything = set(postdeploy.EXPECTED_FUNCTIONS)
    assert postdeploy.missing_functions({name.upper() for name in everything}) == []
    assert postdeploy.missing_functions(everything - {"sync_issue", "fan_out_queries"}) == [
        "fan_out_queries",
        "sync_issue",
    ]


# --- the hooks agree with the app and the infrastructure --------------------------------------


def test_postdeploy_expects_exactly_the_functions_the_app_registers(
    functions: FunctionTable,
) -> None:
    # Durable Functions adds its own BuiltIn__ functions (for call_http); Faultline does not
    # rely on them.
    registered = {name for name in functions.functions if not name.startswith("BuiltIn__")}
    assert sorted(postdeploy.EXPECTED_FUNCTIONS) == sorted(registered)


def test_hooks_check_what_the_infrastructure_uses() -> None:
    bicep = (ROOT / "infra" / "main.bicep").read_text()
    outputs = set(re.findall(r"^output (\w+) ", bicep, re.MULTILINE))
    assert {"AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_NAME", "AZURE_FUNCTION_URL"} <= outputs
    assert {"AZURE_KEY_VAULT_NAME", "FAULTLINE_GITHUB_TOKEN_SECRET"} <= outputs
    parameters = (ROOT / "infra" / "main.parameters.json").read_text()
    for variable in ("FAULTLINE_WORKSPACE_RESOURCE_IDS", "FAULTLINE_REPOSITORY", "AZURE_LOCATION"):
        assert "${" + variable + "}" in parameters
    assert "${FAULTLINE_GITHUB_TOKEN_SECRET=github-token}" in parameters
    api = (ROOT / "infra" / "app" / "api.bicep").read_text()
    version = re.search(r"runtime: \{\s*name: 'python'\s*version: '(\d+)\.(\d+)'", api)
    assert version and tuple(map(int, version.groups())) == preflight.PYTHON_VERSION
    reader = (ROOT / "infra" / "app" / "workspace-reader.bicep").read_text()
    assert "'Microsoft.Authorization/roleAssignments@" in reader and "scope: workspace" in reader
    assert "scope: resourceGroup(split(workspaceResourceId, '/')[2]" in bicep


def test_azd_runs_the_pre_flight_before_provisioning_and_the_check_after_deploying() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]
    for event, script in (("preprovision", "preflight.py"), ("postdeploy", "postdeploy.py")):
        assert hooks[event]["posix"] == {
            "shell": "sh",
            "run": f"python3 ./infra/hooks/{script}",
            "interactive": True,
        }
        assert hooks[event]["windows"] == {
            "shell": "pwsh",
            "run": f"python ./infra/hooks/{script}",
            "interactive": True,
        }
        assert (HOOKS / script).is_file()
    assert hooks["postprovision"]["posix"]["run"] == "./infra/hooks/marker-key.sh"


@pytest.mark.parametrize("script", ["preflight.py", "postdeploy.py"])
def test_hooks_run_on_python_39_with_the_standard_library_only(script: str) -> None:
    tree = ast.parse((HOOKS / script).read_text(), feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


# --- the hooks run against a fake az ----------------------------------------------------------

FAKE_AZ = r"""import json, os, sys
world_path = os.environ["FAKE_AZ_WORLD"]
with open(world_path) as file:
    world = json.load(file)
args = sys.argv[1:]
world["calls"].append(args)

def save():
    with open(world_path, "w") as file:
        json.dump(world, file)

def option(name):
    return args[args.index(name) + 1] if name in args else None

def fail(message, code=1):
    save()
    sys.stderr.write(message + "\n")
    sys.exit(code)

if not world["signed_in"]:
    fail("ERROR: Please run 'az login' to setup account.")
save()
if args[:2] == ["account", "show"]:
    user = {"name": "dev@contoso.com", "type": "user"}
    print(json.dumps({"id": option("--subscription"), "user": user}))
elif args[:2] == ["functionapp", "list-flexconsumption-locations"]:
    print(json.dumps([{"name": name} for name in world["flex_locations"]]))
elif args[:2] == ["functionapp", "list-flexconsumption-runtimes"]:
    runtimes = world["runtimes"].get(option("--location"))
    if runtimes is None:
        fail("ERROR: Runtime 'python' not supported for function apps on the Flex Consumption "
             "plan.")
    print(json.dumps(runtimes))
elif args[:4] == ["monitor", "log-analytics", "workspace", "show"]:
    workspace = option("--ids")
    if workspace.lower() not in world["workspaces"]:
        name, group = workspace.split("/")[-1], workspace.split("/")[4]
        fail("ERROR: (ResourceNotFound) The Resource 'Microsoft.OperationalInsights/workspaces/%s' "
             "under resource group '%s' was not found.\nCode: ResourceNotFound" % (name, group), 3)
    print(workspace)
elif args[:1] == ["rest"]:
    scope = option("--url").split("/providers/Microsoft.Authorization/permissions")[0].lower()
    if scope not in world["permissions"]:
        fail('ERROR: Forbidden({"error":{"code":"AuthorizationFailed","message":"The client '
             "'dev@contoso.com' does not have authorization to perform action "
             "'Microsoft.Authorization/permissions/read'\"}})")
    print(json.dumps({"value": world["permissions"][scope]}))
elif args[:3] == ["functionapp", "function", "list"]:
    answers = world["function_lists"]
    answer = answers.pop(0) if len(answers) > 1 else answers[0]
    save()
    if answer is None:
        fail("ERROR: (ResourceNotFound) The Resource 'Microsoft.Web/sites/%s' was not found."
             % option("-n"), 3)
    print("\n".join("%s/%s" % (option("-n"), name) for name in answer))
else:
    fail("fake az: no answer for " + " ".join(args), 2)
"""


def azure(**changes: object) -> dict:
    """An Azure where everything is in order, with `changes`."""
    world = {
        "signed_in": True,
        "flex_locations": ["eastasia", "eastus", "northeurope", "swedencentral", "uksouth"],
        "runtimes": {"swedencentral": PYTHON_RUNTIMES, "uksouth": OLD_PYTHON_RUNTIMES},
        "workspaces": [WORKSPACE.lower()],
        "permissions": {WORKSPACE.lower(): [OWNER], GROUP.lower(): [OWNER]},
        "function_lists": [list(postdeploy.EXPECTED_FUNCTIONS)],
        "calls": [],
    }
    return world | changes


AZD_ENV = {
    "AZURE_ENV_NAME": "faultline-prod",
    "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    "AZURE_LOCATION": "swedencentral",
    "FAULTLINE_WORKSPACE_RESOURCE_IDS": WORKSPACE,
    "FAULTLINE_REPOSITORY": "contoso/shop",
}
DEPLOYED = {
    "AZURE_RESOURCE_GROUP": "rg-faultline-prod",
    "AZURE_FUNCTION_NAME": "func-faultline-abc123",
    "AZURE_FUNCTION_URL": "https://func-faultline-abc123.azurewebsites.net",
}


@pytest.fixture
def run_hook(tmp_path: Path):
    """Run a hook as azd does (its environment: the azd environment's values), with a fake az
    first on PATH (or no az at all); returns its exit code, everything it printed, and the az
    calls it made."""

    def run(
        script: str, world: dict | None, env: dict[str, str]
    ) -> tuple[int, str, list[list[str]]]:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        state = tmp_path / "azure.json"
        state.write_text(json.dumps(world or {}))
        if world is not None:
            (bin_dir / "az").write_text(f"#!{sys.executable}\n{FAKE_AZ}")
            (bin_dir / "az").chmod(0o755)
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AZURE_", "FAULTLINE_"))
        }
        path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}" if world is not None else str(bin_dir)
        done = subprocess.run(
            [sys.executable, str(HOOKS / script)],
            env={**inherited, "PATH": path, "FAKE_AZ_WORLD": str(state), **env},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        calls = json.loads(state.read_text()).get("calls", [])
        return done.returncode, done.stdout + done.stderr, calls

    return run


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("pre-flight: ERROR")]


def test_pre_flight_passes_when_all_is_in_order(run_hook) -> None:
    code, output, calls = run_hook("preflight.py", azure(), AZD_ENV)
    assert code == 0, output
    assert "ERROR" not in output and "warning" not in output
    assert "pre-flight: ready to provision" in output
    # It asked what it needed to know, in azd's subscription.
    assert ["account", "show", "-o", "json", "--subscription", SUBSCRIPTION] in calls
    urls = [call[call.index("--url") + 1] for call in calls if call[0] == "rest"]
    assert urls == [
        f"{WORKSPACE}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
        f"{GROUP}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
    ]
    # The GitHub token still has to be stored, once the vault exists.
    assert (
        'az keyvault secret set --vault-name "$(azd env get-value AZURE_KEY_VAULT_NAME)" '
        '--name github-token --value "$GITHUB_TOKEN"'
    ) in output


def test_the_token_notice_names_the_secret_and_goes_once_a_token_is_given(run_hook) -> None:
    env = {**AZD_ENV, "FAULTLINE_GITHUB_TOKEN_SECRET": "gh-issues-token"}
    code, output, _ = run_hook("preflight.py", azure(), env)
    assert code == 0 and "pre-flight: notice:" in output and "--name gh-issues-token " in output
    code, output, _ = run_hook("preflight.py", azure(), {**AZD_ENV, "FAULTLINE_GITHUB_TOKEN": "x"})
    assert code == 0 and "keyvault" not in output


def test_as_a_github_app_the_notice_asks_for_the_private_key_and_the_user_token(
    run_hook,
) -> None:
    env = {**AZD_ENV, "FAULTLINE_GITHUB_APP_ID": "123456"}
    code, output, _ = run_hook("preflight.py", azure(), env)
    assert code == 0 and "--name github-app-private-key --file " in output
    assert "--name github-token" not in output and "$USER_TOKEN" not in output
    env["FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET"] = "copilot-user-token"
    code, output, _ = run_hook("preflight.py", azure(), env)
    assert code == 0 and '--name copilot-user-token --value "$USER_TOKEN"' in output


def test_a_region_without_flex_consumption(run_hook) -> None:
    code, output, _ = run_hook("preflight.py", azure(), {**AZD_ENV, "AZURE_LOCATION": "westus"})
    assert code == 1
    [error] = errors(output)
    assert "the Flex Consumption plan is not offered in westus" in error
    assert "eastasia, eastus, northeurope, swedencentral, uksouth" in error
    assert "az functionapp list-flexconsumption-locations" in output
    assert "azd env set AZURE_LOCATION <region>" in output


def test_a_region_with_flex_consumption_but_not_python_313(run_hook) -> None:
    env = {**AZD_ENV, "AZURE_LOCATION": "uksouth"}
    code, output, calls = run_hook("preflight.py", azure(), env)
    assert code == 1
    [error] = errors(output)
    assert "Flex Consumption in uksouth offers Python 3.10, Python 3.11, Python 3.12, not " in error
    assert "Python 3.13, which the app runs on" in error
    assert "list-flexconsumption-runtimes --location <region> --runtime python" in output
    assert [
        "functionapp", "list-flexconsumption-runtimes", "--location", "uksouth", "--runtime",
        "python", "-o", "json", "--subscription", SUBSCRIPTION,
    ] in calls  # fmt: skip


def test_a_region_with_flex_consumption_but_no_python_at_all(run_hook) -> None:
    code, output, _ = run_hook("preflight.py", azure(), {**AZD_ENV, "AZURE_LOCATION": "eastus"})
    assert code == 1
    [error] = errors(output)
    assert "Flex Consumption in eastus offers no Python, not Python 3.13" in error


@pytest.mark.parametrize(
    "roles",
    [[READER], [CONTRIBUTOR], [CONTRIBUTOR, READER]],
    ids=["reader", "contributor", "contributor-and-reader"],
)
def test_a_workspace_where_the_deployer_may_not_create_role_assignments(
    run_hook, roles: list[dict]
) -> None:
    world = azure(permissions={WORKSPACE.lower(): roles, GROUP.lower(): [OWNER]})
    code, output, _ = run_hook("preflight.py", world, AZD_ENV)
    assert code == 1
    [error] = errors(output)
    assert (
        f"you may not create role assignments ({ROLE_ASSIGNMENT_WRITE}) on workspace law-prod"
        in error
    )
    assert "Log Analytics Reader" in error
    assert (
        'az role assignment create --assignee "dev@contoso.com" '
        f'--role "Role Based Access Control Administrator" --scope "{WORKSPACE}"'
    ) in output


def test_a_workspace_whose_resource_group_the_deployer_may_not_deploy_to(run_hook) -> None:
    world = azure(permissions={WORKSPACE.lower(): [RBAC_ADMINISTRATOR], GROUP.lower(): [READER]})
    code, output, _ = run_hook("preflight.py", world, AZD_ENV)
    assert code == 1
    [error] = errors(output)
    assert (
        f"you may not create deployments ({DEPLOYMENT_WRITE}) on resource group rg-monitoring"
        in error
    )
    assert f'--role "Contributor" --scope "{GROUP}"' in output


def test_permissions_that_cannot_be_read_point_at_the_skip_flag(run_hook) -> None:
    code, output, _ = run_hook("preflight.py", azure(permissions={}), AZD_ENV)
    assert code == 1
    assert len(errors(output)) == 2  # the workspace, and its resource group
    assert "could not read your permissions on workspace law-prod" in output
    assert "AuthorizationFailed" in output
    assert "azd env set FAULTLINE_SKIP_PREFLIGHT true" in output


def test_a_missing_workspace(run_hook) -> None:
    code, output, calls = run_hook("preflight.py", azure(workspaces=[]), AZD_ENV)
    assert code == 1
    [error] = errors(output)
    assert f"workspace law-prod does not exist, or you cannot see it: {WORKSPACE}" in error
    assert "ResourceNotFound" in error
    assert 'az monitor log-analytics workspace list --query "[].id" -o tsv' in output
    assert not [call for call in calls if call[0] == "rest"], "no permissions asked of it"


def test_every_problem_is_reported_at_once(run_hook) -> None:
    world = azure(
        workspaces=[WORKSPACE.lower(), OTHER_WORKSPACE.lower()],
        permissions={
            WORKSPACE.lower(): [READER],
            GROUP.lower(): [OWNER],
            OTHER_WORKSPACE.lower(): [OWNER],
            OTHER_GROUP.lower(): [OWNER],
        },
    )
    missing = WORKSPACE.replace("law-prod", "law-gone")
    env = {
        **AZD_ENV,
        "AZURE_LOCATION": "westus",
        "FAULTLINE_REPOSITORY": "contoso",
        "FAULTLINE_WORKSPACE_RESOURCE_IDS": f"{WORKSPACE},{missing},law-staging,{OTHER_WORKSPACE},",
    }
    code, output, _ = run_hook("preflight.py", world, env)
    assert code == 1
    found = errors(output)
    assert len(found) == 5, output
    assert "FAULTLINE_REPOSITORY is 'contoso', which is not owner/repo" in found[0]
    assert "entry 3, 'law-staging', is not a workspace resource id; entry 5 is empty" in found[1]
    assert "not offered in westus" in found[2]
    assert (
        f"you may not create role assignments ({ROLE_ASSIGNMENT_WRITE}) on workspace law-prod"
        in found[3]
    )
    assert "workspace law-gone does not exist" in found[4]
    assert "pre-flight: 5 problem(s) would stop provisioning" in output


def test_unset_settings_say_how_to_set_them(run_hook) -> None:
    env = {"AZURE_ENV_NAME": "faultline-prod"}
    code, output, calls = run_hook("preflight.py", azure(), env)
    assert code == 1
    assert len(errors(output)) == 2
    assert "FAULTLINE_REPOSITORY is not set" in output
    assert "azd env set FAULTLINE_REPOSITORY <owner>/<repo>" in output
    assert "FAULTLINE_WORKSPACE_RESOURCE_IDS is not set" in output
    assert "azd env set FAULTLINE_WORKSPACE_RESOURCE_IDS" in output
    # azd asks for the region later; that is a warning, not a problem.
    assert "pre-flight: warning: AZURE_LOCATION is not set yet" in output
    assert ["account", "show", "-o", "json"] in calls


def test_az_not_signed_in(run_hook) -> None:
    env = {**AZD_ENV, "FAULTLINE_REPOSITORY": "contoso"}
    code, output, calls = run_hook("preflight.py", azure(signed_in=False), env)
    assert code == 1
    first, second = errors(output)
    assert f"az is not signed in to subscription {SUBSCRIPTION}" in first
    assert "Please run 'az login' to setup account." in first
    assert f"run `az login`, then `az account set --subscription {SUBSCRIPTION}`" in output
    assert "FAULTLINE_REPOSITORY is 'contoso'" in second, "settings are still checked"
    assert [call[:2] for call in calls] == [["account", "show"]], "Azure is not asked further"


def test_az_not_installed(run_hook) -> None:
    code, output, _ = run_hook("preflight.py", None, AZD_ENV)
    assert code == 1
    [error] = errors(output)
    assert "the Azure CLI (az) is not installed or not on PATH" in error
    assert "https://aka.ms/installazurecli" in output


@pytest.mark.parametrize("flag", ["true", "True", "1"])
def test_the_skip_flag_skips_every_check(run_hook, flag: str) -> None:
    env = {"FAULTLINE_SKIP_PREFLIGHT": flag}  # nothing else set: every check would fail
    code, output, calls = run_hook("preflight.py", azure(signed_in=False), env)
    assert code == 0
    assert output.startswith("pre-flight: warning: FAULTLINE_SKIP_PREFLIGHT is set")
    assert calls == []


def test_postdeploy_lists_the_functions_once_flex_has_indexed_them(run_hook) -> None:
    world = azure(function_lists=[[], list(postdeploy.EXPECTED_FUNCTIONS)])
    env = {**DEPLOYED, "FAULTLINE_HOOK_RETRY_SECONDS": "0"}
    code, output, calls = run_hook("postdeploy.py", world, env)
    assert code == 0, output
    assert [call[:3] for call in calls] == [["functionapp", "function", "list"]] * 2
    assert calls[0] == [
        "functionapp", "function", "list", "-g", "rg-faultline-prod", "-n",
        "func-faultline-abc123", "--query", "[].name", "-o", "tsv",
    ]  # fmt: skip
    expected = len(postdeploy.EXPECTED_FUNCTIONS)
    assert f"post-deploy: 0 of {expected} functions listed (1/8)" in output
    listed = re.search(r"post-deploy: functions in func-faultline-abc123: (.*)", output)
    assert listed and listed.group(1).split(", ") == sorted(postdeploy.EXPECTED_FUNCTIONS)
    assert "warning" not in output
    url = "https://func-faultline-abc123.azurewebsites.net/api/health"
    key = (
        "az functionapp keys list -g rg-faultline-prod -n func-faultline-abc123 "
        "--query functionKeys.default -o tsv"
    )
    assert f"post-deploy: health check: {url}" in output
    assert f"post-deploy: the key: {key}" in output
    assert f'curl "{url}?code=$({key})"' in output
    assert not [call for call in calls if "keys" in call], "the key itself is never fetched"


def test_postdeploy_warns_about_missing_functions_but_never_fails(run_hook) -> None:
    listed = [name for name in postdeploy.EXPECTED_FUNCTIONS if "issue" not in name]
    env = {**DEPLOYED, "FAULTLINE_HOOK_RETRY_SECONDS": "0"}
    code, output, calls = run_hook("postdeploy.py", azure(function_lists=[listed]), env)
    assert code == 0
    assert len(calls) == postdeploy.ATTEMPTS
    warning = re.search(r"post-deploy: warning: not listed \(yet\): (.*?)\. ", output)
    assert warning and warning.group(1).split(", ") == [
        "resolve_quiet_issues", "start_issue_workflow", "issue_workflow", "sync_issue",
        "assign_issue",
    ]  # fmt: skip
    assert "func azure functionapp logstream func-faultline-abc123" in output
    assert "post-deploy: health check: " in output


def test_postdeploy_warns_when_the_functions_cannot_be_listed(run_hook) -> None:
    env = {**DEPLOYED, "FAULTLINE_HOOK_RETRY_SECONDS": "0"}
    code, output, _ = run_hook("postdeploy.py", azure(function_lists=[None]), env)
    assert code == 0
    assert "post-deploy: warning: could not list the functions of func-faultline-abc123" in output
    assert "ResourceNotFound" in output
    assert "post-deploy: warning: not listed (yet): fan_out_queries, " in output


def test_postdeploy_without_az(run_hook) -> None:
    code, output, _ = run_hook("postdeploy.py", None, DEPLOYED)
    assert code == 0
    assert "could not list the functions of func-faultline-abc123: the Azure CLI (az)" in output
    assert "post-deploy: health check: " in output


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 15.0), ("0", 0.0), ("2.5", 2.5), ("x", 15.0)]
)
def test_postdeploy_pause_between_attempts(value: str | None, seconds: float) -> None:
    env = {} if value is None else {"FAULTLINE_HOOK_RETRY_SECONDS": value}
    assert postdeploy.retry_seconds(env) == seconds


def test_postdeploy_without_provisioning_outputs(run_hook) -> None:
    code, output, calls = run_hook("postdeploy.py", azure(), {})
    assert code == 0 and calls == []
    assert "AZURE_FUNCTION_URL is not set" in output and "azd provision" in output
