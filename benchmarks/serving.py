"""Serving speed of our exported SavedModel against Hugging Face's TFBertForSequenceClassification.

Both models are exported as SavedModels, loaded back with `tf.saved_model.load` in this one
process and called through their `serving_default` signatures, alternately (ours first on
even calls, the peer first on odd ones), so a busy spell on the machine hits both:

  * ours: `Engine.export` of a `ClassificationTask` (2 labels): `serving_default(input_ids,
    input_mask, segment_ids)` -> {"probabilities": float32 [B, 2]}.
  * peer: `transformers.TFBertForSequenceClassification` with the same dims and
    `hidden_act="gelu_new"` (the original's tanh GELU), wrapped the same way as ours: a
    `tf.Module` whose `tf.function` takes int32 [None, None] `input_ids`, `attention_mask`,
    `token_type_ids` and returns {"probabilities": softmax(logits)}, saved with
    `tf.saved_model.save`.

Weights: every encoder weight of ours is redrawn N(0, 0.1^2) (LayerNorm gamma 1 + that; see
WEIGHT_STDDEV for why not the 0.02 initialization), and all are copied into the peer (our
checkpoint names -> the PyTorch layout with `bert_tf.hf_weights.original_to_hf`, then
transformers' own `load_pytorch_state_dict_in_tf2_model`, as tests/reference/hf_layout.py
does). Before timing,
the script checks that both SavedModels give the same probabilities (within 1e-4) on a batch
padded to its longest example and padded to 128, and that ours gives the same for both
paddings; it stops if not.

Rows (per model size; the ratio column is ours / peer, so above 1 is better for ours in
examples/s and worse for ours in milliseconds):
  * throughput, batch --batch_size, "dynamic": GLUE-like pairs in arrival order (not grouped
    by length), each batch padded to its longest example, as a client that pads per request
    batch sends them. Lengths, [CLS]/[SEP] included, drawn lognormal with median 36 and
    sigma 0.4 (p95 about 70, p99 about 90; clipped to 8-128), like the MNLI-sized pairs of
    feature_creation.py. Each batch is a new sequence length for both models.
  * throughput, batch --batch_size, "fixed": the same examples, every batch padded to 128.
  * latency, batch 1: one 32-token and one 128-token input, --latency_calls calls each; median
    and p90 in milliseconds.
Every call is timed from NumPy inputs to NumPy probabilities. Throughput is examples / total
seconds over --passes passes through the batches, after one untimed warm-up call per model.

    .venv/bin/python benchmarks/serving.py              # BERT-Base and BERT-Small, ~8 min
    .venv/bin/python benchmarks/serving.py --quick      # BERT-Small only, fewer calls, ~1 min
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import transformers  # noqa: E402
from absl import logging  # noqa: E402
from machine import machine_info  # noqa: E402
from transformers.modeling_tf_pytorch_utils import (  # noqa: E402
    load_pytorch_state_dict_in_tf2_model)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.tasks.classification import ClassificationTask  # noqa: E402
from bert_tf.training import Engine, create_strategy  # noqa: E402
from bert_tf.weights import checkpoints, hf_weights  # noqa: E402

# name -> (label, dims, throughput batches per --num_batches: BERT-Small is 5-6x cheaper,
# so it gets more batches for the same steadiness in a fraction of the time).
SIZES = {
    "base": ("BERT-Base", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072), 1),
    "small": ("BERT-Small", dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                                 intermediate_size=2048), 2),
}
VOCAB_SIZE = 30522
NUM_LABELS = 2
MAX_SEQ_LENGTH = 128
CLS_ID, SEP_ID = 101, 102
# GLUE-like pair lengths, [CLS]/[SEP] included (see the module docstring).
LENGTH_MEDIAN, LENGTH_SIGMA, MIN_LENGTH = 36, 0.4, 8
# Encoder weights for the check and the timing: N(0, WEIGHT_STDDEV^2) (LayerNorm gamma 1 +
# that); the head keeps its initialization. With the usual initializer_range 0.02 a random
# BERT gives nearly the same probabilities for every input (P(label 1) 0.509-0.511 on
# BERT-Small), so a check on them would prove little. Speed does not depend on the values.
WEIGHT_STDDEV = 0.1
CHECK_ATOL = 1e-4


def bert_config(size):
    return BertConfig(vocab_size=VOCAB_SIZE, hidden_act="gelu", hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1, max_position_embeddings=512,
                      type_vocab_size=2, initializer_range=0.02, **SIZES[size][1])


# ---- data ----

def make_example(rng, length, vocab_size):
    """A sentence pair of `length` pieces: [CLS] a [SEP] b [SEP]; (ids, segment ids)."""
    len_a = max(1, round((length - 3) * 0.6))
    len_b = length - 3 - len_a
    ids = np.concatenate([[CLS_ID], rng.integers(1000, vocab_size, len_a), [SEP_ID],
                          rng.integers(1000, vocab_size, len_b), [SEP_ID]])
    segments = np.concatenate([np.zeros(len_a + 2), np.ones(len_b + 1)])
    return ids.astype(np.int32), segments.astype(np.int32)


def glue_like_examples(rng, count, vocab_size):
    lengths = np.clip(np.round(LENGTH_MEDIAN * rng.lognormal(0.0, LENGTH_SIGMA, count)),
                      MIN_LENGTH, MAX_SEQ_LENGTH).astype(int)
    return [make_example(rng, int(n), vocab_size) for n in lengths]


def pad_batch(examples, width=None):
    """[(ids, segments)] -> (input_ids, input_mask, segment_ids), int32 [B, width]; width
    defaults to the longest example."""
    width = width or max(len(ids) for ids, _ in examples)
    input_ids = np.zeros([len(examples), width], np.int32)
    segment_ids = np.zeros_like(input_ids)
    input_mask = np.zeros_like(input_ids)
    for row, (ids, segments) in enumerate(examples):
        input_ids[row, :len(ids)] = ids
        segment_ids[row, :len(ids)] = segments
        input_mask[row, :len(ids)] = 1
    return input_ids, input_mask, segment_ids


# ---- models ----

class PeerServingModule(tf.Module):
    """The peer's serving wrapper: the same contract as our export's, in HF's input names."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name=name)
                                  for name in ("input_ids", "attention_mask", "token_type_ids")])
    def serve(self, input_ids, attention_mask, token_type_ids):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            token_type_ids=token_type_ids, training=False).logits
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}


def export_both(config, tmp, seed):
    """Exports ours (weights drawn from `seed`, see WEIGHT_STDDEV) and the peer with the same
    weights.

    Returns:
        (our export dir, peer export dir, seconds to export ours, seconds for the peer).
    """
    begin = time.perf_counter()
    task = ClassificationTask(config, num_labels=NUM_LABELS)
    engine = Engine(task, create_strategy("one_device"), output_dir=os.path.join(tmp, "run"),
                    seed=seed)
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, variable in sorted(checkpoints.checkpoint_names(engine.model).items()):
        if name.startswith("bert/"):  # the head keeps its initialization (std 0.02, bias 0)
            value = WEIGHT_STDDEV * rng.standard_normal(variable.shape).astype(np.float32)
            variable.assign(value + 1.0 if name.endswith("/gamma") else value)
        arrays[name] = variable.numpy()
    ours_dir = engine.export(os.path.join(tmp, "ours"))
    ours_seconds = time.perf_counter() - begin

    begin = time.perf_counter()
    mapped, architecture = hf_weights.original_to_hf(arrays)
    hf_config = hf_weights.bert_config_to_hf_config(config, architecture)
    assert architecture == "BertForSequenceClassification" and \
        hf_config["hidden_act"] == "gelu_new", (architecture, hf_config["hidden_act"])
    hf_config["num_labels"] = NUM_LABELS
    model = transformers.TFBertForSequenceClassification(transformers.BertConfig(**hf_config))
    model.build_in_name_scope()
    load_pytorch_state_dict_in_tf2_model(model, mapped.arrays, allow_missing_keys=False)
    module = PeerServingModule(model)
    peer_dir = os.path.join(tmp, "peer")
    tf.saved_model.save(module, peer_dir, signatures={"serving_default": module.serve})
    peer_seconds = time.perf_counter() - begin
    del engine, model, module, arrays, mapped
    gc.collect()
    return ours_dir, peer_dir, ours_seconds, peer_seconds


def load_both(ours_dir, peer_dir):
    """Both SavedModels as callables (input_ids, input_mask, segment_ids) -> NumPy [B, 2]."""
    ours = tf.saved_model.load(ours_dir)
    peer = tf.saved_model.load(peer_dir)
    ours_fn, peer_fn = ours.signatures["serving_default"], peer.signatures["serving_default"]

    def call_ours(input_ids, input_mask, segment_ids):
        return ours_fn(input_ids=tf.constant(input_ids), input_mask=tf.constant(input_mask),
                       segment_ids=tf.constant(segment_ids))["probabilities"].numpy()

    def call_peer(input_ids, input_mask, segment_ids):
        return peer_fn(input_ids=tf.constant(input_ids), attention_mask=tf.constant(input_mask),
                       token_type_ids=tf.constant(segment_ids))["probabilities"].numpy()

    # The loaded objects own the variables: keep them alive with the callables.
    call_ours.loaded, call_peer.loaded = ours, peer
    return {"ours": call_ours, "peer": call_peer}


def check_same(fns, examples):
    """Both models' probabilities on the examples, padded to their longest and to 128.

    Returns:
        (max |ours - peer|, max |ours padded to longest - ours padded to 128|, min and max
        probability of label 1 seen).
    """
    dynamic, fixed = pad_batch(examples), pad_batch(examples, MAX_SEQ_LENGTH)
    ours_d, peer_d = fns["ours"](*dynamic), fns["peer"](*dynamic)
    ours_f, peer_f = fns["ours"](*fixed), fns["peer"](*fixed)
    between = max(np.abs(ours_d - peer_d).max(), np.abs(ours_f - peer_f).max())
    padding = np.abs(ours_d - ours_f).max()
    if between > CHECK_ATOL or padding > CHECK_ATOL:
        raise SystemExit(f"the SavedModels disagree: max |ours - peer| {between:.2e}, ours "
                         f"padded to longest vs to {MAX_SEQ_LENGTH} {padding:.2e} (tolerance "
                         f"{CHECK_ATOL}); the timings would compare different computations")
    return between, padding, float(ours_d[:, 1].min()), float(ours_d[:, 1].max())


# ---- timing ----

def time_alternating(fns, batches, passes):
    """Seconds per model over `passes` passes through `batches`, calls alternating.

    Returns:
        {name: [seconds of every call]} in call order.
    """
    names = list(fns)
    seconds = {name: [] for name in names}
    call = 0
    for _ in range(passes):
        for batch in batches:
            for name in (names if call % 2 == 0 else names[::-1]):
                begin = time.perf_counter()
                fns[name](*batch)
                seconds[name].append(time.perf_counter() - begin)
            call += 1
    return seconds


def percentile(values, p):
    return float(np.percentile(values, p, method="linear"))


def benchmark_size(size, args, rng, rows, notes):
    label, _, batches_factor = SIZES[size]
    num_batches = args.num_batches * batches_factor
    config = bert_config(size)
    with tempfile.TemporaryDirectory() as tmp:
        ours_dir, peer_dir, ours_export, peer_export = export_both(config, tmp, args.seed)
        begin = time.perf_counter()
        fns = load_both(ours_dir, peer_dir)
        load_seconds = time.perf_counter() - begin
        between, padding, low, high = check_same(fns, glue_like_examples(rng, 16, VOCAB_SIZE))
        notes.append(f"{label}: export {ours_export:.0f} s (ours) / {peer_export:.0f} s (peer), "
                     f"both loaded in {load_seconds:.0f} s; same weights: max |ours - peer| "
                     f"probability {between:.1e}, ours padded to longest vs to "
                     f"{MAX_SEQ_LENGTH}: {padding:.1e} (P(label 1) {low:.3f}-{high:.3f})")

        examples = glue_like_examples(rng, num_batches * args.batch_size, VOCAB_SIZE)
        groups = [examples[i:i + args.batch_size]
                  for i in range(0, len(examples), args.batch_size)]
        for mode in ("dynamic", "fixed"):
            batches = [pad_batch(group, None if mode == "dynamic" else MAX_SEQ_LENGTH)
                       for group in groups]
            time_alternating(fns, batches[:1], 1)  # warm-up
            seconds = time_alternating(fns, batches, args.passes)
            mean_width = statistics.mean(b[0].shape[1] for b in batches)
            real = statistics.mean(len(ids) for ids, _ in examples)
            description = (f"batch {args.batch_size}, dynamic (padded to longest: mean "
                           f"{mean_width:.0f} tokens, {real:.0f} real)" if mode == "dynamic"
                           else f"batch {args.batch_size}, fixed {MAX_SEQ_LENGTH}")
            rate = {name: len(examples) * args.passes / sum(s) for name, s in seconds.items()}
            rows.append((label, description, "examples/s", rate["ours"], rate["peer"]))

        for length in args.latency_lengths:
            batch = pad_batch([make_example(rng, length, VOCAB_SIZE)])
            time_alternating(fns, [batch], 2)  # warm-up
            seconds = time_alternating(fns, [batch], args.latency_calls)
            for p, name in ((50, "median"), (90, "p90")):
                rows.append((label, f"batch 1, {length} tokens", f"{name} ms",
                             1000 * percentile(seconds["ours"], p),
                             1000 * percentile(seconds["peer"], p)))
        del fns
        gc.collect()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="base,small",
                        help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_batches", type=int, default=4,
                        help="batches of GLUE-like examples per pass (BERT-Small: 2x more)")
    parser.add_argument("--passes", type=int, default=2, help="passes through the batches")
    parser.add_argument("--latency_calls", type=int, default=100,
                        help="batch-1 calls per model and length")
    parser.add_argument("--latency_lengths", default="32,128",
                        help="comma-separated token counts of the batch-1 inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="BERT-Small only, 2 batches x 1 pass, 20 latency calls")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.num_batches, args.passes, args.latency_calls = "small", 2, 1, 20
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; expected {', '.join(SIZES)}")
    args.latency_lengths = [int(n) for n in args.latency_lengths.split(",")]
    if any(not 4 <= n <= MAX_SEQ_LENGTH for n in args.latency_lengths):
        parser.error(f"--latency_lengths must be between 4 and {MAX_SEQ_LENGTH}")
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("WARNING")
    transformers.logging.set_verbosity_error()

    rng = np.random.default_rng(args.seed)
    rows, notes = [], []
    begin = time.perf_counter()
    for size in sizes:
        benchmark_size(size, args, rng, rows, notes)

    print(f"Serving: our SavedModel (Engine.export) vs transformers."
          f"TFBertForSequenceClassification (gelu_new) SavedModel, both loaded with "
          f"tf.saved_model.load, {NUM_LABELS} labels, float32, called alternately through "
          f"serving_default.")
    print(f"Machine: {machine_info()}.")
    print(f"Throughput: {args.num_batches} batches (BERT-Small {2 * args.num_batches}) x "
          f"{args.passes} pass(es)"
          f"; latency: {args.latency_calls} calls per model and length. Ratio = ours / "
          f"peer (examples/s: > 1 is ours faster; ms: < 1 is ours faster).")
    for note in notes:
        print(f"  {note}")
    print()
    print("| model | input | metric | ours | HF TFBert | ours/HF |")
    print("|---|---|---|---:|---:|---:|")
    for label, description, metric, ours, peer in rows:
        digits = 1 if metric == "examples/s" and ours < 100 else 0 if "examples" in metric else 1
        print(f"| {label} | {description} | {metric} | {ours:,.{digits}f} | {peer:,.{digits}f} "
              f"| {ours / peer:.2f} |")
    print()
    print(f"Total {time.perf_counter() - begin:.0f} s.")


if __name__ == "__main__":
    main()
