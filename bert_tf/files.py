"""Writing files atomically: a reader never sees a half-written file, and an interrupted
writer leaves any old file as it was.

Every temporary is named `<target>.tmp-<pid>-<random>` (a checkpoint's or SavedModel's may
carry a further suffix: `.index`, `.data-00000-of-00001`, `.old`), so a later run can tell
the temporaries of a killed writer (its pid is dead) from those of one still writing, and
remove them: `remove_stale_temps`.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
from typing import Any, Iterator, List, Optional, TextIO, Union

import numpy as np
from absl import logging

from bert_tf.errors import InputError

PathLike = Union[str, os.PathLike]

# <target>.tmp-<pid>-<hex>, then whatever the writer appends (".index", ".old", TF's
# ".tempstate<n>").
_TEMP_RE = re.compile(r"^(?P<base>(?P<target>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]+)(?:\..*)?$")
# The temporaries this process is writing now. A temporary that carries our pid but is not
# here was left by an earlier process that had the same pid (a restarted container's
# runner is often pid 1 every time).
_OWN_TEMPS = set()


def _writer_alive(pid: int, name: str) -> bool:
    if pid == os.getpid():
        return name in _OWN_TEMPS
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    try:  # Linux: a killed process its parent has not reaped yet is a zombie, not a writer
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _size(path: str) -> int:
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    return sum(os.lstat(os.path.join(root, f)).st_size
               for root, _, files in os.walk(path) for f in files)


def remove_stale_temps(directory: PathLike, target: Optional[str] = None) -> List[str]:
    """Deletes the temporaries in `directory` whose writer process is dead.

    A killed run leaves its `*.tmp-<pid>-*` files and directories behind (a feature cache
    or a SavedModel may be gigabytes). Those of a live process (another run writing into
    the same directory) are kept. Each removal is logged with the bytes freed.

    Args:
        directory: where to look (not recursively); a missing directory holds nothing.
        target: only the temporaries of this file name (e.g. "train.tf_record"); all when
            None.

    Returns:
        The paths removed.
    """
    directory = os.fspath(directory)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    removed, freed = [], 0
    for name in names:
        match = _TEMP_RE.match(name)
        if not match or (target is not None and match["target"] != target):
            continue
        if _writer_alive(int(match["pid"]), os.path.abspath(os.path.join(directory,
                                                                         match["base"]))):
            continue
        path = os.path.join(directory, name)
        try:
            size = _size(path)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:  # removed meanwhile, by another run cleaning up too
            continue
        removed.append(path)
        freed += size
        logging.info("Removed %s, left by a killed run (%d bytes)", path, size)
    if removed:
        logging.info("Removed %d stale temporaries in %s: %d bytes freed", len(removed),
                     directory, freed)
    return removed


@contextlib.contextmanager
def temp_path(path: PathLike) -> Iterator[str]:
    """Yields a fresh temporary name `<path>.tmp-<pid>-<random>` beside `path`, after
    removing the stale temporaries of `path` (`remove_stale_temps`).

    The caller writes it and renames it into place; while the block runs, the name counts
    as this process's own, so no cleanup in this process deletes it.
    """
    path = os.path.abspath(os.fspath(path))
    directory, target = os.path.split(path)
    remove_stale_temps(directory, target)
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    _OWN_TEMPS.add(tmp)
    try:
        yield tmp
    except OSError as e:
        # The user asked for `path`: an error (no such directory, read-only, disk full)
        # names it, never the temporary.
        if e.errno is not None and e.filename in (None, tmp):
            raise type(e)(e.errno, e.strerror, path) from None
        raise
    finally:
        _OWN_TEMPS.discard(tmp)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path`; renamed to `path` when the block succeeds.

    For writers that take a file name (safetensors, TFRecord, file copies). On an exception
    the temporary file is deleted and an old file at `path` is left as it was; a kill leaves
    it for the next writer of `path` to remove (`temp_path`).
    """
    with temp_path(path) as tmp:
        try:
            yield tmp
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[TextIO]:
    """Opens a UTF-8 text file for writing that appears at `path` only once it is complete.

    Writes go to `<path>.tmp-<pid>-<random>` in the same directory (`temp_path`; the same
    directory, so the final rename stays on one file system); leaving the `with` block
    normally fsyncs it and renames it to `path`; leaving it by an exception deletes it and
    leaves any old file at `path` as it was.
    Newlines are written as "\\n" on every platform, as the original's GFile did.

    Example:
        >>> import tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> with atomic_open(target) as f:
        ...     _ = f.write("done\\n")
        >>> open(target).read()
        'done\\n'
    """
    with temp_path(path) as tmp:
        # Mode "x": never clobber another writer's temp file; permissions follow the umask.
        handle = open(tmp, "x", encoding="utf-8", newline="")
        try:
            with handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise


def file_digest(path: PathLike) -> str:
    """sha256 of a file's bytes (the vocabulary, a data file), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    """What json.dumps cannot encode by itself: NumPy values, dataclasses, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def read_json(path: PathLike) -> Any:
    """Reads a JSON file written by `write_json`."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path: PathLike, obj: Any) -> None:
    """Writes `obj` as JSON (2-space indent, keys sorted, UTF-8, final newline), atomically.

    NumPy scalars and arrays, dataclasses and paths are converted to plain JSON values.

    Raises:
        TypeError: a value JSON cannot hold; nothing is written then.
    """
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False,
                      default=_json_default) + "\n"
    with atomic_open(path) as f:
        f.write(text)


def matching_files(value: str, kind: str) -> List[str]:
    """The files of a comma list of paths and globs (local or any tf.io.gfile file system):
    each glob's matches sorted, the list's order kept.

    Raises:
        InputError: a part matches no file ("<part>: no <kind> found"), or nothing is named.
    """
    # Imported here: the result writers (bert_tf/outputs) use this module without TensorFlow.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    files = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        matches = sorted(tf.io.gfile.glob(part)) if any(c in part for c in "*?[") else (
            [part] if tf.io.gfile.exists(part) else [])
        if not matches:
            raise InputError(f"{part}: no {kind} found")
        files.extend(matches)
    if not files:
        raise InputError(f"{value!r}: no {kind} named")
    return files
