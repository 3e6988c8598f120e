"""Input lines of the original `extract_features.py`: one sentence, or `A ||| B`, per line."""

import dataclasses
import re
from typing import Iterator, List, Optional

from bert_tf.data.features import PairFeatures, encode_pair
from bert_tf.errors import InputError

_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


@dataclasses.dataclass
class LineExample:
    unique_id: int
    text_a: str
    text_b: Optional[str]


def read_examples(input_file: str) -> List[LineExample]:
    """Reads the input file; ids count lines from 0 (the output's `linex_index`).

    As the original: each line is stripped, and " ||| " (spaces included) separates a pair.

    Raises:
        FileNotFoundError naming the file; InputError for an empty file or naming the line
        of non-UTF-8 text.
    """
    examples = []
    with open(input_file, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as e:
                raise InputError(f"{input_file}:{line_number}: not UTF-8 text ({e})") from None
            match = _PAIR.match(line)
            text_a, text_b = (match.group(1), match.group(2)) if match else (line, None)
            examples.append(LineExample(len(examples), text_a, text_b))
    if not examples:
        raise InputError(f"{input_file}: the file is empty; expected one sentence, or "
                         "`sentence A ||| sentence B`, per line")
    return examples


def convert_examples_to_features(examples: List[LineExample], max_seq_length: int,
                                 tokenizer) -> Iterator[PairFeatures]:
    """Tokenizes each example and builds its padded inputs (see `features.encode_pair`)."""
    for example in examples:
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b is not None else None
        yield encode_pair(tokenizer.tokenize(example.text_a), tokens_b, max_seq_length,
                          tokenizer)
