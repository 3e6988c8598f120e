"""Create masked-LM / next-sentence pretraining records, as the original
`create_pretraining_data.py` (the same flags; the same records for the same input and seed).

    python create_pretraining_data.py --input_file=./sample_text.txt \
      --output_file=/tmp/tf_examples.tfrecord --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --do_lower_case=True --max_seq_length=128 --max_predictions_per_seq=20 \
      --masked_lm_prob=0.15 --random_seed=12345 --dupe_factor=5

Input: one sentence per line, a blank line between documents.
"""

import os
import random

from absl import flags, logging

import bert_flags
import runner_env  # noqa: F401  (before TensorFlow loads: its C++ log settings)
import runner_steps
from bert_tf.data.pretraining_data import (RecordEncoder, check_vocab,
                                           create_records_in_processes,
                                           create_training_instances, input_files_of,
                                           read_documents, write_instances, write_records)
from bert_tf.errors import InputError
from bert_tf.tokenization import FullTokenizer

FLAGS = flags.FLAGS

bert_flags.define_pretraining_data_flags()
# --help lists the flags bert_flags.py defines with this file's own.
flags.adopt_module_key_flags(bert_flags)
flags.DEFINE_integer(
    "num_workers", 1, "Processes that make the instances. 1 (the default) makes the original's "
    "records. More splits the documents over that many processes, each with its own random "
    "stream seeded from --random_seed: the output is the same for the same seed and "
    "--num_workers on every run, but other records than --num_workers=1 makes (the same "
    "rules and statistics, other random draws and order).")
for _name in ("input_file", "output_file", "vocab_file"):
    flags.mark_flag_as_required(_name)


def _check_flags():
    if FLAGS.max_seq_length < 5:
        raise flags.ValidationError(f"--max_seq_length={FLAGS.max_seq_length}: must be at least "
                                    "5 ([CLS] A [SEP] B [SEP])")
    for name in ("max_predictions_per_seq", "dupe_factor", "num_workers"):
        if FLAGS[name].value < 1:
            raise flags.ValidationError(f"--{name}={FLAGS[name].value}: must be at least 1")
    for name in ("masked_lm_prob", "short_seq_prob"):
        if not 0.0 <= FLAGS[name].value <= 1.0:
            raise flags.ValidationError(f"--{name}={FLAGS[name].value}: must be in [0, 1]")
    if FLAGS.whole_word_mask_choice_per_word and not FLAGS.do_whole_word_mask:
        raise flags.ValidationError("--whole_word_mask_choice_per_word needs "
                                    "--do_whole_word_mask")


def _output_files(value):
    files = [p.strip() for p in value.split(",") if p.strip()]
    if not files:
        raise flags.ValidationError("--output_file: no file named")
    if len(set(files)) != len(files):
        raise flags.ValidationError(f"--output_file={value}: a file is named twice")
    for path in files:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise flags.ValidationError(f"--output_file: the directory {directory} of {path} "
                                        "does not exist")
    return files


def main(_):
    runner_steps.start_logging(FLAGS)
    _check_flags()
    output_files = _output_files(FLAGS.output_file)
    tokenizer = FullTokenizer(FLAGS.vocab_file, do_lower_case=FLAGS.do_lower_case)
    try:
        check_vocab(tokenizer.vocab)
    except InputError as e:
        raise InputError(f"{FLAGS.vocab_file}: {e}") from None
    input_files = input_files_of(FLAGS.input_file)
    logging.info("Reading from %s", ", ".join(input_files))
    documents = read_documents(input_files, tokenizer)
    if not documents:
        raise InputError(f"--input_file={FLAGS.input_file}: no text in "
                         f"{', '.join(input_files)} (no line tokenizes to a word-piece)")
    instance_args = dict(
        max_seq_length=FLAGS.max_seq_length, short_seq_prob=FLAGS.short_seq_prob,
        masked_lm_prob=FLAGS.masked_lm_prob,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
        whole_word_mask_choice_per_word=FLAGS.whole_word_mask_choice_per_word)
    vocab_words = list(tokenizer.vocab.keys())
    if FLAGS.num_workers == 1:
        instances = create_training_instances(
            documents, vocab_words, dupe_factor=FLAGS.dupe_factor,
            rng=random.Random(FLAGS.random_seed), **instance_args)
        write_instances(instances, tokenizer, FLAGS.max_seq_length,
                        FLAGS.max_predictions_per_seq, output_files)
    else:
        encoder = RecordEncoder(tokenizer.vocab, FLAGS.max_seq_length,
                                FLAGS.max_predictions_per_seq)
        records = create_records_in_processes(
            documents, vocab_words, encoder, num_workers=FLAGS.num_workers,
            random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor, **instance_args)
        write_records(records, output_files)

if __name__ == "__main__":
    runner_steps.run(main)
