"""Rules of the house that a reviewer would otherwise have to check by eye."""

import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRARY = sorted((ROOT / "bert_tf").rglob("*.py"))
OURS = LIBRARY + sorted(ROOT.glob("*.py")) + sorted((ROOT / "tests").rglob("*.py")) + \
    sorted((ROOT / "benchmarks").rglob("*.py"))


def _offenders(files, pattern):
    regex = re.compile(pattern, re.M)
    return [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
            for path in files for text in [path.read_text(encoding="utf-8")]
            for m in regex.finditer(text)]


def test_library_never_reads_flags():
    assert LIBRARY
    assert _offenders(LIBRARY, r"\bFLAGS\b|from absl import .*\bflags\b|absl\.flags") == []


def test_tf_keras_only():
    this = pathlib.Path(__file__).resolve()
    files = [f for f in OURS if f != this]
    assert _offenders(files, r"\btf\.keras\b|^\s*(import keras\b|from keras\b)") == []


def test_library_logs_instead_of_printing():
    assert _offenders(LIBRARY, r"^\s*print\(") == []


# ---- The import graph of bert_tf/: downward only, no cycles ----

# Tiers from the bottom up; a module may import modules of its own tier or lower ones only.
# A module's tier is that of its longest listed prefix (`data.windows` within `data`).
TIERS = (
    ("errors", "files", "config"),
    ("tokenization", "fast_tokenization", "graph_tokenizer", "variable_names"),
    ("layers", "optimization", "metrics"),
    ("modeling", "heads", "crf", "outputs"),
    ("data", "task_model", "pretraining_model", "weights"),
    ("tasks", "export", "extraction", "fill_mask", "run_record", "text_signatures",
     "predictor", "embeddings"),
    ("training", "predict", "embed"),
)
# Old import paths kept for users (each a one-line alias of its new module); nothing in the
# library may import them.
COMPAT = {"checkpoints", "hf_weights", "pretrained", "convert"}


def _module_name(path):
    parts = list(path.relative_to(ROOT / "bert_tf").with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path, modules):
    """The bert_tf modules `path` imports anywhere in it (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from bert_tf.weights import checkpoints` imports the module weights.checkpoints.
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}"[8:] in modules
                     else node.module for a in node.names]
        else:
            continue
        found.update(n[len("bert_tf."):] for n in names if n.startswith("bert_tf."))
    return found


def _graph():
    modules = {_module_name(p): p for p in LIBRARY}
    return {name: _imports(path, modules) & set(modules) for name, path in modules.items()}


def _tier(module):
    best, best_len = None, -1
    for index, names in enumerate(TIERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def test_every_library_module_has_a_tier():
    assert [m for m in _graph() if m and m not in COMPAT and _tier(m) is None] == []


def test_imports_point_downward_only():
    upward = [f"bert_tf/{m.replace('.', '/')} (tier {_tier(m)}) imports bert_tf.{i} "
              f"(tier {_tier(i)})"
              for m, imported in _graph().items() if m and m not in COMPAT
              for i in sorted(imported) if i in COMPAT or (_tier(i) or 0) > _tier(m)]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append(" -> ".join(stack[stack.index(imported):] + [imported]))
            elif imported not in state:
                visit(imported, stack + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_rules_see_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """The checks above on a planted graph: they must fail where the library would."""
    planted = {"config": {"training"}, "training": {"config"}, "tokenization": set()}
    monkeypatch.setattr(sys.modules[__name__], "_graph", lambda: planted)
    with pytest.raises(AssertionError, match="imports bert_tf.training"):
        test_imports_point_downward_only()
    with pytest.raises(AssertionError, match="config -> training -> config"):
        test_no_import_cycles()
