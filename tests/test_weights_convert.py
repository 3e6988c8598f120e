import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import tensorflow as tf

from bert_tf.weights import convert
from tests.reference.hf_layout import HF_TINY, random_hf_state, write_hf_dir
from tests.reference.tf1_checkpoint import write_tf1_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_hf_to_tf_to_hf_round_trip(tmp_path):
    state = random_hf_state(HF_TINY, seed=11)
    hf_dir = write_hf_dir(str(tmp_path / "hf"), HF_TINY, state)
    (tmp_path / "hf" / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n")
    out = io.StringIO()
    prefix = convert.hf_to_tf(hf_dir, str(tmp_path / "tf"), out=out)
    printed = out.getvalue()
    assert re.search(r"^bert\.encoder\.layer\.0\.attention\.self\.query\.weight +->  "
                     r"bert/encoder/layer_0/attention/self/query/kernel  \[32, 32\]$",
                     printed, re.M)
    assert f"{len(state)} tensors mapped" in printed
    config = json.loads((tmp_path / "tf" / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_exact" and config["vocab_size"] == 99
    assert (tmp_path / "tf" / "vocab.txt").read_text() == "[PAD]\n[UNK]\nhello\n"
    reader = tf.train.load_checkpoint(prefix)
    np.testing.assert_array_equal(reader.get_tensor("bert/encoder/layer_1/output/dense/kernel"),
                                  state["bert.encoder.layer.1.output.dense.weight"].T)

    convert.tf_to_hf(str(tmp_path / "tf" / "bert_config.json"), prefix, str(tmp_path / "hf2"),
                     vocab_file=str(tmp_path / "tf" / "vocab.txt"), do_lower_case=True,
                     out=io.StringIO())
    from safetensors.numpy import load_file
    back = load_file(str(tmp_path / "hf2" / "model.safetensors"))
    # BertModel layout: no "bert." prefix; same values.
    assert set(back) == {k[len("bert."):] for k in state}
    for name, value in state.items():
        np.testing.assert_array_equal(back[name[len("bert."):]], value)
    hf_config = json.loads((tmp_path / "hf2" / "config.json").read_text())
    assert hf_config["hidden_act"] == "gelu"
    assert json.loads((tmp_path / "hf2" / "tokenizer_config.json").read_text())[
        "do_lower_case"] is True


def test_tf_to_hf_leaves_out_optimizer_state(tmp_path):
    from tests.conftest import TINY, random_original_weights
    weights = random_original_weights()
    weights.update({k + "/adam_m": v for k, v in list(weights.items())})
    prefix = write_tf1_checkpoint(weights, str(tmp_path / "model.ckpt"), global_step=5)
    (tmp_path / "bert_config.json").write_text(json.dumps(TINY))
    out = io.StringIO()
    convert.tf_to_hf(str(tmp_path / "bert_config.json"), prefix, str(tmp_path / "hf"), out=out)
    assert "optimizer entries (adam_m/adam_v/global_step) left out" in out.getvalue()


def test_command_line_reports_errors_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bert_tf.convert", "hf-to-tf", "--hf_dir", str(tmp_path),
         "--output_dir", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2
    assert f"error: {tmp_path}: no config.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_converted_model_without_vocabulary_is_warned_about(tmp_path, capsys):
    # Was silent: the output directory then had no vocab.txt and no runner could use it.
    hf_dir = write_hf_dir(str(tmp_path / "hf"), HF_TINY, random_hf_state(HF_TINY, seed=3))
    prefix = convert.hf_to_tf(hf_dir, str(tmp_path / "tf"), out=io.StringIO())
    warning = capsys.readouterr().err.strip()
    assert warning == (f"warning: {hf_dir} has no vocab.txt, so {tmp_path / 'tf'} has none: "
                       "copy the model's vocab.txt there before fine-tuning (every runner "
                       "needs --vocab_file)")
    convert.tf_to_hf(str(tmp_path / "tf" / "bert_config.json"), prefix, str(tmp_path / "hf2"),
                     out=io.StringIO())
    assert capsys.readouterr().err.startswith(f"warning: no --vocab_file: {tmp_path / 'hf2'} "
                                              "has no vocab.txt")
    assert not (tmp_path / "hf2" / "vocab.txt").exists()
