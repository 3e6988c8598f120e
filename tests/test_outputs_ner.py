"""bert_tf.outputs.ner: exact bytes, round trips, columns conlleval can split, atomicity.

The expected bytes are written out by hand from the layout conlleval.pl reads: fields split at
single spaces (`split(/ /, $line)`), the last two the gold and the guessed tag, sentences
separated by empty lines; and from the JSON Lines layout documented in bert_tf/outputs/ner.py.
"""

import contextlib
import errno
import json
import pathlib
import random
import subprocess
import sys

import pytest

from bert_tf.errors import InputError
from bert_tf.outputs import ner as ner_outputs
from bert_tf.outputs.ner import (read_conll_predictions, write_conll_predictions,
                                 write_entities_jsonl)

SENTENCES = [["John", "lives", "in", "New York", "."], ["在", "北", "京", "\u3000"], ["Hi"]]
GOLD = [["B-PER", "O", "O", "B-LOC", "O"], None, ["O"]]
PREDICTED = [["B-PER", "O", "O", "I-LOC", "O"], ["O", "B-LOC", "I-LOC", "O"], ["B-PER"]]


def test_conll_exact_bytes(tmp_path):
    path = tmp_path / "test_predictions.txt"
    assert write_conll_predictions(path, SENTENCES, GOLD, PREDICTED) == 3
    # "New York" and the ideographic space U+3000 are written with "_"; no gold -> "O".
    assert path.read_bytes() == ("John B-PER B-PER\nlives O O\nin O O\nNew_York B-LOC I-LOC\n"
                                 ". O O\n\n在 O O\n北 O B-LOC\n京 O I-LOC\n_ O O\n\n"
                                 "Hi O B-PER\n\n").encode("utf-8")


def test_conll_without_any_gold_and_with_an_empty_sentence(tmp_path):
    path = tmp_path / "test_predictions.txt"
    write_conll_predictions(path, [["a"], [], ["b", "c"]], None, [["S-X"], [], ["B", "I"]])
    assert path.read_bytes() == b"a O S-X\n\n\nb O B\nc O I\n\n"
    assert read_conll_predictions(path) == ([["a"], [], ["b", "c"]], [["O"], [], ["O", "O"]],
                                            [["S-X"], [], ["B", "I"]])


def test_conll_columns_never_break(tmp_path):
    # Every Unicode whitespace character (what str.split() and Perl's \s split at) and an
    # empty word: each line still splits into 3 non-empty fields at single spaces, as
    # conlleval splits it, and at any whitespace.
    whitespace = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    words = [f"a{w}b" for w in whitespace] + ["", " ", "x y  z"]
    tags = ["O"] * len(words)
    path = tmp_path / "test_predictions.txt"
    write_conll_predictions(path, [words], [tags], [tags])
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-2:] == ["", ""] and len(lines) == len(words) + 2
    for line in lines[:-2]:
        assert len(line.split(" ")) == 3 and all(line.split(" ")), repr(line)
        assert len(line.split()) == 3, repr(line)
    assert lines[:-2] == ["a_b O O"] * len(whitespace) + ["_ O O", "_ O O", "x_y__z O O"]


def test_conll_round_trip(tmp_path):
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "E-LOC", "S-ORG-X", "B", "I"]
    sentences, gold, predicted = [], [], []
    for _ in range(200):
        n = rng.randint(0, 9)
        sentences.append(["".join(rng.choice("ab.,-é中") for _ in range(rng.randint(1, 4)))
                          for _ in range(n)])
        gold.append([rng.choice(tags) for _ in range(n)])
        predicted.append([rng.choice(tags) for _ in range(n)])
    path = tmp_path / "test_predictions.txt"
    write_conll_predictions(path, sentences, gold, predicted)
    assert read_conll_predictions(path) == (sentences, gold, predicted)


def test_read_conll_is_lenient_about_separators_and_the_last_empty_line(tmp_path):
    path = tmp_path / "other.txt"
    path.write_bytes(b"a\tO\tB-X\r\nb  O  I-X\r\n\r\nc O O")
    assert read_conll_predictions(path) == ([["a", "b"], ["c"]], [["O", "O"], ["O"]],
                                            [["B-X", "I-X"], ["O"]])


def test_read_conll_names_a_bad_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("a O O\nb O\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.txt:2: expected 'word gold predicted'"):
        read_conll_predictions(path)


def test_entities_jsonl_exact_bytes(tmp_path):
    path = tmp_path / "test_entities.jsonl"
    assert write_entities_jsonl(path, SENTENCES, PREDICTED) == 3
    # Entity text is the words as they were ("New York"), joined by " ".
    assert path.read_bytes() == (
        '{"sentence": 0, "entities": [{"type": "PER", "start": 0, "end": 0, "text": "John"}, '
        '{"type": "LOC", "start": 3, "end": 3, "text": "New York"}]}\n'
        '{"sentence": 1, "entities": [{"type": "LOC", "start": 1, "end": 2, "text": "北 京"}]}\n'
        '{"sentence": 2, "entities": [{"type": "PER", "start": 0, "end": 0, "text": "Hi"}]}\n'
    ).encode("utf-8")


def test_entities_jsonl_character_level_joiner(tmp_path):
    path = tmp_path / "test_entities.jsonl"
    write_entities_jsonl(path, [list("我在北京"), list("好")],
                         [["O", "O", "B-LOC", "E-LOC"], ["O"]], joiner="")
    assert path.read_bytes() == (
        '{"sentence": 0, "entities": [{"type": "LOC", "start": 2, "end": 3, "text": "北京"}]}\n'
        '{"sentence": 1, "entities": []}\n').encode("utf-8")


def test_entities_jsonl_one_object_per_line_for_every_reader(tmp_path):
    # U+2028, U+2029 and NEL are line breaks to str.splitlines(); they are written escaped.
    words = ["a\u2028b", "c\u2029d", "e\x85f", 'q"\n\t\\']
    path = tmp_path / "test_entities.jsonl"
    write_entities_jsonl(path, [words, []], [["B-X", "I-X", "I-X", "I-X"], []])
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2
    first = json.loads(text.splitlines()[0])
    assert first == {"sentence": 0, "entities": [
        {"type": "X", "start": 0, "end": 3, "text": " ".join(words)}]}


@pytest.mark.parametrize("call, message", [
    (lambda p: write_conll_predictions(p, [["a"]], [["O"]], [["O"], ["O"]]),
     "1 sentences but 1 gold and 2 predicted"),
    (lambda p: write_conll_predictions(p, [["a"]], [["O", "O"]], [["O"]]),
     "sentence 0: 1 words but 2 gold tags"),
    (lambda p: write_entities_jsonl(p, [["a"]], []), "1 sentences but 0 predicted"),
    (lambda p: write_entities_jsonl(p, [["a"]], [["O", "O"]]),
     "sentence 0: 1 words but 2 predicted tags"),
    (lambda p: write_entities_jsonl(p, [["a"]], [["X-Y"]]), "is not a tag"),
])
def test_errors(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


WRITERS = {
    "conll": lambda path, sentences, tags: write_conll_predictions(path, sentences, tags,
                                                                   tags),
    "entities": write_entities_jsonl,
}
# Three sentences; the third's tags do not match its words, found only once the first two
# are written.
MIDWAY_BAD = ([["a", "b"], ["c"], ["d"]], [["B-X", "I-X"], ["O"], ["O", "O"]])


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_bad_sentence_midway_leaves_the_old_file(tmp_path, monkeypatch, writer):
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")
    real_atomic_open = ner_outputs.atomic_open
    written_when_it_failed = []

    @contextlib.contextmanager
    def recording_atomic_open(target):
        with real_atomic_open(target) as handle:
            try:
                yield handle
            finally:
                written_when_it_failed.append(handle.tell())

    monkeypatch.setattr(ner_outputs, "atomic_open", recording_atomic_open)
    with pytest.raises(ValueError, match="sentence 2"):
        WRITERS[writer](path, *MIDWAY_BAD)
    assert written_when_it_failed[0] > 0  # midway: the first sentences were in the temp file
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


class _DiskFullOnSecondWrite:
    """A file whose second write puts half its text on disk and then fails (disk full)."""

    def __init__(self, handle, path):
        self._handle, self._path, self._writes = handle, path, 0

    def write(self, text):
        self._writes += 1
        if self._writes < 2:
            return self._handle.write(text)
        self._handle.write(text[:len(text) // 2 + 1])
        self._handle.flush()
        # Midway: the target still holds the old content; the new text is in the temp file.
        assert pathlib.Path(self._path).read_text(encoding="utf-8") == "old\n"
        raise OSError(errno.ENOSPC, "No space left on device")

    def writelines(self, lines):
        self.write("".join(lines))


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_disk_full_midway_leaves_the_old_file(tmp_path, monkeypatch, writer):
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")
    real_atomic_open = ner_outputs.atomic_open

    @contextlib.contextmanager
    def failing_atomic_open(target):
        with real_atomic_open(target) as handle:
            assert len(list(tmp_path.iterdir())) == 2  # the old file and the temp file
            yield _DiskFullOnSecondWrite(handle, target)

    monkeypatch.setattr(ner_outputs, "atomic_open", failing_atomic_open)
    with pytest.raises(OSError, match="No space left"):
        WRITERS[writer](path, [["a", "b"], ["c"]], [["B-X", "I-X"], ["O"]])
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_failure_without_an_old_file_leaves_nothing(tmp_path, writer):
    with pytest.raises(ValueError):
        WRITERS[writer](tmp_path / "out", *MIDWAY_BAD)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_success_replaces_the_old_file_and_leaves_no_temp(tmp_path, writer):
    path = tmp_path / "out"
    path.write_text("old\n", encoding="utf-8")
    WRITERS[writer](str(path), [["a", "b"], ["c"]], [["B-X", "I-X"], ["O"]])
    assert path.read_text(encoding="utf-8") not in ("", "old\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_imports_no_tensorflow():
    root = pathlib.Path(__file__).resolve().parent.parent
    code = ("import sys, bert_tf.outputs.ner, bert_tf.metrics.ner; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout
    assert out.strip() == "False"
