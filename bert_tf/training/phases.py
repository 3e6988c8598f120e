"""Where a run's time goes: seconds per phase, summed over the run and logged at its end.

    with phases.timed("training"):
        ...
    phases.summary(total_seconds)
    # "Time per phase: start-up 4.1 s (6%), features 1.2 s (2%), training 55.0 s (80%), ..."

The engine times training, the input pipeline's teardown, eval, prediction and export;
runner_steps times the feature files; "start-up" is the rest of the run (imports, reading and
checking the inputs, building the model, loading checkpoints). One process-wide record,
cleared when a runner starts (`reset`).
"""

import collections
import contextlib
import time
from typing import Dict, Iterator

# The order phases are listed in; others follow in the order they first ran.
ORDER = ("features", "training", "teardown", "eval", "predict", "export")

_seconds: Dict[str, float] = collections.OrderedDict()


def reset() -> None:
    _seconds.clear()


@contextlib.contextmanager
def timed(name: str) -> Iterator[None]:
    """Adds the block's wall-clock seconds to phase `name` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        _seconds[name] = _seconds.get(name, 0.0) + time.perf_counter() - start


def seconds() -> Dict[str, float]:
    """{phase: seconds} so far, "start-up" excluded."""
    return dict(_seconds)


def summary(total_seconds: float) -> str:
    """One line: each phase's seconds and share of total_seconds, start-up (the rest) first."""
    names = [n for n in ORDER if n in _seconds] + [n for n in _seconds if n not in ORDER]
    parts = [("start-up", max(total_seconds - sum(_seconds.values()), 0.0))]
    parts += [(name, _seconds[name]) for name in names]
    total = max(total_seconds, 1e-9)
    return "Time per phase: " + ", ".join(
        f"{name} {value:.1f} s ({100 * value / total:.0f}%)" for name, value in parts
    ) + f"; total {total_seconds:.1f} s"
