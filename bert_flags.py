"""absl flags shared by the runners, defined once with the original names and defaults.

Only runner scripts import this module; the library takes explicit arguments.
"""

import os
import sys

from absl import app, flags

from bert_tf.errors import InputError, TrainingDiverged


def _defined(name):
    return name in flags.FLAGS


def define_model_flags(max_seq_length=128):
    """--bert_config_file, --vocab_file, --init_checkpoint, --do_lower_case, --max_seq_length.

    Idempotent, so several runners can be imported in one process (the tests do); the last
    runner imported sets the --max_seq_length default.
    """
    if _defined("bert_config_file"):
        flags.FLAGS.set_default("max_seq_length", max_seq_length)
        return
    flags.DEFINE_string("bert_config_file", None,
                        "The config json file corresponding to the pre-trained BERT model. "
                        "This specifies the model architecture.")
    flags.DEFINE_string("vocab_file", None,
                        "The vocabulary file that the BERT model was trained on.")
    flags.DEFINE_string("init_checkpoint", None,
                        "Initial checkpoint (usually from a pre-trained BERT model): an "
                        "original checkpoint prefix/file/directory or a Hugging Face model "
                        "directory.")
    flags.DEFINE_bool("do_lower_case", True,
                      "Whether to lower case the input text. Should be True for uncased "
                      "models and False for cased models.")
    flags.DEFINE_integer("max_seq_length", max_seq_length,
                         "The maximum total input sequence length after WordPiece "
                         "tokenization. Longer sequences are truncated, shorter padded.")


def define_tpu_flags():
    """The original's TPU flags, so old command lines parse. Idempotent."""
    if _defined("use_tpu"):
        return
    flags.DEFINE_bool("use_tpu", False, "Whether to use TPU or GPU/CPU.")
    flags.DEFINE_string("tpu_name", None,
                        "The Cloud TPU to use for training. This should be either the name "
                        "used when creating the Cloud TPU, or a grpc://ip.address.of.tpu:8470 "
                        "url.")
    flags.DEFINE_string("tpu_zone", None,
                        "[Optional] GCE zone where the Cloud TPU is located in. If not "
                        "specified, we will attempt to automatically detect the GCE project "
                        "from metadata.")
    flags.DEFINE_string("gcp_project", None,
                        "[Optional] Project name for the Cloud TPU-enabled project. If not "
                        "specified, we will attempt to automatically detect the GCE project "
                        "from metadata.")
    flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
    flags.DEFINE_integer("num_tpu_cores", 8,
                         "Only used if `use_tpu` is True. Total number of TPU cores to use.")


def define_training_flags():
    """The original runners' training flags and the engine's new ones. Idempotent."""
    if _defined("do_train"):
        return
    define_tpu_flags()
    flags.DEFINE_string("output_dir", None, "The output directory where the model "
                        "checkpoints, features and results will be written.")
    flags.DEFINE_bool("do_train", False, "Whether to run training.")
    flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
    flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the "
                      "test set.")
    flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
    flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
    flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
    flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training to perform linear "
                       "learning rate warmup for. E.g., 0.1 = 10% of training.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000,
                         "How often to save the model checkpoint.")
    flags.DEFINE_integer("iterations_per_loop", 1000,
                         "How many steps to make in each estimator call (here: at most this "
                         "many steps per compiled loop).")
    # New flags (the original had none for these).
    flags.DEFINE_enum("distribution_strategy", "one_device",
                      ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                      "tf.distribute strategy; --use_tpu selects tpu.")
    flags.DEFINE_integer("num_gpus", None, "GPUs for the mirrored strategy (default: all).")
    flags.DEFINE_enum("mixed_precision", "", ["", "bf16", "fp16", "auto"],
                      "Mixed precision: bf16, or fp16 with dynamic loss scaling; empty for "
                      "float32; auto: bf16 on GPUs (compute capability 8.0+) and CPUs "
                      "(AVX512_BF16/AMX) that run it natively, fp16 on older GPUs, else "
                      "float32. LayerNorm, softmax and the loss stay float32.")
    flags.DEFINE_bool("dynamic_padding", True,
                      "Cut each batch to its longest example (rounded up to "
                      "--pad_to_multiple_of) and group examples by length; outputs are the "
                      "same and in input order. Always off with the tpu strategy.")
    flags.DEFINE_integer("pad_to_multiple_of", None,
                         "Round dynamic-padding lengths up to a multiple of this (default 8; "
                         "16 with --use_xla: each new length is a new XLA compilation).")
    flags.DEFINE_bool("use_xla", False,
                      "Compile the forward/backward pass with XLA (jit_compile).")
    flags.DEFINE_integer("gradient_accumulation_steps", 1,
                         "Run each replica's share of --train_batch_size in this many "
                         "micro-batches and sum their gradients: the same update as the "
                         "whole batch, with the activation memory of one micro-batch.")
    flags.DEFINE_integer("seed", 12345, "Seed for initialization, data order and dropout.")
    flags.DEFINE_integer("keep_checkpoint_max", 5, "How many recent checkpoints to keep.")
    flags.DEFINE_integer("log_every_n_steps", 50, "Steps between progress lines.")
    flags.DEFINE_float("classifier_dropout", 0.1, "Dropout on the encoder output before the "
                       "task head while training (the original classifier: 0.1).")
    flags.DEFINE_string("export_dir", None, "Where to write a SavedModel of the fine-tuned "
                        "model (after training / for the trained output_dir).")


def define_data_flags():
    """Data location flags shared by the runners (run_classifier's custom tasks, run_ner).
    Idempotent."""
    if _defined("data_dir"):
        return
    flags.DEFINE_string("data_dir", None, "The input data dir. Should contain the .tsv files "
                        "(or other data files) for the task.")
    flags.DEFINE_string("train_file", None, "Training file (default: found in --data_dir).")
    flags.DEFINE_string("dev_file", None, "Dev file (default: found in --data_dir).")
    flags.DEFINE_string("test_file", None, "Test file (default: found in --data_dir).")
    flags.DEFINE_string("file_format", None, "Data file format, default inferred from each "
                        "file. run_classifier: tsv, csv, jsonl; run_ner: conll, two_column, "
                        "words_only, jsonl.")
    flags.DEFINE_list("labels", None, "Comma-separated label list, in model output order "
                      "(default: --label_file, else inferred from the training file).")
    flags.DEFINE_string("label_file", None, "File with one label per line.")


def define_window_flags(doc_stride):
    """--doc_stride (run_squad: 128, as the original; run_ner: 64). Idempotent; the last
    runner imported sets the default."""
    if _defined("doc_stride"):
        flags.FLAGS.set_default("doc_stride", doc_stride)
        return
    flags.DEFINE_integer("doc_stride", doc_stride, "When splitting up a long document (or "
                         "sentence) into chunks, how much stride to take between chunks.")


def check_file_format(flag_values, formats):
    if flag_values.file_format is not None and flag_values.file_format not in formats:
        raise flags.ValidationError(f"--file_format={flag_values.file_format}: expected one "
                                    f"of {', '.join(formats)}")


def strategy_name(flag_values):
    """--use_tpu selects the tpu strategy, as the original flag did."""
    return "tpu" if flag_values.use_tpu else flag_values.distribution_strategy


def flag_values_dict(flag_values, module_names):
    """The values of the flags defined by the given modules (for run_config.json)."""
    values = {}
    for module in module_names:
        for flag in flag_values.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


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


def load_tokenizer(vocab_file, do_lower_case, config):
    """The FullTokenizer, checked against the config's vocab_size."""
    from bert_tf import tokenization
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
    config.check_vocab_size(len(tokenizer.vocab), vocab_file)
    return tokenizer


def training_config(flag_values, num_examples):
    """TrainingConfig from the flags; steps = int(examples / batch * epochs) as the original.

    Raises:
        InputError: the data and flags make no training step.
    """
    from bert_tf.training import TrainingConfig
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
        gradient_accumulation_steps=flag_values.gradient_accumulation_steps)


def make_engine(flag_values, task):
    """Mixed precision, the distribution strategy and the Engine, from the flags."""
    from bert_tf.training import Engine, create_strategy, set_mixed_precision
    set_mixed_precision(flag_values.mixed_precision)
    strategy = create_strategy(strategy_name(flag_values), num_gpus=flag_values.num_gpus,
                               tpu_name=flag_values.tpu_name, tpu_zone=flag_values.tpu_zone,
                               gcp_project=flag_values.gcp_project)
    return Engine(task, strategy, flag_values.output_dir, seed=flag_values.seed,
                  dynamic_padding=flag_values.dynamic_padding,
                  pad_to_multiple_of=flag_values.pad_to_multiple_of,
                  jit_compile=flag_values.use_xla)


def check_do_flags(flag_values):
    if not (flag_values.do_train or flag_values.do_eval or flag_values.do_predict or
            flag_values.export_dir):
        raise flags.ValidationError(
            "At least one of `do_train`, `do_eval`, `do_predict` or `export_dir` must be set.")
    if not flag_values.output_dir:
        raise flags.ValidationError("--output_dir is required")


def check_against_record(flag_values, record, names):
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


def report_eval(engine, output_dir, results, global_step):
    """eval_results.txt (sorted `key = value` lines), TensorBoard scalars and the log."""
    from absl import logging
    from bert_tf.results import write_eval_results
    write_eval_results(os.path.join(output_dir, "eval_results.txt"), results)
    engine.write_summaries("eval", {k: v for k, v in results.items() if k != "global_step"},
                           global_step)
    logging.info("***** Eval results *****")
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
