"""Run BERT on SQuAD 1.1 and SQuAD 2.0, with the official scoring built in (--do_eval).

The flags and defaults of the original run_squad.py, plus the engine's. SQuAD 1.1:

    python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_train=True \
      --train_file=$SQUAD_DIR/train-v1.1.json --do_predict=True \
      --predict_file=$SQUAD_DIR/dev-v1.1.json --do_eval=True --train_batch_size=12 \
      --learning_rate=3e-5 --num_train_epochs=2.0 --max_seq_length=384 --doc_stride=128 \
      --output_dir=/tmp/squad_base/
"""

import os

from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.data import squad
from bert_tf.data.tfrecord import file_digest, fingerprint
from bert_tf.files import write_json
from bert_tf.metrics.squad import read_squad_answers, squad_evaluate
from bert_tf.outputs.squad import RawResult, compute_predictions, write_predictions
from bert_tf.tasks.squad import SQUAD_DROPOUT_PROB, SquadTask
from bert_tf.text_signatures import text_module_for

FLAGS = flags.FLAGS

bert_flags.define_model_flags(max_seq_length=384)
bert_flags.define_training_flags(classifier_dropout=SQUAD_DROPOUT_PROB)
bert_flags.define_data_flags()  # --train_file
bert_flags.define_window_flags(doc_stride=128)
flags.DEFINE_string("predict_file", None,
                    "SQuAD json for predictions. E.g., dev-v1.1.json or test-v1.1.json")
flags.DEFINE_integer("max_query_length", 64, "The maximum number of tokens for the question. "
                     "Questions longer than this will be truncated to this length.")
flags.DEFINE_integer("n_best_size", 20, "The total number of n-best predictions to generate "
                     "in the nbest_predictions.json output file.")
flags.DEFINE_integer("max_answer_length", 30, "The maximum length of an answer that can be "
                     "generated.")
flags.DEFINE_bool("verbose_logging", False, "If true, all of the warnings related to data "
                  "processing will be printed.")
flags.DEFINE_bool("version_2_with_negative", False, "If true, the SQuAD examples contain "
                  "some that do not have an answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "If null_score - best_non_null is "
                   "greater than the threshold predict null.")
# --help lists the shared flags (--output_dir, --learning_rate, ...) with this file's own.
flags.adopt_module_key_flags(bert_flags)

# Bump when the features' layout changes, so old caches are rebuilt.
_FEATURES_VERSION = 1


def main(_):
    runner_steps.start_logging(FLAGS)
    runner_steps.check_flags(FLAGS)
    if FLAGS.do_train and not FLAGS.train_file:
        raise flags.ValidationError("If `do_train` is True, then `train_file` must be "
                                    "specified.")
    if (FLAGS.do_predict or FLAGS.do_eval) and not FLAGS.predict_file:
        raise flags.ValidationError("If `do_predict` or `do_eval` is True, then "
                                    "`predict_file` must be specified.")
    run = runner_steps.resolve_run(
        FLAGS, "run_squad", ("max_seq_length", "do_lower_case"),
        lambda: {"max_seq_length": FLAGS.max_seq_length, "do_lower_case": FLAGS.do_lower_case})
    max_seq_length, do_lower_case = run.settings["max_seq_length"], run.settings["do_lower_case"]
    if max_seq_length <= FLAGS.max_query_length + 3:
        raise flags.ValidationError(
            f"The max_seq_length ({max_seq_length}) must be greater than max_query_length "
            f"({FLAGS.max_query_length}) + 3")
    # Both files are read and checked now, before training (which may take hours).
    train_examples = predict_examples = None
    if FLAGS.do_train:
        train_examples = squad.read_squad_examples(FLAGS.train_file, is_training=True,
                                                   version_2_with_negative=FLAGS.
                                                   version_2_with_negative)
    if FLAGS.do_predict or FLAGS.do_eval:
        predict_examples = squad.read_squad_examples(FLAGS.predict_file, is_training=False,
                                                     version_2_with_negative=FLAGS.
                                                     version_2_with_negative)
        answers = read_squad_answers(FLAGS.predict_file) if FLAGS.do_eval else None
    task = SquadTask(run.config, FLAGS.classifier_dropout)
    engine = runner_steps.make_engine(FLAGS, task, eval_batch_flag="predict_batch_size")
    tokenizer = runner_steps.start_run(FLAGS, run, len(train_examples or ()))
    spec = squad.feature_spec(max_seq_length)
    vocab_digest = file_digest(run.vocab_file)

    def cached(name, source_file, features):
        key = fingerprint(_FEATURES_VERSION, file_digest(source_file), vocab_digest,
                          max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length,
                          do_lower_case, FLAGS.version_2_with_negative, name)
        return runner_steps.cached_features(FLAGS, name, key, spec,
                                            lambda: squad.feature_dicts(features()))

    global_step = runner_steps.train_or_restore(
        FLAGS, engine, len(train_examples or ()), lambda: cached(
            "train", FLAGS.train_file, lambda: squad.convert_examples_to_features(
                train_examples, tokenizer, max_seq_length, FLAGS.doc_stride,
                FLAGS.max_query_length, is_training=True)))

    if FLAGS.do_predict or FLAGS.do_eval:
        examples = predict_examples
        features = squad.convert_examples_to_features(
            examples, tokenizer, max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length,
            is_training=False)
        dataset, count = cached("predict", FLAGS.predict_file, lambda: features)
        outputs, _ = engine.predict(dataset, count, FLAGS.predict_batch_size, "predict")
        results = [RawResult(f.unique_id, outputs["start_logits"][i].tolist(),
                             outputs["end_logits"][i].tolist())
                   for i, f in enumerate(features)]
        predictions, nbest, null_odds = compute_predictions(
            examples, features, results, n_best_size=FLAGS.n_best_size,
            max_answer_length=FLAGS.max_answer_length, do_lower_case=do_lower_case,
            version_2_with_negative=FLAGS.version_2_with_negative,
            null_score_diff_threshold=FLAGS.null_score_diff_threshold,
            verbose_logging=FLAGS.verbose_logging)
        write_predictions(FLAGS.output_dir, predictions, nbest,
                          null_odds if FLAGS.version_2_with_negative else None)
        logging.info("Wrote predictions.json and nbest_predictions.json for %d questions",
                     len(predictions))
        if FLAGS.do_eval:
            metrics = squad_evaluate(answers, predictions,
                                     null_odds if FLAGS.version_2_with_negative else None)
            metrics["global_step"] = global_step
            write_json(os.path.join(FLAGS.output_dir, "eval_results.json"), metrics)
            logging.info("***** Eval results *****")
            for key in sorted(metrics):
                logging.info("  %s = %s", key, metrics[key])

    if FLAGS.export_dir:
        engine.export(FLAGS.export_dir, text_module_for(
            "run_squad", run.settings, run.vocab_file, FLAGS.doc_stride,
            max_query_length=FLAGS.max_query_length, n_best_size=FLAGS.n_best_size,
            max_answer_length=FLAGS.max_answer_length,
            version_2_with_negative=FLAGS.version_2_with_negative,
            null_score_diff_threshold=FLAGS.null_score_diff_threshold))


if __name__ == "__main__":
    runner_steps.run(main)
