"""The rule `--mixed_precision=auto` follows (measured by benchmarks/precision_auto.py)."""

import pytest
import tensorflow as tf

from bert_tf.training import distribute


@pytest.mark.parametrize("native,hidden_size,expected", [
    (True, 64, ""), (True, 127, ""), (True, 128, "bf16"), (True, 768, "bf16"),
    (True, None, "bf16"), (False, 768, "")])
def test_auto_on_a_cpu_picks_bf16_for_encoders_it_speeds_up(monkeypatch, native, hidden_size,
                                                            expected):
    monkeypatch.setattr(distribute, "_cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert distribute.resolve_mixed_precision("auto", hidden_size) == expected
    assert distribute.resolve_mixed_precision("fp16", hidden_size) == "fp16"  # as given


@pytest.mark.parametrize("capability,expected", [((8, 0), "bf16"), ((9, 0), "bf16"),
                                                 ((7, 5), "fp16"), ((6, 1), "")])
def test_auto_on_a_gpu_follows_its_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu0"])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"compute_capability": capability})
    assert distribute.resolve_mixed_precision("auto", hidden_size=64) == expected
