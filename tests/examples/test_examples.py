"""End-to-end runs of the examples with tiny settings, each in a subprocess.

Each example runs as a user would run it (`python examples/<name>/train.py`),
in a fresh interpreter, so the tests catch import errors, argument handling,
training, evaluation and every file the example promises to write.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from keras_vae.testing.scripts import script_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# -log p(x) of a fair coin per pixel on binary 8x8 digits: 64 log 2 nats. A
# trained model must beat it, even after two epochs.
COIN_FLIP_NATS = 64 * math.log(2)

NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"


def start(name, *args, cwd):
    """Start `python examples/<name>/train.py ARGS` in a fresh interpreter.

    Output goes to files in `cwd` (pipes could fill up and block a process
    while the test waits for the other one).
    """
    env = script_env()  # the child imports the same keras_vae as this test
    with (
        open(cwd / f"{name}.stdout", "w") as out,
        open(cwd / f"{name}.stderr", "w") as err,
    ):
        return subprocess.Popen(
            [sys.executable, str(EXAMPLES / name / "train.py"), *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
        )


def finish(name, process, cwd):
    """Wait for an example; return its stdout after checking its exit code."""
    timed_out = False
    try:
        process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.kill()
        process.wait()
    stdout = (cwd / f"{name}.stdout").read_text()
    stderr = (cwd / f"{name}.stderr").read_text()
    status = "was killed after 600 s" if timed_out else f"exited with {process.returncode}"
    assert process.returncode == 0, (
        f"examples/{name}/train.py {status}.\nstdout:\n{stdout}\nstderr:\n{stderr[-5000:]}"
    )
    return stdout


def check_quickstart(stdout, out):
    match = re.search(
        rf"^test NLL: {NUMBER} nats \((\d+) importance samples, (\d+) test images\)$",
        stdout,
        re.MULTILINE,
    )
    assert match, f"no final NLL line in:\n{stdout}"
    nll = float(match.group(1))
    assert math.isfinite(nll) and 0 < nll < COIN_FLIP_NATS, stdout
    assert (int(match.group(2)), int(match.group(3))) == (50, 300)
    # The summary is the last line.
    assert stdout.strip().splitlines()[-1] == match.group(0)

    active = re.search(r"^active units: (\d+) of 8\b", stdout, re.MULTILINE)
    assert active and 0 <= int(active.group(1)) <= 8, stdout

    for png in ("samples.png", "reconstructions.png"):
        path = out / png
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "vae.keras").is_file()
    versions = [p for p in (out / "export").iterdir() if p.name.isdigit()]
    assert [p.name for p in versions] == ["1"]
    assert (versions[0] / "saved_model.pb").is_file()
    assert (versions[0] / "variables").is_dir()
    # Every path it wrote is printed for the user.
    for path in ("samples.png", "reconstructions.png", "vae.keras", "export"):
        assert str(out / path) in stdout


def check_custom_model(stdout):
    match = re.search(rf"^test IWAE bound L_5: {NUMBER} nats", stdout, re.MULTILINE)
    assert match, f"no IWAE bound line in:\n{stdout}"
    bound = float(match.group(1))
    assert math.isfinite(bound) and -COIN_FLIP_NATS < bound < 0, stdout
    # --quiet: the result line only, no Keras progress log.
    assert len(stdout.strip().splitlines()) == 1, stdout


def test_examples_run_end_to_end(tmp_path):
    # Both examples run at once: most of their time is importing TensorFlow
    # and XLA compilation, which is single-threaded.
    out = tmp_path / "quickstart"
    quickstart = start(
        "quickstart",
        *("--epochs", "2", "--nll-samples", "50", "--output-dir", str(out)),
        cwd=tmp_path,
    )
    custom = start("custom_model", "--epochs", "2", "-k", "5", "--quiet", cwd=tmp_path)
    try:
        quickstart_stdout = finish("quickstart", quickstart, tmp_path)
        custom_stdout = finish("custom_model", custom, tmp_path)
    finally:
        for process in (quickstart, custom):
            if process.poll() is None:
                process.kill()
                process.wait()
    check_quickstart(quickstart_stdout, out)
    check_custom_model(custom_stdout)


@pytest.mark.parametrize("name", ["quickstart", "custom_model"])
def test_example_has_readme(name):
    readme = (EXAMPLES / name / "README.md").read_text()
    assert f"python examples/{name}/train.py" in readme
