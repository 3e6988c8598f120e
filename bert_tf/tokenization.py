"""BERT tokenization: the original google-research/bert tokenizer, token for token.

`FullTokenizer` = `BasicTokenizer` (cleanup, CJK padding, lower-casing and accent stripping,
punctuation splitting) followed by `WordpieceTokenizer` (greedy longest-match-first word
pieces). The behaviour mirrors google-research/bert `tokenization.py` (final version, with
`validate_case_matches_checkpoint`) on purpose, quirks included, because a checkpoint only works
with the exact tokenization it was pre-trained with:

  * control characters are Unicode categories Cc and Cf only (tab, newline and carriage return
    count as whitespace); U+0000 and U+FFFD are dropped too;
  * whitespace is " ", tab, newline, carriage return or category Zs; the later splits use
    Python's `str.split()`, which also splits on U+2028/U+2029;
  * lower-casing is `str.lower()` on each whitespace-separated token (so Greek final sigma
    becomes "ς"), followed by NFD and removal of category Mn; neither happens for cased models;
  * punctuation is ASCII 33-47, 58-64, 91-96, 123-126 or any category P*; a literal "[CLS]" in
    the text is split like any other text;
  * a word longer than 200 characters, or with any piece missing from the vocab, is one "[UNK]".

On top of the original API this module adds character offsets (`tokenize_with_offsets`) and a
batch entry point that uses the Rust `tokenizers` library (`bert_tf/fast_tokenization.py`) and
gives the same tokens and offsets. Nothing here imports TensorFlow.

Offset convention (shared by both paths): every token gets `(start, end)`, Python `str` indices
into the text as passed in (after bytes are decoded as UTF-8). `start` is the index of the
first original character that produced one of the token's characters and `end` is one past the
last, so `text[start:end]` is the token's source, before lower-casing and accent stripping.
Characters that produce nothing (dropped control characters, whitespace, a combining mark that
is its own character and is stripped with the accents) are covered only when they lie between
two characters of the same token. An "[UNK]" spans its whole word. The pieces of a word lie in
that word's span, in order: each starts where the previous one ended, except after a gap of
such dropped characters, or inside the previous piece's last character when one character
became several (a Hangul syllable becomes two or three jamo under NFD).
"""

import collections
import re
import unicodedata

from absl import logging

from bert_tf.errors import InputError

# Model directories of the released checkpoints, by casing; as in the original.
_LOWER_CASED_MODELS = (
    "uncased_L-24_H-1024_A-16", "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12", "chinese_L-12_H-768_A-12")
_CASED_MODELS = (
    "cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12")

# The original's CJK Unified Ideographs ranges (inclusive). Hangul, kana etc. are not in them.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))

UNK_TOKEN = "[UNK]"


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
    """Raises if `do_lower_case` contradicts the casing of a released checkpoint's name.

    The casing is not stored in `bert_config.json`, so, like the original, this guesses it from
    the directory holding `bert_model.ckpt`; unknown names and empty paths pass.

    Args:
        do_lower_case: bool, the `--do_lower_case` setting.
        init_checkpoint: str or None, e.g. ".../uncased_L-12_H-768_A-12/bert_model.ckpt".

    Raises:
        InputError (a ValueError, as in the original): the directory names a released uncased
            model and `do_lower_case` is False, or a cased model and it is True. The message
            names the flag, the checkpoint and the fix.
    """
    if not init_checkpoint:
        return
    match = re.match(r"^.*?([A-Za-z0-9_-]+)/bert_model.ckpt", init_checkpoint)
    if match is None:
        return
    model_name = match.group(1)
    if model_name in _LOWER_CASED_MODELS and not do_lower_case:
        actual, kind, wanted = "False", "lowercased", "True"
    elif model_name in _CASED_MODELS and do_lower_case:
        actual, kind, wanted = "True", "cased", "False"
    else:
        return
    raise InputError(
        f"You passed `--do_lower_case={actual}` with `--init_checkpoint={init_checkpoint}`, but "
        f"`{model_name}` looks like a {kind} model: pass `--do_lower_case={wanted}` so that "
        "fine-tuning tokenizes text the way the model was pre-trained. If the checkpoint name is "
        "misleading, rename its directory.")


def convert_to_unicode(text):
    """Returns `text` as `str`, decoding `bytes` as UTF-8 (invalid bytes are dropped).

    Raises:
        ValueError: `text` is neither `str` nor `bytes`.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


def printable_text(text):
    """Returns `text` as a `str` fit for logging (Python 3: the same as `convert_to_unicode`)."""
    return convert_to_unicode(text)


def load_vocab(vocab_file):
    """Reads a BERT vocab file: one token per line, stripped; its id is its 0-based line number.

    Args:
        vocab_file: str, path to a UTF-8 text file such as `vocab.txt`.

    Returns:
        `collections.OrderedDict` mapping token (str) -> id (int). As in the original, a token
        repeated later in the file keeps the later line number.

    Raises:
        FileNotFoundError: there is no file at `vocab_file` (the message names it).
        InputError: the file is not UTF-8 (naming the line) or holds no lines.
    """
    vocab = collections.OrderedDict()
    try:
        with open(vocab_file, "rb") as reader:
            # Split on b"\n" only, like the original's GFile.readline(); str.splitlines() would
            # also split on characters such as U+2028 and shift every later id.
            for index, line in enumerate(reader):
                try:
                    token = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputError(
                        f"{vocab_file}:{index + 1}: BERT vocab file is not UTF-8 ({e})") from None
                vocab[token.strip()] = index
    except FileNotFoundError:
        raise FileNotFoundError(f"BERT vocab file not found: {vocab_file}") from None
    if not vocab:
        raise InputError(f"BERT vocab file {vocab_file} is empty.")
    return vocab


def _convert(mapping, items, what, source):
    """Looks every item up in `mapping`, naming the first one that is missing."""
    output = []
    for item in items:
        try:
            output.append(mapping[item])
        except KeyError:
            raise InputError(f"{what} {item!r} is not in the vocab{source}.") from None
    return output


def convert_by_vocab(vocab, items):
    """Maps each of `items` through `vocab` (a token->id or id->token dict).

    Raises:
        InputError: an item is not a key of `vocab` (the original raised a bare KeyError).
    """
    return _convert(vocab, items, "Item", "")


def convert_tokens_to_ids(vocab, tokens):
    """Returns the ids (list of int) of `tokens` (list of str) under `vocab` (token -> id)."""
    return _convert(vocab, tokens, "Token", "")


def convert_ids_to_tokens(inv_vocab, ids):
    """Returns the tokens (list of str) of `ids` (list of int) under `inv_vocab` (id -> token)."""
    return _convert(inv_vocab, ids, "Id", "")


def whitespace_tokenize(text):
    """Splits `text` on whitespace as Python's `str.split()` defines it."""
    text = text.strip()
    if not text:
        return []
    return text.split()


class FullTokenizer:
    """End-to-end tokenization: `BasicTokenizer`, then `WordpieceTokenizer`.

    Example:
        tokenizer = FullTokenizer("vocab.txt", do_lower_case=True)
        tokens = tokenizer.tokenize("UNwant\u00e9d,running")  # ["un", "##want", "##ed", ...]
        ids = tokenizer.convert_tokens_to_ids(tokens)

    Attributes:
        vocab: OrderedDict token -> id, as `load_vocab` returns it.
        inv_vocab: dict id -> token.
        basic_tokenizer, wordpiece_tokenizer: the two stages.
    """

    def __init__(self, vocab_file, do_lower_case=True):
        """Loads the vocab.

        Args:
            vocab_file: str, path to `vocab.txt`.
            do_lower_case: bool, True for uncased checkpoints (lower-case and strip accents).

        Raises:
            FileNotFoundError, InputError: see `load_vocab`; InputError also if the vocab has
                no "[UNK]".
        """
        self.vocab_file = vocab_file
        self.do_lower_case = do_lower_case
        self.vocab = load_vocab(vocab_file)
        if UNK_TOKEN not in self.vocab:
            raise InputError(f"BERT vocab file {vocab_file} has no {UNK_TOKEN} token.")
        self.inv_vocab = {v: k for k, v in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._fast = None  # Built on the first batch call (fast_tokenization.FastBertTokenizer).

    def tokenize(self, text):
        """Returns the word-piece tokens (list of str) of `text` (str or UTF-8 bytes)."""
        split_tokens = []
        for token in self.basic_tokenizer.tokenize(text):
            split_tokens.extend(self.wordpiece_tokenizer.tokenize(token))
        return split_tokens

    def tokenize_with_offsets(self, text):
        """Pure-Python tokenization that also returns where each token came from.

        Args:
            text: str (or UTF-8 bytes, decoded first; offsets index the decoded str).

        Returns:
            (tokens, offsets): tokens as `tokenize` returns them; offsets a list of (start, end)
            int pairs, one per token, following the module docstring's convention.
        """
        tokens, offsets = [], []
        for word, spans in self.basic_tokenizer.tokenize_with_spans(text):
            for piece, begin, end in self.wordpiece_tokenizer.tokenize_word(word):
                tokens.append(piece)
                offsets.append(_union(spans[begin:end]))
        return tokens, offsets

    def batch_tokenize_with_offsets(self, texts):
        """Tokenizes many texts at once with the Rust `tokenizers` library.

        Gives exactly what `tokenize_with_offsets` gives for each text: texts holding characters
        the Rust normalizer treats differently from the original go through the Python path (see
        `bert_tf/fast_tokenization.py`).

        Args:
            texts: sequence of str (or UTF-8 bytes).

        Returns:
            list of (tokens, offsets), one per text.
        """
        if self._fast is None:
            # Imported here: the Rust library is only needed by batch callers.
            from bert_tf import fast_tokenization
            self._fast = fast_tokenization.FastBertTokenizer(self)
        return self._fast.batch_tokenize_with_offsets(texts)

    def convert_tokens_to_ids(self, tokens):
        """Returns the ids of `tokens`; raises InputError naming a token not in the vocab."""
        return _convert(self.vocab, tokens, "Token", f" file {self.vocab_file}")

    def convert_ids_to_tokens(self, ids):
        """Returns the tokens of `ids`; raises InputError naming an id outside the vocab."""
        return _convert(self.inv_vocab, ids, "Id", f" file {self.vocab_file}")


class BasicTokenizer:
    """Cleanup, CJK padding, optional lower-casing/accent stripping, punctuation splitting."""

    def __init__(self, do_lower_case=True):
        """Args: do_lower_case: bool, lower-case and strip accents (uncased models)."""
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        """Returns the words (list of str) of `text`, following the original step by step."""
        text = convert_to_unicode(text)
        text = self._clean_text(text)
        # Applied to every model since the multilingual/Chinese release (November 2018); English
        # vocabs hold few CJK characters, so it changes little for them.
        text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = token.lower()  # Whole-token lower(): Python's final-sigma rule applies.
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    def tokenize_with_spans(self, text):
        """Like `tokenize`, but keeps where every character of every word came from.

        Args:
            text: str or UTF-8 bytes.

        Returns:
            list of (word, spans): `spans[k]` is the (start, end) range of `text` that produced
            `word[k]`; usually one character, wider only where NFD reorders marks across characters.
        """
        text = convert_to_unicode(text)
        # Clean up and pad CJK characters; a padding or whitespace character has no span.
        chars, spans = [], []
        for i, char in enumerate(text):
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                chars.append(" ")
                spans.append(None)
            elif _is_chinese_char(cp):
                chars.extend((" ", char, " "))
                spans.extend((None, (i, i + 1), None))
            else:
                chars.append(char)
                spans.append((i, i + 1))
        words = []
        for token in _split_on_whitespace(chars, spans):
            if self.do_lower_case:
                token = _strip_accents_with_spans(*_lower_with_spans(*token))
            for piece in _split_on_punc_with_spans(*token):
                # The original joins and re-splits on whitespace; lower()/NFD could, in principle,
                # produce whitespace, so split again rather than assume it cannot.
                words.extend(_split_on_whitespace(*piece))
        return [("".join(word_chars), word_spans) for word_chars, word_spans in words]

    def _run_strip_accents(self, text):
        """NFD, then drops nonspacing marks (category Mn)."""
        return _strip_accents(text)

    def _run_split_on_punc(self, text):
        """Splits `text` into runs of non-punctuation and single punctuation characters."""
        output, start_new_word = [], True
        for char in text:
            if _is_punctuation(char):
                output.append(char)
                start_new_word = True
            else:
                if start_new_word:
                    output.append("")
                start_new_word = False
                output[-1] += char
        return output

    def _tokenize_chinese_chars(self, text):
        """Puts a space on both sides of every CJK ideograph."""
        return "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)

    def _is_chinese_char(self, cp):
        """True if code point `cp` (int) is in one of the original's CJK ranges."""
        return _is_chinese_char(cp)

    def _clean_text(self, text):
        """Drops U+0000, U+FFFD and control characters; maps whitespace to " "."""
        output = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            output.append(" " if _is_whitespace(char) else char)
        return "".join(output)


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece, as in the original.

    Example: with "un", "##aff", "##able" in the vocab, "unaffable" -> ["un", "##aff", "##able"].
    """

    def __init__(self, vocab, unk_token=UNK_TOKEN, max_input_chars_per_word=200):
        """Args:
            vocab: dict-like token -> id; only membership is used.
            unk_token: str emitted for a word that cannot be split.
            max_input_chars_per_word: int; longer words become one `unk_token`.
        """
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        """Returns the word pieces (list of str) of `text`, whitespace-separated words that have
        already been through `BasicTokenizer`."""
        output_tokens = []
        for token in whitespace_tokenize(convert_to_unicode(text)):
            output_tokens.extend(piece for piece, _, _ in self.tokenize_word(token))
        return output_tokens

    def tokenize_word(self, word):
        """Splits one word; returns a list of (piece, begin, end), `word[begin:end]` being the
        characters the piece covers. An unsplittable or over-long word is [(unk, 0, len(word))]."""
        if len(word) > self.max_input_chars_per_word:
            return [(self.unk_token, 0, len(word))]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:  # No prefix of word[start:] is in the vocab: the whole word is unknown.
                return [(self.unk_token, 0, len(word))]
            pieces.append((piece, start, end))
            start = end
        return pieces


def _is_whitespace(char):
    """True for " ", tab, newline, carriage return and category Zs (the original's definition;
    the last three are technically control characters)."""
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    """True for categories Cc and Cf, except tab, newline and carriage return (whitespace).

    Private use (Co), surrogates (Cs) and unassigned code points (Cn) are NOT control
    characters here; the final original narrowed an earlier "any category C" test to Cc/Cf.
    """
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    """True for non-alphanumeric printable ASCII (so "$", "^", "`" too) and any category P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_chinese_char(cp):
    """True if code point `cp` (int) lies in the original's CJK Unified Ideographs ranges."""
    return any(low <= cp <= high for low, high in _CJK_RANGES)


def _strip_accents(text):
    """NFD, then drops category Mn."""
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


# The *_with_spans helpers below take and return (chars, spans): parallel lists of one-
# character strings and their (start, end) source ranges (None for inserted spaces).


def _split_on_whitespace(chars, spans):
    """Splits on `str.isspace()` characters, as `whitespace_tokenize` does."""
    tokens, current = [], ([], [])
    for char, span in zip(chars, spans):
        if char.isspace():
            if current[0]:
                tokens.append(current)
            current = ([], [])
        else:
            current[0].append(char)
            current[1].append(span)
    if current[0]:
        tokens.append(current)
    return tokens


def _lower_with_spans(chars, spans):
    """`str.lower()` of the whole token, each output character keeping its source's span."""
    lowered = "".join(chars).lower()
    per_char = [c.lower() for c in chars]
    if sum(len(p) for p in per_char) != len(lowered):
        # Cannot happen with Python's case mappings (only final sigma depends on context, and it
        # keeps the length); kept so tokens stay exact even if that changes.
        return list(lowered), [_union(spans)] * len(lowered)
    out_chars, out_spans, pos = [], [], 0
    for piece, span in zip(per_char, spans):
        # Slice the whole-token result, not `piece`: that is where final sigma differs.
        out_chars.extend(lowered[pos:pos + len(piece)])
        out_spans.extend([span] * len(piece))
        pos += len(piece)
    return out_chars, out_spans


def _strip_accents_with_spans(chars, spans):
    """`_strip_accents` of the whole token, mapping each output character to its source."""
    target = _strip_accents("".join(chars))
    out_chars, out_spans = [], []
    for char, span in zip(chars, spans):
        stripped = _strip_accents(char)
        out_chars.extend(stripped)
        out_spans.extend([span] * len(stripped))
    if "".join(out_chars) == target:
        return out_chars, out_spans
    # Canonical reordering moved a surviving mark across characters: map per cluster instead
    # (a starter plus the non-starters after it), since NFD never reorders across starters.
    out_chars, out_spans = [], []
    for cluster_chars, cluster_spans in _nfd_clusters(chars, spans):
        stripped = _strip_accents("".join(cluster_chars))
        out_chars.extend(stripped)
        out_spans.extend([_union(cluster_spans)] * len(stripped))
    if "".join(out_chars) != target:  # Last resort, never expected: one span for the token.
        logging.warning("Coarse offsets for token %r.", "".join(chars))
        return list(target), [_union(spans)] * len(target)
    return out_chars, out_spans


def _nfd_clusters(chars, spans):
    """Groups characters into runs that start where the NFD form starts with a starter."""
    clusters = []
    for char, span in zip(chars, spans):
        decomposed = unicodedata.normalize("NFD", char)
        if not clusters or unicodedata.combining(decomposed[0]) == 0:
            clusters.append(([], []))
        clusters[-1][0].append(char)
        clusters[-1][1].append(span)
    return clusters


def _split_on_punc_with_spans(chars, spans):
    """Splits into runs of non-punctuation and single punctuation characters."""
    output, start_new_word = [], True
    for char, span in zip(chars, spans):
        if _is_punctuation(char):
            output.append(([char], [span]))
            start_new_word = True
        else:
            if start_new_word:
                output.append(([], []))
            start_new_word = False
            output[-1][0].append(char)
            output[-1][1].append(span)
    return output


def _union(spans):
    """The smallest (start, end) covering all non-None `spans`."""
    spans = [s for s in spans if s is not None]
    return (min(s for s, _ in spans), max(e for _, e in spans))
