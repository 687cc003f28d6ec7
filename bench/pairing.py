"""Paired rounds: how ``make bench`` turns timings on a shared machine into ratios it can judge.

These machines run the same code at two speeds (spells of 50 ms to over a second), so a ratio
of two separately taken medians swings by 30 % between invocations. A pair of timings taken
back to back usually falls in one spell. So, in every round, each contender runs once on the
same rows (a run is a few repetitions of the operation, sized to take 20-200 ms), the order
is reversed every other round (no contender always runs first, or right after the slowest),
and a figure is the **median over the rounds of the per-round ratio** of two contenders.

Each timed run is led in by one untimed operation of the same contender, so no contender
inherits the state the one before it left (caches, allocator, the machine's CPU budget).
Without it an ``EncryptedText`` select timed right after sqlalchemy-utils' 180 ms select
took 30 % longer than one timed right after plaintext's (41 against 31.5 ms, PostgreSQL 17,
2026-12-06), so each ratio depended on the round's direction: sqlalchemy-utils /
EncryptedText was 6.25x in the rounds that ran it first and 4.81x in the others. With the
lead-in the two directions gave 6.43x and 6.11x.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["MIN_RUN", "Rounds", "paired_rounds", "repetitions"]

MIN_RUN = 0.02  # seconds: a run shorter than this is mostly timer and scheduler noise
MAX_RUN = 0.2  # seconds: longer runs span a change of the machine's speed too often


@dataclass
class Rounds:
    """Seconds per operation, per contender, round by round (a contender left out of a round
    has no entry for it).

    Args:
        times: contender -> {round index: seconds per operation}.
        repeats: contender -> operations per run.

    Example::

        rounds.ratios("EncryptedText", "plaintext")   # one ratio per round both ran in
    """

    times: dict[str, dict[int, float]] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)

    def ratios(self, name: str, base: str) -> list[float]:
        """``name``'s time over ``base``'s, in each round both ran in, in round order.

        Args:
            name: the contender.
            base: the one it is divided by.

        Example::

            statistics.median(rounds.ratios("PGPText", "plaintext"))
        """
        mine, theirs = self.times.get(name, {}), self.times.get(base, {})
        return [mine[r] / theirs[r] for r in sorted(mine) if r in theirs and theirs[r] > 0]

    def ratio(self, name: str, base: str) -> float:
        """The median of the per-round ratios (``nan`` when the two never ran in one round).

        Args:
            name: the contender.
            base: the one it is divided by.

        Example::

            rounds.ratio("EncryptedText", "plaintext")    # 2.1
        """
        values = self.ratios(name, base)
        return statistics.median(values) if values else math.nan

    def seconds(self, name: str) -> float:
        """The median over the rounds of ``name``'s seconds per operation.

        Args:
            name: the contender.

        Example::

            rounds.seconds("plaintext") * 1000    # ms per select
        """
        return statistics.median(self.times[name].values())


def repetitions(seconds: float) -> int:
    """How many operations of ``seconds`` each make a run of at least ``MIN_RUN`` (1 for an
    operation that takes longer than that by itself).

    Args:
        seconds: one operation's time.

    Example::

        repetitions(0.008)    # 3: a run of ~24 ms
    """
    if seconds <= 0:
        return 1
    return max(1, min(math.ceil(MIN_RUN / seconds), max(1, int(MAX_RUN / seconds))))


def paired_rounds(
    contenders: dict[str, Callable[[], None]],
    rounds: int,
    *,
    setup: Callable[[str], None] | None = None,
    sometimes: Sequence[str] = (),
    sometimes_rounds: int = 3,
) -> Rounds:
    """Time every contender in every round, back to back, reversing the order each round.

    A first, untimed round warms each contender up and sizes its runs (``repetitions``); in
    every round, each run is led in by one untimed operation of its contender.

    Args:
        contenders: name -> one operation (a select of every row, an insert of a batch).
        rounds: how many timed rounds.
        setup: called with the contender's name before each of its operations, untimed
            (an insert benchmark empties the table there).
        sometimes: contenders too slow to run every round and judged by no target: they run
            in the first ``sometimes_rounds`` rounds only.
        sometimes_rounds: see ``sometimes``.

    Returns the ``Rounds``; garbage collection is paused while an operation is timed.

    Example::

        rounds = paired_rounds({"plaintext": read_plain, "EncryptedText": read_aead}, 15)
        rounds.ratio("EncryptedText", "plaintext")
    """
    result = Rounds({name: {} for name in contenders})
    for name, operation in contenders.items():  # warm-up and sizing
        result.repeats[name] = repetitions(_timed(operation, setup, name, 1))
    names = list(contenders)
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            if name in sometimes and number >= sometimes_rounds:
                continue
            count = result.repeats[name]
            _timed(contenders[name], setup, name, 1)  # the lead-in: untimed
            result.times[name][number] = _timed(contenders[name], setup, name, count) / count
    return result


def _timed(
    operation: Callable[[], None], setup: Callable[[str], None] | None, name: str, count: int
) -> float:
    total = 0.0
    for _ in range(count):
        if setup is not None:
            setup(name)
        with _no_gc():
            start = time.perf_counter()
            operation()
            total += time.perf_counter() - start
    return total


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
