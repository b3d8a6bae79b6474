"""Seed streams: one independent random stream per consumer of a model's seed.

`keras.random.SeedGenerator(seed)` starts its state at `[seed, 0]` and counts
up the second word, so two generators built from the same integer draw the
same stateless keys at every step: noise meant to be independent (dynamic
binarization and reparameterization, say) would be identical. A model's
`seed` is therefore never handed on as is. Each consumer (the model's own
generator, its sampler, prior, likelihood, quantizer, the initializers of
its default networks) gets

```none
stream_seed(seed, name) = SHA-256("keras_vae/<seed>/<name>")[:8] mod (2^31 - 2)
```

a deterministic function of the seed and the consumer's name: the same in
every process and on every machine (unlike Python's salted `hash()`), and
distinct across names except with probability ~2^-31 per pair. The range
keeps the value below the int32 modulus that `keras_vae.utils.random` maps
generator states into, so distinct stream seeds stay distinct keys.

`SeedStateMixin` makes the generator states part of a layer's saved state:
Keras saves `layer.weights` but not `SeedGenerator` states, so without it a
`.keras` file or a `BackupAndRestore` backup restarts every generator at
`[seed, 0]`.
"""

import contextlib
import hashlib
import random as python_random

# Stream seeds lie in [0, _MODULUS): `keras_vae.utils.random` reduces the
# generator state modulo int32.max - 1 = 2^31 - 2 before a stateless draw.
_MODULUS = 2**31 - 2
_SEED_KEY = "seed_generator_state_"


def stream_seed(seed, name):
    """The seed of stream `name` derived from a model seed, or `None`.

    Args:
        seed: `None` or an integer (the user's seed).
        name: String naming the consumer, e.g. `"prior"`.

    Returns:
        `None` if `seed` is `None`, else an integer in `[0, 2^31 - 2)`.

    Example:

    >>> stream_seed(0, "prior") == stream_seed(0, "prior") != stream_seed(0, "sampler")
    True
    """
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Expected `seed` to be None or an int. Received: seed={seed!r}")
    digest = hashlib.sha256(f"keras_vae/{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _MODULUS


@contextlib.contextmanager
def seeded_construction(seed, name):
    """Seed the initializers of the layers constructed inside the block.

    Keras draws the seed of an unseeded initializer (and of an unseeded
    `SeedGenerator`) from Python's `random` module when the object is
    created. Inside this block that module is seeded with
    `stream_seed(seed, name)`, so the default networks a model builds get the
    same initial weights in every run with the same `seed`; the caller's
    `random` state is restored afterwards. With `seed=None` nothing changes.
    """
    if seed is None:
        yield
        return
    state = python_random.getstate()
    python_random.seed(stream_seed(seed, name))
    try:
        yield
    finally:
        python_random.setstate(state)


def adopt_seed(layer, seed, name):
    """Give an unseeded component the stream `name` of a model's `seed`.

    A layer with a `seed` attribute of `None` and a `seed_generator` (a
    keras_vae prior, likelihood or sampler) is re-seeded in place with
    `stream_seed(seed, name)`; its config then records that seed, so a
    reloaded model gets the same stream. A layer given its own seed keeps it.

    Returns:
        `layer`.
    """
    if seed is None or getattr(layer, "seed", 0) is not None:
        return layer
    if not hasattr(layer, "seed_generator"):
        return layer
    derived = stream_seed(seed, name)
    layer.seed = derived
    layer.seed_generator.state.assign([derived, 0])
    return layer


def _own_generators(layer):
    # Keras tracks the `SeedGenerator` attributes of a layer in this list.
    return list(getattr(layer, "_seed_generators", ()))


def _foreign_generators(layer):
    """Generators of sublayers that do not save their own (Keras's Dropout)."""
    found = []
    for sub in layer._flatten_layers(include_self=False):
        if not isinstance(sub, SeedStateMixin):
            found.extend(_own_generators(sub))
    return found


class _WithoutSeedStates:
    """A read view of a weights store without the seed-state entries."""

    def __init__(self, store):
        self._store = store
        self._keys = [k for k in store.keys() if not str(k).startswith(_SEED_KEY)]

    def keys(self):
        return list(self._keys)

    def __len__(self):
        return len(self._keys)

    def __contains__(self, key):
        return key in self._keys

    def __getitem__(self, key):
        return self._store[key]


class SeedStateMixin:
    """Saves and restores a layer's `SeedGenerator` states with its weights.

    Keras's `Layer.save_own_variables` stores the trainable and
    non-trainable weights only; `SeedGenerator` states are tracked
    (`layer.variables` lists them) but neither saved nor loaded. This mixin
    extends the two hooks Keras provides for a layer's own state, so
    `model.save`, `save_weights`, `keras.callbacks.BackupAndRestore` and
    `ModelCheckpoint` hold the states and `load_model` / `load_weights`
    restore them: a reloaded model continues the saved model's random
    streams. Files without the entries (written before this mixin) load as
    before, with the generators at their initial states. With
    `save_foreign_seed_states = True` (models), the generators of sublayers
    that do not save their own (Keras's `Dropout`, say) are stored too.
    """

    save_foreign_seed_states = False

    def _saved_generators(self):
        generators = _own_generators(self)
        if self.save_foreign_seed_states:
            generators += _foreign_generators(self)
        return generators

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, generator in enumerate(self._saved_generators()):
            store[f"{_SEED_KEY}{i}"] = generator.state

    def load_own_variables(self, store):
        keys = set(store.keys())
        for i, generator in enumerate(self._saved_generators()):
            key = f"{_SEED_KEY}{i}"
            if key in keys:
                generator.state.assign(store[key])
        super().load_own_variables(_WithoutSeedStates(store))
