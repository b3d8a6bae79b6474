"""Run the `>>>` examples of keras_vae's docstrings as doctests.

One test per module of the `keras_vae` package whose source holds a `>>>`
example. The modules are found by walking the package's files, so normal
test collection is unchanged (no `--doctest-modules`: pytest would then also
collect `keras_vae/testing/test_case.py` as a test module). Every example
runs with the module's globals plus this namespace:

- `keras`, `ops` (`keras.ops`), `np` (numpy), `tf` (tensorflow), `keras_vae`;
- `x_train`, `x_val`, `x_test`: the bundled 8x8 digits
  (`keras_vae.datasets.load("digits", split, binarization="static",
  as_numpy=True)`, `float32` of shape `(N, 8, 8, 1)` with N = 1297, 200, 300), so an
  example like `vae.fit(x_train, epochs=1, batch_size=100)` runs in seconds
  without network or data dir.

Each docstring starts from a cleared Keras session (without `gc.collect`) and
`keras.utils.set_random_seed` of a seed derived from its name, in a fresh
temporary working directory (examples may write files). Option flags:
`ELLIPSIS`, `NORMALIZE_WHITESPACE` and `NUMBER`: a float in the expected
output matches a float in the actual output to the precision written
(`-0.6931472` matches `-0.6931471824645996`), as pytest's `NUMBER` flag does.
"""

import doctest
import importlib
import pathlib
import re
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vae

PACKAGE_DIR = pathlib.Path(keras_vae.__file__).parent
NUMBER = doctest.register_optionflag("NUMBER")
OPTION_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | NUMBER


def _modules_with_examples():
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()

# A float literal: optional sign, digits with a point and/or an exponent.
_FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][-+]?\d+)?")


class _NumberChecker(doctest.OutputChecker):
    """`OutputChecker` with a `NUMBER` flag: floats match to the precision written."""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        if not optionflags & NUMBER:
            return False
        return super().check_output(want, self._round_like(want, got), optionflags)

    @staticmethod
    def _round_like(want, got):
        wants = list(_FLOAT.finditer(want))
        gots = list(_FLOAT.finditer(got))
        if not wants or len(wants) != len(gots):
            return got
        pieces, last = [], 0
        for w, g in zip(wants, gots):
            text = w.group()
            mantissa = re.split("[eE]", text)[0]
            decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
            exponent = int(re.split("[eE]", text)[1]) if re.search("[eE]", text) else 0
            tolerance = 10.0 ** (exponent - decimals)
            if abs(float(g.group()) - float(text)) <= tolerance:
                pieces.append(got[last : g.start()] + text)
            else:
                pieces.append(got[last : g.end()])
            last = g.end()
        pieces.append(got[last:])
        return "".join(pieces)


@pytest.fixture(scope="module")
def namespace():
    def load(split):
        return keras_vae.datasets.load("digits", split, binarization="static", as_numpy=True)

    return {
        "keras": keras,
        "ops": keras.ops,
        "np": np,
        "tf": tf,
        "keras_vae": keras_vae,
        "x_train": load("train"),
        "x_val": load("validation"),
        "x_test": load("test"),
    }


def test_number_flag_matches_to_the_written_precision():
    checker = _NumberChecker()
    assert checker.check_output("-0.6931472\n", "-0.6931471824645996\n", NUMBER)
    assert checker.check_output("(2.0, 0.5)\n", "(2.0000001, 0.49999997)\n", NUMBER)
    assert not checker.check_output("-0.6931472\n", "-0.6932\n", NUMBER)
    assert not checker.check_output("-0.6931472\n", "-0.6931471824645996\n", 0)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name, namespace, tmp_path, monkeypatch):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    assert tests, f"Expected `>>>` examples in {module_name}. Received: none."
    runner = doctest.DocTestRunner(checker=_NumberChecker(), optionflags=OPTION_FLAGS)
    for test in sorted(tests, key=lambda t: t.name):
        test.globs = {**vars(module), **namespace}
        workdir = tmp_path / test.name
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        keras.backend.clear_session(free_memory=False)  # gc.collect: 0.4 s each
        keras.utils.set_random_seed(zlib.crc32(test.name.encode()) & 0x7FFFFFFF)
        runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed in {module_name}"
