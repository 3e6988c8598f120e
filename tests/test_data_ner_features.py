"""Alignment: words -> word-pieces -> label ids -> one prediction per word, by hand."""

import pytest

from bert_tf.data.ner_features import convert_examples_to_features, predictions_per_word
from bert_tf.data.windows import window_spans
from bert_tf.tokenization import FullTokenizer
from tests.conftest import TINY_VOCAB, write_vocab

LABELS = {"O": 0, "B-X": 1, "I-X": 2}


@pytest.fixture
def tokenizer(tmp_path):
    return FullTokenizer(write_vocab(tmp_path / "vocab.txt"), do_lower_case=True)


def _ids(tokens):
    return [TINY_VOCAB.index(t) for t in tokens]


def test_first_piece_labels_many_pieces_and_unk(tokenizer):
    # "unwanted" -> un ##want ##ed; "running" -> runn ##ing; "zzz" has no piece in the vocab
    # -> [UNK]; "\u200b" (zero-width space) tokenizes to nothing -> [UNK] keeps its place.
    words = ["the", "unwanted", "running", "zzz", "\u200b", "cat"]
    tags = ["O", "B-X", "I-X", "O", "O", "B-X"]
    features, windows = convert_examples_to_features([words], [tags], LABELS, 12, 4, tokenizer)
    assert len(features) == 1
    f = features[0]
    tokens = ["[CLS]", "the", "un", "##want", "##ed", "runn", "##ing", "[UNK]", "[UNK]", "cat",
              "[SEP]"]
    assert f["input_ids"] == _ids(tokens) + [0]
    assert f["input_mask"] == [1] * 11 + [0]
    assert f["label_mask"] == [0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0]
    assert f["label_ids"] == [0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0]
    assert windows[0].word_positions == [(0, 1), (1, 2), (2, 5), (3, 7), (4, 8), (5, 9)]
    predicted = [[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]]  # position + 9
    assert predictions_per_word(windows, predicted, [6]) == [[10, 11, 14, 16, 17, 18]]


def test_all_subtokens_get_continuation_labels(tokenizer):
    features, _ = convert_examples_to_features(
        [["unwanted"]], [["B-X"]], LABELS, 8, 4, tokenizer, label_all_subtokens=True,
        continuation_tag=lambda tag: "I-" + tag[2:] if tag.startswith("B-") else tag)
    assert features[0]["label_mask"] == [0, 1, 1, 1, 0, 0, 0, 0]
    assert features[0]["label_ids"] == [0, 1, 2, 2, 0, 0, 0, 0]


def test_long_sentence_windows_and_max_context(tokenizer):
    # Pieces: 0 the, 1 cat, 2 un, 3 ##want, 4 ##ed, 5 sat, 6 on, 7 a, 8 mat. max_seq_length 6
    # leaves 4 pieces a window; stride 2 -> windows (start, length) (0,4) (2,4) (4,4) (6,3).
    words = ["the", "cat", "unwanted", "sat", "on", "a", "mat"]
    tags = ["O", "B-X", "I-X", "O", "O", "O", "B-X"]
    assert window_spans(9, 4, 2) == [(0, 4), (2, 4), (4, 4), (6, 3)]
    features, windows = convert_examples_to_features([words], [tags], LABELS, 6, 2, tokenizer)
    assert [f["input_ids"] for f in features] == [
        _ids(["[CLS]", "the", "cat", "un", "##want", "[SEP]"]),
        _ids(["[CLS]", "un", "##want", "##ed", "sat", "[SEP]"]),
        _ids(["[CLS]", "##ed", "sat", "on", "a", "[SEP]"]),
        _ids(["[CLS]", "on", "a", "mat", "[SEP]"]) + [0]]
    # Score = min(left, right) + 0.01 * length; each word's first piece goes to its best:
    # the: w0 only; cat: w0 (1.04); un: w0 1.04 > w1 0.04; sat (piece 5): w1 0.04 < w2 1.04;
    # on (6): w2 1.04 > w3 0.03; a (7): w2 0.04 < w3 1.03; mat (8): w3 only.
    assert [w.word_positions for w in windows] == [
        [(0, 1), (1, 2), (2, 3)], [], [(3, 2), (4, 3)], [(5, 2), (6, 3)]]
    predicted = [[100 * i + p for p in range(6)] for i in range(4)]
    assert predictions_per_word(windows, predicted, [7]) == [[1, 2, 3, 202, 203, 302, 303]]
    # Every window labels its own first pieces (training sees each word in every window).
    assert [f["label_mask"] for f in features] == [
        [0, 1, 1, 1, 0, 0], [0, 1, 0, 0, 1, 0], [0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 0, 0]]


def test_untagged_sentences_keep_masks_for_decoding(tokenizer):
    features, windows = convert_examples_to_features([["the", "cat"]], [None], LABELS, 6, 2,
                                                     tokenizer)
    assert features[0]["label_mask"] == [0, 1, 1, 0, 0, 0]
    assert features[0]["label_ids"] == [0] * 6
    assert windows[0].word_positions == [(0, 1), (1, 2)]
