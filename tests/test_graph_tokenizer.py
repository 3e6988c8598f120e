"""Tests for bert_tf/graph_tokenizer.py: the in-graph tokenizer against the original.

Where expected values come from:
  * the reference is `FullTokenizer(vocab, do_lower_case)` of bert_tf/tokenization.py (the
    original google-research/bert tokenizer, itself checked against the original's goldens
    and Hugging Face's slow tokenizer in tests/test_tokenization.py), run on the same bytes;
  * "hand": worked out by hand from the original's rules (final sigma from CPython's
    `handle_capital_sigma`, NFD reordering from the Unicode canonical ordering algorithm);
  * the corpus, fuzz texts and vocab builders are those of tests/test_tokenization.py.
"""

import json
import os
import pathlib
import random
import subprocess
import sys
import unicodedata

import pytest
import tensorflow as tf

from bert_tf import graph_tokenizer
from bert_tf import tokenization
from bert_tf.errors import InputError
from tests.test_tokenization import CORPUS, _char_vocab, _fuzz_texts, _tokenizer_for, _write_vocab

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _encode(text):
    """UTF-8 bytes of `text`; a lone surrogate becomes invalid UTF-8 (dropped by both paths)."""
    return text.encode("utf-8", "surrogatepass")


def _graph_ids(graph, texts, batch_size=512):
    """In-graph ids (list of list of int) of `texts` (bytes), in batches."""
    ids = []
    for i in range(0, len(texts), batch_size):
        ids += graph.tokenize(tf.constant(texts[i:i + batch_size], tf.string)).to_list()
    return ids


def _reference_ids(full, texts):
    return [full.convert_tokens_to_ids(full.tokenize(t)) for t in texts]


def _differences(full, graph, texts):
    """[(text, graph tokens, reference tokens)] wherever the two disagree."""
    return [(t, full.convert_ids_to_tokens(g), full.convert_ids_to_tokens(r))
            for t, g, r in zip(texts, _graph_ids(graph, texts), _reference_ids(full, texts))
            if g != r]


def _pair(full):
    return graph_tokenizer.GraphTokenizer(full.vocab_file, full.do_lower_case)


def _pair_for_tokens(tmp_path, tokens, do_lower_case):
    full = tokenization.FullTokenizer(
        _write_vocab(tmp_path / f"vocab{int(do_lower_case)}.txt", tokens), do_lower_case)
    return full, _pair(full)


@pytest.mark.parametrize("kind", ["fragments", "chars"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_corpus_equals_full_tokenizer(tmp_path_factory, do_lower_case, kind):
    full = _tokenizer_for(tmp_path_factory, CORPUS, do_lower_case, kind)
    texts = [_encode(t) for t in CORPUS]
    assert _differences(full, _pair(full), texts) == []
    pieces = [t for ids in _reference_ids(full, texts) for t in full.convert_ids_to_tokens(ids)]
    assert any(p.startswith("##") for p in pieces)  # Word pieces really get split ...
    if kind == "fragments":
        assert "[UNK]" in pieces  # ... and missing pieces make [UNK].


@pytest.mark.parametrize("kind", ["fragments", "chars"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_fuzz_equals_full_tokenizer(tmp_path_factory, do_lower_case, kind):
    texts = _fuzz_texts(seed=4321 + do_lower_case, count=1500)
    full = _tokenizer_for(tmp_path_factory, texts, do_lower_case, kind)
    assert _differences(full, _pair(full), [_encode(t) for t in texts]) == []


# Final sigma and canonical reordering need particular neighbours, rare in the general fuzz:
# capital sigma, cased letters, case-ignorable characters (apostrophe, period, combining and
# modifier marks, U+00AD is Cf and dropped first), spaces, and the non-Mn marks with a nonzero
# combining class (U+1715 class 9, U+302E 224, U+16FF0 6, U+1D165 216, U+1D16D 226).
_GREEK_AND_MARKS = (
    "\u03a3\u03a3\u03a3\u03c3\u0391\u039f\u03bf aA'.:\u00ad\u0301\u0345\u02b0\u1d2c\u2019-\u0130"
    "\u1715\u302e\u302f\U00016ff0\U0001d165\U0001d16d\U0001d16e\u0316\u0f71\u0f72\u1e9e\u0149\u01c5")


def test_final_sigma_and_reordering_fuzz(tmp_path):
    rng = random.Random(5)
    texts = ["".join(rng.choices(_GREEK_AND_MARKS, k=rng.randint(1, 12))) for _ in range(2000)]
    words = [w for t in texts for w in tokenization.BasicTokenizer(True).tokenize(t)]
    full, graph = _pair_for_tokens(tmp_path, _char_vocab(words), True)
    assert _differences(full, graph, [_encode(t) for t in texts]) == []
    # The fuzz does reach both sigmas.
    pieces = [p for t in texts for p in full.tokenize(t)]
    assert any("\u03c2" in p for p in pieces) and any("\u03c3" in p for p in pieces)


def test_final_sigma_next_to_every_candidate_code_point(tmp_path):
    """Checks the final-sigma classes, measured from str.lower(), on every code point that can
    be cased or case-ignorable (letters with case, modifiers, marks, format characters,
    letter numbers, circled letters, other punctuation such as "." and "'") in the four
    positions CPython's rule looks at."""
    candidates = [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) in (
        "Lu", "Ll", "Lt", "Lm", "Mn", "Me", "Cf", "Sk", "Nl", "Po") or 0x2460 <= cp <= 0x24FF]
    contexts = ("A{}\u03a3", "{}\u03a3", "A\u03a3{}", "A\u03a3{}a")
    texts = [context.format(c) for context in contexts for c in candidates]
    words = [w for t in texts for w in tokenization.BasicTokenizer(True).tokenize(t)]
    full, graph = _pair_for_tokens(tmp_path, _char_vocab(words), True)
    assert _differences(full, graph, [_encode(t) for t in texts]) == []


@pytest.mark.parametrize("text,tokens", [
    # Hand: before Σ the nearest non-ignorable is cased; after it, none / only ignorables.
    ("\u039f\u0394\u039f\u03a3", ["\u03bf\u03b4\u03bf\u03c2"]),
    ("\u039f\u0394\u039f\u03a3.", ["\u03bf\u03b4\u03bf\u03c2", "."]),  # "." is case-ignorable.
    ("\u03a3", ["\u03c3"]),  # Nothing cased before it.
    ("A\u03a3'B", ["a\u03c3", "'", "b"]),  # "'" is skipped, then "B" is cased: not final.
    ("A\u03a3 B", ["a\u03c2", "b"]),  # The token ends at the space.
    ("\u4e2dA\u03a3\u4e2d", ["\u4e2d", "a\u03c2", "\u4e2d"]),  # So does a CJK ideograph.
    ("\u0130", ["i"]),  # Two code points (i + U+0307), the mark then stripped.
    # NFD sorts the marks of one starter by combining class (224 after 9); Mn are dropped.
    ("a\u302e\u0301\u1715", ["a\u1715\u302e"]),
    ("a\u302e\u1715", ["a\u1715\u302e"]),
])
def test_lower_casing_hand_cases(tmp_path, text, tokens):
    full, graph = _pair_for_tokens(tmp_path, ["[UNK]", ".", "'", "b", "\u4e2d"] + tokens, True)
    expected = full.convert_tokens_to_ids(tokens)
    assert full.tokenize(text) == tokens  # The reference agrees with the hand derivation.
    assert _graph_ids(graph, [_encode(text)]) == [expected]


def test_reordering_needs_the_sort(tmp_path):
    """Per-character NFD would keep U+302E before U+1715; the whole-token NFD does not."""
    per_char = "".join(tokenization._strip_accents(c) for c in "a\u302e\u1715")
    assert per_char == "a\u302e\u1715" != tokenization._strip_accents("a\u302e\u1715")


_INVALID_UTF8 = [
    b"\xe4a", b"\xff\xfe", b"a\xf0\x9f\x98", b"\xf0\x9f\x98a", b"\xf0\x9fa\x98b", b"\xc3",
    b"\xed\xa0\x80x", b"\xc0\xafx", b"\xf4\x90\x80\x80y", b"\xf8\x88\x80\x80\x80z",
    b"caf\xc3\xa9\xff", b"\xef\xbf\xbd", b"\x00a\x00", b"\xe2\x82\xac\xe2\x82", b"\x80\x80ab",
]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_invalid_utf8_equals_full_tokenizer(tmp_path, do_lower_case):
    rng = random.Random(11)
    parts = _INVALID_UTF8 + [b" ", b"A", b"\xc3\xa9", b"\xe4\xb8\xad", b"\xf0\x9f\xa5\xb0", b"."]
    texts = _INVALID_UTF8 + [
        b"".join(rng.choices(parts, k=rng.randint(0, 8))) + rng.randbytes(rng.randint(0, 4))
        for _ in range(1500)]
    words = [w for t in texts for w in tokenization.BasicTokenizer(do_lower_case).tokenize(t)]
    full, graph = _pair_for_tokens(tmp_path, _char_vocab(words), do_lower_case)
    assert _differences(full, graph, texts) == []
    assert full.tokenize(b"\xe4a") == ["a"] and full.tokenize(b"\xff\xfe") == []


SPECIAL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "cls", "mask", "CLS",
                 "hello", "##o", "h"]


@pytest.mark.parametrize("do_lower_case,text,tokens", [
    (True, "[CLS] hello [MASK]", ["[", "cls", "]", "hello", "[", "mask", "]"]),
    (False, "[CLS][MASK]", ["[", "CLS", "]", "[", "[UNK]", "]"]),
    (True, "hello" + "o" * 195, ["hello"] + ["##o"] * 195),  # 200 code points: pieces.
    (True, "hello" + "o" * 196, ["[UNK]"]),  # 201: one [UNK].
    # The limit counts the word after accent stripping: 395 code points in, 200 out.
    (True, "hello" + "o\u0301" * 195, ["hello"] + ["##o"] * 195),
    (True, "helloX", ["[UNK]"]),  # A missing piece makes the whole word [UNK] ...
    (True, "hello hellox hello", ["hello", "[UNK]", "hello"]),  # ... and only that word.
    (True, "", []),
    (True, " \t\n\r\u3000\u2028\u00a0", []),
    (False, "\x00\ufffd\x7f\u200b  ", []),
])
def test_hand_cases(tmp_path, do_lower_case, text, tokens):
    full, graph = _pair_for_tokens(tmp_path, SPECIAL_VOCAB, do_lower_case)
    assert full.tokenize(text) == tokens
    assert _graph_ids(graph, [_encode(text)]) == [full.convert_tokens_to_ids(tokens)]


def test_batch_shapes_and_mixed_lengths(tmp_path):
    full, graph = _pair_for_tokens(tmp_path, SPECIAL_VOCAB, True)
    empty = graph.tokenize(tf.constant([], tf.string))
    assert isinstance(empty, tf.RaggedTensor) and empty.dtype == tf.int32
    assert empty.nrows().numpy() == 0 and empty.flat_values.shape[0] == 0
    texts = [b"", b"hello", b"  ", b"[CLS] hellooo", b""]
    assert _graph_ids(graph, texts) == _reference_ids(full, texts)
    assert graph.tokenize(tf.constant(texts)).nrows().numpy() == 5


def test_vocab_ids_and_helpers(tmp_path):
    # A repeated token keeps its later line, as load_vocab does; vocab_size counts lines.
    full, graph = _pair_for_tokens(tmp_path, ["[UNK]", "a", "[CLS]", "a", "b"], True)
    assert graph.token_id("a") == 3 == full.vocab["a"]
    assert graph.token_id("[CLS]") == 2 and graph.vocab_size == 5
    assert _graph_ids(graph, [b"a b A"]) == [[3, 4, 3]]
    with pytest.raises(InputError, match="'nope'"):
        graph.token_id("nope")
    with pytest.raises(InputError, match=r"\[UNK\]"):
        graph_tokenizer.GraphTokenizer(_write_vocab(tmp_path / "v.txt", ["a"]), True)
    assert os.path.basename(graph.vocab_asset.asset_path.numpy().decode()) == "vocab1.txt"


_LOAD_IN_FRESH_PROCESS = """
import json, sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = [bytes.fromhex(h) for h in json.loads(sys.stdin.read())]
ids = loaded.tokenize_fn(tf.constant(texts)).to_list()
served = loaded.signatures["serving_default"](texts=tf.constant(texts))
rows = tf.RaggedTensor.from_row_splits(served["input_ids"], served["row_splits"]).to_list()
assert rows == ids, "signature and function disagree"
assert "bert_tf" not in sys.modules and "tensorflow_text" not in sys.modules
print(json.dumps(ids))
"""


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_saved_model_runs_without_bert_tf(tmp_path, tmp_path_factory, do_lower_case):
    texts = [_encode(t) for t in CORPUS[:20]] + [b"\xe4a \xce\xa3", b"", b"[CLS] x"]
    full = _tokenizer_for(tmp_path_factory, CORPUS, do_lower_case, "fragments")
    module = tf.Module()
    module.tokenizer = _pair(full)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize_fn(batch):
        return module.tokenizer.tokenize(batch)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(batch):
        ids = module.tokenizer.tokenize(batch)
        return {"input_ids": ids.flat_values, "row_splits": ids.row_splits}

    module.tokenize_fn = tokenize_fn
    export_dir = str(tmp_path / "saved_model")
    tf.saved_model.save(module, export_dir, signatures={"serving_default": serve})
    assert (tmp_path / "saved_model" / "assets" / os.path.basename(full.vocab_file)).exists()
    # A fresh interpreter, run outside the repository so that bert_tf cannot even be imported.
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_FRESH_PROCESS, export_dir],
        input=json.dumps([t.hex() for t in texts]), capture_output=True, text=True,
        cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == _reference_ids(full, texts)

