"""The API documentation site builds offline with warnings as errors and
documents every public symbol.

Oracle: each public package's `__all__` (what a user can import) against the
built site's own search index (`search/search_index.json`, what a reader can
find), not against the page sources; the models page's member headings
against the classes' own methods (what each model has, inherited methods
included); the Names page against the names that small instances of the
models report (metrics, serving signatures, their inputs and outputs). The
build runs once per module (`mkdocs build --strict`, about 5 s); `.ci/run`
builds the site again as its own step. Without mkdocs installed the tests skip, except in CI (`CI=true`),
where the `test` extra must have installed it.
"""

import html
import importlib
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import keras_vae
from keras_vae import export
from keras_vae import models

REPO = pathlib.Path(__file__).resolve().parents[1]


def _public_packages():
    """Sub-packages of keras_vae that declare a public API (`__all__`)."""
    names = []
    for init in sorted((REPO / "keras_vae").glob("*/__init__.py")):
        name = init.parent.name
        if name.startswith("_"):
            continue
        if hasattr(importlib.import_module(f"keras_vae.{name}"), "__all__"):
            names.append(name)
    return names


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    try:
        import material  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("mkdocs tools not installed (`pip install -e .[docs]`)")
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(site_dir),
        ],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return site_dir


@pytest.fixture(scope="module")
def search_index(site):
    return json.loads((site / "search" / "search_index.json").read_text())["docs"]


def test_public_packages_are_the_facades():
    # The page list below is derived from the packages; check the derivation
    # finds the facade's packages plus `testing`, and not the private `utils`.
    packages = _public_packages()
    assert set(keras_vae.__all__) - {"__version__"} <= set(packages)
    assert "testing" in packages
    assert "utils" not in packages


def test_every_public_package_has_a_page(search_index):
    locations = {doc["location"] for doc in search_index}
    missing = [p for p in _public_packages() if f"api/{p}/" not in locations]
    assert not missing, f"No API page for: {missing}"


def test_every_public_symbol_is_documented(search_index):
    by_location = {doc["location"]: doc for doc in search_index}
    missing, empty = [], []
    for package in _public_packages():
        module = importlib.import_module(f"keras_vae.{package}")
        for name in module.__all__:
            location = f"api/{package}/#keras_vae.{package}.{name}"
            if location not in by_location:
                missing.append(f"keras_vae.{package}.{name}")
            elif not by_location[location]["text"].strip():
                empty.append(f"keras_vae.{package}.{name}")
    assert not missing, f"Public symbols absent from the docs site: {missing}"
    assert not empty, f"Public symbols documented without text: {empty}"


def test_examples_and_readme_are_pages(search_index):
    locations = {doc["location"] for doc in search_index}
    examples = sorted(p.parent.name for p in REPO.glob("examples/*/README.md"))
    assert examples
    missing = [e for e in examples if f"examples/{e}/" not in locations]
    assert not missing, f"Example READMEs without a page: {missing}"
    assert "" in locations  # the top README is the home page


def test_api_pages_render_examples_and_math_as_code(site):
    api_pages = sorted((site / "api").glob("*/index.html"))
    assert len(api_pages) == len(_public_packages())
    doctest_prompts = 0
    for page in api_pages:
        text = page.read_text()
        # A `>>>` example outside a code block renders as nested quotes; an
        # unparsed fence (```none math) shows its backticks.
        assert "<blockquote>" not in text, page
        assert "```" not in html.unescape(re.sub(r"<[^>]+>", "", text)), page
        doctest_prompts += text.count('<span class="gp">&gt;&gt;&gt; </span>')
    assert doctest_prompts > 50


def test_call_arguments_render_as_a_list(site):
    text = (site / "api" / "layers" / "index.html").read_text()
    sections = re.findall(r"<summary>Call arguments</summary>\s*(<\w+>)", text)
    assert sections and set(sections) == {"<ul>"}, sections


def test_pages_load_nothing_from_the_network(site):
    # Offline reading: no remote fonts, scripts or stylesheets.
    remote = re.compile(
        r"<(?:script[^>]+src|link[^>]+href)=\"(?:https?:)?//[^\"]+\"", re.IGNORECASE
    )
    offenders = {
        str(page.relative_to(site)): remote.findall(page.read_text())
        for page in site.rglob("*.html")
        if remote.search(page.read_text())
    }
    assert not offenders, offenders


def test_fence_doctests():
    sys.path.insert(0, str(REPO / "docs"))
    try:
        from griffe_doctests import fence_doctests
        from griffe_doctests import list_entries
    finally:
        sys.path.remove(str(REPO / "docs"))
    text = "Example:\n\n>>> f(\n...     1)\n2\n\n```python\n>>> kept\n```"
    assert fence_doctests(text) == (
        "Example:\n\n```pycon\n>>> f(\n...     1)\n2\n```\n\n```python\n>>> kept\n```"
    )
    text = "Call arguments:\n    x: A.\n        More: b.\n    y: C.\nReturns:\n    z: D."
    assert list_entries(text) == (
        "Call arguments:\n    - `x`: A.\n        More: b.\n    - `y`: C.\nReturns:\n    z: D."
    )


# The models page: each ready-made model's entry lists the user API it has,
# inherited methods included; the subclass contract (hooks a model implements,
# helpers it calls) is listed under the base classes only.
READY_MODELS = ("HierarchicalVAE", "LadderVAE", "PixelCNN", "VAE", "VHPVAE", "VQVAE")
BASE_CLASSES = ("Autoencoder", "LatentVariableModel", "LayeredLatents")
USER_API = (
    "encode",
    "decode",
    "reconstruct",
    "sample",
    "log_likelihood",
    "fit",
    "compile",
    "compute_loss",
    "serving_signatures",
)
SUBCLASS_CONTRACT = (
    "posterior_params",
    "decoder_params",
    "encode_tensors",
    "decode_tensors",
    "sample_tensors",
    "reconstruct_tensors",
    "log_importance_weights",
    "compute_terms",
    "compute_metrics",
    "objective_terms",
    "reparameterize",
    "build_generative",
    "prepare",
    "preprocess",
    "unpack",
    "check_input",
    "check_built",
    "validate_data",
    "seeded_scope",
    "adopt_component",
    "step_guard",
    "apply_gradients_if",
    "compiled_function",
    "step_state_variables",
    "predict_step",
)


def _member_headings(site, page="models"):
    """`{(object, member)}` of the member headings (anchors) of an API page."""
    text = (site / "api" / page / "index.html").read_text()
    found = re.findall(rf'<h\d id="keras_vae\.{page}\.(\w+)\.(\w+)" class="doc doc-heading"', text)
    return set(found)


def _documented_methods(cls):
    """Public methods and properties of `cls` defined in keras_vae with a
    docstring of their own (Keras's are not part of keras_vae's pages)."""
    names = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next(k for k in cls.__mro__ if name in vars(k))
        value = vars(owner)[name]
        kinds = (types.FunctionType, staticmethod, classmethod, property)
        if owner.__module__.startswith("keras_vae") and isinstance(value, kinds):
            if value.__doc__:
                names.add(name)
    return names


def test_vae_entry_lists_its_inherited_api(site):
    headings = _member_headings(site)
    for name in ("encode", "log_likelihood", "sample"):
        assert ("VAE", name) in headings, name
    # VAE helpers shared with its subclass VHPVAE, not a user's API.
    for name in ("posterior_params", "decoder_params"):
        assert ("VAE", name) not in headings, name


def test_model_entries_list_the_user_api_and_hide_the_contract(site):
    headings = _member_headings(site)
    for model in READY_MODELS:
        cls = getattr(models, model)
        expected = _documented_methods(cls) & set(USER_API)
        assert expected, model
        missing = sorted(n for n in expected if (model, n) not in headings)
        assert not missing, f"{model} entry lacks {missing}"
        leaked = sorted(n for n in SUBCLASS_CONTRACT if (model, n) in headings)
        assert not leaked, f"{model} entry lists internal hooks {leaked}"


def test_base_class_entries_list_their_whole_contract(site):
    headings = _member_headings(site)
    for base in BASE_CLASSES:
        cls = getattr(models, base)
        missing = sorted(n for n in _documented_methods(cls) if (base, n) not in headings)
        assert not missing, f"{base} entry lacks {missing}"
    # Inherited hooks and helpers are listed on the subclass's entry too.
    for name in ("check_input", "seeded_scope", "encode_tensors", "log_likelihood"):
        assert ("LatentVariableModel", name) in headings, name


def _small_models():
    """One small built instance of each ready-made autoencoder (4x4x1 data)."""
    made = [
        models.VAE(latent_dim=2, hidden_units=(4,), seed=0),
        models.VAE(latent_dim=2, hidden_units=(4,), objective="iwae", seed=0),
        models.HierarchicalVAE(latent_dims=(2, 2), hidden_units=(4,), seed=0),
        models.LadderVAE(latent_dims=(2, 2), hidden_units=(4, 4), seed=0),
        models.VHPVAE(kappa=1.0, latent_dim=2, hidden_units=(4,), seed=0),
        models.VQVAE(num_embeddings=4, embedding_dim=2, filters=4, residual_units=2, seed=0),
    ]
    for model in made:
        model.build((None, 4, 4, 1))
    return made


def _serving_input(name, shape, dtype):
    if name == "num_samples":
        return np.int32(2)
    fill = 0 if dtype == "int32" else 0.5
    return np.full((2,) + tuple(shape[1:]), fill, dtype)


def test_names_page_lists_every_reported_name(site):
    # What a user meets by name: each model's metrics (History keys), its
    # serving signatures with their inputs and outputs, and the constructor
    # arguments that two or more public models or networks share.
    names = set()
    for model in _small_models():
        names.update(metric.name for metric in model.metrics)
        names.update(export.available_signatures(model))
        for fn, inputs in model.serving_signatures().values():
            names.update(name for name, _, _ in inputs)
            names.update(fn(*(_serving_input(*spec) for spec in inputs)))
    pixelcnn = models.PixelCNN(4, (2, 2), filters=4, num_layers=1, seed=0)
    pixelcnn.compile(optimizer="sgd")
    names.update(metric.name for metric in pixelcnn.metrics)
    seen = {}
    for symbol in models.__all__:
        obj = getattr(models, symbol)
        signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
        for arg in signature.parameters:
            seen[arg] = seen.get(arg, 0) + 1
    names.update(a for a, n in seen.items() if n > 1 and a not in ("self", "args", "kwargs"))
    names.discard("name")  # Keras's
    assert {"kl_1", "kl_2", "num_samples", "hidden_units", "loc_z2"} <= names
    text = (site / "names" / "index.html").read_text()
    missing = sorted(n for n in names if f"<code>{n}</code>" not in text)
    assert not missing, f"Names absent from the Names page: {missing}"
