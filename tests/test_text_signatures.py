"""The graph pieces of the `text` signatures against the Python steps they replace: pair
truncation (`truncate_seq_pair`), NER windows and max-context choice
(`windows.window_spans`, `max_context_windows`) and the NER word split
(`predictor.split_words`). The whole signatures are checked in tests/test_predictor.py."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data.features import truncate_seq_pair
from bert_tf.data.windows import max_context_windows, window_spans
from bert_tf.predictor import split_words
from bert_tf.graph_tokenizer import word_class_ranges
from bert_tf.text_signatures import (max_context_positions, split_words_in_graph,
                                     truncated_pair_lengths, window_layout)
from tests.test_tokenization import CORPUS, _fuzz_texts


def test_pair_lengths_equal_truncate_seq_pair():
    grid = [(a, b, m) for a in range(14) for b in range(14) for m in range(11)]
    a, b = truncated_pair_lengths(tf.constant([g[0] for g in grid]),
                                  tf.constant([g[1] for g in grid]),
                                  tf.constant([g[2] for g in grid]))
    expected = []
    for length_a, length_b, max_length in grid:
        tokens_a, tokens_b = list(range(length_a)), list(range(length_b))
        truncate_seq_pair(tokens_a, tokens_b, max_length)
        expected.append((len(tokens_a), len(tokens_b)))
    assert list(zip(a.numpy().tolist(), b.numpy().tolist())) == expected


@pytest.mark.parametrize("max_pieces,stride", [(14, 6), (5, 2), (4, 7), (6, 1)])
def test_windows_and_max_context_equal_the_runners(max_pieces, stride):
    num_pieces = [0, 1, 3, max_pieces, max_pieces + 1, 17, 40, 2 * max_pieces + 3]
    count, text, start, length = window_layout(tf.constant(num_pieces, tf.int64), max_pieces,
                                               min(stride, max_pieces))
    spans = [window_spans(n, max_pieces, stride) or [(0, 0)] for n in num_pieces]
    assert count.numpy().tolist() == [len(s) for s in spans]
    assert list(zip(start.numpy().tolist(), length.numpy().tolist())) == [
        w for s in spans for w in s]
    assert text.numpy().tolist() == [i for i, s in enumerate(spans) for _ in s]
    pieces = [(i, p) for i, n in enumerate(num_pieces) for p in range(n)]
    window, position = max_context_positions(
        tf.constant([p for _, p in pieces], tf.int64), tf.constant([i for i, _ in pieces],
                                                                   tf.int64),
        count, start, length)
    first = np.concatenate([[0], np.cumsum([len(s) for s in spans])])
    expected_window, expected_position = [], []
    for i, n in enumerate(num_pieces):
        best = max_context_windows(spans[i], n)
        for p in range(n):
            expected_window.append(first[i] + best[p])
            expected_position.append(p - spans[i][best[p]][0] + 1)
    assert window.numpy().tolist() == expected_window
    assert position.numpy().tolist() == expected_position


@pytest.mark.parametrize("do_lower_case", [False, True])
def test_word_split_in_graph_equals_split_words(do_lower_case):
    ranges = tuple(tf.constant(r, tf.int32) for r in word_class_ranges(do_lower_case))
    texts = CORPUS + _fuzz_texts(seed=5, count=600) + ["", "  ", "a", "北京", "x,y"]
    # Code-point offsets equal str indices for text without lone surrogates.
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    words, start, end = split_words_in_graph(tf.constant([t.encode() for t in texts]), ranges)
    for text, w, s, e in zip(texts, words.to_list(), start.to_list(), end.to_list()):
        spans = split_words(text)
        assert list(zip(s, e)) == spans, text
        assert [x.decode() for x in w] == [text[a:b] for a, b in spans], text
