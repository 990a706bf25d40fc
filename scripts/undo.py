"""Undo a bad run from a shell: the same request as `POST /api/undo`, on the same pipeline code.

    python -m scripts.undo --run replay-0123456789abcdef            # preview
    python -m scripts.undo --definition failed-request --start 2026-11-20T00:00Z --confirm
    python -m scripts.undo --fingerprint <32 hex> --fingerprint ... --groups forget --confirm

Settings come from the environment (`local.settings.json`'s names: the storage connection, the
rules path, the GitHub credential), as the app reads them. A preview prints the issues the undo
would close; `--confirm` closes them here, one after another, through the activity the Durable
orchestration runs (`pipeline.undo.undo_issue`), waiting when GitHub asks. That step is
idempotent, so an interrupted run is finished by running the same command again; in Azure,
prefer the endpoint, whose orchestration resumes by itself.

Exit status: 0 when done (or previewed), 1 when GitHub refused an issue, 2 for a bad request.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from pydantic import ValidationError

from pipeline.services import Services
from pipeline.undo import (
    Undone,
    UndoPlan,
    UndoRejected,
    UndoRequest,
    UndoStep,
    plan_undo,
    preview,
    undo_issue,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.undo", description="Close the issues a bad run opened."
    )
    parser.add_argument("--run", help="the run id a replay's response named")
    parser.add_argument("--definition", help="issues of this failure definition")
    parser.add_argument(
        "--fingerprint", action="append", dest="fingerprints", help="a group (repeatable)"
    )
    parser.add_argument("--start", help="issues Faultline set out to create at or after (ISO)")
    parser.add_argument("--end", help="... and before (ISO)")
    parser.add_argument("--groups", choices=("mute", "forget"), default="mute")
    parser.add_argument("--confirm", action="store_true", help="close them (default: preview)")
    return parser


def run_plan(
    services: Services, plan: UndoPlan, sleep: Callable[[float], None] = time.sleep
) -> dict[str, int]:
    """Each issue in turn, as the orchestration would; GitHub's waits are slept out."""
    outcomes: dict[str, int] = {}
    for target in plan.targets:
        step = UndoStep(undo_id=plan.undo_id, groups=plan.groups, reason=plan.reason, target=target)
        while not isinstance(result := undo_issue(services, step), Undone):
            print(f"waiting {result.wait_seconds:.0f}s: {result.reason}", file=sys.stderr)
            sleep(result.wait_seconds)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    return outcomes


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    services: Services | None = None,
) -> int:
    arguments = _parser().parse_args(argv)
    body = {k: v for k, v in vars(arguments).items() if v is not None}
    try:
        request = UndoRequest.model_validate(body)
    except ValidationError as error:
        for problem in error.errors():
            print(f"{'.'.join(map(str, problem['loc'])) or 'request'}: {problem['msg']}")
        return 2
    if services is None:
        from bootstrap import bootstrap

        services = bootstrap(environ if environ is not None else os.environ)
    try:
        plan = plan_undo(services, request)
    except UndoRejected as error:
        print(error)
        return 2
    if not request.confirm:
        print(json.dumps(preview(plan), indent=2))
        return 0
    services.audit.record(
        plan.undo_id,
        "undo-started",
        "",
        None,
        f"{plan.reason}: {len(plan.targets)} issue(s), groups {plan.groups}d (from the CLI)",
        services.clock.now(),
    )
    outcomes = run_plan(services, plan)
    print(json.dumps({"undo": plan.undo_id, "outcomes": outcomes}, indent=2))
    return 1 if outcomes.get("refused") else 0


if __name__ == "__main__":
    raise SystemExit(main())
