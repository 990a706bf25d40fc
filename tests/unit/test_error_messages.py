"""Configuration mistakes reach a person as messages to act on, not as tracebacks: at the function
app's start-up, and from the local runner (`python -m local_host.run`, what `make run` runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import load_configuration

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
SHIPPED = (ROOT / "faultline.yaml").read_text()


def test_the_function_app_logs_a_bad_rules_file_at_start_up_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The app still indexes (GET /api/health answers 503) and every function refuses to run;
    the host's log shows what to fix, as the rules file's own lines."""
    rules = tmp_path / "faultline.yaml"
    rules.write_text(SHIPPED.replace("{count: 3, within: 10m}", "{cuont: 3, within: 10m}"))
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FAULTLINE_RULES_PATH": str(rules),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import function_app; function_app.app.get_functions()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr.splitlines() == [
        "the configuration is invalid: every function fails until it is fixed, and "
        "GET /api/health answers 503 with config.loaded false.",
        f"{rules} is invalid:",
        "  failures[1] (failed-request).threshold.cuont: unknown key; did you mean 'count'?",
    ]


def test_a_rules_file_that_cannot_be_read_names_the_variable_that_pointed_at_it(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "rules.yml"
    env = {"AzureWebJobsStorage": "x", "FAULTLINE_RULES_PATH": str(missing)}
    with pytest.raises(FileNotFoundError) as raised:
        load_configuration(env)
    assert str(raised.value) == (
        f"the rules file {missing} (FAULTLINE_RULES_PATH={missing}) cannot be read: "
        "No such file or directory"
    )
