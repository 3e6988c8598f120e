"""Pretraining throughput and MFU: our engine (run_pretraining's path) vs transformers'
TFBertForPreTraining, on the same batches in the same process.

  * ours: as run_pretraining.py uses the engine: `set_mixed_precision("" or "bf16")`,
    `Engine(PretrainingTask(config), create_strategy("one_device"), seed=1)` (batches keep
    max_seq_length: the loss is a batch mean), `prepare_training`, then
    `train_loop(iterator, tf.constant(n))`. The masked-LM head runs on the
    max_predictions_per_seq gathered positions.
  * peer: `transformers.TFBertForPreTraining` with the same dims (`gelu_new`, the original's
    tanh GELU), trained as a user would: `compile(optimizer=create_optimizer(...))` with no
    loss (the model computes its own from `labels` [B, S], -100 except at the masked
    positions, and `next_sentence_label`), then `train_on_batch`. It computes the
    prediction logits at every position: [B, S, V].

Both use the same optimizer (AdamWeightDecay, clip norm 1.0) and the same records: random
ids, 90% of the examples 128 long and 10% shorter (create_pretraining_data's short_seq_prob),
15% of the tokens masked, at most 20 (max_predictions_per_seq).

MFU counts the *useful* model FLOPs of one training step (3x the forward pass: the encoder's
matmuls and attention, the masked-LM head on the 20 masked positions, pooler and
next-sentence head), the same count for both sides, against the best measured matmul rate of
the dtype on this machine. The peer also computes the vocabulary projection for all S
positions: work that is not counted (the reason ours is faster).

    .venv/bin/python benchmarks/pretraining_throughput.py            # about 10 minutes
    .venv/bin/python benchmarks/pretraining_throughput.py --quick    # a smoke run
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import transformers  # noqa: E402
from absl import logging  # noqa: E402
from machine import machine_info  # noqa: E402
from train_throughput import SIZES, VOCAB_SIZE, bert_config, matmul_peak  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.optimization import create_optimizer  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402
from bert_tf.training import (Engine, TrainingConfig, create_strategy,  # noqa: E402
                              set_mixed_precision)

SEQ, PREDICTIONS, MASK_ID = 128, 20, 103
LEARNING_RATE, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS = 1e-4, 1000, 100
TARGET = 1.3


def useful_train_flops(size):
    """3x the forward FLOPs of one example: encoder matmuls and attention at SEQ positions,
    the masked-LM transform and vocabulary projection at PREDICTIONS positions, pooler and
    next-sentence head."""
    dims = SIZES[size][1]
    d, i, layers = dims["hidden_size"], dims["intermediate_size"], dims["num_hidden_layers"]
    encoder = 2 * layers * (4 * d * d + 2 * d * i) * SEQ + 2 * 2 * layers * SEQ * SEQ * d
    masked_lm = 2 * PREDICTIONS * (d * d + d * VOCAB_SIZE)
    next_sentence = 2 * (d * d + 2 * d)
    return 3 * (encoder + masked_lm + next_sentence)


def make_records(rng, count):
    """Pretraining records as create_pretraining_data makes them (random ids)."""
    lengths = np.where(rng.random(count) < 0.1, rng.integers(16, SEQ, count), SEQ)
    positions = np.arange(SEQ)[None]
    input_mask = (positions < lengths[:, None]).astype(np.int32)
    input_ids = rng.integers(1000, VOCAB_SIZE, (count, SEQ)).astype(np.int32) * input_mask
    segment_ids = ((positions >= lengths[:, None] // 2) * input_mask).astype(np.int32)
    masked_positions = np.zeros((count, PREDICTIONS), np.int32)
    masked_ids = np.zeros((count, PREDICTIONS), np.int32)
    weights = np.zeros((count, PREDICTIONS), np.float32)
    for n, length in enumerate(lengths):
        k = min(PREDICTIONS, max(1, round(0.15 * length)))
        chosen = np.sort(rng.choice(np.arange(1, length - 1), k, replace=False))
        masked_positions[n, :k] = chosen
        masked_ids[n, :k] = input_ids[n, chosen]
        weights[n, :k] = 1.0
        input_ids[n, chosen] = MASK_ID
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "masked_lm_positions": masked_positions, "masked_lm_ids": masked_ids,
            "masked_lm_weights": weights,
            "next_sentence_labels": rng.integers(0, 2, (count, 1)).astype(np.int32)}


def hf_batch(records, start, batch):
    """The same examples in transformers' layout: labels [B, S], -100 where not masked."""
    part = {k: v[start:start + batch] for k, v in records.items()}
    labels = np.full((batch, SEQ), -100, np.int32)
    rows = np.repeat(np.arange(batch), PREDICTIONS)
    keep = part["masked_lm_weights"].reshape(-1) > 0
    labels[rows[keep], part["masked_lm_positions"].reshape(-1)[keep]] = (
        part["masked_lm_ids"].reshape(-1)[keep])
    return {"input_ids": part["input_ids"], "attention_mask": part["input_mask"],
            "token_type_ids": part["segment_ids"], "labels": labels,
            "next_sentence_label": part["next_sentence_labels"][:, 0]}


class Ours:
    def __init__(self, size, precision, records, batch, tmp):
        set_mixed_precision(precision)
        self.engine = Engine(PretrainingTask(bert_config(size)), create_strategy("one_device"),
                             tmp, seed=1)
        config = TrainingConfig(train_batch_size=batch, num_train_steps=NUM_TRAIN_STEPS,
                                num_warmup_steps=NUM_WARMUP_STEPS, learning_rate=LEARNING_RATE,
                                shuffle_buffer_size=1)
        _, self.iterator, self.loop = self.engine.prepare_training(
            tf.data.Dataset.from_tensor_slices(records), config)

    def run(self, steps):
        return float(self.loop(self.iterator, tf.constant(steps)).numpy()[-1])


class Peer:
    def __init__(self, size, precision, records, batch):
        tf_keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision else "float32")
        dims = SIZES[size][1]
        self.model = transformers.TFBertForPreTraining(transformers.BertConfig(
            vocab_size=VOCAB_SIZE, hidden_act="gelu_new", max_position_embeddings=512,
            type_vocab_size=2, **dims))
        self.model.compile(optimizer=create_optimizer(LEARNING_RATE, NUM_TRAIN_STEPS,
                                                      NUM_WARMUP_STEPS))
        self.records, self.batch, self.start = records, batch, 0
        self.precision = precision

    def run(self, steps):
        loss = None
        for _ in range(steps):
            if self.start + self.batch > len(self.records["input_ids"]):
                self.start = 0
            loss = self.model.train_on_batch(hf_batch(self.records, self.start, self.batch),
                                             return_dict=True)["loss"]
            self.start += self.batch
        return float(loss)


def measure(size, precision, batch, timed_steps, rounds):
    """(ours examples/s, peer examples/s), timed in alternating chunks."""
    records = make_records(np.random.default_rng(0), batch * 8)
    with tempfile.TemporaryDirectory() as tmp:
        ours = Ours(size, precision, records, batch, tmp)
        peer = Peer(size, precision, records, batch)
        set_mixed_precision("")
        tf_keras.mixed_precision.set_global_policy("float32")
        rows = {"ours": ours, "peer": peer}
        for row in rows.values():  # trace / build, then one more untimed step
            row.run(1)
            row.run(1)
        seconds = {name: 0.0 for name in rows}
        order = list(rows)
        for r in range(rounds):
            for name in (order if r % 2 == 0 else order[::-1]):
                start = time.perf_counter()
                loss = rows[name].run(timed_steps)
                seconds[name] += time.perf_counter() - start
                logging.info("%s %s %s: %d steps, loss %.3f", SIZES[size][0],
                             precision or "fp32", name, timed_steps, loss)
        del ours, peer, rows
        gc.collect()
        tf_keras.backend.clear_session()
    steps = timed_steps * rounds
    return {name: steps * batch / s for name, s in seconds.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="small,base")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per chunk")
    parser.add_argument("--rounds", type=int, default=2, help="chunks per side")
    parser.add_argument("--quick", action="store_true", help="BERT-Small fp32, 1+1 steps")
    args = parser.parse_args()
    logging.set_verbosity(logging.INFO)
    sizes, precisions = args.sizes.split(","), args.precisions.split(",")
    if args.quick:
        sizes, precisions, args.steps, args.rounds, args.batch = ["small"], ["fp32"], 1, 1, 8
    peaks = {p: matmul_peak(tf.float32 if p == "fp32" else tf.bfloat16)[0]
             for p in precisions}
    print(f"# {machine_info()}")
    print(f"# seq {SEQ}, {PREDICTIONS} masked positions, batch {args.batch}, "
          f"{args.steps * args.rounds} timed steps per row; matmul peak "
          + ", ".join(f"{p} {v / 1e12:.2f} TFLOP/s" for p, v in peaks.items()))
    print("| model | precision | ours ex/s | peer ex/s | ours MFU | peer MFU | ours / peer "
          f"| >= {TARGET}x |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for size in sizes:
        for precision in precisions:
            rates = measure(size, "" if precision == "fp32" else "bf16", args.batch,
                            args.steps, args.rounds)
            flops = useful_train_flops(size)
            ratio = rates["ours"] / rates["peer"]
            print(f"| {SIZES[size][0]} | {precision} | {rates['ours']:.1f} | "
                  f"{rates['peer']:.1f} | {100 * rates['ours'] * flops / peaks[precision]:.0f}% | "
                  f"{100 * rates['peer'] * flops / peaks[precision]:.0f}% | {ratio:.2f}x | "
                  f"{'met' if ratio >= TARGET else 'missed'} |", flush=True)


if __name__ == "__main__":
    main()
