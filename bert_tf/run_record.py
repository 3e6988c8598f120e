"""What a training run saves in output_dir so evaluation, prediction and export need nothing
the user has to remember, and the guard that keeps a later command from damaging it.

    output_dir/bert_config.json   the encoder config used
    output_dir/vocab.txt          the vocabulary used
    output_dir/run_config.json    {"runner": "run_classifier", "bert_config": {...},
                                   "vocab_sha256": "...", "settings": task, labels (the label
                                   map, in output order), max_seq_length, do_lower_case...,
                                   "flags": every flag value of the training command}

A record protects its directory once a checkpoint exists: from then on a command whose
runner, config, vocabulary or settings differ is refused (`check_same_run`) before anything
is written. A record without a checkpoint (a run that failed before its first save) is simply
replaced by the next training run.
"""

import dataclasses
import glob
import json
import os
import shutil
from typing import Any, Dict, List, Optional

from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.files import atomic_path, file_digest, write_json

RUN_CONFIG = "run_config.json"
BERT_CONFIG = "bert_config.json"
VOCAB = "vocab.txt"


@dataclasses.dataclass
class RunRecord:
    """A training run's record. `runner`, `bert_config` and `vocab_sha256` are None in records
    written before they were saved; `check_same_run` then reads the saved copies."""

    output_dir: str
    settings: Dict[str, Any]
    flags: Dict[str, Any]
    runner: Optional[str] = None
    bert_config: Optional[Dict[str, Any]] = None
    vocab_sha256: Optional[str] = None

    @property
    def bert_config_file(self) -> str:
        return os.path.join(self.output_dir, BERT_CONFIG)

    @property
    def vocab_file(self) -> str:
        return os.path.join(self.output_dir, VOCAB)

    @property
    def trained_by(self) -> str:
        """The runner that wrote the record; for old records, told by its settings."""
        if self.runner:
            return self.runner
        if "task" in self.settings:
            return "run_classifier"
        return "run_ner" if "tagging_scheme" in self.settings else "run_squad"

    def has_checkpoint(self) -> bool:
        """Whether output_dir holds a checkpoint the record describes (then it is protected)."""
        return bool(glob.glob(os.path.join(glob.escape(self.output_dir), "model.ckpt-*.index")))


def load_run_record(output_dir: str) -> Optional[RunRecord]:
    """The record of a previous training run in output_dir, or None."""
    path = os.path.join(output_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        try:
            saved = json.load(f)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON ({e}); delete it or use a new "
                             "--output_dir") from None
    if not isinstance(saved, dict) or "settings" not in saved:
        raise InputError(f"{path}: not a run record of bert-tf (no 'settings'); use a new "
                         "--output_dir")
    return RunRecord(output_dir, saved["settings"], saved.get("flags", {}),
                     saved.get("runner"), saved.get("bert_config"), saved.get("vocab_sha256"))


def _changed(saved: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    return sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))


def run_differences(record: RunRecord, *, runner: Optional[str] = None,
                    config: Optional[BertConfig] = None, vocab_file: Optional[str] = None,
                    settings: Optional[Dict[str, Any]] = None) -> List[str]:
    """What differs between the recorded run and the one given (each part only when given),
    as "what: saved X, now Y" phrases; empty when they agree."""
    differences = []
    if runner is not None and runner != record.trained_by:
        differences.append(f"runner: trained by {record.trained_by}.py, now {runner}.py")
    if config is not None:
        saved = record.bert_config
        if saved is None and os.path.isfile(record.bert_config_file):
            saved = BertConfig.from_json_file(record.bert_config_file).to_dict()
        now = config.to_dict()
        if saved is not None:
            changed = _changed(saved, now)
            if changed:
                differences.append(
                    f"bert_config ({', '.join(changed)}): saved "
                    f"{[saved.get(k) for k in changed]}, now {[now.get(k) for k in changed]}")
    if vocab_file is not None:
        saved = record.vocab_sha256
        if saved is None and os.path.isfile(record.vocab_file):
            saved = file_digest(record.vocab_file)
        if saved is not None and saved != file_digest(vocab_file):
            differences.append(f"vocabulary: {vocab_file} is not the vocab.txt the model was "
                               "trained with (another sha256)")
    if settings is not None:
        changed = _changed(record.settings, settings)
        if changed:
            differences.append(
                f"settings ({', '.join(changed)}): saved "
                f"{[record.settings.get(k) for k in changed]}, now "
                f"{[settings.get(k) for k in changed]}")
    return differences


def check_same_run(record: Optional[RunRecord], **parts) -> None:
    """Refuses a command that would mix another run into a protected output_dir.

    Args:
        record: the directory's record (None: nothing to protect).
        **parts: runner, config, vocab_file, settings of the new command (see
            `run_differences`).

    Raises:
        InputError: the record has a checkpoint and a part differs; one line naming each
            difference. Nothing is written.
    """
    if record is None or not record.has_checkpoint():
        return
    differences = run_differences(record, **parts)
    if differences:
        raise InputError(f"--output_dir={record.output_dir} holds a trained model of another "
                         f"run ({'; '.join(differences)}); nothing was changed. Use a new "
                         "--output_dir, or the same files and settings to resume")


def save_run_record(output_dir: str, runner: str, config: BertConfig,
                    vocab_file: Optional[str], settings: Dict[str, Any],
                    flag_values: Dict[str, Any]) -> RunRecord:
    """Copies the config and vocabulary into output_dir and writes run_config.json, each
    atomically; a record without a checkpoint is replaced. `vocab_file` may be None
    (run_pretraining reads token ids and needs none): then no vocab.txt is copied.

    Raises:
        InputError: output_dir holds a checkpoint of another run (see `check_same_run`);
            nothing is written then.
    """
    check_same_run(load_run_record(output_dir), runner=runner, config=config,
                   vocab_file=vocab_file, settings=settings)
    os.makedirs(output_dir, exist_ok=True)
    record = RunRecord(output_dir, settings, flag_values, runner, config.to_dict(),
                       file_digest(vocab_file) if vocab_file else None)
    config.to_json_file(record.bert_config_file)
    if vocab_file and os.path.abspath(vocab_file) != os.path.abspath(record.vocab_file):
        with atomic_path(record.vocab_file) as tmp:
            shutil.copyfile(vocab_file, tmp)
    write_json(os.path.join(output_dir, RUN_CONFIG),
               {"runner": runner, "bert_config": record.bert_config,
                "vocab_sha256": record.vocab_sha256, "settings": settings,
                "flags": flag_values})
    return record
