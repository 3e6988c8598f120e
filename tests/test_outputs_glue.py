"""bert_tf.outputs.glue: exact bytes of the original run_classifier layouts, round trips,
atomicity.

The expected bytes are written out by hand from google-research/bert run_classifier.py:
eval:    writer.write("%s = %s\\n" % (key, str(result[key])))  for key in sorted(result)
predict: "\\t".join(str(class_probability) for class_probability in probabilities) + "\\n"
and from the GLUE leaderboard's submission format (header "index\\tprediction").
"""

import contextlib
import dataclasses
import errno
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.outputs import glue as results


def test_eval_results_exact_bytes(tmp_path):
    path = tmp_path / "eval_results.txt"
    results.write_eval_results(path, {"loss": 0.25, "global_step": np.int64(12),
                                      "eval_loss": np.float32(0.5),
                                      "eval_accuracy": np.float64(0.75)})
    assert path.read_bytes() == (b"eval_accuracy = 0.75\neval_loss = 0.5\n"
                                 b"global_step = 12\nloss = 0.25\n")


def test_eval_results_print_numpy_scalars_as_the_original(tmp_path):
    # The original's str() of the float32 Estimator returned: its shortest float32 digits,
    # never "np.float32(...)" (NumPy 2's repr) nor the float64 expansion 0.843137264251709.
    values = {"a": np.float32(43 / 51), "b": np.array(0.125), "c": True, "d": np.int32(-3),
              "e": float("nan"), "f": "text"}
    results.write_eval_results(tmp_path / "eval_results.txt", values)
    assert (tmp_path / "eval_results.txt").read_text(encoding="utf-8") == (
        "a = 0.84313726\nb = 0.125\nc = True\nd = -3\ne = nan\nf = text\n")


def test_eval_results_round_trip(tmp_path):
    path = tmp_path / "eval_results.txt"
    written = {"eval_accuracy": np.float32(43 / 51), "eval_loss": 0.1 + 0.2,
               "global_step": np.int64(1200), "eval_mcc": float("nan"), "big": 1e20,
               "negative": -7}
    results.write_eval_results(path, written)
    read = results.read_eval_results(path)
    assert list(read) == sorted(written)
    assert read["global_step"] == 1200 and type(read["global_step"]) is int
    assert read["negative"] == -7 and type(read["negative"]) is int
    assert np.float32(read["eval_accuracy"]) == np.float32(43 / 51)
    assert read["eval_loss"] == 0.1 + 0.2  # str(float) round-trips exactly
    assert read["big"] == 1e20 and type(read["big"]) is float
    assert math.isnan(read["eval_mcc"])


def test_read_eval_results_names_a_bad_line(tmp_path):
    path = tmp_path / "eval_results.txt"
    path.write_text("eval_accuracy = 0.5\n\nnot a result\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"eval_results.txt:3: expected 'key = value'"):
        results.read_eval_results(path)


def test_eval_results_refuse_what_would_break_the_layout(tmp_path):
    for bad in ({"a = b": 1}, {"a\nb": 1}, {"a": "x\ny"}, {"a": [1, 2]}, {"a": np.ones(2)}):
        with pytest.raises(ValueError):
            results.write_eval_results(tmp_path / "eval_results.txt", bad)
    assert list(tmp_path.iterdir()) == []


def test_test_results_exact_bytes(tmp_path):
    path = tmp_path / "test_results.tsv"
    probabilities = np.array([[0.1, 0.9], [0.25, 0.75], [1.0, 0.0]])
    assert results.write_test_results(path, probabilities) == 3
    assert path.read_bytes() == b"0.1\t0.9\n0.25\t0.75\n1.0\t0.0\n"


def test_test_results_float64_fields_are_str_of_float(tmp_path):
    probabilities = np.random.default_rng(0).dirichlet(np.ones(3), size=7)  # float64 [7, 3]
    path = tmp_path / "test_results.tsv"
    results.write_test_results(path, probabilities)
    expected = "".join("\t".join(str(float(p)) for p in row) + "\n" for row in
                       probabilities.tolist())
    assert path.read_text(encoding="utf-8") == expected


def test_test_results_float32_as_the_original(tmp_path):
    # float32 is what a model's softmax gives; the original's str(np.float32) wrote the
    # shortest digits that read back as the same float32.
    probabilities = np.array([[0.1, 0.9], [1 / 3, 2 / 3]], np.float32)
    path = tmp_path / "test_results.tsv"
    results.write_test_results(path, probabilities)
    assert path.read_text(encoding="utf-8") == "0.1\t0.9\n0.33333334\t0.6666667\n"
    read = np.loadtxt(path, delimiter="\t", dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(read, probabilities)


def test_test_results_regression_and_edge_shapes(tmp_path):
    path = tmp_path / "test_results.tsv"
    assert results.write_test_results(path, [3.5, 0.25, 5]) == 3
    assert path.read_text(encoding="utf-8") == "3.5\n0.25\n5.0\n"
    assert results.write_test_results(path, np.array([[1, 0]])) == 1  # ints print as floats
    assert path.read_text(encoding="utf-8") == "1.0\t0.0\n"
    assert results.write_test_results(path, np.zeros((0, 3))) == 0
    assert path.read_bytes() == b""
    with pytest.raises(ValueError, match=r"\[N, C\] or \[N\]"):
        results.write_test_results(path, np.zeros((2, 2, 2)))


def test_glue_submission_exact_bytes(tmp_path):
    path = tmp_path / "MNLI-m.tsv"
    assert results.write_glue_submission(path, [0, 1, "2"],
                                         ["entailment", "neutral", "contradiction"]) == 3
    assert path.read_bytes() == (b"index\tprediction\n0\tentailment\n1\tneutral\n"
                                 b"2\tcontradiction\n")
    path = tmp_path / "STS-B.tsv"
    results.write_glue_submission(path, np.arange(2), [3.2, np.float64(0.5)])
    assert path.read_bytes() == b"index\tprediction\n0\t3.2\n1\t0.5\n"
    path = tmp_path / "CoLA.tsv"
    results.write_glue_submission(path, [], [])
    assert path.read_bytes() == b"index\tprediction\n"


def test_glue_submission_errors(tmp_path):
    with pytest.raises(ValueError, match="2 indexes but 1 predicted labels"):
        results.write_glue_submission(tmp_path / "RTE.tsv", [0, 1], ["entailment"])
    with pytest.raises(ValueError, match="tab or a line break"):
        results.write_glue_submission(tmp_path / "RTE.tsv", [0], ["not\tentailment"])
    assert list(tmp_path.iterdir()) == []


@dataclasses.dataclass
class _Task:
    name: str
    labels: list


def test_write_json(tmp_path):
    path = tmp_path / "flags.json"
    results.write_json(path, {"max_seq_length": np.int64(128), "learning_rate": 2e-5,
                              "task": _Task("mrpc", ["0", "1"]), "dir": tmp_path,
                              "weights": np.array([0.5, 1.5], np.float32), "text": "naïve"})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and '"naïve"' in text
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert json.loads(text) == {"max_seq_length": 128, "learning_rate": 2e-5,
                                "task": {"name": "mrpc", "labels": ["0", "1"]},
                                "dir": str(tmp_path), "weights": [0.5, 1.5], "text": "naïve"}
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        results.write_json(tmp_path / "bad.json", {"a": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flags.json"]


# Each writer with arguments; the failure tests below run every one of them.
WRITERS = {
    "eval": (results.write_eval_results, ({"eval_accuracy": 0.5, "loss": 0.25},)),
    "test": (results.write_test_results, (np.full((4, 3), 0.25),)),
    "glue": (results.write_glue_submission, (range(4), ["a", "b", "c", "d"])),
    "json": (results.write_json, ({"do_train": True, "max_seq_length": 128},)),
}


class _DiskFullHalfway:
    """A file whose first write puts half the text on disk and then fails (disk full)."""

    def __init__(self, handle, path):
        self._handle, self._path = handle, path

    def write(self, text):
        self._handle.write(text[:len(text) // 2 + 1])
        self._handle.flush()
        # Midway: the target still holds the old content; the new text is in the temp file.
        assert pathlib.Path(self._path).read_text(encoding="utf-8") == "old\n"
        raise OSError(errno.ENOSPC, "No space left on device")

    def writelines(self, lines):
        for line in lines:
            self.write(line)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_failure_midway_leaves_the_old_file(tmp_path, monkeypatch, writer):
    write, args = WRITERS[writer]
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")
    real_atomic_open = results.atomic_open

    @contextlib.contextmanager
    def failing_atomic_open(target):
        with real_atomic_open(target) as handle:
            assert len(list(tmp_path.iterdir())) == 2  # the old file and the temp file
            yield _DiskFullHalfway(handle, target)

    monkeypatch.setattr(results, "atomic_open", failing_atomic_open)
    monkeypatch.setattr(files, "atomic_open", failing_atomic_open)  # write_json's
    with pytest.raises(OSError, match="No space left"):
        write(path, *args)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_failed_rename_leaves_the_old_file(tmp_path, monkeypatch, writer):
    write, args = WRITERS[writer]
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")

    def failing_replace(src, dst):
        assert pathlib.Path(src).parent == tmp_path  # the temp file is beside the target
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output error"):
        write(path, *args)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_success_replaces_the_old_file_and_leaves_no_temp(tmp_path, writer):
    write, args = WRITERS[writer]
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")
    write(str(path), *args)
    assert path.read_text(encoding="utf-8") not in ("", "old\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_missing_directory_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        results.write_json(tmp_path / "missing" / "flags.json", {})
    assert list(tmp_path.iterdir()) == []


def test_imports_no_tensorflow():
    root = pathlib.Path(__file__).resolve().parent.parent
    code = "import sys, bert_tf.outputs.glue; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout
    assert out.strip() == "False"
