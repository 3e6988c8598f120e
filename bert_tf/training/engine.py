"""The one training / evaluation / prediction engine every runner uses.

A runner describes its task with a `Task` (model, loss, per-example outputs) and hands the
engine unbatched `tf.data` datasets of feature dicts. The engine owns the rest:
`tf.distribute`, the optimizer, original-format checkpoints every `save_checkpoints_steps`
(last N kept), exact resume after an interruption, progress lines, TensorBoard summaries and
NaN detection.

Exact resume: the data order is a seeded shuffle from which the first `global_step` batches
are skipped, and every dropout mask is a function of (seed, global step, replica) (see
layers.dropout), so a run killed at any point and restarted from its latest checkpoint
ends with the same weights as one never interrupted (fp16 loss scaling excepted: its scale
is not checkpointed).

Several workers (multi_worker_mirrored, TF_CONFIG): each global batch is split between the
workers' replicas, so together they train on exactly the batches one process would; only
the chief writes output_dir (the others save into a scratch directory, see `cluster`); a
SIGTERM (a preemption notice) to any worker makes all of them stop at the same step after a
checkpoint, and the same command resumes from it.

Speed: batches are cut to their longest example and examples grouped by length
(data.dynamic_padding; off for TPUs, which need static shapes, and for the training batches
of a task whose loss reads the padding, SQuAD), the forward/backward pass can
be compiled with XLA, several steps run per call, and `gradient_accumulation_steps`
micro-batches make one optimizer step equal to a step on the whole batch.
"""

import contextlib
import math
import os
import shutil
import threading
import time
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from bert_tf.data.dynamic_padding import length_grouped_batches
from bert_tf.errors import InputError, Preempted, TrainingDiverged
from bert_tf.export import export_saved_model
from bert_tf.files import remove_stale_temps
from bert_tf.optimization import WarmupLinearDecay, create_optimizer, dense_gradient
from bert_tf.tasks.base import EXAMPLE_INDEX, IS_REAL_EXAMPLE, Task
from bert_tf.training import cluster as cluster_lib
from bert_tf.training import phases
from bert_tf.training.config import TrainingConfig
from bert_tf.training.preemption import sigterm_watch
from bert_tf.weights import checkpoints
from bert_tf.weights.pretrained import load_weights


# In output_dir: the original's `*INIT_FROM_CKPT*` list of the --init_checkpoint load.
INIT_CHECKPOINT_REPORT = "init_checkpoint_report.txt"
# A step the user waits on without a progress line gets a notice after this many seconds.
SLOW_NOTICE_SECONDS = 3.0


def _input_options() -> tf.data.Options:
    """tf.data options of the engine's input pipelines: no autotuning thread. An iterator's
    destructor waits for that thread to wake from its sleep, up to a minute once it has run
    a while (gdb: RootDataset::Iterator::~Iterator waiting on Model::OptimizeLoop), which
    left runs idle for 15-60 s after their last checkpoint. Without it, AUTOTUNE parallel
    calls use every core and prefetch sizes its own buffer."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


_INPUT_OPTIONS = _input_options()


def _with_real_flag(dataset, value):
    return dataset.map(lambda f: dict(f, **{IS_REAL_EXAMPLE: tf.constant(value, tf.int32)}))


def _scale_gradient(gradient, factor):
    """gradient * factor, keeping a `tf.IndexedSlices` (embedding) gradient sparse."""
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values * factor, gradient.indices,
                                gradient.dense_shape)
    return gradient * factor


def _pad_axis_1(value, width):
    """Pads [B, L, ...] with zeros to [B, width, ...]."""
    paddings = [[0, 0], [0, width - tf.shape(value)[1]]] + [[0, 0]] * (value.shape.rank - 2)
    return tf.pad(value, paddings)


@contextlib.contextmanager
def _notice_if_slow(what: str, after_seconds: float = SLOW_NOTICE_SECONDS):
    """Logs `what ...` once the block has run `after_seconds`, then how long it took, so a
    wait inside TensorFlow (that cannot log) is not silent."""
    start = time.time()
    timer = threading.Timer(after_seconds, logging.info, ["%s ...", what])
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if time.time() - start >= after_seconds:
            logging.info("%s: done in %.1f s", what, time.time() - start)


def replica_shares(batches: tf.data.Dataset, batch_size: int, num_replicas: int):
    """The `dataset_fn` of `strategy.distribute_datasets_from_function` that gives each
    replica its share of every global batch of `batches`.

    Each worker (input pipeline) runs the whole pipeline and keeps, of every global batch
    [batch_size, ...], the rows of its own replicas, one element per replica in replica
    order ([batch_size / num_replicas, ...]): the replicas of all workers together see each
    example of each batch once, exactly the batches of one process.
    """
    per_replica = batch_size // num_replicas

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def shares(features):
            # [B, ...] -> [R, B / R, ...] -> this worker's rows [first, first + local)
            return {name: tf.reshape(value, tf.concat(
                [[num_replicas, per_replica], tf.shape(value)[1:]], axis=0))[first:first + local]
                for name, value in features.items()}
        return batches.map(shares).unbatch().with_options(_INPUT_OPTIONS)
    return dataset_fn


def _format_seconds(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Engine:
    """Model, optimizer and strategy for one run of a runner.

    Args:
        task: the `Task`.
        strategy: from `create_strategy`.
        output_dir: checkpoints (`model.ckpt-<step>`), TensorBoard logs (`train/`, `eval/`);
            the temporaries a killed run left there are removed (`remove_stale_temps`).
        seed: seeds initialization, data order and dropout.
        dynamic_padding: cut batches to their longest example and group examples by length
            (forced off for TPUs and for a task whose loss is a batch mean).
        pad_to_multiple_of: cut lengths are rounded up to this; default 8, 16 with XLA
            (each new length is a new XLA compilation).
        jit_compile: compile the forward/backward pass (train) and the forward pass
            (predict) with XLA.
        static_shapes: every batch of the same shape ([batch, max_seq_length]; no dynamic
            padding; training drops a last partial batch, evaluation and prediction pad
            theirs with examples that never reach an output), as TPUs need; default: on for
            a TPUStrategy.

    With several workers (multi_worker_mirrored), `write_dir` is output_dir on the chief and
    a scratch directory of its own on each other worker; checkpoints are always read from
    output_dir.
    """

    def __init__(self, task: Task, strategy: tf.distribute.Strategy, output_dir: str,
                 seed: int = 12345, *, dynamic_padding: bool = True,
                 pad_to_multiple_of: Optional[int] = None, jit_compile: bool = False,
                 static_shapes: Optional[bool] = None):
        self.task = task
        self.strategy = strategy
        self.output_dir = output_dir
        self.seed = seed
        self.cluster = (cluster_lib.read_cluster()
                        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                        else None)
        self.is_chief = self.cluster is None or self.cluster.is_chief
        self.write_dir = output_dir if self.is_chief else cluster_lib.scratch_dir(self.cluster)
        if static_shapes is None:
            static_shapes = isinstance(strategy, tf.distribute.TPUStrategy)
        self.static_shapes = static_shapes
        if dynamic_padding and static_shapes:
            logging.info("Static shapes (TPU): padding every batch to max_seq_length")
            dynamic_padding = False
        if dynamic_padding and task.loss_is_batch_mean:
            logging.info("The loss is a mean over each batch: batches keep their input order "
                         "and max_seq_length (no dynamic padding)")
            dynamic_padding = False
        self.dynamic_padding = dynamic_padding
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise InputError(f"--pad_to_multiple_of={pad_to_multiple_of} must be positive")
        self.pad_to_multiple_of = pad_to_multiple_of or (16 if jit_compile else 8)
        self.jit_compile = jit_compile
        self.optimizer = None
        # Once per run: what a killed run left in output_dir (a half-written feature cache,
        # checkpoint or output file) goes, whether or not this run rewrites that file. Only
        # the chief: another worker would remove what the chief is writing.
        if self.is_chief:
            remove_stale_temps(output_dir)
        tf_keras.utils.set_random_seed(seed)
        with strategy.scope():
            self.model = task.build_model()
            self.model.build_with_dummy_inputs()
        self._predict_fns = {}

    # ---- state ----

    def latest_checkpoint(self) -> Optional[str]:
        return tf.train.latest_checkpoint(self.output_dir)

    def restore(self, init_checkpoint: Optional[str] = None, required: bool = False) -> int:
        """Loads the latest checkpoint of output_dir (weights, and optimizer state once
        training has built the optimizer), else the weights of `init_checkpoint` (logged in
        one line; every variable, as the original logs them, in
        output_dir/init_checkpoint_report.txt).

        Returns:
            The global step of the checkpoint loaded (0 for a new run).

        Raises:
            InputError: `required` and there is nothing to load.
        """
        latest = self.latest_checkpoint()
        if latest:
            logging.info("Restoring %s", latest)
            optimizer = self._inner_optimizer()
            checkpoints.load_checkpoint(self.model, latest, optimizer=optimizer)
            reader = tf.train.load_checkpoint(latest)
            return int(reader.get_tensor(checkpoints.GLOBAL_STEP)) if reader.has_tensor(
                checkpoints.GLOBAL_STEP) else 0
        if init_checkpoint:
            report = load_weights(self.model, init_checkpoint)
            os.makedirs(self.write_dir, exist_ok=True)
            path = os.path.join(self.write_dir, INIT_CHECKPOINT_REPORT)
            checkpoints.write_load_report(report, path)
            logging.info("The variables of %s, one by one: %s", init_checkpoint, path)
        elif required:
            raise InputError(f"--output_dir={self.output_dir} holds no checkpoint and no "
                             "--init_checkpoint was given: train first (--do_train) or name "
                             "a fine-tuned checkpoint")
        return 0

    def _inner_optimizer(self):
        """The AdamWeightDecay itself (inside a LossScaleOptimizer for fp16)."""
        return getattr(self.optimizer, "inner_optimizer", self.optimizer)

    def _build_optimizer(self, config: TrainingConfig):
        with self.strategy.scope():
            optimizer = create_optimizer(config.learning_rate, config.num_train_steps,
                                         config.num_warmup_steps,
                                         weight_decay_rate=config.weight_decay_rate,
                                         epsilon=config.adam_epsilon,
                                         clip_norm=config.clip_norm,
                                         optimizer=config.optimizer)
            if tf_keras.mixed_precision.global_policy().name == "mixed_float16":
                optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
        self.optimizer = optimizer

    def save(self, step: int, keep: int) -> str:
        """Saves output_dir/model.ckpt-<step> (keeping the `keep` newest) and returns it.

        A worker other than the chief saves into its scratch directory and deletes that copy
        at once: every worker saves, the TF multi-worker guide's rule (a save may read
        variables through collectives), and only the chief's copy is kept.
        """
        prefix = os.path.join(self.output_dir, f"model.ckpt-{step}")
        if not self.is_chief:
            directory = os.path.join(self.write_dir, "checkpoint-copy")
            checkpoints.save_checkpoint(self.model, os.path.join(directory, f"model.ckpt-{step}"),
                                        optimizer=self._inner_optimizer(),
                                        include_optimizer_slots=True, global_step=step,
                                        update_state_file=False)
            shutil.rmtree(directory, ignore_errors=True)
            return prefix
        checkpoints.save_checkpoint(self.model, prefix, optimizer=self._inner_optimizer(),
                                    include_optimizer_slots=True, global_step=step)
        checkpoints.prune_checkpoints(self.output_dir, keep)
        return prefix

    def check_batch_size(self, batch_size: int, flag: str) -> None:
        """Raises InputError unless `batch_size` (of --`flag`) splits evenly over the replicas."""
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise InputError(f"--{flag}={batch_size} must be a multiple of the number of "
                             f"replicas ({replicas}): each replica gets an equal share")

    def _single_cpu(self) -> bool:
        devices = getattr(self.strategy.extended, "worker_devices", ())
        return (isinstance(self.strategy, tf.distribute.OneDeviceStrategy) and
                len(devices) == 1 and "CPU" in devices[0].upper())

    def _iterate(self, batches: tf.data.Dataset, batch_size: int):
        """An iterator of global batches of `batch_size` for `strategy.run`.

        One CPU replica gets a plain iterator, whose pipeline keeps `_INPUT_OPTIONS`. The
        strategy's distributed iterator (a MultiDeviceIterator) wraps each device's share in a
        pipeline TensorFlow builds with default options, autotuning on, and tearing that
        down waits for the autotuning thread to wake. Several replicas, or a GPU or TPU
        (where the distributed iterator prefetches to the device), use it all the same, fed
        with `replica_shares`: the split is ours, explicit, the same on one worker or many
        (no auto-sharding by files, which one feature file cannot serve).
        """
        if self._single_cpu():
            return iter(batches)
        return iter(self.strategy.distribute_datasets_from_function(
            replica_shares(batches, batch_size, self.strategy.num_replicas_in_sync)))

    # ---- training ----

    def _micro_batch_gradients(self, features, seed):
        """Gradients of the mean loss of one micro-batch on one replica.

        Returns:
            (gradients, loss_sum, count) with loss_sum, count as in `Task.loss`; the
            gradients are of loss_sum / count (times the loss scale under fp16).
        """
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(dict(features, dropout_seed=seed), training=True)
            loss_sum, count = self.task.loss(logits, features)
            loss = loss_sum / tf.maximum(count, 1.0)
            if hasattr(self.optimizer, "get_scaled_loss"):
                loss = self.optimizer.get_scaled_loss(loss)
        return tape.gradient(loss, variables), loss_sum, count

    def _train_step(self, features, accumulation_steps):
        """One optimizer step on one replica's share of the global batch.

        The share is run as `accumulation_steps` micro-batches. Each micro-batch's gradient
        of its own mean loss is weighted by its count over the global count, so the sum is
        the gradient of the global batch's mean loss however the examples are split (across
        replicas and micro-batches) and however many each counts (NER: labelled tokens).
        """
        context = tf.distribute.get_replica_context()
        seed = tf.random.experimental.stateless_fold_in(
            tf.random.experimental.stateless_fold_in(
                tf.constant([self.seed, 0], tf.int64), self.optimizer.iterations),
            context.replica_id_in_sync_group)
        gradients_fn = self._gradients_fn
        variables = self.model.trainable_variables
        if accumulation_steps == 1:
            grads, loss_sum, count = gradients_fn(features, seed)
            total = tf.maximum(context.all_reduce("sum", count), 1.0)
            grads = [_scale_gradient(g, count / total) for g in grads]
        else:
            # [B_replica, ...] -> [k, B_replica / k, ...]: micro-batch j is row j.
            micro = {name: tf.reshape(value, tf.concat(
                [[accumulation_steps, -1], tf.shape(value)[1:]], axis=0))
                for name, value in features.items()}
            sums = [tf.zeros_like(v) for v in variables]
            loss_sum, count = tf.constant(0.0), tf.constant(0.0)
            connected = []  # whether each variable gets a gradient (known when tracing)
            for j in tf.range(accumulation_steps):
                # One micro-batch at a time: the while loop would otherwise run up to 10
                # iterations at once (they are independent), holding their activations too.
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                grads, micro_loss, micro_count = gradients_fn(
                    {name: value[j] for name, value in micro.items()},
                    tf.random.experimental.stateless_fold_in(seed, j))
                connected[:] = [g is not None for g in grads]
                sums = [s if g is None else s + dense_gradient(g, v) * micro_count
                        for s, g, v in zip(sums, grads, variables)]
                loss_sum += micro_loss
                count += micro_count
            total = tf.maximum(context.all_reduce("sum", count), 1.0)
            # None stays None (e.g. the pooler under a token head): such a variable is not
            # updated at all, as without accumulation.
            grads = [s / total if c else None for s, c in zip(sums, connected)]
        if hasattr(self.optimizer, "get_unscaled_gradients"):
            grads = self.optimizer.get_unscaled_gradients(grads)
        # Only the variables that get a gradient: a token or span head never uses the pooler,
        # which then keeps its loaded weights (and its slots), as tf-keras would leave it
        # anyway after warning "Gradients do not exist" at every trace.
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss_sum / total  # this replica's part of the global batch's mean loss

    def _make_train_loop(self, accumulation_steps):
        # XLA compiles the forward/backward pass only: the optimizer update and the
        # cross-replica sums stay outside, where every strategy supports them.
        self._gradients_fn = (tf.function(self._micro_batch_gradients, jit_compile=True)
                              if self.jit_compile else self._micro_batch_gradients)

        @tf.function
        def train_loop(iterator, num_steps):
            losses = tf.TensorArray(tf.float32, size=num_steps)
            for i in tf.range(num_steps):
                per_replica = self.strategy.run(self._train_step,
                                                args=(next(iterator), accumulation_steps))
                losses = losses.write(i, self.strategy.reduce("sum", per_replica, axis=None))
            return losses.stack()
        return train_loop

    def _check_accumulation(self, config: TrainingConfig):
        steps = config.gradient_accumulation_steps
        per_replica = config.train_batch_size // self.strategy.num_replicas_in_sync
        if steps < 1 or per_replica % steps:
            raise InputError(
                f"--gradient_accumulation_steps={steps} must be a positive divisor of the "
                f"batch of each replica ({per_replica} = --train_batch_size="
                f"{config.train_batch_size} / {self.strategy.num_replicas_in_sync} replicas)")

    def _cuts_training_batches(self) -> bool:
        return self.dynamic_padding and not self.task.loss_reads_padding

    def prepare_training(self, dataset: tf.data.Dataset, config: TrainingConfig,
                         init_checkpoint: Optional[str] = None):
        """Builds the optimizer, restores the latest checkpoint (else `init_checkpoint`) and
        returns (global step, an iterator over the remaining global batches, train_loop).

        `train_loop(iterator, tf.constant(n))` runs n steps and returns their n losses.
        """
        self.check_batch_size(config.train_batch_size, "train_batch_size")
        self._check_accumulation(config)
        self._build_optimizer(config)
        step = self.restore(init_checkpoint)
        examples = (_with_real_flag(dataset, 1)
                    .shuffle(config.shuffle_buffer_size, seed=config.seed,
                             reshuffle_each_iteration=True)
                    .repeat())
        if self._cuts_training_batches():
            batches = length_grouped_batches(examples, config.train_batch_size,
                                             self.pad_to_multiple_of, shuffle_seed=config.seed,
                                             sequence_features=self.task.sequence_features)
        else:
            batches = examples.batch(config.train_batch_size, drop_remainder=True)
        batches = (batches
                   .skip(step)  # resume: the batches of the steps already done
                   .prefetch(tf.data.AUTOTUNE)
                   .with_options(_INPUT_OPTIONS))
        iterator = self._iterate(batches, config.train_batch_size)
        return step, iterator, self._make_train_loop(config.gradient_accumulation_steps)

    def train(self, dataset: tf.data.Dataset, config: TrainingConfig,
              init_checkpoint: Optional[str] = None) -> Dict[str, float]:
        """Trains to `config.num_train_steps`, resuming from output_dir when it has a checkpoint.

        Args:
            dataset: unbatched feature dicts (one pass over the training set).
            config: a `TrainingConfig`.
            init_checkpoint: encoder weights for a new run (ignored when resuming).

        Returns:
            {"global_step": ..., "loss": last logged loss}.

        Raises:
            TrainingDiverged: the loss became NaN/inf; the last good checkpoint is kept.
        """
        step, iterator, train_loop = self.prepare_training(dataset, config, init_checkpoint)
        total = config.num_train_steps
        if step >= total:
            logging.info("output_dir already holds step %d of %d: nothing to train", step, total)
            return {"global_step": step, "loss": float("nan")}
        # The iterator's one reference, so that `finally` can release it (see there).
        inputs = [iterator]
        del iterator
        writer = tf.summary.create_file_writer(os.path.join(self.write_dir, "train"))
        schedule = WarmupLinearDecay(config.learning_rate, config.num_train_steps,
                                     config.num_warmup_steps)  # for the progress line
        start_step, start_time, loss = step, time.time(), float("nan")
        logging.info("***** Training: steps %d to %d, global batch %d (%d micro-batches), "
                     "dynamic padding %s, XLA %s *****", step, total, config.train_batch_size,
                     config.gradient_accumulation_steps, self._cuts_training_batches(),
                     self.jit_compile)
        try:
            with phases.timed("training"), sigterm_watch() as sigterm:
                while step < total:
                    every = config.save_checkpoints_steps
                    boundary = (step // every + 1) * every
                    num = min(config.iterations_per_loop, config.log_every_n_steps,
                              boundary - step, total - step)
                    losses = train_loop(inputs[0], tf.constant(num)).numpy()
                    if not np.all(np.isfinite(losses)):
                        bad = step + int(np.argmin(np.isfinite(losses)))
                        last = self.latest_checkpoint() or "none (no save yet)"
                        raise TrainingDiverged(
                            f"training loss became {losses[bad - step]} at step {bad}; stopped. "
                            f"The last good checkpoint is {last}; try a lower --learning_rate")
                    step += num
                    loss = float(losses.mean())
                    learning_rate = float(schedule(step - 1))
                    elapsed = time.time() - start_time
                    rate = (step - start_step) * config.train_batch_size / max(elapsed, 1e-9)
                    eta = (total - step) * config.train_batch_size / max(rate, 1e-9)
                    logging.info("step %d/%d (%.1f%%) | %.1f examples/s | loss %.4f | lr %.3g | "
                                 "ETA %s", step, total, 100.0 * step / total, rate, loss,
                                 learning_rate, _format_seconds(eta))
                    with writer.as_default(step=step):
                        tf.summary.scalar("loss", loss)
                        tf.summary.scalar("learning_rate", learning_rate)
                        tf.summary.scalar("examples_per_second", rate)
                    saved = step % config.save_checkpoints_steps == 0 or step == total
                    if saved:
                        logging.info("Saved %s", self.save(step, config.keep_checkpoint_max))
                    if step < total and self._any_worker(sigterm.requested):
                        self._stop_preempted(step, total, saved, sigterm.requested, config)
        finally:
            writer.flush()
            # The training iterator's destructor stops its prefetch threads and waits for the
            # batches they are making (runs were reported idle for 15-40 s after their last
            # checkpoint). Release it now, also when training fails (the traceback keeps this
            # frame, and any snapshot of its locals), and say so when that takes a while.
            with phases.timed("teardown"), _notice_if_slow(
                    "Stopping the training input pipeline"):
                inputs.clear()
        return {"global_step": step, "loss": loss}

    def _any_worker(self, flag: bool) -> bool:
        """Whether `flag` is set on any worker (every worker asks at the same step); the
        flag itself with one worker."""
        if self.cluster is None:
            return flag
        if not hasattr(self, "_any_fn"):
            @tf.function
            def any_fn(value):
                per_replica = self.strategy.run(lambda v: tf.identity(v), args=(value,))
                return self.strategy.reduce("sum", per_replica, axis=None)  # > 0: any
            self._any_fn = any_fn
        return int(self._any_fn(tf.constant(int(flag), tf.int32)).numpy()) > 0

    def _stop_preempted(self, step, total, saved, here, config):
        prefix = (os.path.join(self.output_dir, f"model.ckpt-{step}") if saved
                  else self.save(step, config.keep_checkpoint_max))
        who = "SIGTERM" if here else "SIGTERM to another worker"
        raise Preempted(f"stopped by {who} (a preemption notice) at step {step} of {total}: "
                        f"saved {prefix}; the same command resumes from step {step}")

    # ---- evaluation and prediction ----

    def _make_predict_fn(self, seq_length):
        forward = (tf.function(lambda f: self.model(f, training=False), jit_compile=True)
                   if self.jit_compile else lambda f: self.model(f, training=False))

        def replica_fn(features):
            logits = forward({name: value for name, value in features.items()
                              if name != EXAMPLE_INDEX})
            loss_sum, count = self.task.loss(logits, features)
            outputs = self.task.outputs(logits, features)
            # Per-token outputs of a cut batch ([B, L, ...], L unknown while tracing) go back
            # to [B, S, ...] so every batch's outputs can be stacked.
            outputs = {name: _pad_axis_1(value, seq_length)
                       if value.shape.rank >= 2 and value.shape[1] is None else value
                       for name, value in outputs.items()}
            outputs[IS_REAL_EXAMPLE] = features[IS_REAL_EXAMPLE]
            outputs[EXAMPLE_INDEX] = features[EXAMPLE_INDEX]
            if self.strategy.num_replicas_in_sync > 1:
                # Every replica's rows, of every worker, in replica order: the global batch.
                # (strategy.gather in a tf.function gave replica 0's rows only, TF 2.21.)
                # tf.identity: a feature passed through as it came (on the worker's input
                # device) has no device the collective can name ("destinations can not be
                # empty" under multi_worker_mirrored).
                outputs = tf.distribute.get_replica_context().all_gather(
                    {name: tf.identity(value) for name, value in outputs.items()}, axis=0)
            return outputs, loss_sum, count

        # Takes the iterator, so the trace sees its element spec (L unknown for cut
        # batches): one trace for every length.
        @tf.function
        def predict_step(iterator):
            outputs, loss_sum, count = self.strategy.run(replica_fn, args=(next(iterator),))
            return (outputs, self.strategy.reduce("sum", loss_sum, axis=None),
                    self.strategy.reduce("sum", count, axis=None))
        return predict_step

    def predict(self, dataset: tf.data.Dataset, num_examples: int, batch_size: int,
                description: str = "predict") -> Tuple[Dict[str, np.ndarray], float]:
        """Runs the model over `dataset`; outputs come back in the dataset's order.

        Its time goes to the run's phase `description` ("eval" or "predict"), its input
        pipeline's teardown included.

        The dataset is padded to whole batches with zero examples (is_real_example = 0), as
        the original does for TPUs, so every replica gets an equal share; padding is
        dropped from the outputs. With dynamic padding the examples are run grouped by
        length and put back in order by their index afterwards.

        Returns:
            (outputs: name -> np.ndarray [num_examples, ...], mean loss over real examples;
            NaN for cut batches of a task whose loss reads the padding (SQuAD), which no
            runner reports).
        """
        with phases.timed(description):
            return self._predict(dataset, num_examples, batch_size, description)

    def _predict(self, dataset, num_examples, batch_size, description):
        self.check_batch_size(batch_size, f"{description}_batch_size")
        padding = (-num_examples) % batch_size
        zeros = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype),
                                      dataset.element_spec)
        padded = (_with_real_flag(dataset, 1)
                  .concatenate(_with_real_flag(tf.data.Dataset.from_tensors(zeros)
                                               .repeat(padding), 0))
                  .enumerate()
                  .map(lambda index, f: dict(f, **{EXAMPLE_INDEX: index})))
        if self.dynamic_padding:
            batches = length_grouped_batches(padded, batch_size, self.pad_to_multiple_of,
                                             sequence_features=self.task.sequence_features)
        else:
            batches = padded.batch(batch_size, drop_remainder=True)
        batches = batches.prefetch(tf.data.AUTOTUNE).with_options(_INPUT_OPTIONS)
        seq_length = dataset.element_spec["input_ids"].shape[0]
        if seq_length not in self._predict_fns:
            self._predict_fns[seq_length] = self._make_predict_fn(seq_length)
        predict_fn = self._predict_fns[seq_length]
        collected, loss_sum, count = [], 0.0, 0.0
        num_batches = (num_examples + padding) // batch_size
        start = last_log = time.time()
        iterator = self._iterate(batches, batch_size)
        for i in range(num_batches):
            outputs, batch_loss, batch_count = predict_fn(iterator)
            # The whole batch, gathered; (a copy per local replica: the first.)
            collected.append({k: self.strategy.experimental_local_results(v)[0].numpy()
                              for k, v in outputs.items()})
            loss_sum += float(batch_loss)
            count += float(batch_count)
            if time.time() - last_log > 10 or i + 1 == num_batches:
                last_log = time.time()
                rate = (i + 1) * batch_size / max(last_log - start, 1e-9)
                logging.info("%s: batch %d/%d | %.1f examples/s | ETA %s", description, i + 1,
                             num_batches, rate,
                             _format_seconds((num_batches - i - 1) * batch_size / rate))
        if not collected:
            return {}, float("nan")
        merged = {k: np.concatenate([c[k] for c in collected]) for k in collected[0]}
        order = np.argsort(merged.pop(EXAMPLE_INDEX), kind="stable")
        real = merged.pop(IS_REAL_EXAMPLE)[order].astype(bool)
        assert len(real) == num_examples + padding and real[:num_examples].all()
        outputs = {k: v[order][:num_examples] for k, v in merged.items()}
        if not count or (self.dynamic_padding and self.task.loss_reads_padding):
            return outputs, math.nan
        return outputs, loss_sum / count

    def export(self, export_dir: str, text_module=None) -> str:
        """Writes a SavedModel of the task (see `export.export_saved_model`; `text_module`
        adds its `text` signature) that computes in float32 whatever precision trained it:
        a mixed-precision model is copied into a float32 twin first, so serving needs no
        bf16/fp16 hardware and loses no accuracy."""
        with phases.timed("export"):
            return self._export(export_dir, text_module)

    def _export(self, export_dir, text_module):
        model = self.model
        if model.compute_dtype != "float32":
            policy = tf_keras.mixed_precision.global_policy()
            tf_keras.mixed_precision.set_global_policy("float32")
            try:
                model = self.task.build_model()
                model.build_with_dummy_inputs()
            finally:
                tf_keras.mixed_precision.set_global_policy(policy)
            model.set_weights(self.model.get_weights())
        return export_saved_model(model, export_dir, self.task.outputs, text_module)

    def write_summaries(self, name: str, values: Dict[str, float], step: int) -> None:
        """Scalars to TensorBoard under output_dir/<name>."""
        writer = tf.summary.create_file_writer(os.path.join(self.write_dir, name))
        with writer.as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(key, value)
        writer.flush()
