"""Classifier features as the original's convert_single_example builds them (checked by
hand): [CLS] a [SEP] (b [SEP]), segment ids, the pair cut one piece at a time from the
longer text, and an empty text_b as one text (`if tokens_b:` in the original)."""

import pytest

from bert_tf import tokenization
from bert_tf.data.classifier_features import convert_examples_to_features
from bert_tf.data.examples import InputExample
from tests.conftest import write_vocab


@pytest.fixture
def tokenizer(tmp_path):
    return tokenization.FullTokenizer(write_vocab(tmp_path / "vocab.txt"))


def _tokens(tokenizer, feature):
    n = sum(feature["input_mask"])
    return tokenizer.convert_ids_to_tokens(feature["input_ids"][:n])


def _one(tokenizer, text_a, text_b=None, max_seq_length=12, label="pos"):
    example = InputExample("dev-0", text_a, text_b, label)
    return next(convert_examples_to_features([example], ["neg", "pos"], max_seq_length,
                                             tokenizer))


def test_single_and_pair_layout(tokenizer):
    feature = _one(tokenizer, "the cat sat")
    assert _tokens(tokenizer, feature) == ["[CLS]", "the", "cat", "sat", "[SEP]"]
    assert feature["segment_ids"] == [0] * 12 and feature["label_ids"] == 1
    feature = _one(tokenizer, "the cat", "a dog !")
    assert _tokens(tokenizer, feature) == ["[CLS]", "the", "cat", "[SEP]", "a", "dog", "!",
                                           "[SEP]"]
    assert feature["segment_ids"] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    assert feature["input_mask"] == [1] * 8 + [0] * 4


@pytest.mark.parametrize("text_b", ["", "   \t "])
def test_an_empty_text_b_is_one_text_as_the_original(tokenizer, text_b):
    # The original: `if example.text_b: tokens_b = ...` then `if tokens_b:` -> no pair, no
    # second [SEP], and the single text may use max_seq_length - 2 pieces.
    text_a = "the cat sat on a mat the dog sat on a mat"
    assert _one(tokenizer, text_a, text_b) == _one(tokenizer, text_a)
    assert _tokens(tokenizer, _one(tokenizer, text_a, text_b))[-2:] == ["on", "[SEP]"]


def test_pair_truncation_pops_the_longer_text_first(tokenizer):
    # max_seq_length 10 -> 7 pieces for the pair: a (2) keeps all, b (8) keeps 5.
    feature = _one(tokenizer, "the cat", "a dog sat on the mat , hello", max_seq_length=10)
    assert _tokens(tokenizer, feature) == ["[CLS]", "the", "cat", "[SEP]", "a", "dog", "sat",
                                           "on", "the", "[SEP]"]
    # Both long: 7 -> a keeps 4 (ceil), b 3: from equal lengths b loses a piece first.
    feature = _one(tokenizer, "the cat sat on a mat", "a dog sat on the mat",
                   max_seq_length=10)
    assert _tokens(tokenizer, feature) == ["[CLS]", "the", "cat", "sat", "on", "[SEP]", "a",
                                           "dog", "sat", "[SEP]"]
