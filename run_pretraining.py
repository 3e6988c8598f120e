"""Masked-LM (and next-sentence) pretraining of BERT, as the original run_pretraining.py, on
tf.distribute instead of TPUEstimator.

The original's flags and defaults (an old command line runs unchanged) plus the engine's
(strategies, mixed precision, XLA, gradient accumulation, seed, checkpoints kept, exact resume)
and --masked_lm_only / --optimizer. Reads the records create_pretraining_data.py writes (ours
or the original's); further pretraining from a released checkpoint restores its `cls/` heads
too, and every checkpoint it writes is an --init_checkpoint for the fine-tuning runners.

    python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord \\
      --output_dir=/tmp/pretraining_output --do_train=True --do_eval=True \\
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \\
      --train_batch_size=32 --max_seq_length=128 --max_predictions_per_seq=20 \\
      --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5
"""

import os

import numpy as np
from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.config import BertConfig
from bert_tf.data.pretraining_records import check_records, eval_records, training_records
from bert_tf.data.tfrecord import tfrecord_files
from bert_tf.metrics.pretraining import pretraining_metrics
from bert_tf.run_record import check_same_run, load_run_record, save_run_record
from bert_tf.tasks.pretraining import PretrainingTask

FLAGS = flags.FLAGS
RUNNER = "run_pretraining"

bert_flags.define_pretraining_flags()
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")
flags.DEFINE_bool("masked_lm_only", False, "Train the masked LM alone, without the "
                  "next-sentence loss (as RoBERTa); the next-sentence head keeps the weights "
                  "it was loaded with, and eval reports the masked-LM metrics only.")
# --help lists the shared flags (--output_dir, --learning_rate, ...) with this file's own.
flags.adopt_module_key_flags(bert_flags)

_RANGES = (("num_train_steps", lambda v: v >= 1, "at least 1"),
           ("num_warmup_steps", lambda v: v >= 0, "0 or more"),
           ("max_eval_steps", lambda v: v >= 1, "at least 1"),
           ("max_predictions_per_seq", lambda v: v >= 1, "at least 1"))


def _check_flags():
    if not FLAGS.do_train and not FLAGS.do_eval:
        raise flags.ValidationError("At least one of `do_train` or `do_eval` must be True.")
    for name in ("bert_config_file", "input_file", "output_dir"):
        if not FLAGS[name].value:
            raise flags.ValidationError(f"--{name} is required")
    runner_steps.check_flag_ranges(FLAGS)
    for name, ok, expected in _RANGES:
        if not ok(FLAGS[name].value):
            raise flags.ValidationError(f"--{name}={FLAGS[name].value}: expected {expected}")


def _settings():
    """What defines the trained model (checked when output_dir already holds one)."""
    return {"max_seq_length": FLAGS.max_seq_length,
            "max_predictions_per_seq": FLAGS.max_predictions_per_seq,
            "masked_lm_only": FLAGS.masked_lm_only}


def _evaluate(engine, global_step):
    """The original's eval: --max_eval_steps batches of the input files read in order."""
    num_examples = FLAGS.max_eval_steps * FLAGS.eval_batch_size
    dataset = eval_records(FLAGS.input_file, FLAGS.max_seq_length,
                           FLAGS.max_predictions_per_seq, num_examples)
    outputs, loss = engine.predict(dataset, num_examples, FLAGS.eval_batch_size, "eval")
    records = {name: np.stack([r[name] for r in dataset.as_numpy_iterator()])
               for name in ("masked_lm_ids", "masked_lm_weights", "next_sentence_labels")}
    next_sentence = {}
    if not FLAGS.masked_lm_only:
        next_sentence = dict(next_sentence_labels=records["next_sentence_labels"],
                             next_sentence_predictions=outputs["next_sentence_predictions"],
                             next_sentence_example_loss=outputs["next_sentence_example_loss"])
    results = pretraining_metrics(records["masked_lm_ids"], records["masked_lm_weights"],
                                  outputs["masked_lm_predictions"],
                                  outputs["masked_lm_example_loss"], **next_sentence)
    results.update(global_step=global_step, loss=loss)
    runner_steps.report_eval(engine, FLAGS.output_dir, results, global_step)


def main(_):
    runner_steps.start_logging(FLAGS)
    _check_flags()
    runner_steps.prepare_output_dir_and_cluster(FLAGS)
    config = BertConfig.from_json_file(FLAGS.bert_config_file)
    runner_steps.check_model_flags(FLAGS, config.max_position_embeddings)
    if FLAGS.vocab_file:
        runner_steps.load_tokenizer(FLAGS.vocab_file, True, config)
    # The run's inputs are checked before anything is written or trained.
    check_same_run(load_run_record(FLAGS.output_dir), runner=RUNNER, config=config,
                   vocab_file=FLAGS.vocab_file, settings=_settings())
    check_records(tfrecord_files(FLAGS.input_file), FLAGS.max_seq_length,
                  FLAGS.max_predictions_per_seq)
    task = PretrainingTask(config, next_sentence=not FLAGS.masked_lm_only)
    engine = runner_steps.make_engine(FLAGS, task)

    if FLAGS.do_train:
        training = runner_steps.steps_training_config(FLAGS, FLAGS.num_train_steps,
                                                      FLAGS.num_warmup_steps)
        save_run_record(FLAGS.output_dir, RUNNER, config, FLAGS.vocab_file, _settings(),
                        runner_steps.flag_values_dict(
                            FLAGS, [*runner_steps.SHARED_FLAG_MODULES, RUNNER, "__main__"]))
        dataset = training_records(FLAGS.input_file, FLAGS.max_seq_length,
                                   FLAGS.max_predictions_per_seq, FLAGS.seed)
        logging.info("***** Running training: batch %d, %d steps *****",
                     FLAGS.train_batch_size, FLAGS.num_train_steps)
        global_step = engine.train(dataset, training,
                                   init_checkpoint=FLAGS.init_checkpoint)["global_step"]
    else:
        global_step = engine.restore(FLAGS.init_checkpoint, required=True)

    if FLAGS.do_eval:
        _evaluate(engine, global_step)
    logging.info("Checkpoints in %s", os.path.abspath(FLAGS.output_dir))


if __name__ == "__main__":
    runner_steps.run(main)
