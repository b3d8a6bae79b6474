"""Conformance: every model's random state is independent, reproducible and saved.

For every registered model spec:

- its `SeedGenerator`s draw from pairwise distinct stateless keys (no two
  consumers of the model's seed share a stream);
- two constructions with the same `seed` (under different global seeds) have
  the same generator states and the same initial weights;
- a `.keras` file holds the generator states: `keras.models.load_model` in a
  fresh Python process continues the saving process's random streams, so its
  next `log_likelihood`, `sample` and call outputs are bit-identical.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_vae.testing import conformance
from keras_vae.utils import seed_streams


def _cases():
    return [
        pytest.param(name, spec, id=f"{name}[{i}]")
        for name in conformance.model_names()  # the user models of `USER_MODELS` too
        for i, spec in enumerate(conformance.specs(name))
    ]


def _construct(name, spec, global_seed):
    """A fresh model of the spec, built on its batch `x` (and condition `c`,
    `None` for a model of p(x)); returns `model, x, c`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(global_seed)
    x, c = conformance.model_data(spec)
    model = conformance.resolve(name)(**spec.init_kwargs)
    model(conformance.model_inputs(x, c))  # builds it
    return model, x, c


def _seed_states(model):
    return [
        np.asarray(keras.ops.convert_to_numpy(v))
        for v in model.variables
        if "seed_generator_state" in v.path
    ]


def _numpy_tree(value):
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in keras.tree.flatten(value)]


# --------------------------------------------------------- independent streams


@pytest.mark.parametrize("name, spec", _cases())
def test_no_two_generators_share_a_key(name, spec):
    model, _, _ = _construct(name, spec, 1337)
    states = _seed_states(model)
    assert states, f"{name} owns no SeedGenerator"
    # A key is (stream seed, counter); streams with distinct first words never
    # meet, whatever their counters.
    firsts = [int(s[0]) for s in states]
    assert len(set(firsts)) == len(firsts), f"{name}: generators share a stream seed: {firsts}"


@pytest.mark.parametrize("name, spec", _cases())
def test_same_seed_same_streams_and_weights(name, spec):
    a, _, _ = _construct(name, spec, 1337)
    states_a = _seed_states(a)
    weights_a = [np.asarray(w) for w in a.get_weights()]
    b, _, _ = _construct(name, spec, 2024)  # another global seed
    states_b = _seed_states(b)
    weights_b = [np.asarray(w) for w in b.get_weights()]
    assert len(states_a) == len(states_b)
    for sa, sb in zip(states_a, states_b):
        np.testing.assert_array_equal(sa, sb, err_msg=f"{name}: seed states differ")
    assert len(weights_a) == len(weights_b)
    for i, (wa, wb) in enumerate(zip(weights_a, weights_b)):
        np.testing.assert_array_equal(
            wa,
            wb,
            err_msg=f"{name}: initial weight {i} differs between two "
            "constructions with the same seed",
        )


def test_stream_seed_is_a_stable_hash():
    # Oracle: SHA-256 of "keras_vae/<seed>/<name>", first 8 bytes big-endian,
    # reduced into [0, 2^31 - 2). Stable across processes and machines.
    for seed, name in [(0, "model"), (1, "sampler"), (12345, "prior")]:
        digest = hashlib.sha256(f"keras_vae/{seed}/{name}".encode()).digest()
        expected = int.from_bytes(digest[:8], "big") % (2**31 - 2)
        assert seed_streams.stream_seed(seed, name) == expected
    assert seed_streams.stream_seed(None, "model") is None
    with pytest.raises(ValueError, match="Expected `seed`"):
        seed_streams.stream_seed(1.5, "model")


def test_model_seed_seeds_unseeded_components_only():
    import keras_vae

    own = keras_vae.priors.StandardNormal(seed=5)
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(4,), seed=3, prior=own)
    assert int(keras.ops.convert_to_numpy(model.prior.seed_generator.state)[0]) == 5
    assert model.prior.seed == 5
    unseeded = keras_vae.priors.StandardNormal()
    model = keras_vae.models.VAE(latent_dim=2, hidden_units=(4,), seed=3, prior=unseeded)
    expected = seed_streams.stream_seed(3, "prior")
    assert model.prior.seed == expected
    assert int(keras.ops.convert_to_numpy(model.prior.seed_generator.state)[0]) == expected
    # The sampler and the model's own generator are distinct streams of 3.
    assert int(keras.ops.convert_to_numpy(model.sampler.seed_generator.state)[0]) == (
        seed_streams.stream_seed(3, "sampler")
    )


def test_default_networks_follow_the_model_seed():
    import keras_vae

    x = np.zeros((2, 2, 2, 1), "float32")
    units = (4, 4)
    keras.utils.set_random_seed(1)
    a = keras_vae.models.VAE(latent_dim=2, hidden_units=units, seed=3)
    a(x)
    keras.utils.set_random_seed(2)
    b = keras_vae.models.VAE(latent_dim=2, hidden_units=units, seed=3)
    b(x)
    keras.utils.set_random_seed(2)
    c = keras_vae.models.VAE(latent_dim=2, hidden_units=units, seed=4)
    c(x)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    kernel = a.encoder.layers[1].get_weights()[0]
    assert not np.array_equal(kernel, c.encoder.layers[1].get_weights()[0])
    # Two same-shape layers of one network do not share an initializer seed.
    first, second = a.encoder.layers[1].kernel, a.encoder.layers[2].kernel
    assert first.shape == second.shape
    assert not np.array_equal(np.asarray(first), np.asarray(second))


# ------------------------------------------------ saved with the model (fresh process)

_CHILD = textwrap.dedent(
    """
    import json, sys
    import keras, numpy as np
    import keras_vae  # registers the classes
    from keras_vae.testing import conformance

    sys.path.insert(0, sys.argv[2])  # the repository root: `examples` user models
    manifest = json.load(open(sys.argv[1]))
    failures = []
    for case in manifest:
        conformance.resolve(case["name"])  # imports a user model's module
        model = keras.models.load_model(case["path"])
        saved = np.load(case["expected"])
        states = [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.variables
                  if "seed_generator_state" in v.path]
        for i, s in enumerate(states):
            if not np.array_equal(s, saved[f"state_{i}"]):
                failures.append(f"{case['id']}: seed state {i} {s} != {saved[f'state_{i}']}")
        x = saved["x"]
        # A conditional model's condition: its calls take it, one sampled
        # row per condition row.
        c = saved["c"] if "c" in saved else None
        extra = {} if c is None else {"condition": c}
        sample_extra = {} if c is None else {"condition": c[:2]}
        outputs = {}
        for key, fn in (
            ("call", lambda: model(x if c is None else (x, c))),
            ("log_likelihood",
             lambda: model.log_likelihood(x, num_importance_samples=3, **extra)),
            ("sample", lambda: model.sample(2, **sample_extra)),
        ):
            if key + "_0" not in saved:
                continue
            values = [np.asarray(keras.ops.convert_to_numpy(v))
                      for v in keras.tree.flatten(fn())]
            for i, v in enumerate(values):
                if not np.array_equal(v, saved[f"{key}_{i}"]):
                    gap = np.max(np.abs(v.astype("float64") - saved[f"{key}_{i}"]))
                    failures.append(f"{case['id']}: {key} differs by {gap}")
    print(json.dumps(failures))
    """
)


# `log_likelihood` compiles a chunked estimator (seconds per model): run it
# on the models the issue measured; every model checks its states, call and
# `sample`.
_LOG_LIKELIHOOD_CASES = ("keras_vae.models.HierarchicalVAE[0]", "keras_vae.models.VAE[0]")


def _next_outputs(model, x, c, case_id):
    # A conditional model (`c` not None) takes its condition in each call;
    # `sample` draws one example per condition row.
    extra = {} if c is None else {"condition": c}
    outputs = {"call": _numpy_tree(model(conformance.model_inputs(x, c)))}
    if case_id in _LOG_LIKELIHOOD_CASES:
        outputs["log_likelihood"] = _numpy_tree(
            model.log_likelihood(x, num_importance_samples=3, **extra)
        )
    if hasattr(model, "sample"):
        sample_extra = {} if c is None else {"condition": c[:2]}
        outputs["sample"] = _numpy_tree(model.sample(2, **sample_extra))
    return outputs


def test_load_model_in_a_fresh_process_continues_the_streams(tmp_path):
    manifest = []
    for param in _cases():
        name, spec = param.values
        case_id = param.id
        if keras.backend.backend() != "tensorflow" and not case_id.endswith("[0]"):
            continue  # on JAX, each model's first spec (CI time; TF runs them all)
        model, x, c = _construct(name, spec, 1337)
        # Move every stream off its initial state before saving.
        _next_outputs(model, x, c, case_id)
        path = str(tmp_path / f"model_{len(manifest)}.keras")
        model.save(path)
        arrays = {"x": x} if c is None else {"x": x, "c": c}
        for i, s in enumerate(_seed_states(model)):
            arrays[f"state_{i}"] = s
        for key, values in _next_outputs(model, x, c, case_id).items():
            for i, v in enumerate(values):
                arrays[f"{key}_{i}"] = v
        expected = str(tmp_path / f"expected_{len(manifest)}.npz")
        np.savez(expected, **arrays)
        manifest.append({"name": name, "id": case_id, "path": path, "expected": expected})
    manifest_path = tmp_path / "manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(manifest_path), str(Path(__file__).parents[2])],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n".join(failures)


def test_foreign_generators_in_custom_networks_are_saved(tmp_path):
    # A Keras `Dropout` in a user's encoder owns a SeedGenerator that Keras
    # does not save; the model saves it with its own state.
    import keras_vae

    encoder = keras.Sequential(
        [keras.layers.Flatten(), keras.layers.Dropout(0.5, seed=3), keras.layers.Dense(4)]
    )
    model = keras_vae.models.VAE(encoder=encoder, latent_dim=2, hidden_units=(4,), seed=1)
    x = np.ones((2, 2, 2, 1), "float32")
    model.build((None, 2, 2, 1))
    model(x, training=True)
    model(x, training=True)
    dropout = model.encoder.layers[1]
    saved = np.array(dropout.seed_generator.state)
    assert saved[1] > 0
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.array(loaded.encoder.layers[1].seed_generator.state), saved)
