"""The original BERT `FullTokenizer` as core TensorFlow ops, for SavedModels that take raw text.

`GraphTokenizer(vocab_file, do_lower_case).tokenize(texts)` maps a batch of UTF-8 strings to the
word-piece ids that `FullTokenizer(vocab_file, do_lower_case)` gives, quirks included (see the
module docstring of bert_tf/tokenization.py, which this mirrors step by step):

    FullTokenizer.convert_tokens_to_ids(FullTokenizer.tokenize(text))  ==  tokenize([text])[0]

Why core ops only: the serving signatures that use it must run in stock TF Serving and in a
plain `tf.saved_model.load` process that imports neither bert_tf nor tensorflow_text. So there is
no tensorflow_text, no `tf.py_function` and no numpy at call time: `tokenize` is a `tf.function`
built from tf.strings, tf.lookup, tf.ragged, tf.searchsorted, tf.argsort and one tf.while_loop,
and it survives `tf.saved_model.save` / `tf.saved_model.load`.

The table approach. Everything Unicode-specific is computed once in Python, from `unicodedata`
and `str.lower()` over all 0x110000 code points, and shipped as constants:
  * range tables (sorted run starts + one value per run, looked up with `tf.searchsorted`):
    per input code point its cleaning class (drop / whitespace / CJK / other) and, when
    lower-casing, its final-sigma class; per output code point its canonical combining class,
    whether it is category Mn, punctuation, or `str.isspace()`;
  * when lower-casing, a mapping table: for every code point whose `NFD(c.lower())` is not `c`,
    the code points it becomes (sorted keys, start, length, flat values).
Uncased: about 1,100 + 1,300 runs and 14,300 mapped code points (11,172 of them Hangul
syllables), 37,600 output code points; cased: 74 + 383 runs. A SavedModel holding the tokenizer
is under 1 MB. The vocab table is built from the dict `load_vocab` returns, not with
`tf.lookup.TextFileInitializer` on the asset, because the original strips each line and lets a
repeated token keep its later line; the asset still travels with the SavedModel.
The pipeline then runs on the flat code points of the whole batch:
  1. `unicode_decode(errors="replace")`; U+FFFD is dropped in step 2, which gives exactly what
     the original's `bytes.decode("utf-8", "ignore")` keeps (both follow the "maximal subpart"
     practice; the tests check invalid and truncated sequences);
  2. drop U+0000, U+FFFD, Cc/Cf; whitespace (the original's set plus `str.isspace()`, on which
     `str.split()` also splits, e.g. U+2028) separates tokens; a CJK ideograph is its own token;
  3. lower-casing (uncased only): per code point mapping, with U+03A3 becoming final sigma when
     CPython's `handle_capital_sigma` rule holds inside its whitespace token; then canonical
     reordering (a stable sort by combining class inside each starter's group, as NFD does on
     the whole token) and removal of category Mn;
  4. punctuation splitting; 5. greedy longest-match-first WordPiece, all words of the batch at
     once: whole words are looked up first (a hit is the longest first piece, hence the only
     piece); for the other words every candidate piece (word, start, length <= the longest vocab
     entry) is looked up in one `StaticHashTable` call, then a tf.while_loop walks all their
     start positions together, one piece per word and iteration.

Final sigma. CPython lower-cases U+03A3 to U+03C2 when, inside the string, the nearest character
before it that is not case-ignorable is cased, and the nearest one after it that is not
case-ignorable is not cased (or there is none). Python exposes neither property, so they are
measured from `str.lower()` itself: `(" " + c + "Σ").lower()` ends in "ς" exactly when `c` is
cased and not case-ignorable (an ignorable `c` is skipped and " " is not cased), and
`("A" + c + "Σ").lower()` ends in "ς" exactly when `c` is case-ignorable or cased-not-ignorable.
A character both cased and case-ignorable (e.g. U+02B0) counts as ignorable, as in CPython,
which skips ignorables before it asks "cased?". The tests check the classes with Σ next to
every letter, mark, modifier and punctuation code point.

Canonical reordering. NFD of a token equals per-character NFD except that combining marks
(combining class != 0) are stably sorted by class inside each run. Mn marks are dropped
afterwards, so only non-Mn marks with a class could differ: 25 Mc code points with class 6, 9,
216, 224 or 226 (U+1715 ... U+1D172). NFD does move them (a, U+302E, U+1715 becomes a, U+1715,
U+302E), so the reordering is implemented rather than ignored.

Known differences: none found; tests/test_graph_tokenizer.py compares every corpus line and a
seeded Unicode fuzz, cased and uncased. Inputs are bytes: a Python `str` holding lone surrogates
cannot be given to TensorFlow, and its UTF-8 form with "surrogatepass" is invalid UTF-8, dropped
by both paths.

Axis letters: N texts, T code points of the batch (flat), W words, P (word, start) positions,
Q candidate pieces (word, start, length).
"""

import bisect
import functools
import unicodedata

import tensorflow as tf

from bert_tf import tokenization
from bert_tf.errors import InputError

# Cleaning classes of input code points (bits 0-1) and final-sigma classes (bits 2-3).
_OTHER, _DROP, _SPACE, _CJK = 0, 1, 2, 3
_CASE_IGNORABLE, _CASED = 4, 8
# Properties of output code points: combining class (bits 0-7), then flags.
_MN, _PUNCT, _ISSPACE = 256, 512, 1024
_CAPITAL_SIGMA, _SMALL_FINAL_SIGMA = 0x03A3, 0x03C2
_NUM_CODE_POINTS = 0x110000


def _runs(values):
    """[v0, v0, v1, ...] per code point -> (run starts, run values), both lists of int."""
    starts, run_values = [], []
    for cp, value in enumerate(values):
        if not run_values or value != run_values[-1]:
            starts.append(cp)
            run_values.append(value)
    return starts, run_values


@functools.lru_cache(maxsize=None)
def _tables(do_lower_case):
    """Per-code-point tables from Python's own Unicode data (about 2 s, once per process).

    Returns:
        dict of lists of int: clean_starts/clean_values (input classes), props_starts/
        props_values (output properties) and, when lower-casing, map_keys/map_starts/
        map_lengths/map_values (code point -> NFD(lower(code point)), non-identity only).
    """
    clean, props = [], []
    map_keys, map_starts, map_lengths, map_values = [], [], [], []
    for cp in range(_NUM_CODE_POINTS):
        char = chr(cp)
        if cp == 0 or cp == 0xFFFD or tokenization._is_control(char):
            value = _DROP
        elif tokenization._is_whitespace(char) or char.isspace():
            value = _SPACE  # isspace(): str.split() in whitespace_tokenize splits there too.
        elif tokenization._is_chinese_char(cp):
            value = _CJK
        else:
            value = _OTHER
        prop = (_PUNCT if tokenization._is_punctuation(char) else 0) | (
            _ISSPACE if char.isspace() else 0)
        if do_lower_case:
            if (" " + char + "\u03a3").lower()[-1] == "\u03c2":
                value |= _CASED
            elif ("A" + char + "\u03a3").lower()[-1] == "\u03c2":
                value |= _CASE_IGNORABLE
            prop |= unicodedata.combining(char)
            prop |= _MN if unicodedata.category(char) == "Mn" else 0
            mapped = unicodedata.normalize("NFD", char.lower())
            if mapped != char:
                map_keys.append(cp)
                map_starts.append(len(map_values))
                map_lengths.append(len(mapped))
                map_values.extend(ord(c) for c in mapped)
        clean.append(value)
        props.append(prop)
    tables = {}
    tables["clean_starts"], tables["clean_values"] = _runs(clean)
    tables["props_starts"], tables["props_values"] = _runs(props)
    if do_lower_case:
        tables.update(map_keys=map_keys, map_starts=map_starts, map_lengths=map_lengths,
                      map_values=map_values)
    return tables


# Word classes of `word_class_ranges` (the NER word split of bert_tf.text_signatures).
WORD_OTHER, WORD_SPACE, WORD_ALONE = 0, 1, 2


@functools.lru_cache(maxsize=None)
def word_class_ranges(do_lower_case):
    """(run starts, word class) per code point, read off the tokenizer's own tables (no
    second pass over the code points): WORD_SPACE for `str.isspace()` (a superset of the
    original's whitespace: " ", tab, newline, CR and Zs), WORD_ALONE for punctuation and CJK
    ideographs (each a word of its own), else WORD_OTHER. Both casings' tables hold these
    classes; pass the casing whose tables are built already."""
    tables = _tables(do_lower_case)
    clean_starts, clean_values = tables["clean_starts"], tables["clean_values"]
    props_starts, props_values = tables["props_starts"], tables["props_values"]
    starts, classes = [], []
    for cp in sorted(set(clean_starts) | set(props_starts)):
        clean = clean_values[bisect.bisect_right(clean_starts, cp) - 1] & 3  # no sigma bits
        prop = props_values[bisect.bisect_right(props_starts, cp) - 1]
        kind = (WORD_SPACE if prop & _ISSPACE else
                WORD_ALONE if prop & _PUNCT or clean == _CJK else WORD_OTHER)
        if not classes or kind != classes[-1]:
            starts.append(cp)
            classes.append(kind)
    return starts, classes


def _lookup_runs(starts, values, code_points):
    """The run value of each code point: int32 [T] -> int32 [T]."""
    index = tf.searchsorted(starts, code_points, side="right") - 1
    return tf.gather(values, index)


def _previous(values, first):
    """values shifted right by one, `first` in front: [T] -> [T] (also for T = 0)."""
    return tf.concat([tf.fill([1], first), values], axis=0)[:-1]


class GraphTokenizer(tf.Module):
    """`FullTokenizer` in core TF ops: raw text [N] -> word-piece ids, ragged [N, (pieces)].

    Example:
        tokenizer = GraphTokenizer("vocab.txt", do_lower_case=True)
        ids = tokenizer.tokenize(tf.constant(["UNwant\u00e9d,running"]))  # RaggedTensor
        cls_id = tokenizer.token_id("[CLS]")

    Attributes:
        vocab_asset: tf.saved_model.Asset of the vocab file (saved into assets/).
        vocab_table: tf.lookup.StaticHashTable token (string) -> id (int32), default -1.
        do_lower_case, max_input_chars_per_word: as passed.
    """

    def __init__(self, vocab_file, do_lower_case, max_input_chars_per_word=200):
        """Reads the vocab and builds the Unicode tables.

        Args:
            vocab_file: str, path to `vocab.txt`; read with `tokenization.load_vocab` (same ids;
                a repeated token keeps its later line).
            do_lower_case: bool, True for uncased checkpoints.
            max_input_chars_per_word: int; a longer word (in code points) is one [UNK].

        Raises:
            FileNotFoundError, InputError: see `tokenization.load_vocab`; InputError also if the
                vocab has no "[UNK]".
        """
        super().__init__(name="graph_tokenizer")
        self.do_lower_case = bool(do_lower_case)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._vocab = tokenization.load_vocab(vocab_file)
        if tokenization.UNK_TOKEN not in self._vocab:
            raise InputError(f"BERT vocab file {vocab_file} has no {tokenization.UNK_TOKEN} token.")
        self._unk_id = self._vocab[tokenization.UNK_TOKEN]
        # Longest candidate piece worth looking up, in code points ("##" counted: safe bound).
        self._max_piece_chars = max(1, min(max(len(t) for t in self._vocab),
                                           self.max_input_chars_per_word))
        self.vocab_asset = tf.saved_model.Asset(vocab_file)
        self.vocab_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self._vocab.keys()), tf.string),
                tf.constant(list(self._vocab.values()), tf.int32)),
            default_value=-1)
        tables = _tables(self.do_lower_case)
        self._tables = {name: tf.constant(values, tf.int32) for name, values in tables.items()}

    @property
    def vocab_size(self):
        """int: number of vocab lines (largest id + 1), the size of the embedding table."""
        return max(self._vocab.values()) + 1

    def token_id(self, token):
        """The id (int) of `token` (str), e.g. token_id("[CLS]"); Python-side.

        Raises:
            InputError: `token` is not in the vocab.
        """
        return tokenization.convert_tokens_to_ids(self._vocab, [token])[0]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
        """Word-piece ids of each text, no [CLS]/[SEP].

        Args:
            texts: tf.string [N], UTF-8 bytes (invalid sequences are dropped, as in the original).

        Returns:
            tf.RaggedTensor int32 [N, (pieces)].
        """
        chars, rows, tokens = self._basic_tokenize(texts)
        chars, words, word_rows = self._words(chars, rows, tokens)
        num_texts = tf.shape(texts, out_type=tf.int64)[0]
        return self._wordpiece(chars, words, word_rows, num_texts)

    def _basic_tokenize(self, texts):
        """Steps 1-3: decode, clean, CJK split, whitespace split, lower-case + strip accents.

        Returns:
            chars int32 [T], rows int64 [T] (text of each code point), tokens int32 [T]
            (whitespace token of each code point, increasing over the batch).
        """
        t = self._tables
        decoded = tf.strings.unicode_decode(
            texts, "UTF-8", errors="replace", replacement_char=0xFFFD)  # [N, (C)]
        chars = decoded.flat_values  # [T]
        rows = decoded.value_rowids()  # [T]
        classes = _lookup_runs(t["clean_starts"], t["clean_values"], chars)
        keep = tf.not_equal(classes & 3, _DROP)  # Cleaning: U+0000, U+FFFD, Cc/Cf.
        chars, rows, classes = [tf.boolean_mask(x, keep) for x in (chars, rows, classes)]
        is_space = tf.equal(classes & 3, _SPACE)
        is_cjk = tf.equal(classes & 3, _CJK)
        # A token starts a text, follows whitespace or is/follows a CJK ideograph (the padding).
        starts = (tf.not_equal(rows, _previous(rows, tf.constant(-1, tf.int64))) | is_cjk |
                  _previous(is_cjk, False) | _previous(is_space, False))
        keep = tf.logical_not(is_space)
        chars, rows, classes, starts = [
            tf.boolean_mask(x, keep) for x in (chars, rows, classes, starts)]
        tokens = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # [T]
        if self.do_lower_case:
            chars, rows, tokens = self._lower_and_strip_accents(chars, rows, classes, tokens)
        return chars, rows, tokens

    def _lower_and_strip_accents(self, chars, rows, classes, tokens):
        """`str.lower()` per token, NFD, drop Mn: [T] -> [T'] (chars, rows, tokens)."""
        t = self._tables
        num_chars = tf.size(chars)
        positions = tf.range(num_chars)
        # Final sigma: the nearest non-ignorable code point before / after, inside the token.
        case = classes & (_CASED | _CASE_IGNORABLE)
        anchors = tf.cast(tf.where(tf.not_equal(case, _CASE_IGNORABLE))[:, 0], tf.int32)
        # Sentinels -1 and T (index 0 and T + 1 of the padded arrays) belong to no token.
        anchors = tf.concat([[-1], anchors, [num_chars]], axis=0)
        padded_tokens = tf.concat([[-1], tokens, [-1]], axis=0)  # [T + 2]
        padded_cased = tf.concat([[False], tf.equal(case, _CASED), [False]], axis=0)
        before = tf.gather(anchors, tf.searchsorted(anchors, positions, side="left") - 1) + 1
        after = tf.gather(anchors, tf.searchsorted(anchors, positions, side="right")) + 1
        cased_before = (tf.equal(tf.gather(padded_tokens, before), tokens) &
                        tf.gather(padded_cased, before))
        cased_after = (tf.equal(tf.gather(padded_tokens, after), tokens) &
                       tf.gather(padded_cased, after))
        final_sigma = (tf.equal(chars, _CAPITAL_SIGMA) & cased_before &
                       tf.logical_not(cased_after))  # [T]
        # Per code point NFD(lower(c)): [T] -> [T'] through the mapping table.
        keys = t["map_keys"]
        index = tf.minimum(tf.searchsorted(keys, chars, side="left"), tf.size(keys) - 1)
        hit = tf.equal(tf.gather(keys, index), chars)
        lengths = tf.where(hit, tf.gather(t["map_lengths"], index), 1)
        out = tf.ragged.range(lengths)  # [T, (k)]
        source, k = out.value_rowids(), out.flat_values  # [T'] each
        mapped = tf.gather(t["map_values"], tf.gather(tf.gather(t["map_starts"], index), source) + k)
        chars = tf.where(tf.gather(hit, source), mapped, tf.gather(chars, source))
        chars = tf.where(tf.gather(final_sigma, source), _SMALL_FINAL_SIGMA, chars)
        rows, tokens = tf.gather(rows, source), tf.gather(tokens, source)
        # Canonical reordering: a starter (class 0) or a token start opens a group; inside a
        # group marks are stably sorted by combining class, as NFD of the whole token does.
        props = _lookup_runs(t["props_starts"], t["props_values"], chars)  # [T']
        combining = tf.cast(props & 255, tf.int64)
        group_start = tf.equal(combining, 0) | tf.not_equal(tokens, _previous(tokens, -1))
        group = tf.cumsum(tf.cast(group_start, tf.int64))
        order = tf.argsort(group * 256 + combining, stable=True)  # [T']
        chars, rows, tokens, props = [tf.gather(x, order) for x in (chars, rows, tokens, props)]
        keep = tf.equal(props & _MN, 0)  # Accent stripping: drop category Mn.
        return [tf.boolean_mask(x, keep) for x in (chars, rows, tokens)]

    def _words(self, chars, rows, tokens):
        """Step 4, punctuation split (and split again on whitespace, as the original re-splits).

        Returns:
            chars int32 [T'] (whitespace removed), words int32 [T'] (word of each code point),
            word_rows int64 [W] (text of each word).
        """
        props = _lookup_runs(self._tables["props_starts"], self._tables["props_values"], chars)
        is_punct = tf.not_equal(props & _PUNCT, 0)
        is_space = tf.not_equal(props & _ISSPACE, 0)
        starts = (tf.not_equal(tokens, _previous(tokens, -1)) | is_punct |
                  _previous(is_punct, False) | _previous(is_space, False))
        keep = tf.logical_not(is_space)
        chars, rows, starts = [tf.boolean_mask(x, keep) for x in (chars, rows, starts)]
        words = tf.cumsum(tf.cast(starts, tf.int32)) - 1  # [T']
        word_rows = tf.boolean_mask(rows, starts)  # [W]
        return chars, words, word_rows

    def _wordpiece(self, chars, words, word_rows, num_texts):
        """Step 5: greedy longest-match-first WordPiece of all words at once.

        Args:
            chars, words: int32 [T], the code points and their words; word_rows: int64 [W];
            num_texts: int64 scalar N.

        Returns:
            tf.RaggedTensor int32 [N, (pieces)].
        """
        num_words = tf.size(word_rows)
        word_chars = tf.RaggedTensor.from_value_rowids(chars, words, nrows=num_words)  # [W, (L)]
        word_strings = tf.strings.unicode_encode(word_chars, "UTF-8")  # [W]
        lengths = tf.cast(word_chars.row_lengths(), tf.int32)  # [W]
        too_long = lengths > self.max_input_chars_per_word
        # Shortcut: a word that is itself in the vocab is its own longest first piece, so it is
        # one piece (most words of English text with a real vocab); look up whole words first.
        whole_ids = self.vocab_table.lookup(word_strings)  # [W]
        whole = (whole_ids >= 0) & tf.logical_not(too_long)
        lengths = tf.where(too_long | whole, 0, lengths)  # Candidates for the other words only.
        # Every (word, start) position, then every (position, length) candidate.
        starts = tf.ragged.range(lengths)  # [W, (L)]
        start, start_word = starts.flat_values, tf.cast(starts.value_rowids(), tf.int32)  # [P]
        max_length = tf.minimum(tf.gather(lengths, start_word) - start, self._max_piece_chars)
        candidates = tf.ragged.range(1, max_length + 1)  # [P, (K)]
        length, position = candidates.flat_values, candidates.value_rowids()  # [Q]
        cand_start = tf.gather(start, position)
        piece = tf.strings.substr(tf.gather(word_strings, tf.gather(start_word, position)),
                                  cand_start, length, unit="UTF8_CHAR")
        piece = tf.strings.join([tf.where(cand_start > 0, "##", ""), piece])  # Continuation.
        ids = self.vocab_table.lookup(piece)  # [Q], -1 when missing
        num_positions = tf.size(start)
        best_length = tf.maximum(tf.math.unsorted_segment_max(
            tf.where(ids >= 0, length, 0), position, num_positions), 0)  # [P], 0: no piece
        best_id = tf.math.unsorted_segment_max(
            tf.where((ids >= 0) & tf.equal(length, tf.gather(best_length, position)), ids, -1),
            position, num_positions)  # [P]
        base = tf.cast(starts.row_starts(), tf.int32)  # [W]

        def body(offset, alive, failed, piece_words, piece_ids, step):
            active = tf.cast(tf.where(alive)[:, 0], tf.int32)  # [A]
            at = tf.gather(base, active) + tf.gather(offset, active)
            found = tf.gather(best_length, at)  # [A]
            ok = found > 0
            piece_words = piece_words.write(step, tf.boolean_mask(active, ok))
            piece_ids = piece_ids.write(step, tf.boolean_mask(tf.gather(best_id, at), ok))
            new_offset = tf.gather(offset, active) + found
            scatter = active[:, None]
            offset = tf.tensor_scatter_nd_update(offset, scatter, new_offset)
            alive = tf.tensor_scatter_nd_update(
                alive, scatter, ok & (new_offset < tf.gather(lengths, active)))
            failed = tf.tensor_scatter_nd_update(failed, scatter, tf.logical_not(ok))
            return offset, alive, failed, piece_words, piece_ids, step + 1

        empty = tf.zeros([0], tf.int32)
        piece_words = tf.TensorArray(tf.int32, size=1, dynamic_size=True, infer_shape=False,
                                     element_shape=[None]).write(0, empty)
        piece_ids = tf.TensorArray(tf.int32, size=1, dynamic_size=True, infer_shape=False,
                                   element_shape=[None]).write(0, empty)
        _, _, failed, piece_words, piece_ids, _ = tf.while_loop(
            lambda offset, alive, *_: tf.reduce_any(alive), body,
            (tf.zeros([num_words], tf.int32), lengths > 0, too_long, piece_words, piece_ids,
             tf.constant(1)))
        piece_words, piece_ids = piece_words.concat(), piece_ids.concat()  # step by step
        # A word with a missing piece, or too long, is one [UNK]; a whole-word hit one piece.
        kept = tf.logical_not(tf.gather(failed, piece_words))
        unk_words = tf.cast(tf.where(failed)[:, 0], tf.int32)
        whole_words = tf.cast(tf.where(whole)[:, 0], tf.int32)
        piece_words = tf.concat(
            [tf.boolean_mask(piece_words, kept), unk_words, whole_words], axis=0)
        piece_ids = tf.concat([tf.boolean_mask(piece_ids, kept),
                               tf.fill(tf.shape(unk_words), self._unk_id),
                               tf.boolean_mask(whole_ids, whole)], axis=0)
        order = tf.argsort(piece_words, stable=True)  # Stable: pieces stay in step order.
        piece_words, piece_ids = tf.gather(piece_words, order), tf.gather(piece_ids, order)
        return tf.RaggedTensor.from_value_rowids(
            piece_ids, tf.gather(word_rows, piece_words), nrows=num_texts)
