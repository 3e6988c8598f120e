"""benchmarks/gpu_check.py: its one line without a GPU, and its CPU smoke run end to end."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _run(*args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _table(stdout):
    """The markdown table's body rows, each a list of its cells."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in stdout.splitlines() if line.startswith("| ")]
    assert rows and rows[0] == ["check", "variant", "result", "reference", "verdict"]
    return rows[1:]


def test_without_a_gpu_it_prints_one_line_and_exits_0():
    result = _run()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [
        "gpu_check: no GPU visible to TensorFlow; nothing to check (exit 0)"]


@pytest.mark.slow
def test_cpu_smoke_run_checks_a_demo_and_times_a_row():
    result = _run("--cpu_smoke")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = _table(result.stdout)
    demo = [r for r in rows if r[0].startswith("classifier demo: eval_accuracy")
            and "XLA" in r[1]]
    assert demo and demo[0][4] == "ok", rows
    exports = [r for r in rows if r[0] == "classifier demo: export"]
    assert exports and all(r[4] == "ok" for r in exports), rows
    ours = [r for r in rows if r[0] == "throughput" and "ours fp32" in r[1]]
    assert ours, rows
    examples_per_s = float(re.match(r"([\d,.]+) examples/s", ours[0][2]).group(1)
                           .replace(",", ""))
    assert examples_per_s > 0
    assert re.search(r"[\d.]+x vs peer", ours[0][4]), ours
