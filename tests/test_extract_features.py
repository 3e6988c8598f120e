import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

import extract_features
from bert_tf.errors import InputError
from tests.conftest import TINY, TINY_VOCAB, random_original_weights, run_main, write_vocab
from tests.reference import numpy_bert
from tests.reference.tf1_checkpoint import write_tf1_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model_files(tmp_path, directory="uncased_L-2_H-32_A-4"):
    weights = random_original_weights(seed=21)
    ckpt_dir = tmp_path / directory
    ckpt_dir.mkdir()
    prefix = write_tf1_checkpoint(weights, str(ckpt_dir / "bert_model.ckpt"))
    (ckpt_dir / "bert_config.json").write_text(json.dumps(TINY))
    vocab = write_vocab(ckpt_dir / "vocab.txt")
    return dict(bert_config_file=str(ckpt_dir / "bert_config.json"), vocab_file=vocab,
                init_checkpoint=prefix), weights


@pytest.fixture
def model_files(tmp_path):
    return _model_files(tmp_path)


def _ids(tokens):
    return [TINY_VOCAB.index(t) for t in tokens]


def test_end_to_end_matches_original_format_and_reference(tmp_path, model_files):
    files, weights = model_files
    (tmp_path / "input.txt").write_text(
        "Hello, world!\nthe cat ||| the dog sat\nthe cat sat on a mat the dog sat\n")
    output = tmp_path / "out.jsonl"
    run_main(extract_features.main, input_file=str(tmp_path / "input.txt"),
             output_file=str(output), layers="-1,-2", max_seq_length=8, batch_size=2,
             **files)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["linex_index"] for line in lines] == [0, 1, 2]
    assert list(lines[0]) == ["linex_index", "features"]
    # Tokens worked out by hand from the vocabulary; the third line is cut to 8 - 2 tokens.
    expected_tokens = [
        ["[CLS]", "hello", ",", "world", "!", "[SEP]"],
        ["[CLS]", "the", "cat", "[SEP]", "the", "dog", "sat", "[SEP]"],
        ["[CLS]", "the", "cat", "sat", "on", "a", "mat", "[SEP]"]]
    segments = [[0] * 6, [0, 0, 0, 0, 1, 1, 1, 1], [0] * 8]
    for line, tokens, segment in zip(lines, expected_tokens, segments):
        assert [f["token"] for f in line["features"]] == tokens
        assert [layer["index"] for layer in line["features"][0]["layers"]] == [-1, -2]
        ids = np.array([_ids(tokens) + [0] * (8 - len(tokens))])
        mask = np.array([[1] * len(tokens) + [0] * (8 - len(tokens))])
        seg = np.array([segment + [0] * (8 - len(segment))])
        ref = numpy_bert.bert_forward(weights, ids, mask, seg, TINY["num_attention_heads"],
                                      TINY["num_hidden_layers"])
        for position, feature in enumerate(line["features"]):
            for layer in feature["layers"]:
                values = np.array(layer["values"])
                assert len(values) == TINY["hidden_size"]
                np.testing.assert_allclose(
                    values, ref["all_encoder_layers"][layer["index"]][0, position], atol=2e-5)
                assert all(round(v, 6) == v for v in layer["values"])
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def test_bad_flags_are_clear_errors(tmp_path, model_files):
    files, _ = model_files
    (tmp_path / "input.txt").write_text("hello\n")
    common = dict(input_file=str(tmp_path / "input.txt"), output_file=str(tmp_path / "o"),
                  **files)
    # Explicit: another runner imported in the same process may change the default.
    with pytest.raises(flags.ValidationError, match=r"--max_seq_length=64 is longer than "
                                                    r"the model's max_position_embeddings \(11"):
        run_main(extract_features.main, max_seq_length=64, **common)
    with pytest.raises(InputError, match=r"--layers='-3': \[-3\] out of range for a model "
                                         r"with 2 layers"):
        run_main(extract_features.main, layers="-3", max_seq_length=8, **common)
    assert not (tmp_path / "o").exists()


def test_empty_input_and_missing_output_directory_are_named_before_any_output(
        tmp_path, model_files):
    # An empty input file made a 0-byte output before.
    files, _ = model_files
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.txt: the file is empty; expected one "
                                         r"sentence, or `sentence A \|\|\| sentence B`"):
        run_main(extract_features.main, input_file=str(tmp_path / "empty.txt"),
                 output_file=str(tmp_path / "o.jsonl"), max_seq_length=8, **files)
    (tmp_path / "input.txt").write_text("hello\n")
    with pytest.raises(flags.ValidationError, match=r"--output_file=.*/no/o.jsonl: the "
                                                    r"directory .*/no does not exist"):
        run_main(extract_features.main, input_file=str(tmp_path / "input.txt"),
                 output_file=str(tmp_path / "no" / "o.jsonl"), max_seq_length=8, **files)
    assert not [f for f in os.listdir(tmp_path) if f.startswith("o")]


def test_command_line_user_error_is_one_line(tmp_path):
    # A released cased model's directory name with the default --do_lower_case=True: the
    # original refuses this combination, and so do we.
    files, _ = _model_files(tmp_path, "cased_L-12_H-768_A-12")
    (tmp_path / "input.txt").write_text("hello\n")
    result = subprocess.run(
        [sys.executable, "extract_features.py", f"--input_file={tmp_path / 'input.txt'}",
         f"--output_file={tmp_path / 'out.jsonl'}"] + [f"--{k}={v}" for k, v in files.items()],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "extract_features.py: error:" in result.stderr
    assert "do_lower_case" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
