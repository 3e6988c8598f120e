"""The result files run_classifier writes, in the original layouts, each written atomically.

- eval_results.txt: `key = value` lines, keys sorted, as the original's
  `writer.write("%s = %s\\n" % (key, str(result[key])))`.
- test_results.tsv: one line per example, the class probabilities in label order separated by
  tabs, no header (the original's predict output); one score per line for a regression task.
- <TASK>.tsv for the GLUE leaderboard: a header `index<TAB>prediction`, one row per example.
- JSON files (`write_json`, from bert_tf.files).

Numbers are written with `str()`. For a NumPy scalar that is its shortest round-trip decimal
in its own precision (np.float32(0.75) -> "0.75", np.int64(12) -> "12"), which is exactly what
the original printed for the float32/int64 values its Estimator returned; `repr()` would write
"np.float32(0.75)" on NumPy 2. float64 values print as `str(float(value))` does.

Atomic: every writer fills a temporary file in the target's directory, flushes it to disk and
renames it over the target with `os.replace`, so a reader, or a run killed midway, sees the old
file or the whole new one, never part of one; on an error the temporary file is removed.
"""

import os
from typing import Any, Dict, Sequence, Union

import numpy as np

from bert_tf.errors import InputError
from bert_tf.files import atomic_open, write_json

__all__ = ["write_eval_results", "read_eval_results", "write_test_results",
           "write_glue_submission", "write_json"]

PathLike = Union[str, os.PathLike]

# The GLUE leaderboard's submission header.
GLUE_SUBMISSION_HEADER = "index\tprediction\n"


def _field(value: Any, what: str) -> str:
    """str(value) for one field of a line-based file; refuses text that would break the line."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (np.ndarray, list, tuple, dict, set)):
        raise ValueError(f"{what} must be a scalar, got {type(value).__name__} {value!r}")
    text = str(value)
    if "\n" in text or "\r" in text or "\t" in text:
        raise ValueError(f"{what} {text!r} holds a tab or a line break")
    return text


def write_eval_results(path: PathLike, results: Dict[str, Any]) -> None:
    """Writes eval_results.txt: one `key = value` line per entry, keys sorted.

    Byte for byte the original run_classifier's layout:
        eval_accuracy = 0.75
        eval_loss = 0.5
        global_step = 12
        loss = 0.25

    Args:
        path: the file to (re)write.
        results: metric name -> scalar (Python or NumPy number, 0-d array, or string).

    Raises:
        ValueError: a key holding " = " or a line break, or a value that is not a scalar.
    """
    lines = []
    for key in sorted(results):
        name = _field(key, "eval result key")
        if " = " in name:
            raise ValueError(f"eval result key {name!r} holds ' = '")
        lines.append("%s = %s\n" % (name, _field(results[key], f"value of {name!r}")))
    with atomic_open(path) as f:
        f.writelines(lines)


def _parse_number(text: str) -> Union[int, float, str]:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


def read_eval_results(path: PathLike) -> Dict[str, Union[int, float, str]]:
    """Reads an eval_results.txt back: ints as int, other numbers (nan, inf too) as float.

    A value that is not a number stays a string. Blank lines are skipped.

    Raises:
        InputError: a non-blank line without " = " (the message names the file and line).
    """
    results = {}
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            key, sep, value = line.partition(" = ")
            if not sep:
                raise InputError(f"{os.fspath(path)}:{line_number}: expected 'key = value', "
                                 f"got {line!r}")
            results[key] = _parse_number(value)
    return results


def write_test_results(path: PathLike, probabilities) -> int:
    """Writes test_results.tsv: per example, its class probabilities joined by tabs.

    As the original's `"\\t".join(str(class_probability) for class_probability in
    probabilities) + "\\n"`, with no header. Each value is `str()` of a NumPy float of the
    array's own precision (see the module docstring): for float64 that is `str(float(p))`;
    for float32 it is the shortest decimal that reads back as the same float32, as the
    original wrote. Integer input is written as float64 ("1.0").

    Args:
        path: the file to (re)write.
        probabilities: float [N, C] class probabilities in label order, or float [N] scores of
            a regression task (one per line).

    Returns:
        N, the number of lines written.

    Raises:
        ValueError: an array that is not 1-D or 2-D.
    """
    values = np.asarray(probabilities)
    if values.ndim not in (1, 2):
        raise ValueError(f"probabilities must be [N, C] or [N], got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    with atomic_open(path) as f:
        if values.ndim == 1:
            for score in values:
                f.write(str(score) + "\n")
        else:
            for row in values:
                f.write("\t".join(str(p) for p in row) + "\n")
    return values.shape[0]


def write_glue_submission(path: PathLike, indexes: Sequence[Any],
                          predicted_labels: Sequence[Any]) -> int:
    """Writes a GLUE leaderboard file: `index<TAB>prediction`, then one row per example.

    Args:
        path: the file to (re)write, named after the task as the leaderboard expects
            (CoLA.tsv, MNLI-m.tsv, STS-B.tsv, ...).
        indexes: [N] the test set's own example ids (`InputExample.index`).
        predicted_labels: [N] labels already formatted by the caller (label strings such as
            "entailment", ints, or float scores), written with `str()`.

    Returns:
        N, the number of rows written (not counting the header).

    Raises:
        ValueError: indexes and labels of different lengths, or a field holding a tab or a
            line break.
    """
    indexes, predicted_labels = list(indexes), list(predicted_labels)
    if len(indexes) != len(predicted_labels):
        raise ValueError(f"{len(indexes)} indexes but {len(predicted_labels)} predicted labels")
    rows = [f"{_field(index, 'index')}\t{_field(label, 'prediction')}\n"
            for index, label in zip(indexes, predicted_labels)]
    with atomic_open(path) as f:
        f.write(GLUE_SUBMISSION_HEADER)
        f.writelines(rows)
    return len(rows)
