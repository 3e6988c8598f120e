"""BERT finetuning runner for named-entity recognition (token classification).

Your own label list without editing code: --labels=O,B-Product,I-Product,... or
--label_file, else the tags of the training file. CoNLL-2003, two-column (`word tag`),
one-character-per-line (Chinese) and JSONL files; IOB1, IOB2 (BIO) or IOBES; --use_crf for a
CRF on top. For example, CoNLL-2003:

    python run_ner.py --do_train=true --do_eval=true --do_predict=true \
      --data_dir=$CONLL_DIR --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_lower_case=false \
      --max_seq_length=128 --train_batch_size=32 --learning_rate=5e-5 \
      --num_train_epochs=3.0 --output_dir=/tmp/conll_output/
"""

import functools
import os

from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.data import ner
from bert_tf.data.ner_features import (Window, convert_examples_to_features, feature_spec,
                                       predictions_per_word)
from bert_tf.data.tfrecord import file_digest, fingerprint
from bert_tf.files import read_json, write_json
from bert_tf.metrics.ner import ner_metrics
from bert_tf.outputs.ner import write_conll_predictions, write_entities_jsonl
from bert_tf.tasks.ner import TokenClassificationTask
from bert_tf.text_signatures import text_module_for

FLAGS = flags.FLAGS

bert_flags.define_model_flags(max_seq_length=128)
bert_flags.define_training_flags()
bert_flags.define_data_flags()
flags.DEFINE_string("tagging_scheme", "IOB2", "IOB1, IOB2 (= BIO) or IOBES.")
flags.DEFINE_bool("use_crf", False, "A linear-chain CRF on top of the token classifier.")
flags.DEFINE_bool("label_all_subtokens", False, "Label every word-piece, not only each "
                  "word's first (the BERT paper's choice).")
bert_flags.define_window_flags(doc_stride=64)
# --help lists the shared flags (--output_dir, --learning_rate, ...) with this file's own.
flags.adopt_module_key_flags(bert_flags)

# Bump when the features' layout changes, so old caches are rebuilt.
_FEATURES_VERSION = 1


def _split_path(split, run=None):
    """--<split>_file, else the one in --data_dir; for a trained output_dir without either,
    those of its training command."""
    given = run.trained_flag(FLAGS, f"{split}_file") if run else getattr(FLAGS, f"{split}_file")
    if given:
        return given
    data_dir = run.trained_flag(FLAGS, "data_dir") if run else FLAGS.data_dir
    if not data_dir:
        raise flags.ValidationError(f"give --{split}_file or --data_dir")
    return ner.find_split_file(data_dir, split)


def _new_settings(train_examples):
    """The model settings of a training run, from the flags and the training file."""
    scheme = ner.normalize_scheme(FLAGS.tagging_scheme)
    labels = ner.resolve_labels(labels=FLAGS.labels, label_file=FLAGS.label_file,
                                train_examples=train_examples, scheme=scheme)
    ner.check_labels(labels, scheme)
    return {"labels": labels, "tagging_scheme": scheme, "use_crf": FLAGS.use_crf,
            "label_all_subtokens": FLAGS.label_all_subtokens,
            "max_seq_length": FLAGS.max_seq_length, "do_lower_case": FLAGS.do_lower_case}


def main(_):
    runner_steps.start_logging(FLAGS)
    runner_steps.check_flags(FLAGS)
    runner_steps.check_file_format(FLAGS, ner.FILE_FORMATS)
    train_examples = ner.read_ner_file(_split_path("train"), FLAGS.file_format) \
        if FLAGS.do_train else None
    run = runner_steps.resolve_run(
        FLAGS, "run_ner", ("max_seq_length", "do_lower_case", "tagging_scheme", "use_crf"),
        lambda: _new_settings(train_examples))
    settings = run.settings
    labels, max_seq_length = settings["labels"], settings["max_seq_length"]
    label_map = {label: i for i, label in enumerate(labels)}
    # Every file the run reads is read and checked now, before training (which may take hours).
    if FLAGS.do_train:
        ner.check_tags(train_examples, labels)
    dev_examples = test_examples = None
    if FLAGS.do_eval:
        dev_examples = ner.read_ner_file(_split_path("dev", run), FLAGS.file_format)
        ner.check_tags(dev_examples, labels)
    if FLAGS.do_predict:
        test_examples = ner.read_ner_file(_split_path("test", run), FLAGS.file_format)
        ner.check_tags([e for e in test_examples if e.tags is not None], labels)
    task = TokenClassificationTask(run.config, len(labels), settings["use_crf"],
                                   FLAGS.classifier_dropout)
    engine = runner_steps.make_engine(FLAGS, task)
    tokenizer = runner_steps.start_run(FLAGS, run, len(train_examples or ()))
    spec = feature_spec(max_seq_length)
    vocab_digest = file_digest(run.vocab_file)

    def features(name, examples):
        """The cached TFRecord of a split, its count and the windows that map it back to
        words (saved beside it, under the same fingerprint)."""
        key = fingerprint(_FEATURES_VERSION, [(e.words, e.tags) for e in examples], labels,
                          max_seq_length, FLAGS.doc_stride, settings["do_lower_case"],
                          settings["label_all_subtokens"], vocab_digest)
        windows_path = os.path.join(FLAGS.output_dir, f"{name}.tf_record.windows.json")

        def convert():
            return convert_examples_to_features(
                [e.words for e in examples], [e.tags for e in examples], label_map,
                max_seq_length, FLAGS.doc_stride, tokenizer, settings["label_all_subtokens"],
                functools.partial(ner.continuation_tag, labels=labels))

        saved = read_json(windows_path) if os.path.exists(windows_path) else {}
        if saved.get("key") == key:
            windows = [Window(i, [tuple(p) for p in positions])
                       for i, positions in saved["windows"]]
            dataset, count = runner_steps.cached_features(FLAGS, name, key, spec,
                                                          lambda: convert()[0])
        else:
            feats, windows = convert()
            dataset, count = runner_steps.cached_features(FLAGS, name, key, spec,
                                                          lambda: feats)
            write_json(windows_path, {"key": key, "windows": [
                [w.example_index, w.word_positions] for w in windows]})
        return dataset, count, windows

    global_step = runner_steps.train_or_restore(
        FLAGS, engine, len(train_examples or ()), lambda: features("train", train_examples)[:2])

    def predict(name, examples, batch_size):
        dataset, count, windows = features(name, examples)
        outputs, loss = engine.predict(dataset, count, batch_size,
                                       "eval" if name == "dev" else "predict")
        ids = predictions_per_word(windows, outputs["label_ids"],
                                   [len(e.words) for e in examples])
        return [[labels[i] for i in sentence] for sentence in ids], loss

    if FLAGS.do_eval:
        examples = dev_examples
        predicted, loss = predict("dev", examples, FLAGS.eval_batch_size)
        results = ner_metrics([e.tags for e in examples], predicted)
        results.update(eval_loss=loss, loss=loss, global_step=global_step)
        runner_steps.report_eval(engine, FLAGS.output_dir, results, global_step)

    if FLAGS.do_predict:
        examples = test_examples
        predicted, _ = predict("test", examples, FLAGS.predict_batch_size)
        words = [e.words for e in examples]
        write_conll_predictions(os.path.join(FLAGS.output_dir, "test_predictions.txt"), words,
                                [e.tags for e in examples], predicted)
        # Character-level files (Chinese, one character per line) join entity text with "".
        joiner = "" if all(len(w) == 1 and ord(w) >= 0x2E80 for s in words for w in s) else " "
        write_entities_jsonl(os.path.join(FLAGS.output_dir, "test_entities.jsonl"), words,
                             predicted, joiner=joiner)
        logging.info("Wrote test_predictions.txt and test_entities.jsonl (%d sentences)",
                     len(examples))

    if FLAGS.export_dir:
        engine.export(FLAGS.export_dir, text_module_for("run_ner", settings, run.vocab_file,
                                                        FLAGS.doc_stride))


if __name__ == "__main__":
    runner_steps.run(main)
