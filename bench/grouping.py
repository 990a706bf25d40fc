"""Grouping accuracy and throughput of Faultline's grouping against Drain3, on Loghub-2k.

    python -m bench.grouping [DATA_DIR]      # default ../shared/data/loghub2k

For each system, both groupers see the same `Content` lines; GA is Zhu et al.'s grouping
accuracy (a line is right when its predicted group is exactly its true group). Faultline runs
the CLI's path (`detection.merge.group_messages`, default configuration, caches cleared per
system so nothing is learned across systems); Drain3 0.9.11 runs with its default settings, a
fresh miner per system. Throughput is lines per second over all systems, best of REPEATS runs
each, interleaved so both see the same machine load.
"""

from __future__ import annotations

import csv
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

from detection import masks
from detection.merge import group_messages

DEFAULT_DATA = Path("../shared/data/loghub2k")
REPEATS = 5


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true group."""
    true_groups: dict[Hashable, set[int]] = defaultdict(set)
    predicted_groups: dict[Hashable, set[int]] = defaultdict(set)
    for index, (true, guess) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[true].add(index)
        predicted_groups[guess].add(index)
    correct = sum(
        len(members)
        for members in predicted_groups.values()
        if true_groups[truth[next(iter(members))]] == members
    )
    return correct / len(truth) if truth else 1.0


def faultline(lines: Sequence[str]) -> list[str]:
    masks.clear_caches()
    return group_messages(lines)


def drain3(lines: Sequence[str]) -> list[int]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    miner = TemplateMiner(config=TemplateMinerConfig())
    return [miner.add_log_message(line)["cluster_id"] for line in lines]


def load(data: Path) -> dict[str, tuple[list[str], list[str]]]:
    systems = {}
    for path in sorted(data.glob("*/*_structured_corrected.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        systems[path.parent.name] = (
            [row["Content"] for row in rows],
            [row["EventTemplate"] for row in rows],
        )
    return systems


def _timed(grouper: Callable[[Sequence[str]], Sequence[Hashable]], lines: list[str]) -> float:
    start = time.perf_counter()
    grouper(lines)
    return time.perf_counter() - start


def main(argv: Sequence[str]) -> int:
    logging.disable(logging.CRITICAL)
    data = Path(argv[0]) if argv else DEFAULT_DATA
    systems = load(data)
    if not systems:
        print(f"no *_structured_corrected.csv under {data}", file=sys.stderr)
        return 1
    groupers = {"Faultline": faultline, "Drain3 0.9.11": drain3}
    scores = {name: [] for name in groupers}
    print(f"{'system':<10} " + " ".join(f"{name:>14}" for name in groupers))
    for system, (lines, truth) in systems.items():
        row = [grouping_accuracy(truth, grouper(lines)) for grouper in groupers.values()]
        for name, score in zip(groupers, row, strict=True):
            scores[name].append(score)
        print(f"{system:<10} " + " ".join(f"{score:>14.3f}" for score in row))
    print(f"{'average':<10} " + " ".join(f"{sum(s) / len(s):>14.3f}" for s in scores.values()))
    print(f"{'minimum':<10} " + " ".join(f"{min(s):>14.3f}" for s in scores.values()))
    total = sum(len(lines) for lines, _ in systems.values())
    best = {name: float("inf") for name in groupers}
    for _ in range(REPEATS):
        for name, grouper in groupers.items():
            elapsed = sum(_timed(grouper, lines) for lines, _ in systems.values())
            best[name] = min(best[name], elapsed)
    rates = {name: total / seconds for name, seconds in best.items()}
    print(f"{'lines/s':<10} " + " ".join(f"{rate:>14,.0f}" for rate in rates.values()))
    faultline_rate, drain_rate = rates.values()
    print(f"Faultline throughput: {faultline_rate / drain_rate:.2f}x Drain3 ({total} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
