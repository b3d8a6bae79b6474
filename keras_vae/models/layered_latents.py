"""LayeredLatents: the user API and serving signatures of models with several latent layers."""

from keras_vae.utils.validation import check_positive_int


class LayeredLatents:
    """Mixin for a `LatentVariableModel` with latent layers z_1 ... z_L.

    The model sets `latent_dims` (sizes, bottom first) and
    `decoded_layers` (how many of the bottom layers the decoder reads: 2
    for `HierarchicalVAE`'s p(x | z1, z2), 1 for `LadderVAE`'s p(x | z1)),
    and implements the graph hooks

    - `encode_tensors(x)`: posteriors `[(loc_1, scale_1), ...]`, bottom first;
    - `decode_tensors(*zs)`: the mean of p(x | z_1, ...) for the
      `decoded_layers` bottom latents;
    - `sample_tensors(num_samples)`: ancestral samples `[z_1, ..., z_L]`.

    From them come `encode`, `decode`, `reconstruct`, `sample` and the
    serving signatures, with one input or output per layer:

    ```none
    encode(x)            -> {"loc_z1", "scale_z1", ..., "loc_zL", "scale_zL"}
    decode(z1, ...)      -> {"mean"}
    reconstruct(x)       -> {"mean"}     at the posterior means
    sample(num_samples)  -> {"mean", "z1", ..., "zL"}
    ```
    """

    decoded_layers = 1

    def encode(self, x):
        """Posteriors `[(loc_1, scale_1), ..., (loc_L, scale_L)]`, z_1 first."""
        return list(self.encode_tensors(self.prepare(x)))

    def decode(self, *zs):
        """Mean of p(x | z_1, ...) for the decoder's latents, each `(batch, d_i)`."""
        self.check_built()
        if len(zs) != self.decoded_layers:
            raise ValueError(
                f"Expected {self.decoded_layers} latent batch(es) "
                f"{self._decoded_names()}. Received: {len(zs)}"
            )
        zs = [
            self.check_latent(z, dim, name)
            for z, dim, name in zip(zs, self.latent_dims, self._decoded_names())
        ]
        return self.decode_tensors(*zs)

    def reconstruct(self, x):
        """Mean of p(x | z) at the posterior means of the inference pass."""
        locs = [loc for loc, _ in self.encode(x)]
        return self.decode(*locs[: self.decoded_layers])

    def reconstruct_tensors(self, x):
        """Graph hook of `reconstruct` (what `predict` returns): the mean of
        p(x | z) at the posterior means."""
        locs = [loc for loc, _ in self.encode_tensors(x)]
        return self.decode_tensors(*locs[: self.decoded_layers])

    def sample(self, num_samples):
        """Means of p(x | z) for ancestral samples of the generative model."""
        num_samples = check_positive_int(num_samples, "num_samples")
        self.check_built()
        zs = self.sample_tensors(num_samples)
        return self.decode_tensors(*zs[: self.decoded_layers])

    def _decoded_names(self):
        return [f"z{i + 1}" for i in range(self.decoded_layers)]

    def serving_signatures(self):
        """See the class docstring and `Autoencoder.serving_signatures`."""
        data = ("x", (None,) + tuple(self.data_shape), "float32")
        latents = [
            (name, (None, dim), "float32")
            for name, dim in zip(self._decoded_names(), self.latent_dims)
        ]
        n = self.decoded_layers

        def encode(x):
            out = {}
            for i, (loc, scale) in enumerate(self.encode_tensors(x)):
                out[f"loc_z{i + 1}"], out[f"scale_z{i + 1}"] = loc, scale
            return out

        def reconstruct(x):
            return {"mean": self.reconstruct_tensors(x)}

        def sample(num_samples):
            zs = self.sample_tensors(num_samples)
            out = {"mean": self.decode_tensors(*zs[:n])}
            out.update({f"z{i + 1}": z for i, z in enumerate(zs)})
            return out

        return {
            "encode": (encode, [data]),
            "decode": (lambda *zs: {"mean": self.decode_tensors(*zs)}, latents),
            "reconstruct": (reconstruct, [data]),
            "sample": (sample, [("num_samples", (), "int32")]),
        }
