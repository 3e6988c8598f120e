"""Peak host memory of BERT fine-tuning at full length, with and without gradient accumulation.

Each configuration runs in its own subprocess (this script re-run with --child_accumulation),
so one configuration's peak cannot hide in another's. A child builds an `Engine` for a
`ClassificationTask` (2 labels, one_device strategy, float32 unless --mixed_precision), calls
`Engine.prepare_training` (which builds the optimizer: AdamWeightDecay, two slots per weight)
on a dataset of full-length examples (every input_mask all ones, so dynamic padding cuts
nothing), and reads from /proc/self/status:

  * RSS after build: VmRSS once the model, the optimizer and the input pipeline exist,
    before the first step: weights, Adam slots, TensorFlow's own libraries;
  * build peak: VmHWM at that point (building can pass through a higher peak);
  * step peak: VmHWM over the steps, after resetting it to the current RSS (writing 5 to
    /proc/self/clear_refs); the first step, which also traces the train loop, is included;
  * step peak - RSS after build: what training adds on top (activations kept for the backward
    pass, gradients, accumulation sums, temporaries).

Seconds per step: one untimed warm-up step (tracing), then --steps steps in one
`train_loop(iterator, tf.constant(steps))` call. Every row trains on the same global batch
(--batch_size examples of --seq_length tokens), as one step on the whole batch or as
`gradient_accumulation_steps` micro-batches whose gradients are summed. The first row
builds the model and optimizer and takes no step.

The default global batch is 8, not 16: BERT-Base at 16 x 512 as one step would peak near
19 GiB (measured: 7.3 GiB at batch 4, 11.2 GiB at batch 8, so about 0.95 GiB more per
example), more than a 24 GiB machine shared with others can be asked for. A child
whose RSS passes --max_rss_gib (default 90% of MemAvailable) stops itself and its row says
so, rather than leaving the machine to the kernel's OOM killer.

    .venv/bin/python benchmarks/memory.py            # BERT-Base, 512 tokens, batch 8, ~7 min
    .venv/bin/python benchmarks/memory.py --quick    # BERT-Small, 128 tokens, batch 8, ~1 min
    .venv/bin/python benchmarks/memory.py --batch_size 16 --accumulation 16 --steps 1  # ~3 min
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from machine import machine_info  # noqa: E402

RESULT_PREFIX = "MEMORY_RESULT "
# A child whose RSS passes --max_rss_gib exits with this code (the machine is shared: better a
# row that says "over the cap" than the kernel's OOM killer picking a process).
OVER_CAP_EXIT_CODE = 75
SIZES = {
    "base": ("BERT-Base", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072)),
    "small": ("BERT-Small", dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                                 intermediate_size=2048)),
}
GIB = 2 ** 30


def read_status():
    """(VmRSS, VmHWM) of this process in bytes."""
    values = {}
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024  # kB
    return values["VmRSS"], values["VmHWM"]


def reset_peak():
    """Sets VmHWM to the current RSS (Linux 4.0+). Returns whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def watch_rss(cap_bytes, interval=0.02):
    """Starts a daemon thread that ends the process if its RSS passes `cap_bytes`."""
    def watch():
        while True:
            rss = read_status()[0]
            if rss > cap_bytes:
                sys.stderr.write(f"RSS {rss / GIB:.1f} GiB passed the cap of "
                                 f"{cap_bytes / GIB:.1f} GiB: stopping\n")
                sys.stderr.flush()
                os._exit(OVER_CAP_EXIT_CODE)
            time.sleep(interval)
    threading.Thread(target=watch, daemon=True).start()


def run_child(args):
    """One configuration, in this process; prints one RESULT_PREFIX + JSON line."""
    watch_rss(args.max_rss_gib * GIB)
    import numpy as np
    import tensorflow as tf
    from absl import logging

    from bert_tf.config import BertConfig
    from bert_tf.tasks.classification import ClassificationTask
    from bert_tf.training import Engine, TrainingConfig, create_strategy, set_mixed_precision

    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("WARNING")
    result = {"imports_rss": read_status()[0]}
    set_mixed_precision(args.mixed_precision)
    config = BertConfig(vocab_size=30522, hidden_act="gelu", hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1, max_position_embeddings=512,
                        type_vocab_size=2, initializer_range=0.02, **SIZES[args.size][1])
    rng = np.random.default_rng(0)
    count, length = 2 * args.batch_size, args.seq_length
    input_ids = rng.integers(1000, config.vocab_size, [count, length]).astype(np.int32)
    input_ids[:, 0] = 101                                                  # [CLS]
    segment_ids = np.zeros([count, length], np.int32)
    segment_ids[:, length // 2:] = 1
    dataset = tf.data.Dataset.from_tensor_slices({
        "input_ids": input_ids, "input_mask": np.ones([count, length], np.int32),
        "segment_ids": segment_ids,
        "label_ids": rng.integers(0, 2, count).astype(np.int32)})
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(ClassificationTask(config, num_labels=2), create_strategy("one_device"),
                        output_dir=tmp, seed=1)
        accumulation = max(args.child_accumulation, 1)
        training = TrainingConfig(train_batch_size=args.batch_size, num_train_steps=100,
                                  num_warmup_steps=10, learning_rate=5e-5,
                                  gradient_accumulation_steps=accumulation)
        _, iterator, train_loop = engine.prepare_training(dataset, training)
        result["build_rss"], result["build_peak"] = read_status()
        result["parameters"] = int(sum(np.prod(v.shape) for v in engine.model.trainable_variables))
        if args.child_accumulation > 0:
            result["peak_reset"] = reset_peak()
            begin = time.perf_counter()
            losses = list(train_loop(iterator, tf.constant(1)).numpy())
            result["first_step_seconds"] = time.perf_counter() - begin
            begin = time.perf_counter()
            losses += list(train_loop(iterator, tf.constant(args.steps)).numpy())
            result["seconds_per_step"] = (time.perf_counter() - begin) / args.steps
            result["step_rss"], result["step_peak"] = read_status()
            result["losses"] = [float(x) for x in losses]
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_configuration(args, accumulation):
    """Runs one configuration in a fresh Python process; returns its result dict."""
    command = [sys.executable, os.path.abspath(__file__), "--child_accumulation",
               str(accumulation), "--size", args.size, "--seq_length", str(args.seq_length),
               "--batch_size", str(args.batch_size), "--steps", str(args.steps),
               "--mixed_precision", args.mixed_precision, "--max_rss_gib", str(args.max_rss_gib)]
    process = subprocess.run(command, capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for line in process.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    if process.returncode == OVER_CAP_EXIT_CODE:
        return None
    raise SystemExit(f"configuration with gradient_accumulation_steps={accumulation} failed "
                     f"(exit {process.returncode}):\n{process.stderr[-4000:]}")


def available_memory():
    """MemAvailable in bytes."""
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base", choices=sorted(SIZES))
    parser.add_argument("--seq_length", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=8,
                        help="global batch per step (BERT-Base at 16 x 512 as one step "
                             "would peak near 19 GiB)")
    parser.add_argument("--accumulation", default="1,4,8",
                        help="comma-separated gradient_accumulation_steps, one row each")
    parser.add_argument("--steps", type=int, default=2,
                        help="timed optimizer steps per row, after one warm-up step")
    parser.add_argument("--mixed_precision", default="", choices=["", "bf16", "fp16", "auto"])
    parser.add_argument("--max_rss_gib", type=float, default=None,
                        help="a row whose RSS passes this is stopped and shown as over the "
                             "cap; default 90%% of MemAvailable at the start")
    parser.add_argument("--quick", action="store_true",
                        help="BERT-Small, 128 tokens, batch 8, accumulation 1 and 4, 1 timed step")
    parser.add_argument("--child_accumulation", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_accumulation is not None:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        run_child(args)
        return
    if args.max_rss_gib is None:
        args.max_rss_gib = round(0.9 * available_memory() / GIB, 1)
    if args.quick:
        args.size, args.seq_length, args.batch_size, args.accumulation, args.steps = (
            "small", 128, 8, "1,4", 1)
    accumulations = [int(k) for k in args.accumulation.split(",")]
    bad = [k for k in accumulations if k < 1 or args.batch_size % k]
    if bad:
        parser.error(f"--accumulation {bad} must divide --batch_size={args.batch_size}")
    if not 2 <= args.seq_length <= 512:
        parser.error("--seq_length must be between 2 and 512 (max_position_embeddings)")

    begin = time.perf_counter()
    results = [(0, run_configuration(args, 0))]
    for k in accumulations:
        results.append((k, run_configuration(args, k)))

    label = SIZES[args.size][0]
    built = results[0][1]
    if built is None:
        raise SystemExit(f"building the model and optimizer alone passed --max_rss_gib="
                         f"{args.max_rss_gib}")
    parameters = built["parameters"]
    print(f"Memory: {label} ({parameters / 1e6:.1f}M parameters) fine-tuning, "
          f"ClassificationTask (2 labels), one_device, "
          f"{args.mixed_precision or 'float32'}; global batch {args.batch_size} x "
          f"{args.seq_length} tokens (full length); one subprocess per row.")
    print(f"Machine: {machine_info(with_memory=True, transformers_note=' (not used here)')}.")
    print(f"Peaks from /proc/self/status (VmHWM; reset before the steps). RSS after imports "
          f"alone {built['imports_rss'] / GIB:.2f} GiB; weights {4 * parameters / GIB:.2f} GiB "
          f"+ Adam slots {8 * parameters / GIB:.2f} GiB in float32. s/step: mean of "
          f"{args.steps} step(s) after one warm-up step. A row is stopped if its RSS passes "
          f"{args.max_rss_gib:.1f} GiB.")
    print()
    print("| configuration | micro-batch | RSS after build (GiB) | build peak (GiB) | "
          "step peak (GiB) | step peak - RSS after build (GiB) | s/step | examples/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, r in results:
        if k == 0:
            print(f"| model + optimizer built, no step | - | {r['build_rss'] / GIB:.2f} | "
                  f"{r['build_peak'] / GIB:.2f} | - | - | - | - |")
            continue
        name = ("one step on the whole batch" if k == 1
                else f"gradient accumulation, {k} micro-batches")
        if r is None:
            print(f"| {name} | {args.batch_size // k} | | | > {args.max_rss_gib:.1f} (stopped) "
                  f"| | | |")
            continue
        print(f"| {name} | {args.batch_size // k} | {r['build_rss'] / GIB:.2f} | "
              f"{r['build_peak'] / GIB:.2f} | {r['step_peak'] / GIB:.2f} | "
              f"{(r['step_peak'] - r['build_rss']) / GIB:.2f} | "
              f"{r['seconds_per_step']:.1f} | {args.batch_size / r['seconds_per_step']:.2f} |")
    done = [(k, r) for k, r in results if k and r]
    if not all(r.get("peak_reset", True) for _, r in done):
        print("\n(/proc/self/clear_refs was not writable: step peaks include the build peak.)")
    print()
    print("First step (tracing included), seconds: " + ", ".join(
        f"{k} micro-batch{'es' if k > 1 else ''}: {r['first_step_seconds']:.0f}"
        for k, r in done) + "; losses of each row's steps: " + "; ".join(
        f"{k}: " + ", ".join(f"{x:.4f}" for x in r["losses"]) for k, r in done))
    print(f"Total {time.perf_counter() - begin:.0f} s.")


if __name__ == "__main__":
    main()
