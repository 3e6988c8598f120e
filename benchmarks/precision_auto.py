"""Does `--mixed_precision=auto` pick the faster precision? Training examples/s in float32 and
bf16 for encoder sizes from the demo model to BERT-Small, on this machine, and what `auto`
picks for each (`bert_tf.training.distribute.resolve_mixed_precision`).

Each size trains a 2-label classifier with the engine (as run_classifier.py does:
`set_mixed_precision`, `Engine`, `prepare_training`, `train_loop`) on random ids, batch 32,
128 tokens, no padding; --steps timed steps after 3 untimed ones, fp32 and bf16 alternately
(--rounds rounds each, the median kept), so a busy spell hits both.

    .venv/bin/python benchmarks/precision_auto.py     # ~4 minutes on 2 cores
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402
from machine import machine_info  # noqa: E402

from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.tasks.classification import ClassificationTask  # noqa: E402
from bert_tf.training import (Engine, TrainingConfig, create_strategy,  # noqa: E402
                              set_mixed_precision)
from bert_tf.training.distribute import resolve_mixed_precision  # noqa: E402

# name: (layers, hidden, heads, intermediate)
SIZES = {"demo (L2 H64)": (2, 64, 2, 256), "L4 H128": (4, 128, 2, 512),
         "L4 H256": (4, 256, 4, 1024), "MiniLM-L6 (L6 H384)": (6, 384, 12, 1536),
         "BERT-Small (L4 H512)": (4, 512, 8, 2048)}
BATCH, SEQ, VOCAB = 32, 128, 30522


def examples_per_second(dims, precision, steps, rounds_seed):
    layers, hidden, heads, intermediate = dims
    config = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate,
                        max_position_embeddings=512)
    set_mixed_precision(precision)
    try:
        rng = np.random.default_rng(rounds_seed)
        n = BATCH * (steps + 3)
        features = {"input_ids": rng.integers(1, VOCAB, (n, SEQ)).astype(np.int32),
                    "input_mask": np.ones((n, SEQ), np.int32),
                    "segment_ids": np.zeros((n, SEQ), np.int32),
                    "label_ids": rng.integers(0, 2, n).astype(np.int32)}
        engine = Engine(ClassificationTask(config, 2), create_strategy("one_device"),
                        tempfile.mkdtemp(prefix="bert_tf_precision_"), seed=1)
        training = TrainingConfig(train_batch_size=BATCH, num_train_steps=10 * steps,
                                  num_warmup_steps=1, learning_rate=1e-4, shuffle_buffer_size=1)
        _, iterator, loop = engine.prepare_training(
            tf.data.Dataset.from_tensor_slices(features), training)
        loop(iterator, tf.constant(3)).numpy()
        start = time.perf_counter()
        loop(iterator, tf.constant(steps)).numpy()
        return BATCH * steps / (time.perf_counter() - start)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)
    print(machine_info())
    print(f"batch {BATCH}, {SEQ} tokens, vocab {VOCAB}, {args.steps} timed steps, median of "
          f"{args.rounds} rounds")
    print(f"{'encoder':24}{'fp32 ex/s':>11}{'bf16 ex/s':>11}{'bf16/fp32':>11}"
          f"{'auto picks':>12}{'right':>7}")
    for name, dims in SIZES.items():
        rates = {"": [], "bf16": []}
        for round_index in range(args.rounds):
            order = ("", "bf16") if round_index % 2 == 0 else ("bf16", "")
            for precision in order:
                rates[precision].append(examples_per_second(dims, precision, args.steps,
                                                            round_index))
        fp32, bf16 = statistics.median(rates[""]), statistics.median(rates["bf16"])
        picked = resolve_mixed_precision("auto", hidden_size=dims[1])
        faster = "bf16" if bf16 > fp32 else ""
        print(f"{name:24}{fp32:11.1f}{bf16:11.1f}{bf16 / fp32:11.2f}{picked or 'fp32':>12}"
              f"{'yes' if picked == faster else 'NO':>7}")


if __name__ == "__main__":
    main()
