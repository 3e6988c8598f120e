"""Fine-tuning throughput and MFU: our engine vs Hugging Face's TFBertForSequenceClassification.

Both sides train a 2-label sentence-pair classifier (encoder + pooler + classifier, dropout
0.1) with the same optimizer, `bert_tf.optimization.create_optimizer(5e-5, 1000, 100)`
(AdamWeightDecay, weight decay 0.01, gradients clipped to global norm 1.0), in one process:

  * ours: exactly as the runners use the engine: `set_mixed_precision` ("" or "bf16") before
    building, `Engine(ClassificationTask(...), create_strategy("one_device"), seed=1,
    dynamic_padding=..., jit_compile=...)`, `engine.prepare_training(dataset, config)` (the
    engine shuffles, repeats and batches; with dynamic padding it groups examples by length
    and cuts each batch to its longest example, rounded up to 8, or 16 with XLA), then
    `train_loop(iterator, tf.constant(n))`, which runs n optimizer steps per call.
  * peer: `transformers.TFBertForSequenceClassification` with the same dims and
    `hidden_act="gelu_new"` (the tanh GELU, which is the original BERT's "gelu"), trained
    the way a user would: `model.compile(optimizer=create_optimizer(...))` with no loss (the
    model computes its own loss from `labels`), then `model.train_on_batch(batch)` on each
    batch of a tf.data pipeline (input_ids, attention_mask, token_type_ids, labels). Its
    defaults: float32, no XLA, every batch padded to max_seq_length S (what
    `padding="max_length"` and the original BERT do). Its "dynamic" rows train on the very
    batches of our no-XLA dynamic rows (same pipeline, same seed): equal work.

Data (random word-piece ids; random labels, which do not change the speed):
  * uniform: every example S long (full-length batches; dynamic padding cuts nothing).
  * realistic at S=128, GLUE-like pairs: lognormal lengths with median 40 word pieces and
    sigma 0.5 ([CLS]/[SEP] included; p95 ~90, ~1% clipped at 128, minimum 8), like
    MNLI/QQP pairs after WordPiece: most pairs are short, a long tail reaches S.
  * realistic at S=384, SQuAD-like question + context windows: median 180, sigma 0.4
    (p95 ~340, ~3% clipped at 384, the long contexts that fill whole windows; minimum 32).
  The head is the classifier at both lengths: the encoder is where the time goes.

Rows, per model size (BERT-Small: 4 layers, hidden 512, 8 heads, intermediate 2048;
BERT-Base: 12, 768, 12, 3072; vocab 30522) and S (a "block"): the peer at its defaults on
both data kinds and with dynamic padding on the realistic data; ours in fp32 and bf16 with
and without XLA on both data kinds (dynamic padding, our default), and with fixed padding on
the realistic data. To keep the default run near 25 minutes on 2 cores some blocks drop
rows (bf16 XLA at 384; XLA for BERT-Base; the peer on our batches for BERT-Base at 384, for
memory); the printed header says which XLA rows run.

Timing. The rows of a block are built and warmed up one after another, each does one more
untimed step (the first step after the others were built runs ~3x slow), then they are
timed in alternating chunks (all rows, then all rows in reverse order, ...), so a busy spell
on the machine hits all of them; the block's models are then freed (del, gc,
clear_session).
Examples/s = timed examples / timed seconds; real tokens/s counts non-padding tokens only
(the useful work); the mean padded length is what the hardware computed.

Which batches are timed. Our dynamic padding sorts windows of 32 batches by length and
shuffles the batches through a 32-batch buffer, so the first ~100 batches of a run are
~10% shorter than the data and any 32 later ones vary by ~7%. So, identically on both
sides: 64 batches are drawn without training (next() on the iterator, data work only), the
model is warmed up (2 steps; the first traces), and the timed span is the first run of
coming batches whose mean real length is within 2% of the data's, chosen from the lengths
alone before any timing; the batches before it are drawn without training, except those of
a padded length the span needs and no step has had yet (XLA compiles each new length once;
Keras retraces the peer's train_function for a second shape), which are trained on as
warm-up. The "warm-up s (steps)" column is that time: tracing, XLA compilation and
warm-up steps. What our rows computed is counted on the engine's pipeline built again with
the same seed; the engine's own next batch is compared with it before and after timing
(rows marked * if they differ).

MFU (model FLOPs utilisation):
    forward FLOPs per sequence of length L = 2 * W * L + 4 * layers * L^2 * hidden
                                             + 2 * (hidden^2 + hidden * labels)
    W = layers * (4 * hidden^2 + 2 * hidden * intermediate), the non-embedding matmul weights
    (Q, K, V, attention output, FFN in and out); 4 * layers * L^2 * hidden is the attention
    scores and context (2 * 2 * layers * L^2 * hidden); the last term is pooler + classifier.
    training FLOPs per example = 3 x forward (the backward pass is twice the forward).
    MFU = sum over timed batches of batch * training FLOPs(L) / seconds / peak,
with L the padded length each batch computed (S for fixed padding): hardware utilisation,
padding included. The peak is measured here: the best FLOP/s of a tf.function'd loop of
square tf.matmul (512 to 4096, with and without XLA) in float32, and in bfloat16 for the
bf16 rows.

Targets (from the issue; the script prints each value and says "met" or "MISSED"):
realistic lengths, ours at defaults (fp32, dynamic padding, no XLA) vs the peer at its
defaults >= 2.5x examples/s; uniform full-length fp32 >= 1.0x; ours bf16 vs fp32 >= 1.5x;
bf16 loss curve within noise of fp32: BERT-Small at 128, 30 steps (lr 1e-4) on realistic
lengths whose label is which of two marker pieces opens segment A, from the same initial
weights and batches in fp32, bf16, and fp32 with other dropout masks; "within noise" = the
mean |bf16 - fp32| loss over the last third of the steps is at most twice the mean
|fp32 other dropout - fp32|; MFU of our fp32 training on full-length BERT-Small batches
>= 70% of the fp32 peak.

    .venv/bin/python benchmarks/train_throughput.py                  # everything, ~25 min
    .venv/bin/python benchmarks/train_throughput.py --models small --seq 128
    .venv/bin/python benchmarks/train_throughput.py --quick          # BERT-Small 128, ~2 min

The table goes to stdout, progress to stderr.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
import transformers  # noqa: E402
from absl import logging  # noqa: E402
from machine import machine_info  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.data.dynamic_padding import length_grouped_batches  # noqa: E402
from bert_tf.optimization import create_optimizer  # noqa: E402
from bert_tf.tasks.classification import ClassificationTask  # noqa: E402
from bert_tf.training import (Engine, TrainingConfig, create_strategy,  # noqa: E402
                              set_mixed_precision)

SIZES = {
    "small": ("BERT-Small", dict(hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                                 intermediate_size=2048)),
    "base": ("BERT-Base", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072)),
}
VOCAB_SIZE = 30522
NUM_LABELS = 2
CLS_ID, SEP_ID = 101, 102
# Optimizer schedule of every row (the lr value does not change the speed).
LEARNING_RATE, NUM_TRAIN_STEPS, NUM_WARMUP_STEPS = 5e-5, 1000, 100
# Cut lengths of dynamic padding without XLA: the engine's default (16 with XLA).
PAD_MULTIPLE = 8
PEAK_SIZES = (512, 1024, 2048)
# Choosing the timed span (see Runner.prepare): batches skipped to reach steady state,
# warm-up steps, how far ahead and how often to look for a span of representative length.
STEADY_SKIP, MIN_WARMUP_STEPS, SPAN_LOOKAHEAD, SPAN_SEARCHES = 64, 2, 192, 4
LENGTH_TOLERANCE = 0.02


@dataclasses.dataclass(frozen=True)
class LengthDistribution:
    """Real lengths in word pieces, [CLS]/[SEP] included: lognormal, clipped."""

    name: str
    median: float
    sigma: float
    min_length: int
    first_share: float  # share of the pieces (after [CLS] a [SEP]) in segment A

    def sample(self, rng, count, max_seq_length):
        lengths = np.round(self.median * rng.lognormal(0.0, self.sigma, count))
        return np.clip(lengths, self.min_length, max_seq_length).astype(np.int32)


# GLUE-like sentence pairs for max_seq_length 128 (MNLI/QQP-sized: median 40, p95 ~90,
# ~1% cut at 128) and SQuAD-like question + context windows for 384 (median 180, p95 ~340,
# the ~3% longer contexts fill whole 384 windows).
DISTRIBUTIONS = {
    128: LengthDistribution("GLUE-like", median=40, sigma=0.5, min_length=8, first_share=0.55),
    384: LengthDistribution("SQuAD-like", median=180, sigma=0.4, min_length=32,
                            first_share=0.1),
}


def encoder_dims(size):
    """The encoder dims of `size`: a key of SIZES, or a (label, dims) pair of the same form
    (gpu_check.py's BERT-Large and its smoke run's tiny encoder)."""
    return SIZES[size][1] if isinstance(size, str) else size[1]


def bert_config(size):
    return BertConfig(vocab_size=VOCAB_SIZE, hidden_act="gelu", hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1, max_position_embeddings=512,
                      type_vocab_size=2, initializer_range=0.02, **encoder_dims(size))


def hf_config(size):
    """The peer's config: the same dims; "gelu_new" is the original BERT's tanh GELU."""
    dims = encoder_dims(size)
    return transformers.BertConfig(
        vocab_size=VOCAB_SIZE, hidden_act="gelu_new", hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
        initializer_range=0.02, num_labels=NUM_LABELS, **dims)


# ---- FLOPs and peak ----

def forward_flops(size, length):
    """Model FLOPs of one forward pass over one sequence of `length` positions.

    2 * (non-embedding matmul weights) * length + attention scores and context
    (2 * 2 * layers * length^2 * hidden) + pooler and classifier.
    """
    dims = encoder_dims(size)
    d, i, layers = dims["hidden_size"], dims["intermediate_size"], dims["num_hidden_layers"]
    matmul_weights = layers * (4 * d * d + 2 * d * i)   # Q, K, V, attention output; FFN in/out
    attention = 2 * 2 * layers * length * length * d
    head = 2 * (d * d + d * NUM_LABELS)                 # pooler + classifier, once per sequence
    return 2 * matmul_weights * length + attention + head


def train_flops(size, length):
    """Forward + backward (twice the forward): 3x the forward FLOPs."""
    return 3 * forward_flops(size, length)


def matmul_peak(dtype, sizes=PEAK_SIZES, repeats=2, flops_per_call=2e10):
    """Best FLOP/s of a tf.function'd loop of square matmuls (with and without XLA).

    `flops_per_call` sets the loop's length: ~0.05 s of work per call on the CPU by default;
    a GPU needs ~1000x more for the launch overhead to vanish.

    Returns:
        (FLOP/s, description of the best case).
    """
    best, where = 0.0, ""
    for n in sizes:
        iterations = max(1, round(flops_per_call / (2 * n ** 3)))
        x = tf.cast(tf.random.normal([n, n], seed=1), dtype)
        # Scaled so repeated products stay O(1).
        w = tf.cast(tf.random.normal([n, n], seed=2) / np.sqrt(n), dtype)
        for jit in (False, True):
            @tf.function(jit_compile=jit)
            def loop(x, w):
                for _ in tf.range(iterations):
                    x = tf.matmul(x, w)                # [n, n] @ [n, n]
                return x
            loop(x, w).numpy()  # trace / compile
            for _ in range(repeats):
                begin = time.perf_counter()
                loop(x, w).numpy()
                rate = 2 * n ** 3 * iterations / (time.perf_counter() - begin)
                if rate > best:
                    best, where = rate, f"{n}x{n}{', XLA' if jit else ''}"
    return best, where


# ---- data ----

def make_features(rng, lengths, max_seq_length, first_share, labels):
    """Pairs [CLS] a [SEP] b [SEP] of random ids, padded to max_seq_length: int32 arrays."""
    count = len(lengths)
    positions = np.arange(max_seq_length)[None, :]                       # [1, S]
    input_mask = (positions < lengths[:, None]).astype(np.int32)         # [N, S]
    len_a = np.maximum(1, np.round((lengths - 3) * first_share)).astype(np.int32)
    input_ids = rng.integers(1000, VOCAB_SIZE, size=(count, max_seq_length), dtype=np.int32)
    input_ids[:, 0] = CLS_ID
    input_ids[np.arange(count), len_a + 1] = SEP_ID
    input_ids[np.arange(count), lengths - 1] = SEP_ID
    input_ids *= input_mask
    segment_ids = ((positions > len_a[:, None] + 1) & (input_mask == 1)).astype(np.int32)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "label_ids": labels.astype(np.int32)}


def make_dataset(kind, rng, count, max_seq_length):
    """Unbatched feature dicts: `kind` "uniform" (every example max_seq_length long) or
    "realistic" (lengths from DISTRIBUTIONS[max_seq_length]); random labels.

    Returns:
        (tf.data.Dataset, lengths int32 [count]).
    """
    dist = DISTRIBUTIONS[max_seq_length]
    lengths = (np.full(count, max_seq_length, np.int32) if kind == "uniform"
               else dist.sample(rng, count, max_seq_length))
    features = make_features(rng, lengths, max_seq_length, dist.first_share,
                             rng.integers(0, NUM_LABELS, count))
    return tf.data.Dataset.from_tensor_slices(features), lengths


def batch_pipeline(dataset, config: TrainingConfig, dynamic, multiple):
    """The engine's training batches (see Engine.prepare_training), built the same way.

    A seeded shuffle of the repeated examples, then length-grouped batches cut to their
    longest example (dynamic) or plain batches of max_seq_length (fixed). Used for the
    peer's batches and to know which batches our engine trains on.
    """
    examples = (dataset.shuffle(config.shuffle_buffer_size, seed=config.seed,
                                reshuffle_each_iteration=True)
                .repeat())
    if dynamic:
        return length_grouped_batches(examples, config.train_batch_size, multiple,
                                      shuffle_seed=config.seed)
    return examples.batch(config.train_batch_size, drop_remainder=True)


def training_config(batch_size, **kwargs):
    return TrainingConfig(train_batch_size=batch_size, num_train_steps=NUM_TRAIN_STEPS,
                          num_warmup_steps=NUM_WARMUP_STEPS, learning_rate=LEARNING_RATE,
                          **kwargs)


@dataclasses.dataclass
class Work:
    """What a run of steps computed."""

    seconds: float = 0.0
    steps: int = 0
    examples: int = 0
    real_tokens: int = 0
    computed_tokens: int = 0   # batch x padded length, summed over batches
    flops: float = 0.0

    def add_batch(self, size, summary):
        batch, width, real = summary
        self.steps += 1
        self.examples += batch
        self.real_tokens += real
        self.computed_tokens += batch * width
        self.flops += batch * train_flops(size, width)


def fingerprint(input_ids):
    ids = np.asarray(input_ids)
    return ids.shape, hashlib.sha1(ids.tobytes()).hexdigest()


def summarize(input_mask):
    """(examples, padded length, real tokens) of a batch's input_mask [B, L]."""
    mask = np.asarray(input_mask)
    return mask.shape[0], mask.shape[1], int(mask.sum())


# ---- the two sides ----

@dataclasses.dataclass
class Row:
    """One timed configuration of one side."""

    size: str               # a key of SIZES (or a (label, dims) pair: see encoder_dims)
    max_seq_length: int
    data: str               # "uniform" / "realistic"
    side: str               # "ours" / "peer"
    precision: str          # "fp32" / "bf16" (gpu_check.py: also "fp16")
    xla: bool
    dynamic: bool
    batch_size: int
    pad_multiple: Optional[int] = None   # ours: None = the engine's default
    warmup_seconds: float = 0.0
    warmup_steps: int = 0
    warmup_complete: bool = True         # False: see Runner.prepare
    same_batches: Optional[bool] = None  # ours: the engine's batches are the counted ones
    work: Work = dataclasses.field(default_factory=Work)


class Runner:
    """Trains one row's model; keeps a queue of the batches it will train on next."""

    def __init__(self, row: Row):
        self.row = row
        self.queue = collections.deque()   # (summary, payload) of the next batches

    def pull(self):
        """The next batch from the source: (summary, payload)."""
        raise NotImplementedError

    def peek(self, count):
        while len(self.queue) < count:
            self.queue.append(self.pull())
        return [summary for summary, _ in list(self.queue)[:count]]

    def take(self):
        return self.queue.popleft() if self.queue else self.pull()

    def skip(self):
        """Draws the next batch without training on it."""
        self.take()

    def prepare(self, timed_steps, mean_length, every_length):
        """Warms up and positions the stream so the next `timed_steps` batches are the timed
        span (see the module docstring, "Which batches are timed").

        1. Skip STEADY_SKIP batches without training (past the start of the stream, whose
           batches run short).
        2. Train MIN_WARMUP_STEPS steps (the first traces the step function).
        3. Find the first span of `timed_steps` coming batches whose mean real length is
           within LENGTH_TOLERANCE of `mean_length` (the data's) and draw the batches before
           it, training on those of a padded length the span needs and no step has had:
           every length with `every_length` (XLA compiles each new length once), else
           only while fewer than two lengths were seen (Keras traces the peer's
           train_function again for a second shape, then with the length unknown).
        Rows fed the same batches make the same choices, so they time the same span.
        """
        begin = time.perf_counter()
        for _ in range(STEADY_SKIP):
            self.skip()
        seen, steps = set(), 0

        def advance(count, wanted):
            """Draws `count` batches, training on those whose padded length `wanted` accepts."""
            nonlocal steps
            for _ in range(count):
                width = self.peek(1)[0][1]
                if wanted(width):
                    needed.discard(width)
                    seen.add(width)
                    self.run(1, Work())
                    steps += 1
                else:
                    self.skip()

        for _ in range(MIN_WARMUP_STEPS):
            seen.add(self.peek(1)[0][1])
            self.run(1, Work())
            steps += 1
        for _ in range(SPAN_SEARCHES):
            coming = self.peek(SPAN_LOOKAHEAD + timed_steps)
            real = np.array([r / b for b, _, r in coming], np.float64)
            means = np.convolve(real, np.ones(timed_steps) / timed_steps, "valid")
            close = np.flatnonzero(np.abs(means - mean_length) <= LENGTH_TOLERANCE * mean_length)
            offset = int(close[0]) if len(close) else int(np.argmin(np.abs(means - mean_length)))
            needed = {w for _, w, _ in coming[offset:offset + timed_steps]} - seen
            if not every_length and len(seen) >= 2:
                needed = set()
            advance(offset, lambda width: width in needed)
            if not needed:
                break
            # A length the span needs came only inside it: train on the span's batches of
            # new lengths and look for another span further on.
            advance(timed_steps, lambda width: width in needed or (
                not every_length and len(seen) < 2 and width not in seen))
        else:
            self.row.warmup_complete = False
        self.row.warmup_seconds = time.perf_counter() - begin
        self.row.warmup_steps = steps

    def run(self, steps, work: Work):
        raise NotImplementedError


class OursRunner(Runner):
    """Our Engine, used as the runners use it: prepare_training, then train_loop(iterator, n)
    runs n steps in one call."""

    def __init__(self, row: Row, dataset, tmp, timed_steps, mean_length):
        super().__init__(row)
        precision = "" if row.precision == "fp32" else row.precision   # bf16 / fp16
        if set_mixed_precision(precision) != precision:
            raise SystemExit(f"set_mixed_precision({precision!r}) chose another mode")
        try:
            task = ClassificationTask(bert_config(row.size), num_labels=NUM_LABELS)
            self.engine = Engine(task, create_strategy("one_device"),
                                 output_dir=tempfile.mkdtemp(dir=tmp), seed=1,
                                 dynamic_padding=row.dynamic,
                                 pad_to_multiple_of=row.pad_multiple, jit_compile=row.xla)
            config = training_config(row.batch_size)
            _, self.iterator, self.train_loop = self.engine.prepare_training(dataset, config)
            # The engine's pipeline built again, to count what each step computes. Checked
            # on the first batch and, after timing, on the next one: both are taken from the
            # engine's own iterator (and not trained on).
            self.counted = iter(batch_pipeline(dataset, config, row.dynamic,
                                               self.engine.pad_to_multiple_of))
            row.same_batches = self.check_batches()
            self.prepare(timed_steps, mean_length, every_length=row.xla)
        finally:
            set_mixed_precision("")

    def pull(self):
        batch = next(self.counted)
        return summarize(batch["input_mask"]), fingerprint(batch["input_ids"])

    def skip(self):
        next(self.iterator)
        self.take()

    def check_batches(self):
        """Whether the engine's next batch is the rebuilt pipeline's next one (both drawn)."""
        return fingerprint(next(self.iterator)["input_ids"]) == self.take()[1]

    def run(self, steps, work: Work):
        begin = time.perf_counter()
        losses = self.train_loop(self.iterator, tf.constant(steps)).numpy()
        work.seconds += time.perf_counter() - begin
        for _ in range(steps):
            work.add_batch(self.row.size, self.take()[0])
        if not np.all(np.isfinite(losses)):
            raise SystemExit(f"non-finite training loss: {self.row}")

    def close(self):
        del self.engine, self.iterator, self.train_loop, self.counted


def to_hf_inputs(features):
    return {"input_ids": features["input_ids"], "attention_mask": features["input_mask"],
            "token_type_ids": features["segment_ids"], "labels": features["label_ids"]}


class PeerRunner(Runner):
    """transformers.TFBertForSequenceClassification as a user trains it: compile(optimizer)
    without a loss (the model computes its own from `labels`), then model.train_on_batch on
    each batch of a tf.data pipeline."""

    def __init__(self, row: Row, dataset, timed_steps, mean_length):
        super().__init__(row)
        tf_keras.mixed_precision.set_global_policy("float32")
        tf_keras.utils.set_random_seed(1)
        self.model = transformers.TFBertForSequenceClassification(hf_config(row.size))
        self.model.compile(optimizer=create_optimizer(LEARNING_RATE, NUM_TRAIN_STEPS,
                                                      NUM_WARMUP_STEPS))
        config = training_config(row.batch_size)
        batches = (batch_pipeline(dataset, config, row.dynamic, PAD_MULTIPLE)
                   .map(to_hf_inputs)
                   .prefetch(tf.data.AUTOTUNE))
        self.iterator = iter(batches)
        next(self.iterator)  # as our side's check takes the first batch: same batches after
        self.prepare(timed_steps, mean_length, every_length=False)

    def pull(self):
        batch = next(self.iterator)
        return summarize(batch["attention_mask"]), batch

    def run(self, steps, work: Work):
        for _ in range(steps):
            begin = time.perf_counter()
            summary, batch = self.take()
            loss = self.model.train_on_batch(batch)
            work.seconds += time.perf_counter() - begin
            work.add_batch(self.row.size, summary)
            if not np.isfinite(loss):
                raise SystemExit(f"non-finite training loss: {self.row}")

    def close(self):
        del self.model, self.iterator
        self.queue.clear()


def free_models():
    gc.collect()
    tf_keras.backend.clear_session()
    gc.collect()


# ---- one block: a model size and max_seq_length ----

@dataclasses.dataclass(frozen=True)
class Plan:
    """Batch size, timed steps and optional rows of one block."""

    batch_size: int
    fixed_steps: int        # per chunk, rows of full-length batches
    dynamic_steps: int      # per chunk, rows of cut batches of realistic lengths
    chunks: int
    xla: Tuple[str, ...] = ("fp32", "bf16")    # precisions that get XLA rows
    xla_pad_multiple: Optional[int] = None     # None: the engine's default (16)
    fixed: Tuple[str, ...] = ("fp32",)         # precisions of ours, fixed, realistic data
    peer_dynamic: bool = True                  # the peer on our dynamic batches too


def block_rows(size, max_seq_length, plan: Plan) -> List[Row]:
    """The rows of one block, in table order: uniform data, then realistic; peer first."""
    def row(data, side, precision, xla, dynamic):
        return Row(size, max_seq_length, data, side, precision, xla, dynamic, plan.batch_size,
                   pad_multiple=plan.xla_pad_multiple if xla else None)

    # Uniform data: every batch is already full length, so our default (dynamic padding)
    # computes exactly what fixed padding does.
    rows = [row("uniform", "peer", "fp32", False, False)]
    rows += [row("uniform", "ours", precision, xla, True) for precision in ("fp32", "bf16")
             for xla in (False, True) if not xla or precision in plan.xla]
    rows += [row("realistic", "peer", "fp32", False, dynamic)
             for dynamic in ((False, True) if plan.peer_dynamic else (False,))]
    rows += [row("realistic", "ours", precision, xla, True) for precision in ("fp32", "bf16")
             for xla in (False, True) if not xla or precision in plan.xla]
    rows += [row("realistic", "ours", precision, False, False) for precision in plan.fixed]
    return rows


def steps_per_chunk(row: Row, plan: Plan):
    return plan.dynamic_steps if row.data == "realistic" and row.dynamic else plan.fixed_steps


def run_block(size, max_seq_length, plan: Plan, rng, tmp, log):
    """Builds and warms up every row of the block, then times them in alternating chunks.

    Returns:
        The rows, with their timed `work`.
    """
    datasets = {kind: make_dataset(kind, rng, max(4096, 64 * plan.batch_size),
                                   max_seq_length)
                for kind in ("uniform", "realistic")}
    rows = block_rows(size, max_seq_length, plan)
    runners = []
    for row in rows:
        begin = time.perf_counter()
        # The span each row prepares: the settle step below, then the timed steps.
        timed = 1 + steps_per_chunk(row, plan) * plan.chunks
        dataset, lengths = datasets[row.data]
        if row.side == "ours":
            runner = OursRunner(row, dataset, tmp, timed, float(lengths.mean()))
        else:
            runner = PeerRunner(row, dataset, timed, float(lengths.mean()))
        runners.append(runner)
        log(f"  {describe(row)}: built and warmed up in {time.perf_counter() - begin:.0f} s")
    # One untimed step of every row first: each one's first step after the others were
    # built runs ~3x slow.
    for runner in runners:
        runner.run(1, Work())
    begin = time.perf_counter()
    for chunk in range(plan.chunks):
        order = runners if chunk % 2 == 0 else runners[::-1]
        for runner in order:
            runner.run(steps_per_chunk(runner.row, plan), runner.row.work)
    log(f"  timed in {time.perf_counter() - begin:.0f} s")
    for runner in runners:
        if isinstance(runner, OursRunner):
            runner.row.same_batches = runner.row.same_batches and runner.check_batches()
        runner.close()
    del runners
    free_models()
    return rows


# ---- bf16 against fp32: a short loss curve ----

LOSS_CHECK_MARKERS = (2000, 2001)   # the first piece of segment A: label 0 / label 1


def learnable_dataset(rng, count, max_seq_length):
    """Realistic lengths; the label is which of two marker pieces opens segment A."""
    dist = DISTRIBUTIONS[max_seq_length]
    labels = rng.integers(0, NUM_LABELS, count)
    features = make_features(rng, dist.sample(rng, count, max_seq_length), max_seq_length,
                             dist.first_share, labels)
    features["input_ids"][:, 1] = np.asarray(LOSS_CHECK_MARKERS)[labels]
    return tf.data.Dataset.from_tensor_slices(features)


@dataclasses.dataclass
class LossCurves:
    """Per-step training losses (float [steps] each) of one batch size."""

    batch_size: int
    fp32: np.ndarray
    bf16: np.ndarray
    fp32_other_dropout: np.ndarray


def loss_curves(steps, batch_size, rng, tmp, learning_rate=LEARNING_RATE) -> LossCurves:
    """Per-step losses of BERT-Small at 128 from the same initial weights and batches:
    fp32, bf16 and fp32 again with other dropout masks (the noise a seed makes).

    Returns:
        The three curves.
    """
    dataset = learnable_dataset(rng, 4096, 128)
    config = TrainingConfig(train_batch_size=batch_size, num_train_steps=steps,
                            num_warmup_steps=max(1, steps // 10), learning_rate=learning_rate)
    curves, initial = {}, None
    for name, precision, seed in (("fp32", "", 1), ("bf16", "bf16", 1),
                                  ("fp32, other dropout", "", 2)):
        set_mixed_precision(precision)
        try:
            engine = Engine(ClassificationTask(bert_config("small"), num_labels=NUM_LABELS),
                            create_strategy("one_device"), output_dir=tempfile.mkdtemp(dir=tmp),
                            seed=seed)
            if initial is None:
                initial = engine.model.get_weights()
            engine.model.set_weights(initial)
            _, iterator, train_loop = engine.prepare_training(dataset, config)
            curves[name] = train_loop(iterator, tf.constant(steps)).numpy()
            if not np.all(np.isfinite(curves[name])):
                raise SystemExit(f"non-finite loss in the {name} loss curve")
        finally:
            set_mixed_precision("")
        del engine, iterator, train_loop
        free_models()
    return LossCurves(batch_size, curves["fp32"], curves["bf16"],
                      curves["fp32, other dropout"])


# ---- report ----

def describe(row: Row):
    padding = ("dynamic" if row.dynamic else "fixed") if row.data == "realistic" else "full"
    return (f"{SIZES[row.size][0]} {row.max_seq_length} {row.data} {row.side} {row.precision}"
            f"{' XLA' if row.xla else ''} {padding}")


def rate(row: Row):
    return row.work.examples / row.work.seconds


def find(rows, **match) -> Optional[Row]:
    for row in rows:
        if all(getattr(row, key) == value for key, value in match.items()):
            return row
    return None


def padding_label(row: Row):
    if not row.dynamic:
        return f"fixed {row.max_seq_length}"
    multiple = row.pad_multiple or (16 if row.xla else PAD_MULTIPLE)
    return f"dynamic /{multiple}"


def table(rows, peaks):
    """The markdown table: one line per row."""
    lines = ["| model | S | data | padding | precision | XLA | engine | batch | timed steps "
             "| mean padded / real length | examples/s | real tokens/s | MFU "
             "| vs peer default | vs peer, equal work | warm-up s (steps) |",
             "|---|---:|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        work = row.work
        same_data = [r for r in rows if r.size == row.size and r.max_seq_length ==
                     row.max_seq_length and r.data == row.data and r.side == "peer"]
        default = find(same_data, dynamic=False)
        equal = find(same_data, dynamic=row.dynamic) or default
        vs_default = f"{rate(row) / rate(default):.2f}x" if default and row is not default \
            else "1 (ref.)" if row is default else "-"
        if row.side == "peer" or equal is None:
            vs_equal = "-"
        else:
            # XLA rows cut to multiples of 16 (or more): a little more padding than the
            # peer's batches (multiples of 8).
            approx = "~" if row.dynamic and row.data == "realistic" and row.xla else ""
            vs_equal = f"{approx}{rate(row) / rate(equal):.2f}x"
        mfu = work.flops / work.seconds / peaks[row.precision][0]
        warm = f"{row.warmup_seconds:.0f} ({row.warmup_steps}{'' if row.warmup_complete else '!'})"
        lengths = f"{work.computed_tokens / work.examples:.0f} / {work.real_tokens / work.examples:.0f}"
        engine = "ours" if row.side == "ours" else "HF TFBert"
        if row.side == "ours" and not row.same_batches:
            engine += " *"
        lines.append(
            f"| {SIZES[row.size][0]} | {row.max_seq_length} | {row.data} | {padding_label(row)} "
            f"| {row.precision} | {'on' if row.xla else 'off'} | {engine} | {row.batch_size} "
            f"| {work.steps} | {lengths} | {rate(row):.1f} "
            f"| {work.real_tokens / work.seconds:,.0f} | {100 * mfu:.0f}% | {vs_default} "
            f"| {vs_equal} | {warm} |")
    return lines


def verdict(value, target):
    return "met" if value >= target else "MISSED"


def targets(rows, peaks, curves):
    """The issue's targets, each with what this run measured."""
    lines = []
    blocks = sorted({(r.size, r.max_seq_length) for r in rows},
                    key=lambda b: (list(SIZES).index(b[0]), b[1]))

    def ours_default(size, seq, data, precision="fp32"):
        return find(rows, size=size, max_seq_length=seq, data=data, side="ours",
                    precision=precision, xla=False, dynamic=True)

    def peer_default(size, seq, data):
        return find(rows, size=size, max_seq_length=seq, data=data, side="peer",
                    dynamic=False)

    for data, target, text in (
            ("realistic", 2.5, "Realistic lengths, ours at defaults (fp32, dynamic padding, "
                               "no XLA) vs the peer at its defaults (fp32, padded to S, no "
                               "XLA), examples/s"),
            ("uniform", 1.0, "Uniform full-length fp32 batches, ours at defaults vs the peer "
                             "at its defaults, examples/s")):
        parts = []
        for size, seq in blocks:
            ours, peer = ours_default(size, seq, data), peer_default(size, seq, data)
            if ours and peer:
                ratio = rate(ours) / rate(peer)
                parts.append(f"{SIZES[size][0]} {seq}: {ratio:.2f}x {verdict(ratio, target)}")
        lines.append(f"- {text} >= {target}x: {'; '.join(parts)}")

    parts = []
    for size, seq in blocks:
        for data in ("uniform", "realistic"):
            fp32, bf16 = ours_default(size, seq, data), ours_default(size, seq, data, "bf16")
            if fp32 and bf16:
                ratio = rate(bf16) / rate(fp32)
                parts.append(f"{SIZES[size][0]} {seq} {data}: {ratio:.2f}x "
                             f"{verdict(ratio, 1.5)}")
    lines.append("- bf16 vs fp32 (ours, dynamic padding, no XLA), examples/s >= 1.5x: "
                 + "; ".join(parts))

    if curves:
        fp32, bf16, other = curves.fp32, curves.bf16, curves.fp32_other_dropout
        steps = len(fp32)
        marks = sorted({0, steps // 3, 2 * steps // 3, steps - 1})
        gap = float(np.mean(np.abs(bf16 - fp32)))
        noise = float(np.mean(np.abs(other - fp32)))
        shown = "; ".join(f"{name} " + " / ".join(f"{curve[i]:.3f}" for i in marks)
                          for name, curve in (("fp32", fp32), ("bf16", bf16),
                                              ("fp32 other dropout", other)))
        lines.append(
            f"- bf16 loss curve within noise of fp32 (BERT-Small 128, batch {curves.batch_size}, "
            f"{steps} steps, lr {LEARNING_RATE:g}, same initial weights and batches, learnable "
            f"toy label); loss at steps {' / '.join(str(i + 1) for i in marks)}: {shown}. "
            f"Mean |bf16 - fp32| over all steps {gap:.3f}, noise (mean |fp32 other dropout - "
            f"fp32|) {noise:.3f}: " + ("within noise (<= 2x the noise) met" if gap <= 2 * noise
                                       else "MISSED (more than 2x the noise)"))

    parts = []
    for size, seq in blocks:
        if size != "small":
            continue
        for xla in (False, True):
            row = find(rows, size=size, max_seq_length=seq, data="uniform", side="ours",
                       precision="fp32", xla=xla)
            if row:
                mfu = row.work.flops / row.work.seconds / peaks["fp32"][0]
                parts.append(f"{seq}{' XLA' if xla else ''}: {100 * mfu:.0f}% "
                             f"{verdict(mfu, 0.7)}")
    if parts:
        lines.append("- MFU of ours, fp32 training on full-length BERT-Small batches, >= 70% "
                     "of the measured fp32 matmul peak: " + "; ".join(parts))
    return lines


# ---- main ----

def plans(quick):
    """(size, max_seq_length) -> Plan. Step counts keep the default run near 25 minutes on
    2 cores; --quick only checks that everything runs."""
    if quick:
        quick = dict(xla=(), fixed=(), peer_dynamic=False)
        return {("small", 128): Plan(8, 1, 3, 2, **quick),
                ("small", 384): Plan(2, 1, 3, 2, **quick),
                ("base", 128): Plan(4, 1, 2, 2, **quick),
                ("base", 384): Plan(1, 1, 2, 2, **quick)}
    return {("small", 128): Plan(32, 1, 6, 4),
            ("small", 384): Plan(8, 1, 6, 4, xla=("fp32",), xla_pad_multiple=64),
            ("base", 128): Plan(8, 1, 4, 2, xla=(), fixed=()),
            # Without the peer on our batches: seven BERT-Base models at 384 held at once
            # (all rows of a block stay built while they are timed) passed 24 GiB.
            ("base", 384): Plan(4, 1, 4, 2, xla=(), fixed=(), peer_dynamic=False)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="small,base",
                        help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--seq", default="128,384",
                        help=f"comma-separated max_seq_length, of {', '.join(map(str, DISTRIBUTIONS))}")
    parser.add_argument("--quick", action="store_true",
                        help="BERT-Small at 128 only (unless --models/--seq say otherwise), "
                             "smaller batches, a few steps: checks that everything runs")
    parser.add_argument("--loss_check_steps", type=int, default=30,
                        help="steps of the bf16 vs fp32 loss curves (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    given = {a.split("=")[0] for a in sys.argv[1:]}
    if args.quick:
        if "--models" not in given:
            args.models = "small"
        if "--seq" not in given:
            args.seq = "128"
        if "--loss_check_steps" not in given:
            args.loss_check_steps = 8
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seqs = [int(s) for s in args.seq.split(",") if s.strip()]
    if any(m not in SIZES for m in models) or any(s not in DISTRIBUTIONS for s in seqs):
        parser.error(f"--models must be of {', '.join(SIZES)}; --seq of "
                     f"{', '.join(map(str, DISTRIBUTIONS))}")
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")  # AutoGraph's notes on the peer's code
    tf.autograph.set_verbosity(0)
    transformers.logging.set_verbosity_error()

    def log(message):
        print(message, file=sys.stderr, flush=True)

    begin = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    log("measuring the matmul peaks")
    first_peaks = {"fp32": matmul_peak(tf.float32), "bf16": matmul_peak(tf.bfloat16)}
    log(f"  done in {time.perf_counter() - begin:.0f} s")
    all_plans = plans(args.quick)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in models:
            for seq in seqs:
                log(f"{SIZES[size][0]}, max_seq_length {seq}")
                block = run_block(size, seq, all_plans[(size, seq)], rng, tmp, log)
                # The block's rows now (against the first peaks), so a run stopped later
                # still leaves them in the log.
                for line in table(block, first_peaks):
                    log(line)
                rows += block
        curves = None
        if args.loss_check_steps:
            log("bf16 vs fp32 loss curves")
            loss_begin = time.perf_counter()
            curves = loss_curves(args.loss_check_steps, 16 if args.quick else 32, rng, tmp)
            log(f"  done in {time.perf_counter() - loss_begin:.0f} s")
    # Measured again at the end: the peak is the best of both (a busy spell on the
    # machine lowers a measurement; nothing raises it).
    log("measuring the matmul peaks again")
    last_peaks = {"fp32": matmul_peak(tf.float32), "bf16": matmul_peak(tf.bfloat16)}
    peaks = {k: max(first_peaks[k], last_peaks[k]) for k in first_peaks}
    total = time.perf_counter() - begin

    print(f"Fine-tuning throughput: our Engine (bert_tf.training) vs "
          f"transformers.TFBertForSequenceClassification (hidden_act gelu_new), "
          f"{NUM_LABELS}-label classification, AdamWeightDecay + clip norm 1.0 on both sides, "
          f"one process, rows of a block timed in alternating chunks.")
    print(f"Machine: {machine_info()}; intra/inter-op threads: TensorFlow defaults.")
    print("Measured matmul peaks (tf.function'd loop of square tf.matmul, best of "
          f"{', '.join(map(str, PEAK_SIZES))}, with and without XLA, measured at the start "
          "and at the end of the run, the best is the peak): " + "; ".join(
              f"{k} {peaks[k][0] / 1e9:.0f} GFLOP/s ({peaks[k][1]}; start "
              f"{first_peaks[k][0] / 1e9:.0f}, end {last_peaks[k][0] / 1e9:.0f})"
              for k in peaks) + ".")
    for seq in seqs:
        d = DISTRIBUTIONS[seq]
        print(f"Realistic data at S={seq}: {d.name} lengths, lognormal median {d.median:g} "
              f"word pieces, sigma {d.sigma}, clipped to [{d.min_length}, {seq}]. Uniform: "
              f"every example {seq} long.")
    print("MFU = 3 x forward FLOPs (2 x non-embedding matmul weights x L + 4 x layers x L^2 x "
          "hidden + pooler/classifier) on the padded length L each batch computes, / time / "
          "the measured peak of the row's precision. Real tokens/s counts non-padding tokens "
          "only (the useful work).")
    xla_notes = []
    for size in models:
        for seq in seqs:
            plan = all_plans[(size, seq)]
            note = " and ".join(plan.xla) or "none"
            multiple = f" (dynamic: cut to multiples of {plan.xla_pad_multiple})" \
                if plan.xla and plan.xla_pad_multiple else ""
            xla_notes.append(f"{SIZES[size][0]} {seq}: {note}{multiple}")
    print(f"XLA rows (to fit the run's time): {'; '.join(xla_notes)}. Peer rows: fp32, no "
          f"XLA (its defaults); the peer's dynamic rows get the very batches of our "
          f"no-XLA dynamic rows.")
    print()
    for line in table(rows, peaks):
        print(line)
    print()
    notes = []
    if any(r.side == "ours" and not r.same_batches for r in rows):
        notes.append("* the engine's batches differed from the rebuilt pipeline's (checked "
                     "before and after timing): the row's lengths and FLOPs come from batches "
                     "of the same data and settings, not the very same ones")
    if any(not r.warmup_complete for r in rows):
        notes.append("! no span of the coming batches both had the data's mean length and "
                     "needed no new compilation: the timed steps may include XLA compilations "
                     "or a span of other mean length (see its lengths)")
    for note in notes:
        print(note)
    print("Targets (issue), measured in this run:")
    for line in targets(rows, peaks, curves):
        print(line)
    print()
    print(f"Total {total:.0f} s.")


if __name__ == "__main__":
    main()
