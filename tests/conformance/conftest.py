"""The conformance suite imports the user models of
`keras_vae.testing.registry.USER_MODELS` by their module path: those of
`examples/` from the repository root, put on `sys.path` here (as
`python -m pytest` from the root does) before any test module is collected."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
