"""The base class of errors caused by user input (files, flags, data), not by a bug.

Runners report these in one line naming the file, line, flag or variable, with no traceback.
"""


class InputError(ValueError):
    """Bad input from the user; the message says what was expected and where."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and the last
    good checkpoint."""


class Preempted(RuntimeError):
    """Training stopped on SIGTERM (a preemption notice) after saving a checkpoint; the
    message names the step and how to resume."""
