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

Axes: B batch, T pieces of a text (ragged), S input length (padded to the batch's longest),
W words of a text, N pieces of all words of a text, K windows.
"""

import functools
import os
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from bert_tf import tokenization
from bert_tf.graph_tokenizer import GraphTokenizer


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
    path = os.path.join(directory, "labels.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(label + "\n" for label in labels))
    return tf.saved_model.Asset(path)


# Character classes of the NER word split.
_OTHER, _SPACE, _ALONE = 0, 1, 2


@functools.lru_cache(maxsize=None)
def word_class_ranges() -> Tuple[List[int], List[int]]:
    """(first code point, class) of each run of code points of one class, for searchsorted:
    _SPACE (a word boundary), _ALONE (punctuation or CJK: a word of its own) or _OTHER."""
    starts, classes, previous = [], [], None
    for cp in range(0x110000):
        char = chr(cp)
        if tokenization._is_whitespace(char) or char.isspace():
            kind = _SPACE
        elif tokenization._is_punctuation(char) or tokenization._is_chinese_char(cp):
            kind = _ALONE
        else:
            kind = _OTHER
        if kind != previous:
            starts.append(cp)
            classes.append(kind)
            previous = kind
    return starts, classes


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
    before = _shifted(kinds, first, last, _SPACE, 1)
    after = _shifted(kinds, first, last, _SPACE, -1)
    alone, other = kinds == _ALONE, kinds == _OTHER
    is_start = alone | (other & (before != _OTHER))
    is_end = alone | (other & (after != _OTHER))
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


def window_layout(num_pieces, max_pieces: int, step: int):
    """Per text its window count K (int64 [B]), and per window its text, start and length
    (int64 [Kt], text-major): `windows.window_spans` in closed form (at least one window,
    of length 0 for a text of no pieces, as the NER runner)."""
    extra = tf.maximum(num_pieces - max_pieces, 0)
    count = 1 + (extra + step - 1) // step                                      # [B]
    text = tf.repeat(tf.range(tf.shape(num_pieces, out_type=tf.int64)[0]), count)
    k = tf.ragged.range(count).flat_values                                      # [Kt]
    start = k * step
    length = tf.minimum(tf.gather(num_pieces, text) - start, max_pieces)
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
        self._ranges = tuple(tf.constant(r, dtype) for r, dtype in zip(
            word_class_ranges(), (tf.int32, tf.int32)))

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


def text_module_for(runner: str, settings: Dict, vocab_file: str,
                    doc_stride: Optional[int] = None) -> Optional[tf.Module]:
    """The `text` signature module of a runner's model (settings: its run record's), or
    None where there is none yet."""
    tokenizer = GraphTokenizer(vocab_file, settings["do_lower_case"])
    if runner == "run_classifier":
        labels = [] if settings["is_regression"] else settings["labels"]
        return ClassifierText(tokenizer, settings["max_seq_length"], labels)
    if runner == "run_ner":
        return NerText(tokenizer, settings["max_seq_length"], doc_stride, settings["labels"],
                       settings["label_all_subtokens"])
    return None
