"""azd preprovision: find what would make `azd provision` fail, or leave the app unable to work,
before anything is created, and say how to fix each problem.

A failed deployment reports one problem at a time, often minutes in (a region without Flex
Consumption, a workspace whose role assignment the deployer may not create); this reports every
problem at once. Standard library only, Python 3.9 or later: it runs on the deployer's Python,
outside the app's virtual environment. Azure is asked through `az`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# infra/app/api.bicep runs the app on Python 3.13 on the Flex Consumption plan.
PYTHON_VERSION = (3, 13)
# Bicep gives the app Log Analytics Reader on each monitored workspace (a role assignment there),
# from a deployment in the workspace's resource group (infra/app/workspace-reader.bicep).
ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
DEPLOYMENT_WRITE = "Microsoft.Resources/deployments/write"
PERMISSIONS_API = "providers/Microsoft.Authorization/permissions?api-version=2022-04-01"
WORKSPACE_ID = re.compile(
    r"/subscriptions/(?P<subscription>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.OperationalInsights/workspaces/(?P<name>[^/]+)",
    re.IGNORECASE,
)
WORKSPACE_ID_FORM = (
    "/subscriptions/<subscription id>/resourceGroups/<resource group>"
    "/providers/Microsoft.OperationalInsights/workspaces/<name>"
)
# The rules file's pattern for a repository (`Repository` in detection/rules.py).
REPOSITORY = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
TRUE = {"1", "true", "yes", "on"}

ERROR, WARNING, NOTICE = "ERROR", "warning", "notice"


@dataclass(frozen=True)
class Finding:
    """One thing the deployer should know: what is wrong (or to do), and the fix."""

    level: str
    problem: str
    fix: str

    def render(self) -> str:
        label = "next" if self.level == NOTICE else "fix"
        return f"pre-flight: {self.level}: {self.problem}\n    {label}: {self.fix}"


@dataclass(frozen=True)
class Answer:
    """What one `az` command printed, and whether it succeeded."""

    ok: bool
    output: str
    error: str

    def json(self) -> object:
        try:
            return json.loads(self.output)
        except ValueError:
            return None

    def reason(self) -> str:
        """az's own message, on one line, for quoting in a finding."""
        text = " ".join((self.error or self.output).split())
        return text[:400] or "no message"


def az(*args: str) -> Answer:
    """Run `az` (found on PATH, `az.cmd` on Windows) and keep what it printed."""
    executable = shutil.which("az")
    if executable is None:
        return Answer(False, "", "az: command not found")
    done = subprocess.run(
        [executable, *args], capture_output=True, text=True, encoding="utf-8", errors="replace"
    )
    return Answer(done.returncode == 0, done.stdout, done.stderr)


# --- pure logic -------------------------------------------------------------------------------


def action_matches(pattern: str, action: str) -> bool:
    """ARM's wildcard rule: `*` stands for any run of characters (slashes too), case-insensitive."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, action, re.IGNORECASE) is not None


def _field(entry: Mapping[str, object], name: str) -> list[str]:
    for key, value in entry.items():
        if key.lower() == name.lower() and isinstance(value, list):
            return [str(item) for item in value]
    return []


def allows(permissions: list[Mapping[str, object]], action: str) -> bool:
    """Whether some permission entry (one per role the caller holds at the scope) grants
    `action`: one of its `actions` matches and none of that same entry's `notActions` does."""
    return any(
        any(action_matches(pattern, action) for pattern in _field(entry, "actions"))
        and not any(action_matches(pattern, action) for pattern in _field(entry, "notActions"))
        for entry in permissions
    )


def _version(text: str) -> tuple[int, int] | None:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def dotted(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


def python_versions(answer: object) -> set[tuple[int, int]]:
    """The Python versions in `az functionapp list-flexconsumption-runtimes` output, as
    (major, minor). The CLI prints a list of runtimes, `{"name": "python", "version": "3.13",
    "sku": {"functionAppConfigProperties": {"runtime": {"name": "python", "version": "3.13"}},
    ...}, ...}`. Any object with a version is read, unless it names another runtime (then
    nothing under it is); keys are read case-insensitively (Az PowerShell prints `Name`,
    `Version`); wrappers such as `{"value": [...]}` or the per-region lists of
    `list-flexconsumption-locations --show-details` are searched through."""
    found: set[tuple[int, int]] = set()
    if isinstance(answer, list):
        for item in answer:
            found |= python_versions(item)
    elif isinstance(answer, dict):
        fields = {str(key).lower(): value for key, value in answer.items()}
        name = fields.get("name", fields.get("runtime"))
        version = fields.get("version")
        if isinstance(version, str):
            if isinstance(name, str) and name.lower() != "python":
                return found
            parsed = _version(version)
            if parsed:
                found.add(parsed)
        for value in answer.values():
            found |= python_versions(value)
    return found


def location_names(answer: object) -> list[str]:
    """Region names from `az functionapp list-flexconsumption-locations` (`[{"name": "eastus"}]`),
    normalized as azd writes AZURE_LOCATION."""
    names = []
    for item in answer if isinstance(answer, list) else []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str):
            names.append(normalize_location(name))
    return names


def normalize_location(name: str) -> str:
    return name.replace(" ", "").lower()


def repository_problem(value: str) -> str | None:
    if not value:
        return "FAULTLINE_REPOSITORY is not set"
    if not REPOSITORY.fullmatch(value):
        return f"FAULTLINE_REPOSITORY is {value!r}, which is not owner/repo"
    return None


@dataclass(frozen=True)
class Workspace:
    resource_id: str
    subscription: str
    group: str
    name: str

    @property
    def group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"


def parse_workspace_ids(value: str) -> tuple[list[Workspace], list[str]]:
    """FAULTLINE_WORKSPACE_RESOURCE_IDS as main.bicep reads it (spaces dropped, split on commas):
    the workspaces, and what is wrong with the entries that are not workspace ids."""
    workspaces, problems = [], []
    for position, entry in enumerate(value.replace(" ", "").split(","), start=1):
        match = WORKSPACE_ID.fullmatch(entry)
        if match:
            workspaces.append(Workspace(entry, **match.groupdict()))
        elif not entry:
            problems.append(f"entry {position} is empty (a stray comma)")
        else:
            problems.append(f"entry {position}, {entry!r}, is not a workspace resource id")
    return workspaces, problems


MISSING = re.compile(r"NotFound|was not found|could not be found", re.IGNORECASE)
DENIED = re.compile(
    r"AuthorizationFailed|Forbidden|does not have authorization|InvalidAuthenticationTokenTenant",
    re.IGNORECASE,
)


def failure_kind(answer: Answer) -> str:
    """How an ARM call failed, from az's message: `missing` (ResourceNotFound,
    ResourceGroupNotFound, SubscriptionNotFound), `denied` (AuthorizationFailed, another
    tenant's subscription) or `other`."""
    text = answer.error + answer.output
    if MISSING.search(text):
        return "missing"
    if DENIED.search(text):
        return "denied"
    return "other"


# --- checks -----------------------------------------------------------------------------------


def check_signed_in(env: Mapping[str, str]) -> tuple[list[Finding], str | None]:
    """az is installed and signed in (to azd's subscription, once azd has chosen one). Returns
    the findings and the signed-in user's name (for the commands it suggests); None when az
    cannot be used, and the checks that ask Azure are skipped."""
    if shutil.which("az") is None:
        return [
            Finding(
                ERROR,
                "the Azure CLI (az) is not installed or not on PATH, so the region and the "
                "workspaces were not checked (the postprovision hook needs az too)",
                "install it (https://aka.ms/installazurecli), then run `az login`",
            )
        ], None
    subscription = env.get("AZURE_SUBSCRIPTION_ID", "")
    answer = az("account", "show", "-o", "json", *subscription_args(env))
    if not answer.ok:
        where = f" to subscription {subscription}" if subscription else ""
        then = f", then `az account set --subscription {subscription}`" if subscription else ""
        return [
            Finding(
                ERROR,
                f"az is not signed in{where} ({answer.reason()}), so the region and the "
                "workspaces were not checked",
                f"run `az login`{then}",
            )
        ], None
    account = answer.json()
    user = account.get("user") if isinstance(account, dict) else None
    name = user.get("name") if isinstance(user, dict) else None
    return [], name if isinstance(name, str) else "<your sign-in name>"


def subscription_args(env: Mapping[str, str]) -> list[str]:
    """azd's subscription, which may not be az's default one."""
    subscription = env.get("AZURE_SUBSCRIPTION_ID", "")
    return ["--subscription", subscription] if subscription else []


def check_repository(env: Mapping[str, str]) -> Iterator[Finding]:
    problem = repository_problem(env.get("FAULTLINE_REPOSITORY", ""))
    if problem:
        yield Finding(
            ERROR,
            f"{problem}: it names the GitHub repository new issues go to",
            "azd env set FAULTLINE_REPOSITORY <owner>/<repo>   (for example contoso/shop)",
        )


LIST_WORKSPACES = '`az monitor log-analytics workspace list --query "[].id" -o tsv`'


def check_workspace_ids(env: Mapping[str, str]) -> tuple[list[Finding], list[Workspace]]:
    value = env.get("FAULTLINE_WORKSPACE_RESOURCE_IDS", "").strip()
    if not value:
        return [
            Finding(
                ERROR,
                "FAULTLINE_WORKSPACE_RESOURCE_IDS is not set: it lists the Log Analytics "
                "workspaces to watch",
                f'azd env set FAULTLINE_WORKSPACE_RESOURCE_IDS "{WORKSPACE_ID_FORM}" '
                f"(comma-separated for several; {LIST_WORKSPACES} lists yours)",
            )
        ], []
    workspaces, problems = parse_workspace_ids(value)
    if not problems:
        return [], workspaces
    return [
        Finding(
            ERROR,
            f"FAULTLINE_WORKSPACE_RESOURCE_IDS: {'; '.join(problems)}",
            f"list workspace resource ids ({WORKSPACE_ID_FORM}), comma-separated: "
            f'azd env set FAULTLINE_WORKSPACE_RESOURCE_IDS "<id>,<id>" ({LIST_WORKSPACES} '
            "lists yours)",
        )
    ], workspaces


def check_region(env: Mapping[str, str]) -> Iterator[Finding]:
    """The region offers the Flex Consumption plan, and Python 3.13 on it."""
    region = normalize_location(env.get("AZURE_LOCATION", ""))
    if not region:
        yield Finding(
            WARNING,
            "AZURE_LOCATION is not set yet, so the region was not checked",
            "azd asks for it; to have it checked first: azd env set AZURE_LOCATION <region>",
        )
        return
    choose = "azd env set AZURE_LOCATION <region>"
    locations = az(
        "functionapp", "list-flexconsumption-locations", "-o", "json", *subscription_args(env)
    )
    offered = location_names(locations.json()) if locations.ok else []
    if not offered:
        yield Finding(
            WARNING,
            f"could not list the regions that offer Flex Consumption ({locations.reason()}), "
            f"so {region} was not checked",
            "update the Azure CLI (`az upgrade`); otherwise the deployment reports a wrong region",
        )
        return
    if region not in offered:
        yield Finding(
            ERROR,
            f"the Flex Consumption plan is not offered in {region} (for this subscription); "
            f"it is in: {', '.join(sorted(offered))}",
            "choose one of those (`az functionapp list-flexconsumption-locations "
            f'--query "[].name" -o tsv` lists them): {choose}',
        )
        return
    runtimes = az(
        "functionapp",
        "list-flexconsumption-runtimes",
        "--location",
        region,
        "--runtime",
        "python",
        "-o",
        "json",
        *subscription_args(env),
    )
    wanted = dotted(PYTHON_VERSION)
    # az answers a runtime the region lacks with "Runtime 'python' not supported for function
    # apps on the Flex Consumption plan."
    if not runtimes.ok and "not supported" not in runtimes.reason():
        yield Finding(
            WARNING,
            f"could not list the Python versions Flex Consumption offers in {region} "
            f"({runtimes.reason()}), so Python {wanted} there was not checked",
            "update the Azure CLI (`az upgrade`); otherwise the deployment reports it",
        )
        return
    versions = python_versions(runtimes.json()) if runtimes.ok else set()
    if PYTHON_VERSION not in versions:
        offers = ", ".join(f"Python {dotted(v)}" for v in sorted(versions)) or "no Python"
        yield Finding(
            ERROR,
            f"Flex Consumption in {region} offers {offers}, not Python {wanted}, which the app "
            "runs on",
            "choose a region that offers it (check one with `az functionapp "
            "list-flexconsumption-runtimes --location <region> --runtime python "
            f'--query "[].version" -o tsv`): {choose}',
        )


def caller_permissions(scope: str) -> tuple[list[Mapping[str, object]], Answer]:
    """The caller's permissions at an ARM scope, one entry per role it holds there (Permissions -
    List For Resource / For Resource Group: `{"value": [{"actions": [...], "notActions": [...],
    "dataActions": [...], "notDataActions": [...]}], "nextLink": ...}`). A URL without a host
    goes to the current cloud's ARM endpoint."""
    entries: list[Mapping[str, object]] = []
    url: str | None = f"{scope}/{PERMISSIONS_API}"
    answer = Answer(False, "", "")
    while url:
        answer = az("rest", "--method", "get", "--url", url, "-o", "json")
        page = answer.json() if answer.ok else None
        if not isinstance(page, dict):
            return entries, answer
        entries += [entry for entry in page.get("value") or [] if isinstance(entry, dict)]
        next_link = page.get("nextLink")
        url = next_link if isinstance(next_link, str) and next_link else None
    return entries, answer


@dataclass(frozen=True)
class Need:
    """An action the deployment performs at a scope, and a role that grants it."""

    scope: str
    action: str
    doing: str
    what: str
    why: str
    role: str


def check_permission(need: Need, user: str) -> Iterator[Finding]:
    entries, answer = caller_permissions(need.scope)
    if not answer.ok:
        yield Finding(
            ERROR,
            f"could not read your permissions on {need.what} ({answer.reason()}), so whether "
            f"you may {need.doing} ({need.action}) there is unknown",
            f"check your access to {need.scope}; if this identity has that access but may not "
            "read its own permissions: azd env set FAULTLINE_SKIP_PREFLIGHT true",
        )
    elif not allows(entries, need.action):
        yield Finding(
            ERROR,
            f"you may not {need.doing} ({need.action}) on {need.what}: {need.why}",
            "ask an Owner there for a role that allows it, for example: "
            f'az role assignment create --assignee "{user}" --role "{need.role}" '
            f'--scope "{need.scope}"',
        )


def check_workspace(workspace: Workspace) -> Iterator[Finding]:
    """The workspace exists and the deployer may read it (Bicep reads its workspace id)."""
    shown = az(
        "monitor",
        "log-analytics",
        "workspace",
        "show",
        "--ids",
        workspace.resource_id,
        "--query",
        "id",
        "-o",
        "tsv",
    )
    if shown.ok:
        return
    kind = failure_kind(shown)
    if kind == "missing":
        problem = f"workspace {workspace.name} does not exist, or you cannot see it"
        fix = (
            f"correct its id in FAULTLINE_WORKSPACE_RESOURCE_IDS ({LIST_WORKSPACES} lists the "
            "workspaces you can see), or ask for access to it"
        )
    elif kind == "denied":
        problem = f"you may not read workspace {workspace.name}"
        fix = f'ask an Owner there for Reader (or more) on "{workspace.resource_id}"'
    else:
        problem = f"could not read workspace {workspace.name}"
        fix = "check the id and your access to it"
    yield Finding(ERROR, f"{problem}: {workspace.resource_id} ({shown.reason()})", fix)


def check_workspaces(workspaces: list[Workspace], user: str) -> Iterator[Finding]:
    """For each workspace: it can be read, the deployer may create the app's role assignment on
    it, and may deploy into its resource group (checked once per group)."""
    groups_checked: set[str] = set()
    for workspace in workspaces:
        problems = list(check_workspace(workspace))
        yield from problems
        if problems:
            continue
        yield from check_permission(
            Need(
                workspace.resource_id,
                ROLE_ASSIGNMENT_WRITE,
                "create role assignments",
                f"workspace {workspace.name}",
                "the deployment gives the app Log Analytics Reader there",
                "Role Based Access Control Administrator",
            ),
            user,
        )
        if workspace.group_id.lower() in groups_checked:
            continue
        groups_checked.add(workspace.group_id.lower())
        yield from check_permission(
            Need(
                workspace.group_id,
                DEPLOYMENT_WRITE,
                "create deployments",
                f"resource group {workspace.group}, where workspace {workspace.name} is",
                "the deployment makes the workspace's role assignment from a deployment there",
                "Contributor",
            ),
            user,
        )


def github_token_notice(env: Mapping[str, str]) -> Iterator[Finding]:
    if env.get("FAULTLINE_GITHUB_APP_ID"):
        yield from github_app_notice(env)
        return
    if env.get("FAULTLINE_GITHUB_TOKEN"):
        return
    secret = env.get("FAULTLINE_GITHUB_TOKEN_SECRET") or "github-token"
    yield Finding(
        NOTICE,
        "the app reads its GitHub token from Key Vault, and the vault exists only once "
        "provisioning is done",
        "when `azd provision` (or `azd up`) has finished, store the token:\n"
        '      az keyvault secret set --vault-name "$(azd env get-value AZURE_KEY_VAULT_NAME)" '
        f'--name {secret} --value "$GITHUB_TOKEN" --expires <when it expires, '
        "e.g. 2027-11-20T00:00:00Z>",
    )


def github_app_notice(env: Mapping[str, str]) -> Iterator[Finding]:
    """As a GitHub App, the vault holds the App's private key and, for Copilot, a user token."""
    vault = '"$(azd env get-value AZURE_KEY_VAULT_NAME)"'
    key = env.get("FAULTLINE_GITHUB_APP_KEY_SECRET") or "github-app-private-key"
    steps = [
        f"az keyvault secret set --vault-name {vault} --name {key} "
        "--file <the App's private key, the .pem GitHub gave>"
    ]
    user = env.get("FAULTLINE_GITHUB_ASSIGNMENT_TOKEN_SECRET")
    if user:
        steps.append(
            f'az keyvault secret set --vault-name {vault} --name {user} --value "$USER_TOKEN" '
            "--expires <when it expires>"
        )
    yield Finding(
        NOTICE,
        f"the app authenticates as the GitHub App {env['FAULTLINE_GITHUB_APP_ID']} and reads "
        "its private key from Key Vault, which exists only once provisioning is done",
        "when `azd provision` (or `azd up`) has finished, store it:\n      "
        + "\n      ".join(steps),
    )


def preflight(env: Mapping[str, str]) -> list[Finding]:
    """Every finding, local settings first."""
    signed_in, user = check_signed_in(env)
    workspace_findings, workspaces = check_workspace_ids(env)
    findings = [*signed_in, *check_repository(env), *workspace_findings]
    if user is not None:
        findings += check_region(env)
        findings += check_workspaces(workspaces, user)
    findings += github_token_notice(env)
    return findings


def main(env: Mapping[str, str]) -> int:
    if env.get("FAULTLINE_SKIP_PREFLIGHT", "").strip().lower() in TRUE:
        print(
            "pre-flight: warning: FAULTLINE_SKIP_PREFLIGHT is set, so nothing was checked "
            "(region, repository, workspaces and your permissions on them); a problem will "
            "show up as a failed deployment instead"
        )
        return 0
    findings = preflight(env)
    for finding in findings:
        print(finding.render())
    errors = sum(finding.level == ERROR for finding in findings)
    if errors:
        sys.stdout.flush()
        print(
            f"pre-flight: {errors} problem(s) would stop provisioning or the app; fix them and "
            "run azd provision (or azd up) again. To skip these checks: "
            "azd env set FAULTLINE_SKIP_PREFLIGHT true",
            file=sys.stderr,
        )
        return 1
    print("pre-flight: ready to provision")
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
