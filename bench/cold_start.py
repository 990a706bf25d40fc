"""How long indexing the app takes, against its baseline: the Functions libraries alone.

Every cold start imports `function_app` (on Flex Consumption, every scale-out too). Each sample
is a fresh interpreter, timed from inside it, so the interpreter's own start is not counted;
the median of several samples is reported, alternating them so that load on the machine falls
on all. The ratio is indexing's, what the host waits for before it starts its listeners; the
configuration check that runs meanwhile, in a thread, is printed next to it.

    python -m bench.cold_start [--samples 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import azure.functions, azure.durable_functions"
APP = "import azure.functions, azure.durable_functions, function_app"
CHECKED = APP + "; function_app.configuration_check.join()"
TIMED = """
import time
started = time.perf_counter()
{code}
print(time.perf_counter() - started)
"""


def seconds(code: str) -> float:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", TIMED.format(code=code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    samples = parser.parse_args().samples
    baseline, app, checked = [], [], []
    for _ in range(samples):
        baseline.append(seconds(BASELINE))
        app.append(seconds(APP))
        checked.append(seconds(CHECKED))
    base, mine = statistics.median(baseline), statistics.median(app)
    check = statistics.median(checked)
    print(f"baseline (azure.functions + azure.durable_functions): {base * 1000:6.0f} ms")
    print(f"function_app (indexing the app):                      {mine * 1000:6.0f} ms")
    print(f"  and its configuration check, done in a thread:      {check * 1000:6.0f} ms")
    print(f"ratio: {mine / base:.2f}x (median of {samples} fresh interpreters each)")


if __name__ == "__main__":
    main()
