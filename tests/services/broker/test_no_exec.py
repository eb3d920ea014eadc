"""The broker never evaluates generated or received text: no exec/eval/compile calls in its code."""
from __future__ import annotations

import ast
from pathlib import Path

import koabus.services.broker as broker_pkg

FORBIDDEN = {"exec", "eval", "compile", "__import__"}


def _forbidden_calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in FORBIDDEN and not (isinstance(func, ast.Attribute) and name == "compile"
                                          and _is_re(func.value)):
                yield f"{path.name}:{node.lineno} {name}()"


def _is_re(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "re"


def test_broker_code_has_no_exec_eval_or_compile():
    root = Path(broker_pkg.__file__).parent
    files = sorted(root.glob("*.py"))
    assert len(files) > 10  # the package really was found
    found = [hit for path in files for hit in _forbidden_calls(path)]
    assert found == []
