"""The prediction files run_ner writes, each written atomically (`bert_tf.files.atomic_open`).

- test_predictions.txt (`write_conll_predictions`): the CoNLL layout the evaluation script
  `conlleval` reads as it is (`perl conlleval.pl < test_predictions.txt`): one line per word,
  `word gold predicted` separated by single spaces, and an empty line after each sentence
  (the last one included). Lines end in "\\n".
- test_entities.jsonl (`write_entities_jsonl`): one JSON object per sentence and line with
  the predicted entities, found by `bert_tf.metrics.ner.get_entities`.

Columns never break: conlleval splits a line at every single space and wants the same number
of fields on every line, so each whitespace character inside a word or tag (a space, a tab, a
no-break space, an ideographic space U+3000, ...) is written as "_", and an empty word as
"_". "New York" is written "New_York"; a Chinese sentence read one character per word keeps
one line per character, a space character included ("_"). Such words do not read back as
they were; every other word does. Two things conlleval itself does with fields: a line whose
word is "-X-" is a sentence boundary to it (tags read as O, not counted), and it reads IOBES
tags differently from eval_results.txt (see `bert_tf.metrics.ner`).

Atomic: a reader, or a run killed midway, sees the old file or the whole new one; an error
raised midway (a sentence whose tags do not match its words, a full disk) leaves the old file
as it was and no temporary file.
"""

import json
import os
import re
from typing import List, Optional, Sequence, Tuple, Union

from bert_tf.errors import InputError
from bert_tf.files import atomic_open
from bert_tf.metrics.ner import get_entities

__all__ = ["write_conll_predictions", "read_conll_predictions", "write_entities_jsonl"]

PathLike = Union[str, os.PathLike]

# The gold tag written for the words of a sentence that has no gold tags (a test file
# without labels).
NO_GOLD_TAG = "O"
_WHITESPACE = re.compile(r"\s")  # Unicode whitespace: everything str.split() splits at
# Characters json.dumps(ensure_ascii=False) leaves as they are but str.splitlines() breaks
# lines at; written as \\u escapes so each JSON object stays on one line for every reader.
_LINE_BREAKING = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _column(text: str) -> str:
    """One field of a CoNLL line: whitespace characters as "_", an empty string as "_"."""
    return _WHITESPACE.sub("_", str(text)) or "_"


def _check_length(what: str, index: int, words: Sequence[str], tags: Sequence[str]) -> None:
    if len(tags) != len(words):
        raise ValueError(f"sentence {index}: {len(words)} words but {len(tags)} {what} tags")


def write_conll_predictions(path: PathLike, sentences: Sequence[Sequence[str]],
                            gold: Optional[Sequence[Optional[Sequence[str]]]],
                            predicted: Sequence[Sequence[str]]) -> int:
    """Writes `word gold predicted` per word and an empty line after each sentence.

    Example of the layout (two sentences, the second without gold tags):
        John B-PER B-PER
        lives O O
        <empty line>
        Paris O B-LOC
        <empty line>

    Args:
        path: the file to (re)write.
        sentences: [N][W_n] words.
        gold: [N] per sentence its [W_n] gold tags, or None for a sentence without them
            (written as "O"); None for no gold tags at all.
        predicted: [N][W_n] predicted tags.

    Returns:
        N, the number of sentences written.

    Raises:
        ValueError: different numbers of sentences, or of words and tags in a sentence.
    """
    sentences, predicted = list(sentences), list(predicted)
    gold = [None] * len(sentences) if gold is None else list(gold)
    if not len(sentences) == len(gold) == len(predicted):
        raise ValueError(f"{len(sentences)} sentences but {len(gold)} gold and "
                         f"{len(predicted)} predicted tag sequences")
    with atomic_open(path) as f:
        for i, (words, gold_tags, predicted_tags) in enumerate(zip(sentences, gold,
                                                                   predicted)):
            if gold_tags is None:
                gold_tags = [NO_GOLD_TAG] * len(words)
            _check_length("gold", i, words, gold_tags)
            _check_length("predicted", i, words, predicted_tags)
            f.writelines(f"{_column(word)} {_column(g)} {_column(p)}\n"
                         for word, g, p in zip(words, gold_tags, predicted_tags))
            f.write("\n")
    return len(sentences)


def read_conll_predictions(
        path: PathLike) -> Tuple[List[List[str]], List[List[str]], List[List[str]]]:
    """Reads a file written by `write_conll_predictions` back.

    Each empty (or whitespace-only) line ends one sentence, so an empty sentence, written as
    a lone empty line, reads back as []; words after the last empty line still form a
    sentence. Fields may be separated by any whitespace.

    Returns:
        (words, gold, predicted), each [N][W_n] strings.

    Raises:
        InputError: a line without exactly three fields (the message names file and line).
    """
    words, gold, predicted = [], [], []
    sentence = ([], [], [])
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                for column, values in zip(sentence, (words, gold, predicted)):
                    values.append(column)
                sentence = ([], [], [])
                continue
            if len(fields) != 3:
                raise InputError(f"{os.fspath(path)}:{line_number}: expected 'word gold "
                                 f"predicted', got {line.rstrip(chr(10))!r}")
            for column, value in zip(sentence, fields):
                column.append(value)
    if sentence[0]:
        for column, values in zip(sentence, (words, gold, predicted)):
            values.append(column)
    return words, gold, predicted


def _json_line(obj) -> str:
    text = json.dumps(obj, ensure_ascii=False)
    for character, escape in _LINE_BREAKING.items():
        text = text.replace(character, escape)
    return text + "\n"


def write_entities_jsonl(path: PathLike, sentences: Sequence[Sequence[str]],
                         predicted: Sequence[Sequence[str]], *, joiner: str = " ") -> int:
    """Writes the predicted entities, one JSON object per sentence and line.

    Each line is `{"sentence": i, "entities": [{"type": ..., "start": ..., "end": ...,
    "text": ...}, ...]}`, with `i` the sentence's 0-based index, `start` and `end` its first
    and last word index (`end` inclusive) and `text` those words joined by `joiner`, as they
    were (no "_" for whitespace). UTF-8, not ASCII-escaped; keys in that order.

    Args:
        path: the file to (re)write.
        sentences: [N][W_n] words.
        predicted: [N][W_n] predicted tags.
        joiner: put between the words of an entity's text: " " for words, "" for text read
            one character per word (Chinese).

    Returns:
        N, the number of lines written.

    Raises:
        ValueError: different numbers of sentences, or of words and tags in a sentence, or a
            string that is not a tag.
    """
    sentences, predicted = list(sentences), list(predicted)
    if len(sentences) != len(predicted):
        raise ValueError(f"{len(sentences)} sentences but {len(predicted)} predicted tag "
                         f"sequences")
    with atomic_open(path) as f:
        for i, (words, tags) in enumerate(zip(sentences, predicted)):
            words = list(words)
            _check_length("predicted", i, words, tags)
            entities = [{"type": entity_type, "start": start, "end": end,
                         "text": joiner.join(words[start:end + 1])}
                        for entity_type, start, end in get_entities(tags)]
            f.write(_json_line({"sentence": i, "entities": entities}))
    return len(sentences)
