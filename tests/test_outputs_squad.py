"""bert_tf.outputs.squad on hand-made features and logits.

Expected values are worked out by hand from the rules of google-research/bert run_squad.py
(`write_predictions`, `get_final_text`): which spans survive, their scores (start + end
logit), the softmax over the n-best scores and the SQuAD 2.0 null odds. The arithmetic is in
the comments. File layouts are written out literally as the original's
`json.dumps(obj, indent=4) + "\\n"` gives them.
"""

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional

import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.outputs.squad import (RawResult, compute_predictions, get_final_text,
                                       write_predictions)


@dataclasses.dataclass
class Example:
    """The fields of SquadExample (bert_tf/data/squad.py), as in the original."""
    qas_id: str
    question_text: str
    doc_tokens: List[str]
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False
    answers: Optional[list] = None


@dataclasses.dataclass
class Feature:
    """The fields of SquadFeatures (bert_tf/data/squad.py), as in the original."""
    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: List[str]
    token_to_orig_map: Dict[int, int]
    token_is_max_context: Dict[int, bool]
    input_ids: List[int] = dataclasses.field(default_factory=list)
    input_mask: List[int] = dataclasses.field(default_factory=list)
    segment_ids: List[int] = dataclasses.field(default_factory=list)
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


SEQ = 20  # Sequence length: positions 17, 18, 19 are padding.
DOC_TOKENS = ["Steve", "Smith's", "team", "won", "the", "cup", "in", "2019."]
# Index:  0        1      2      3    4        5        6        7    8    9       10
TOKENS = ["[CLS]", "who", "won", "?", "[SEP]", "steve", "smith", "'", "s", "team", "won",
          # 11    12     13    14      15   16
          "the", "cup", "in", "2019", ".", "[SEP]"]
TOKEN_TO_ORIG = {5: 0, 6: 1, 7: 1, 8: 1, 9: 2, 10: 3, 11: 4, 12: 5, 13: 6, 14: 7, 15: 7}


def _feature(unique_id=1000, example_index=0, tokens=TOKENS, token_to_orig=TOKEN_TO_ORIG,
             not_max_context=(), doc_span_index=0):
    max_context = {i: i not in not_max_context for i in token_to_orig}
    return Feature(unique_id, example_index, doc_span_index, list(tokens), dict(token_to_orig),
                   max_context)


def _logits(values, default=-10.0):
    out = np.full([SEQ], default, dtype=np.float32)
    for index, value in values.items():
        out[index] = value
    return out


# With n_best_size=4 the best start indexes are 18 (padding), 2 (question), 5, 9 and the best
# end indexes 19 (padding), 6, 10, 0 ([CLS]). The valid spans are
#   (5, 6)  "steve smith"              3 + 3 = 6
#   (5, 10) "steve smith ' s team won" 3 + 1 = 4   (6 tokens long)
#   (9, 10) "team won"                 2 + 1 = 3
# and (9, 6) ends before it starts; anything touching 18, 19, 2 or 0 is thrown out.
START = {18: 5.0, 2: 4.0, 5: 3.0, 9: 2.0, 0: 1.0}
END = {19: 6.0, 6: 3.0, 10: 1.0, 0: 0.5}
EXAMPLE = Example("q1", "who won?", DOC_TOKENS)


def _predict(features, results, examples=(EXAMPLE,), **kwargs):
    kwargs.setdefault("n_best_size", 4)
    kwargs.setdefault("do_lower_case", True)
    kwargs.setdefault("version_2_with_negative", False)
    return compute_predictions(list(examples), features, results, **kwargs)


def _softmax(scores):
    # exp(s - max) / sum, written out independently of the code under test.
    exps = [math.exp(s - max(scores)) for s in scores]
    return [e / sum(exps) for e in exps]


def test_v1_nbest_order_texts_and_probabilities():
    predictions, nbest, null_odds = _predict(
        [_feature()], [RawResult(1000, _logits(START), _logits(END))])
    assert predictions == {"q1": "Steve Smith"}
    assert null_odds is None
    entries = nbest["q1"]
    # Texts come from the original words: casing and "'s" restored / trimmed.
    assert [e["text"] for e in entries] == ["Steve Smith", "Steve Smith's team won", "team won"]
    assert [(e["start_logit"], e["end_logit"]) for e in entries] == [(3.0, 3.0), (3.0, 1.0),
                                                                     (2.0, 1.0)]
    # softmax([6, 4, 3]): 1 / (1 + e^-2 + e^-3) = 0.8438, e^-2 / ... = 0.1142, e^-3 / ... = 0.0420
    z = 1 + math.exp(-2) + math.exp(-3)
    np.testing.assert_allclose([e["probability"] for e in entries],
                               [1 / z, math.exp(-2) / z, math.exp(-3) / z], rtol=1e-12)
    assert list(entries[0]) == ["text", "probability", "start_logit", "end_logit"]
    assert all(type(e[k]) is float for e in entries
               for k in ("probability", "start_logit", "end_logit"))


def test_n_best_size_limits_indexes_and_entries():
    # n_best_size=3: start indexes 18, 2, 5 and end indexes 19, 6, 10; (9, 10) is never tried.
    _, nbest, _ = _predict([_feature()], [RawResult(1000, _logits(START), _logits(END))],
                           n_best_size=3)
    assert [e["text"] for e in nbest["q1"]] == ["Steve Smith", "Steve Smith's team won"]


@pytest.mark.parametrize("max_answer_length, texts", [
    (6, ["Steve Smith", "Steve Smith's team won", "team won"]),  # (5, 10) is 6 tokens: kept
    (5, ["Steve Smith", "team won"]),                            # ... and now too long
])
def test_max_answer_length(max_answer_length, texts):
    _, nbest, _ = _predict([_feature()], [RawResult(1000, _logits(START), _logits(END))],
                           max_answer_length=max_answer_length)
    assert [e["text"] for e in nbest["q1"]] == texts


def test_one_token_answers():
    # Best starts 5, 6 (then the -10 ties 0, 1, lowest index first); best ends 6, 5, 0, 1.
    # With max_answer_length=1: (5, 6) = 3 + 3 = 6 is two tokens and goes; (5, 5) = 3 + 2 = 5
    # "steve" and (6, 6) = 1 + 3 = 4 "smith" (-> "Smith" out of "Smith's") stay.
    start, end = {5: 3.0, 6: 1.0}, {5: 2.0, 6: 3.0}
    predictions, nbest, _ = _predict([_feature()], [RawResult(1000, _logits(start),
                                                              _logits(end))],
                                     max_answer_length=1)
    assert [e["text"] for e in nbest["q1"]] == ["Steve", "Smith"]
    assert predictions["q1"] == "Steve"


def test_spans_starting_outside_their_max_context_are_skipped():
    # Token 5 is not max context here: (5, 6) and (5, 10) go. Token 10 is not either, but only
    # the start is checked (as the original), so (9, 10) stays.
    _, nbest, _ = _predict([_feature(not_max_context=(5, 10))],
                           [RawResult(1000, _logits(START), _logits(END))])
    assert [e["text"] for e in nbest["q1"]] == ["team won"]


def _two_windows():
    # A second window of the same document holds "team won the cup" at tokens 5-8.
    second = _feature(1001, tokens=TOKENS[:5] + ["team", "won", "the", "cup", "[SEP]"],
                      token_to_orig={5: 2, 6: 3, 7: 4, 8: 5}, doc_span_index=1)
    results = [
        # Null score of the first window: 1.0 + 0.5 = 1.5.
        RawResult(1000, _logits(START), _logits(END)),
        # Second window: null 0.25 + 0.25 = 0.5 (the smaller, so the one used); its best span
        # (5, 6) "team won" scores 2.5 + 0.25 = 2.75 < 3.0 of the first window's "team won",
        # so it is dropped as a repeated text. (All logits are exact in float32.)
        RawResult(1001, _logits({0: 0.25, 5: 2.5}), _logits({0: 0.25, 6: 0.25})),
    ]
    return [_feature(), second], results


@pytest.mark.parametrize("threshold, expected", [
    (0.0, "Steve Smith"),   # null odds 0.5 - 6.0 = -5.5, not > 0
    (-5.5, "Steve Smith"),  # not > -5.5 (strictly greater is needed)
    (-5.6, ""),             # -5.5 > -5.6
])
def test_v2_null_score_threshold(threshold, expected):
    features, results = _two_windows()
    predictions, nbest, null_odds = _predict(features, results, version_2_with_negative=True,
                                             null_score_diff_threshold=threshold)
    assert predictions == {"q1": expected}
    assert null_odds == {"q1": -5.5}
    entries = nbest["q1"]
    # Scores 6, 4, 3, then the null answer at 0.5 from the second window's [CLS] logits.
    assert [e["text"] for e in entries] == ["Steve Smith", "Steve Smith's team won",
                                            "team won", ""]
    assert (entries[3]["start_logit"], entries[3]["end_logit"]) == (0.25, 0.25)
    np.testing.assert_allclose([e["probability"] for e in entries], _softmax([6, 4, 3, 0.5]),
                               rtol=1e-12)


def test_v2_null_entry_is_added_after_a_full_nbest():
    # n_best_size=3: the first window tries starts 18, 2, 5 and ends 19, 6, 10, so its
    # "team won" (9, 10) is never tried; the second window's (5, 6) "team won" = 2.75 is.
    # Scores 6, 4, 2.75 fill the n-best; the null answer (0.5) still joins, 4th.
    features, results = _two_windows()
    _, nbest, null_odds = _predict(features, results, n_best_size=3,
                                   version_2_with_negative=True)
    entries = nbest["q1"]
    assert [e["text"] for e in entries] == ["Steve Smith", "Steve Smith's team won",
                                            "team won", ""]
    assert [(e["start_logit"], e["end_logit"]) for e in entries[2:]] == [(2.5, 0.25),
                                                                          (0.25, 0.25)]
    assert null_odds == {"q1": -5.5}


def test_v2_without_any_non_null_candidate_predicts_empty():
    # n_best_size=2: starts 18 (padding) and 2 (question), ends 19 and 6: no valid span. The
    # n-best is the null answer alone; the original dies on best_non_null_entry.start_logit.
    predictions, nbest, null_odds = _predict(
        [_feature()], [RawResult(1000, _logits(START), _logits(END))], n_best_size=2,
        version_2_with_negative=True, null_score_diff_threshold=100.0)
    assert predictions == {"q1": ""}  # even though null odds 1.5 are below the threshold
    # Null score 1.0 + 0.5 = 1.5, against a missing best non-null entry taken as 0.0 + 0.0.
    assert null_odds == {"q1": 1.5}
    assert nbest["q1"] == [{"text": "", "probability": 1.0, "start_logit": 1.0,
                            "end_logit": 0.5}]


def test_v1_without_any_valid_span_predicts_empty():
    # Same logits; the original predicts its placeholder text "empty" here.
    predictions, nbest, _ = _predict(
        [_feature()], [RawResult(1000, _logits(START), _logits(END))], n_best_size=2)
    assert predictions == {"q1": ""}
    assert nbest["q1"] == [{"text": "", "probability": 1.0, "start_logit": 0.0,
                            "end_logit": 0.0}]


@pytest.mark.parametrize("version_2", [False, True])
def test_example_without_features(version_2):
    other = Example("q2", "who?", ["Nobody"])
    predictions, nbest, null_odds = _predict(
        [_feature()], [RawResult(1000, _logits(START), _logits(END))],
        examples=[EXAMPLE, other], version_2_with_negative=version_2)
    assert list(predictions) == ["q1", "q2"]
    assert predictions["q2"] == ""
    assert nbest["q2"] == [{"text": "", "probability": 1.0, "start_logit": 0.0,
                            "end_logit": 0.0}]
    if version_2:
        assert null_odds["q2"] == 0.0


def test_missing_result_is_an_input_error():
    with pytest.raises(InputError, match="unique_id=1000.*'q1'"):
        _predict([_feature()], [RawResult(999, _logits(START), _logits(END))])


def test_word_pieces_are_joined_and_mapped_back():
    example = Example("q3", "whose car?", ["Johanson's", "Car"])
    tokens = ["[CLS]", "whose", "car", "?", "[SEP]", "johan", "##son", "'", "s", "car", "[SEP]"]
    feature = _feature(7, tokens=tokens, token_to_orig={5: 0, 6: 0, 7: 0, 8: 0, 9: 1})
    # Best span (5, 6) = 2 + 2: "johan ##son" -> "johanson" -> "Johanson" in "Johanson's".
    # Then (5, 9) = 2 + 1 "johanson ' s car" -> "Johanson's Car".
    predictions, nbest, _ = _predict([feature], [RawResult(7, _logits({5: 2.0}),
                                                           _logits({6: 2.0, 9: 1.0}))],
                                     examples=[example], n_best_size=2)
    assert predictions == {"q3": "Johanson"}
    assert [e["text"] for e in nbest["q3"]] == ["Johanson", "Johanson's Car"]


@pytest.mark.parametrize("pred_text, orig_text, do_lower_case, expected", [
    # The docstring example of the original: drop the "'s" and keep the casing.
    ("steve smith", "Steve Smith's", True, "Steve Smith"),
    # Accents stripped by the uncased tokenizer come back from the original text.
    ("cafe muller", "Café Müller", True, "Café Müller"),
    ("muller", "Müller's", True, "Müller"),
    # Cased model: only the punctuation split matters.
    ("Smith", "Smith's", False, "Smith"),
    # Fallbacks to the whole original text:
    # the prediction is not in the tokenized text (an [UNK] piece) ...
    ("[UNK]", "x\u2603y", True, "x\u2603y"),
    # ... a lower-cased model's text against a cased tokenization ...
    ("steve", "Steve Smith's", False, "Steve Smith's"),
    # ... or different lengths: "e" + U+0301 is two characters, one once the accent is gone.
    ("cafe", "Cafe\u0301s", True, "Cafe\u0301s"),
])
def test_get_final_text(pred_text, orig_text, do_lower_case, expected):
    assert get_final_text(pred_text, orig_text, do_lower_case) == expected


def test_write_predictions_layouts(tmp_path):
    predictions, nbest, null_odds = _predict(
        [_feature()], [RawResult(1000, _logits(START), _logits(END))], n_best_size=2)
    written = write_predictions(tmp_path / "out", {"q1": "Café"}, nbest, None)
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["nbest_predictions.json", "predictions.json"]
    assert written == {"predictions": str(out / "predictions.json"),
                       "nbest": str(out / "nbest_predictions.json")}
    # The original: json.dumps(obj, indent=4) + "\n", ASCII escapes, keys in order.
    assert (out / "predictions.json").read_text() == '{\n    "q1": "Caf\\u00e9"\n}\n'
    assert (out / "nbest_predictions.json").read_text() == (
        '{\n    "q1": [\n        {\n            "text": "",\n            "probability": 1.0,\n'
        '            "start_logit": 0.0,\n            "end_logit": 0.0\n        }\n    ]\n}\n')


def test_write_predictions_v2_to_paths(tmp_path):
    features, results = _two_windows()
    predictions, nbest, null_odds = _predict(features, results, version_2_with_negative=True)
    paths = [tmp_path / "p.json", tmp_path / "n.json", tmp_path / "odds.json"]
    write_predictions(paths, predictions, nbest, null_odds)
    assert paths[2].read_text() == '{\n    "q1": -5.5\n}\n'
    assert json.loads(paths[0].read_text()) == {"q1": "Steve Smith"}
    assert json.loads(paths[1].read_text()) == json.loads(json.dumps(nbest))
    assert sorted(os.listdir(tmp_path)) == ["n.json", "odds.json", "p.json"]  # no temp files
    with pytest.raises(InputError, match="null odds"):
        write_predictions(paths[:2], predictions, nbest, null_odds)
