"""BERT finetuning runner for sentence(-pair) classification and regression.

The flags of the original run_classifier.py (an old command line runs unchanged) plus the
engine's (distribution strategy, mixed precision, seed, checkpoints kept, export) and the
custom-task flags (--task_name=custom). For example, MRPC:

    python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 \
      --output_dir=/tmp/mrpc_output/
"""

import os

import numpy as np
from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.data.classifier_features import convert_examples_to_features, feature_spec
from bert_tf.data.custom_task import FILE_FORMATS, CustomTaskProcessor, processor_from_dict
from bert_tf.data.glue import get_processor
from bert_tf.data.tfrecord import file_digest, fingerprint
from bert_tf.metrics.glue import task_metrics
from bert_tf.outputs.glue import write_test_results
from bert_tf.tasks.classification import ClassificationTask
from bert_tf.text_signatures import text_module_for

FLAGS = flags.FLAGS

flags.DEFINE_string("task_name", None, "The name of the task to train: a GLUE task (cola, "
                    "sst-2, mrpc, sts-b, qqp, mnli, qnli, rte, wnli), xnli, or custom.")
bert_flags.define_model_flags(max_seq_length=128)
bert_flags.define_training_flags()
bert_flags.define_data_flags()
# Custom tasks (--task_name=custom): your own TSV/CSV/JSONL files, no code.
flags.DEFINE_string("text_a_column", None, "Custom task: column name (header), 0-based "
                    "index (no header) or JSONL field of the first text.")
flags.DEFINE_string("text_b_column", None, "Custom task: column/field of the second text "
                    "(sentence pairs).")
flags.DEFINE_string("label_column", None, "Custom task: column/field of the label or score.")
flags.DEFINE_string("index_column", None, "Custom task: optional id column for predictions.")
flags.DEFINE_bool("has_header", True, "Custom task: TSV/CSV files start with a header line.")
flags.DEFINE_enum("task_type", "classification", ["classification", "regression"],
                  "Custom task: classification or regression (one score).")
flags.DEFINE_string("xnli_language", "zh", "XNLI: the language to train and evaluate on.")
# --help lists the shared flags (--output_dir, --learning_rate, ...) with this file's own.
flags.adopt_module_key_flags(bert_flags)

# Settings that define the trained model; saved in output_dir and reused by later runs.
# 2: an empty text_b is one sequence, as the original (was a pair with an empty b).
_FEATURES_VERSION = 2


def _column(value):
    """A column flag: an int index for files without a header, else the name."""
    if value is not None and not FLAGS.has_header and value.lstrip("-").isdigit():
        return int(value)
    return value


def _processor_from_flags():
    name = (FLAGS.task_name or "").lower()
    if name == "custom":
        runner_steps.check_file_format(FLAGS, FILE_FORMATS)
        if not FLAGS.text_a_column or not FLAGS.label_column:
            raise flags.ValidationError("--task_name=custom needs --text_a_column and "
                                        "--label_column")
        return CustomTaskProcessor(
            text_a_column=_column(FLAGS.text_a_column), label_column=_column(FLAGS.label_column),
            text_b_column=_column(FLAGS.text_b_column),
            index_column=_column(FLAGS.index_column), data_dir=FLAGS.data_dir,
            train_file=FLAGS.train_file, dev_file=FLAGS.dev_file, test_file=FLAGS.test_file,
            file_format=FLAGS.file_format, has_header=FLAGS.has_header, labels=FLAGS.labels,
            label_file=FLAGS.label_file, task_type=FLAGS.task_type)
    if name == "xnli":
        return get_processor(name, language=FLAGS.xnli_language)
    return get_processor(name)


def _settings(processor):
    """The model settings of a training run (saved in output_dir's run record)."""
    labels = [] if processor.is_regression else processor.get_labels()
    return {"task": processor.to_dict(), "labels": labels,
            "is_regression": processor.is_regression,
            "max_seq_length": FLAGS.max_seq_length, "do_lower_case": FLAGS.do_lower_case}


def _trained_processor(settings):
    """The processor a trained output_dir saved, with --data_dir and --dev_file/--test_file
    given now taking precedence."""
    processor = processor_from_dict(settings["task"])
    if isinstance(processor, CustomTaskProcessor):
        processor.data_dir = FLAGS.data_dir or processor.data_dir
        for split in ("dev", "test"):
            given = getattr(FLAGS, f"{split}_file")
            processor.files[split] = given or processor.files[split]
    return processor


def _metric_kind(processor):
    if isinstance(processor, CustomTaskProcessor):
        return processor.task_type
    return processor.task_name


def _result_suffix(index, set_name):
    """'' for the first eval/test set (the original's file and key names), else e.g.
    '_mismatched' for dev_mismatched / test_mismatched."""
    if index == 0:
        return ""
    return "_" + set_name.split("_", 1)[-1]


def _data_dir(run, processor):
    """--data_dir, else the training command's; InputError for a GLUE/XNLI task with none."""
    data_dir = run.trained_flag(FLAGS, "data_dir")
    if not data_dir and not isinstance(processor, CustomTaskProcessor) and (
            FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict):
        raise flags.ValidationError(f"--task_name={processor.task_name} reads its .tsv files "
                                    "from --data_dir: give --data_dir")
    return data_dir


def main(_):
    runner_steps.start_logging(FLAGS)
    runner_steps.check_flags(FLAGS)
    built = {}

    def new_settings():
        if not FLAGS.task_name:
            raise flags.ValidationError("missing --task_name (needed unless --output_dir "
                                        "holds a trained model)")
        built["processor"] = _processor_from_flags()
        return _settings(built["processor"])

    run = runner_steps.resolve_run(FLAGS, "run_classifier",
                                   ("max_seq_length", "do_lower_case", "task_name"),
                                   new_settings)
    settings = run.settings
    processor = built.get("processor") or _trained_processor(settings)
    max_seq_length, do_lower_case = settings["max_seq_length"], settings["do_lower_case"]
    labels, is_regression = settings["labels"], settings["is_regression"]
    # Every file the run reads is read and checked now, before training (which may take hours).
    data_dir = _data_dir(run, processor)
    train_examples = processor.get_train_examples(data_dir) if FLAGS.do_train else None
    eval_sets = processor.get_eval_sets(data_dir) if FLAGS.do_eval else {}
    test_sets = processor.get_test_sets(data_dir) if FLAGS.do_predict else {}
    task = ClassificationTask(run.config, len(labels), is_regression, FLAGS.classifier_dropout)
    engine = runner_steps.make_engine(FLAGS, task)
    tokenizer = runner_steps.start_run(FLAGS, run, len(train_examples or ()))
    spec = feature_spec(max_seq_length, is_regression)
    vocab_digest = file_digest(run.vocab_file)

    def features(name, examples):
        key = fingerprint(_FEATURES_VERSION, [(e.guid, e.text_a, e.text_b, e.label)
                                              for e in examples],
                          labels, max_seq_length, do_lower_case, vocab_digest)
        return runner_steps.cached_features(FLAGS, name, key, spec, lambda: (
            convert_examples_to_features(examples, labels or None, max_seq_length, tokenizer)))

    global_step = runner_steps.train_or_restore(
        FLAGS, engine, len(train_examples or ()), lambda: features("train", train_examples))

    if FLAGS.do_eval:
        results = {"global_step": global_step}
        for i, (name, examples) in enumerate(eval_sets.items()):
            dataset, count = features(name, examples)
            outputs, loss = engine.predict(dataset, count, FLAGS.eval_batch_size, "eval")
            if is_regression:
                truth, predicted = [float(e.label) for e in examples], outputs["score"]
            else:
                truth = [labels.index(e.label) for e in examples]
                predicted = np.argmax(outputs["probabilities"], axis=-1)
            metrics = task_metrics(_metric_kind(processor), truth, predicted, label_list=labels)
            metrics["eval_loss"] = loss
            suffix = _result_suffix(i, name)
            results.update({key.replace("eval_", f"eval{suffix}_", 1): value
                            for key, value in metrics.items()})
            if i == 0:
                results["loss"] = loss  # the original reports the Estimator's mean loss too
        runner_steps.report_eval(engine, FLAGS.output_dir, results, global_step)

    if FLAGS.do_predict:
        for i, (name, examples) in enumerate(test_sets.items()):
            dataset, count = features(name, examples)
            outputs, _ = engine.predict(dataset, count, FLAGS.predict_batch_size, "predict")
            suffix = _result_suffix(i, name)
            values = outputs["score"] if is_regression else outputs["probabilities"]
            write_test_results(os.path.join(FLAGS.output_dir, f"test_results{suffix}.tsv"),
                               values)
            predicted = (list(values) if is_regression else
                         [labels[j] for j in np.argmax(values, axis=-1)])
            submission_dir = os.path.join(FLAGS.output_dir, "submission")
            os.makedirs(submission_dir, exist_ok=True)
            processor.write_submission(
                os.path.join(submission_dir, processor.submission_file_name(name)), examples,
                predicted)
            logging.info("Wrote predictions for %s (%d examples)", name, count)

    if FLAGS.export_dir:
        engine.export(FLAGS.export_dir, text_module_for("run_classifier", settings,
                                                        run.vocab_file))


if __name__ == "__main__":
    runner_steps.run(main)
