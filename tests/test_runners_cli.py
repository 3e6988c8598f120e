"""What a newcomer sees on the command line: each runner's --help, and TensorFlow's start-up
lines (runner_env.py)."""

import json
import os
import subprocess
import sys

import runner_env

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
    runners = ["run_classifier.py", "run_ner.py", "run_squad.py", "run_pretraining.py",
               "extract_features.py", "fill_mask.py"]
    processes = {runner: subprocess.Popen([sys.executable, "-c", _HELP_AND_FLAGS, runner],
                                          cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True, env=ENV)
                 for runner in runners}
    for runner, process in processes.items():
        shown, _, defined = process.communicate(timeout=300)[0].partition("\n@@FLAGS@@")
        defined = json.loads(defined)
        assert {"bert_config_file", "init_checkpoint", "max_seq_length"} <= set(defined)
        if runner not in ("extract_features.py", "fill_mask.py"):
            assert {"output_dir", "learning_rate", "do_train"} <= set(defined)
        missing = [n for n in defined if f"--{n}:" not in shown and f"--[no]{n}:" not in shown]
        assert (runner, missing) == (runner, [])


def test_tensorflow_settings_keep_the_users_own_values():
    cpu_only = {"TF_CPP_MIN_LOG_LEVEL": "1", "TF_ENABLED_DEVICE_TYPES": "CPU"}
    assert runner_env.tensorflow_settings({}, gpu_driver=False,
                                          other_accelerator=False) == cpu_only
    assert runner_env.tensorflow_settings({}, gpu_driver=True, other_accelerator=False) == {
        "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert runner_env.tensorflow_settings({}, gpu_driver=False, other_accelerator=True) == {
        "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert runner_env.tensorflow_settings(dict(cpu_only, TF_CPP_MIN_LOG_LEVEL="0"),
                                          gpu_driver=False, other_accelerator=False) == {}


def test_a_runner_starts_without_the_cuinit_error_on_a_machine_without_a_gpu_driver():
    # TensorFlow used to log "E ... failed call to cuInit: ... UNKNOWN ERROR (303)" at the
    # first device query of every run on a CPU-only machine.
    env = {k: v for k, v in ENV.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLED_DEVICE_TYPES")}
    code = ("import os, run_ner, tensorflow as tf; tf.config.list_physical_devices(); "
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    if not runner_env.gpu_driver_installed():
        assert "cuInit" not in result.stderr
    assert result.stdout.split() == ["1"]  # C++ warnings and errors still shown
