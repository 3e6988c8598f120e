"""Features cached as TFRecord files in output_dir, as the original runners do.

Beside `name.tf_record` sits `name.tf_record.json` with the fingerprint of what made it
(examples, vocabulary, max_seq_length, labels, ...) and the record count. A cache whose
fingerprint matches is reused; any change rebuilds it. Both files are written under temporary
names and renamed into place, the fingerprint last, so an interrupted conversion is redone.
"""

import hashlib
import json
import os
from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

# file_digest: re-exported for the modules that import it from here.
from bert_tf.files import atomic_path, file_digest, matching_files, write_json  # noqa: F401

# name -> (dtype, shape): "int" features are stored as int64 and read back as int32.
FeatureSpec = Dict[str, Tuple[str, Tuple[int, ...]]]


def fingerprint(*parts) -> str:
    """A stable hash of JSON-serializable parts (example texts, settings, file digests)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False,
                                 default=str).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _example_proto(features: Dict[str, np.ndarray], spec: FeatureSpec) -> bytes:
    feature = {}
    for name, (dtype, _) in spec.items():
        values = np.asarray(features[name]).reshape(-1)
        if dtype == "int":
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString()


def cached_tfrecord(path: str, key: str, spec: FeatureSpec,
                    make_features: Callable[[], Iterable[Dict[str, np.ndarray]]]) -> int:
    """Returns the record count of `path`, (re)building it with `make_features()` unless
    its fingerprint file says it was made from the same `key`."""
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("fingerprint") == key:
            logging.info("Reusing cached features %s (%d records)", path, meta["num_records"])
            return meta["num_records"]
    count = 0
    with atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        for features in make_features():
            writer.write(_example_proto(features, spec))
            count += 1
    write_json(meta_path, {"fingerprint": key, "num_records": count})
    logging.info("Wrote %d records to %s", count, path)
    return count


def tfrecord_files(path: str) -> List[str]:
    """The files of `path`: one file, a glob, or a comma-separated list of either; each
    glob's matches sorted, the list's order kept.

    Raises:
        InputError: a part matches no file.
    """
    return matching_files(path, "TFRecord file")


def parse_records(records: tf.data.Dataset, spec: FeatureSpec) -> tf.data.Dataset:
    """Serialized tf.train.Examples -> dicts of int32 / float32 tensors (int64 features are
    read back as int32, as the original runners do), in order."""
    parse_spec = {name: tf.io.FixedLenFeature(shape, tf.int64 if dtype == "int" else tf.float32)
                  for name, (dtype, shape) in spec.items()}

    def parse(record):
        example = tf.io.parse_single_example(record, parse_spec)
        return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
                for name, value in example.items()}

    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def read_tfrecord(path: str, spec: FeatureSpec) -> tf.data.Dataset:
    """The records of `path` (a file, glob or comma list: `tfrecord_files`), in order, as
    dicts of int32 / float32 tensors."""
    return parse_records(tf.data.TFRecordDataset(tfrecord_files(path)), spec)


def cached_dataset(path: str, key: str, spec: FeatureSpec,
                   make_features: Callable[[], Iterable[Dict[str, np.ndarray]]]
                   ) -> Tuple[tf.data.Dataset, int]:
    """`cached_tfrecord` then `read_tfrecord`: (the records as a dataset, their count)."""
    count = cached_tfrecord(path, key, spec, make_features)
    return read_tfrecord(path, spec), count
