"""Batch BERT tokenization on the Rust `tokenizers` library, equal to the original's output.

`FastBertTokenizer` builds `tokenizers.Tokenizer(WordPiece)` with `BertNormalizer` and
`BertPreTokenizer` and no special or added tokens, so a literal "[CLS]" in the text is split
into "[", "cls", "]" just as the original does. Its tokens and offsets are those of
`FullTokenizer.tokenize_with_offsets` (see `bert_tf/tokenization.py` for the offset convention).

The Rust normalizer is not the original everywhere. Measured with tokenizers 0.22.1 against
Python 3.11's `unicodedata` (Unicode 14.0) over every code point, alone and in several
contexts, it differs only on the characters below; a text holding any of them goes through the
pure-Python path instead (`needs_python_path`). Every other text is sent to Rust.

  Always:
    * private use (Co): Rust drops them as control characters; the original (Cc/Cf only)
      keeps them;
    * lone surrogates (Cs): not valid UTF-8, Rust cannot take them at all;
    * unassigned code points (Cn): Rust's lower-casing tables are newer than Python's and
      know some of them (e.g. U+A7CB, U+10D50..U+10D65); routing all of them is cheap;
    * U+2B820..U+2B91F (CJK Extension E, start): Rust's CJK range starts at 0x2B920 instead of
      the original's 0x2B820, so these ideographs are not split off;
    * `_SKEW_ALWAYS`: Rust classifies characters with Unicode 8-era tables: punctuation and
      format characters added since (U+2E43.., U+13430..) are letters to it, and a few that
      have changed category since (U+166D, U+111C9) are still punctuation to it.
  Lower-casing only:
    * U+03A3 GREEK CAPITAL SIGMA: Python's `str.lower()` (the original) gives final "ς" at
      the end of a word, Rust lower-cases character by character to "σ";
    * characters whose NFD holds a non-starter that is not Mn (some viramas, Mc, musical
      symbols): canonical reordering can move a character that survives accent stripping,
      and Rust's alignment tracking then gives other offsets;
    * `_SKEW_LOWER`: nonspacing marks (Mn) added since Unicode 8 (Rust keeps them instead of
      stripping them) and one decomposition it does not know (U+11938).

`tests/test_tokenization.py` checks the claim over every code point between letters (and after
a capital, when lower-casing), on a multilingual corpus and on a seeded fuzz; six contexts per
code point run with `make test-slow`. A failure there prints the missing ranges in the format
of the tables below.
"""

import bisect
import functools
import re
import unicodedata

from absl import logging
import tokenizers
from tokenizers import normalizers
from tokenizers import pre_tokenizers
from tokenizers.models import WordPiece

# The tokenizers release the skew tables below were measured with.
VERIFIED_TOKENIZERS_VERSION = "0.22.1"

# Hexadecimal code points and inclusive ranges, as measured (see module docstring).
_SKEW_ALWAYS = """
061D 0890-0891 08E2 09FD 0A76 0C77 0C84 166D 1B7D-1B7E 2E43-2E4F 2E52-2E5D 10EAD 10F55-10F59
10F86-10F89 110CD 111C9 1144B-1144F 1145A-1145B 1145D 11660-1166C 116B9 1183B 11944-11946 119E2
11A3F-11A46 11A9A-11A9C 11A9E-11AA2 11C41-11C45 11C70-11C71 11EF7-11EF8 11FFF 12FF1-12FF2
13430-13438 16E97-16E9A 16FE2 1E95E-1E95F
"""
_SKEW_LOWER = """
07FD 0898-089F 08CA-08E1 09FE 0AFA-0AFF 0B55 0C04 0C3C 0D00 0D3B-0D3C 0D81 0EBA 180F 1885-1886
1ABF-1ACE 1DF6-1DFB A82C A8C5 A8FF A9BD 10D24-10D27 10EAB-10EAC 10F46-10F50 10F82-10F85 11070
11073-11074 110C2 111CF 1123E 1133B 11438-1143F 11442-11444 11446 1145E 1182F-11837
11839-1183A 11938 1193B-1193C 1193E 11943 119D4-119D7 119DA-119DB 119E0 11A01-11A0A
11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A99 11C30-11C36
11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A
11D3C-11D3D 11D3F-11D45 11D47 11D90-11D91 11D95 11D97 11EF3-11EF4 16F4F 16FE4 1CF00-1CF2D
1CF30-1CF46 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E130-1E136 1E2AE
1E2EC-1E2EF 1E944-1E94A
"""
# The original's CJK range start that Rust's is_chinese_char misses (it begins at 0x2B920).
_RUST_MISSED_CJK = (0x2B820, 0x2B91F)
_CAPITAL_SIGMA = 0x03A3


def _parse_ranges(spec):
    """'061D 0890-0891' -> [(0x61D, 0x61D), (0x890, 0x891)]."""
    ranges = []
    for item in spec.split():
        low, _, high = item.partition("-")
        ranges.append((int(low, 16), int(high or low, 16)))
    return ranges


def _to_ranges(code_points):
    """Sorted code points -> list of inclusive (low, high) runs."""
    ranges = []
    for cp in code_points:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return [tuple(r) for r in ranges]


@functools.lru_cache(maxsize=None)
def unsafe_code_points(do_lower_case):
    """The code points (frozenset of int) whose texts must skip the Rust path.

    Built once per process from `unicodedata` and the measured skew tables; see the module
    docstring for what each part is and why.
    """
    unsafe = set()
    for cp in range(0x110000):
        char = chr(cp)
        if unicodedata.category(char) in ("Co", "Cs", "Cn"):
            unsafe.add(cp)
        elif do_lower_case and any(
            unicodedata.combining(c) and unicodedata.category(c) != "Mn"
            for c in unicodedata.normalize("NFD", char)):
            unsafe.add(cp)
    ranges = [_RUST_MISSED_CJK] + _parse_ranges(_SKEW_ALWAYS)
    if do_lower_case:
        ranges += _parse_ranges(_SKEW_LOWER) + [(_CAPITAL_SIGMA, _CAPITAL_SIGMA)]
    for low, high in ranges:
        unsafe.update(range(low, high + 1))
    return frozenset(unsafe)


class _UnsafeMatcher:
    """Tells whether a text holds any of a set of code points, fast.

    One regex class with every range would do, but `re` compiles only the Basic Multilingual
    Plane part of a class to a bitmap and tests the hundreds of supplementary-plane ranges
    (mostly unassigned blocks) one by one for every character, about 20x slower. So: a regex for
    the BMP part, and a binary search over the ranges for the rare characters above U+FFFF.
    """

    _ASTRAL = re.compile("[\U00010000-\U0010FFFF]")

    def __init__(self, code_points):
        ranges = _to_ranges(sorted(code_points))
        # Escape every endpoint: raw "-", "]", "\\" or "^" would be class syntax.
        bmp = "".join(
            re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
            for low, high in ((low, min(high, 0xFFFF)) for low, high in ranges if low <= 0xFFFF))
        self._bmp = re.compile(f"[{bmp}]") if bmp else None
        astral = [(max(low, 0x10000), high) for low, high in ranges if high > 0xFFFF]
        self._astral_lows = [low for low, _ in astral]
        self._astral_highs = [high for _, high in astral]

    def search(self, text):
        """True if `text` (str) holds one of the code points."""
        if self._bmp is not None and self._bmp.search(text):
            return True
        for match in self._ASTRAL.finditer(text):
            cp = ord(match.group())
            i = bisect.bisect_right(self._astral_lows, cp) - 1
            if i >= 0 and cp <= self._astral_highs[i]:
                return True
        return False


@functools.lru_cache(maxsize=None)
def _unsafe_matcher(do_lower_case):
    return _UnsafeMatcher(unsafe_code_points(do_lower_case))


def _as_str(text):
    """As the original's convert_to_unicode (invalid UTF-8 bytes dropped); kept here so this
    module needs nothing from tokenization.py, which imports it."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise ValueError(f"Unsupported string type: {type(text)}")


class FastBertTokenizer:
    """Batch tokenization with offsets, same output as `FullTokenizer.tokenize_with_offsets`.

    Example:
        full = tokenization.FullTokenizer("vocab.txt", do_lower_case=True)
        fast = FastBertTokenizer(full)  # What full.batch_tokenize_with_offsets uses.
        [(tokens, offsets)] = fast.batch_tokenize_with_offsets(["Hello, world!"])
    """

    def __init__(self, full_tokenizer):
        """Args: full_tokenizer: `tokenization.FullTokenizer`; gives the vocab, the casing and
        the pure-Python path for texts the Rust path would get wrong."""
        if tokenizers.__version__ != VERIFIED_TOKENIZERS_VERSION:
            logging.warning(
                "tokenizers %s is installed; the table of characters its BERT normalizer treats "
                "differently from the original was measured with %s. `make test-slow` checks it.",
                tokenizers.__version__, VERIFIED_TOKENIZERS_VERSION)
        self._full = full_tokenizer
        do_lower_case = full_tokenizer.do_lower_case
        self._unsafe = _unsafe_matcher(do_lower_case)
        wordpiece = full_tokenizer.wordpiece_tokenizer
        tokenizer = tokenizers.Tokenizer(WordPiece(
            dict(full_tokenizer.vocab), unk_token=wordpiece.unk_token,
            max_input_chars_per_word=wordpiece.max_input_chars_per_word,
            continuing_subword_prefix="##"))
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=do_lower_case,
            lowercase=do_lower_case)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        # No post-processor and no special/added tokens: "[CLS]" in text is plain text.
        self._tokenizer = tokenizer

    @property
    def rust_tokenizer(self):
        """The underlying `tokenizers.Tokenizer` (WordPiece, BertNormalizer, BertPreTokenizer)."""
        return self._tokenizer

    def needs_python_path(self, text):
        """True if `text` (str) holds a character the Rust path may treat differently."""
        return self._unsafe.search(text)

    def rust_tokenize_with_offsets(self, texts):
        """The Rust path alone, without routing (for tests): list of (tokens, offsets)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        # The Python bindings report offsets in characters of the input str, as we do.
        return [(list(e.tokens), [tuple(o) for o in e.offsets]) for e in encodings]

    def batch_tokenize_with_offsets(self, texts):
        """Tokenizes `texts` (sequence of str or UTF-8 bytes).

        Returns:
            list of (tokens, offsets) per text: tokens a list of str, offsets a list of (start,
            end) character indices into that text, exactly as `tokenize_with_offsets` gives them.
        """
        texts = [_as_str(t) for t in texts]
        results = [None] * len(texts)
        rust_indices = []
        for i, text in enumerate(texts):
            if self.needs_python_path(text):
                results[i] = self._full.tokenize_with_offsets(text)
            else:
                rust_indices.append(i)
        rust_results = self.rust_tokenize_with_offsets([texts[i] for i in rust_indices])
        for i, result in zip(rust_indices, rust_results):
            results[i] = result
        return results
