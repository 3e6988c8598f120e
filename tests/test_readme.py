"""The README's commands and file names, checked against the repository they describe."""

import importlib.util
import pathlib
import re

from bert_tf.data.custom_task import CustomTaskProcessor
from bert_tf.data.glue import get_processor

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _shell_lines():
    """The lines of the README's ```sh blocks."""
    return [line for block in re.findall(r"```sh\n(.*?)```", README, re.S)
            for line in block.splitlines()]


def test_the_venv_is_activated_before_the_first_python_command():
    # `make install` creates .venv; without activating it, `python run_classifier.py` is the
    # system's python and stops with ModuleNotFoundError: tensorflow.
    assert re.search(r"^VENV \?= \.venv$", MAKEFILE, re.M)
    lines = _shell_lines()
    first_python = next(i for i, line in enumerate(lines) if line.startswith("python"))
    activate = [i for i, line in enumerate(lines)
                if re.match(r"(\.|source) \.venv/bin/activate\b", line)]
    assert activate and activate[0] < first_python
    assert "make install" in lines[:activate[0]]


def test_every_command_names_a_script_module_or_target_that_exists():
    lines = _shell_lines()
    scripts = {m.group(1) for line in lines for m in [re.match(r"python (\S+\.py)\b", line)]
               if m}
    modules = {m.group(1) for line in lines for m in [re.match(r"python -m (\S+)", line)] if m}
    targets = {m.group(1) for line in lines for m in [re.match(r"make ([\w-]+)", line)] if m}
    assert {"run_classifier.py", "run_ner.py", "run_squad.py", "extract_features.py"} <= scripts
    assert [s for s in scripts if not (ROOT / s).is_file()] == []
    assert modules == {"bert_tf.convert", "bert_tf.predict", "bert_tf.embed"}
    assert all(importlib.util.find_spec(m) for m in modules)
    assert {"test", "install", "demo", "demo-ner", "demo-squad"} <= targets
    assert [t for t in targets if not re.search(rf"^{t}:", MAKEFILE, re.M)] == []


def test_submission_file_names_agree_with_the_code():
    # GLUE tasks write the leaderboard's file name; a custom task (or XNLI) has none and
    # writes submission/test_predictions.tsv. The README used to promise <TASK>.tsv only.
    custom = CustomTaskProcessor(text_a_column="text", label_column="label", labels=["a"])
    assert custom.submission_file_name("test") == "test_predictions.tsv"
    assert get_processor("xnli").submission_file_name("test") == "test_predictions.tsv"
    row = next(line for line in README.splitlines() if line.startswith("| `submission/"))
    assert "`submission/<TASK>.tsv`" in row and "`custom`" in row and "`xnli`" in row
    assert "`submission/test_predictions.tsv`" in row
    sst2 = get_processor("sst-2").submission_file_name("test")
    assert f"`{sst2}`" in row
    assert f"submission/{sst2} " in MAKEFILE  # the `make demo` summary (an SST-2 run)
