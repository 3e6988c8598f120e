"""Shared fixtures: the tiny config with every axis size different, seeded weights."""

import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.reference import original_names  # noqa: E402

# vocab 99, hidden 32, heads 4 (head size 8), layers 2, intermediate 37, types 3,
# positions 11; batches are 3 x 7. A swapped axis fails loudly.
TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, hidden_act="gelu", hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1, max_position_embeddings=11, type_vocab_size=3,
            initializer_range=0.02)
BATCH, SEQ = 3, 7


@pytest.fixture(scope="session")
def dead_pid():
    """The pid of a process that has exited and been reaped: a killed writer's."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    """The pid of another process running now: a writer still at work."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


@pytest.fixture(scope="session")
def toy_squad_v2(tmp_path_factory):
    """A toy SQuAD 2.0 model trained once for the suite: (output_dir, export_dir, dev.json)."""
    from tests.runner_fixtures import train_toy_squad
    return train_toy_squad(tmp_path_factory.mktemp("squad2"), version_2=True, epochs=30.0)


@pytest.fixture
def tiny_config_dict():
    return dict(TINY)


@pytest.fixture
def tiny_config():
    from bert_tf.config import BertConfig
    return BertConfig(**TINY)


def random_original_weights(seed=0, **overrides):
    """Random weights keyed by original checkpoint names (names from the test's own list)."""
    sizes = dict(TINY, **overrides)
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in original_names.encoder_variables(sizes):
        if name.endswith("/gamma"):
            weights[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            weights[name] = (0.2 * rng.standard_normal(shape)).astype(np.float32)
    return weights


def random_batch(seed=1, vocab_size=TINY["vocab_size"], type_vocab_size=TINY["type_vocab_size"]):
    """input_ids, input_mask (ragged lengths, one full row), segment_ids: int32 [3, 7]."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, vocab_size, size=(BATCH, SEQ)).astype(np.int32)
    lengths = np.array([SEQ, 4, 2])
    input_mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int32)
    input_ids *= input_mask
    segment_ids = (rng.integers(0, type_vocab_size, size=(BATCH, SEQ)) * input_mask).astype(
        np.int32)
    return input_ids, input_mask, segment_ids


# A vocabulary of 99 entries for the tiny config: specials, words, pieces, punctuation.
_VOCAB_HEAD = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
               + "the cat sat on a mat dog hello world , ! . ? un ##want ##ed runn ##ing".split())
TINY_VOCAB = _VOCAB_HEAD + [f"word{i}" for i in range(99 - len(_VOCAB_HEAD))]


def write_vocab(path, tokens=TINY_VOCAB):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def snapshot(directory):
    """{relative path: bytes} of every file under directory ({} when it does not exist): what
    a test compares before and after a command that must leave a directory untouched."""
    directory = pathlib.Path(directory)
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def run_main(main, **flag_values):
    """Runs a runner's main() in-process with the given flag values, restoring them after."""
    from absl import flags
    from absl.testing import flagsaver
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()
    with flagsaver.flagsaver(**flag_values):
        return main([])
