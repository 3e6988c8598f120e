"""The `text` signature of an exported SavedModel: raw strings in, answers out, with the
preprocessing in the graph (core TensorFlow ops only: stock TF Serving runs it).

    loaded = tf.saved_model.load(export_dir)       # no bert_tf, no tensorflow_text import
    out = loaded.signatures["text"](text_a=tf.constant(["a gripping film"]),
                                    text_b=tf.constant([""]))
    out["label"], out["probabilities"]             # string [B], float32 [B, C]

Classifier: inputs text_a, text_b (string [B]; "" = no second text, as the original treats an
empty text_b); outputs probabilities [B, C] and label string [B], or score [B] for a
regression model. The inputs are built as the original's convert_single_example: word-pieces
by `GraphTokenizer` (== FullTokenizer), the pair cut to max_seq_length - 3 one piece at a
time from the longer text (a closed form of `truncate_seq_pair`), one text cut to
max_seq_length - 2, then [CLS] a [SEP] (b [SEP]) with segment ids 0 / 1. A batch is padded to
its longest input only.

NER: input text string [B]; outputs words string [B, W] ("" padding), word_start and
word_end int32 [B, W] (code-point offsets into the text, end exclusive; -1 padding) and labels
string [B, W] ("" padding). Words are cut as `bert_tf.predictor.split_words` cuts them
(whitespace; each punctuation character and CJK ideograph alone), each word's pieces are the
tokenizer's ([UNK] for a word with none), and a text longer than one window is read through
the runner's windows (`bert_tf.data.windows`: doc_stride apart, each word's label from the
window where its first piece has the most context), so no word is dropped.

SQuAD: inputs question, context (string [B]); outputs answer string [B] ("" = no answer),
answer_start, answer_end int32 [B] (code-point offsets into the context, end exclusive; -1
for no answer) and score float32 [B]: start_logit + end_logit of the answer, or the null
score for no answer (0.0 where the context has no piece, or SQuAD 1.1 finds no valid span).
The steps are run_squad's --do_predict (`squad.convert_examples_to_features`, then
`outputs.squad.compute_predictions`): the question's first max_query_length pieces; the
context cut into doc tokens at " ", tab, "\r", "\n", U+202F only, each doc token's pieces
(none, not [UNK], for a doc token the tokenizer drops whole); windows of
max_seq_length - len(query) - 3 pieces doc_stride apart, `[CLS] query [SEP] window [SEP]`
(a context of no piece has no window: no answer); per window the n_best_size highest start
and end logits, the spans valid by compute_predictions' rules (both ends on document pieces,
the start piece's max-context window, end >= start, at most max_answer_length pieces); the
highest start_logit + end_logit over all windows, ties to the first in the Python's
candidate order (window, start rank, end rank), sums in float64 as the Python's floats.
SQuAD 2.0: null score = the smallest [CLS] score over the windows; "" when null score -
start_logit - end_logit > null_score_diff_threshold, or when no span is valid (compute_
predictions' n-best of only the null at n_best_size 1 is that case: a valid span there scores
at least the null).
Differences from the runner: the n-best indexes are taken over each window's real positions
only; the runner's cut batches pad logits with 0.0 past a window's end, and such a position
can displace a real one from the n-best (the predictor's batches hold the model's logits
there instead). The answer is the context's own characters from the start of the
basic-tokenizer sub-word (`bert_tf.predictor.split_words`: whitespace; each punctuation
character and CJK ideograph alone) holding the start piece to the end of the sub-word holding
the end piece; where a doc token's sub-words tokenized one by one do not give its pieces
(rare: final-sigma casing across an apostrophe, say), its pieces span the whole doc token.
That is the runner's `get_final_text` text whenever a span starts and ends on sub-word
boundaries. It differs where a span starts or ends inside a sub-word ("runn" of "running":
here "running"), and where get_final_text falls back to whole doc tokens (an [UNK] piece, a
length change in lower-casing) or finds its text first in an earlier place of the span's
doc tokens.

Axes: B batch, T pieces of a text (ragged), S input length (padded to the batch's longest),
W words of a text, N pieces of all words of a text, K windows, n n_best_size, D doc tokens,
C characters, P pieces of a doc token.
"""

import atexit
import os
import shutil
import tempfile
from typing import Callable, Dict, Optional, Sequence, Tuple

import tensorflow as tf

from bert_tf.graph_tokenizer import (WORD_ALONE, WORD_OTHER, WORD_SPACE, GraphTokenizer,
                                     word_class_ranges)


def truncated_pair_lengths(length_a, length_b, max_length):
    """The lengths `truncate_seq_pair` leaves (int32 [B] each): while the pair is longer
    than max_length, drop the last piece of the longer text (of b when they are equal).

    In closed form: a pair that fits is kept; else the shorter text keeps all its pieces if
    they are at most half of max_length and the longer gets the rest; else the two end at
    ceil(max_length / 2) (a) and floor(max_length / 2) (b), since from equal lengths b loses
    a piece first.
    """
    half_up, half_down = (max_length + 1) // 2, max_length // 2
    fits = length_a + length_b <= max_length
    a_longer = length_a > length_b
    shorter = tf.where(a_longer, length_b, length_a)
    shorter_kept = 2 * shorter <= max_length
    a = tf.where(fits, length_a, tf.where(
        a_longer, tf.where(shorter_kept, max_length - length_b, half_up),
        tf.where(shorter_kept, length_a, half_up)))
    b = tf.where(fits, length_b, tf.where(
        a_longer, tf.where(shorter_kept, length_b, half_down),
        tf.where(shorter_kept, max_length - length_a, half_down)))
    return a, b


def _first(pieces: tf.RaggedTensor, lengths) -> tf.RaggedTensor:
    """The first lengths[i] pieces of each row of pieces."""
    positions = tf.ragged.range(pieces.row_lengths(), dtype=tf.int64)           # [B, (T)]
    return tf.ragged.boolean_mask(pieces, positions < tf.cast(lengths, tf.int64)[:, None])


def _constant_rows(value, counts) -> tf.RaggedTensor:
    """A ragged [B, (counts[i])] of `value`: e.g. one [SEP] for the rows that have a b."""
    counts = tf.cast(counts, tf.int64)
    return tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(counts)], tf.constant(value, tf.int32)), counts)


def classifier_inputs(tokenizer: GraphTokenizer, max_seq_length: int, text_a, text_b
                      ) -> Dict[str, tf.Tensor]:
    """input_ids, input_mask, segment_ids int32 [B, S] of (text_a, text_b), as the runner's
    features (see the module docstring)."""
    cls_id, sep_id = tokenizer.token_id("[CLS]"), tokenizer.token_id("[SEP]")
    pieces_a = tokenizer.tokenize(text_a)                                      # [B, (Ta)]
    pieces_b = tokenizer.tokenize(text_b)                                      # [B, (Tb)]
    length_a = tf.cast(pieces_a.row_lengths(), tf.int32)
    length_b = tf.cast(pieces_b.row_lengths(), tf.int32)
    has_b = length_b > 0
    pair_a, pair_b = truncated_pair_lengths(length_a, length_b, max_seq_length - 3)
    keep_a = tf.where(has_b, pair_a, tf.minimum(length_a, max_seq_length - 2))
    keep_b = tf.where(has_b, pair_b, 0)
    ones = tf.ones_like(length_a)
    first = tf.concat([_constant_rows(cls_id, ones), _first(pieces_a, keep_a),
                       _constant_rows(sep_id, ones)], axis=1)                  # [B, (2+a)]
    second = tf.concat([_first(pieces_b, keep_b),
                        _constant_rows(sep_id, tf.cast(has_b, tf.int32))], axis=1)
    ids = tf.concat([first, second], axis=1)
    segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
    return {"input_ids": ids.to_tensor(0),                                    # [B, S]
            "input_mask": tf.ones_like(ids).to_tensor(0),
            "segment_ids": segments.to_tensor(0)}


class ClassifierText(tf.Module):
    """The classifier's `text` signature (see the module docstring).

    Args:
        tokenizer: the model's GraphTokenizer.
        max_seq_length: the training's max_seq_length.
        labels: label names in output order; empty for a regression model.
    """

    def __init__(self, tokenizer: GraphTokenizer, max_seq_length: int, labels: Sequence[str]):
        super().__init__()
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.labels = list(labels)
        if self.labels:
            self.label_names = tf.constant(self.labels)
            self.labels_asset = _labels_asset(self.labels)

    def signature(self, model_outputs: Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]):
        """The tf.function to save as the `text` signature; `model_outputs` maps a feature
        dict to the task's outputs (the ids signature's computation)."""
        spec = [tf.TensorSpec([None], tf.string, name="text_a"),
                tf.TensorSpec([None], tf.string, name="text_b")]

        @tf.function(input_signature=spec)
        def text(text_a, text_b):
            outputs = model_outputs(classifier_inputs(self.tokenizer, self.max_seq_length,
                                                      text_a, text_b))
            if not self.labels:
                return {"score": outputs["score"]}
            probabilities = outputs["probabilities"]                            # [B, C]
            return {"probabilities": probabilities,
                    "label": tf.gather(self.label_names,
                                       tf.argmax(probabilities, axis=-1, output_type=tf.int32))}
        return text


def _labels_asset(labels: Sequence[str]) -> tf.saved_model.Asset:
    """labels.txt for the SavedModel's assets: one label per line, in output order."""
    directory = tempfile.mkdtemp(prefix="bert_tf_labels_")
    # Saving copies the asset into the SavedModel; the file is needed until then.
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, "labels.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(label + "\n" for label in labels))
    return tf.saved_model.Asset(path)


def _word_class_tables(tokenizer: GraphTokenizer) -> Tuple[tf.Tensor, tf.Tensor]:
    """`split_words_in_graph`'s (run starts, word classes), from the tokenizer's tables."""
    return tuple(tf.constant(r, tf.int32) for r in word_class_ranges(tokenizer.do_lower_case))


def _shifted(values, row_starts, row_ends, fill, direction):
    """values[i - 1] (direction 1) or values[i + 1] (-1) within each row; `fill` past a
    row's edge. values: flat [N]; row_starts/row_ends: bool [N]."""
    if direction == 1:
        moved = tf.concat([[fill], values[:-1]], axis=0)
        return tf.where(row_starts, fill, moved)
    moved = tf.concat([values[1:], [fill]], axis=0)
    return tf.where(row_ends, fill, moved)


def split_words_in_graph(texts, ranges):
    """(words string [B, (W)], word_start, word_end int32 [B, (W)]) of each text."""
    starts, classes = ranges
    chars = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")        # [B, (C)]
    values = chars.flat_values                                                # [N]
    kinds = tf.gather(classes, tf.searchsorted(starts, values, side="right") - 1)
    position = tf.range(tf.shape(values, out_type=tf.int64)[0])
    row_start = tf.gather(chars.row_splits, chars.value_rowids())               # [N]
    row_end = tf.gather(chars.row_splits[1:], chars.value_rowids())
    first, last = position == row_start, position == row_end - 1
    before = _shifted(kinds, first, last, WORD_SPACE, 1)
    after = _shifted(kinds, first, last, WORD_SPACE, -1)
    alone, other = kinds == WORD_ALONE, kinds == WORD_OTHER
    is_start = alone | (other & (before != WORD_OTHER))
    is_end = alone | (other & (after != WORD_OTHER))
    word_start = tf.boolean_mask(position, is_start)                           # [Wt] global
    word_end = tf.boolean_mask(position, is_end) + 1
    word_row = tf.boolean_mask(chars.value_rowids(), is_start)
    words = tf.strings.unicode_encode(
        tf.gather(values, tf.ragged.range(word_start, word_end)), "UTF-8")     # [Wt]
    offset = tf.gather(chars.row_splits, word_row)
    nrows = tf.shape(texts, out_type=tf.int64)[0]

    def per_text(flat):
        return tf.RaggedTensor.from_value_rowids(flat, word_row, nrows=nrows)
    return (per_text(words), per_text(tf.cast(word_start - offset, tf.int32)),
            per_text(tf.cast(word_end - offset, tf.int32)))


def max_context_positions(piece, piece_text, count, start, length):
    """For pieces (int64 [P]: index in its text, and the text), the window where each has
    the most context and its position there after [CLS] (int64 [P] each).

    The original's score min(left, right) + 0.01 * length, scaled by 100 to integers; the
    first window wins ties (argmax takes the first maximum), as `windows.max_context_windows`.
    count: windows per text [B]; start, length: per window [Kt], text-major.
    """
    first_window = tf.gather(tf.concat([[0], tf.cumsum(count)], 0), piece_text)  # [P]
    k = tf.range(tf.reduce_max(tf.concat([count, [1]], 0)))[tf.newaxis]       # [1, Kmax]
    window = first_window[:, tf.newaxis] + k                                    # [P, Kmax]
    exists = k < tf.gather(count, piece_text)[:, tf.newaxis]
    window = tf.where(exists, window, 0)
    w_start, w_length = tf.gather(start, window), tf.gather(length, window)
    position = piece[:, tf.newaxis] - w_start                                   # [P, Kmax]
    contains = exists & (position >= 0) & (position < w_length)
    score = 100 * tf.minimum(position, w_length - 1 - position) + w_length
    best = tf.argmax(tf.where(contains, score, -1), axis=1)                     # [P]
    return (tf.gather(window, best, batch_dims=1),
            tf.gather(position, best, batch_dims=1) + 1)


def window_layout(num_pieces, max_pieces, step):
    """Per text its window count K (int64 [B]), and per window its text, start and length
    (int64 [Kt], text-major): `windows.window_spans` in closed form (at least one window,
    of length 0 for a text of no pieces, as the NER runner). max_pieces and step: ints, or
    int64 [B] per text (SQuAD: the room left by each question)."""
    max_pieces = tf.broadcast_to(tf.cast(max_pieces, tf.int64), tf.shape(num_pieces))
    step = tf.broadcast_to(tf.cast(step, tf.int64), tf.shape(num_pieces))
    extra = tf.maximum(num_pieces - max_pieces, 0)
    count = 1 + (extra + step - 1) // step                                      # [B]
    text = tf.repeat(tf.range(tf.shape(num_pieces, out_type=tf.int64)[0]), count)
    k = tf.ragged.range(count).flat_values                                      # [Kt]
    start = k * tf.gather(step, text)
    length = tf.minimum(tf.gather(num_pieces, text) - start, tf.gather(max_pieces, text))
    return count, text, start, length


class NerText(tf.Module):
    """The NER model's `text` signature (see the module docstring).

    Args:
        tokenizer: the model's GraphTokenizer.
        max_seq_length, doc_stride: the training's.
        labels: label names in output order.
        label_all_subtokens: the training's setting (which pieces a CRF decodes over).
    """

    def __init__(self, tokenizer: GraphTokenizer, max_seq_length: int, doc_stride: int,
                 labels: Sequence[str], label_all_subtokens: bool = False):
        super().__init__()
        self.tokenizer = tokenizer
        self.max_pieces = max_seq_length - 2
        self.step = min(doc_stride, self.max_pieces)
        self.labels = list(labels)
        self.label_names = tf.constant(self.labels)
        self.labels_asset = _labels_asset(self.labels)
        self.label_all_subtokens = label_all_subtokens
        self._ranges = _word_class_tables(tokenizer)

    def signature(self, model_outputs: Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]):
        spec = [tf.TensorSpec([None], tf.string, name="text")]
        tokenizer = self.tokenizer
        cls_id, sep_id = tokenizer.token_id("[CLS]"), tokenizer.token_id("[SEP]")
        unk_id = tokenizer.token_id("[UNK]")

        @tf.function(input_signature=spec)
        def text(text):
            words, word_start, word_end = split_words_in_graph(text, self._ranges)
            pieces = tokenizer.tokenize(words.flat_values)                      # [Wt, (P)]
            empty = tf.cast(pieces.row_lengths() == 0, tf.int32)
            pieces = tf.concat([pieces, _constant_rows(unk_id, empty)], axis=1)
            first = tf.equal(tf.ragged.range(pieces.row_lengths()), 0)        # [Wt, (P)]
            # Per text, all its pieces in order: [B, (N)].
            text_pieces = tf.RaggedTensor.from_row_lengths(
                pieces, words.row_lengths()).merge_dims(1, 2)
            text_first = tf.RaggedTensor.from_row_lengths(
                first, words.row_lengths()).merge_dims(1, 2)
            num_pieces = text_pieces.row_lengths()                              # [B]
            count, window_text, start, length = window_layout(num_pieces, self.max_pieces,
                                                               self.step)
            base = tf.gather(text_pieces.row_splits, window_text) + start        # [Kt]
            inside = tf.ragged.range(base, base + length)                       # [Kt, (L)]
            ones = tf.ones_like(length, tf.int32)
            ids = tf.concat([_constant_rows(cls_id, ones),
                             tf.gather(text_pieces.flat_values, inside),
                             _constant_rows(sep_id, ones)], axis=1)             # [Kt, (L+2)]
            labelled = tf.gather(text_first.flat_values, inside)
            if self.label_all_subtokens:
                labelled = tf.ones_like(labelled)
            zeros = tf.zeros_like(_constant_rows(0, ones))
            label_mask = tf.concat([zeros, tf.cast(labelled, tf.int32), zeros], axis=1)
            features = {"input_ids": ids.to_tensor(0),                          # [Kt, S]
                        "input_mask": tf.ones_like(ids).to_tensor(0),
                        "segment_ids": tf.zeros_like(ids).to_tensor(0),
                        "label_mask": label_mask.to_tensor(0)}
            label_ids = model_outputs(features)["label_ids"]                     # [Kt, S]

            # Each word's first piece, and the window where it has the most context.
            piece_index = tf.ragged.range(num_pieces)                           # [B, (N)]
            word_piece = tf.boolean_mask(piece_index.flat_values, text_first.flat_values)
            word_text = tf.boolean_mask(piece_index.value_rowids(), text_first.flat_values)
            best_window, best_position = max_context_positions(word_piece, word_text, count,
                                                               start, length)
            word_label = tf.gather_nd(label_ids, tf.stack(
                [best_window, best_position], axis=1))                          # [Wt]
            labels = tf.RaggedTensor.from_row_splits(
                tf.gather(self.label_names, word_label), words.row_splits)
            return {"words": words.to_tensor(""), "word_start": word_start.to_tensor(-1),
                    "word_end": word_end.to_tensor(-1), "labels": labels.to_tensor("")}
        return text


# The original run_squad's doc-token separators (bert_tf.data.squad._is_whitespace).
_SQUAD_SEPARATORS = (0x20, 0x09, 0x0D, 0x0A, 0x202F)


def split_context_in_graph(contexts):
    """(chars int32 [B, (C)], doc_tokens string [Dt], doc_start, doc_end int64 [Dt]: global
    code-point offsets into chars.flat_values, doc_row int64 [Dt]: the context of each),
    doc tokens cut as `squad.split_context`."""
    chars = tf.strings.unicode_decode(contexts, "UTF-8", errors="replace")     # [B, (C)]
    values = chars.flat_values                                                # [Ct]
    is_sep = tf.reduce_any(values[:, tf.newaxis] == tf.constant(_SQUAD_SEPARATORS, tf.int32),
                           axis=1)                                            # [Ct]
    position = tf.range(tf.shape(values, out_type=tf.int64)[0])
    rows = chars.value_rowids()
    first = position == tf.gather(chars.row_splits, rows)
    last = position == tf.gather(chars.row_splits[1:], rows) - 1
    is_start = ~is_sep & _shifted(is_sep, first, last, True, 1)
    is_end = ~is_sep & _shifted(is_sep, first, last, True, -1)
    doc_start = tf.boolean_mask(position, is_start)                           # [Dt]
    doc_end = tf.boolean_mask(position, is_end) + 1
    doc_tokens = tf.strings.unicode_encode(
        tf.gather(values, tf.ragged.range(doc_start, doc_end)), "UTF-8")       # [Dt]
    return chars, doc_tokens, doc_start, doc_end, tf.boolean_mask(rows, is_start)


def _gather_or(values, indices, fill):
    """values[indices], safe on an empty `values` (then every index gives `fill`)."""
    padded = tf.concat([values, tf.fill([1], tf.cast(fill, values.dtype))], axis=0)
    size = tf.shape(values, out_type=indices.dtype)[0]
    return tf.gather(padded, tf.where((indices >= 0) & (indices < size), indices, size))


class SquadText(tf.Module):
    """The SQuAD model's `text` signature (see the module docstring).

    Args:
        tokenizer: the model's GraphTokenizer.
        max_seq_length: the training's.
        doc_stride, max_query_length, n_best_size, max_answer_length, version_2_with_negative,
            null_score_diff_threshold: run_squad's flags of the same names.
    """

    def __init__(self, tokenizer: GraphTokenizer, max_seq_length: int, doc_stride: int,
                 max_query_length: int = 64, n_best_size: int = 20,
                 max_answer_length: int = 30, version_2_with_negative: bool = False,
                 null_score_diff_threshold: float = 0.0):
        super().__init__()
        if max_seq_length <= max_query_length + 3 or doc_stride < 1:
            raise ValueError(f"max_seq_length ({max_seq_length}) must exceed max_query_length "
                             f"({max_query_length}) + 3 and doc_stride ({doc_stride}) be >= 1")
        if n_best_size < 1 or max_answer_length < 1:
            raise ValueError(f"n_best_size ({n_best_size}) and max_answer_length "
                             f"({max_answer_length}) must be at least 1")
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length
        self.n_best_size = n_best_size
        self.max_answer_length = max_answer_length
        self.version_2_with_negative = version_2_with_negative
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self._ranges = _word_class_tables(tokenizer)

    def _doc_pieces(self, contexts):
        """Document pieces of each context and each piece's character span.

        Returns (chars [B, (C)], pieces int32 [B, (N)], piece_start, piece_end int64 [Nt]:
        code-point offsets into its context of the sub-word holding each piece, or of its doc
        token where the sub-words' pieces are not the doc token's)."""
        tokenizer = self.tokenizer
        chars, doc_tokens, doc_start, doc_end, doc_row = split_context_in_graph(contexts)
        num_contexts = tf.shape(contexts, out_type=tf.int64)[0]
        # In-context offsets of the doc tokens.
        row_offset = tf.gather(chars.row_splits, doc_row)                         # [Dt]
        doc_start, doc_end = doc_start - row_offset, doc_end - row_offset
        # Pieces per doc token, as squad.convert_examples_to_features (none for a doc token
        # of only dropped characters: it adds no piece, no [UNK]).
        whole = tokenizer.tokenize(doc_tokens)                                    # [Dt, (P)]
        # The same per basic-tokenizer sub-word (split_words), for the answers' offsets.
        words, word_start, word_end = split_words_in_graph(doc_tokens, self._ranges)
        word_pieces = tokenizer.tokenize(words.flat_values)                       # [Wt, (P')]
        by_doc = tf.RaggedTensor.from_row_lengths(word_pieces, words.row_lengths()
                                                  ).merge_dims(1, 2)              # [Dt, (P')]
        width = tf.maximum(whole.bounding_shape(1), by_doc.bounding_shape(1))
        dense_shape = tf.stack([tf.shape(doc_tokens, out_type=tf.int64)[0], width])
        agree = tf.reduce_all(tf.equal(whole.to_tensor(-1, shape=dense_shape),
                                       by_doc.to_tensor(-1, shape=dense_shape)), axis=1)  # [Dt]
        piece_doc = whole.value_rowids()                                          # [Nt]
        in_doc = tf.range(tf.shape(piece_doc, out_type=tf.int64)[0]) - tf.gather(
            whole.row_splits, piece_doc)
        piece_word = _gather_or(word_pieces.value_rowids(),
                                tf.gather(by_doc.row_splits, piece_doc) + in_doc, 0)
        piece_agrees = tf.gather(agree, piece_doc)
        start_in_doc = tf.cast(_gather_or(word_start.flat_values, piece_word, 0), tf.int64)
        end_in_doc = tf.cast(_gather_or(word_end.flat_values, piece_word, 0), tf.int64)
        token_start, token_end = tf.gather(doc_start, piece_doc), tf.gather(doc_end, piece_doc)
        piece_start = tf.where(piece_agrees, token_start + start_in_doc, token_start)
        piece_end = tf.where(piece_agrees, token_start + end_in_doc, token_end)
        docs_per_context = tf.math.unsorted_segment_sum(tf.ones_like(doc_row), doc_row,
                                                        num_contexts)             # [B]
        pieces = tf.RaggedTensor.from_row_lengths(whole, docs_per_context).merge_dims(1, 2)
        return chars, pieces, piece_start, piece_end

    def signature(self, model_outputs: Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]):
        spec = [tf.TensorSpec([None], tf.string, name="question"),
                tf.TensorSpec([None], tf.string, name="context")]
        tokenizer = self.tokenizer
        cls_id, sep_id = tokenizer.token_id("[CLS]"), tokenizer.token_id("[SEP]")
        n = self.n_best_size
        neg_inf = tf.constant(-float("inf"), tf.float64)

        @tf.function(input_signature=spec)
        def text(question, context):
            query = tokenizer.tokenize(question)                                  # [B, (Q)]
            query = _first(query, tf.minimum(query.row_lengths(), self.max_query_length))
            query_length = query.row_lengths()                                    # int64 [B]
            chars, pieces, piece_start, piece_end = self._doc_pieces(context)     # [B, (N)]
            num_pieces = pieces.row_lengths()
            max_pieces = self.max_seq_length - query_length - 3                   # [B]
            count, window_text, start, length = window_layout(
                num_pieces, max_pieces, tf.minimum(max_pieces, self.doc_stride))  # [Kt]
            window_query = tf.gather(query, window_text)                         # [Kt, (Q)]
            base = tf.gather(pieces.row_splits, window_text) + start              # [Kt]
            inside = tf.ragged.range(base, base + length)                         # [Kt, (L)]
            ones = tf.ones_like(length, tf.int32)
            first = tf.concat([_constant_rows(cls_id, ones), window_query,
                               _constant_rows(sep_id, ones)], axis=1)             # [Kt, (Q+2)]
            second = tf.concat([tf.gather(pieces.flat_values, inside),
                                _constant_rows(sep_id, ones)], axis=1)            # [Kt, (L+1)]
            ids = tf.concat([first, second], axis=1)
            segments = tf.concat([tf.zeros_like(first), tf.ones_like(second)], axis=1)
            outputs = model_outputs({"input_ids": ids.to_tensor(0),               # [Kt, S]
                                     "input_mask": tf.ones_like(ids).to_tensor(0),
                                     "segment_ids": segments.to_tensor(0)})
            # float64 as compute_predictions (Python floats), so sums and ties are its own.
            start_logits = tf.cast(outputs["start_logits"], tf.float64)           # [Kt, S]
            end_logits = tf.cast(outputs["end_logits"], tf.float64)

            # SQuAD 2.0's null score: the smallest [CLS] score over an example's windows.
            # (Sliced [:, :1], not [:, 0]: an empty batch has logits of width 0.)
            cls_score = tf.reshape(start_logits[:, :1] + end_logits[:, :1], [-1])  # [Kt]
            null_score = tf.reduce_min(tf.RaggedTensor.from_row_lengths(cls_score, count),
                                       axis=1)                                    # [B]
            has_doc = num_pieces > 0  # Python: no piece, no feature, null logits 0.0.
            null_score = tf.where(has_doc, null_score, 0.0)

            # The n-best start and end indexes of each window, over its real positions only
            # (positions past them never enter the n-best; the runner's cut batches pad the
            # logits with 0 there, which could displace a real one).
            doc_offset = tf.gather(query_length, window_text) + 2                 # [Kt]
            real_length = doc_offset + length + 1
            width = tf.shape(start_logits, out_type=tf.int64)[1]
            real = tf.range(width)[tf.newaxis] < real_length[:, tf.newaxis]       # [Kt, S]
            pad = [[0, 0], [0, tf.maximum(n - width, 0)]]  # top_k needs S >= n

            def best(logits):
                logits = tf.pad(tf.where(real, logits, neg_inf), pad,
                                constant_values=-float("inf"))
                # Ties: the lower index first, as the Python's stable sort.
                top = tf.math.top_k(logits, k=n)
                return top.values, tf.cast(top.indices, tf.int64)                 # [Kt, n]
            start_values, start_index = best(start_logits)
            end_values, end_index = best(end_logits)

            # Valid spans, compute_predictions' rules: both ends on document pieces, the start
            # piece's max-context window is this one, end >= start, at most max_answer_length.
            def in_doc(index):
                return ((index >= doc_offset[:, tf.newaxis])
                        & (index < (doc_offset + length)[:, tf.newaxis]))
            window_id = tf.range(tf.shape(length, out_type=tf.int64)[0])          # [Kt]
            piece_of = tf.ragged.range(num_pieces)                                # [B, (N)]
            best_window, _ = max_context_positions(
                piece_of.flat_values, piece_of.value_rowids(), count, start, length)  # [Nt]
            start_piece = (base[:, tf.newaxis] + start_index
                           - doc_offset[:, tf.newaxis])                           # [Kt, n]
            max_context = _gather_or(best_window, start_piece, -1) == window_id[:, tf.newaxis]
            valid = ((in_doc(start_index) & max_context)[:, :, tf.newaxis]
                     & in_doc(end_index)[:, tf.newaxis, :]
                     & (end_index[:, tf.newaxis, :] >= start_index[:, :, tf.newaxis])
                     & (end_index[:, tf.newaxis, :] - start_index[:, :, tf.newaxis] + 1
                        <= self.max_answer_length))                               # [Kt, n, n]
            scores = tf.where(valid, start_values[:, :, tf.newaxis]
                              + end_values[:, tf.newaxis, :], neg_inf)
            # Per example, its windows' n x n candidates in the Python's candidate order
            # (window, start rank, end rank): the first maximum is the stable sort's first.
            per_example = tf.RaggedTensor.from_row_lengths(
                tf.reshape(scores, [-1]), count * n * n)                          # [B, (K*n*n)]
            best_score = tf.reduce_max(per_example, axis=1)
            at = tf.ragged.range(per_example.row_lengths())
            choice = tf.reduce_min(tf.where(tf.equal(per_example, best_score[:, tf.newaxis]), at,
                                            tf.int64.max), axis=1)                # [B]
            # (A ragged row of only -inf reduces to the lowest float, not -inf: count the
            # valid spans instead.)
            has_span = has_doc & tf.reduce_any(tf.RaggedTensor.from_row_lengths(
                tf.reshape(valid, [-1]), count * n * n), axis=1)
            choice = tf.where(has_span, choice, 0)
            first_window = per_example.row_splits[:-1] // (n * n)                 # [B]
            chosen_window = first_window + choice // (n * n)
            chosen_start = tf.gather_nd(start_index, tf.stack(
                [chosen_window, choice % (n * n) // n], axis=1))                  # [B]
            chosen_end = tf.gather_nd(end_index, tf.stack([chosen_window, choice % n], axis=1))
            start_logit = tf.gather_nd(start_values, tf.stack(
                [chosen_window, choice % (n * n) // n], axis=1))
            end_logit = tf.gather_nd(end_values, tf.stack([chosen_window, choice % n], axis=1))
            span_score = start_logit + end_logit

            no_answer = ~has_span
            if self.version_2_with_negative:
                # compute_predictions: null odds = null score - the best non-null's logits,
                # in its order of operations. Its other "" (an n-best of only the null, at
                # n_best_size 1) needs no case here: a valid span is then its window's top
                # start and end, so it scores at least that window's [CLS] score, at least
                # the null score; and on a tie the stable sort puts the span first.
                null_odds = null_score - start_logit - end_logit
                no_answer |= null_odds > self.null_score_diff_threshold
                score = tf.where(no_answer, null_score, span_score)
            else:
                score = tf.where(no_answer, tf.zeros_like(span_score), span_score)

            # Character span: from the sub-word of the start piece to that of the end piece.
            window_base = tf.gather(base, chosen_window) - tf.gather(doc_offset, chosen_window)
            first_char = _gather_or(piece_start, window_base + chosen_start, 0)
            last_char = _gather_or(piece_end, window_base + chosen_end, 0)
            first_char = tf.where(no_answer, tf.zeros_like(first_char), first_char)
            last_char = tf.where(no_answer, tf.zeros_like(last_char), last_char)
            offset = chars.row_splits[:-1]                                        # [B]
            answer = tf.strings.unicode_encode(tf.gather(chars.flat_values, tf.ragged.range(
                offset + first_char, offset + last_char)), "UTF-8")               # [B]
            return {"answer": answer,
                    "answer_start": tf.where(no_answer, -1, tf.cast(first_char, tf.int32)),
                    "answer_end": tf.where(no_answer, -1, tf.cast(last_char, tf.int32)),
                    "score": tf.cast(score, tf.float32)}
        return text


def text_module_for(runner: str, settings: Dict, vocab_file: str,
                    doc_stride: Optional[int] = None, **squad_options) -> Optional[tf.Module]:
    """The `text` signature module of a runner's model (settings: its run record's), or
    None where there is none yet. squad_options: SquadText's max_query_length, n_best_size,
    max_answer_length, version_2_with_negative, null_score_diff_threshold."""
    tokenizer = GraphTokenizer(vocab_file, settings["do_lower_case"])
    if runner == "run_classifier":
        labels = [] if settings["is_regression"] else settings["labels"]
        return ClassifierText(tokenizer, settings["max_seq_length"], labels)
    if runner == "run_ner":
        return NerText(tokenizer, settings["max_seq_length"], doc_stride, settings["labels"],
                       settings["label_all_subtokens"])
    if runner == "run_squad":
        return SquadText(tokenizer, settings["max_seq_length"], doc_stride, **squad_options)
    return None
