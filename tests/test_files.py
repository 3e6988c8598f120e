"""bert_tf.files: atomic writers, and the cleanup of the temporaries a killed writer left."""

import os

import pytest
from absl import logging

from bert_tf.files import atomic_open, atomic_path, remove_stale_temps, temp_path


def _names(directory):
    return sorted(os.listdir(directory))


def test_atomic_open_and_path_write_in_place_and_leave_nothing_on_error(tmp_path):
    with atomic_open(tmp_path / "a.txt") as f:
        f.write("one\n")
    with atomic_path(tmp_path / "b.bin") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "wb") as f:
            f.write(b"\0" * 10)
    with pytest.raises(RuntimeError), atomic_open(tmp_path / "a.txt") as f:
        f.write("half")
        raise RuntimeError
    assert _names(tmp_path) == ["a.txt", "b.bin"]
    assert (tmp_path / "a.txt").read_text() == "one\n"


def test_an_error_names_the_target_never_the_temporary(tmp_path):
    # Was: "No such file or directory: '.../no/out.jsonl.tmp-4242-9f3a1c2b'".
    target = tmp_path / "no" / "out.jsonl"
    with pytest.raises(FileNotFoundError) as e, atomic_open(target) as f:
        f.write("x")
    assert e.value.filename == str(target) and ".tmp-" not in str(e.value)
    with pytest.raises(OSError) as e, atomic_path(tmp_path / "full.bin"):
        raise OSError(28, "No space left on device")  # as a write to a full disk
    assert e.value.errno == 28 and e.value.filename == str(tmp_path / "full.bin")


def test_removes_dead_writers_temps_files_and_directories_and_logs_bytes(
        tmp_path, dead_pid, live_pid, caplog):
    dead = f"tmp-{dead_pid}-0a1b2c3d"
    (tmp_path / f"train.tf_record.{dead}").write_bytes(b"x" * 1000)
    (tmp_path / f"model.ckpt-16.{dead}.index").write_bytes(b"x" * 10)
    (tmp_path / f"model.ckpt-16.{dead}.data-00000-of-00001.tempstate123").write_bytes(b"x" * 5)
    export = tmp_path / f".export.{dead}"
    (export / "variables").mkdir(parents=True)
    (export / "variables" / "variables.index").write_bytes(b"x" * 100)
    (tmp_path / f".export.{dead}.old").mkdir()
    # Kept: a live writer's temp, our own temp in progress, and files that are no temps.
    (tmp_path / f"eval_results.txt.tmp-{live_pid}-00ff").write_text("being written")
    kept = ["eval_results.txt", "model.ckpt-16.index", "notes.tmp", "train.tf_record",
            f"eval_results.txt.tmp-{live_pid}-00ff"]
    for name in kept[:4]:
        (tmp_path / name).write_text("keep")
    logging.set_verbosity(logging.INFO)
    with temp_path(tmp_path / "test_results.tsv") as own, caplog.at_level("INFO"):
        open(own, "w").close()
        removed = remove_stale_temps(tmp_path)
        assert os.path.exists(own)
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [f".export.{dead}", f".export.{dead}.old", f"model.ckpt-16.{dead}.index",
         f"model.ckpt-16.{dead}.data-00000-of-00001.tempstate123",
         f"train.tf_record.{dead}"])
    assert _names(tmp_path) == sorted(kept + [os.path.basename(own)])
    assert "5 stale temporaries" in caplog.text and "1115 bytes freed" in caplog.text


def test_own_pid_temps_of_an_earlier_process_are_stale(tmp_path):
    # A restarted container's runner often gets the same pid as the killed one.
    stale = tmp_path / f"checkpoint.tmp-{os.getpid()}-deadbeef"
    stale.write_text("left by the killed run")
    assert remove_stale_temps(tmp_path) == [str(stale)]


def test_a_writer_removes_only_its_own_targets_temps(tmp_path, dead_pid):
    (tmp_path / f"dev.tf_record.tmp-{dead_pid}-01").write_text("half")
    (tmp_path / f"train.tf_record.tmp-{dead_pid}-02").write_text("half")
    with atomic_path(tmp_path / "dev.tf_record") as tmp:
        open(tmp, "w").close()
    assert _names(tmp_path) == ["dev.tf_record", f"train.tf_record.tmp-{dead_pid}-02"]
    with atomic_open(tmp_path / "train.tf_record") as f:
        f.write("")
    assert _names(tmp_path) == ["dev.tf_record", "train.tf_record"]


def test_missing_directory_holds_nothing(tmp_path):
    assert remove_stale_temps(tmp_path / "absent") == []
