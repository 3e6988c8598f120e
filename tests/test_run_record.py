"""run_record: what a training run saves in output_dir, and the refusal to mix two runs."""

import pytest

from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.run_record import RUN_CONFIG, load_run_record, save_run_record
from tests.conftest import TINY, TINY_VOCAB, write_vocab


def test_save_and_load(tmp_path):
    vocab = write_vocab(tmp_path / "vocab_src.txt", TINY_VOCAB)
    out = tmp_path / "out"
    settings = {"labels": ["0", "1"], "max_seq_length": 7, "do_lower_case": True}
    save_run_record(str(out), BertConfig(**TINY), str(vocab), settings, {"seed": 3})
    record = load_run_record(str(out))
    assert record.settings == settings and record.flags == {"seed": 3}
    assert BertConfig.from_json_file(record.bert_config_file).to_dict() == \
        BertConfig(**TINY).to_dict()
    assert open(record.vocab_file, encoding="utf-8").read() == \
        open(vocab, encoding="utf-8").read()
    assert load_run_record(str(tmp_path / "empty")) is None


def test_other_settings_are_refused_naming_what_differs(tmp_path):
    vocab = write_vocab(tmp_path / "vocab_src.txt", TINY_VOCAB)
    settings = {"labels": ["0", "1"], "max_seq_length": 7}
    save_run_record(str(tmp_path), BertConfig(**TINY), str(vocab), settings, {})
    before = (tmp_path / RUN_CONFIG).read_text()
    with pytest.raises(InputError, match=r"max_seq_length: saved \[7\], now \[9\]"):
        save_run_record(str(tmp_path), BertConfig(**TINY), str(vocab),
                        dict(settings, max_seq_length=9), {})
    assert (tmp_path / RUN_CONFIG).read_text() == before


def test_unreadable_record_is_named(tmp_path):
    (tmp_path / RUN_CONFIG).write_text("{not json")
    with pytest.raises(InputError, match=f"{RUN_CONFIG}: not valid JSON"):
        load_run_record(str(tmp_path))
