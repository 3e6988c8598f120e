"""NER readers, split files, label lists and tagging schemes (bert_tf.data.ner).

Fixtures are hand-made (tests/data/ner/README.md); expected sentences, line numbers and label
lists are written out by hand from the fixture files.
"""

import os
import re

import pytest

from bert_tf.data import ner
from bert_tf.data.ner import NerExample
from bert_tf.errors import InputError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ner")
CONLL = os.path.join(DATA, "conll2003")


def _path(*names):
    return os.path.join(DATA, *names)


def _tuples(examples):
    return [(e.guid, e.words, e.tags, e.line, e.lines) for e in examples]


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def _raises(path, line, pattern):
    """pytest.raises for an InputError whose message starts with "<path>:<line>: " + pattern."""
    where = re.escape(path) + (f":{line}" if line is not None else "")
    return pytest.raises(InputError, match=rf"^{where}: {pattern}")


# -- formats ---------------------------------------------------------------------------------


def test_conll2003_docstart_double_and_trailing_blank_lines():
    examples = ner.read_ner_file(os.path.join(CONLL, "eng.train"))
    assert _tuples(examples) == [
        ("eng.train-0", ["Marta", "Olsen", "visited", "Tallinn", "."],
         ["I-PER", "I-PER", "O", "I-LOC", "O"], 3, [3, 4, 5, 6, 7]),
        ("eng.train-1", ["Kestrel", "Labs", "hired", "Ivo", "."],
         ["I-ORG", "I-ORG", "O", "I-PER", "O"], 10, [10, 11, 12, 13, 14]),
        ("eng.train-2", ["Trains", "run", "the", "Oslo", "Bergen", "line"],
         ["O", "O", "O", "I-LOC", "B-LOC", "O"], 18, [18, 19, 20, 21, 22, 23]),
    ]
    assert all(e.source == os.path.join(CONLL, "eng.train") for e in examples)
    assert ner.read_ner_file(os.path.join(CONLL, "eng.train"), "conll") == examples


def test_conll_last_sentence_without_blank_line_and_tabs():
    assert _tuples(ner.read_ner_file(os.path.join(CONLL, "eng.testa"), set_name="dev")) == [
        ("dev-0", ["Ivo", "left", "Kestrel"], ["I-PER", "O", "I-ORG"], 3, [3, 4, 5])]
    assert _tuples(ner.read_ner_file(os.path.join(CONLL, "eng.testb"))) == [
        ("eng.testb-0", ["Marta", "sings", "."], ["I-PER", "O", "O"], 3, [3, 4, 5])]


@pytest.mark.parametrize("file_format", [None, "two_column", "conll"])
def test_crlf_and_byte_order_mark(file_format):
    examples = ner.read_ner_file(_path("crlf_bom.txt"), file_format)
    assert _tuples(examples) == [
        ("crlf_bom-0", ["Anna", "met", "Pavel"], ["B-PER", "O", "B-PER"], 1, [1, 2, 3]),
        ("crlf_bom-1", ["in", "Riga"], ["O", "B-LOC"], 5, [5, 6]),
    ]


@pytest.mark.parametrize("file_format", [None, "two_column"])
def test_two_columns_separated_by_tabs_and_spaces(file_format):
    assert _tuples(ner.read_ner_file(_path("mixed_separators.txt"), file_format)) == [
        ("mixed_separators-0", ["Lena", "bakes", "bread"], ["B-PER", "O", "O"], 1, [1, 2, 3]),
        ("mixed_separators-1", ["in", "Vilnius"], ["O", "B-LOC"], 8, [8, 9]),
    ]


def test_two_column_words_keep_everything_before_the_last_separator():
    path = _path("spaced_words.txt")
    assert _tuples(ner.read_ner_file(path, "two_column")) == [
        ("spaced_words-0", ["Rio de Janeiro", "is", "warm"], ["B-LOC", "O", "O"], 1,
         [1, 2, 3]),
        ("spaced_words-1", ["San Marino"], ["B-LOC"], 5, [5]),
    ]
    # Read as CoNLL (inferred), line 2 has fewer columns than line 1.
    with _raises(path, 2, r"2 columns 'is O', but line 1 has 4; .*'two_column'"):
        ner.read_ner_file(path)


def test_chinese_one_character_per_line_keeps_the_ideographic_space():
    assert _tuples(ner.read_ner_file(_path("zh_chars.txt"))) == [
        ("zh_chars-0", ["张", "伟", "去", "\u3000", "杭", "州"],
         ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"], 1, [1, 2, 3, 4, 5, 6]),
        ("zh_chars-1", ["好"], ["O"], 8, [8]),
    ]


@pytest.mark.parametrize("file_format", [None, "words_only"])
def test_words_only_test_file(file_format):
    assert _tuples(ner.read_ner_file(_path("words_only.txt"), file_format)) == [
        ("words_only-0", ["Nina", "swims"], None, 3, [3, 4]),
        ("words_only-1", ["Karl", "sleeps", "."], None, 6, [6, 7, 8]),
    ]


@pytest.mark.parametrize("file_format", [None, "jsonl"])
def test_jsonl_with_and_without_tags(file_format):
    assert _tuples(ner.read_ner_file(_path("sentences.jsonl"), file_format)) == [
        ("sentences-0", ["Ada", "codes", "in", "Lisbon"], ["B-PER", "O", "O", "B-LOC"], 1,
         [1, 1, 1, 1]),
        ("sentences-1", ["Hello", "there"], None, 3, [3, 3]),
        ("sentences-2", ["Bo", "runs"], None, 4, [4, 4]),
    ]


def test_json_extension_is_jsonl(tmp_path):
    path = _write(tmp_path, "dev.json", '\ufeff{"tokens": ["Hi"], "tags": ["O"]}\r\n')
    assert _tuples(ner.read_ner_file(path)) == [("dev-0", ["Hi"], ["O"], 1, [1])]


def test_example_without_lines_names_its_first_line():
    example = NerExample("x-0", ["a", "b"], ["O", "O"], "f.txt", 7)
    assert example.word_line(1) == 7


# -- reading errors name the file and line ---------------------------------------------------


@pytest.mark.parametrize("name, text", [
    ("train.txt", ""), ("train.txt", "\n\n"), ("train.txt", " \t\r\n\r\n"),
    ("train.txt", "-DOCSTART- -X- -X- O\n\n\n"), ("train.jsonl", ""),
    ("train.jsonl", "\ufeff\r\n \n")])
def test_file_without_sentences_is_empty(tmp_path, name, text):
    path = _write(tmp_path, name, text)
    with _raises(path, None, "the file is empty"):
        ner.read_ner_file(path)


def test_one_word_in_a_tagged_file(tmp_path):
    path = _write(tmp_path, "train.txt", "Ann B-PER\nlonelyword\nsings O\n")
    with _raises(path, 2, r"expected a word and its tag .* 'lonelyword' \(line 1 has 2 col"):
        ner.read_ner_file(path)
    words = _path("words_only.txt")
    with _raises(words, 3, r"expected a word and its tag .*'Nina' \(file format 'conll'\)"):
        ner.read_ner_file(words, "conll")


def test_words_only_format_on_a_tagged_file(tmp_path):
    path = _path("crlf_bom.txt")
    with _raises(path, 1, "expected one word per line .* 2 columns 'Anna B-PER'"):
        ner.read_ner_file(path, "words_only")


@pytest.mark.parametrize("line, pattern", [
    ('{"tokens": ["Ada", "codes"], "tags": ["B-PER"]}', "2 tokens but 1 tags"),
    ('{"tokens": "Ada codes", "tags": ["B-PER", "O"]}', '"tokens" must be a list of strings'),
    ('{"tokens": ["Ada", 7]}', '"tokens" must be a list of strings'),
    ('{"tokens": ["Ada"], "tags": "B-PER"}', '"tags" must be a list of strings'),
    ('{"tokens": ["Ada"], "tags": [1]}', '"tags" must be a list of strings'),
    ('{"tokens": []}', '"tokens" is empty'),
    ('{"words": ["Ada"]}', 'expected a JSON object with a "tokens" list'),
    ('["Ada", "codes"]', 'expected a JSON object with a "tokens" list'),
    ('{"tokens": ["Ada"], "ner_tags": [3]}', 'found "ner_tags" but no "tags"'),
    ('{"tokens": ["Ada"], "tags": ["O"]', "invalid JSON"),
])
def test_malformed_jsonl_line(tmp_path, line, pattern):
    path = _write(tmp_path, "train.jsonl", '{"tokens": ["Hi"], "tags": ["O"]}\n\n' + line + "\n")
    with _raises(path, 3, re.escape(pattern)):
        ner.read_ner_file(path)


def test_not_utf8_missing_file_unknown_format(tmp_path):
    path = _write(tmp_path, "train.txt", b"Ann B-PER\n\xff\xfe O\n")
    with _raises(path, 2, "not UTF-8"):
        ner.read_ner_file(path)
    missing = str(tmp_path / "nothing.txt")
    with _raises(missing, None, "no such file"):
        ner.read_ner_file(missing)
    with pytest.raises(InputError, match="unknown NER file format 'iob'"):
        ner.read_ner_file(path, "iob")


# -- split files -----------------------------------------------------------------------------


def test_find_conll2003_split_files():
    assert ner.find_split_file(CONLL, "train") == os.path.join(CONLL, "eng.train")
    assert ner.find_split_file(CONLL, "dev") == os.path.join(CONLL, "eng.testa")
    assert ner.find_split_file(CONLL, "test") == os.path.join(CONLL, "eng.testb")


def test_find_common_split_names(tmp_path):
    for name in ("Train.TXT", "valid.txt", "test.jsonl", "notes.md"):
        (tmp_path / name).write_text("x O\n")
    (tmp_path / "dev").mkdir()  # a directory is not a split file
    d = str(tmp_path)
    assert ner.find_split_file(d, "train") == os.path.join(d, "Train.TXT")
    assert ner.find_split_file(d, "dev") == os.path.join(d, "valid.txt")
    assert ner.find_split_file(d, "test") == os.path.join(d, "test.jsonl")


def test_split_file_errors(tmp_path):
    d = str(tmp_path)
    (tmp_path / "dev.txt").write_text("x O\n")
    (tmp_path / "valid.conll").write_text("x O\n")
    with _raises(d, None, "several dev files: dev.txt, valid.conll"):
        ner.find_split_file(d, "dev")
    with _raises(d, None, r"no train file; looked for train.txt, train.tsv, .*train.jsonl"
                          r".* and \*.train \(e.g. eng.train\)"):
        ner.find_split_file(d, "train")
    with _raises(os.path.join(d, "nope"), None, "no such directory"):
        ner.find_split_file(os.path.join(d, "nope"), "train")
    with pytest.raises(ValueError):
        ner.find_split_file(d, "validation")


# -- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("IOB1", "IOB1"), ("iob2", "IOB2"), ("BIO", "IOB2"), ("bio", "IOB2"), ("IOBES", "IOBES"),
    ("bioes", "IOBES")])
def test_normalize_scheme(given, expected):
    assert ner.normalize_scheme(given) == expected


def test_unknown_scheme():
    with pytest.raises(InputError, match=r"unknown tagging scheme 'BILOU'; .*'IOB1', 'IOB2'"):
        ner.normalize_scheme("BILOU")


def test_explicit_labels_keep_their_order():
    labels = ["B-PER", "O", "I-PER"]
    assert ner.resolve_labels(labels=labels) == labels


@pytest.mark.parametrize("labels, pattern", [
    (["O", "B-X", "I-X", "B-X"], r"'B-X' appears twice \(labels 2 and 4 of"),
    (["B-X", "I-X"], r"\['B-X', 'I-X'\] lacks the outside tag 'O'"),
    (["O", "B-X", ""], "label 3 of .* is empty"),
])
def test_bad_explicit_labels(labels, pattern):
    with pytest.raises(InputError, match=r"^labels: " + pattern):
        ner.resolve_labels(labels=labels)


def test_label_file(tmp_path):
    path = _path("labels_iobes.txt")
    assert ner.resolve_labels(label_file=path) == ["O", "B-PER", "I-PER", "E-PER", "S-PER",
                                                   "S-LOC"]
    duplicate = _path("labels_duplicate.txt")
    with _raises(duplicate, 4, "label 'B-PER' repeats line 2"):
        ner.resolve_labels(label_file=duplicate)
    no_outside = _write(tmp_path, "labels.txt", "B-PER\nI-PER\n")
    with _raises(no_outside, None, "the label file lacks the outside tag 'O'"):
        ner.resolve_labels(label_file=no_outside)
    with pytest.raises(InputError, match="not both"):
        ner.resolve_labels(labels=["O"], label_file=path)
    with pytest.raises(InputError, match="no labels"):
        ner.resolve_labels()


def test_labels_inferred_from_training_tags():
    conll = ner.read_ner_file(os.path.join(CONLL, "eng.train"))
    assert ner.resolve_labels(train_examples=conll) == ["O", "B-LOC", "I-LOC", "I-ORG",
                                                         "I-PER"]
    # With the scheme, every prefix for every type seen.
    assert ner.resolve_labels(train_examples=conll, scheme="IOB1") == [
        "O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
    assert ner.resolve_labels(train_examples=ner.read_ner_file(_path("zh_chars.txt")),
                              scheme="iobes") == [
        "O", "B-LOC", "B-PER", "E-LOC", "E-PER", "I-LOC", "I-PER", "S-LOC", "S-PER"]
    # Sentences without tags are left out; "O" comes first even when no word has it.
    jsonl = ner.read_ner_file(_path("sentences.jsonl"))
    assert ner.resolve_labels(train_examples=jsonl) == ["O", "B-LOC", "B-PER"]
    only_entities = [NerExample("t-0", ["Ann"], ["S-PER"], "t.txt", 1, [1])]
    assert ner.resolve_labels(train_examples=only_entities) == ["O", "S-PER"]
    words = _path("words_only.txt")
    with _raises(words, None, "no tags to take the labels from"):
        ner.resolve_labels(train_examples=ner.read_ner_file(words))


@pytest.mark.parametrize("scheme, labels, problems", [
    ("IOB2", ["O", "B-PER", "I-PER", "B-GPE-LOC", "I-GPE-LOC"], []),
    ("IOB2", ["O", "B-PRICE"], []),
    ("IOB2", ["O", "I-PER", "B-LOC", "I-LOC"], ["I-PER without B-PER: under IOB2"]),
    ("IOB2", ["O", "B-PER", "E-PER"],
     ["'E-PER' is not 'O' or '<prefix>-<TYPE>' with a prefix of IOB2 (B, I)"]),
    ("IOB2", ["O", "PER", "B-LOC", "b-LOC", "B-", "B-LOC CITY"],
     ["'PER' is not", "'b-LOC' is not", "'B-' is not", "'B-LOC CITY' is not"]),
    ("IOB2", ["B-PER", "I-PER"], ["the outside tag 'O' is missing"]),
    ("IOB2", ["O", "B-X", "B-X", "I-X"], ["'B-X' appears twice"]),
    ("IOB2", ["O"], ["no entity label besides 'O'"]),
    ("IOB2", [], ["the label list is empty"]),
    ("BIO", ["O", "I-PER"], ["I-PER without B-PER"]),
    ("IOB1", ["O", "I-PER", "I-LOC", "B-LOC"], []),
    ("IOB1", ["O", "I-PER", "B-LOC"], ["B-LOC without I-LOC: under IOB1"]),
    ("IOB1", ["O", "I-PER", "S-PER"], ["'S-PER' is not 'O' or '<prefix>-<TYPE>' with a "
                                       "prefix of IOB1 (B, I)"]),
    ("IOBES", ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"], []),
    ("IOBES", ["O", "B-PER", "I-PER", "S-PER"], ["B-PER without E-PER"]),
    ("IOBES", ["O", "E-PER", "I-PER", "S-PER"], ["E-PER without B-PER"]),
    ("IOBES", ["O", "I-PER", "S-PER"], ["I-PER without B-PER and E-PER"]),
    ("IOBES", ["O", "B-PER", "I-PER", "L-PER", "U-PER"], ["'L-PER' is not", "'U-PER' is not",
                                                          "B-PER without E-PER"]),
])
def test_validate_labels(scheme, labels, problems):
    found = ner.validate_labels(labels, scheme)
    assert len(found) == len(problems), found
    for message, start in zip(found, problems):
        assert message.startswith(start), (message, start)


@pytest.mark.parametrize("scheme, labels, warnings", [
    ("IOB2", ["O", "B-PER", "I-PER"], []),
    ("IOB2", ["O", "B-PRICE", "B-PER", "I-PER"], ["B-PRICE without I-PRICE"]),
    ("IOB1", ["O", "I-PER"], []),
    ("IOBES", ["O", "B-PER", "I-PER", "E-PER", "S-PER"], []),
    ("IOBES", ["O", "B-PER", "I-PER", "E-PER"], ["no S-PER"]),
    ("IOBES", ["O", "S-LOC"], ["S-LOC alone"]),
    ("IOBES", ["O", "B-X", "E-X", "S-X"], ["B-X and E-X without I-X"]),
])
def test_label_warnings(scheme, labels, warnings):
    found = ner.label_warnings(labels, scheme)
    assert [w.split(":")[0] for w in found] == warnings


def test_check_labels_raises_every_problem_and_returns_warnings():
    with pytest.raises(InputError, match=r"not a valid IOB2 label list: I-ORG without B-ORG"
                                         r".* I-PER without B-PER"):
        ner.check_labels(["O", "B-LOC", "I-LOC", "I-ORG", "I-PER"], "bio")
    assert ner.check_labels(["O", "B-LOC", "I-LOC", "I-ORG", "I-PER"], "IOB1") == []
    assert ner.check_labels(["O", "S-LOC"], "IOBES") == [
        "S-LOC alone: LOC entities can only be one word long."]


def test_check_tags_names_the_word_line_and_the_known_labels():
    dev_path = os.path.join(CONLL, "eng.testa")
    dev = ner.read_ner_file(dev_path)
    labels = ["O", "B-PER", "I-PER"]
    with _raises(dev_path, 5, r"tag 'I-ORG' of word 'Kestrel' is not a known label; known "
                              r"labels: \['O', 'B-PER', 'I-PER'\]"):
        ner.check_tags(dev, labels)
    ner.check_tags(dev, labels + ["I-ORG"])
    jsonl = ner.read_ner_file(_path("sentences.jsonl"))
    with _raises(_path("sentences.jsonl"), 1, "tag 'B-LOC' of word 'Lisbon'"):
        ner.check_tags(jsonl[:1], ["O", "B-PER"])
    with _raises(_path("sentences.jsonl"), 3, "the sentence has no tags"):
        ner.check_tags(jsonl, ["O", "B-PER", "B-LOC"])


def test_entity_types_in_order_of_first_appearance():
    assert ner.entity_types(["O", "B-PER", "I-PER", "S-LOC", "B-GPE-LOC", "I-LOC"]) == [
        "PER", "LOC", "GPE-LOC"]
    assert ner.entity_types(["O"]) == []


@pytest.mark.parametrize("tag, labels, expected", [
    ("B-PER", None, "I-PER"), ("S-PER", None, "I-PER"), ("I-PER", None, "I-PER"),
    ("E-PER", None, "E-PER"), ("O", None, "O"), ("B-GPE-LOC", None, "I-GPE-LOC"),
    ("S-PER", ["O", "S-PER", "I-PER"], "I-PER"),
    ("B-PRICE", ["O", "B-PRICE"], "B-PRICE"),   # no I-PRICE label: stays a label
    ("S-LOC", ["O", "S-LOC"], "S-LOC"),
])
def test_continuation_tag(tag, labels, expected):
    assert ner.continuation_tag(tag, labels) == expected
