"""Sliding windows over a long sequence of word-pieces, as the original run_squad's doc spans.

A sequence longer than a window is covered by windows that start `doc_stride` pieces apart
(the last one ends at the sequence's end). A piece in several windows is read from the one
where it has the most context: the original's `_check_is_max_context` score,
min(pieces to its left, pieces to its right) + 0.01 * window length, first window on ties.
SQuAD (document spans) and NER (long sentences) both use these.
"""

from typing import List, Optional, Tuple

Span = Tuple[int, int]  # (start, length) in pieces


def window_spans(num_pieces: int, max_pieces: int, doc_stride: int) -> List[Span]:
    """(start, length) of the windows covering `num_pieces` pieces; [] for no pieces.

    Args:
        num_pieces: length of the sequence.
        max_pieces: the most pieces a window holds (> 0).
        doc_stride: pieces between the starts of consecutive windows (> 0).
    """
    spans, start = [], 0
    while start < num_pieces:
        length = min(num_pieces - start, max_pieces)
        spans.append((start, length))
        if start + length == num_pieces:
            break
        start += min(length, doc_stride)
    return spans


def context_score(position: int, span_start: int, span_length: int) -> float:
    """min(left, right context) + 0.01 * window length: the original's max-context score."""
    left = position - span_start
    right = span_start + span_length - 1 - position
    return min(left, right) + 0.01 * span_length


def max_context_windows(spans: List[Span], num_pieces: int) -> List[Optional[int]]:
    """For every piece, the index of the window where it has the most context (the first
    one on ties, as the original); None for a piece in no window."""
    if len(spans) == 1:
        start, length = spans[0]
        return [0 if start <= p < start + length else None for p in range(num_pieces)]
    best: List[Optional[int]] = [None] * num_pieces
    best_score: List[Optional[float]] = [None] * num_pieces
    for span_index, (span_start, span_length) in enumerate(spans):
        for position in range(span_start, span_start + span_length):
            score = context_score(position, span_start, span_length)
            if best_score[position] is None or score > best_score[position]:
                best[position], best_score[position] = span_index, score
    return best
