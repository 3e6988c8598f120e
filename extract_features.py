"""Extract pre-computed feature vectors from BERT, as the original `extract_features.py`.

    python extract_features.py --input_file=input.txt --output_file=output.jsonl \
      --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
      --max_seq_length=128 --batch_size=8

One sentence per input line, or a pair as `sentence A ||| sentence B`.
"""

import os

from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.data.feature_extraction import read_examples
from bert_tf.extraction import extract_features, parse_layer_indexes
from bert_tf.weights.pretrained import load_pretrained

FLAGS = flags.FLAGS

# define_once: create_pretraining_data.py has these too (the tests import both).
bert_flags.define_once("string", "input_file", None,
                       "Input text: one sentence, or `A ||| B`, per line.")
bert_flags.define_once("string", "output_file", None, "Output JSON-lines file.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Indexes of the encoder layers to output.")
bert_flags.define_once("integer", "batch_size", 32, "Batch size for predictions.")
flags.DEFINE_bool("use_one_hot_embeddings", False,
                  "Accepted for compatibility; the embedding lookup is exact either way.")
bert_flags.define_model_flags(max_seq_length=128)
bert_flags.define_tpu_flags()
# --help lists the shared flags (--output_dir, --learning_rate, ...) with this file's own.
flags.adopt_module_key_flags(bert_flags)
for _name in ("input_file", "output_file", "bert_config_file", "vocab_file", "init_checkpoint"):
    flags.mark_flag_as_required(_name)


def main(_):
    runner_steps.start_logging(FLAGS)
    if FLAGS.use_tpu:
        raise flags.ValidationError("--use_tpu: extract_features.py runs on CPU/GPU; the TPU "
                                    "strategy comes with the training engine")
    # The input and the output's directory are checked before the model is loaded.
    examples = read_examples(FLAGS.input_file)
    output_dir = os.path.dirname(os.path.abspath(FLAGS.output_file))
    if not os.path.isdir(output_dir):
        raise flags.ValidationError(f"--output_file={FLAGS.output_file}: the directory "
                                    f"{output_dir} does not exist")
    pretrained = load_pretrained(FLAGS.bert_config_file, FLAGS.vocab_file,
                                 FLAGS.init_checkpoint, FLAGS.do_lower_case)
    runner_steps.check_model_flags(FLAGS, pretrained.config.max_position_embeddings)
    layer_indexes = parse_layer_indexes(FLAGS.layers, pretrained.config.num_hidden_layers)
    if FLAGS.batch_size < 1:
        raise flags.ValidationError(f"--batch_size={FLAGS.batch_size}: must be at least 1")
    extract_features(pretrained.model, pretrained.tokenizer, examples, layer_indexes,
                     FLAGS.max_seq_length, FLAGS.batch_size, FLAGS.output_file)


if __name__ == "__main__":
    runner_steps.run(main)
