"""Writing files atomically: a reader never sees a half-written file, and an interrupted
writer leaves any old file as it was."""

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
from typing import Any, Iterator, TextIO, Union

import numpy as np

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yields a temporary path beside `path`; renamed to `path` when the block succeeds.

    For writers that take a file name (safetensors, TFRecord, file copies). On an exception
    the temporary file is deleted and an old file at `path` is left as it was.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
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

    Writes go to `<path>.tmp-<pid>-<random>` in the same directory (so the final rename
    stays on one file system); leaving the `with` block normally fsyncs it and renames it to
    `path`; leaving it by an exception deletes it and leaves any old file at `path` as it was.
    Newlines are written as "\\n" on every platform, as the original's GFile did.

    Example:
        >>> import tempfile
        >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
        >>> with atomic_open(target) as f:
        ...     _ = f.write("done\\n")
        >>> open(target).read()
        'done\\n'
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
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
