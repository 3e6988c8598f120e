"""What a newcomer sees on the command line: each runner's --help."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Runs `python <runner> --help` as the command line does (the runner as __main__), then
# prints the flags that the runner and bert_flags.py defined in that process. absl registers
# a __main__ module's flags under sys.argv[0].
_HELP_AND_FLAGS = """
import json, runpy, sys
from absl import flags
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print("\\n@@FLAGS@@" + json.dumps(sorted(
    f.name for module in (sys.argv[0], "bert_flags")
    for f in flags.FLAGS.get_flags_for_module(module))))
"""


def test_help_lists_every_flag_the_runner_defines():
    # The flags from bert_flags.py (--output_dir, --learning_rate, ...) used to be listed by
    # --helpfull only: --help showed the runner file's own flags. One process per runner
    # (each imports TensorFlow), run side by side.
    runners = ["run_classifier.py", "run_ner.py", "run_squad.py", "extract_features.py"]
    processes = {runner: subprocess.Popen([sys.executable, "-c", _HELP_AND_FLAGS, runner],
                                          cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, env=ENV)
                 for runner in runners}
    for runner, process in processes.items():
        shown, _, defined = process.communicate(timeout=300)[0].partition("\n@@FLAGS@@")
        defined = json.loads(defined)
        assert {"bert_config_file", "init_checkpoint", "max_seq_length"} <= set(defined)
        if runner != "extract_features.py":
            assert {"output_dir", "learning_rate", "do_train"} <= set(defined)
        missing = [n for n in defined if f"--{n}:" not in shown and f"--[no]{n}:" not in shown]
        assert (runner, missing) == (runner, [])
