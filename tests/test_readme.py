"""The README's Python code runs as written.

Every ```python block of README.md runs, in order, in one fresh interpreter
(later blocks use what earlier ones define, as a reader pasting them into
one file would), with the working directory a temporary dir (the blocks
write `exports/`, `backup/`, `logs/`, `grids/`). Blocks of other languages
(```bash, ```none) are not Python and are left out.

The changes made to the text (`shorten`): every `epochs=N` becomes
`epochs=1`, and in the default run `jit_compile=True` becomes
`jit_compile=False`. XLA compilation costs 10-50 s per model here, which
would put the test at several minutes; every model's XLA training is tested
by the conformance suite, and the `large` variant of this test runs the
README with XLA as printed. Everything else (data, model sizes, sample
counts) runs as printed, on the 8x8 digits the README loads, in about a
minute. A traceback names README.md and the line of the failing statement.
"""

import re
from pathlib import Path

import pytest

from keras_vae.testing import run_script

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
EPOCHS = re.compile(r"\bepochs=\d+")
XLA = "jit_compile=True"


def python_blocks(text):
    """`(first line number in the file, code)` of every ```python block."""
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in BLOCK.finditer(text)
    ]


def shorten(code, xla=False):
    """The test's edits: one epoch per `fit`; no XLA unless `xla`."""
    code = EPOCHS.sub("epochs=1", code)
    return code if xla else code.replace(XLA, "jit_compile=False")


def script(blocks, xla=False):
    """One script that runs each block compiled as README.md at its line."""
    lines = ["namespace = {'__name__': '__main__'}"]
    for line, code in blocks:
        padded = "\n" * (line - 1) + shorten(code, xla)
        lines.append(f"print('README.md line {line}', flush=True)")
        lines.append(f"exec(compile({padded!r}, 'README.md', 'exec'), namespace)")
    lines.append("print('README OK')")
    return "\n".join(lines) + "\n"


def test_blocks_are_found_and_shortened():
    blocks = python_blocks(README.read_text())
    # The API tour, the paper models, ELBO surgery, resumable training.
    assert len(blocks) >= 4, [line for line, _ in blocks]
    assert all("```" not in code for _, code in blocks)
    code = "".join(code for _, code in blocks)
    assert "keras_vae.datasets.load(" in code
    assert EPOCHS.search(code), "no `epochs=N` left to shorten: update the fixture"
    assert XLA in code
    short = shorten(code)
    assert not EPOCHS.search(short.replace("epochs=1", "")) and XLA not in short
    assert XLA in shorten(code, xla=True)
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nls\n```\n") == [(3, "a = 1\n")]


@pytest.mark.parametrize(
    "xla", [False, pytest.param(True, marks=pytest.mark.large)], ids=["no_xla", "xla"]
)
def test_readme_python_blocks_run(tmp_path, xla):
    path = tmp_path / "readme_blocks.py"
    path.write_text(script(python_blocks(README.read_text()), xla))
    stdout = run_script(path, cwd=tmp_path, timeout=600)
    assert stdout.rstrip().endswith("README OK"), stdout[-3000:]


def test_a_failing_block_names_its_readme_line(tmp_path):
    text = "intro\n```python\nx = 1\n```\ntext\n```python\nassert x == 2\n```\n"
    path = tmp_path / "bad.py"
    path.write_text(script(python_blocks(text)))
    with pytest.raises(AssertionError, match=r'File "README.md", line 7'):
        run_script(path, cwd=tmp_path, timeout=120)


def test_example_list_names_every_example():
    text = README.read_text()
    section = text[text.index("## Examples") :]
    section = section[: section.index("\n## ", 1)]
    examples = sorted(p.parent.name for p in (README.parent / "examples").glob("*/train.py"))
    assert len(examples) >= 7, examples
    missing = [n for n in examples if f"(examples/{n})" not in section]
    assert not missing, f"README's example list lacks {missing}"


DOCS = ["README.md", "benchmarks/RESULTS.md", "benchmarks/PEER.md"]
ABSOLUTE = re.compile(r"(?<![\w.~$])/(?:work|tmp|home|root|Users|mnt|opt|check)/")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS)
def test_docs_name_no_machine_path_and_only_files_that_exist(doc):
    path = README.parent / doc
    text = path.read_text()
    assert not ABSOLUTE.findall(text), f"{doc} names an absolute machine path"
    assert "REFERENCE.md" not in text, f"{doc} names a file outside the repo"
    for target in LINK.findall(text):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{doc} links to missing {target}"
