"""SQuAD v1.1 / v2.0: examples from the official JSON and windowed features, as run_squad.py.

`read_squad_examples` and `convert_examples_to_features` follow google-research/bert
`run_squad.py` step by step, so the features (and so a model fine-tuned on them) are the
original's:

  * A context is split into doc tokens at " ", tab, "\\r", "\\n" and U+202F only (the original's
    own `is_whitespace`, not BERT's): a no-break space U+00A0 stays inside a doc token. An
    answer's character offset becomes a doc-token index through `char_to_word_offset`.
  * Every doc token is word-piece tokenized; the question is cut to `max_query_length` pieces;
    the document pieces are cut into windows ("doc spans") of
    max_seq_length - len(query) - 3 pieces whose starts are `doc_stride` pieces apart; each
    window becomes one feature `[CLS] query [SEP] window [SEP]`.
  * Training labels: the answer's pieces are narrowed to the pieces of the tokenized answer
    text where they occur (`_improve_answer_span`: "1895" inside "(1895-1943)."); a window
    that does not hold the whole answer, and every window of an impossible (v2.0) question,
    points at [CLS] (position 0).
  * `token_is_max_context` marks, for each piece, the window where it has the most context
    (min(left, right) + 0.01 * window length, the first window on ties); prediction reads each
    piece from that window only.

Two tokenization paths give the same features. `fast=False` is the original: `tokenize` on
every doc token of every example. The default tokenizes each distinct context once, whole, with
`FullTokenizer.batch_tokenize_with_offsets` (Rust), on the doc tokens joined by single spaces,
and gives each piece to the doc token its character offsets fall in. That is the same as
tokenizing doc token by doc token because a space is a word boundary at every step of BERT's
tokenizer and no step looks across one (control-character removal, CJK padding and punctuation
splitting go character by character; lower-casing, accent stripping and WordPiece go word by
word), and because the batch path gives exactly the pure-Python tokens
(`bert_tf/fast_tokenization.py` sends texts where Rust differs to Python). A context whose
offsets do not fit that picture (a piece outside every doc token, across two, or out of order)
is tokenized doc token by doc token instead, with a warning; `tests/test_squad_data.py`
compares the two paths on hand-made and fuzzed contexts.

Deviations from the original, for inputs it would crash on or turn into nonsense: malformed
files raise `InputError` naming the file and question; a training answer that is empty or only
whitespace is skipped like an answer not found in the context (the original kept it with
meaningless positions); an answer starting in the context's leading whitespace gets
start_position 0 where the original wrote -1 (same features: it is kept only when the context
is one doc token).
Nothing here imports TensorFlow.
"""

import dataclasses
import json
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np

from bert_tf import tokenization
from bert_tf.data.tfrecord import FeatureSpec
from bert_tf.data.windows import max_context_windows, window_spans
from bert_tf.errors import InputError

# The original numbers features from here; predictions are matched back through these ids.
FIRST_UNIQUE_ID = 1000000000

@dataclasses.dataclass
class SquadExample:
    """One question on one context.

    Attributes:
        qas_id: the question's "id".
        question_text: str.
        doc_tokens: the context split at whitespace (shared by a paragraph's questions).
        orig_answer_text: training only: the answer text ("" if impossible).
        start_position, end_position: training only: doc-token indices of the answer's first
            and last doc token (-1 if impossible).
        is_impossible: training with v2.0 only: the question has no answer in the context.
        answers: every gold answer text, in file order (for evaluation).
    """

    qas_id: str
    question_text: str
    doc_tokens: List[str]
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False
    answers: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SquadFeatures:
    """One window of one example: `[CLS] query [SEP] doc pieces [SEP]`, padded to S.

    Attributes:
        unique_id: int, from FIRST_UNIQUE_ID up, in order.
        example_index: index of the example in the list given.
        doc_span_index: index of the window within its example.
        tokens: the pieces, [CLS] and [SEP] included, without padding.
        token_to_orig_map: position in `tokens` -> doc-token index, for document pieces.
        token_is_max_context: position -> bool, for document pieces: this window is the one
            where the piece has the most context.
        input_ids, input_mask, segment_ids: int lists of length S (max_seq_length).
        start_position, end_position: training only: positions of the answer's first and last
            piece in this window, 0 ([CLS]) if the window does not hold it or it is impossible.
        is_impossible: the example's `is_impossible`.
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: List[str]
    token_to_orig_map: Dict[int, int]
    token_is_max_context: Dict[int, bool]
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


def _is_whitespace(char):
    """The original run_squad's doc-token separators (narrower than BERT's whitespace)."""
    return char in " \t\r\n" or ord(char) == 0x202F


def split_context(context: str) -> Tuple[List[str], List[int]]:
    """Splits a context into doc tokens, as the original `read_squad_examples`.

    Returns:
        (doc_tokens, char_to_word_offset): `char_to_word_offset[i]` is the index of the doc
        token holding context[i]; a separator maps to the doc token before it (-1 at the start).
    """
    doc_tokens, char_to_word_offset = [], []
    prev_is_whitespace = True
    for char in context:
        if _is_whitespace(char):
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(char)
            else:
                doc_tokens[-1] += char
            prev_is_whitespace = False
        char_to_word_offset.append(len(doc_tokens) - 1)
    return doc_tokens, char_to_word_offset


def _load_json(input_file):
    try:
        with open(input_file, "r", encoding="utf-8-sig") as reader:
            return json.load(reader)
    except FileNotFoundError:
        raise InputError(f"{input_file}: no such file, expected a SQuAD JSON file.") from None
    except IsADirectoryError:
        raise InputError(f"{input_file}: is a directory, expected a SQuAD JSON file.") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{input_file}: not UTF-8 text ({e}).") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{input_file}: not JSON ({e}); expected a SQuAD file "
                         '{"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}.') from None


def _field(record, key, kinds, where, what):
    """record[key], checked to be an instance of `kinds`; else an InputError saying where."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, found {type(record).__name__}.")
    if key not in record:
        raise InputError(f"{where}: missing \"{key}\" ({what}).")
    value = record[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    # JSON true/false are Python bools, which are also ints: only accept them when asked for.
    if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
        raise InputError(f"{where}: \"{key}\" must be {what}, found {value!r:.60}.")
    return value


def read_squad_examples(input_file: str, is_training: bool,
                        version_2_with_negative: bool) -> List[SquadExample]:
    """Reads a SQuAD JSON file into examples, in file order.

    Args:
        input_file: path of a file in the official layout: {"data": [{"paragraphs":
            [{"context": str, "qas": [{"id", "question", "answers": [{"text",
            "answer_start"}], "is_impossible"}]}]}]}.
        is_training: read the answer positions (one answer per question; training questions
            whose answer text is not in the context are skipped with a warning, as the
            original does).
        version_2_with_negative: SQuAD 2.0: training questions carry "is_impossible".

    Returns:
        list of SquadExample.

    Raises:
        InputError: the file is missing or not SQuAD JSON, a field is missing or of the wrong
            type, a question is impossible but not `version_2_with_negative`, or (training) a
            question has other than one answer or an answer_start
            outside its context. The message names the file and the question id.
    """
    input_data = _field(_load_json(input_file), "data", list, input_file,
                        "the list of articles of a SQuAD file")
    examples, num_skipped = [], 0
    for i, entry in enumerate(input_data):
        paragraphs = _field(entry, "paragraphs", list, f"{input_file}: data[{i}]", "a list")
        for j, paragraph in enumerate(paragraphs):
            where = f"{input_file}: data[{i}].paragraphs[{j}]"
            context = _field(paragraph, "context", str, where, "a string")
            qas = _field(paragraph, "qas", list, where, "a list of questions")
            doc_tokens, char_to_word_offset = split_context(context)
            for k, qa in enumerate(qas):
                qas_id = _field(qa, "id", (str, int), f"{where}.qas[{k}]", "a string")
                example = _read_question(qa, qas_id, context, doc_tokens, char_to_word_offset,
                                         is_training, version_2_with_negative,
                                         f"{input_file}: question {qas_id!r}")
                if example is None:
                    num_skipped += 1
                else:
                    examples.append(example)
    if num_skipped:
        logging.warning("%s: skipped %d of %d training questions whose answer text could not "
                        "be found in the context (as the original run_squad.py does).",
                        input_file, num_skipped, num_skipped + len(examples))
    return examples


def _read_question(qa, qas_id, context, doc_tokens, char_to_word_offset, is_training,
                   version_2_with_negative, where):
    """One SquadExample, or None for a training question whose answer cannot be recovered."""
    question_text = _field(qa, "question", str, where, "a string")
    if not version_2_with_negative and qa.get("is_impossible") is True:
        raise InputError(f"{where}: is_impossible is true, so this is a SQuAD 2.0 file: add "
                         "--version_2_with_negative=true")
    if is_training or "answers" in qa:
        answer_list = _field(qa, "answers", list, where, "a list of {\"text\", \"answer_start\"}")
    else:
        answer_list = []
    answers = [_field(a, "text", str, f"{where}: answers[{n}]", "a string")
               for n, a in enumerate(answer_list)]
    example = SquadExample(qas_id=qas_id, question_text=question_text, doc_tokens=doc_tokens,
                           answers=answers)
    if not is_training:
        return example
    if version_2_with_negative:
        example.is_impossible = _field(
            qa, "is_impossible", bool, where,
            "true or false (is this a SQuAD 1.1 file? then leave out --version_2_with_negative)")
    if example.is_impossible:
        example.start_position, example.end_position, example.orig_answer_text = -1, -1, ""
        return example
    if len(answer_list) != 1:
        raise InputError(f"{where}: for training, each question should have exactly 1 answer; "
                         f"found {len(answer_list)}.")
    answer_text = answers[0]
    answer_offset = _field(answer_list[0], "answer_start", int, f"{where}: answers[0]",
                           "a character offset (int)")
    if not 0 <= answer_offset <= answer_offset + len(answer_text) <= len(context):
        raise InputError(f"{where}: answer_start {answer_offset} with the {len(answer_text)}-"
                         f"character answer {answer_text!r:.60} lies outside the "
                         f"{len(context)}-character context.")
    # The answer's text, cut at whitespace and rejoined, must occur in the doc tokens its
    # characters fall in; else (odd Unicode, a wrong offset) the original skips the question.
    cleaned_answer_text = " ".join(tokenization.whitespace_tokenize(answer_text))
    if not cleaned_answer_text:
        logging.log_first_n(logging.WARNING, "%s: empty answer text, question skipped.", 20,
                            where)
        return None
    start_position = char_to_word_offset[answer_offset]
    end_position = char_to_word_offset[answer_offset + len(answer_text) - 1]
    actual_text = " ".join(doc_tokens[start_position:end_position + 1])
    if actual_text.find(cleaned_answer_text) == -1:
        logging.log_first_n(logging.WARNING, "%s: could not find answer: %r vs. %r", 20,
                            where, actual_text, cleaned_answer_text)
        return None
    example.orig_answer_text = answer_text
    # -1: the answer starts in the context's leading whitespace. The check above passes then
    # only for a one-doc-token context, where the original's doc token -1 is doc token 0.
    example.start_position, example.end_position = max(start_position, 0), end_position
    return example


def convert_examples_to_features(examples: Sequence[SquadExample], tokenizer,
                                 max_seq_length: int, doc_stride: int, max_query_length: int,
                                 is_training: bool, fast: bool = True) -> List[SquadFeatures]:
    """Cuts every example into windowed features, as the original.

    Args:
        examples: from `read_squad_examples` (or made by hand).
        tokenizer: a `tokenization.FullTokenizer`.
        max_seq_length: S, the length of every feature, [CLS] and both [SEP] included.
        doc_stride: pieces between the starts of consecutive windows.
        max_query_length: the question is cut to this many pieces.
        is_training: set start/end positions (from the examples' answers).
        fast: tokenize each distinct context once with the batch path (see the module
            docstring); False runs the original's per-doc-token loop. Both give equal features.

    Returns:
        list of SquadFeatures, in example order, then window order.

    Raises:
        InputError: max_seq_length <= max_query_length + 3 (no room for the document), or
            doc_stride < 1.
    """
    if max_seq_length <= max_query_length + 3:
        raise InputError(f"The max_seq_length ({max_seq_length}) must be greater than "
                         f"max_query_length ({max_query_length}) + 3.")
    if doc_stride < 1:
        raise InputError(f"doc_stride must be at least 1, found {doc_stride}.")
    if not fast:
        return _convert_original(examples, tokenizer, max_seq_length, doc_stride,
                                 max_query_length, is_training)
    return _convert_fast(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                         is_training)


# ---- The original, step for step: per-doc-token tokenization, per-piece max-context scan. ----


def _convert_original(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                      is_training):
    features = []
    unique_id = FIRST_UNIQUE_ID
    for example_index, example in enumerate(examples):
        query_tokens = tokenizer.tokenize(example.question_text)[:max_query_length]
        tok_to_orig_index, orig_to_tok_index, all_doc_tokens = [], [], []
        for i, token in enumerate(example.doc_tokens):
            orig_to_tok_index.append(len(all_doc_tokens))
            for sub_token in tokenizer.tokenize(token):
                tok_to_orig_index.append(i)
                all_doc_tokens.append(sub_token)
        answer_pieces = None
        if is_training and not example.is_impossible:
            answer_pieces = tokenizer.tokenize(example.orig_answer_text)
        tok_start, tok_end = _answer_pieces(example, is_training, orig_to_tok_index,
                                            all_doc_tokens, answer_pieces)
        max_tokens_for_doc = max_seq_length - len(query_tokens) - 3  # [CLS], [SEP], [SEP]
        doc_spans = window_spans(len(all_doc_tokens), max_tokens_for_doc, doc_stride)
        best = max_context_windows(doc_spans, len(all_doc_tokens))
        for doc_span_index, (span_start, span_length) in enumerate(doc_spans):
            tokens = ["[CLS]"] + query_tokens + ["[SEP]"]
            segment_ids = [0] * len(tokens)
            token_to_orig_map, token_is_max_context = {}, {}
            for i in range(span_length):
                split_token_index = span_start + i
                token_to_orig_map[len(tokens)] = tok_to_orig_index[split_token_index]
                token_is_max_context[len(tokens)] = best[split_token_index] == doc_span_index
                tokens.append(all_doc_tokens[split_token_index])
                segment_ids.append(1)
            tokens.append("[SEP]")
            segment_ids.append(1)
            input_ids = tokenizer.convert_tokens_to_ids(tokens)
            input_mask = [1] * len(input_ids)
            while len(input_ids) < max_seq_length:
                input_ids.append(0)
                input_mask.append(0)
                segment_ids.append(0)
            start_position, end_position = _positions(
                example, is_training, tok_start, tok_end, span_start, span_length,
                len(query_tokens))
            features.append(SquadFeatures(
                unique_id=unique_id, example_index=example_index, doc_span_index=doc_span_index,
                tokens=tokens, token_to_orig_map=token_to_orig_map,
                token_is_max_context=token_is_max_context, input_ids=input_ids,
                input_mask=input_mask, segment_ids=segment_ids, start_position=start_position,
                end_position=end_position, is_impossible=example.is_impossible))
            unique_id += 1
    return features


def _answer_pieces(example, is_training, orig_to_tok_index, all_doc_tokens, answer_pieces):
    """The answer's first and last document piece (training), improved; (None, None) else."""
    if not is_training:
        return None, None
    if example.is_impossible:
        return -1, -1
    tok_start = orig_to_tok_index[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        tok_end = orig_to_tok_index[example.end_position + 1] - 1
    else:
        tok_end = len(all_doc_tokens) - 1
    return _improve_answer_span(all_doc_tokens, tok_start, tok_end, " ".join(answer_pieces))


def _improve_answer_span(doc_pieces, input_start, input_end, tok_answer_text):
    """The first (shortest-from-the-right) sub-span of the answer's pieces that spells the
    tokenized answer text, else the span given.

    The answer is annotated in characters and projected onto whole doc tokens, so "1895" in
    "(1895-1943)." first covers all of "( 1895 - 1943 ) ."; the pieces say it is just "1895".
    A piece that holds more than the answer ("japanese" for "Japan") cannot be narrowed.
    """
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            if " ".join(doc_pieces[new_start:new_end + 1]) == tok_answer_text:
                return new_start, new_end
    return input_start, input_end


def _positions(example, is_training, tok_start, tok_end, span_start, span_length,
               num_query_tokens):
    """Training labels of one window: the answer's positions, or 0 ([CLS]) if outside it."""
    if not is_training:
        return None, None
    if example.is_impossible:
        return 0, 0
    if not (tok_start >= span_start and tok_end <= span_start + span_length - 1):
        return 0, 0
    doc_offset = num_query_tokens + 2  # [CLS] query [SEP]
    return tok_start - span_start + doc_offset, tok_end - span_start + doc_offset


# ---- The fast path: each context tokenized once, whole; features built from slices. ----


@dataclasses.dataclass
class _Context:
    """One distinct context's pieces, shared by all of its questions."""

    pieces: List[str]
    piece_ids: List[int]
    tok_to_orig_index: List[int]
    orig_to_tok_index: List[int]


def _convert_fast(examples, tokenizer, max_seq_length, doc_stride, max_query_length,
                  is_training):
    contexts, context_of_example = _tokenize_contexts(examples, tokenizer)
    queries = [tokens for tokens, _ in tokenizer.batch_tokenize_with_offsets(
        [e.question_text for e in examples])]
    answer_indices = [i for i, e in enumerate(examples)
                      if is_training and not e.is_impossible]
    tokenized_answers = tokenizer.batch_tokenize_with_offsets(
        [examples[i].orig_answer_text for i in answer_indices])
    answers = {i: tokens for i, (tokens, _) in zip(answer_indices, tokenized_answers)}
    cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    best_spans = {}  # (num_pieces, max_tokens_for_doc) -> (doc_spans, best span per piece)
    features = []
    unique_id = FIRST_UNIQUE_ID
    for example_index, example in enumerate(examples):
        context = contexts[context_of_example[example_index]]
        query_tokens = queries[example_index][:max_query_length]
        query_ids = tokenizer.convert_tokens_to_ids(query_tokens)
        tok_start, tok_end = _answer_pieces(example, is_training, context.orig_to_tok_index,
                                            context.pieces, answers.get(example_index))
        max_tokens_for_doc = max_seq_length - len(query_tokens) - 3
        key = (len(context.pieces), max_tokens_for_doc)
        if key not in best_spans:
            doc_spans = window_spans(len(context.pieces), max_tokens_for_doc, doc_stride)
            best_spans[key] = doc_spans, max_context_windows(doc_spans, len(context.pieces))
        doc_spans, best = best_spans[key]
        doc_offset = len(query_tokens) + 2
        for doc_span_index, (span_start, span_length) in enumerate(doc_spans):
            span_end = span_start + span_length
            positions = range(doc_offset, doc_offset + span_length)
            tokens = (["[CLS]"] + query_tokens + ["[SEP]"] + context.pieces[span_start:span_end]
                      + ["[SEP]"])
            padding = [0] * (max_seq_length - len(tokens))
            start_position, end_position = _positions(
                example, is_training, tok_start, tok_end, span_start, span_length,
                len(query_tokens))
            features.append(SquadFeatures(
                unique_id=unique_id, example_index=example_index, doc_span_index=doc_span_index,
                tokens=tokens,
                token_to_orig_map=dict(zip(positions,
                                           context.tok_to_orig_index[span_start:span_end])),
                token_is_max_context=(
                    dict.fromkeys(positions, True) if len(doc_spans) == 1 else
                    {p: b == doc_span_index for p, b in zip(positions, best[span_start:span_end])}),
                input_ids=([cls_id] + query_ids + [sep_id]
                           + context.piece_ids[span_start:span_end] + [sep_id] + padding),
                input_mask=[1] * len(tokens) + padding,
                segment_ids=[0] * doc_offset + [1] * (span_length + 1) + padding,
                start_position=start_position, end_position=end_position,
                is_impossible=example.is_impossible))
            unique_id += 1
    return features


def _tokenize_contexts(examples, tokenizer):
    """Each distinct doc-token list tokenized once: (list of _Context, context per example)."""
    index_of, distinct, context_of_example = {}, [], []
    for example in examples:
        key = tuple(example.doc_tokens)
        if key not in index_of:
            index_of[key] = len(distinct)
            distinct.append(example.doc_tokens)
        context_of_example.append(index_of[key])
    # One space between doc tokens: a word boundary for BERT, whatever the separator was.
    tokenized = tokenizer.batch_tokenize_with_offsets([" ".join(d) for d in distinct])
    contexts, num_fallbacks = [], 0
    for doc_tokens, (pieces, offsets) in zip(distinct, tokenized):
        tok_to_orig_index = _pieces_to_doc_tokens(doc_tokens, offsets)
        if tok_to_orig_index is None:
            num_fallbacks += 1
            pieces, tok_to_orig_index = [], []
            for i, token in enumerate(doc_tokens):
                for piece in tokenizer.tokenize(token):
                    pieces.append(piece)
                    tok_to_orig_index.append(i)
        # The first piece of doc token i is the number of pieces of doc tokens before it.
        orig_to_tok_index = np.searchsorted(
            np.asarray(tok_to_orig_index, dtype=np.int64), np.arange(len(doc_tokens)),
            side="left").tolist()
        contexts.append(_Context(pieces, tokenizer.convert_tokens_to_ids(pieces),
                                 tok_to_orig_index, orig_to_tok_index))
    if num_fallbacks:
        logging.warning("%d of %d contexts had pieces that do not fall in one doc token each; "
                        "they were tokenized doc token by doc token.", num_fallbacks,
                        len(distinct))
    return contexts, context_of_example


def _pieces_to_doc_tokens(doc_tokens, offsets):
    """The doc token of each piece of `" ".join(doc_tokens)`, from the pieces' (start, end)
    character offsets; None unless every piece lies inside one doc token, in order."""
    if not offsets:
        return []
    lengths = np.array([len(t) for t in doc_tokens], dtype=np.int64)
    word_starts = np.cumsum(lengths + 1) - lengths - 1  # Where each doc token begins.
    offsets = np.asarray(offsets, dtype=np.int64)        # [P, 2]
    starts, ends = offsets[:, 0], offsets[:, 1]
    words = np.searchsorted(word_starts, starts, side="right") - 1  # Last token starting <= start.
    inside = ((starts >= 0) & (starts < ends) & (words >= 0)
              & (ends <= word_starts[words] + lengths[words]))
    if not inside.all() or np.any(np.diff(words) < 0):
        return None
    return words.tolist()


def feature_spec(max_seq_length: int) -> FeatureSpec:
    """The TFRecord layout of SQuAD features: input_ids, input_mask, segment_ids [S] and the
    answer's start_positions / end_positions (0, i.e. [CLS], for none and for prediction)."""
    shape = (max_seq_length,)
    return {"input_ids": ("int", shape), "input_mask": ("int", shape),
            "segment_ids": ("int", shape), "start_positions": ("int", ()),
            "end_positions": ("int", ())}


def feature_dicts(features: Iterable[SquadFeatures]) -> Iterator[Dict[str, object]]:
    """The TFRecord fields of each feature, in `feature_spec`'s layout."""
    for f in features:
        yield {"input_ids": f.input_ids, "input_mask": f.input_mask,
               "segment_ids": f.segment_ids, "start_positions": f.start_position or 0,
               "end_positions": f.end_position or 0}
