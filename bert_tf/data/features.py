"""Turning one or two token sequences into BERT inputs, as the original runners do."""

import dataclasses
from typing import List, Optional


@dataclasses.dataclass
class PairFeatures:
    """`[CLS] a [SEP] (b [SEP])`, padded with zeros to the sequence length.

    tokens is unpadded; input_ids, input_mask, segment_ids have length max_seq_length.
    """

    tokens: List[str]
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]


def truncate_seq_pair(tokens_a: List[str], tokens_b: List[str], max_length: int) -> None:
    """Truncates a pair in place to at most max_length tokens in total, as the original does.

    One token at a time from the end of the longer sequence: a short sequence keeps more of
    its tokens than proportional truncation would leave it.
    """
    while len(tokens_a) + len(tokens_b) > max_length:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        longer.pop()


def encode_pair(tokens_a: List[str], tokens_b: Optional[List[str]], max_seq_length: int,
                tokenizer) -> PairFeatures:
    """Builds the original's `[CLS] a [SEP] b [SEP]` inputs (segment 0 up to the first [SEP]).

    Tokens beyond the length are cut as the original: `truncate_seq_pair` to
    max_seq_length - 3 for a pair, the end of `a` to max_seq_length - 2 for one sequence.
    An empty `tokens_b` (an empty or all-whitespace text_b) is one sequence, as the
    original's `if tokens_b:`: no second [SEP]. The lists given are not modified.
    """
    tokens_a = list(tokens_a)
    tokens_b = list(tokens_b) if tokens_b else None
    if tokens_b is not None:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[:max_seq_length - 2]
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b is not None:
        tokens += tokens_b + ["[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    padding = [0] * (max_seq_length - len(tokens))
    return PairFeatures(tokens, input_ids + padding, [1] * len(tokens) + padding,
                        segment_ids + padding)
