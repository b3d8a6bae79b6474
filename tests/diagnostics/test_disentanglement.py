"""Oracles of the disentanglement metrics: MIG, DCI, SAP, FactorVAE score.

Latents equal to independent factors are perfectly disentangled: MIG, DCI
disentanglement and completeness, SAP and the FactorVAE score are ~1. A
random rotation of the standardized factors mixes every factor into every
latent and scores markedly less on MIG and DCI. SAP and the FactorVAE score
look only at the best latent of each factor (the argmin of a variance),
so a rotation that keeps one dominant loading per factor can still score
high; they are checked against a maximally mixing rotation (the 4 x 4
Hadamard matrix / 2: every latent loads every factor equally), which
scores ~0 (SAP) and chance (FactorVAE). Closed forms where they exist: the MIG of
a factor copied into two latents is 0; the DCI of a given importance
matrix follows from its entropies.
"""

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from keras_vae import diagnostics

SIZES = np.array([3, 6, 10, 8])


def _factors(n, seed=0):
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, len(SIZES)))


def _standardize(factors):
    return (factors - SIZES / 2.0) / (SIZES / 3.5)


ROTATIONS = {
    "identity": np.eye(len(SIZES)),
    "rotated": special_ortho_group.rvs(len(SIZES), random_state=1),
    "mixed": np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0,
}


def _codes(kind, factors):
    return _standardize(factors) @ ROTATIONS[kind]


def test_mig_of_factors_is_one_and_of_a_rotation_small():
    factors = _factors(3000)
    identity = diagnostics.mutual_information_gap(_codes("identity", factors), factors)
    rotated = diagnostics.mutual_information_gap(_codes("rotated", factors), factors)
    assert identity.score > 0.98, identity.gaps
    assert rotated.score < 0.3, rotated.gaps
    assert identity.mutual_information.shape == (4, 4)
    np.testing.assert_allclose(identity.factor_entropy, np.log(SIZES), atol=0.02)


def test_mig_of_a_duplicated_factor_is_zero():
    # Two latents carry factor 0 equally: no gap for it.
    factors = _factors(2000)
    latents = np.column_stack([factors[:, 0], factors[:, 0], factors[:, 1]]).astype(float)
    result = diagnostics.mutual_information_gap(latents, factors[:, :2])
    assert abs(result.gaps[0]) < 1e-12 and result.gaps[1] > 0.99


def test_dci_of_factors_is_one_and_of_a_rotation_small():
    factors = _factors(800)
    kw = {"num_trees": 10, "max_depth": 8, "seed": 0}
    identity = diagnostics.dci(_codes("identity", factors), factors, **kw)
    rotated = diagnostics.dci(_codes("rotated", factors), factors, **kw)
    assert identity.disentanglement > 0.95 and identity.completeness > 0.95
    assert identity.informativeness > 0.95
    assert rotated.disentanglement < 0.5 and rotated.completeness < 0.5
    np.testing.assert_allclose(identity.importance.sum(axis=0), 1.0)


def test_dci_default_depth_keeps_noise_latents_unimportant():
    # A perfectly disentangled but weakly informative code: latent k reads
    # factor k through unit noise, latents 2-4 are noise. Depth-3 trees
    # (the default) put the importance on latents 0 and 1; fully grown
    # trees spread it over the noise latents and D, C collapse.
    rng = np.random.default_rng(0)
    f = rng.integers(0, 4, size=(3000, 2))
    noise = rng.normal(size=(3000, 5))
    latents = np.column_stack([f + noise[:, :2], noise[:, 2:]])
    shallow = diagnostics.dci(latents, f, num_trees=20, seed=0)
    deep = diagnostics.dci(latents, f, num_trees=20, max_depth=None, seed=0)
    assert shallow.disentanglement > 0.8 and shallow.completeness > 0.8
    assert deep.disentanglement < 0.3 and deep.completeness < 0.3
    assert shallow.importance[2:].sum() < 0.05 * shallow.importance.sum()


def test_dci_scores_from_the_importance_matrix():
    # Two latents, two factors: latent 0 codes factor 0; latent 1 informs
    # both factors. Compare with the entropies computed by hand.
    rng = np.random.default_rng(0)
    f = rng.integers(0, 4, size=(600, 2))
    latents = np.column_stack([f[:, 0], f[:, 1] * 4 + f[:, 0] % 2]).astype(float)
    r = diagnostics.dci(latents, f, num_trees=5, seed=0)
    p = r.importance / r.importance.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_rows = -np.nansum(np.where(p > 0, p * np.log(p), 0), axis=1) / np.log(2)
    rho = r.importance.sum(axis=1) / r.importance.sum()
    assert r.disentanglement == pytest.approx(np.sum(rho * (1 - h_rows)))
    q = r.importance / r.importance.sum(axis=0)
    h_cols = -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0), axis=0) / np.log(2)
    assert r.completeness == pytest.approx(np.mean(1 - h_cols))


def test_sap_of_factors_is_one_and_of_a_mixing_rotation_small():
    factors = _factors(2000)
    assert diagnostics.sap_score(_codes("identity", factors), factors).score > 0.95
    assert diagnostics.sap_score(_codes("mixed", factors), factors).score < 0.1


def _sample_fixed(k, n, rng):
    v = rng.integers(0, SIZES, size=(n, len(SIZES)))
    v[:, k] = rng.integers(SIZES[k])
    return v


@pytest.mark.parametrize("kind", ["identity", "mixed"])
def test_factor_vae_score(kind):
    factors = _factors(2000)

    def represent(v):
        return _codes(kind, v)

    result = diagnostics.factor_vae_score(
        represent, _sample_fixed, len(SIZES), factors, num_train=200, num_eval=200
    )
    if kind == "identity":
        assert result.score == 1.0 and result.train_accuracy == 1.0
        assert np.all(result.active)
    else:
        assert result.score < 0.5  # chance is 1/4


def test_factor_vae_score_prunes_collapsed_latents():
    factors = _factors(500)

    def represent(v):
        # A fifth latent that never varies must never vote.
        return np.column_stack([_standardize(v), np.zeros(len(v))])

    result = diagnostics.factor_vae_score(
        represent, _sample_fixed, len(SIZES), factors, num_train=50, num_eval=50
    )
    assert not result.active[-1] and result.votes[-1].sum() == 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: diagnostics.mutual_information_gap(np.zeros((5, 1)), np.zeros((5, 1))), "latents"),
        (lambda: diagnostics.mutual_information_gap(np.zeros((5, 2)), np.zeros((4, 1))), "same n"),
        (
            lambda: diagnostics.dci(np.zeros((5, 2)), np.zeros((5, 2)), test_fraction=1.0),
            "fraction",
        ),
        (lambda: diagnostics.sap_score(np.full((5, 2), np.nan), np.zeros((5, 1))), "finite"),
        (
            lambda: diagnostics.factor_vae_score(
                lambda v: v, _sample_fixed, 4, np.zeros((5, 4)), batch_size=1
            ),
            "batch_size",
        ),
    ],
)
def test_invalid_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
