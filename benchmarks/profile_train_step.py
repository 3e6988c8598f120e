"""Where one training step's time goes: the profile behind the MFU figures in README.md.

For one configuration (default: BERT-Small, 128 tokens, batch 32, full-length batches, fp32,
our Engine exactly as train_throughput.py builds it) the script prints:

  1. the step: seconds per optimizer step (best of 3 calls of --steps steps), the model
     FLOP/s it reaches (train_throughput.py's FLOP count) and that as MFU of the measured
     square-matmul peak;
  2. the matmul ceiling: every matmul of the step (forward; and the two of the backward
     pass: input gradient and weight gradient) timed alone at the model's own shapes, and
     the MFU the step would reach if it were nothing but those matmuls at those rates;
  3. ablations, each a whole training step again: dropout off, ReLU instead of the tanh GELU,
     the optimizer update without XLA (what these element-wise parts cost);
  4. the operations of one profiled call (TensorFlow's profiler, summed by op type over the
     executor threads; with two cores two ops can run at once, so the shares are of op time,
     not of wall time).

    .venv/bin/python benchmarks/profile_train_step.py
    .venv/bin/python benchmarks/profile_train_step.py --precision bf16
    .venv/bin/python benchmarks/profile_train_step.py --model base --batch_size 8
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import dataclasses  # noqa: E402
import glob  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.optimization import AdamWeightDecay  # noqa: E402
from bert_tf.tasks.classification import ClassificationTask  # noqa: E402
from bert_tf.training import Engine, create_strategy, set_mixed_precision  # noqa: E402
from machine import machine_info  # noqa: E402
from train_throughput import (NUM_LABELS, SIZES, bert_config, make_dataset,  # noqa: E402
                              matmul_peak, train_flops, training_config)

DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16}


def build(args, **config_changes):
    """(train_loop, iterator) of our Engine for the configuration, `config_changes` applied
    to the BertConfig; `xla_update=False` turns the optimizer's XLA update off."""
    xla_update = config_changes.pop("xla_update", True)
    set_mixed_precision("bf16" if args.precision == "bf16" else "")
    try:
        config = dataclasses.replace(bert_config(args.model), **config_changes)
        engine = Engine(ClassificationTask(config, num_labels=NUM_LABELS),
                        create_strategy("one_device"), output_dir=tempfile.mkdtemp(), seed=1)
        dataset, _ = make_dataset("uniform", np.random.default_rng(1),
                                  max(256, 4 * args.batch_size), args.seq)
        _, iterator, train_loop = engine.prepare_training(dataset,
                                                          training_config(args.batch_size))
        if not xla_update:  # the same optimizer, its update as plain TF ops
            with engine.strategy.scope():
                engine.optimizer = AdamWeightDecay.from_config(
                    dict(engine.optimizer.get_config(), jit_compile=False))
                engine.optimizer.build(engine.model.trainable_variables)
        train_loop(iterator, tf.constant(2)).numpy()  # trace, warm up
    finally:
        set_mixed_precision("")
    return train_loop, iterator


def seconds_per_step(train_loop, iterator, steps):
    best = float("inf")
    for _ in range(3):
        begin = time.perf_counter()
        train_loop(iterator, tf.constant(steps)).numpy()
        best = min(best, (time.perf_counter() - begin) / steps)
    return best


def matmul_seconds(a_shape, b_shape, dtype, transpose_a=False, transpose_b=False, calls=10):
    """Best seconds of one tf.matmul of these shapes, in a tf.function'd loop."""
    a = tf.cast(tf.random.normal(a_shape, seed=1), dtype)
    b = tf.cast(tf.random.normal(b_shape, seed=2), dtype)

    @tf.function
    def loop(a, b):
        total = tf.zeros([], tf.float32)
        for _ in tf.range(calls):
            product = tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
            total += tf.cast(tf.reshape(product, [-1])[0], tf.float32)
        return total

    loop(a, b).numpy()
    best = float("inf")
    for _ in range(3):
        begin = time.perf_counter()
        loop(a, b).numpy()
        best = min(best, (time.perf_counter() - begin) / calls)
    return best


def matmul_ceiling(args):
    """Rows (name, count per step, FLOPs, seconds) of the step's matmuls timed alone."""
    dims = SIZES[args.model][1]
    d, i, layers = dims["hidden_size"], dims["intermediate_size"], dims["num_hidden_layers"]
    heads = dims["num_attention_heads"]
    tokens, s, h, dtype = args.batch_size * args.seq, args.seq, d // heads, DTYPES[args.precision]
    bn = args.batch_size * heads
    rows = []
    # Dense layers [tokens, k] x [k, n]: forward x W, input gradient g W^T, weight gradient
    # x^T g; 4 layers of [D, D] (Q, K, V, attention output), one [D, I], one [I, D] per block.
    for name, k, n, count in (("dense D->D", d, d, 4 * layers), ("dense D->I", d, i, layers),
                              ("dense I->D", i, d, layers)):
        flops = 2 * tokens * k * n
        rows.append((f"{name} forward [{tokens},{k}]x[{k},{n}]", count, flops,
                     matmul_seconds([tokens, k], [k, n], dtype)))
        rows.append((f"{name} input grad [{tokens},{n}]x[{k},{n}]^T", count, flops,
                     matmul_seconds([tokens, n], [k, n], dtype, transpose_b=True)))
        rows.append((f"{name} weight grad [{tokens},{k}]^Tx[{tokens},{n}]", count, flops,
                     matmul_seconds([tokens, k], [tokens, n], dtype, transpose_a=True)))
    # Attention per block: scores q k^T [B*N, S, H] x [B*N, S, H]^T and context p v
    # [B*N, S, S] x [B*N, S, H]; the backward pass runs two matmuls of each kind's size.
    flops = 2 * bn * s * s * h
    rows.append((f"attention scores [{bn},{s},{h}]x[{bn},{s},{h}]^T", 3 * layers, flops,
                 matmul_seconds([bn, s, h], [bn, s, h], dtype, transpose_b=True)))
    rows.append((f"attention context [{bn},{s},{s}]x[{bn},{s},{h}]", 3 * layers, flops,
                 matmul_seconds([bn, s, s], [bn, s, h], dtype)))
    return rows


def op_profile(train_loop, iterator, steps):
    """{op type: (seconds per step, calls per step)} from one profiled call of `steps` steps."""
    logdir = tempfile.mkdtemp()
    tf.profiler.experimental.start(logdir)
    train_loop(iterator, tf.constant(steps)).numpy()
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0],
              "rb") as f:
        space.ParseFromString(f.read())
    seconds, calls = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor's op threads
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith("ExecutorState"):
                    continue  # executor bookkeeping, not an op
                op = name.rsplit(":", 1)[1]   # "<node name>:<op type>"
                seconds[op] += event.duration_ps * 1e-12 / steps
                calls[op] += 1 / steps
    return {op: (seconds[op], calls[op]) for op in seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small", choices=sorted(SIZES))
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--steps", type=int, default=4, help="steps per timed call")
    parser.add_argument("--top", type=int, default=15, help="op types listed")
    args = parser.parse_args()
    logging.set_verbosity(logging.WARNING)

    peak, peak_where = matmul_peak(DTYPES[args.precision])
    flops = args.batch_size * train_flops(args.model, args.seq)
    train_loop, iterator = build(args)
    step = seconds_per_step(train_loop, iterator, args.steps)
    profile = op_profile(train_loop, iterator, args.steps)
    del train_loop, iterator
    tf_keras.backend.clear_session()
    ablations = []
    for label, changes in (("dropout off", dict(hidden_dropout_prob=0.0,
                                                attention_probs_dropout_prob=0.0)),
                           ("ReLU instead of GELU", dict(hidden_act="relu")),
                           ("optimizer update without XLA", dict(xla_update=False))):
        loop, it = build(args, **changes)
        ablations.append((label, seconds_per_step(loop, it, args.steps)))
        del loop, it
        tf_keras.backend.clear_session()
    matmuls = matmul_ceiling(args)

    print(f"Training step profile: {SIZES[args.model][0]}, S={args.seq}, batch "
          f"{args.batch_size}, full-length batches, {args.precision}, no XLA in the model, "
          f"our Engine as in train_throughput.py.")
    print(f"Machine: {machine_info()}.")
    print(f"Matmul peak ({args.precision}): {peak / 1e9:.0f} GFLOP/s ({peak_where}).")
    print()
    print(f"1. Step: {1e3 * step:.0f} ms, {flops / 1e9:.0f} GFLOP of model FLOPs -> "
          f"{flops / step / 1e9:.0f} GFLOP/s = MFU {100 * flops / step / peak:.0f}%.")
    print()
    print("2. The step's matmuls, each timed alone at its shape:")
    print()
    print("| matmul | per step | GFLOP/s alone | ms per step |")
    print("|---|---:|---:|---:|")
    total_seconds = total_flops = 0.0
    for name, count, mm_flops, seconds in matmuls:
        total_seconds += count * seconds
        total_flops += count * mm_flops
        print(f"| {name} | {count} | {mm_flops / seconds / 1e9:.0f} | "
              f"{1e3 * count * seconds:.0f} |")
    print(f"| all | | {total_flops / total_seconds / 1e9:.0f} | {1e3 * total_seconds:.0f} |")
    print()
    print(f"   Matmuls alone: {1e3 * total_seconds:.0f} ms of the {1e3 * step:.0f} ms step "
          f"({100 * total_seconds / step:.0f}%); a step of nothing but them would reach MFU "
          f"{100 * flops / total_seconds / peak:.0f}% (the ceiling at these shapes). The "
          f"other {1e3 * (step - total_seconds):.0f} ms: element-wise work, the optimizer, "
          f"and matmuls running slower inside the step than alone.")
    print()
    print("3. Ablations (whole steps again; each saves what the part costs):")
    print()
    print("| change | ms per step | saved |")
    print("|---|---:|---:|")
    for label, seconds in ablations:
        print(f"| {label} | {1e3 * seconds:.0f} | {1e3 * (step - seconds):+.0f} ms |")
    print()
    print(f"4. Operations of one profiled call ({args.steps} steps), by op type, top "
          f"{args.top}:")
    print()
    print("| op type | ms per step | share of op time | calls per step |")
    print("|---|---:|---:|---:|")
    op_total = sum(seconds for seconds, _ in profile.values())
    ranked = sorted(profile.items(), key=lambda item: -item[1][0])
    for op, (seconds, calls) in ranked[:args.top]:
        print(f"| {op} | {1e3 * seconds:.1f} | {100 * seconds / op_total:.1f}% "
              f"| {calls:.0f} |")
    rest = sum(seconds for _, (seconds, _) in ranked[args.top:])
    print(f"| other {len(ranked) - args.top} types | {1e3 * rest:.1f} | "
          f"{100 * rest / op_total:.1f}% | |")


if __name__ == "__main__":
    main()
