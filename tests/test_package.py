"""The public entry points: the short imports, the old paths kept as aliases, and the flag
defaults each runner gives the shared flags."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_short_imports():
    from bert_tf import BertConfig, BertModel, FullTokenizer, create_optimizer, load_pretrained
    from bert_tf.config import BertConfig as config_class
    from bert_tf.weights.pretrained import load_pretrained as loader
    assert BertConfig is config_class and load_pretrained is loader
    assert BertModel.__module__ == "bert_tf.modeling"
    assert FullTokenizer.__module__ == "bert_tf.tokenization"
    assert create_optimizer.__module__ == "bert_tf.optimization"
    import bert_tf
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        bert_tf.Nope  # noqa: B018


@pytest.mark.parametrize("name", ["checkpoints", "hf_weights", "pretrained", "convert"])
def test_old_paths_are_the_new_modules(name):
    import importlib
    old = importlib.import_module(f"bert_tf.{name}")
    assert old is importlib.import_module(f"bert_tf.weights.{name}")


def test_the_readme_imports_resolve():
    from bert_tf.checkpoints import load_checkpoint, save_checkpoint  # noqa: F401
    from bert_tf.hf_weights import load_hf_weights, read_hf_directory  # noqa: F401
    from bert_tf.modeling import BertModel  # noqa: F401
    from bert_tf.optimization import create_optimizer  # noqa: F401
    from bert_tf.pretrained import load_pretrained  # noqa: F401
    from bert_tf.tokenization import FullTokenizer  # noqa: F401
    from bert_tf.training import Engine, TrainingConfig, create_strategy  # noqa: F401


@pytest.mark.parametrize("runner, dropout", [("run_classifier", 0.1), ("run_ner", 0.1),
                                              ("run_squad", 0.0)])
def test_classifier_dropout_default_per_runner(runner, dropout):
    """run_squad's span head has no dropout in the original; the flag now reaches it."""
    code = (f"import {runner}; from absl import flags; "
            "print(flags.FLAGS['classifier_dropout'].default)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    assert float(result.stdout.strip().splitlines()[-1]) == dropout


def test_squad_task_passes_the_dropout_to_its_head(tiny_config):
    from bert_tf.tasks.squad import SquadTask
    assert SquadTask(tiny_config).build_model().head.classifier_dropout == 0.0
    assert SquadTask(tiny_config, 0.3).build_model().head.classifier_dropout == 0.3
