"""Reading pretraining records (create_pretraining_data.py's, ours or the original's) for
run_pretraining, as the original's `input_fn_builder` reads them.

Training reads the files interleaved, a few at a time, in an order reshuffled every pass over
them (seeded, so a resumed run sees the same batches); the engine then shuffles the records.
Evaluation reads the files in order, over and over, as the original (it evaluates a fixed
number of batches). Every feature keeps its fixed length: the masked positions are never cut.
"""

from typing import List

import tensorflow as tf

from bert_tf.data.pretraining_data import feature_spec
from bert_tf.data.tfrecord import parse_records, tfrecord_files
from bert_tf.errors import InputError

# Files read at once while training: the original's min(num_cpu_threads=4, files).
INTERLEAVED_FILES = 4


def check_records(files: List[str], max_seq_length: int, max_predictions_per_seq: int) -> None:
    """Reads the first record of each file and checks its features against the flags.

    Raises:
        InputError: a file is empty, not TFRecord, lacks a feature or has other lengths,
            naming the file, the feature and the flag to change.
    """
    expected = feature_spec(max_seq_length, max_predictions_per_seq)
    flag_of = {"input_ids": "max_seq_length", "input_mask": "max_seq_length",
               "segment_ids": "max_seq_length", "masked_lm_positions": "max_predictions_per_seq",
               "masked_lm_ids": "max_predictions_per_seq",
               "masked_lm_weights": "max_predictions_per_seq"}
    for path in files:
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
        except tf.errors.DataLossError:
            raise InputError(f"{path}: not a TFRecord file (make it with "
                             "create_pretraining_data.py)") from None
        if first is None:
            raise InputError(f"{path}: holds no record")
        example = tf.train.Example.FromString(first.numpy())
        features = example.features.feature
        for name, (_, shape) in expected.items():
            if name not in features:
                raise InputError(f"{path}: the records have no '{name}' feature: not "
                                 "pretraining records (make them with "
                                 "create_pretraining_data.py)")
            feature = features[name]
            length = len(feature.int64_list.value) or len(feature.float_list.value)
            if length != shape[0]:
                flag = flag_of.get(name)
                hint = f"; run with --{flag}={length}" if flag else ""
                raise InputError(f"{path}: '{name}' has length {length}, expected "
                                 f"{shape[0]}{hint} (the value the records were made with)")


def training_records(input_file: str, max_seq_length: int, max_predictions_per_seq: int,
                     seed: int) -> tf.data.Dataset:
    """One pass over the records of `input_file` (a file, glob or comma list), files
    interleaved: unbatched dicts of int32 / float32 tensors. Repeating it reshuffles the
    file order (seeded by `seed`)."""
    files = tfrecord_files(input_file)
    check_records(files, max_seq_length, max_predictions_per_seq)
    records = (tf.data.Dataset.from_tensor_slices(files)
               .shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
               .interleave(tf.data.TFRecordDataset,
                           cycle_length=min(INTERLEAVED_FILES, len(files)), block_length=1))
    return parse_records(records, feature_spec(max_seq_length, max_predictions_per_seq))


def eval_records(input_file: str, max_seq_length: int, max_predictions_per_seq: int,
                 num_examples: int) -> tf.data.Dataset:
    """The first `num_examples` records of `input_file`'s files read in order and repeated,
    as the original evaluates `max_eval_steps` batches of them."""
    files = tfrecord_files(input_file)
    check_records(files, max_seq_length, max_predictions_per_seq)
    records = tf.data.TFRecordDataset(files).repeat().take(num_examples)
    return parse_records(records, feature_spec(max_seq_length, max_predictions_per_seq))
