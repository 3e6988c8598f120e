"""Variable names as the original checkpoints spell them.

A Keras variable's name already carries the original scope (`bert/encoder/layer_0/...`); only
TF's ":<output index>" suffix and the enclosing model's own scope have to go.
"""

import re
from typing import Optional


def checkpoint_variable_name(name: str) -> str:
    """Returns a variable name as the original's checkpoints spell it.

    Strips the ":<output index>" suffix TF adds to variable names ("bert/.../kernel:0" ->
    "bert/.../kernel"), like the original `_get_variable_name`.

    Args:
      name: str, a variable name such as `variable.name`.

    Returns:
      str, `name` without a trailing ":<digits>".
    """
    match = re.match(r"^(.*):\d+$", name)
    return match.group(1) if match else name


def checkpoint_name(variable_name: str, scope: Optional[str] = None) -> str:
    """`classifier/bert/pooler/dense/kernel:0` with scope "classifier" -> `bert/pooler/...`."""
    name = checkpoint_variable_name(variable_name)
    if scope and name.startswith(scope + "/"):
        name = name[len(scope) + 1:]
    return name
