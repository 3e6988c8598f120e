"""SQuAD examples and features: positions worked out by hand, and the fast path equal to the
original per-doc-token algorithm on hand-made and fuzzed contexts.

Expected positions below come from reading the original run_squad.py by hand, not from this
code: pieces are numbered from 0 over the whole document, a window is (start, length) in
pieces, and a piece p of window (s, l) sits at position p - s + len(query) + 2.
"""

import dataclasses
import json
import pathlib
import random

import pytest

from bert_tf import fast_tokenization
from bert_tf.data import squad
from bert_tf.data.squad import SquadExample
from bert_tf.errors import InputError
from bert_tf.tokenization import FullTokenizer
from tests.conftest import write_vocab

DATA = pathlib.Path(__file__).parent / "data" / "squad"

VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "leader", "was", "john", "smith", "(",
          "1895", "-", "1943", ")", ".", ",", "?", "when", "born", "who", "japanese", "cafe",
          "au", "lait", "in", "paris", "naive", "北", "京"] + list("abcdefghij"))
FALLBACK_MESSAGE = "tokenized doc token by doc token"


@pytest.fixture
def tokenizer(tmp_path):
    return FullTokenizer(write_vocab(tmp_path / "vocab.txt", VOCAB), do_lower_case=True)


def _ids(tokens):
    return [VOCAB.index(t) for t in tokens]


def _assert_same(fast, original):
    assert len(fast) == len(original), "different numbers of features"
    for index, (a, b) in enumerate(zip(fast, original)):
        for field in dataclasses.fields(squad.SquadFeatures):
            assert getattr(a, field.name) == getattr(b, field.name), (
                f"feature {index} (example {b.example_index}, window {b.doc_span_index}): "
                f"{field.name} differs")


def _features(examples, tokenizer, max_seq_length, doc_stride, max_query_length, is_training):
    """The fast path's features, after checking that the original path gives the same."""
    fast = squad.convert_examples_to_features(examples, tokenizer, max_seq_length, doc_stride,
                                              max_query_length, is_training)
    original = squad.convert_examples_to_features(examples, tokenizer, max_seq_length,
                                                  doc_stride, max_query_length, is_training,
                                                  fast=False)
    _assert_same(fast, original)
    return fast


def _letters_example(words, start=None, end=None, question="who ?", impossible=False):
    """An example on a context of one-piece doc tokens ("a", "b", ...): piece i = doc token i."""
    if impossible:
        return SquadExample("q", question, words, "", -1, -1, is_impossible=True)
    if start is None:
        return SquadExample("q", question, words)
    text = " ".join(words[start:end + 1])
    return SquadExample("q", question, words, text, start, end, answers=[text])


# ---- Reading ----


def test_split_context_whitespace_and_char_offsets():
    # Separators: two spaces, U+202F, a tab, a newline. U+00A0 (no-break space) is NOT one: it
    # stays inside "Smith\u00a0Jr". A separator maps to the doc token before it.
    context = "The  leader\u202fwas\tJohn\nSmith\u00a0Jr (1895-1943)."
    doc_tokens, offsets = squad.split_context(context)
    assert doc_tokens == ["The", "leader", "was", "John", "Smith\u00a0Jr", "(1895-1943)."]
    assert offsets == ([0] * 3 + [0, 0] + [1] * 6 + [1] + [2] * 3 + [2] + [3] * 4 + [3]
                       + [4] * 8 + [4] + [5] * 12)
    # Leading whitespace precedes every doc token: -1.
    assert squad.split_context(" \ta b") == (["a", "b"], [-1, -1, 0, 0, 1])


def test_read_training_v1_positions_and_skipped_answers(caplog):
    examples = squad.read_squad_examples(str(DATA / "train-v1.1.json"), is_training=True,
                                         version_2_with_negative=False)
    assert [e.qas_id for e in examples] == ["smith-born", "smith-who", "paris-city",
                                            "paris-naive"]
    born, who, city, naive = examples
    # "The leader was John Smith (1895-1943)." -> doc tokens 0 The ... 4 Smith 5 (1895-1943).
    # "1895" at characters 27-30 lies in doc token 5; "John Smith" at 15-24 in 3 and 4.
    assert born.doc_tokens == ["The", "leader", "was", "John", "Smith", "(1895-1943)."]
    assert (born.orig_answer_text, born.start_position, born.end_position) == ("1895", 5, 5)
    assert (who.start_position, who.end_position, who.answers) == (3, 4, ["John Smith"])
    assert who.doc_tokens is born.doc_tokens  # One list per paragraph, as the original.
    # "Café\u00a0au lait\u202f\u202fin\t\tParis,\r\nnaïve\u200b 北京.": characters 0-6
    # "Café\u00a0au" (doc token 0), 8-11 "lait" (1), 14-15 "in" (2), 18-23 "Paris," (3),
    # 26-31 "naïve\u200b" (4), 33-35 "北京." (5).
    assert city.doc_tokens == ["Caf\u00e9\u00a0au", "lait", "in", "Paris,", "na\u00efve\u200b",
                               "\u5317\u4eac."]
    assert (city.start_position, city.end_position) == (5, 5)
    assert (naive.start_position, naive.end_position) == (4, 4)
    assert not any(e.is_impossible for e in examples)
    # "Londres" at the offset of "Paris," and a decomposed "naïve" are not in the context.
    assert "skipped 2 of 6 training questions" in caplog.text


def test_read_training_v2_impossible():
    born, city = squad.read_squad_examples(str(DATA / "train-v2.0.json"), is_training=True,
                                           version_2_with_negative=True)
    assert (born.is_impossible, born.start_position, born.end_position) == (False, 5, 5)
    assert (city.is_impossible, city.orig_answer_text, city.start_position,
            city.end_position, city.answers) == (True, "", -1, -1, [])


def test_read_eval_keeps_every_answer_and_no_positions():
    who, city = squad.read_squad_examples(str(DATA / "dev-v2.0.json"), is_training=False,
                                          version_2_with_negative=True)
    assert who.answers == ["John Smith", "John Smith", "Smith"]
    assert city.answers == []
    # As the original: evaluation examples carry no positions, and is_impossible is only read
    # for training (the answers list says it for evaluation).
    assert (who.orig_answer_text, who.start_position, who.end_position) == (None, None, None)
    assert not city.is_impossible


def _squad_file(tmp_path, qa=None, context="a b c", data=None):
    if data is None:
        data = {"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


_QA = {"id": "q-bad", "question": "b ?", "answers": [{"text": "b", "answer_start": 2}]}


@pytest.mark.parametrize("qa, version_2, message", [
    ({**_QA, "answers": [{"text": "b", "answer_start": 99}]}, False, "outside"),
    ({**_QA, "answers": [{"text": "c", "answer_start": 4}, {"text": "b", "answer_start": 2}]},
     False, "exactly 1 answer"),
    ({**_QA, "answers": []}, False, "exactly 1 answer"),
    ({k: v for k, v in _QA.items() if k != "answers"}, False, "missing \"answers\""),
    ({k: v for k, v in _QA.items() if k != "question"}, False, "missing \"question\""),
    ({**_QA, "answers": [{"text": "b", "answer_start": "2"}]}, False, "answer_start"),
    ({**_QA, "answers": [{"text": "b", "answer_start": -1}]}, False, "outside"),
    ({**_QA, "answers": [{"answer_start": 2}]}, False, "missing \"text\""),
    (_QA, True, "is_impossible"),
    ({**_QA, "is_impossible": "no"}, True, "is_impossible"),
])
def test_bad_question_names_file_and_question(tmp_path, qa, version_2, message):
    path = _squad_file(tmp_path, qa)
    with pytest.raises(InputError, match=message) as error:
        squad.read_squad_examples(path, is_training=True, version_2_with_negative=version_2)
    assert "bad.json" in str(error.value) and "q-bad" in str(error.value)


@pytest.mark.parametrize("data, message", [
    ("not json", "not JSON"),
    ({"rows": []}, "missing \"data\""),
    ({"data": {"paragraphs": []}}, "\"data\" must be"),
    ({"data": [{"title": "t"}]}, "data\\[0\\]: missing \"paragraphs\""),
    ({"data": [{"paragraphs": [{"qas": []}]}]}, "paragraphs\\[0\\]: missing \"context\""),
    ({"data": [{"paragraphs": [{"context": 7, "qas": []}]}]}, "\"context\" must be"),
    ({"data": [{"paragraphs": [{"context": "a", "qas": [{"question": "?"}]}]}]},
     "qas\\[0\\]: missing \"id\""),
])
def test_not_squad_json_names_the_file(tmp_path, data, message):
    path = _squad_file(tmp_path, data=data)
    with pytest.raises(InputError, match=message) as error:
        squad.read_squad_examples(path, is_training=True, version_2_with_negative=False)
    assert "bad.json" in str(error.value)
    with pytest.raises(InputError, match="no such file"):
        squad.read_squad_examples(str(tmp_path / "missing.json"), True, False)


@pytest.mark.parametrize("is_training", [True, False])
def test_a_squad_2_file_without_version_2_says_so(tmp_path, is_training):
    # Was "each question should have exactly 1 answer" (training) or silent (prediction).
    qa = {"id": "q-none", "question": "b ?", "answers": [], "is_impossible": True}
    with pytest.raises(InputError, match=r"bad.json: question 'q-none': is_impossible is "
                                         r"true, so this is a SQuAD 2.0 file: add "
                                         r"--version_2_with_negative=true"):
        squad.read_squad_examples(_squad_file(tmp_path, qa), is_training=is_training,
                                  version_2_with_negative=False)


def test_eval_needs_no_answers_and_skips_nothing(tmp_path):
    qa = {"id": "q1", "question": "b ?"}
    [example] = squad.read_squad_examples(_squad_file(tmp_path, qa), is_training=False,
                                          version_2_with_negative=False)
    assert (example.answers, example.start_position) == ([], None)


def test_answers_the_reader_cannot_recover_are_skipped(tmp_path, caplog):
    # Only whitespace: nothing to find (the original would keep it, with positions that mean
    # nothing). An answer starting in the leading whitespace maps to doc token -1; the
    # original's check then looks at doc_tokens[-1:end + 1]: [] for "  a b" (skipped, as
    # there), ["a"] for "  a" (kept, with start_position 0 where the original wrote -1).
    data = {"data": [{"paragraphs": [
        {"context": "  a b", "qas": [
            {"id": "blank", "question": "?", "answers": [{"text": " ", "answer_start": 0}]},
            {"id": "lead-ab", "question": "?", "answers": [{"text": " a", "answer_start": 1}]}]},
        {"context": "  a", "qas": [
            {"id": "lead-a", "question": "?", "answers": [{"text": " a", "answer_start": 1}]}]},
    ]}]}
    [lead] = squad.read_squad_examples(_squad_file(tmp_path, data=data), True, False)
    assert (lead.qas_id, lead.start_position, lead.end_position) == ("lead-a", 0, 0)
    assert "skipped 2 of 3" in caplog.text


# ---- Features, by hand ----


def test_improved_answer_span_1895(tokenizer):
    # The original's own example. Query "when was john smith born ?" = 6 pieces, so the
    # document starts at position 8. Pieces: 0 the 1 leader 2 was 3 john 4 smith 5 ( 6 1895
    # 7 - 8 1943 9 ) 10 . ; doc token 5 "(1895-1943)." covers pieces 5-10, and the tokenized
    # answer "1895" matches piece 6 alone -> positions 6 + 8 = 14, 14.
    [born, who] = squad.read_squad_examples(str(DATA / "train-v1.1.json"), True, False)[:2]
    [f_born, f_who] = _features([born, who], tokenizer, 32, 8, 10, is_training=True)
    assert f_born.tokens[8:19] == ["the", "leader", "was", "john", "smith", "(", "1895", "-",
                                   "1943", ")", "."]
    assert (f_born.start_position, f_born.end_position) == (14, 14)
    assert f_born.token_to_orig_map == {8: 0, 9: 1, 10: 2, 11: 3, 12: 4, 13: 5, 14: 5, 15: 5,
                                        16: 5, 17: 5, 18: 5}
    # "who was the leader ?" = 5 pieces, document from 7; "John Smith" = pieces 3-4 -> 10, 11.
    assert (f_who.start_position, f_who.end_position) == (10, 11)
    assert (f_born.unique_id, f_who.unique_id) == (1000000000, 1000000001)
    assert (f_born.example_index, f_who.example_index) == (0, 1)


def test_answer_inside_a_bigger_piece_is_not_narrowed(tokenizer):
    # The original's other example: "Japan" annotated inside "Japanese", which is one piece;
    # "japan" never equals "japanese", so the answer stays the whole piece: 0 the 1 japanese
    # 2 leader, query "who ?" (2 pieces) -> document from 4, answer at 5, 5.
    example = SquadExample("q", "who ?", ["The", "Japanese", "leader"], "Japan", 1, 1)
    [feature] = _features([example], tokenizer, 12, 4, 4, is_training=True)
    assert (feature.start_position, feature.end_position) == (5, 5)


def test_windows_max_context_and_answer_at_a_window_edge(tokenizer):
    # 10 one-piece doc tokens a..j; query "who ?" = 2 pieces; max_seq_length 9 leaves
    # 9 - 2 - 3 = 4 pieces a window; stride 2: windows (0,4) (2,4) (4,4) (6,4) (6 + 4 = 10
    # ends the loop). Scores min(left, right) + 0.04: piece 2 scores 1.04 in window 0 and 0.04
    # in window 1 -> window 0; piece 3: 0.04 vs 1.04 -> window 1; piece 4: 1.04 vs 0.04 ->
    # window 1; 5 -> 2; 6 -> 2; 7 -> 3. The answer "d" = piece 3 is the last piece of window 0
    # (position 3 - 0 + 4 = 7) and the second of window 1 (3 - 2 + 4 = 5).
    words = list("abcdefghij")
    features = _features([_letters_example(words, 3, 3)], tokenizer, 9, 2, 4, is_training=True)
    assert [f.tokens for f in features] == [
        ["[CLS]", "who", "?", "[SEP]"] + list(window) + ["[SEP]"]
        for window in ("abcd", "cdef", "efgh", "ghij")]
    assert features[1].input_ids == _ids(["[CLS]", "who", "?", "[SEP]", "c", "d", "e", "f",
                                          "[SEP]"])
    assert all(f.input_mask == [1] * 9 for f in features)
    assert all(f.segment_ids == [0] * 4 + [1] * 5 for f in features)
    assert [f.token_to_orig_map for f in features] == [
        {4: 0, 5: 1, 6: 2, 7: 3}, {4: 2, 5: 3, 6: 4, 7: 5}, {4: 4, 5: 5, 6: 6, 7: 7},
        {4: 6, 5: 7, 6: 8, 7: 9}]
    T, F = True, False
    assert [list(f.token_is_max_context.values()) for f in features] == [
        [T, T, T, F], [F, T, T, F], [F, T, T, F], [F, T, T, T]]
    assert [(f.start_position, f.end_position) for f in features] == [
        (7, 7), (5, 5), (0, 0), (0, 0)]
    assert [f.doc_span_index for f in features] == [0, 1, 2, 3]


def test_answer_spanning_two_windows(tokenizer):
    # Same windows; the answer "d e" = pieces 3-4. Window 0 (pieces 0-3) lacks piece 4 and
    # window 2 (4-7) lacks piece 3: both point at [CLS]. Window 1 (2-5) holds both:
    # 3 - 2 + 4 = 5 and 4 - 2 + 4 = 6.
    features = _features([_letters_example(list("abcdefghij"), 3, 4)], tokenizer, 9, 2, 4,
                         is_training=True)
    assert [(f.start_position, f.end_position) for f in features] == [
        (0, 0), (5, 6), (0, 0), (0, 0)]


def test_long_context_many_windows_and_window_length_breaks_ties(tokenizer):
    # 30 one-piece doc tokens; query "who" = 1 piece, so the document starts at position 3;
    # max_seq_length 8 -> 4 pieces a window; stride 3: windows start at 0, 3, ..., 24 with 4
    # pieces, then (27, 3), since 24 + 4 = 28 < 30 and 27 + 3 = 30. The answer = piece 28
    # lies only in the last window: 28 - 27 + 3 = 4. Piece 27 scores 0 + 0.04 in window 8
    # (its last piece) and 0 + 0.03 in window 9 (its first): the longer window wins.
    words = [c for _ in range(3) for c in "abcdefghij"]
    features = _features([_letters_example(words, 28, 28, question="who")], tokenizer, 8, 3,
                         4, is_training=True)
    assert [f.token_to_orig_map[3] for f in features] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert [(f.start_position, f.end_position) for f in features] == [(0, 0)] * 9 + [(4, 4)]
    last = features[-1]
    assert last.tokens == ["[CLS]", "who", "[SEP]", "h", "i", "j", "[SEP]"]
    assert (last.input_mask, last.segment_ids) == ([1] * 7 + [0], [0] * 3 + [1] * 4 + [0])
    assert last.input_ids == _ids(last.tokens) + [0]
    assert last.token_is_max_context == {3: False, 4: True, 5: True}
    assert features[8].token_is_max_context == {3: False, 4: True, 5: True, 6: True}


def test_equal_scores_go_to_the_first_window(tokenizer):
    # 6 pieces, 4 a window, stride 1: windows (0,4) (1,4) (2,4). Piece 2 scores
    # min(2, 1) = 1 in window 0 and min(1, 2) = 1 in window 1, lengths equal: window 0 keeps
    # it (a strictly higher score is needed to move). Piece 3: 0 / 1 / 1 -> window 1.
    features = _features([_letters_example(list("abcdef"), question="who")], tokenizer, 8, 1,
                         4, is_training=False)
    T, F = True, False
    assert [list(f.token_is_max_context.values()) for f in features] == [
        [T, T, T, F], [F, F, T, F], [F, F, T, T]]


def test_impossible_and_evaluation_positions(tokenizer):
    words = list("abcdefghij")
    impossible = _features([_letters_example(words, impossible=True)], tokenizer, 9, 2, 4,
                           is_training=True)
    assert [(f.start_position, f.end_position, f.is_impossible) for f in impossible] == [
        (0, 0, True)] * 4
    evaluation = _features([_letters_example(words)], tokenizer, 9, 2, 4, is_training=False)
    assert [(f.start_position, f.end_position) for f in evaluation] == [(None, None)] * 4


def test_unicode_and_whitespace_heavy_context(tokenizer):
    # Doc tokens 0 "Café\u00a0au" 1 "lait" 2 "in" 3 "Paris," 4 "naïve\u200b" 5 "北京."; pieces
    # (lower-cased, accents stripped, U+200B dropped, CJK split): 0 cafe 1 au (both doc token
    # 0: the no-break space splits BERT words, not doc tokens) 2 lait 3 in 4 paris 5 , 6 naive
    # 7 北 8 京 9 . ; queries "in paris ?" and "naive ?" = 3 and 2 pieces -> documents at 5
    # and 4. "北京" = doc token 5 = pieces 7-9, narrowed to 7-8 -> 12, 13. "naïve" = piece 6
    # -> 10.
    examples = squad.read_squad_examples(str(DATA / "train-v1.1.json"), True, False)[2:]
    city, naive = _features(examples, tokenizer, 20, 4, 6, is_training=True)
    assert city.tokens[5:15] == ["cafe", "au", "lait", "in", "paris", ",", "naive", "北", "京",
                                 "."]
    assert list(city.token_to_orig_map.values()) == [0, 0, 1, 2, 3, 3, 4, 5, 5, 5]
    assert (city.start_position, city.end_position) == (12, 13)
    assert (naive.start_position, naive.end_position) == (10, 10)


def test_query_is_cut_to_max_query_length(tokenizer):
    # "when was john smith born ?" cut to 3 pieces; 10 - 3 - 3 = 4 document pieces a window.
    example = SquadExample("q", "When was John Smith born?", list("abcdef"))
    features = _features([example], tokenizer, 10, 2, 3, is_training=False)
    assert features[0].tokens == ["[CLS]", "when", "was", "john", "[SEP]", "a", "b", "c", "d",
                                  "[SEP]"]
    assert len(features) == 2


def test_lengths_that_leave_no_room_raise(tokenizer):
    example = _letters_example(list("ab"))
    with pytest.raises(InputError, match="max_query_length"):
        squad.convert_examples_to_features([example], tokenizer, 67, 1, 64, False)
    with pytest.raises(InputError, match="doc_stride"):
        squad.convert_examples_to_features([example], tokenizer, 16, 0, 4, False)


def test_each_distinct_context_is_tokenized_once(tokenizer, monkeypatch):
    seen = []
    batch = tokenizer.batch_tokenize_with_offsets

    def counting(texts):
        seen.append(list(texts))
        return batch(texts)

    monkeypatch.setattr(tokenizer, "batch_tokenize_with_offsets", counting)
    shared = list("abcdef")
    examples = [_letters_example(shared), _letters_example(shared),
                _letters_example(list("abcdef")), _letters_example(list("ghij"))]
    squad.convert_examples_to_features(examples, tokenizer, 9, 2, 4, is_training=False)
    assert seen[0] == ["a b c d e f", "g h i j"]  # The contexts; then the questions.
    assert seen[1] == ["who ?"] * 4


def test_offsets_that_do_not_fit_fall_back_to_doc_tokens(tokenizer, monkeypatch, caplog):
    # Pretend the batch path gave one piece across the space between doc tokens: that context
    # (and only it) is tokenized doc token by doc token, and the features do not change.
    batch = tokenizer.batch_tokenize_with_offsets

    def broken(texts):
        results = batch(texts)
        if texts and texts[0] == "a b c":
            tokens, offsets = results[0]
            results[0] = (tokens, [(0, 3)] + offsets[1:])
        return results

    examples = [_letters_example(list("abc"), 1, 1), _letters_example(list("def"), 2, 2)]
    original = squad.convert_examples_to_features(examples, tokenizer, 9, 2, 4, True, fast=False)
    monkeypatch.setattr(tokenizer, "batch_tokenize_with_offsets", broken)
    _assert_same(squad.convert_examples_to_features(examples, tokenizer, 9, 2, 4, True),
                 original)
    assert "1 of 2 contexts had pieces that do not fall in one doc token each" in caplog.text


# ---- The fast path equals the original: hand-made tricky contexts, then fuzz ----

HARD_DOC_TOKENS = [
    ["Caf\u00e9\u00a0au", "lait"],                # No-break space inside a doc token.
    ["x\u200b", "\u200b", "\x00\x07", "b"],     # Doc tokens that tokenize to nothing.
    ["", "a", "", "", "b"],                      # Empty doc tokens (made by hand).
    ["New York", "a\u3000b\u2028c"],           # BERT whitespace inside doc tokens.
    ["a" * 199 + "b", "a" * 201, "\u00e9" * 200 + "e\u0301"],  # Around the 200-character cap.
    ["Se\u0301\u0301a\u0308", "A\u030a\u0327", "\u00c5", "\u212b"],   # Combining marks.
    ["\u039f\u0394\u039f\u03a3", "\u03a3", "\u03c3\u03c2"],  # Greek sigma (Python path).
    ["\ue000a", "b\U000e0001", "\U00020000\u5317"],         # Private use, tags, CJK ext. B.
    ["\ud55c\uad6d\uc5b4", "\uff21\uff42", "\U0001f600!"],   # Hangul, full-width, emoji.
    ["(1895-1943).", "don't", "a.b,c", "--", "\ufeffa\u00adb"],  # Punctuation, BOM, soft hyphen.
]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_fast_equals_original_on_hard_contexts(tmp_path, do_lower_case, caplog):
    tokenizer = FullTokenizer(write_vocab(tmp_path / "vocab.txt", _fuzz_vocab()), do_lower_case)
    examples = []
    for doc_tokens in HARD_DOC_TOKENS:
        for i in range(len(doc_tokens)):   # An answer on every doc token, even empty ones.
            examples.append(SquadExample("q", "a b", doc_tokens, doc_tokens[i] or "a", i, i))
        examples.append(SquadExample("q", "\u03a3 \ue000", doc_tokens))
    for is_training in (True, False):
        chosen = [e for e in examples if (e.orig_answer_text is not None) == is_training]
        _features(chosen, tokenizer, 12, 3, 4, is_training)
    assert FALLBACK_MESSAGE not in caplog.text


def _fuzz_vocab():
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\u00e9\u00f1\u03c3"
    return (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "un", "##want", "##ed", "runn",
             "##ing", "hello", "world", "cafe", "##fe", "na", "##ive", "北", "京", "\u1112",
             "##\u1161", "##\u11ab"] + list(letters) + ["##" + c for c in letters]
            + list(",.!?()-'\";:"))


_WORDS = ["the", "Cat", "unwanted", "RUNNING", "hello", "world", "caf\u00e9", "cafe\u0301",
          "na\u00efve", "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", "\u039f\u0394\u039f\u03a3",
          "\u5317\u4eac", "\ud55c\uad6d", "\U0001f600", "\uff21\uff42", "\U00020000",
          "don't", "(1895-1943).", "a.b,c", "w\u00f6rd", "\u00c5ngstr\u00f6m", "x\u0301\u0327"]
_INNER = ["\u00a0", "\u3000", "\u2028", "\u2009", "\x00", "\x07", "\u200b", "\u200d",
          "\ufeff", "\u00ad", "\ufffd", "\x1c", "\x85", "-", ".", "'", "\u0301"]
_SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", "\u202f", " \u202f "]
_PYTHON_ONLY = ["\ue000", "\U000e0001", "\u0378"]  # Private use, tag, unassigned.


def _fuzz_context(rng):
    parts = []
    for _ in range(rng.randint(1, 40)):
        roll = rng.random()
        if roll < 0.55:
            unit = rng.choice(_WORDS)
        elif roll < 0.8:
            unit = rng.choice(_INNER)
        elif roll < 0.97:
            unit = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz\u00e9")
                           for _ in range(rng.randint(1, 12)))
        else:
            unit = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(190, 215)))
        if rng.random() < 0.04:
            unit += rng.choice(_PYTHON_ONLY)
        parts.append(unit)
        parts.append(rng.choice(_SEPARATORS) if rng.random() < 0.75 else "")
    lead = rng.choice(["", "", " ", "\n\t"])
    return lead + "".join(parts)


def _fuzz_file(path, rng, num_contexts):
    """SQuAD v2.0 JSON: per context an answer at a random slice and an impossible question."""
    paragraphs = []
    for p in range(num_contexts):
        context = _fuzz_context(rng)
        start = rng.randrange(len(context))
        text = context[start:start + rng.randint(1, 30)]
        question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
        paragraphs.append({"context": context, "qas": [
            {"id": f"{p}-a", "question": question, "is_impossible": False,
             "answers": [{"text": text, "answer_start": start}]},
            {"id": f"{p}-x", "question": question + "?", "is_impossible": True,
             "answers": []}]})
    path.write_text(json.dumps({"data": [{"paragraphs": paragraphs}]}), encoding="utf-8")
    return str(path)


def _check_fuzz(tmp_path, seed, num_contexts, caplog):
    rng = random.Random(seed)
    train_file = _fuzz_file(tmp_path / f"fuzz{seed}.json", rng, num_contexts)
    vocab_file = write_vocab(tmp_path / "vocab.txt", _fuzz_vocab())
    num_answered = 0
    for do_lower_case in (True, False):
        tokenizer = FullTokenizer(vocab_file, do_lower_case)
        routing = fast_tokenization.FastBertTokenizer(tokenizer)
        for is_training in (True, False):
            examples = squad.read_squad_examples(train_file, is_training, True)
            max_seq_length = rng.choice([12, 16, 24, 40])
            _features(examples, tokenizer, max_seq_length, rng.randint(1, 6),
                      rng.randint(1, max_seq_length - 4), is_training)
            if is_training:
                num_answered += sum(not e.is_impossible for e in examples)
        contexts = {" ".join(e.doc_tokens) for e in examples}
        on_python = sum(routing.needs_python_path(c) for c in contexts)
        assert 0 < on_python < len(contexts)  # Both routes of the batch path were taken.
    assert num_answered > num_contexts  # Most answers survived the reader.
    assert FALLBACK_MESSAGE not in caplog.text


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_equals_original_fuzzed(tmp_path, seed, caplog):
    _check_fuzz(tmp_path, seed, 120, caplog)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 6))
def test_fast_equals_original_fuzzed_long(tmp_path, seed, caplog):
    _check_fuzz(tmp_path, seed, 500, caplog)
