"""azd postdeploy: show that the app's functions are indexed, and where its health check is.

On the Flex Consumption plan the functions of a new deployment are listed a little after the
deployment ends, so the list is asked for again a few times. A missing function is a warning,
never a failed deployment: the code is deployed either way, and the Function App's logs say
why a function did not load. Standard library only, Python 3.9 or later: it runs on the
deployer's Python, outside the app's virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping

# The functions the app registers (function_app.py and workflow_functions.py);
# tests/unit/test_deploy_hooks.py keeps this equal to what the app indexes.
EXPECTED_FUNCTIONS = (
    "fan_out_queries",
    "settle_operations",
    "prune_occurrence_ledger",
    "watch_pull_requests",
    "send_digests",
    "resolve_quiet_issues",
    "calm_escalations",
    "query_and_detect",
    "record_poisoned_query",
    "deliver_notifications",
    "record_poisoned_notification",
    "replay_window",
    "undo_bad_run",
    "health_check",
    "receive_alert",
    "detect_alert",
    "record_poisoned_alert",
    "github_webhook",
    "gitlab_webhook",
    "handle_github_event",
    "record_poisoned_github_event",
    "start_issue_workflow",
    "record_poisoned_notice",
    "issue_workflow",
    "sync_issue",
    "finish_or_resync",
    "assignment_decision",
    "assign_issue",
    "record_audit",
    "undo_run",
    "undo_step",
)
ATTEMPTS = 8


def function_names(listing: str) -> set[str]:
    """Function names from `az functionapp function list --query "[].name" -o tsv`: one a line,
    each the ARM resource name `<app>/<function>` (or the bare function name)."""
    return {line.strip().rsplit("/", 1)[-1] for line in listing.splitlines() if line.strip()}


def missing_functions(indexed: set[str]) -> list[str]:
    known = {name.lower() for name in indexed}
    return [name for name in EXPECTED_FUNCTIONS if name.lower() not in known]


def list_functions(az: str, group: str, app: str) -> tuple[bool, str]:
    """Whether `az functionapp function list` succeeded, and what it printed (or its error)."""
    command = ["functionapp", "function", "list", "-g", group, "-n", app]
    done = subprocess.run(
        [az, *command, "--query", "[].name", "-o", "tsv"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    if done.returncode != 0:
        return False, " ".join((done.stderr or done.stdout).split())[:400] or "no message"
    return True, done.stdout


def wait_for_functions(group: str, app: str, pause: float) -> tuple[set[str], str]:
    """The functions indexed once every expected one is there, or after the last attempt; and
    az's last error, if the last attempt failed."""
    az = shutil.which("az")  # az.cmd on Windows
    if az is None:
        return set(), "the Azure CLI (az) is not installed or not on PATH"
    indexed: set[str] = set()
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        ok, printed = list_functions(az, group, app)
        if ok:
            indexed, error = function_names(printed), ""
            if not missing_functions(indexed):
                break
        else:
            error = printed
        if attempt < ATTEMPTS:
            print(
                f"post-deploy: {len(indexed)} of {len(EXPECTED_FUNCTIONS)} functions listed "
                f"({attempt}/{ATTEMPTS}); Flex Consumption lists them shortly after a "
                "deployment, asking again",
                flush=True,
            )
            time.sleep(pause)
    return indexed, error


def retry_seconds(env: Mapping[str, str]) -> float:
    """The pause between attempts: FAULTLINE_HOOK_RETRY_SECONDS (as for marker-key.sh), else
    15 s; a value that is not a number is ignored rather than failing the deployment."""
    try:
        return max(0.0, float(env.get("FAULTLINE_HOOK_RETRY_SECONDS") or 15))
    except ValueError:
        return 15.0


def main(env: Mapping[str, str]) -> int:
    group = env.get("AZURE_RESOURCE_GROUP", "")
    app = env.get("AZURE_FUNCTION_NAME", "")
    url = env.get("AZURE_FUNCTION_URL", "").rstrip("/")
    if not (group and app and url):
        print(
            "post-deploy: warning: AZURE_RESOURCE_GROUP, AZURE_FUNCTION_NAME or "
            "AZURE_FUNCTION_URL is not set (azd sets them from the provisioning outputs); "
            "run `azd provision`, then `azd deploy`"
        )
        return 0
    indexed, error = wait_for_functions(group, app, retry_seconds(env))
    missing = missing_functions(indexed)
    if indexed:
        print(f"post-deploy: functions in {app}: {', '.join(sorted(indexed))}")
    if error:
        print(f"post-deploy: warning: could not list the functions of {app}: {error}")
    if missing:
        print(
            f"post-deploy: warning: not listed (yet): {', '.join(missing)}. See why in the "
            f"logs: `func azure functionapp logstream {app}`, or check again later: "
            f'az functionapp function list -g {group} -n {app} --query "[].name" -o tsv'
        )
    key = f"az functionapp keys list -g {group} -n {app} --query functionKeys.default -o tsv"
    print(f"post-deploy: health check: {url}/api/health (it needs a function key)")
    print(f"post-deploy: the key: {key}")
    print(f'post-deploy: for example: curl "{url}/api/health?code=$({key})"')
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
