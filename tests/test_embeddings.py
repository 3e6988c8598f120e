"""Sentence and word embeddings against transformers' TFBertModel on the same weights (the
pooling computed here in NumPy from its hidden states), similarity and top-k against NumPy,
`python -m bert_tf.embed` end to end, and its export in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import tokenization
from bert_tf.embeddings import Embedder, cosine_similarity, top_k
from bert_tf.errors import InputError
from tests.conftest import write_vocab
from tests.reference.hf_layout import HF_TINY, random_hf_state, transformers_model, write_hf_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Mixed lengths (padded batches), an empty text; the last two are cut at 11 pieces.
TEXTS = ["the cat sat", "hello world !", "a dog", "", "the cat sat on a mat , the dog sat",
         "unwanted running dog . the cat sat on a mat and more words here"]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf")
    config = dict(HF_TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    write_hf_dir(str(directory), config, random_hf_state(config, seed=3))
    write_vocab(directory / "vocab.txt")
    return directory


@pytest.fixture(scope="module")
def reference(hf_dir):
    """transformers' hidden states of TEXTS, fed the ids our inputs hold."""
    model, _ = transformers_model(str(hf_dir))
    tokenizer = tokenization.FullTokenizer(str(hf_dir / "vocab.txt"))
    rows = [(["[CLS]"] + tokenizer.tokenize(t))[:10] + ["[SEP]"] for t in TEXTS]
    width = max(len(r) for r in rows)
    ids = np.array([tokenizer.convert_tokens_to_ids(r) + [0] * (width - len(r)) for r in rows])
    mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    out = model(input_ids=ids, attention_mask=mask, token_type_ids=np.zeros_like(ids),
                output_hidden_states=True, training=False)
    return rows, mask, [h.numpy() for h in out.hidden_states], out.pooler_output.numpy()


def _mean(layer, mask):
    return (layer * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)


@pytest.mark.parametrize("pooling,layers", [("mean", [-1]), ("mean", [-1, -2]), ("max", [-2]),
                                            ("cls", [-1]), ("pooled", [-1])])
def test_pooling_equals_transformers(hf_dir, reference, pooling, layers):
    rows, mask, hidden, pooler = reference
    embedder = Embedder.from_files(str(hf_dir), max_seq_length=11, pooling=pooling,
                                   layers=layers, normalize=True, batch_size=4)
    ours = embedder.embed(TEXTS)
    layer = np.mean([hidden[i] for i in layers], axis=0)       # hidden[-1] is the last block
    if pooling == "mean":
        expected = _mean(layer, mask)
    elif pooling == "max":
        expected = np.where(mask[..., None] > 0, layer, -np.inf).max(1)
    elif pooling == "cls":
        expected = layer[:, 0]
    else:
        expected = pooler
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert embedder.truncated == 2  # the last two texts: 12 and 17 pieces with [CLS]/[SEP]
    # Batches of another size pad differently; the vectors stay (padding never counts).
    other = Embedder.from_files(str(hf_dir), max_seq_length=11, pooling=pooling, layers=layers,
                                normalize=True, batch_size=1).embed(TEXTS)
    np.testing.assert_allclose(other, ours, atol=1e-5)


def test_word_vectors_are_the_mean_of_their_pieces(hf_dir):
    embedder = Embedder.from_files(str(hf_dir), max_seq_length=11)
    model, _ = transformers_model(str(hf_dir))
    tokenizer = embedder.tokenizer
    text = "unwanted cat!"
    words = embedder.word_vectors(text)
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        ("unwanted", 0, 8), ("cat", 9, 12), ("!", 12, 13)]
    pieces = ["[CLS]"] + tokenizer.tokenize(text) + ["[SEP]"]
    assert pieces == ["[CLS]", "un", "##want", "##ed", "cat", "!", "[SEP]"]
    ids = np.array([tokenizer.convert_tokens_to_ids(pieces)])
    hidden = model(input_ids=ids, attention_mask=np.ones_like(ids),
                   token_type_ids=np.zeros_like(ids), training=False).last_hidden_state[0]
    np.testing.assert_allclose(words[0]["vector"], hidden.numpy()[1:4].mean(0), atol=1e-5)
    np.testing.assert_allclose(words[1]["vector"], hidden.numpy()[4], atol=1e-5)
    # The same word in two contexts: two vectors.
    a = embedder.word_vectors("the cat sat")[1]["vector"]
    b = embedder.word_vectors("a dog , cat")[3]["vector"]
    assert not np.allclose(a, b, atol=1e-3)


def test_similarity_and_top_k_equal_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 8)), rng.standard_normal((6, 8))
    b[2] = 0.0
    expected = np.array([[x @ y / (np.linalg.norm(x) * max(np.linalg.norm(y), 1e-12))
                          for y in b] for x in a])
    np.testing.assert_allclose(cosine_similarity(a, b), expected, atol=1e-12)
    found = top_k(a, b, 3)
    for row, hits in zip(expected, found):
        assert [h["index"] for h in hits] == list(np.argsort(-row, kind="stable")[:3])
        np.testing.assert_allclose([h["score"] for h in hits], np.sort(row)[::-1][:3])


def test_bad_pooling_and_layers_are_one_clear_error(hf_dir):
    with pytest.raises(InputError, match="--pooling='sum': expected one of mean, max"):
        Embedder.from_files(str(hf_dir), pooling="sum")
    with pytest.raises(InputError, match="--pooling=pooled is the pooler's output"):
        Embedder.from_files(str(hf_dir), pooling="pooled", layers=[-2])
    with pytest.raises(InputError, match=r"--layers: \[5\] out of range"):
        Embedder.from_files(str(hf_dir), layers=[5])


def _command(*args):
    return subprocess.run([sys.executable, "-m", "bert_tf.embed", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})


def test_command_vectors_matrix_top_k_and_export(hf_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS[:5] + ["the cat ||| sat on a mat"]) + "\n")
    queries = tmp_path / "queries.txt"
    queries.write_text("the cat\na dog !\n")
    flags = [f"--init_checkpoint={hf_dir}", "--max_seq_length=11", "--normalize"]
    vectors_file, export = tmp_path / "v.npy", tmp_path / "export"
    result = _command(*flags, f"--input_file={corpus}", f"--output_file={vectors_file}",
                      f"--export_dir={export}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "embedded 6 lines (1 cut to --max_seq_length=11)" in result.stderr
    vectors = np.load(vectors_file)
    assert vectors.shape == (6, 32) and vectors.dtype == np.float32
    embedder = Embedder.from_files(str(hf_dir), max_seq_length=11, normalize=True)
    np.testing.assert_allclose(vectors[:5], embedder.embed(TEXTS[:5]), atol=1e-5)
    np.testing.assert_allclose(vectors[5], embedder.embed(["the cat"], ["sat on a mat"])[0],
                               atol=1e-5)
    matrix_file = tmp_path / "m.tsv"
    result = _command(*flags, f"--input_file={corpus}", f"--output_file={matrix_file}",
                      "--similarity")
    assert result.returncode == 0, result.stderr[-2000:]
    matrix = np.array([[float(x) for x in line.split("\t")]
                       for line in matrix_file.read_text().splitlines()])
    np.testing.assert_allclose(matrix, vectors @ vectors.T, atol=2e-6)
    hits_file = tmp_path / "hits.jsonl"
    result = _command(*flags, f"--input_file={corpus}", f"--output_file={hits_file}",
                      "--similarity", f"--query_file={queries}", "--top_k=2")
    assert result.returncode == 0, result.stderr[-2000:]
    hits = [json.loads(line) for line in hits_file.read_text().splitlines()]
    query_vectors = embedder.embed(["the cat", "a dog !"])
    for query, found in zip(query_vectors, hits):
        order = np.argsort(-(vectors @ query), kind="stable")[:2]
        assert [h["line"] for h in found["top_k"]] == [int(i) + 1 for i in order]
    # The export: ids and text signatures, plain TensorFlow in a fresh process.
    script = f"""
import json, numpy as np, tensorflow as tf
loaded = tf.saved_model.load({str(export)!r})
out = loaded.signatures["text"](text=tf.constant({TEXTS[:5]!r}))["embedding"].numpy()
print("RESULT", json.dumps(out.tolist()))
"""
    served = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert served.returncode == 0, served.stderr[-2000:]
    np.testing.assert_allclose(json.loads(served.stdout.split("RESULT ", 1)[1]), vectors[:5],
                               atol=1e-5)


def test_command_errors_are_one_line(hf_dir, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a\n")
    for args, message in (
            (["--pooling=sum"], "invalid choice: 'sum'"),
            ([f"--output_file={tmp_path / 'v.txt'}"], "expected a .npy or .jsonl file"),
            (["--layers=x"], "--layers='x': expected comma-separated integers"),
            (["--pooling=pooled", "--layers=-2"], "--pooling=pooled is the pooler's output")):
        base = [f"--init_checkpoint={hf_dir}", f"--input_file={corpus}",
                f"--output_file={tmp_path / 'v.npy'}"]
        result = _command(*base, *args)
        assert result.returncode == 2, (args, result.stderr[-1000:])
        assert message in result.stderr.strip().splitlines()[-1], result.stderr[-1000:]
