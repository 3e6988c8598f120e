"""The steps every runner takes, written once: flags -> settings -> model files -> engine ->
train or restore -> report. Runners (and only runners) import this; it reads the flags that
bert_flags.py defines and calls the library with explicit arguments.

A runner's main() is:

    record, settings, bert_config_file, vocab_file = resolve_run(FLAGS, checked, new_settings)
    config, tokenizer = start_run(FLAGS, settings, bert_config_file, vocab_file, __name__)
    engine = make_engine(FLAGS, task)
    global_step = train_or_restore(FLAGS, engine, num_train_examples, train_features)
    ... eval / predict with the task's own outputs ...
"""

import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from absl import app, flags, logging

from bert_tf import tokenization
from bert_tf.config import BertConfig
from bert_tf.data.tfrecord import cached_dataset
from bert_tf.errors import InputError, TrainingDiverged
from bert_tf.outputs.glue import write_eval_results
from bert_tf.run_record import RunRecord, load_run_record, save_run_record
from bert_tf.training import Engine, TrainingConfig, create_strategy, set_mixed_precision

# The modules whose flags are saved in run_config.json: the shared ones and the runner's.
SHARED_FLAG_MODULES = ("bert_flags",)


def run(main):
    """`app.run(main)`, with user errors reported as one line on stderr and exit status 2.

    User errors: `InputError` (bad config, checkpoint, vocabulary, data), missing files and
    invalid flag values. Anything else is a bug and keeps its traceback.
    """
    def guarded(argv):
        try:
            return main(argv)
        except (InputError, TrainingDiverged, FileNotFoundError, IsADirectoryError,
                flags.ValidationError) as e:
            sys.stderr.write(f"{os.path.basename(sys.argv[0])}: error: {e}\n")
            sys.exit(2)
    app.run(guarded)


# ---- flag checks ----


def check_do_flags(flag_values):
    if not (flag_values.do_train or flag_values.do_eval or flag_values.do_predict or
            flag_values.export_dir):
        raise flags.ValidationError(
            "At least one of `do_train`, `do_eval`, `do_predict` or `export_dir` must be set.")
    if not flag_values.output_dir:
        raise flags.ValidationError("--output_dir is required")


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


def resolve_run(flag_values, checked_flags: Sequence[str],
                new_settings: Callable[[], Dict[str, Any]]
                ) -> Tuple[Optional[RunRecord], Dict[str, Any], str, str]:
    """(record, settings, bert_config_file, vocab_file) of this run.

    Without --do_train, a trained output_dir decides: its saved settings, config and
    vocabulary (a --bert_config_file / --vocab_file given explicitly is used instead), and
    each flag of `checked_flags` given explicitly must agree with what it was trained with.
    Otherwise the settings come from `new_settings()` and the model files from the flags.
    """
    record = load_run_record(flag_values.output_dir)
    if record is not None and not flag_values.do_train:
        check_against_record(flag_values, record, checked_flags)
        return (record, record.settings, flag_values.bert_config_file or record.bert_config_file,
                flag_values.vocab_file or record.vocab_file)
    require_model_files(flag_values)
    return record, new_settings(), flag_values.bert_config_file, flag_values.vocab_file


def start_run(flag_values, settings: Dict[str, Any], bert_config_file: str, vocab_file: str,
              runner_module: str) -> Tuple[BertConfig, tokenization.FullTokenizer]:
    """Reads the config, checks --max_seq_length and the casing against the checkpoint, saves
    the run record (when training) and loads the tokenizer. Call it once every input the
    runner can check before training has been checked: it is the first step that writes."""
    config = BertConfig.from_json_file(bert_config_file)
    flag_values.max_seq_length = settings["max_seq_length"]
    check_model_flags(flag_values, config.max_position_embeddings)
    if flag_values.do_train and flag_values.init_checkpoint:
        tokenization.validate_case_matches_checkpoint(settings["do_lower_case"],
                                                      flag_values.init_checkpoint)
    tokenizer = load_tokenizer(vocab_file, settings["do_lower_case"], config)
    if flag_values.do_train:
        save_run_record(flag_values.output_dir, config, vocab_file, settings,
                        flag_values_dict(flag_values, [*SHARED_FLAG_MODULES, runner_module,
                                                       "__main__"]))
    return config, tokenizer


def load_tokenizer(vocab_file, do_lower_case, config):
    """The FullTokenizer, checked against the config's vocab_size."""
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    config.check_vocab_size(len(tokenizer.vocab), vocab_file)
    return tokenizer


def strategy_name(flag_values):
    """--use_tpu selects the tpu strategy, as the original flag did."""
    return "tpu" if flag_values.use_tpu else flag_values.distribution_strategy


def make_engine(flag_values, task):
    """Mixed precision, the distribution strategy and the Engine, from the flags."""
    set_mixed_precision(flag_values.mixed_precision)
    strategy = create_strategy(strategy_name(flag_values), num_gpus=flag_values.num_gpus,
                               tpu_name=flag_values.tpu_name, tpu_zone=flag_values.tpu_zone,
                               gcp_project=flag_values.gcp_project)
    return Engine(task, strategy, flag_values.output_dir, seed=flag_values.seed,
                  dynamic_padding=flag_values.dynamic_padding,
                  pad_to_multiple_of=flag_values.pad_to_multiple_of,
                  jit_compile=flag_values.use_xla)


# ---- features, training, results ----


def cached_features(flag_values, name: str, key: str, spec, make_features: Callable):
    """(dataset, count) of output_dir/<name>.tf_record, rebuilt only when `key` (the
    `fingerprint` of what made the features: examples or file digest, vocabulary, settings)
    changes."""
    path = os.path.join(flag_values.output_dir, f"{name}.tf_record")
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
    return TrainingConfig(
        train_batch_size=flag_values.train_batch_size, num_train_steps=num_train_steps,
        num_warmup_steps=int(num_train_steps * flag_values.warmup_proportion),
        learning_rate=flag_values.learning_rate,
        save_checkpoints_steps=flag_values.save_checkpoints_steps,
        keep_checkpoint_max=flag_values.keep_checkpoint_max,
        iterations_per_loop=flag_values.iterations_per_loop,
        log_every_n_steps=flag_values.log_every_n_steps, seed=flag_values.seed,
        gradient_accumulation_steps=flag_values.gradient_accumulation_steps,
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
