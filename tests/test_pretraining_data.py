"""create_pretraining_data: the original's records (goldens it wrote), the rules of pairs and
masking checked by hand, bad input, and the runner end to end."""

import json
import math
import os
import pathlib
import random
import subprocess
import sys

import pytest
import tensorflow as tf
from absl import flags

import create_pretraining_data
from bert_tf.data import pretraining_data as ptd
from bert_tf.errors import InputError
from bert_tf.tokenization import FullTokenizer
from tests.conftest import run_main

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "pretraining"
NAMES = ["input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
         "masked_lm_weights", "next_sentence_labels"]


def _decode(path):
    """The records of a TFRecord file as dicts of lists; checks each feature's dtype."""
    out = []
    for record in tf.data.TFRecordDataset(str(path)):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        assert sorted(feature) == sorted(NAMES)
        instance = {}
        for name in NAMES:
            kind = "float_list" if name == "masked_lm_weights" else "int64_list"
            assert feature[name].WhichOneof("kind") == kind, name
            instance[name] = list(getattr(feature[name], kind).value)
        out.append(instance)
    return out


def _no_temps(directory):
    return [f for f in os.listdir(directory) if ".tmp-" in f]


@pytest.mark.parametrize("golden", ["golden_default.json", "golden_whole_word_mask.json",
                                    "golden_seed7_prob030_two_files.json"])
def test_records_equal_the_originals(tmp_path, golden):
    expected = json.loads((DATA / golden).read_text())
    values = expected["flags"]
    outputs = [str(tmp_path / f"out{i}.tfrecord") for i in range(len(expected["output_files"]))]
    run_main(create_pretraining_data.main, input_file=str(DATA / "corpus.txt"),
             vocab_file=str(DATA / "vocab.txt"), output_file=",".join(outputs),
             whole_word_mask_choice_per_word=False, **values)
    for path, instances in zip(outputs, expected["output_files"]):
        ours = _decode(path)
        assert len(ours) == len(instances)
        for index, (mine, theirs) in enumerate(zip(ours, instances)):
            assert mine == theirs, f"{golden}: {path} record {index}"
    assert _no_temps(tmp_path) == []


def _tokenizer(tmp_path, words):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    return FullTokenizer(str(vocab))


def test_pairs_follow_the_rules(tmp_path):
    # Sentences of distinct words w<doc>_<sentence>_<k>, so each token says where it came from.
    rng = random.Random(0)
    documents, words = [], []
    for d in range(12):
        doc = []
        for s in range(rng.randint(1, 8)):
            sentence = [f"w{d}x{s}x{k}" for k in range(rng.randint(1, 9))]
            words += sentence
            doc.append(sentence)
        documents.append(doc)
    source = [list(doc) for doc in documents]
    max_seq_length = 24
    instances = ptd.create_training_instances(
        documents, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words,
        max_seq_length=max_seq_length, dupe_factor=5, short_seq_prob=0.2, masked_lm_prob=0.15,
        max_predictions_per_seq=4, rng=random.Random(3))
    labels = set()
    for inst in instances:
        tokens = list(inst.tokens)
        for position, label in zip(inst.masked_lm_positions, inst.masked_lm_labels):
            assert label not in ("[CLS]", "[SEP]")  # (a random replacement may be one)
            tokens[position] = label
        assert len(tokens) <= max_seq_length and len(tokens) == len(inst.segment_ids)
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens.count("[SEP]") == 2
        sep = tokens.index("[SEP]")
        a, b = tokens[1:sep], tokens[sep + 1:-1]
        assert a and b
        assert inst.segment_ids == [0] * (sep + 1) + [1] * (len(b) + 1)
        assert inst.masked_lm_positions == sorted(set(inst.masked_lm_positions))
        assert 1 <= len(inst.masked_lm_positions) <= 4
        doc_a, doc_b = ({int(t.split("x")[0][1:]) for t in part} for part in (a, b))
        assert len(doc_a) == 1 and len(doc_b) == 1  # each segment from one document
        flat_a, flat_b = ([t for s in source[d.pop()] for t in s] for d in (set(doc_a),
                                                                          set(doc_b)))
        start_a, start_b = flat_a.index(a[0]), flat_b.index(b[0])
        # Each segment is contiguous text (truncation cuts only its ends).
        assert flat_a[start_a:start_a + len(a)] == a and flat_b[start_b:start_b + len(b)] == b
        if inst.is_random_next:
            assert doc_a != doc_b
        else:
            assert doc_a == doc_b and start_b >= start_a + len(a)
        labels.add(inst.is_random_next)
    assert labels == {True, False}


def _stats_sequences(n, length, rng, word_pieces=False):
    out = []
    for _ in range(n):
        tokens = ["[CLS]"]
        while len(tokens) < length:
            tokens.append(f"t{rng.randint(0, 999)}")
            if word_pieces:
                tokens += [f"##p{rng.randint(0, 9)}" for _ in range(rng.randint(0, 2))]
        out.append(tokens[:length - 1] + ["[SEP]"])
    return out


def test_masking_statistics():
    vocab_words = [f"t{i}" for i in range(1000)]
    rng = random.Random(5)
    counts = {"mask": 0, "keep": 0, "random": 0}
    for tokens in _stats_sequences(2000, 40, random.Random(1)):
        out, positions, labels = ptd.create_masked_lm_predictions(tokens, 0.15, 20, vocab_words,
                                                                  rng)
        assert len(positions) == round(40 * 0.15)
        assert labels == [tokens[p] for p in positions]
        assert [i for i, (x, y) in enumerate(zip(out, tokens)) if x != y and
                i not in positions] == []
        for p in positions:
            counts["mask" if out[p] == "[MASK]" else "keep" if out[p] == tokens[p]
                   else "random"] += 1
    total = sum(counts.values())
    # A random replacement equals the token 1 time in 1000; 4.5 standard deviations.
    for name, p in (("mask", 0.8), ("keep", 0.1 + 0.1 / 1000), ("random", 0.1 - 0.1 / 1000)):
        assert abs(counts[name] / total - p) < 4.5 * math.sqrt(p * (1 - p) / total), counts
    # max_predictions_per_seq caps the count; at least one is always predicted.
    _, positions, _ = ptd.create_masked_lm_predictions(["[CLS]"] + ["t1"] * 200 + ["[SEP]"],
                                                       0.15, 20, vocab_words, rng)
    assert len(positions) == 20
    _, positions, _ = ptd.create_masked_lm_predictions(["[CLS]", "t1", "[SEP]"], 0.15, 20,
                                                       vocab_words, rng)
    assert positions == [1]


def _words(tokens):
    """Position -> the positions of its whole word (a ## piece joins the word before it)."""
    word_of, words = {}, []
    for i, t in enumerate(tokens):
        if t in ("[CLS]", "[SEP]"):
            continue
        if t.startswith("##") and words:
            words[-1].append(i)
        else:
            words.append([i])
        word_of[i] = words[-1]
    return word_of


@pytest.mark.parametrize("per_word", [False, True])
def test_whole_word_masks_cover_every_piece(per_word):
    vocab_words = [f"v{i}" for i in range(1000)]  # a random replacement is never kept-looking
    rng = random.Random(9)
    mixed_words = 0
    for tokens in _stats_sequences(1500, 40, random.Random(2), word_pieces=True):
        out, positions, _ = ptd.create_masked_lm_predictions(
            tokens, 0.15, 20, vocab_words, rng, do_whole_word_mask=True,
            whole_word_mask_choice_per_word=per_word)
        assert 1 <= len(positions) <= round(40 * 0.15)
        word_of = _words(tokens)
        for p in positions:
            assert set(word_of[p]) <= set(positions)
            pieces = word_of[p]
            if len(pieces) > 1 and p == pieces[0]:
                masks = [out[i] == "[MASK]" for i in pieces]
                kept = [out[i] == tokens[i] for i in pieces]
                if per_word:
                    assert all(masks) or not any(masks)
                    assert all(kept) or not any(kept)
                mixed_words += any(masks) and not all(masks)
    # The original draws per word-piece: a word comes out part [MASK]; opt-in: never.
    assert (mixed_words > 0) is (not per_word)


def test_choice_per_word_needs_whole_word_mask(tmp_path):
    with pytest.raises(flags.ValidationError, match="needs --do_whole_word_mask"):
        run_main(create_pretraining_data.main, input_file=str(DATA / "corpus.txt"),
                 vocab_file=str(DATA / "vocab.txt"), output_file=str(tmp_path / "o"),
                 do_whole_word_mask=False, whole_word_mask_choice_per_word=True)
    assert os.listdir(tmp_path) == []


def _run(tmp_path, input_file, vocab_file=DATA / "vocab.txt", **extra):
    values = dict(input_file=str(input_file), vocab_file=str(vocab_file),
                  output_file=str(tmp_path / "out.tfrecord"), max_seq_length=32,
                  max_predictions_per_seq=5, dupe_factor=1, do_whole_word_mask=False,
                  whole_word_mask_choice_per_word=False, masked_lm_prob=0.15,
                  short_seq_prob=0.1, random_seed=12345, do_lower_case=True)
    values.update(extra)
    return run_main(create_pretraining_data.main, **values)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\x01\x02\n\x7f\n\n\x03\n"],
                         ids=["empty", "blank", "control"])
def test_input_without_text_is_an_error_naming_the_file(tmp_path, content):
    # The original wrote an empty output here; no file beats an empty one nobody asked for.
    (tmp_path / "in.txt").write_bytes(content)
    with pytest.raises(InputError, match=r"in\.txt \(no line tokenizes to a word-piece\)"):
        _run(tmp_path, tmp_path / "in.txt")
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]


def test_control_character_lines_neither_count_nor_split_documents(tmp_path):
    (tmp_path / "a.txt").write_text("the dog .\nthe fox .\n")
    (tmp_path / "b.txt").write_text("the dog .\n\x01\x02\x7f\nthe fox .\n")
    tokenizer = FullTokenizer(str(DATA / "vocab.txt"))
    assert ptd.read_documents([str(tmp_path / "b.txt")], tokenizer) == \
        ptd.read_documents([str(tmp_path / "a.txt")], tokenizer) == \
        [[["the", "dog", "."], ["the", "fox", "."]]]


def test_non_utf8_input_names_file_and_line(tmp_path):
    (tmp_path / "in.txt").write_bytes(b"the dog .\n\nthe fox \xff .\n")
    with pytest.raises(InputError, match=r"in\.txt:3: not UTF-8 text"):
        _run(tmp_path, tmp_path / "in.txt")
    assert sorted(os.listdir(tmp_path)) == ["in.txt"]


def test_vocab_without_mask_is_an_error_naming_it(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(t for t in (DATA / "vocab.txt").read_text().splitlines()
                               if t != "[MASK]") + "\n")
    with pytest.raises(InputError, match=r"vocab\.txt: the vocab has no \[MASK\] token"):
        _run(tmp_path, DATA / "corpus.txt", vocab_file=vocab)
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]


def test_missing_input_and_bad_flags_write_nothing(tmp_path):
    with pytest.raises(InputError, match=r"nope\*\.txt: no input file found"):
        _run(tmp_path, tmp_path / "nope*.txt")
    with pytest.raises(flags.ValidationError, match=r"--max_seq_length=4: must be at least 5"):
        _run(tmp_path, DATA / "corpus.txt", max_seq_length=4)
    with pytest.raises(flags.ValidationError, match="named twice"):
        _run(tmp_path, DATA / "corpus.txt",
             output_file=f"{tmp_path / 'a'},{tmp_path / 'a'}")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fast", [True, False])
def test_a_failed_write_leaves_no_output_or_temporary(tmp_path, monkeypatch, fast):
    # The second file's records fail after the first file's were written.
    calls = []

    def failing(original):
        def wrapped(*args, **kwargs):
            calls.append(1)
            if len(calls) == 7:
                raise RuntimeError("disk gone")
            return original(*args, **kwargs)
        return wrapped
    if fast:
        monkeypatch.setattr(ptd.RecordEncoder, "encode", failing(ptd.RecordEncoder.encode))
    else:
        monkeypatch.setattr(ptd, "_example_proto", failing(ptd._example_proto))
    (tmp_path / "old.tfrecord").write_bytes(b"old")
    tokenizer = FullTokenizer(str(DATA / "vocab.txt"))
    instances = ptd.create_training_instances(
        ptd.read_documents([str(DATA / "corpus.txt")], tokenizer), list(tokenizer.vocab),
        max_seq_length=32, dupe_factor=1, short_seq_prob=0.1, masked_lm_prob=0.15,
        max_predictions_per_seq=5, rng=random.Random(1))
    with pytest.raises(RuntimeError, match="disk gone"):
        ptd.write_instances(instances, tokenizer, 32, 5,
                            [str(tmp_path / "old.tfrecord"), str(tmp_path / "new.tfrecord")],
                            fast=fast)
    assert sorted(os.listdir(tmp_path)) == ["old.tfrecord"]
    assert (tmp_path / "old.tfrecord").read_bytes() == b"old"


def test_command_line_end_to_end(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out.tfrecord"
    result = subprocess.run(
        [sys.executable, "create_pretraining_data.py", f"--input_file={DATA / 'corpus.txt'}",
         f"--output_file={out}", f"--vocab_file={DATA / 'vocab.txt'}", "--max_seq_length=32",
         "--max_predictions_per_seq=5", "--dupe_factor=3"],
        cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _decode(out) == json.loads(
        (DATA / "golden_default.json").read_text())["output_files"][0]
    result = subprocess.run(
        [sys.executable, "create_pretraining_data.py", f"--input_file={tmp_path / 'no.txt'}",
         f"--output_file={tmp_path / 'x.tfrecord'}", f"--vocab_file={DATA / 'vocab.txt'}"],
        cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        f"create_pretraining_data.py: error: {tmp_path / 'no.txt'}: no input file found"
    assert sorted(os.listdir(tmp_path)) == ["out.tfrecord"]


def test_globs_and_comma_lists_and_documents_running_on_across_files(tmp_path):
    # As the original: a file without a final blank line runs on into the next file.
    (tmp_path / "b.txt").write_text("the fox .\n\nthe cat .\n")
    (tmp_path / "a.txt").write_text("the dog .\n")
    (tmp_path / "c.txt").write_text("a dog .\n")
    files = ptd.input_files_of(f"{tmp_path / '[ab].txt'}, {tmp_path / 'c.txt'}")
    assert files == [str(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt")]
    tokenizer = FullTokenizer(str(DATA / "vocab.txt"))
    assert ptd.read_documents(files, tokenizer) == [
        [["the", "dog", "."], ["the", "fox", "."]], [["the", "cat", "."], ["a", "dog", "."]]]


def test_imports_beside_the_runners_that_share_its_flags():
    # extract_features.py and bert_flags' model flags define --input_file, --vocab_file,
    # --do_lower_case and --max_seq_length too; any import order must work.
    code = ("import create_pretraining_data, extract_features, run_classifier; "
            "from absl import flags; print(flags.FLAGS['max_seq_length'].default)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "128"


def test_fast_and_pure_python_paths_make_the_same_documents_and_records(tmp_path):
    text = (DATA / "corpus.txt").read_text(encoding="utf-8")
    # Characters the Rust path must not see (private use, capital sigma) go to Python.
    (tmp_path / "in.txt").write_text(text + "\n\u03a3\u03a3 \ue000 the dog .\nthe fox", "utf-8")
    tokenizer = FullTokenizer(str(DATA / "vocab.txt"))
    documents = ptd.read_documents([str(tmp_path / "in.txt")], tokenizer, batch_lines=3)
    assert documents == ptd.read_documents([str(tmp_path / "in.txt")], tokenizer, fast=False)
    instances = ptd.create_training_instances(
        documents, list(tokenizer.vocab), max_seq_length=32, dupe_factor=2, short_seq_prob=0.1,
        masked_lm_prob=0.15, max_predictions_per_seq=5, rng=random.Random(4),
        do_whole_word_mask=True)
    spec = ptd.feature_spec(32, 5)
    encoder = ptd.RecordEncoder(tokenizer.vocab, 32, 5)
    for instance in instances:
        features = ptd.instance_features(instance, tokenizer, 32, 5)
        # Byte for byte the deterministic serialization of the tf.train.Example.
        example = tf.train.Example.FromString(ptd._example_proto(features, spec))
        assert encoder.encode(instance) == example.SerializeToString(deterministic=True)


def test_shuffle_equals_random_shuffle():
    for seed in range(30):
        items = list(range(seed * 7))
        ours, theirs = random.Random(seed), random.Random(seed)
        expected = list(items)
        theirs.shuffle(expected)
        ptd.shuffle(items, ours)
        assert items == expected and ours.random() == theirs.random()


def _stats(records):
    masked = sum(sum(r["masked_lm_weights"]) for r in records)
    tokens = sum(sum(r["input_mask"]) for r in records)
    return len(records), masked / tokens, sum(r["next_sentence_labels"][0] for r in records)


def test_num_workers_is_deterministic_with_the_same_statistics(tmp_path):
    text = (DATA / "corpus.txt").read_text(encoding="utf-8")
    (tmp_path / "in.txt").write_text("\n\n".join([text] * 4), "utf-8")
    outputs = {}
    for name, workers in (("one", 1), ("two_a", 2), ("two_b", 2)):
        (tmp_path / name).mkdir()
        _run(tmp_path / name, tmp_path / "in.txt", num_workers=workers, dupe_factor=5,
             output_file=f"{tmp_path / name / 'a.tfrecord'},{tmp_path / name / 'b.tfrecord'}")
        outputs[name] = [(tmp_path / name / f).read_bytes() for f in ("a.tfrecord", "b.tfrecord")]
    assert outputs["two_a"] == outputs["two_b"]
    one = _decode(tmp_path / "one" / "a.tfrecord") + _decode(tmp_path / "one" / "b.tfrecord")
    two = _decode(tmp_path / "two_a" / "a.tfrecord") + _decode(tmp_path / "two_a" / "b.tfrecord")
    assert one != two  # other random streams, as --help says
    (n_one, rate_one, random_one), (n_two, rate_two, random_two) = _stats(one), _stats(two)
    assert abs(n_one - n_two) < 0.1 * n_one
    assert abs(rate_one - rate_two) < 0.02 and 0.1 < rate_two < 0.2
    assert abs(random_one / n_one - random_two / n_two) < 0.1
    with pytest.raises(flags.ValidationError, match="--num_workers=0: must be at least 1"):
        _run(tmp_path, tmp_path / "in.txt", num_workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_single_one_sentence_document_pairs_with_itself(tmp_path, workers):
    # As the original: with one document the "random" next segment comes from itself.
    (tmp_path / "in.txt").write_text("the quick dog jumped over the fox .\n")
    _run(tmp_path, tmp_path / "in.txt", num_workers=workers, dupe_factor=3)
    records = _decode(tmp_path / "out.tfrecord")
    assert len(records) == 3
    for record in records:
        assert record["next_sentence_labels"] == [1]
        length = sum(record["input_mask"])
        segments = record["segment_ids"][:length]
        # [CLS] A [SEP] (0s) then B [SEP] (1s), both non-empty: A and B are that sentence.
        assert segments == sorted(segments) and segments.count(0) >= 3 and segments.count(1) >= 2
        assert record["input_ids"][length:] == [0] * (32 - length)
    assert _no_temps(tmp_path) == []
