"""Packaging for keras_vae (tool configuration lives in pyproject.toml)."""

import pathlib
import re

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "keras_vae" / "version.py").read_text()
).group(1)

setup(
    name="keras-vae",
    version=VERSION,
    description="Variational autoencoders for Keras 3 (TensorFlow and JAX).",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["keras_vae", "keras_vae.*"]),
    # The MNIST feature network's weights (keras_vae.diagnostics.mnist_feature_extractor).
    package_data={"keras_vae.diagnostics": ["assets/*.weights.h5"]},
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.18",
        # TFP refuses to import without tf-keras; the [tf] extra pulls it in.
        "tensorflow-probability[tf]>=0.25",
        "keras>=3.5",
        "tensorflow-datasets",
        # TFDS 4.9.10 imports it (through etils) without declaring it.
        "importlib_resources",
        "numpy",
    ],
    extras_require={
        # Keras's JAX backend (`KERAS_BACKEND=jax`). On a JAX-only machine
        # TensorFlow is optional: benchmarks/accelerator_requirements.txt.
        "jax": ["jax>=0.4.30"],
        # `tensorboard` for keras.callbacks.TensorBoard (examples' --tensorboard).
        "examples": ["scikit-learn", "matplotlib", "tensorboard"],
        # TF Serving warm-up requests (`export_for_serving(..., warmup=True)`).
        "serving": ["tensorflow-serving-api>=2.21,<3"],
        # The API docs site: `mkdocs build --strict` (mkdocs.yml, docs/).
        "docs": [
            "mkdocs>=1.6,<2",
            "mkdocs-material>=9.5,<10",
            "mkdocstrings>=1.0,<2",
            "mkdocstrings-python>=2.0,<3",
        ],
        "test": [
            "pytest",
            "pytest-xdist",
            "scikit-learn",
            "matplotlib",
            "scipy",
            "tensorboard",
            "tensorflow-serving-api>=2.21,<3",
            # The JAX backend's test run (`KERAS_BACKEND=jax`).
            "jax>=0.4.30",
            # Lint and format (pyproject.toml's [tool.ruff]), run by .ci/run.
            "ruff>=0.17,<0.18",
            # The `docs` extra: .ci/run builds the site, tests/test_docs_build.py reads it.
            "mkdocs>=1.6,<2",
            "mkdocs-material>=9.5,<10",
            "mkdocstrings>=1.0,<2",
            "mkdocstrings-python>=2.0,<3",
        ],
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
