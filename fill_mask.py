"""Fill in [MASK]s and score next sentences with a pretraining checkpoint's heads.

    python fill_mask.py --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \\
      --bert_config_file=$BERT_BASE_DIR/bert_config.json --vocab_file=$BERT_BASE_DIR/vocab.txt \\
      --text="The man went to the [MASK] to buy a gallon of milk." \\
      --text="The man went to the store. ||| He bought a gallon of milk."

A text is one line; "A ||| B" is a sentence pair, which also gets P(B follows A). Texts come
from --text (repeatable) or --input_file (one per line); one JSON line per text goes to
--output_file or standard output:

    {"text": ..., "text_b": ..., "tokens": [...], "masks": [[{"token": "store",
     "probability": 0.83}, ...], ...], "is_next_probability": 0.99}

--init_checkpoint may be a run_pretraining output_dir or a Hugging Face directory, whose own
config and vocabulary are used unless --bert_config_file / --vocab_file are given.
"""

import json
import os
import sys

from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.files import atomic_open
from bert_tf.fill_mask import MaskedLMPredictor

FLAGS = flags.FLAGS

bert_flags.define_model_flags(max_seq_length=128)
bert_flags.define_once("string", "input_file", None,
                       "Input text: one sentence, or `A ||| B`, per line.")
bert_flags.define_once("string", "output_file", None, "Output JSON-lines file.")
bert_flags.define_once("integer", "batch_size", 8, "Batch size for predictions.")
flags.DEFINE_multi_string("text", None, "A text with [MASK]s, or a pair `A ||| B` "
                          "(repeatable).")
flags.DEFINE_integer("top_k", 5, "Word-pieces listed per [MASK], most likely first.")
flags.adopt_module_key_flags(bert_flags)

PAIR_SEPARATOR = " ||| "


def _texts():
    """(line number or None, text) of --text and --input_file, in order."""
    texts = [(None, t) for t in FLAGS.text or ()]
    if FLAGS.input_file:
        with open(FLAGS.input_file, encoding="utf-8") as f:
            texts += [(i, line.rstrip("\n")) for i, line in enumerate(f, 1) if line.strip()]
    if not texts:
        raise flags.ValidationError("nothing to predict: give --text or --input_file")
    return texts


def main(_):
    runner_steps.start_logging(FLAGS)
    if not FLAGS.init_checkpoint:
        raise flags.ValidationError("--init_checkpoint is required")
    for name in ("top_k", "batch_size"):
        if FLAGS[name].value < 1:
            raise flags.ValidationError(f"--{name}={FLAGS[name].value}: must be at least 1")
    texts = _texts()
    if FLAGS.output_file:
        directory = os.path.dirname(os.path.abspath(FLAGS.output_file))
        if not os.path.isdir(directory):
            raise flags.ValidationError(f"--output_file={FLAGS.output_file}: the directory "
                                        f"{directory} does not exist")
    predictor = MaskedLMPredictor.from_files(FLAGS.bert_config_file, FLAGS.vocab_file,
                                             FLAGS.init_checkpoint, FLAGS.do_lower_case,
                                             FLAGS.max_seq_length)
    runner_steps.check_model_flags(FLAGS, predictor.model.config.max_position_embeddings)
    firsts, seconds = [], []
    for _, text in texts:
        first, separator, second = text.partition(PAIR_SEPARATOR)
        firsts.append(first)
        seconds.append(second if separator else None)
    predictions = predictor.predict(firsts, seconds, top_k=FLAGS.top_k,
                                    batch_size=FLAGS.batch_size)
    lines = []
    for first, second, prediction in zip(firsts, seconds, predictions):
        record = {"text": first}
        if second is not None:
            record["text_b"] = second
        record["tokens"] = prediction.tokens
        record["masks"] = [[{"token": t, "probability": round(p, 6)} for t, p in fillers]
                           for fillers in prediction.masks]
        if prediction.is_next_probability is not None:
            record["is_next_probability"] = round(prediction.is_next_probability, 6)
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    if FLAGS.output_file:
        with atomic_open(FLAGS.output_file) as f:
            f.writelines(lines)
        logging.info("Wrote %d predictions to %s", len(lines), FLAGS.output_file)
    else:
        sys.stdout.writelines(lines)


if __name__ == "__main__":
    runner_steps.run(main)
