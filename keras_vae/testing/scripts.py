"""Run a script (an example, a check script) in a fresh interpreter, from a test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras_vae

# The directory this process imports keras_vae from (a checkout, or
# site-packages): it comes first on the child's path, so the child runs the
# same keras_vae as the test, wherever the script itself lives.
IMPORT_ROOT = Path(keras_vae.__file__).resolve().parent.parent


def run_script(script, *args, cwd=None, timeout=600):
    """Run `python script *args` with this process's keras_vae on `PYTHONPATH`.

    The child's environment is `script_env()`. Raises `AssertionError` with
    the output's tail if it exits non-zero.

    Returns:
        The child's standard output.
    """
    command = [sys.executable, str(script), *map(str, args)]
    return run_command(command, Path(script).name, cwd=cwd, env=script_env(), timeout=timeout)


def script_env():
    """The environment of a child script: this one, plus

    `PYTHONPATH` starting with `IMPORT_ROOT` (so the child imports the same
    keras_vae), `TF_CPP_MIN_LOG_LEVEL=2`, `MPLBACKEND=Agg` and no GPU.
    """
    path = os.pathsep.join(p for p in (str(IMPORT_ROOT), os.environ.get("PYTHONPATH")) if p)
    return dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        MPLBACKEND="Agg",
        CUDA_VISIBLE_DEVICES="",
        PYTHONPATH=path,
    )


def run_command(command, name, cwd=None, env=None, timeout=600):
    """Run `command` (a list); return its stdout, or fail with its output.

    Raises `AssertionError` naming `name`, with the exit code and the tails
    of the standard output and error, if the command exits non-zero.
    """
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode:
        raise AssertionError(
            f"{name} failed (exit {proc.returncode}):\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-6000:]}"
        )
    return proc.stdout


def run_check_script(script, timeout=600):
    """`run_script`, then the JSON of its last line starting with "RESULT "."""
    stdout = run_script(script, timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise AssertionError(f"{Path(script).name} printed no RESULT line:\n{stdout[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])
