"""Original (TF1, name-based) BERT checkpoints in and out of Keras models.

A model variable's checkpoint name is its Keras name without the `:0` suffix and without the
enclosing task model's scope (see `checkpoint_names`). Because the Keras names repeat the
original scopes, loading a released `bert_model.ckpt` needs no name map, and a saved
checkpoint reads in the original TF1 code, `tf.train.load_checkpoint` and our loader.

Fine-tuned checkpoints of the original also hold optimizer slots (`<name>/adam_m`,
`<name>/adam_v`) and `global_step`; these are recognised, restored into an optimizer when one
is given, and written only when asked.
"""

import dataclasses
import os
import re
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.errors import InputError
from bert_tf.files import atomic_open, temp_path
from bert_tf.modeling import BERT_SCOPE, BertModel
from bert_tf.optimization import SLOT_NAMES
from bert_tf.variable_names import checkpoint_name

GLOBAL_STEP = "global_step"
_SLOT_RE = re.compile(r"^(.*)/(adam_m|adam_v)$")
_LAYER_RE = re.compile(r"^bert/encoder/layer_(\d+)/")


class CheckpointError(InputError):
    """A checkpoint that cannot be read or does not fit the model; the message says why."""


@dataclasses.dataclass
class LoadReport:
    """What a load did, in checkpoint names.

    Attributes:
        source: the checkpoint prefix or directory read.
        initialized: model variables set from the source.
        new: model variables absent from the source (left as initialized, e.g. a task head).
        unused: source variables no model variable took (optimizer state excluded).
        optimizer_state: `adam_m`/`adam_v`/`global_step` entries found in the source.
        optimizer_restored: whether those were loaded into the given optimizer.
        shapes: every model variable's shape, in the model's order.
    """

    source: str
    initialized: List[str]
    new: List[str]
    unused: List[str]
    optimizer_state: List[str] = dataclasses.field(default_factory=list)
    optimizer_restored: bool = False
    shapes: Dict[str, List[int]] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """One line: how many variables came from the source, which were new, which unused."""
        line = (f"Initialized {len(self.initialized)} variables from {self.source}; new: "
                f"{_some(self.new)}; unused: {_some(self.unused)}")
        if self.optimizer_state:
            line += (f"; {len(self.optimizer_state)} optimizer entries (adam_m/adam_v/"
                     f"global_step) {'restored' if self.optimizer_restored else 'not loaded'}")
        return line

    def details(self) -> str:
        """Every model variable as the original logs it (`name = ..., shape = [...]`, then
        `, *INIT_FROM_CKPT*` when it came from the source), then the unused source
        variables; one per line."""
        initialized = set(self.initialized)
        lines = [f"**** Variables from {self.source} ****"]
        lines += [f"  name = {name}, shape = {shape}"
                  f"{', *INIT_FROM_CKPT*' if name in initialized else ''}"
                  for name, shape in self.shapes.items()]
        lines.append(f"**** {len(self.unused)} unused variables of the source ****")
        lines += [f"  {name}" for name in self.unused]
        return "\n".join(lines) + "\n"


def _some(names: Sequence[str], most: int = 4) -> str:
    """`a, b, c` or `a, b, c, d and 5 more`; `none` for no names."""
    if not names:
        return "none"
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def write_load_report(report: LoadReport, path: str) -> None:
    """Writes `report.details()` (the original's `*INIT_FROM_CKPT*` list) to `path`."""
    with atomic_open(path) as f:
        f.write(report.details())


def checkpoint_names(model) -> Dict[str, tf.Variable]:
    """Maps original checkpoint names to a built model's variables.

    A model with a `checkpoint_variables()` method (a task model) names its own variables;
    a `BertModel` keeps its "bert" scope; any other model's own name scope is stripped, so
    `classifier/output_weights` is saved as `output_weights`, as the original runners name it.

    Raises:
        CheckpointError: the model is not built, or two variables share a checkpoint name.
    """
    if not model.variables:
        raise CheckpointError(f"model '{model.name}' has no variables yet: build it first "
                              "(e.g. call it once on a batch)")
    if hasattr(model, "checkpoint_variables"):  # a task model names its head's variables
        names = model.checkpoint_variables()
    else:
        scope = None if isinstance(model, BertModel) else model.name
        names = {}
        for variable in model.variables:
            name = checkpoint_name(variable.name, scope)
            if name in names:
                raise CheckpointError(f"two variables of model '{model.name}' have the "
                                      f"checkpoint name '{name}'")
            names[name] = variable
    if len(names) != len(model.variables):
        raise CheckpointError(f"model '{model.name}' has {len(model.variables)} variables but "
                              f"{len(names)} distinct checkpoint names")
    return names


def resolve_checkpoint(path: str) -> str:
    """Turns what a user passes as `--init_checkpoint` into a checkpoint prefix.

    Accepts a prefix (`.../bert_model.ckpt`), one of its files (`.index`, `.data-*`) or a
    directory (its latest checkpoint, or `bert_model.ckpt`).

    Raises:
        CheckpointError: nothing readable there, saying what was looked for.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest and os.path.exists(latest + ".index"):
            return latest
        candidate = os.path.join(path, "bert_model.ckpt")
        if os.path.exists(candidate + ".index"):
            return candidate
        raise CheckpointError(f"{path}: directory holds no checkpoint (no 'checkpoint' state "
                              "file and no bert_model.ckpt.index)")
    prefix = re.sub(r"\.(index|data-\d{5}-of-\d{5}|meta)$", "", path)
    if not os.path.exists(prefix + ".index"):
        raise CheckpointError(f"{path}: checkpoint not found (expected {prefix}.index and "
                              f"{prefix}.data-00000-of-00001)")
    return prefix


class WeightSource:
    """Named arrays to load from: a checkpoint reader or an in-memory dict.

    Args:
        description: what to call it in messages (a path).
        shapes: name -> shape of every variable the source holds.
        read: name -> np.ndarray.
    """

    def __init__(self, description: str, shapes: Dict[str, Sequence[int]],
                 read: Callable[[str], np.ndarray]):
        self.description = description
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.read = read

    @classmethod
    def from_checkpoint(cls, path: str) -> "WeightSource":
        """Opens a name-based checkpoint (see `resolve_checkpoint` for accepted paths)."""
        prefix = resolve_checkpoint(path)
        try:
            reader = tf.train.load_checkpoint(prefix)
            shapes = reader.get_variable_to_shape_map()
        except (tf.errors.OpError, ValueError) as e:
            raise CheckpointError(f"{prefix}: not a readable TensorFlow checkpoint "
                                  f"({type(e).__name__}: {e})") from None
        return cls(prefix, shapes, reader.get_tensor)

    @classmethod
    def from_arrays(cls, description: str, arrays: Dict[str, np.ndarray]) -> "WeightSource":
        return cls(description, {k: np.shape(v) for k, v in arrays.items()},
                   lambda name: np.asarray(arrays[name]))


def _size_hint(source: WeightSource) -> str:
    """Describes the model size a source was made for, from its variables' shapes."""
    word = source.shapes.get(f"{BERT_SCOPE}/embeddings/word_embeddings")
    layers = {int(m.group(1)) for m in map(_LAYER_RE.match, source.shapes) if m}
    parts = []
    if word is not None and len(word) == 2:
        parts.append(f"vocab_size={word[0]}, hidden_size={word[1]}")
    if layers:
        parts.append(f"num_hidden_layers={max(layers) + 1}")
    intermediate = source.shapes.get("bert/encoder/layer_0/intermediate/dense/kernel")
    if intermediate is not None and len(intermediate) == 2:
        parts.append(f"intermediate_size={intermediate[1]}")
    return ", ".join(parts)


def optimizer_state_names(source: WeightSource) -> List[str]:
    """The `adam_m`/`adam_v`/`global_step` entries of a source (fine-tuned checkpoints)."""
    return sorted(n for n in source.shapes if n == GLOBAL_STEP or _SLOT_RE.match(n))


def assign_weights(model, source: WeightSource, *, optimizer=None,
                   require_encoder: bool = True) -> LoadReport:
    """Sets a built model's variables from `source`, matching by checkpoint name.

    Args:
        model: a built Keras model (`BertModel` or a task model holding one).
        source: the weights.
        optimizer: optional; a built `AdamWeightDecay` whose slots and step are restored from
            `<name>/adam_m`, `<name>/adam_v` and `global_step` when the source has them.
        require_encoder: every `bert/...` variable of the model must be in the source.

    Returns:
        A `LoadReport`; its summary is logged (the original's per-variable
        `*INIT_FROM_CKPT*` lines at verbosity 1: `LoadReport.details`).

    Raises:
        CheckpointError: shape mismatches (all listed, with both shapes and the size the
            source looks made for) or missing encoder variables.
    """
    variables = checkpoint_names(model)
    mismatched, missing_encoder, initialized, new = [], [], [], []
    for name, variable in variables.items():
        if name not in source.shapes:
            (missing_encoder if require_encoder and name.startswith(BERT_SCOPE + "/")
             else new).append(name)
        elif tuple(variable.shape) != source.shapes[name]:
            mismatched.append(f"{name}: source {list(source.shapes[name])}, "
                              f"model {list(variable.shape)}")
        else:
            initialized.append(name)
    if mismatched:
        raise CheckpointError(
            f"{source.description} does not fit the model: {len(mismatched)} variable(s) "
            f"differ in shape:\n  " + "\n  ".join(mismatched[:10]) +
            f"\nThe source looks made for {_size_hint(source) or 'another model'}; check that "
            "bert_config.json belongs to this checkpoint.")
    if missing_encoder:
        raise CheckpointError(
            f"{source.description} lacks {len(missing_encoder)} encoder variable(s) of the "
            f"model, e.g. {', '.join(missing_encoder[:5])}. Its variables look made for "
            f"{_size_hint(source) or 'another model'}.")
    for name in initialized:
        variables[name].assign(source.read(name).astype(variables[name].dtype.as_numpy_dtype))

    optimizer_state = optimizer_state_names(source)
    restored = False
    if optimizer is not None and optimizer_state:
        _restore_optimizer_state(optimizer, variables, source)
        restored = True
    taken = set(initialized) | set(optimizer_state)
    report = LoadReport(source.description, initialized, new,
                        sorted(n for n in source.shapes if n not in taken),
                        optimizer_state, restored,
                        {name: list(variable.shape) for name, variable in variables.items()})
    # One line; the per-variable list (a hundred lines for BERT-Base) at verbosity 1, or in
    # a file (`write_load_report`).
    logging.info("%s", report.summary())
    if logging.vlog_is_on(1):
        logging.vlog(1, "%s", report.details())
    return report


def _restore_optimizer_state(optimizer, variables, source):
    for name, variable in variables.items():
        if not variable.trainable:
            continue
        slots = optimizer.slots_for(variable)
        for slot in SLOT_NAMES:
            slot_name = f"{name}/{slot}"
            if slot_name in source.shapes:
                slots[slot].assign(source.read(slot_name).astype(
                    slots[slot].dtype.as_numpy_dtype))
    if GLOBAL_STEP in source.shapes:
        optimizer.iterations.assign(int(source.read(GLOBAL_STEP)))


def load_checkpoint(model, checkpoint: str, *, optimizer=None,
                    require_encoder: bool = True) -> LoadReport:
    """Loads an original name-based checkpoint (e.g. a released `bert_model.ckpt`) into a model.

    The model is built first if needed (a `BertModel` by a dummy call). See `assign_weights`
    for the arguments, return value and errors.
    """
    if isinstance(model, BertModel):
        model.build_with_dummy_inputs()
    return assign_weights(model, WeightSource.from_checkpoint(checkpoint),
                          optimizer=optimizer, require_encoder=require_encoder)


def write_name_based_checkpoint(tensors: Dict[str, tf.Tensor], prefix: str) -> str:
    """Writes tensors under the given names as a V2 checkpoint bundle, atomically.

    The bundle (`prefix.index` + `prefix.data-00000-of-00001`) is what TF1's Saver writes and
    what `tf.compat.v1.train.Saver.restore`, `tf.train.load_checkpoint` and the original code
    read. It is written under a temporary prefix and renamed into place, index last, so a
    killed process never leaves a half-written checkpoint under `prefix`.
    """
    prefix = os.fspath(prefix)
    directory = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(directory, exist_ok=True)
    names = sorted(tensors)
    # A killed writer's `<prefix>.tmp-<pid>-*` files are removed by the next save of
    # `prefix` (temp_path) or by the next run's engine.
    with temp_path(prefix) as tmp:
        with tf.device("/cpu:0"):
            tf.raw_ops.SaveV2(prefix=tmp, tensor_names=names,
                              shape_and_slices=[""] * len(names),
                              tensors=[tf.convert_to_tensor(tensors[n]) for n in names])
        os.replace(f"{tmp}.data-00000-of-00001", f"{prefix}.data-00000-of-00001")
        os.replace(f"{tmp}.index", f"{prefix}.index")
    return prefix


def save_checkpoint(model, prefix: str, *, optimizer=None, include_optimizer_slots: bool = False,
                    global_step: Optional[int] = None, update_state_file: bool = True) -> str:
    """Saves a model as an original-format checkpoint (names and shapes of the original).

    Args:
        model: a built model.
        prefix: e.g. `out/bert_model.ckpt` or `out/model.ckpt-1000`.
        optimizer: needed for `include_optimizer_slots`; its `iterations` is written as
            `global_step` unless `global_step` is given.
        include_optimizer_slots: also write `<name>/adam_m` and `<name>/adam_v`, as the
            original's fine-tuned checkpoints do (3x the size). Off by default.
        global_step: written as int64 `global_step` when given.
        update_state_file: point the directory's `checkpoint` file at this prefix, so
            `tf.train.latest_checkpoint(dir)` finds it.

    Returns:
        The prefix written.
    """
    variables = checkpoint_names(model)
    tensors = {name: v.read_value() for name, v in variables.items()}
    if include_optimizer_slots:
        if optimizer is None:
            raise ValueError("include_optimizer_slots=True needs the optimizer")
        for name, variable in variables.items():
            if variable.trainable:
                for slot, value in optimizer.slots_for(variable).items():
                    tensors[f"{name}/{slot}"] = value.read_value()
    if global_step is None and optimizer is not None:
        global_step = int(optimizer.iterations.numpy())
    if global_step is not None:
        tensors[GLOBAL_STEP] = tf.constant(global_step, tf.int64)
    write_name_based_checkpoint(tensors, prefix)
    if update_state_file:
        directory = os.path.dirname(os.path.abspath(prefix))
        kept = [p for p in list_checkpoints(directory) if p != os.path.abspath(prefix)]
        write_checkpoint_state(directory, kept + [prefix])
    logging.info("Saved %d tensors to %s", len(tensors), prefix)
    return prefix


def list_checkpoints(directory: str) -> List[str]:
    """The checkpoint prefixes a directory's `checkpoint` state file lists, oldest first."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return []
    return [os.path.join(directory, p) if not os.path.isabs(p) else p
            for p in state.all_model_checkpoint_paths]


def write_checkpoint_state(directory: str, prefixes: Sequence[str]) -> None:
    """Writes the `checkpoint` state file (TF1 format) listing `prefixes`, latest last.

    Paths are stored relative to the directory, so it can be moved as a whole; the file is
    replaced atomically, so `tf.train.latest_checkpoint` never sees a half-written one.
    """
    def relative(prefix):
        return os.path.relpath(os.path.abspath(prefix), os.path.abspath(directory))

    lines = [f'model_checkpoint_path: "{relative(prefixes[-1])}"\n'] if prefixes else []
    lines += [f'all_model_checkpoint_paths: "{relative(p)}"\n' for p in prefixes]
    with atomic_open(os.path.join(directory, "checkpoint")) as f:
        f.writelines(lines)


def prune_checkpoints(directory: str, keep: int) -> List[str]:
    """Deletes all but the `keep` newest checkpoints the state file lists; returns the kept.

    The state file is rewritten first, so it never names a deleted checkpoint. Only the
    bundle's own files go: not `<prefix>.tmp-*`, which may be another run's save in progress.
    """
    listed = list_checkpoints(directory)
    kept, dropped = listed[-keep:] if keep > 0 else listed, listed[:-keep] if keep > 0 else []
    if dropped:
        write_checkpoint_state(directory, kept)
        for prefix in dropped:
            for pattern in (".index", ".data-?????-of-?????", ".meta"):
                for path in tf.io.gfile.glob(prefix + pattern):
                    os.remove(path)
    return kept
