"""The GPU check: every runner's demo on the GPU against its CPU run, and BERT-Base/Large
fine-tuning throughput and MFU on the GPU, ours vs transformers' TF BERT. One table.

Part A, demos (`--parts=demos`). Each runner's demo (run_classifier on
configs/demo_sst2.flags, run_ner on demo_ner_en.flags, run_squad on demo_squad.flags,
run_pretraining on demo_pretraining.flags, with phase 1's records made as `make
demo-pretrain` makes them) runs as its own subprocess, exactly as a user runs it, in these
variants: the CPU in float32 (CUDA_VISIBLE_DEVICES="", the reference), and on the GPU fp32,
bf16, fp16 (the engine scales the loss), fp32 with --use_xla, and
--distribution_strategy=mirrored over every GPU TensorFlow sees. Every variant gets the same
flags but its own; --jobs of them run at once (GPU memory is grown, not grabbed). Checked per
run: it exits 0; its dev metric (eval_results.txt, SQuAD's eval_results.json) is within noise
of the reference's (see `tolerance`); its export loads with tf.saved_model.load and its
serving_default signature returns finite outputs (run_pretraining exports nothing).

Part B, throughput (`--parts=throughput`). BERT-Base fine-tuning examples/s at 128 and 384
tokens on full-length batches, our Engine driven as train_throughput.py drives it (its
OursRunner: set_mixed_precision, Engine(ClassificationTask), prepare_training, train_loop) in
bf16 with and without XLA, fp16 and fp32, against transformers' TFBertForSequenceClassification
(its PeerRunner: fp32, its defaults) on the same batches; and a BERT-Large row at 384 tokens
in bf16 with XLA (the classifier head: the encoder is where the time goes) against the anchor,
NVIDIA's TF2 BERT at 134 sequences/s fine-tuning BERT-Large SQuAD on one A100 in mixed
precision. MFU: train_throughput.py's FLOP count over the GPU's own matmul peak, measured here
(square matmuls of 8192 in a loop, after warm-up, with and without XLA) in each precision;
fp32 runs as TF32 on Ampere and later, TensorFlow's default, in the peak as in training.

Without a GPU (and without --cpu_smoke) it prints one line and exits 0. `--cpu_smoke` runs
the same code on the CPU at tiny sizes (the classifier demo for a fraction of an epoch, a
2-layer encoder at 128 tokens, ours fp32 against the peer; the demo variants fp32 and XLA)
so the paths are exercised without a GPU; its figures say nothing about GPUs.

Time budget: written to fit 10 minutes on one H200 with 16 cores (about 5 minutes of demos
with --jobs 4, the pretraining demo cut to --pretraining_steps; about 5 of throughput); this
was not measured, since no GPU was available when it was written. The smoke run takes about a
minute and a half on 2 cores.

    .venv/bin/python benchmarks/gpu_check.py                      # on a GPU machine
    .venv/bin/python benchmarks/gpu_check.py --parts=throughput
    .venv/bin/python benchmarks/gpu_check.py --cpu_smoke          # no GPU needed

The table goes to stdout, progress to stderr; the exit status is 1 if any demo check failed.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Tuple  # noqa: E402

import tensorflow as tf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_GPU_LINE = "gpu_check: no GPU visible to TensorFlow; nothing to check (exit 0)"
# NVIDIA's TF2 BERT, BERT-Large SQuAD fine-tuning, one A100, mixed precision (their
# DeepLearningExamples results): the per-GPU figure to beat.
ANCHOR_SEQUENCES_PER_S = 134.0


# ---- Part A: the demos ----

@dataclasses.dataclass(frozen=True)
class Demo:
    """A runner's demo: its runner and flagfile, the dev metrics checked, where they are."""

    name: str
    runner: str
    flagfile: str
    metrics: Tuple[str, ...]
    results_file: str = "eval_results.txt"
    scale: float = 1.0           # SQuAD's metrics are percentages
    exports: bool = True


DEMOS = {
    "classifier": Demo("classifier", "run_classifier.py", "configs/demo_sst2.flags",
                       ("eval_accuracy",)),
    "ner": Demo("ner", "run_ner.py", "configs/demo_ner_en.flags", ("eval_f1",)),
    "squad": Demo("squad", "run_squad.py", "configs/demo_squad.flags", ("f1",),
                  results_file="eval_results.json", scale=100.0),
    "pretraining": Demo("pretraining", "run_pretraining.py", "configs/demo_pretraining.flags",
                        ("masked_lm_accuracy", "next_sentence_accuracy"), exports=False),
}
# Phase 1 of `make demo-pretrain`: its records and its run_pretraining flags but the steps.
PRETRAINING_RECORDS = ["--input_file=demo/pretraining/reviews.txt",
                       "--vocab_file=configs/demo_vocab.txt", "--max_seq_length=32",
                       "--max_predictions_per_seq=5", "--dupe_factor=5"]
PRETRAINING_FLAGS = ["--max_seq_length=32", "--max_predictions_per_seq=5",
                     "--learning_rate=1e-3"]


def dev_items(demo: Demo, pretraining_eval_examples):
    """How many dev items the demo's metrics average over (for `tolerance`)."""
    if demo.name == "classifier":
        with open(os.path.join(ROOT, "demo/SST-2/dev.tsv"), encoding="utf-8") as f:
            return sum(1 for _ in f) - 1                      # header
    if demo.name == "ner":
        with open(os.path.join(ROOT, "demo/ner_en/dev.txt"), encoding="utf-8") as f:
            return sum(1 for block in f.read().split("\n\n") if block.strip())  # sentences
    if demo.name == "squad":
        with open(os.path.join(ROOT, "demo/squad/dev-v2.0-sample.json"), encoding="utf-8") as f:
            data = json.load(f)["data"]
        return sum(len(p["qas"]) for article in data for p in article["paragraphs"])
    return pretraining_eval_examples


def tolerance(reference, items):
    """How far a variant's metric (a share in [0, 1]) may sit from the CPU reference's.

    The GPU runs start from the same seed but round differently (cuBLAS/cuDNN kernels, TF32,
    bf16/fp16), so after hundreds of steps they are other training runs, as a different seed
    would make; on dev sets of 60-150 items that moves a metric by several points. Two
    independent runs whose metric has the binomial standard error sqrt(p (1 - p) / n) differ
    by sqrt(2) times that; 3 of those passes noise (a false alarm in ~1 of 400 checks) and
    still fails a broken run (a chance-level classifier, an F1 near 0). At least 2 points.
    """
    p = min(max(reference, 0.05), 0.95)
    return max(0.02, 3 * math.sqrt(2) * math.sqrt(p * (1 - p) / items))


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    flags: Tuple[str, ...] = ()
    cpu: bool = False            # CUDA_VISIBLE_DEVICES="": the CPU reference


def variants(smoke, gpu_count):
    """(variants run, notes on those left out); the first is the reference."""
    reference = Variant("CPU fp32 (reference)", cpu=True)
    if smoke:
        # What a CPU runs, within the smoke run's time: each demo run costs ~20 s of
        # start-up and export on 2 cores, however short its training.
        return ([reference, Variant("CPU fp32 XLA", ("--use_xla",))],
                ["GPU fp32: on the CPU it is the reference itself",
                 "bf16, fp16 and mirrored: left out of the CPU smoke run (GPU variants; "
                 "mirrored, for time)"])
    return ([reference, Variant("GPU fp32"), Variant("GPU bf16", ("--mixed_precision=bf16",)),
             Variant("GPU fp16 (loss scaling)", ("--mixed_precision=fp16",)),
             Variant("GPU fp32 XLA", ("--use_xla",)),
             Variant(f"GPU mirrored ({gpu_count} GPU{'s' if gpu_count > 1 else ''})",
                     ("--distribution_strategy=mirrored",))], [])


@dataclasses.dataclass
class Row:
    """One line of the table."""

    check: str
    variant: str
    result: str
    reference: str
    verdict: str


def make_pretraining_records(work_dir, log):
    """Phase 1's records of `make demo-pretrain`, made once on the CPU."""
    path = os.path.join(work_dir, "records_32.tfrecord")
    command = [sys.executable, os.path.join(ROOT, "create_pretraining_data.py"),
               f"--output_file={path}", *PRETRAINING_RECORDS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    if result.returncode:
        raise SystemExit(f"create_pretraining_data.py failed:\n{result.stderr[-3000:]}")
    log(f"  pretraining records: {path}")
    return path


def demo_command(demo: Demo, variant: Variant, out, extra):
    """The runner's command line: the demo's flagfile, then ours (later flags win)."""
    command = [sys.executable, os.path.join(ROOT, demo.runner),
               f"--flagfile={os.path.join(ROOT, demo.flagfile)}", f"--output_dir={out}"]
    if demo.exports:
        command.append(f"--export_dir={out}/export")
    return command + list(extra) + list(variant.flags)


def run_demo(demo: Demo, variant: Variant, out, extra, log):
    """Runs one demo variant. Returns (return code, seconds, the last stderr lines)."""
    env = dict(os.environ, TF_FORCE_GPU_ALLOW_GROWTH="true")  # --jobs processes share a GPU
    if variant.cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    begin = time.perf_counter()
    result = subprocess.run(demo_command(demo, variant, out, extra), cwd=ROOT, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - begin
    log(f"  {demo.name} / {variant.name}: exit {result.returncode} in {seconds:.0f} s")
    return result.returncode, seconds, result.stderr.strip().splitlines()[-3:]


def read_metrics(demo: Demo, out) -> Dict[str, float]:
    """The demo's metrics as shares in [0, 1]."""
    from bert_tf.outputs.glue import read_eval_results
    path = os.path.join(out, demo.results_file)
    if demo.results_file.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    else:
        values = read_eval_results(path)
    return {key: float(values[key]) / demo.scale for key in demo.metrics}


def check_export(export_dir):
    """Loads a SavedModel and calls serving_default once on a [2, 16] batch of id 1.

    Returns:
        (ok, what was seen).
    """
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    _, specs = serve.structured_input_signature
    outputs = serve(**{name: tf.ones([2, 16], spec.dtype) for name, spec in specs.items()})
    finite = all(bool(tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))))
                 for v in outputs.values() if v.dtype.is_floating)
    shown = ", ".join(f"{k} {v.shape.as_list()}" for k, v in sorted(outputs.items()))
    return finite, f"loads; serving_default -> {shown}" + ("" if finite else " NOT FINITE")


def demo_rows(demo: Demo, runs, reference_items) -> List[Row]:
    """The rows of one demo: per variant, its run, metrics against the reference, export."""
    rows = []
    reference = None
    for variant, out, (code, seconds, tail) in runs:
        check = f"{demo.name} demo"
        if code:
            rows.append(Row(check, variant.name, f"exit {code}: {' | '.join(tail)[-200:]}",
                            "exit 0", "FAILED"))
            continue
        try:
            metrics = read_metrics(demo, out)
        except (OSError, KeyError, ValueError) as e:
            rows.append(Row(check, variant.name, f"no metrics: {e!r}"[:200],
                            demo.results_file, "FAILED"))
            continue
        if variant.cpu:
            reference = metrics
        for key, value in metrics.items():
            if variant.cpu or reference is None:
                rows.append(Row(f"{check}: {key}", variant.name, f"{value:.3f} ({seconds:.0f} s)",
                                "-" if variant.cpu else "no reference (failed)",
                                "ok (reference)" if variant.cpu else "FAILED"))
                continue
            limit = tolerance(reference[key], reference_items)
            ok = abs(value - reference[key]) <= limit
            rows.append(Row(f"{check}: {key}", variant.name, f"{value:.3f} ({seconds:.0f} s)",
                            f"{reference[key]:.3f} +- {limit:.3f} (n={reference_items})",
                            "ok" if ok else "MISMATCH"))
        if demo.exports:
            try:
                ok, seen = check_export(os.path.join(out, "export"))
            except (OSError, ValueError, KeyError, tf.errors.OpError) as e:
                ok, seen = False, f"does not load or serve: {e!r}"[:200]
            rows.append(Row(f"{check}: export", variant.name, seen, "loads, finite outputs",
                            "ok" if ok else "FAILED"))
    return rows


def part_demos(args, gpu_count, work_dir, log) -> Tuple[List[Row], List[str]]:
    """Runs every demo variant (--jobs at a time) and checks them. Returns (rows, notes)."""
    runs_of, notes = variants(args.cpu_smoke, gpu_count)
    extra = {}
    for name in args.demos:
        flags = []
        if name == "pretraining":
            records = make_pretraining_records(work_dir, log)
            flags = [f"--input_file={records}", *PRETRAINING_FLAGS,
                     f"--num_train_steps={args.pretraining_steps}",
                     f"--num_warmup_steps={max(1, args.pretraining_steps // 10)}"]
            if args.cpu_smoke:
                flags.append("--max_eval_steps=2")
        elif args.cpu_smoke:
            flags = ["--num_train_epochs=0.5", "--do_predict=false"]
        extra[name] = flags
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name in args.demos:
            for variant in runs_of:
                label = variant.name.split(" (")[0].replace(" ", "-")   # GPU-fp16
                out = os.path.join(work_dir, f"{name}-{label}")
                jobs[(name, variant.name)] = (variant, out, pool.submit(
                    run_demo, DEMOS[name], variant, out, extra[name], log))
    rows = []
    eval_examples = (2 if args.cpu_smoke else 20) * 32   # max_eval_steps x eval_batch_size
    for name in args.demos:
        runs = [(v, out, future.result()) for (n, _), (v, out, future) in jobs.items()
                if n == name]
        rows += demo_rows(DEMOS[name], runs, dev_items(DEMOS[name], eval_examples))
    if args.cpu_smoke:
        notes.append("demos cut for the smoke run: " + "; ".join(
            f"{name} {' '.join(flags)}" for name, flags in extra.items()))
    elif "pretraining" in args.demos:
        notes.append(f"pretraining demo: phase 1 only, {args.pretraining_steps} steps "
                     "(make demo-pretrain: 2000, then phase 2)")
    return rows, notes


# ---- Part B: throughput ----

# (label, dims) pairs, the form train_throughput.encoder_dims takes.
BERT_BASE = ("BERT-Base", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072))
BERT_LARGE = ("BERT-Large", dict(hidden_size=1024, num_hidden_layers=24,
                                 num_attention_heads=16, intermediate_size=4096))
TINY = ("tiny (L2 H64)", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=256))


def throughput_plan(args):
    """[(size, max_seq_length, batch, [(side, precision, xla)])], and notes."""
    if args.cpu_smoke:
        return [(TINY, 128, args.batch_128, [("peer", "fp32", False),
                                            ("ours", "fp32", False)])], [
            f"throughput on the CPU smoke run: {TINY[0]} at 128 only, ours fp32 and the peer "
            "(bf16, fp16 and XLA rows and the BERT-Large row left out)"]
    rows = [("peer", "fp32", False), ("ours", "fp32", False), ("ours", "bf16", False),
            ("ours", "bf16", True), ("ours", "fp16", False)]
    batches = {128: args.batch_128, 384: args.batch_384}
    return ([(BERT_BASE, seq, batches[seq], rows) for seq in (128, 384)]
            + [(BERT_LARGE, 384, args.batch_large, [("ours", "bf16", True)])]), []


def measure_peaks(smoke, precisions, log):
    """{precision: (FLOP/s, where)}: train_throughput.matmul_peak at GPU sizes (CPU: small)."""
    from train_throughput import matmul_peak
    dtypes = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}
    sizes, flops = ((256, 512), 2e9) if smoke else ((8192,), 2e13)
    peaks = {}
    for precision in precisions:
        peaks[precision] = matmul_peak(dtypes[precision], sizes=sizes, repeats=3,
                                       flops_per_call=flops)
        log(f"  matmul peak {precision}: {peaks[precision][0] / 1e12:.2f} TFLOP/s "
            f"({peaks[precision][1]})")
    return peaks


def part_throughput(args, tmp, log) -> Tuple[List[Row], List[str]]:
    """Times every planned row, one model built at a time. Returns (rows, notes)."""
    import numpy as np
    import train_throughput as tt

    plan, notes = throughput_plan(args)
    precisions = sorted({p for _, _, _, rows in plan for _, p, _ in rows})
    log("matmul peaks")
    peaks = measure_peaks(args.cpu_smoke, precisions, log)
    rng = np.random.default_rng(1)
    table = []
    for size, seq, batch, specs in plan:
        dataset, lengths = tt.make_dataset("uniform", rng, max(2048, 16 * batch), seq)
        timed = []
        for side, precision, xla in specs:
            row = tt.Row(size, seq, "uniform", side, precision, xla, dynamic=side == "ours",
                         batch_size=batch)
            begin = time.perf_counter()
            if side == "ours":
                runner = tt.OursRunner(row, dataset, tmp, args.timed_steps + 1,
                                       float(lengths.mean()))
            else:
                runner = tt.PeerRunner(row, dataset, args.timed_steps + 1, float(lengths.mean()))
            runner.run(1, tt.Work())                 # the settle step (train_throughput)
            runner.run(args.timed_steps, row.work)
            runner.close()
            tt.free_models()
            log(f"  {size[0]} {seq} {side} {precision}{' XLA' if xla else ''}: "
                f"{tt.rate(row):.1f} examples/s ({time.perf_counter() - begin:.0f} s)")
            timed.append(row)
        peer = next((r for r in timed if r.side == "peer"), None)
        for row in timed:
            mfu = row.work.flops / row.work.seconds / peaks[row.precision][0]
            engine = "HF TFBert" if row.side == "peer" else "ours"
            name = (f"{size[0]} {seq} tokens, {engine} {row.precision}"
                    f"{' XLA' if row.xla else ''}, batch {batch}")
            result = f"{tt.rate(row):,.1f} examples/s, MFU {100 * mfu:.0f}%"
            if size is BERT_LARGE:
                ratio = tt.rate(row) / ANCHOR_SEQUENCES_PER_S
                table.append(Row("throughput", name, result,
                                 f"{ANCHOR_SEQUENCES_PER_S:.0f} seq/s (NVIDIA TF2, 1 A100, "
                                 "BERT-Large SQuAD, mixed precision)",
                                 f"{ratio:.2f}x the A100 figure: "
                                 + ("past it" if ratio > 1 else "NOT past it")))
            elif peer is None or row is peer:
                table.append(Row("throughput", name, result, "-", "1 (ref.)" if peer else "-"))
            else:
                table.append(Row("throughput", name, result,
                                 f"HF TFBert fp32: {tt.rate(peer):,.1f} examples/s",
                                 f"{tt.rate(row) / tt.rate(peer):.2f}x vs peer"))
    notes.append("matmul peaks (best of square matmul loops "
                 f"{'256, 512' if args.cpu_smoke else '8192'}, with and without XLA): "
                 + "; ".join(f"{p} {v[0] / 1e12:.2f} TFLOP/s ({v[1]})" for p, v in peaks.items()))
    notes.append(f"throughput: full-length batches of random ids, {args.timed_steps} timed "
                 "steps after train_throughput.py's warm-up; MFU = 3 x forward FLOPs "
                 "(train_throughput.forward_flops) / time / the row's precision's peak")
    return table, notes


# ---- main ----

def print_table(rows: List[Row], header_lines, notes):
    for line in header_lines:
        print(line)
    print()
    print("| check | variant | result | reference | verdict |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.check} | {r.variant} | {r.result} | {r.reference} | {r.verdict} |")
    print()
    for note in notes:
        print(f"- {note}")


def gpu_name(gpus):
    if not gpus:
        return "none (CPU smoke run)"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", gpus[0].name)
    capability = details.get("compute_capability")
    shown = f"{name} (compute capability {'.'.join(map(str, capability))})" if capability \
        else name
    return f"{len(gpus)} x {shown}" if len(gpus) > 1 else shown


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="demos,throughput",
                        help="comma-separated, of demos, throughput")
    parser.add_argument("--cpu_smoke", action="store_true",
                        help="run on the CPU at tiny sizes (no GPU needed)")
    parser.add_argument("--demos", default=None,
                        help=f"comma-separated, of {', '.join(DEMOS)} (default: all; "
                             "--cpu_smoke: classifier)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="demo runs at once (default 4; --cpu_smoke: 1)")
    parser.add_argument("--pretraining_steps", type=int, default=None,
                        help="steps of the pretraining demo (default 500; --cpu_smoke: 20)")
    parser.add_argument("--batch_128", type=int, default=None,
                        help="BERT-Base batch at 128 tokens (default 64; --cpu_smoke: 8)")
    parser.add_argument("--batch_384", type=int, default=32,
                        help="BERT-Base batch at 384 tokens")
    parser.add_argument("--batch_large", type=int, default=32,
                        help="BERT-Large batch at 384 tokens")
    parser.add_argument("--timed_steps", type=int, default=None,
                        help="timed steps per throughput row (default 30; --cpu_smoke: 4)")
    parser.add_argument("--work_dir", default=None,
                        help="keep the demo runs here (default: a temporary directory)")
    args = parser.parse_args()
    if args.cpu_smoke:
        # On the CPU even where a GPU is: the demo runs inherit the variable.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        tf.config.set_visible_devices([], "GPU")
    gpus = tf.config.list_physical_devices("GPU") if not args.cpu_smoke else []
    if not gpus and not args.cpu_smoke:
        print(NO_GPU_LINE)
        return 0
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)   # the demo subprocesses share it

    smoke = args.cpu_smoke
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.demos = [d.strip() for d in (args.demos or ("classifier" if smoke else ",".join(DEMOS)))
                  .split(",") if d.strip()]
    if any(p not in ("demos", "throughput") for p in parts) or \
            any(d not in DEMOS for d in args.demos):
        parser.error(f"--parts of demos, throughput; --demos of {', '.join(DEMOS)}")
    defaults = dict(jobs=(1, 4), pretraining_steps=(20, 500), batch_128=(8, 64),
                    timed_steps=(4, 30))
    for key, (if_smoke, otherwise) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, if_smoke if smoke else otherwise)

    sys.path.insert(0, ROOT)
    from absl import logging
    from machine import machine_info
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")

    def log(message):
        print(message, file=sys.stderr, flush=True)

    begin = time.perf_counter()
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bert_tf_gpu_check_") as tmp:
        work_dir = args.work_dir or tmp
        os.makedirs(work_dir, exist_ok=True)
        if "demos" in parts:
            log("demos")
            demo_table, demo_notes = part_demos(args, len(gpus), work_dir, log)
            rows += demo_table
            notes += demo_notes
        if "throughput" in parts:
            import transformers
            transformers.logging.set_verbosity_error()
            log("throughput")
            throughput_table, throughput_notes = part_throughput(args, tmp, log)
            rows += throughput_table
            notes += throughput_notes
    failed = [r for r in rows if r.check != "throughput" and not r.verdict.startswith("ok")]
    header = [f"GPU check{' (CPU smoke run: not GPU figures)' if smoke else ''}, "
              f"{datetime.date.today().isoformat()}",
              f"GPU: {gpu_name(gpus)}",
              f"Machine: {machine_info()}"]
    notes.append(f"total {time.perf_counter() - begin:.0f} s; demo checks: "
                 + (f"{len(failed)} FAILED" if failed else "all ok"))
    print_table(rows, header, notes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
