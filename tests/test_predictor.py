"""Predictors and `python -m bert_tf.predict` on trained toy models: on the same texts they
give what the runners' --do_predict writes (test_results.tsv, test_predictions.txt,
predictions.json), and raw-text details (word offsets, entity spans, answer offsets, empty
and over-long texts, pairs) are defined."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import run_classifier
import run_ner
from bert_tf import predict as predict_command
from bert_tf.errors import InputError
from bert_tf.predictor import (ClassifierPredictor, NerPredictor, SquadPredictor,
                               answer_offsets, load_predictor, split_words)
from tests.conftest import run_main
from tests.runner_fixtures import NER_LABELS, write_tiny_bert, write_toy_ner, write_toy_task

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = dict(max_seq_length=16, train_batch_size=8, learning_rate=2e-3,
             save_checkpoints_steps=100, log_every_n_steps=20)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A trained toy classifier, and its --do_predict on dev.tsv (as the test file)."""
    tmp = tmp_path_factory.mktemp("classifier")
    model = write_tiny_bert(tmp / "bert")
    data_dir = write_toy_task(tmp / "data", n_train=32)
    out = tmp / "out"
    run_main(run_classifier.main, task_name="custom", text_a_column="sentence",
             label_column="label", data_dir=data_dir, output_dir=str(out), do_train=True,
             num_train_epochs=3.0, export_dir=str(tmp / "export"), **model, **SMALL)
    dev = os.path.join(data_dir, "dev.tsv")
    run_main(run_classifier.main, output_dir=str(out), do_predict=True, test_file=dev,
             predict_batch_size=7)
    sentences = [line.split("\t")[0] for line in open(dev).read().splitlines()[1:]]
    expected = np.array([[float(x) for x in line.split("\t")]
                         for line in open(out / "test_results.tsv").read().splitlines()])
    return out, sentences, expected


def test_classifier_equals_the_runners_do_predict(classifier):
    out, sentences, expected = classifier
    predictor = load_predictor(out, batch_size=5)  # batches unlike the runner's 7
    assert isinstance(predictor, ClassifierPredictor) and predictor.labels == ["neg", "pos"]
    answers = predictor.predict_batch(sentences)
    probabilities = np.array([[a["probabilities"][k] for k in ("neg", "pos")]
                              for a in answers])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert [a["label"] for a in answers] == [["neg", "pos"][i] for i in expected.argmax(1)]
    one = predictor.predict(sentences[3])
    assert one["label"] == answers[3]["label"]
    assert one["probabilities"] == pytest.approx(answers[3]["probabilities"], abs=1e-6)


def test_classifier_edge_texts(classifier):
    out, sentences, _ = classifier
    predictor = load_predictor(out)
    # "" and None text_b are both one text, as the original treats an empty text_b.
    single = predictor.predict(sentences[0])
    for text_b in ("", None):
        assert predictor.predict(sentences[0], text_b)["probabilities"] == pytest.approx(
            single["probabilities"], abs=1e-6)
    # A pair is a different input; an empty text and a text far past max_seq_length word
    # pieces (cut as in training) still get a distribution.
    paired = predictor.predict(sentences[0], sentences[1])
    assert paired["probabilities"] != pytest.approx(single["probabilities"], abs=1e-6)
    long_text = " ".join([sentences[0]] * 20)
    for answer in predictor.predict_batch(["", long_text, sentences[1]]):
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    # The over-long text is its first 14 pieces: the same as the text cut there.
    pieces = predictor.tokenizer.tokenize(long_text)[:14]
    assert len(predictor.tokenizer.tokenize(long_text)) > 14
    cut = predictor.predict(" ".join(pieces))
    assert predictor.predict(long_text)["probabilities"] == pytest.approx(
        cut["probabilities"], abs=1e-5)


def test_split_words_cuts_as_the_basic_tokenizer_and_keeps_offsets():
    text = "Apple's  iPhone,北京\tcosts $5."
    spans = split_words(text)
    assert [text[s:e] for s, e in spans] == [
        "Apple", "'", "s", "iPhone", ",", "北", "京", "costs", "$", "5", "."]
    assert split_words("") == [] and split_words(" \t ") == []


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ner")
    model = write_tiny_bert(tmp / "bert")
    data_dir = write_toy_ner(tmp / "data", n_train=48, n_dev=12, long_every=4)
    out = tmp / "out"
    run_main(run_ner.main, data_dir=data_dir, output_dir=str(out), do_train=True,
             labels=NER_LABELS, doc_stride=6, num_train_epochs=12.0,
             export_dir=str(tmp / "export"), **model, **SMALL)
    run_main(run_ner.main, output_dir=str(out), do_predict=True,
             test_file=os.path.join(data_dir, "dev.txt"), doc_stride=6)
    sentences, current = [], []
    for line in open(out / "test_predictions.txt", encoding="utf-8").read().split("\n"):
        if line.strip():
            current.append(line.split(" "))
        elif current:
            sentences.append(current)
            current = []
    return out, sentences


def test_ner_equals_the_runners_do_predict_with_offsets(ner):
    out, sentences = ner
    predictor = load_predictor(out, batch_size=3)
    assert isinstance(predictor, NerPredictor) and predictor.doc_stride == 6
    texts = ["  ".join(row[0] for row in sentence) for sentence in sentences]
    answers = predictor.predict_batch(texts)
    assert any(len(s) > 14 for s in sentences)  # windows were needed
    found = 0
    for text, sentence, answer in zip(texts, sentences, answers):
        assert [w["text"] for w in answer["words"]] == [row[0] for row in sentence]
        assert [w["label"] for w in answer["words"]] == [row[2] for row in sentence]
        for word in answer["words"]:
            assert text[word["start"]:word["end"]] == word["text"]
        for entity in answer["entities"]:
            assert text[entity["start"]:entity["end"]] == entity["text"]
            found += 1
    assert found > 0
    assert predictor.predict("") == {"words": [], "entities": []}


@pytest.fixture(scope="module")
def squad_model(toy_squad_v2):
    out, _, dev = toy_squad_v2
    return out, dev


def test_squad_equals_the_runners_do_predict_with_offsets(squad_model):
    out, dev = squad_model
    predictor = load_predictor(out, batch_size=4)
    assert isinstance(predictor, SquadPredictor)
    assert predictor.options.version_2_with_negative and predictor.options.doc_stride == 4
    assert predictor.options.n_best_size == 5 and predictor.options.max_answer_length == 3
    expected = json.loads((out / "predictions.json").read_text())
    questions = [(qa["id"], qa["question"], paragraph["context"])
                 for article in json.loads(open(dev).read())["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    answers = predictor.predict_batch([q for _, q, _ in questions],
                                      [c for _, _, c in questions])
    assert [a["answer"] for a in answers] == [expected[i] for i, _, _ in questions]
    assert any(a["answer"] for a in answers) and any(not a["answer"] for a in answers)
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    for (qid, _, context), answer in zip(questions, answers):
        if answer["answer"]:
            assert context[answer["start"]:answer["end"]] == answer["answer"]
        else:
            assert (answer["start"], answer["end"]) == (-1, -1)
        # score: the answer's start_logit + end_logit (the null score for ""), as the
        # runner's n-best entry of that text; probability: that entry's.
        entry = next(e for e in nbest[qid] if e["text"] == answer["answer"])
        assert answer["score"] == pytest.approx(entry["start_logit"] + entry["end_logit"],
                                                abs=1e-4)
        assert answer["probability"] == pytest.approx(entry["probability"], abs=1e-4)


def test_answer_offsets_allow_any_whitespace_between_words():
    assert answer_offsets("the  red\tcat sat", "red cat") == (5, 12)
    assert answer_offsets("abc", "") == (-1, -1)


def test_load_predictor_errors_name_the_directory(tmp_path, classifier):
    with pytest.raises(InputError, match=f"{tmp_path} holds no run_config.json"):
        load_predictor(tmp_path)
    out, _, _ = classifier
    with pytest.raises(InputError, match="holds no model.ckpt-N"):
        empty = tmp_path / "copy"
        empty.mkdir()
        for name in ("run_config.json", "bert_config.json", "vocab.txt"):
            (empty / name).write_bytes((out / name).read_bytes())
        load_predictor(empty)


def _command(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "bert_tf.predict", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})


def test_command_reads_txt_from_stdin_and_jsonl_tsv_files(classifier, tmp_path):
    out, sentences, expected = classifier
    result = _command(f"--output_dir={out}", stdin="\n".join(sentences[:4]) + "\n")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    np.testing.assert_allclose([[a["probabilities"]["neg"], a["probabilities"]["pos"]]
                                for a in lines], expected[:4], atol=1e-5)
    # JSONL with the file's own field name; TSV likewise; same answers, atomic output file.
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence": s}) + "\n" for s in sentences[:4]))
    tsv = tmp_path / "in.tsv"
    tsv.write_text("sentence\n" + "".join(s + "\n" for s in sentences[:4]))
    for path in (jsonl, tsv):
        target = tmp_path / f"{path.name}.out.jsonl"
        result = _command(f"--output_dir={out}", f"--input_file={path}",
                          "--columns=text_a=sentence", f"--output_file={target}")
        assert result.returncode == 0, result.stderr[-2000:]
        assert [json.loads(line) for line in target.read_text().splitlines()] == lines


def test_command_errors_are_one_line(classifier, tmp_path):
    out, _, _ = classifier
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\nhello\n")
    for args, message in (
            ([f"--output_dir={tmp_path}"], "holds no run_config.json"),
            ([f"--output_dir={out}", f"--input_file={bad}"], "bad.tsv:1: no column text_a"),
            ([f"--output_dir={out}", "--columns=question=q"], "question is not an input"),
            ([f"--output_dir={out}", "--columns=text_a"], "is not input=column")):
        result = _command(*args, stdin="x\n")
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert result.stderr.strip().splitlines()[-1].startswith("error: "), result.stderr
        assert message in result.stderr.strip().splitlines()[-1], result.stderr


def test_read_inputs_txt_pairs_and_empty_lines():
    records = predict_command.read_inputs(["a ||| b\n", "\n", "c\n"], "txt",
                                          ("text_a", "text_b"), 1, {}, "x.txt")
    assert records == [["a", "b"], ["", None], ["c", None]]
    with pytest.raises(InputError, match=r"x.txt:1: expected question \|\|\| context"):
        predict_command.read_inputs(["only a question\n"], "txt", ("question", "context"), 2,
                                    {}, "x.txt")


# The `text` signature, run by plain TensorFlow in a fresh process outside the repository:
# neither bert_tf nor tensorflow_text may be imported there.
_SERVE = """
import json, sys, tensorflow as tf
signature = tf.saved_model.load(sys.argv[1]).signatures["text"]
inputs = json.loads(open(sys.argv[2], encoding="utf-8").read())
out = signature(**{k: tf.constant(v, tf.string) for k, v in inputs.items()})
assert not any(m.startswith(("bert_tf", "tensorflow_text")) for m in sys.modules), "imported"
decode = lambda x: x.decode("utf-8") if isinstance(x, bytes) else (
    [decode(y) for y in x] if isinstance(x, list) else x)
print("RESULT", json.dumps({k: decode(v.numpy().tolist()) for k, v in out.items()}))
"""


def _serve_text(export_dir, tmp_path, **inputs):
    (tmp_path / "inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", _SERVE, str(export_dir),
                             str(tmp_path / "inputs.json")], cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.split("RESULT ", 1)[1])


def test_classifier_text_signature_equals_predictor_and_do_predict(classifier, tmp_path):
    out, sentences, expected = classifier
    export = out.parent / "export"
    assert (export / "assets" / "vocab.txt").read_bytes() == (out / "vocab.txt").read_bytes()
    assert (export / "assets" / "labels.txt").read_text() == "neg\npos\n"
    long_text = " ".join([sentences[0]] * 20)
    # Mixed lengths in one batch, an empty text, an over-long text, pairs (an over-long
    # pair: both texts cut), and "" as text_b (one text).
    texts_a = sentences + ["", long_text, sentences[0], long_text, "x \u00e9t\u00e9 [CLS]"]
    texts_b = [""] * len(sentences) + ["", "", sentences[1], long_text, "hello  world !"]
    served = _serve_text(export, tmp_path, text_a=texts_a, text_b=texts_b)
    probabilities = np.array(served["probabilities"])
    np.testing.assert_allclose(probabilities[:len(sentences)], expected, atol=1e-5)
    answers = load_predictor(out).predict_batch(texts_a, texts_b)
    np.testing.assert_allclose(probabilities, [[a["probabilities"]["neg"],
                                                a["probabilities"]["pos"]] for a in answers],
                               atol=1e-5)
    assert served["label"] == [a["label"] for a in answers]


def test_ner_text_signature_equals_predictor_with_offsets(ner, tmp_path):
    out, sentences = ner
    export = out.parent / "export"
    assert (export / "assets" / "labels.txt").read_text().split() == NER_LABELS
    texts = ["  ".join(row[0] for row in sentence) for sentence in sentences]
    # Punctuation, CJK and accents are words of their own; an empty text has no words.
    texts += ["", "hello world, cat's 北京 caf\u00e9 !", "   "]
    served = _serve_text(export, tmp_path, text=texts)
    answers = load_predictor(out).predict_batch(texts)
    for row, (text, answer) in enumerate(zip(texts, answers)):
        n = len(answer["words"])
        words = served["words"][row]
        assert words[:n] == [w["text"] for w in answer["words"]], text
        assert all(w == "" for w in words[n:])
        assert served["word_start"][row][:n] == [w["start"] for w in answer["words"]]
        assert served["word_end"][row][:n] == [w["end"] for w in answer["words"]]
        assert served["labels"][row][:n] == [
            w["label"] for w in answer["words"]], text
        assert set(served["word_start"][row][n:]) <= {-1}
    # The runner's --do_predict labels, through the windows of the long sentences.
    for row, sentence in enumerate(sentences):
        assert served["labels"][row][:len(sentence)] == [
            r[2] for r in sentence]


def test_export_predictor_answers_as_the_output_dirs_predictor(classifier, ner):
    from bert_tf.predictor import ExportPredictor
    out, sentences, _ = classifier
    texts_b = [""] * 3 + [sentences[0]]
    exported = ExportPredictor(out.parent / "export", batch_size=3)
    assert exported.runner == "run_classifier" and exported.labels == ["neg", "pos"]
    ours, theirs = (exported.predict_batch(sentences[:4], texts_b),
                    load_predictor(out).predict_batch(sentences[:4], texts_b))
    assert [a["label"] for a in ours] == [a["label"] for a in theirs]
    for a, b in zip(ours, theirs):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    ner_out, sentences = ner
    texts = ["  ".join(row[0] for row in s) for s in sentences[:5]] + ["cat, hello world!"]
    assert ExportPredictor(ner_out.parent / "export").predict_batch(texts) == \
        load_predictor(ner_out).predict_batch(texts)


def test_command_reads_an_export_dir(classifier, tmp_path):
    out, sentences, _ = classifier
    stdin = "\n".join(sentences[:3]) + "\n"
    from_export = _command(f"--export_dir={out.parent / 'export'}", stdin=stdin)
    from_output = _command(f"--output_dir={out}", stdin=stdin)
    assert from_export.returncode == 0, from_export.stderr[-2000:]
    for a, b in zip(from_export.stdout.splitlines(), from_output.stdout.splitlines()):
        a, b = json.loads(a), json.loads(b)
        assert a["label"] == b["label"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
    result = _command(f"--export_dir={tmp_path}", stdin="x\n")
    assert result.returncode == 2 and "holds no SavedModel" in result.stderr
