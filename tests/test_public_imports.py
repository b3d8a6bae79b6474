"""No module reaches into another's private names; examples use public API.

A `_`-name is private to its module: importing it elsewhere ties two
modules' internals together. Examples and docstrings are what users copy,
so they import from `keras_vae`'s public subpackages only, never from
`keras_vae.utils` (internal, not part of the API).
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ("keras_vae", "tests", "examples", "benchmarks")


def _python_files(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _private_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_vae"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}"


def test_no_module_imports_another_modules_private_names():
    found = [hit for path in _python_files(*SOURCES) for hit in _private_imports(path)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def _user_facing_code():
    """(where, code) of every example script and every docstring example."""
    for path in _python_files("examples"):
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")
    for path in _python_files("keras_vae"):
        if "testing" in path.parts or "utils" in path.parts:
            continue  # internal helpers document themselves
        lines = [
            line.strip()[4:]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith((">>> ", "... "))
        ]
        yield str(path.relative_to(ROOT)), "\n".join(lines)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    yield "README.md", "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))


CODE = list(_user_facing_code())


@pytest.mark.parametrize("where, code", CODE, ids=[where for where, _ in CODE])
def test_user_facing_code_uses_no_internal_module(where, code):
    assert not re.search(r"keras_vae\.utils\b", code), f"{where} uses keras_vae.utils"
