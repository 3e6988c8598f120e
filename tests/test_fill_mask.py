"""Fill-mask and next-sentence scoring: the literal [MASK] reaches the model as the mask
token, probabilities equal transformers' TFBertForPreTraining on the same weights, batching
changes nothing, and the command writes one JSON line per text."""

import json

import numpy as np
import pytest
import tf_keras

import fill_mask
from bert_tf import tokenization
from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.fill_mask import MaskedLMPredictor, tokenize_keeping_masks
from bert_tf.pretraining_model import BertPretrainingModel
from bert_tf.weights.checkpoints import save_checkpoint
from tests.conftest import TINY, TINY_VOCAB, run_main, write_vocab
from tests.reference.hf_layout import (HF_TINY, random_hf_pretraining_state,
                                       transformers_model, write_hf_dir)

TEXTS = ["the cat [MASK] on a mat .", "[MASK] world !", "hello [MASK] [MASK] dog"]
PAIRS = [None, "the dog sat .", None]


@pytest.fixture
def hf_dir(tmp_path):
    directory = write_hf_dir(str(tmp_path / "hf"), dict(HF_TINY,
                                                       architectures=["BertForPreTraining"]),
                             random_hf_pretraining_state(HF_TINY, seed=11))
    write_vocab(tmp_path / "hf" / "vocab.txt")
    return directory


def test_the_literal_mask_is_the_mask_token(tmp_path):
    write_vocab(tmp_path / "vocab.txt", TINY_VOCAB + ["[", "]", "mask", "cl", "##s"])
    tokenizer = tokenization.FullTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=True)
    # The original FullTokenizer splits it like any bracketed text:
    assert tokenizer.tokenize("The [MASK] sat") == ["the", "[", "mask", "]", "sat"]
    assert tokenize_keeping_masks(tokenizer, "The [MASK] sat") == ["the", "[MASK]", "sat"]
    # Back to back, and other special tokens stay text, as in the original.
    assert tokenize_keeping_masks(tokenizer, "[MASK][MASK]the[CLS]") == [
        "[MASK]", "[MASK]", "the", "[", "cl", "##s", "]"]


def test_probabilities_equal_transformers_tf_bert_for_pretraining(hf_dir):
    predictor = MaskedLMPredictor.from_files(None, None, hf_dir, max_seq_length=11)
    predictions = predictor.predict(TEXTS, PAIRS, top_k=3, batch_size=2)
    theirs, info = transformers_model(hf_dir, "TFBertForPreTraining")
    assert not any(info.values()), info
    vocab = predictor.tokenizer.vocab
    for prediction, pair in zip(predictions, PAIRS):
        ids = [vocab[t] for t in prediction.tokens]
        segments = [0] * len(ids)
        if pair is not None:
            first_sep = prediction.tokens.index("[SEP]")
            segments = [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        out = theirs(input_ids=np.array([ids]), token_type_ids=np.array([segments]),
                     training=False)
        logits = out.prediction_logits.numpy()[0].astype(np.float64)           # [S, V]
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        positions = [i for i, t in enumerate(prediction.tokens) if t == "[MASK]"]
        assert len(prediction.masks) == len(positions)
        for fillers, position in zip(prediction.masks, positions):
            best = np.argsort(-probabilities[position])[:3]
            assert [t for t, _ in fillers] == [predictor.tokenizer.inv_vocab[i] for i in best]
            np.testing.assert_allclose([p for _, p in fillers], probabilities[position][best],
                                       atol=1e-5)
        if pair is None:
            assert prediction.is_next_probability is None
        else:
            nsp = out.seq_relationship_logits.numpy()[0].astype(np.float64)
            # transformers' label 0 = "B is a continuation of A", as the records' 0.
            np.testing.assert_allclose(prediction.is_next_probability,
                                       np.exp(nsp[0]) / np.exp(nsp).sum(), atol=1e-5)


def test_batching_and_padding_change_nothing(hf_dir):
    predictor = MaskedLMPredictor.from_files(None, None, hf_dir, max_seq_length=11)
    together = predictor.predict(TEXTS, PAIRS, top_k=4, batch_size=3)
    alone = predictor.predict(TEXTS, PAIRS, top_k=4, batch_size=1)
    for a, b in zip(together, alone):
        assert a.tokens == b.tokens and [[t for t, _ in m] for m in a.masks] == [
            [t for t, _ in m] for m in b.masks]
        np.testing.assert_allclose([p for m in a.masks for _, p in m],
                                   [p for m in b.masks for _, p in m], atol=1e-6)


def test_a_checkpoint_without_the_masked_lm_head_is_refused(tmp_path):
    from tests.runner_fixtures import write_tiny_bert  # an encoder-only checkpoint
    model = write_tiny_bert(tmp_path / "bert")
    with pytest.raises(InputError, match="has no masked-LM head .*fill-mask needs a "
                                         "pretraining checkpoint"):
        MaskedLMPredictor.from_files(model["bert_config_file"], model["vocab_file"],
                                     model["init_checkpoint"])


def test_a_text_longer_than_max_seq_length_is_one_clear_error(hf_dir):
    predictor = MaskedLMPredictor.from_files(None, None, hf_dir, max_seq_length=8)
    with pytest.raises(InputError, match=r"10 word-pieces with \[CLS\] and \[SEP\], more "
                                         r"than max_seq_length=8"):
        predictor.predict(["the cat sat on a mat . [MASK]"])


def test_the_command_reads_a_run_pretraining_output_dir(tmp_path):
    # A run_pretraining output_dir: its checkpoint, bert_config.json and vocab.txt.
    out = tmp_path / "pretrained"
    out.mkdir()
    config = BertConfig(**TINY)
    config.to_json_file(str(out / "bert_config.json"))
    write_vocab(out / "vocab.txt")
    tf_keras.utils.set_random_seed(3)
    save_checkpoint(BertPretrainingModel(config).build_with_dummy_inputs(),
                    str(out / "model.ckpt-5"), global_step=5)
    (tmp_path / "texts.txt").write_text("hello [MASK] !\nthe cat sat . ||| the [MASK] sat .\n")
    run_main(fill_mask.main, init_checkpoint=str(out), input_file=str(tmp_path / "texts.txt"),
             text=["[MASK] dog"], output_file=str(tmp_path / "out.jsonl"), top_k=2,
             max_seq_length=11)
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["text"] for line in lines] == ["[MASK] dog", "hello [MASK] !",
                                               "the cat sat ."]
    assert lines[2]["text_b"] == "the [MASK] sat ." and 0 < lines[2]["is_next_probability"] < 1
    assert lines[1]["tokens"] == ["[CLS]", "hello", "[MASK]", "!", "[SEP]"]
    assert all(len(line["masks"]) == 1 and len(line["masks"][0]) == 2 for line in lines)
    assert "is_next_probability" not in lines[0]
