"""The local run's progress: how much of the replay's simulated time is covered, and about how
long the rest will take.

A replay's wall time is not known in advance (it depends on the machine and on how many rows
fail), but its simulated span is. The fraction of that span covered so far, set against the wall
time it took, gives the estimate: the rest at the average pace since the phase began. The average,
not a recent rate: the sample's traffic rises and falls with the simulated hour of day, and a
recent rate would swing the estimate with it. After the replay, the waiting workflows settle
(hourly budgets, business hours) with the clock jumping from timer to timer; that phase's span is
the latest timer pending, and it grows when a workflow sets a later one.

On a terminal the phase is a tqdm bar redrawn in place, and log lines are written above it; in a
CI log a bar redrawn with carriage returns is noise, so there each phase prints a plain line per
tenth of its span instead (a few seconds apart at least), and one when it ends."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

PLAIN_STEPS = 10
"""Plain lines per phase when stdout is not a terminal: one per tenth of the simulated span."""
PLAIN_GAP_SECONDS = 2.0
"""...at most one per this much wall time: the settling often covers its span in a second, and
ten lines for it would bury the replay's."""
BAR_STEPS = 1000
"""The bar's resolution: tqdm counts in whole steps; simulated seconds are mapped onto these."""


@dataclass(frozen=True)
class Estimate:
    fraction: float
    """Of the phase's simulated span, covered so far (0 to 1)."""
    elapsed: float
    """Wall seconds since the phase began."""
    remaining: float | None
    """Wall seconds still to go at the pace so far; None until some simulated time is covered."""


def estimate(start: datetime, end: datetime, now: datetime, elapsed: float) -> Estimate:
    """Where a phase spanning `start` to `end` in simulated time stands at `now`, `elapsed` wall
    seconds after it began. A phase with nothing to cover is done."""
    span = (end - start).total_seconds()
    fraction = 1.0 if span <= 0 else min(max((now - start).total_seconds() / span, 0.0), 1.0)
    remaining = elapsed * (1 - fraction) / fraction if fraction > 0 else None
    return Estimate(fraction, elapsed, remaining)


def duration(seconds: float) -> str:
    """Wall time as a person says it: `45 s`, `2 min 05 s`, `1 h 02 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


@dataclass
class _Phase:
    label: str
    start: datetime
    end: datetime
    began: float
    bar: tqdm[Any] | None
    next_step: int = 1
    """The next tenth of the span whose crossing prints a plain line."""
    printed: float = float("-inf")
    """When (wall) the last plain line was printed."""


class Progress:
    """The progress of one run, one phase at a time (the replay, then the settling).

    Use it as a context manager: on a terminal it routes log lines above the bar while it is
    open, and it closes the last phase on the way out."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._wall = wall
        self._phase: _Phase | None = None
        self._exits = ExitStack()

    def __enter__(self) -> Progress:
        if self.tty:
            self._exits.enter_context(logging_redirect_tqdm())
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self._exits.close()

    def start(self, label: str, start: datetime, end: datetime) -> None:
        """Begin a phase covering `start` to `end` of simulated time (ending the one before)."""
        self._close()
        bar = None
        if self.tty:
            bar = tqdm(
                total=BAR_STEPS,
                file=self.stream,
                bar_format=f"  {label:8} {{percentage:3.0f}}% |{{bar:24}}| {{desc}}",
                dynamic_ncols=True,
                mininterval=0.5,
                leave=True,
            )
        self._phase = _Phase(label, start, end, self._wall(), bar)

    def extend(self, end: datetime) -> None:
        """The phase turned out to reach further (a workflow set a later timer)."""
        if self._phase is not None and end > self._phase.end:
            self._phase.end = end

    def update(self, now: datetime, detail: str = "") -> Estimate:
        """The simulated clock reached `now`; `detail` says what happened so far."""
        phase = self._phase
        if phase is None:
            raise RuntimeError("progress updated before a phase started")
        where = estimate(phase.start, phase.end, now, self._wall() - phase.began)
        text = _describe(now, where, detail)
        if phase.bar is not None:
            phase.bar.set_description_str(text, refresh=False)
            phase.bar.update(round(where.fraction * BAR_STEPS) - phase.bar.n)
        elif (
            phase.next_step / PLAIN_STEPS <= where.fraction < 1
            and self._wall() - phase.printed >= PLAIN_GAP_SECONDS
        ):
            self._plain(phase, where.fraction, text)
            phase.next_step = int(where.fraction * PLAIN_STEPS) + 1
            phase.printed = self._wall()
        return where

    def finish(self, detail: str = "") -> None:
        """End the phase: all of its span covered, in the wall time it took."""
        phase = self._phase
        if phase is None:
            return
        text = f"done in {duration(self._wall() - phase.began)}" + (f"; {detail}" if detail else "")
        if phase.bar is not None:
            phase.bar.set_description_str(text, refresh=False)
            phase.bar.update(BAR_STEPS - phase.bar.n)
            phase.bar.close()
        else:
            self._plain(phase, 1.0, text)
        self._phase = None

    def _plain(self, phase: _Phase, fraction: float, text: str) -> None:
        print(f"  {phase.label:8} {fraction:4.0%}  {text}", file=self.stream, flush=True)

    def _close(self) -> None:
        """A phase left open (an error ended the run) loses its bar without claiming 100%."""
        if self._phase is not None and self._phase.bar is not None:
            self._phase.bar.close()
        self._phase = None


def _describe(now: datetime, where: Estimate, detail: str) -> str:
    """The time left first: a terminal narrower than the line cuts it at the end."""
    left = "estimating" if where.remaining is None else f"about {duration(where.remaining)} left"
    text = f"{left}, {duration(where.elapsed)} so far, simulated {now:%a %H:%M} UTC"
    return f"{text}; {detail}" if detail else text
