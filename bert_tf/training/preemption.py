"""SIGTERM while training: the notice a cluster manager (Kubernetes, Slurm, a spot VM) gives
before it stops a process. The engine finishes the loop call under way, saves a checkpoint
and stops (errors.Preempted), so the restarted job loses no step."""

import contextlib
import signal
import threading
from typing import Iterator


class SigtermWatch:
    """Whether SIGTERM arrived since the watch began."""

    def __init__(self):
        self.requested = False

    def _on_sigterm(self, signum, frame):
        del signum, frame
        self.requested = True


@contextlib.contextmanager
def sigterm_watch() -> Iterator[SigtermWatch]:
    """Catches SIGTERM for the block (the main thread only: Python runs handlers there);
    the previous handler is back afterwards, so a SIGTERM outside training still ends the
    process at once."""
    watch = SigtermWatch()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return
    previous = signal.signal(signal.SIGTERM, watch._on_sigterm)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGTERM, previous)
