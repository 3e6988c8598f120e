"""The TFRecord feature cache: written once, reused for the same fingerprint, rebuilt for
another, read back in order with the spec's dtypes, from one file, a glob or a comma list."""

import hashlib

import numpy as np
import pytest

from bert_tf.data.tfrecord import (cached_dataset, cached_tfrecord, file_digest, fingerprint,
                                   read_tfrecord, tfrecord_files)
from bert_tf.errors import InputError

SPEC = {"input_ids": ("int", (4,)), "score": ("float", ())}


def _features(n, offset=0):
    return [{"input_ids": [i + offset, 1, 2, 0], "score": 0.5 * i} for i in range(n)]


def _read(path):
    return [{k: v.numpy() for k, v in r.items()} for r in read_tfrecord(path, SPEC)]


def test_cache_is_reused_for_the_same_key_and_rebuilt_for_another(tmp_path):
    path = str(tmp_path / "train.tf_record")
    calls = []

    def make(n):
        return lambda: calls.append(n) or _features(n)

    assert cached_tfrecord(path, "key-1", SPEC, make(3)) == 3
    assert cached_tfrecord(path, "key-1", SPEC, make(5)) == 3  # reused: not rebuilt
    assert calls == [3]
    dataset, count = cached_dataset(path, "key-2", SPEC, make(5))
    assert (count, calls) == (5, [3, 5])
    records = [{k: v.numpy() for k, v in r.items()} for r in dataset]
    assert [r["input_ids"].tolist() for r in records] == [[i, 1, 2, 0] for i in range(5)]
    assert records[0]["input_ids"].dtype == np.int32 and records[3]["score"] == 1.5
    assert records[3]["score"].dtype == np.float32


def test_sharded_inputs_glob_and_comma_list_keep_their_order(tmp_path):
    for shard, offset in (("b", 10), ("a", 0)):
        cached_tfrecord(str(tmp_path / f"part-{shard}.tf_record"), shard, SPEC,
                        lambda offset=offset: _features(2, offset))
    first = [r["input_ids"][0] for r in _read(str(tmp_path / "part-*.tf_record"))]
    assert first == [0, 1, 10, 11]  # glob matches sorted: a before b
    listed = f"{tmp_path / 'part-b.tf_record'}, {tmp_path / 'part-a.tf_record'}"
    assert [r["input_ids"][0] for r in _read(listed)] == [10, 11, 0, 1]
    assert len(tfrecord_files(str(tmp_path / "part-?.tf_record"))) == 2


def test_missing_input_is_named(tmp_path):
    with pytest.raises(InputError, match="nothing-.*: no TFRecord file found"):
        tfrecord_files(str(tmp_path / "nothing-*.tf_record"))
    with pytest.raises(InputError, match="absent.tf_record: no TFRecord file found"):
        tfrecord_files(f"{tmp_path}/absent.tf_record")


def test_fingerprint_and_file_digest(tmp_path):
    assert fingerprint(1, ["a", {"b": 2}]) == fingerprint(1, ["a", {"b": 2}])
    assert fingerprint(1, ["a"]) != fingerprint(1, ["b"])
    assert fingerprint("ab", "c") != fingerprint("a", "bc")  # parts are separated
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\n")
    assert file_digest(str(path)) == hashlib.sha256(b"[PAD]\n[UNK]\n").hexdigest()
