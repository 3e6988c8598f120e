import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import run_squad
from bert_tf.errors import InputError
from tests.conftest import run_main
from tests.runner_fixtures import write_tiny_bert, write_toy_squad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY = dict(max_seq_length=16, doc_stride=4, max_query_length=4, train_batch_size=8,
           predict_batch_size=5, learning_rate=3e-3, num_train_epochs=30.0,
           save_checkpoints_steps=1000, log_every_n_steps=50, n_best_size=5,
           max_answer_length=3)


def _windows_per_question(record_file, squad_file, vocab_file, seq_length):
    """Which question each feature of a cached predict.tf_record belongs to, and which context
    word sits at each of its document positions: {qas_id: [(row, {position: word index})]}.

    Found from the tokens alone, without the library's feature objects: every toy context
    word is one vocabulary entry (one piece), so a feature's document pieces (segment 1,
    the final [SEP] left out) are a run of its own context's words, and of no other's.
    """
    vocab = {token: i for i, token in enumerate(open(vocab_file).read().splitlines())}
    questions = [(qa["id"], paragraph["context"].split(" "))
                 for article in json.loads(open(squad_file).read())["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    contexts = [[vocab[word] for word in words] for _, words in questions]
    spec = {k: tf.io.FixedLenFeature([seq_length], tf.int64)
            for k in ("input_ids", "input_mask", "segment_ids")}
    windows = {qas_id: [] for qas_id, _ in questions}
    for row, record in enumerate(tf.data.TFRecordDataset(str(record_file))):
        f = {k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()}
        positions = np.flatnonzero((f["segment_ids"] == 1) & (f["input_mask"] == 1))[:-1]
        pieces = f["input_ids"][positions].tolist()
        found = [(q, offset) for q, context in enumerate(contexts)
                 for offset in range(len(context) - len(pieces) + 1)
                 if context[offset:offset + len(pieces)] == pieces]
        assert len(found) == 1, f"feature {row}: its pieces are in {len(found)} contexts"
        q, offset = found[0]
        windows[questions[q][0]].append(
            (row, {int(p): offset + k for k, p in enumerate(positions)}))
    assert all(windows.values()), "a question without a feature"
    return windows, {qas_id: words for qas_id, words in questions}


def read_nbest(out):
    """(nbest_predictions.json, null_odds.json or None) of a run_squad output_dir."""
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    null_odds = (json.loads((out / "null_odds.json").read_text())
                 if (out / "null_odds.json").exists() else None)
    return nbest, null_odds


def check_nbest_logits(out, squad_file, start_logits, end_logits, atol, written=None):
    """The logits run_squad wrote for its predictions are the served ones: every n-best span's
    start_logit / end_logit are `start_logits` / `end_logits` (float [features, S], in the
    order of out/predict.tf_record) at that span's first and last word in one of its
    question's windows, within atol; SQuAD 2.0: the null entry holds the [CLS] logits of the
    window whose [CLS] sum is smallest, and null_odds.json that sum minus the best span's
    (four logits: within 4 * atol).

    Args:
        written: (nbest, null_odds) read earlier with `read_nbest`; default: out's files now.

    Returns:
        How many n-best entries were checked.
    """
    nbest, null_odds = written or read_nbest(out)
    start_logits = np.asarray(start_logits, np.float64)
    end_logits = np.asarray(end_logits, np.float64)
    windows, words = _windows_per_question(out / "predict.tf_record", squad_file,
                                           out / "vocab.txt", start_logits.shape[1])
    assert sorted(nbest) == sorted(windows)
    checked = 0
    for qas_id, entries in nbest.items():
        for entry in entries:
            where = f"{qas_id} n-best {entry['text']!r}"
            if entry["text"]:
                span = entry["text"].split(" ")
                # |served - written| of start and end, at every place the span's words are.
                gaps = [(abs(start_logits[row, p] - entry["start_logit"]),
                         abs(end_logits[row, p + len(span) - 1] - entry["end_logit"]))
                        for row, word_at in windows[qas_id] for p, w in word_at.items()
                        if p + len(span) - 1 in word_at and words[qas_id][w:w + len(span)] == span]
                assert gaps, f"{where}: these words are in none of its windows"
                nearest = min(gaps, key=max)
                assert max(nearest) <= atol, (
                    f"{where}: written start/end logits {entry['start_logit']:.6f}/"
                    f"{entry['end_logit']:.6f}, nearest served pair off by {nearest[0]:.3g}/"
                    f"{nearest[1]:.3g} (atol {atol})")
            elif null_odds is not None:
                rows = [row for row, _ in windows[qas_id]]
                cls = start_logits[rows, 0] + end_logits[rows, 0]
                row = rows[int(np.argmin(cls))]
                np.testing.assert_allclose(
                    [entry["start_logit"], entry["end_logit"]],
                    [start_logits[row, 0], end_logits[row, 0]], atol=atol,
                    err_msg=f"{where}: the null entry is not the served [CLS] logits")
                best = next((e for e in entries if e["text"]), None)
                best_score = best["start_logit"] + best["end_logit"] if best else 0.0
                np.testing.assert_allclose(
                    null_odds[qas_id], cls.min() - best_score, atol=4 * atol,
                    err_msg=f"{qas_id}: null_odds.json is not the served [CLS] score minus "
                            "the best span's")
            else:
                continue  # SQuAD 1.1's placeholder for "no valid span": no logits of a span
            checked += 1
    return checked


@pytest.mark.parametrize("version_2", [False, True])
def test_learns_the_toy_task_and_scores_it(tmp_path, version_2):
    model = write_tiny_bert(tmp_path / "bert")
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=40, version_2=version_2)
    dev = write_toy_squad(tmp_path / "dev.json", n_paragraphs=12, version_2=version_2, seed=1)
    out = tmp_path / "out"
    run_main(run_squad.main, train_file=train, predict_file=dev, output_dir=str(out),
             do_train=True, do_predict=True, do_eval=True,
             version_2_with_negative=version_2, **model, **TOY)
    predictions = json.loads((out / "predictions.json").read_text())
    nbest = json.loads((out / "nbest_predictions.json").read_text())
    assert sorted(predictions) == sorted(nbest) == sorted(f"q{i}" for i in range(12))
    for entries in nbest.values():
        assert {"text", "probability", "start_logit", "end_logit"} <= set(entries[0])
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0, abs=1e-4)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["exact"] > 75.0, results  # chance is far lower
    assert results["total"] == 12
    if version_2:
        assert (out / "null_odds.json").exists()
        assert {"HasAns_exact", "NoAns_exact", "best_f1", "best_f1_thresh"} <= set(results)
    else:
        assert not (out / "null_odds.json").exists()
    # Predictions agree with the gold answers they are scored against.
    gold = {qa["id"]: [a["text"] for a in qa["answers"]]
            for article in json.loads(open(dev).read())["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    exact = np.mean([predictions[q] in (g or [""]) for q, g in gold.items()]) * 100
    assert results["exact"] == pytest.approx(exact)


def test_long_contexts_many_windows_and_export(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    # SQuAD 2.0: the null score is the smallest [CLS] score over each question's windows.
    train = write_toy_squad(tmp_path / "train.json", n_paragraphs=8, context_words=30,
                            version_2=True)
    out, export = tmp_path / "out", tmp_path / "export"
    run_main(run_squad.main, train_file=train, predict_file=train, output_dir=str(out),
             do_train=True, do_predict=True, export_dir=str(export),
             version_2_with_negative=True, **model, **dict(TOY, num_train_epochs=1.0))
    assert len(json.loads((out / "predictions.json").read_text())) == 8
    # The features the runner cached, served by plain TensorFlow in a fresh process.
    script = f"""
import json, tensorflow as tf
spec = {{k: tf.io.FixedLenFeature([16], tf.int64) for k in
        ("input_ids", "input_mask", "segment_ids")}}
rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(
    {str(out / "predict.tf_record")!r})]
inputs = {{k: tf.cast(tf.stack([r[k] for r in rows]), tf.int32) for k in spec}}
out = tf.saved_model.load({str(export)!r}).signatures["serving_default"](**inputs)
print("RESULT", json.dumps([out["start_logits"].numpy().tolist(),
                            out["end_logits"].numpy().tolist()]))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    start_logits, end_logits = map(np.array, json.loads(result.stdout.split("RESULT ", 1)[1]))
    assert start_logits.shape == end_logits.shape and start_logits.shape[1] == 16
    assert start_logits.shape[0] > 8  # many windows
    # predictions.json came from the logits the export serves (float32 both: 1e-5).
    assert check_nbest_logits(out, train, start_logits, end_logits, atol=1e-5) >= 8 * 2


def test_bad_input_names_the_question(tmp_path):
    model = write_tiny_bert(tmp_path / "bert")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "a b c", "qas": [
        {"id": "q-broken", "question": "x ?",
         "answers": [{"text": "b", "answer_start": 99}]}]}]}]}))
    with pytest.raises(InputError, match="q-broken"):
        run_main(run_squad.main, train_file=str(bad), output_dir=str(tmp_path / "out"),
                 do_train=True, **model, **TOY)
    (tmp_path / "notsquad.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(InputError, match="notsquad.json"):
        run_main(run_squad.main, train_file=str(tmp_path / "notsquad.json"),
                 output_dir=str(tmp_path / "out2"), do_train=True, **model, **TOY)
    with pytest.raises(flags.ValidationError, match="predict_file"):
        run_main(run_squad.main, output_dir=str(tmp_path / "out3"), do_predict=True,
                 **model, **TOY)


@pytest.mark.slow  # ~90 s (make test-slow); the end-to-end tests above cover the same paths
def test_demo_flagfile_runs_and_learns(tmp_path):
    """`make demo-squad` runs configs/demo_squad.flags; here with outputs in a temp dir."""
    argv = [sys.executable, "run_squad.py", "--flagfile=configs/demo_squad.flags",
            f"--output_dir={tmp_path / 'demo'}", f"--export_dir={tmp_path / 'demo' / 'export'}"]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "demo" / "eval_results.json").read_text())
    assert results["exact"] > 90.0 and results["NoAns_total"] > 0
