"""The steps every runner takes, written once: flags -> settings -> model files -> engine ->
train or restore -> report. Runners (and only runners) import this; it reads the flags that
bert_flags.py defines and calls the library with explicit arguments.

A runner's main() is:

    check_flags(FLAGS)                                   # nothing read or written yet
    run = resolve_run(FLAGS, "run_x", checked, new_settings)   # output_dir's record checked
    ... read and check every data file the run needs (train, dev, test) ...
    engine = make_engine(FLAGS, task)                    # strategy, batch sizes checked
    tokenizer = start_run(FLAGS, run, num_train_examples)      # the first write
    global_step = train_or_restore(FLAGS, engine, num_train_examples, train_features)
    ... eval / predict with the task's own outputs ...

so a mistake in any input or flag stops the run before it writes anything or trains.
"""

import dataclasses
import os
import re
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Optional, Sequence

import tensorflow as tf
from absl import app, flags, logging

import runner_env
from bert_tf import tokenization
from bert_tf.config import BertConfig
from bert_tf.data.tfrecord import cached_dataset
from bert_tf.errors import InputError, Preempted, TrainingDiverged
from bert_tf.outputs.glue import write_eval_results
from bert_tf.run_record import (RunRecord, check_same_run, load_run_record, run_differences,
                                 save_run_record)
from bert_tf.training import Engine, TrainingConfig, create_strategy, phases, set_mixed_precision
from bert_tf.training import cluster as cluster_lib

# The modules whose flags are saved in run_config.json: the shared ones and the runner's.
SHARED_FLAG_MODULES = ("bert_flags",)


def run(main):
    """`app.run(main)`, with user errors reported as one line on stderr.

    Exit status 2 for user errors: `InputError` (bad config, checkpoint, vocabulary, data,
    TF_CONFIG), invalid flag values, a diverged training, and operating-system errors (a
    missing file, a read-only or full disk); 130 for Ctrl-C and 143 for SIGTERM during
    training (after a checkpoint), saying where the same command resumes; 1 when a worker of
    a multi-worker cluster was lost, naming it. Anything else is a bug and keeps its
    traceback.
    """
    def guarded(argv):
        prog = os.path.basename(sys.argv[0])

        def fail(message, status=2):
            # A temporary's name (`<file>.tmp-<pid>-<hex>`) means nothing to the user.
            sys.stderr.write(f"{prog}: {_TEMP_SUFFIX.sub('', message)}\n")
            sys.exit(status)

        try:
            result = main(argv)
            logging.info("%s", phases.summary(time.time() - runner_env.STARTED))
            return result
        except (InputError, TrainingDiverged, flags.ValidationError) as e:
            fail(f"error: {e}")
        except Preempted as e:
            fail(str(e), status=143)
        except cluster_lib.ClusterError as e:
            fail(f"error: {e}{_resume_hint()}", status=1)
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            fail(f"error: {where}{e.strerror or e}{_resume_hint()}")
        except tf.errors.OpError as e:
            lost = _lost_worker(e)
            if lost is not None:
                fail(f"error: {lost}{_resume_hint()}", status=1)
            if not _is_file_system_error(e):
                raise
            cause = e.message.strip().splitlines()[0] if e.message.strip() else str(e)
            fail(f"error: {cause}{_resume_hint()}")
        except KeyboardInterrupt:
            fail(f"interrupted{_resume_hint()}", status=130)
    app.run(guarded)


_TEMP_SUFFIX = re.compile(r"\.tmp-\d+-[0-9a-f]+")


_FILE_SYSTEM_CAUSES = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                       "Permission denied", "Not a directory", "Is a directory")


def _is_file_system_error(error):
    """Whether a TensorFlow error is the file system's (a full or read-only disk), not a bug."""
    return (isinstance(error, tf.errors.PermissionDeniedError) or
            any(cause in error.message for cause in _FILE_SYSTEM_CAUSES))


def _lost_worker(error):
    """The ClusterError for a TensorFlow error of a multi-worker run that lost a peer."""
    flag_values = flags.FLAGS
    if not (flag_values.is_parsed() and "distribution_strategy" in flag_values and
            strategy_name(flag_values) == "multi_worker_mirrored"):
        return None
    try:
        cluster = cluster_lib.read_cluster()
    except InputError:
        return None
    return cluster_lib.lost_worker(cluster, error) if cluster is not None else None


# A worker other than the chief writes into its scratch directory: this is output_dir.
_CHIEF_OUTPUT_DIR = []


def _resume_hint():
    """"; output_dir holds model.ckpt-N: the same command resumes from step N" for a
    training run with a checkpoint, else ""."""
    flag_values = flags.FLAGS
    if not (flag_values.is_parsed() and "do_train" in flag_values and flag_values.do_train
            and flag_values.output_dir):
        return ""
    output_dir = _CHIEF_OUTPUT_DIR[0] if _CHIEF_OUTPUT_DIR else flag_values.output_dir
    try:
        latest = tf.train.latest_checkpoint(output_dir)
    except (OSError, tf.errors.OpError):
        latest = None
    if not latest:
        return "; no checkpoint was saved yet: the same command starts again"
    step = latest.rsplit("-", 1)[-1]
    return (f"; {output_dir} holds {os.path.basename(latest)} (intact): the same "
            f"command resumes from step {step}")


def start_logging(flag_values):
    """INFO (the progress lines) unless --verbosity was given: --verbosity=1 adds the details
    (e.g. every variable a checkpoint load initialized), -1 leaves warnings only. Starts the
    run's record of time per phase (logged at its end by `run`)."""
    phases.reset()
    _JOINED.clear()  # an earlier main() of this process that failed before make_engine
    if not flag_values["verbosity"].present:
        logging.set_verbosity(logging.INFO)


# ---- flag checks ----


def check_flags(flag_values):
    """The checks every runner makes before reading a file: something to do, an output_dir
    that can be written, and flag values in range. Raises flags.ValidationError."""
    if not (flag_values.do_train or flag_values.do_eval or flag_values.do_predict or
            flag_values.export_dir):
        raise flags.ValidationError(
            "At least one of `do_train`, `do_eval`, `do_predict` or `export_dir` must be set.")
    if not flag_values.output_dir:
        raise flags.ValidationError("--output_dir is required")
    check_flag_ranges(flag_values)
    prepare_output_dir_and_cluster(flag_values)


def prepare_output_dir_and_cluster(flag_values):
    """After the flag checks, before any data is read: output_dir checked (and made) by the
    process that writes it, then the cluster joined (`join_cluster`)."""
    if writes_output_dir(flag_values):
        check_output_dir(flag_values.output_dir)
    join_cluster(flag_values)


# The multi_worker_mirrored strategy, made by join_cluster before make_engine takes it.
_JOINED = []


def join_cluster(flag_values):
    """multi_worker_mirrored: makes the strategy now, before the runner reads any data:
    TensorFlow can only configure a cluster's collectives before its runtime starts, and
    the first tf.data read or device listing starts it. Call it once the flags are checked;
    `make_engine` then uses this strategy."""
    if strategy_name(flag_values) == "multi_worker_mirrored" and not _JOINED:
        _JOINED.append(_create_strategy(flag_values))


def _create_strategy(flag_values):
    return create_strategy(strategy_name(flag_values), num_gpus=flag_values.num_gpus,
                           tpu_name=flag_values.tpu_name, tpu_zone=flag_values.tpu_zone,
                           gcp_project=flag_values.gcp_project,
                           worker_timeout_secs=flag_values.worker_timeout_secs)


def writes_output_dir(flag_values) -> bool:
    """Whether this process writes output_dir: yes, unless it is a worker other than the
    chief of a multi-worker run (it may not even exist yet there: the chief makes it).
    Raises InputError for a bad TF_CONFIG, before anything is read or written."""
    if strategy_name(flag_values) != "multi_worker_mirrored":
        return True
    cluster = cluster_lib.read_cluster()
    return cluster is None or cluster.is_chief


# (flag, check, what is expected); a flag is checked where a runner defines it.
_RANGES = (
    ("train_batch_size", lambda v: v >= 1, "at least 1"),
    ("eval_batch_size", lambda v: v >= 1, "at least 1"),
    ("predict_batch_size", lambda v: v >= 1, "at least 1"),
    ("learning_rate", lambda v: v > 0, "greater than 0"),
    ("num_train_epochs", lambda v: v > 0, "greater than 0"),
    ("warmup_proportion", lambda v: 0 <= v <= 1, "between 0 and 1"),
    ("save_checkpoints_steps", lambda v: v >= 1, "at least 1"),
    ("iterations_per_loop", lambda v: v >= 1, "at least 1"),
    ("log_every_n_steps", lambda v: v >= 1, "at least 1"),
    ("keep_checkpoint_max", lambda v: v >= 1, "at least 1"),
    ("gradient_accumulation_steps", lambda v: v >= 1, "at least 1"),
    ("num_gpus", lambda v: v is None or v >= 1, "at least 1 (or left out: all GPUs)"),
    ("worker_timeout_secs", lambda v: v >= 1, "at least 1"),
    ("pad_to_multiple_of", lambda v: v is None or v >= 1, "at least 1"),
    ("weight_decay_rate", lambda v: v >= 0, "0 or more"),
    ("adam_epsilon", lambda v: v > 0, "greater than 0"),
    ("clip_norm", lambda v: v >= 0, "0 (off) or more"),
    ("doc_stride", lambda v: v >= 1, "at least 1"),
    ("max_query_length", lambda v: v >= 1, "at least 1"),
    ("n_best_size", lambda v: v >= 1, "at least 1"),
    ("max_answer_length", lambda v: v >= 1, "at least 1"),
)


def check_flag_ranges(flag_values):
    """One flags.ValidationError naming the first flag out of its range."""
    for name, ok, expected in _RANGES:
        if name in flag_values and not ok(getattr(flag_values, name)):
            raise flags.ValidationError(f"--{name}={getattr(flag_values, name)}: expected "
                                        f"{expected}")


def check_output_dir(output_dir):
    """Creates output_dir, or raises flags.ValidationError when it cannot hold the run: a
    file is in the way, or it is not writable (read-only, no permission, missing disk)."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise flags.ValidationError(f"--output_dir={output_dir} is a file, not a directory")
    try:
        os.makedirs(output_dir, exist_ok=True)
        # os.access is not enough (root passes it on a read-only file system): write a file.
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=output_dir)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise flags.ValidationError(f"--output_dir={output_dir} cannot be written: "
                                    f"{e.strerror or e}") from None


def check_file_format(flag_values, formats):
    if flag_values.file_format is not None and flag_values.file_format not in formats:
        raise flags.ValidationError(f"--file_format={flag_values.file_format}: expected one "
                                    f"of {', '.join(formats)}")


def check_model_flags(flag_values, max_position_embeddings):
    """Raises flags.ValidationError when --max_seq_length does not fit the model."""
    if flag_values.max_seq_length < 3:
        raise flags.ValidationError(
            f"--max_seq_length={flag_values.max_seq_length}: need at least 3 "
            "([CLS], one token, [SEP])")
    if flag_values.max_seq_length > max_position_embeddings:
        raise flags.ValidationError(
            f"--max_seq_length={flag_values.max_seq_length} is longer than the model's "
            f"max_position_embeddings ({max_position_embeddings}, from --bert_config_file)")


def check_against_record(flag_values, record: RunRecord, names: Sequence[str]):
    """A flag given explicitly for a run without --do_train must agree with the trained model
    in output_dir (its run_config.json); raises flags.ValidationError naming it otherwise."""
    for name in names:
        if flag_values[name].present and getattr(flag_values, name) != record.flags.get(name):
            raise flags.ValidationError(
                f"--{name}={getattr(flag_values, name)} differs from the trained model in "
                f"--output_dir ({record.flags.get(name)}); leave it out")


def require_model_files(flag_values):
    """--bert_config_file and --vocab_file, needed unless output_dir holds a trained model."""
    missing = [n for n in ("bert_config_file", "vocab_file") if not getattr(flag_values, n)]
    if missing:
        raise flags.ValidationError(
            f"missing {', '.join('--' + m for m in missing)} (needed unless --output_dir "
            "holds a trained model)")


# ---- settings, model files, engine ----


def flag_values_dict(flag_values, module_names):
    """The values of the flags defined by the given modules (for run_config.json)."""
    values = {}
    for module in module_names:
        for flag in flag_values.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


@dataclasses.dataclass
class ResolvedRun:
    """What a runner runs with: from the flags (training) or the trained output_dir."""

    runner: str
    record: Optional[RunRecord]
    settings: Dict[str, Any]
    config: BertConfig
    bert_config_file: str
    vocab_file: str

    def trained_flag(self, flag_values, name):
        """--name (a flag whose default is None, e.g. a file) if given now, else its value
        in the training command; None if neither."""
        value = getattr(flag_values, name)
        if value is None and self.record is not None:
            value = self.record.flags.get(name)
        return value


def resolve_run(flag_values, runner: str, checked_flags: Sequence[str],
                new_settings: Callable[[], Dict[str, Any]]) -> ResolvedRun:
    """The run's settings and model files, checked against output_dir before anything is
    written there.

    Without --do_train, a trained output_dir decides: its runner, saved settings, config and
    vocabulary; a --bert_config_file / --vocab_file or a flag of `checked_flags` given
    explicitly must agree with them. With --do_train the settings come from `new_settings()`
    and the model files from the flags; a trained output_dir (one with a checkpoint) must
    have been trained with the same runner, config, vocabulary and settings.

    Raises:
        InputError, flags.ValidationError: one line naming what differs; nothing written.
    """
    record = load_run_record(flag_values.output_dir)
    if record is not None and record.trained_by != runner:
        raise InputError(
            f"--output_dir={flag_values.output_dir} holds a model trained by "
            f"{record.trained_by}.py, not {runner}.py: run {record.trained_by}.py on it, or "
            "use a new --output_dir")
    if record is not None and not flag_values.do_train:
        check_against_record(flag_values, record, checked_flags)
        config = BertConfig.from_json_file(flag_values.bert_config_file or
                                           record.bert_config_file)
        differences = run_differences(
            record, config=config if flag_values.bert_config_file else None,
            vocab_file=flag_values.vocab_file or None)
        if differences:
            raise InputError(f"--output_dir={flag_values.output_dir} holds a model trained "
                             f"with other files ({'; '.join(differences)}); leave "
                             "--bert_config_file and --vocab_file out to use its own")
        return ResolvedRun(runner, record, record.settings, config, record.bert_config_file,
                           record.vocab_file)
    require_model_files(flag_values)
    config = BertConfig.from_json_file(flag_values.bert_config_file)
    settings = new_settings()
    check_same_run(record, config=config, vocab_file=flag_values.vocab_file,
                   settings=settings)
    return ResolvedRun(runner, record, settings, config, flag_values.bert_config_file,
                       flag_values.vocab_file)


def start_run(flag_values, run: ResolvedRun,
              num_train_examples: int = 0) -> tokenization.FullTokenizer:
    """Checks --max_seq_length, the casing against the checkpoint and (training) that the
    data makes a step, loads the tokenizer and saves the run record (when training). Call it
    once every input the runner can check before training has been read and checked, and
    the engine made: it is the first step that writes to output_dir."""
    flag_values.max_seq_length = run.settings["max_seq_length"]
    check_model_flags(flag_values, run.config.max_position_embeddings)
    if flag_values.do_train:
        training_config(flag_values, num_train_examples)
    if flag_values.do_train and flag_values.init_checkpoint:
        tokenization.validate_case_matches_checkpoint(run.settings["do_lower_case"],
                                                      flag_values.init_checkpoint)
    tokenizer = load_tokenizer(run.vocab_file, run.settings["do_lower_case"], run.config)
    if flag_values.do_train:
        save_run_record(flag_values.output_dir, run.runner, run.config, run.vocab_file,
                        run.settings,
                        flag_values_dict(flag_values, [*SHARED_FLAG_MODULES, run.runner,
                                                       "__main__"]))
    return tokenizer


def load_tokenizer(vocab_file, do_lower_case, config):
    """The FullTokenizer, checked against the config's vocab_size."""
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    config.check_vocab_size(len(tokenizer.vocab), vocab_file)
    return tokenizer


def strategy_name(flag_values):
    """--use_tpu selects the tpu strategy, as the original flag did."""
    return "tpu" if flag_values.use_tpu else flag_values.distribution_strategy


def make_engine(flag_values, task, eval_batch_flag="eval_batch_size"):
    """Mixed precision, the distribution strategy and the Engine, from the flags.
    `eval_batch_flag`: the batch-size flag --do_eval runs with (run_squad: predict's)."""
    set_mixed_precision(flag_values.mixed_precision, task.config.hidden_size)
    strategy = _JOINED.pop() if _JOINED else _create_strategy(flag_values)
    engine = Engine(task, strategy, flag_values.output_dir, seed=flag_values.seed,
                    dynamic_padding=flag_values.dynamic_padding,
                    pad_to_multiple_of=flag_values.pad_to_multiple_of,
                    jit_compile=flag_values.use_xla)
    replicas = strategy.num_replicas_in_sync
    devices = ", ".join(getattr(strategy.extended, "worker_devices", ()))
    logging.info("Running on %s (%d replica%s)", devices or strategy_name(flag_values),
                 replicas, "" if replicas == 1 else "s")
    if not engine.is_chief:
        _write_to_scratch(flag_values, engine)
    # Every batch the run will use must split over the replicas: known now, not after training.
    for flag, wanted in (("train_batch_size", flag_values.do_train),
                         (eval_batch_flag, flag_values.do_eval),
                         ("predict_batch_size", "do_predict" in flag_values and
                          flag_values.do_predict)):
        if wanted:
            engine.check_batch_size(getattr(flag_values, flag), flag)
    return engine


def _write_to_scratch(flag_values, engine):
    """A worker other than the chief runs the whole job as the chief does, but everything it
    writes (features, run record, results, its export) goes to its scratch directory; it
    reads checkpoints from output_dir through the engine."""
    _CHIEF_OUTPUT_DIR[:] = [flag_values.output_dir]
    logging.info("%s writes into %s (removed at exit); the chief writes %s",
                 engine.cluster.me, engine.write_dir, flag_values.output_dir)
    flag_values.output_dir = engine.write_dir
    if "export_dir" in flag_values and flag_values.export_dir:
        flag_values.export_dir = os.path.join(engine.write_dir, "export")


# ---- features, training, results ----


def cached_features(flag_values, name: str, key: str, spec, make_features: Callable):
    """(dataset, count) of output_dir/<name>.tf_record, rebuilt only when `key` (the
    `fingerprint` of what made the features: examples or file digest, vocabulary, settings)
    changes."""
    path = os.path.join(flag_values.output_dir, f"{name}.tf_record")
    with phases.timed("features"):
        return cached_dataset(path, key, spec, make_features)


def training_config(flag_values, num_examples):
    """TrainingConfig from the flags; steps = int(examples / batch * epochs) as the original.

    Raises:
        InputError: the data and flags make no training step.
    """
    num_train_steps = int(num_examples / flag_values.train_batch_size *
                          flag_values.num_train_epochs)
    if num_train_steps < 1:
        raise InputError(f"{num_examples} training examples, --train_batch_size="
                         f"{flag_values.train_batch_size} and --num_train_epochs="
                         f"{flag_values.num_train_epochs} make no training step")
    return steps_training_config(flag_values, num_train_steps,
                                 int(num_train_steps * flag_values.warmup_proportion))


def steps_training_config(flag_values, num_train_steps, num_warmup_steps):
    """TrainingConfig from the engine flags and the given step counts (run_pretraining's
    --num_train_steps / --num_warmup_steps; the fine-tuning runners' from epochs)."""
    return TrainingConfig(
        train_batch_size=flag_values.train_batch_size, num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
        learning_rate=flag_values.learning_rate,
        save_checkpoints_steps=flag_values.save_checkpoints_steps,
        keep_checkpoint_max=flag_values.keep_checkpoint_max,
        iterations_per_loop=flag_values.iterations_per_loop,
        log_every_n_steps=flag_values.log_every_n_steps, seed=flag_values.seed,
        gradient_accumulation_steps=flag_values.gradient_accumulation_steps,
        optimizer=flag_values.optimizer,
        weight_decay_rate=flag_values.weight_decay_rate,
        adam_epsilon=flag_values.adam_epsilon,
        clip_norm=flag_values.clip_norm if flag_values.clip_norm > 0 else None)


def train_or_restore(flag_values, engine, num_examples: int, train_features: Callable) -> int:
    """--do_train: trains (resuming from output_dir) on `train_features()` -> (dataset, count);
    else restores the trained model. Returns the global step of the model now loaded."""
    if not flag_values.do_train:
        return engine.restore(flag_values.init_checkpoint, required=True)
    config = training_config(flag_values, num_examples)
    dataset, count = train_features()
    logging.info("***** Running training: %d examples (%d features), batch %d, %d steps *****",
                 num_examples, count, config.train_batch_size, config.num_train_steps)
    return engine.train(dataset, config,
                        init_checkpoint=flag_values.init_checkpoint)["global_step"]


def report_eval(engine, output_dir, results, global_step):
    """eval_results.txt (sorted `key = value` lines), TensorBoard scalars and the log."""
    write_eval_results(os.path.join(output_dir, "eval_results.txt"), results)
    engine.write_summaries("eval", {k: v for k, v in results.items() if k != "global_step"},
                           global_step)
    logging.info("***** Eval results *****")
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
