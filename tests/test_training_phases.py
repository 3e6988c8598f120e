"""Time per phase: the record's arithmetic, and the line a whole runner process ends with."""

import os
import re
import subprocess
import sys
import time

import pytest

from bert_tf.training import phases
from tests.runner_fixtures import write_tiny_bert, write_toy_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_phases_add_up_and_start_up_is_the_rest():
    phases.reset()
    with phases.timed("training"):
        time.sleep(0.05)
    with pytest.raises(RuntimeError):
        with phases.timed("eval"):
            raise RuntimeError("counted all the same")
    with phases.timed("features"):
        pass
    assert list(phases.seconds()) == ["training", "eval", "features"]
    assert phases.seconds()["training"] >= 0.05
    line = phases.summary(1.0)
    # start-up first, then the fixed order, then the total.
    assert re.fullmatch(r"Time per phase: start-up 0\.9 s \(9\d%\), features 0\.0 s \(0%\), "
                        r"training 0\.1 s \(\d%\), eval 0\.0 s \(0%\); total 1\.0 s", line), line
    phases.reset()
    assert phases.seconds() == {}


def test_a_runner_process_ends_with_its_time_per_phase(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    data_dir = write_toy_task(tmp_path / "data", n_train=16, n_dev=8)
    flags = [f"--{k}={v}" for k, v in dict(
        model, task_name="custom", text_a_column="sentence", label_column="label",
        data_dir=data_dir, output_dir=tmp_path / "out", export_dir=tmp_path / "export",
        do_train=True, do_eval=True, do_predict=True, max_seq_length=16, train_batch_size=8,
        num_train_epochs=1.0).items()]
    result = subprocess.run([sys.executable, "run_classifier.py", *flags], cwd=ROOT,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stderr.splitlines() if "Time per phase:" in line)
    found = dict(re.findall(r"([a-z-]+) ([\d.]+) s \(\d+%\)", line))
    assert list(found) == ["start-up", "features", "training", "teardown", "eval", "predict",
                           "export"], line
    total = float(re.search(r"total ([\d.]+) s", line).group(1))
    assert sum(map(float, found.values())) == pytest.approx(total, abs=0.5)
